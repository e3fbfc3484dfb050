#!/usr/bin/env node
// The installed `recallbench` command: runs the TypeScript CLI through tsx (so .ts plugins load too).
import { register } from 'tsx/esm/api';
register();
const { runProgram } = await import('../src/cli.ts');
await runProgram(process.argv[1], process.argv.slice(2));
