// The records a campaign stretch added, one line each, and their totals — what results/README.md's stretch paragraph
// reports (bench/campaign_merge.sh prints it after a merge). The records are read as the report reads them
// (runners/results.ts readRecords: the schema, one record per run id).
//
//   npx tsx bench/campaign_new_records.ts RESULTS_FOLDER ID [ID ...]
//
// A line: label, training length L (the first training segment's), d_model, lr, status, epochs, test accuracy, wall
// seconds, ms a step. Totals: optimiser steps, training tokens (steps × an epoch's tokens a step) and process-hours (every new
// record's wallSeconds, runs stopped by halving included; a run still in flight when the call ended is not a record
// yet). Exit 2, one line, if the folder has no readable runs.jsonl or an id has no record.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readRecords, type RunRecord } from '../runners/results.js';
import { paramNamer } from '../runners/summary.js';
import { getTask } from '../tasks/index.js';

const num = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
/** A segment's sequence length, from one generated example (segments are a task's own parameters: MQAR names its
 * seqLen, set disjointness derives it from its sets' sizes). */
function segmentLength(r: RunRecord, segment: Record<string, unknown>): number {
  return getTask(r.config.data.task).generate({ ...segment, count: 1 } as never, 0, 0).seqLen;
}
/** The training length of a record: its first training segment's. */
export const trainLength = (r: RunRecord) => segmentLength(r, r.config.data.train[0]!);
/** Training tokens an optimiser step reads, on average over an epoch: every segment's rows in batches of its own. */
function tokensPerStep(r: RunRecord): number {
  const B = r.config.train.batchSize;
  const segments = r.config.data.train.map((s) => ({ count: Number(s.count), L: segmentLength(r, s) }));
  return segments.reduce((t, s) => t + s.count * s.L, 0) / segments.reduce((n, s) => n + Math.ceil(s.count / B), 0);
}

export function newRecordsSummary(records: RunRecord[]): string[] {
  // the mixer parameters that vary among these records (jrt-sd's feature dims f 4–24), so that records of one label,
  // d and lr are told apart
  const paramsOf = paramNamer(records.map((r) => r.config));
  const varying = (r: RunRecord) => paramsOf(r.config).join(' ');
  const rows = records.map((r) => ({ r, L: trainLength(r), d: r.config.model.dModel, lr: r.config.train.lr, more: varying(r) }));
  rows.sort((a, b) => a.r.label.localeCompare(b.r.label) || a.L - b.L || a.d - b.d || a.more.localeCompare(b.more, 'en', { numeric: true }) || a.lr - b.lr);
  const moreWidth = Math.max(0, ...rows.map((row) => row.more.length));
  const lines = ['new records (label, L, d, lr, the parameters that vary, status, epochs, test accuracy, wall s, ms a step):'];
  for (const { r, L, d, lr, more } of rows) {
    const lrText = String(Number(lr.toPrecision(2)));
    lines.push(`  ${r.label.padEnd(12)} L${String(L).padEnd(4)} d${String(d).padEnd(4)} lr ${lrText.padEnd(9)} ${moreWidth ? `${more.padEnd(moreWidth)} ` : ''}${r.status.padEnd(10)} ${String(r.epochs).padStart(3)} ep  ${num(r.testAccuracy, 4)}  ${num(r.wallSeconds, 0).padStart(6)} s  ${num(r.msPerStep, 1)} ms`);
  }
  const steps = records.reduce((s, r) => s + r.steps, 0);
  const tokens = records.reduce((s, r) => s + r.steps * tokensPerStep(r), 0);
  const hours = records.reduce((s, r) => s + (Number.isFinite(r.wallSeconds) ? r.wallSeconds : 0), 0) / 3600;
  lines.push(`new records: ${records.length}, ${steps.toLocaleString('en-US')} optimiser steps, ${(tokens / 1e9).toFixed(2)} G training tokens, ${hours.toFixed(2)} process-hours`);
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, ...ids] = process.argv.slice(2);
  if (!dir || !ids.length || !existsSync(join(dir, 'runs.jsonl'))) {
    console.error(`campaign_new_records: usage: campaign_new_records.ts RESULTS_FOLDER ID [ID ...] (a folder with runs.jsonl; got ${dir ?? 'nothing'})`);
    process.exit(2);
  }
  const byId = new Map(readRecords(dir).map((r) => [r.id, r]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length) {
    console.error(`campaign_new_records: no record for ${missing.join(', ')} in ${join(dir, 'runs.jsonl')}`);
    process.exit(2);
  }
  for (const line of newRecordsSummary(ids.map((id) => byId.get(id)!))) console.log(line);
}
