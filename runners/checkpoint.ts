// Epoch checkpoints of a run in progress, so that a killed sweep resumes a long run from its last finished
// epoch instead of from scratch. One file per run, results/<name>/checkpoints/<id>/checkpoint.bin, replaced
// whole each epoch (temporary file, fsync, rename): a kill leaves the previous checkpoint or the new one,
// never a mixture.
//
// What a resumed run needs to continue exactly as if never stopped (engine/loop.ts):
//   model variables and AdamW's m, v and step count        → the next update is the same update
//   completed epochs                                         → the cosine lr and the batch order (a function
//                                                              of (seed, epoch)) and the dropout seeds (a
//                                                              function of (seed, step)) are the same
//   the epoch records so far                                 → best epoch / curve are over all epochs
// On the deterministic cpu backend a resumed run therefore produces the same numbers as an uninterrupted one.
//
// File layout: "RBCKPT01" | u32 header bytes (LE) | header JSON | zero padding to 4 bytes | float32 data
// (every variable, then every m, then every v, in the model's variable order). The header holds the run id,
// the variables' names and shapes, and the sha256 of the data: a checkpoint that does not match the run (its
// model changed) or is damaged is ignored, and the run starts afresh.
//
// A stack of runs (engine/stack.ts: parameters [R, ...]) writes one checkpoint per run, its slice of every tensor,
// with the shapes of the run alone: the same file the run alone would write, so a run resumes alone or in any stack.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { AdamW } from '../engine/optimizer.js';
import type { EpochRecord } from '../engine/train.js';
import { faultPoint } from './faults.js';
import type { TrainedPart } from './provenance.js';
import { atomicWrite } from './results.js';

const MAGIC = 'RBCKPT01';

export interface CheckpointHeader {
  runId: string;
  /** Completed epochs: training resumes at this (0-based) epoch. */
  epoch: number;
  /** Optimisation steps taken (AdamW's step count). */
  step: number;
  records: EpochRecord[];
  /** Wall time spent on the run before this checkpoint (all earlier attempts). */
  elapsedSeconds: number;
  /** The processes that trained the epochs so far, in order, this one last (absent in checkpoints before 2026-11-30). */
  parts?: TrainedPart[];
  variables: Array<{ name: string; shape: number[] }>;
  floats: number;
  sha256: string;
  savedAt: string;
}

export interface Checkpoint {
  header: CheckpointHeader;
  data: Float32Array;
}

export function checkpointFile(dir: string): string {
  return join(dir, 'checkpoint.bin');
}

/** The variables' names and shapes as one run sees them (a stack's without its leading run axis). */
function layoutOf(vars: tf.Variable[], runs = 1): Array<{ name: string; shape: number[] }> {
  return vars.map((v) => ({ name: v.name, shape: runs > 1 ? v.shape.slice(1) : [...v.shape] }));
}

/** Save the state after `epoch` completed epochs (replaces the previous checkpoint atomically). */
export async function saveCheckpoint(
  dir: string,
  state: { runId: string; epoch: number; step: number; records: EpochRecord[]; elapsedSeconds: number; parts: TrainedPart[]; variables: tf.Variable[]; optimizer: AdamW },
): Promise<void> {
  const tensors = [...state.variables, ...state.optimizer.m, ...state.optimizer.v];
  const data = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let at = 0;
  for (const t of tensors) {
    const values = (await t.data()) as Float32Array;
    data.set(values, at);
    at += values.length;
  }
  writeCheckpoint(dir, { runId: state.runId, epoch: state.epoch, step: state.step, records: state.records, elapsedSeconds: state.elapsedSeconds, parts: state.parts, variables: layoutOf(state.variables) }, data);
}

/**
 * Save the checkpoint of each listed run of a stack (`runs[k].run`: its index in the stack): every tensor is read
 * back once, and each run's file holds its slice, laid out as the run alone would lay it out.
 */
export async function saveStackCheckpoints(
  runs: Array<{ run: number; dir: string; runId: string; records: EpochRecord[]; elapsedSeconds: number; parts: TrainedPart[] }>,
  state: { epoch: number; step: number; variables: tf.Variable[]; optimizer: AdamW; stackSize: number },
): Promise<void> {
  const R = state.stackSize;
  const tensors = [...state.variables, ...state.optimizer.m, ...state.optimizer.v];
  const perRun = tensors.reduce((n, t) => n + t.size / R, 0);
  const data = runs.map(() => new Float32Array(perRun));
  let at = 0;
  for (const t of tensors) {
    const values = (await t.data()) as Float32Array;
    const slice = t.size / R; // parameters are [R, ...]: run r's elements are contiguous
    runs.forEach(({ run }, k) => data[k]!.set(values.subarray(run * slice, (run + 1) * slice), at));
    at += slice;
  }
  const layout = layoutOf(state.variables, R);
  runs.forEach(({ dir, runId, records, elapsedSeconds, parts }, k) => writeCheckpoint(dir, { runId, epoch: state.epoch, step: state.step, records, elapsedSeconds, parts, variables: layout }, data[k]!));
}

function writeCheckpoint(dir: string, fields: Pick<CheckpointHeader, 'runId' | 'epoch' | 'step' | 'records' | 'elapsedSeconds' | 'parts' | 'variables'>, data: Float32Array): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const header: CheckpointHeader = {
    ...fields,
    floats: data.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    savedAt: new Date().toISOString(),
  };
  const json = Buffer.from(JSON.stringify(header));
  const headerEnd = MAGIC.length + 4 + json.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const file = Buffer.alloc(dataStart + bytes.length);
  file.write(MAGIC, 0, 'latin1');
  file.writeUInt32LE(json.length, MAGIC.length);
  json.copy(file, MAGIC.length + 4);
  file.set(bytes, dataStart);
  mkdirSync(dir, { recursive: true });
  atomicWrite(checkpointFile(dir), file, () => faultPoint('checkpoint-write'));
  faultPoint('checkpoint-saved');
}

/** A checkpoint file's header, through `read(bytes, at)` (the whole file, or only its start), or why it has none. */
function readHeader(read: (bytes: number, at: number) => Buffer): { header: CheckpointHeader; headerLength: number } | { reason: string } {
  const start = read(MAGIC.length + 4, 0);
  if (start.length < MAGIC.length + 4 || start.toString('latin1', 0, MAGIC.length) !== MAGIC) return { reason: 'not a checkpoint file' };
  const headerLength = start.readUInt32LE(MAGIC.length);
  try {
    return { header: JSON.parse(read(headerLength, MAGIC.length + 4).toString('utf8')) as CheckpointHeader, headerLength };
  } catch {
    return { reason: 'damaged header' };
  }
}

/** The data of a checkpoint file whose length and sha256 are what its header says, or undefined. */
function intactData(file: Buffer, header: CheckpointHeader, headerLength: number): Buffer | undefined {
  const dataStart = Math.ceil((MAGIC.length + 4 + headerLength) / 4) * 4;
  const bytes = file.subarray(dataStart);
  return bytes.length === header.floats * 4 && createHash('sha256').update(bytes).digest('hex') === header.sha256 ? bytes : undefined;
}

/** Run `runId`'s checkpoint file at `path`, read whole with its header, or why not (unreadable, no header, another run's). */
function readCheckpointOf(path: string, runId: string): { file: Buffer; header: CheckpointHeader; headerLength: number } | { reason: string } {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (e) {
    return { reason: `unreadable (${(e as NodeJS.ErrnoException).code})` };
  }
  const parsed = readHeader((bytes, at) => file.subarray(at, at + bytes));
  if ('reason' in parsed) return parsed;
  if (parsed.header.runId !== runId) return { reason: `belongs to run ${parsed.header.runId}` };
  return { file, ...parsed };
}

/**
 * Whether run folder `dir` (checkpoints/<id>) holds a whole checkpoint of run <id> — its header readable, its data the
 * length and sha256 the header says — without a model to load it into: what a transfer cut short left whole.
 */
export function checkpointIntact(dir: string): { epoch: number } | { reason: string } {
  const read = readCheckpointOf(checkpointFile(dir), basename(dir));
  if ('reason' in read) return read;
  return intactData(read.file, read.header, read.headerLength) ? { epoch: read.header.epoch } : { reason: 'damaged data' };
}

/**
 * The checkpoint of run `runId` for a model with these variables, or undefined (with the reason) when there is
 * none or it does not fit: another run's, another model layout, damaged.
 */
export function loadCheckpoint(dir: string, runId: string, vars: tf.Variable[], stackSize = 1): { checkpoint?: Checkpoint; reason?: string } {
  const path = checkpointFile(dir);
  if (!existsSync(path)) return {};
  const read = readCheckpointOf(path, runId);
  if ('reason' in read) return read;
  const { file, header, headerLength } = read;
  if (JSON.stringify(header.variables) !== JSON.stringify(layoutOf(vars, stackSize))) return { reason: 'the model\'s parameters changed since it was written' };
  const bytes = intactData(file, header, headerLength);
  if (!bytes) return { reason: 'damaged data' };
  const data = new Float32Array(header.floats);
  new Uint8Array(data.buffer).set(bytes);
  return { checkpoint: { header, data } };
}

/** Load a checkpoint's tensors into the model's variables and the optimizer (built for those variables). */
export function restoreCheckpoint(checkpoint: Checkpoint, vars: tf.Variable[], optimizer: AdamW): void {
  const targets = [...vars, ...optimizer.m, ...optimizer.v];
  let at = 0;
  for (const t of targets) {
    const value = tf.tensor(checkpoint.data.subarray(at, at + t.size), t.shape, 'float32');
    t.assign(value);
    value.dispose();
    at += t.size;
  }
  optimizer.stepCount = checkpoint.header.step;
}

/** The epoch a run's checkpoint was saved after (its header only), or undefined without a readable one. */
export function checkpointEpoch(dir: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(checkpointFile(dir), 'r');
    const read = (bytes: number, at: number) => {
      const buffer = Buffer.alloc(bytes);
      return buffer.subarray(0, readSync(fd!, buffer, 0, bytes, at));
    };
    const parsed = readHeader(read); // the header only: not the weights behind it
    return 'reason' in parsed ? undefined : parsed.header.epoch;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Load the runs' checkpoints (one per run of the stack, in stack order, all after the same step) into a stack. */
export function restoreStackCheckpoints(checkpoints: Checkpoint[], vars: tf.Variable[], optimizer: AdamW): void {
  const R = checkpoints.length;
  const step = checkpoints[0]!.header.step;
  if (checkpoints.some((c) => c.header.step !== step)) throw new Error('restoreStackCheckpoints: the runs\' checkpoints are at different steps');
  let at = 0;
  for (const t of [...vars, ...optimizer.m, ...optimizer.v]) {
    const slice = t.size / R;
    const values = new Float32Array(t.size);
    checkpoints.forEach((c, r) => values.set(c.data.subarray(at, at + slice), r * slice));
    const value = tf.tensor(values, t.shape, 'float32');
    t.assign(value);
    value.dispose();
    at += slice;
  }
  optimizer.stepCount = step;
}

export function removeCheckpoint(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
