#!/usr/bin/env node
// The installed `recallbench` command: runs the TypeScript CLI through tsx (so .ts plugins load too).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli.ts');
await main(process.argv.slice(2));
