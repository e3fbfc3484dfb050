// Fault injection for the crash-safety tests: a real SIGKILL (or a pause) at a named point of a sweep, placed
// deterministically through an environment variable, so a test can kill a sweep mid-epoch, mid-write or
// between runs and check that resuming loses and repeats nothing.
//
//   RECALLBENCH_KILL_AT=<event>:<n>            SIGKILL this process at the n-th time it reaches <event>
//   RECALLBENCH_PAUSE_AT=<event>:<n>:<file>    at the n-th <event>, wait until <file> exists, then go on
//   RECALLBENCH_GPU_FAULT_AT=<event>:<n>:<kind> at the n-th <event>, cause a real WebGPU error of <kind>
//                                              (validation | oom | destroyed-buffer: engine/gpuFaults.ts)
//   RECALLBENCH_FAIL_BACKEND_ONCE=<file>       the first run process to take <file> (a rename: one process wins)
//                                              finds no GPU adapter (engine/backend.ts NoAdapterError)
//
// Events (in the order a run meets them):
//   run-start         a run's lock is held, nothing trained yet
//   step              after an optimisation step (mid-epoch)
//   epoch             an epoch is evaluated, its checkpoint not yet written
//   checkpoint-write  mid-write of a checkpoint: the temporary file is written, not yet renamed
//   checkpoint-saved  the checkpoint is in place
//   append            mid-write of runs.jsonl: the first half of the record's line is written (a torn line)
//   csv               the record is in runs.jsonl, runs.csv's temporary file is written, not yet renamed
//   run-stored        runs.jsonl and runs.csv hold the run; its checkpoint not yet removed
//   run-end           between runs: the run is stored, its checkpoint removed, its lock released
//   reported          a run process (sweep --concurrency) has sent its runs' outcomes to the sweep, not yet exited
//                     (a pause point only: RECALLBENCH_PAUSE_AT)
// Without the variables every call is one counter increment.
import * as tf from '@tensorflow/tfjs';
import { existsSync, renameSync } from 'node:fs';
import { NoAdapterError } from '../engine/backend.js';
import { GPU_FAULT_KINDS, injectGpuFault, type GpuFaultKind } from '../engine/gpuFaults.js';

const FAULT_EVENTS = ['run-start', 'step', 'epoch', 'checkpoint-write', 'checkpoint-saved', 'append', 'csv', 'run-stored', 'run-end', 'reported'] as const;
export type FaultEvent = (typeof FAULT_EVENTS)[number];

interface Trigger {
  event: string;
  n: number;
  file?: string;
}

function parseTrigger(spec: string | undefined, withFile: boolean): Trigger | undefined {
  if (!spec) return undefined;
  const [event, n, ...file] = spec.split(':');
  if (!event || !n || !/^\d+$/.test(n)) return undefined;
  return { event, n: Number(n), ...(withFile ? { file: file.join(':') } : {}) };
}

const counts = new Map<string, number>();
const killAt = parseTrigger(process.env.RECALLBENCH_KILL_AT, false);
const pauseAt = parseTrigger(process.env.RECALLBENCH_PAUSE_AT, true);
let gpuFaultAt: Trigger | undefined;
armGpuFault(process.env.RECALLBENCH_GPU_FAULT_AT);

/** Set (or clear) the GPU fault trigger, `<event>:<n>:<kind>` as RECALLBENCH_GPU_FAULT_AT; counting starts anew. */
export function armGpuFault(spec: string | undefined): void {
  gpuFaultAt = parseTrigger(spec, true);
  if (gpuFaultAt && !(GPU_FAULT_KINDS as readonly string[]).includes(gpuFaultAt.file ?? '')) throw new Error(`RECALLBENCH_GPU_FAULT_AT: kind must be one of ${GPU_FAULT_KINDS.join(', ')}, got '${gpuFaultAt.file}'`);
  counts.clear();
}

/**
 * Mark that the process reached `event`. If RECALLBENCH_KILL_AT names this occurrence, run `beforeKill` (e.g.
 * write half a line) and SIGKILL the process: no exit handlers, no flushing — as a crash or `kill -9` would.
 */
export function faultPoint(event: FaultEvent, beforeKill?: () => void): void {
  if (!killAt && !pauseAt && !gpuFaultAt) return;
  const n = (counts.get(event) ?? 0) + 1;
  counts.set(event, n);
  if (gpuFaultAt && gpuFaultAt.event === event && gpuFaultAt.n === n) {
    // the victim of a destroyed buffer: the newest live variable (a parameter of the model in training)
    const variables = Object.values(tf.engine().state.registeredVariables);
    injectGpuFault(gpuFaultAt.file as GpuFaultKind, variables[variables.length - 1]);
  }
  if (killAt && killAt.event === event && killAt.n === n) {
    beforeKill?.();
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Like faultPoint for pauses: resolves at once unless RECALLBENCH_PAUSE_AT names this occurrence. */
export async function pausePoint(event: FaultEvent): Promise<void> {
  if (!pauseAt || pauseAt.event !== event) return;
  const key = `pause:${event}`;
  const n = (counts.get(key) ?? 0) + 1;
  counts.set(key, n);
  if (n !== pauseAt.n || !pauseAt.file) return;
  process.stderr.write(`paused at ${event} #${n} until ${pauseAt.file} exists\n`);
  while (!existsSync(pauseAt.file)) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Before a run process starts its backend: if RECALLBENCH_FAIL_BACKEND_ONCE names a file that this process takes
 * first (renames away), throw the error of a GPU that refused the process — a test's way to have one of several
 * processes refused while the others start.
 */
export function backendFaultPoint(): void {
  const token = process.env.RECALLBENCH_FAIL_BACKEND_ONCE;
  if (!token) return;
  try {
    renameSync(token, `${token}.taken-by-${process.pid}`);
  } catch {
    return; // not there, or another process took it
  }
  throw new NoAdapterError('--backend: no WebGPU adapter found (Dawn found no GPU adapter; injected by RECALLBENCH_FAIL_BACKEND_ONCE)');
}
