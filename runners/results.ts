// A results folder: runs.jsonl (one line per finished run, appended with one write), runs.csv (rewritten
// from runs.jsonl through a temporary file + rename), curves/<id>.json (per-epoch metrics). A half-written
// line (a kill mid-write) is never read as a result: only complete lines that parse count.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { UserInputError } from '../engine/errors.js';
import type { EpochRecord } from '../engine/train.js';
import type { RunConfig } from './config.js';

export interface RunRecord {
  id: string;
  label: string;
  preset?: string;
  config: RunConfig;
  seed: number;
  params: number;
  stateFloats: { measured: number; paper: number };
  stateBytes: { measured: number; paper: number };
  /** Epoch (1-based) with the best validation accuracy; its test accuracy is the run's result. */
  bestEpoch: number;
  validationAccuracy: number;
  testAccuracy: number;
  finalTestAccuracy: number;
  /** Test accuracy per slice at the best epoch. */
  testSlices: Record<string, number>;
  epochs: number;
  steps: number;
  status: 'done' | 'early-stop' | 'diverged' | 'failed';
  divergedAtStep?: number;
  error?: string;
  wallSeconds: number;
  msPerStep: number;
  backend: string;
  device: string;
  versions: Record<string, string>;
  finishedAt: string;
}

export function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Complete, parseable lines of a JSONL file (a torn last line is ignored). */
export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop(); // an unterminated last line was cut by a kill
  const out: T[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // torn or foreign line: not a result
    }
  }
  return out;
}

export class ResultsDir {
  readonly runsJsonl: string;
  readonly runsCsv: string;
  readonly curvesDir: string;

  constructor(readonly dir: string) {
    try {
      mkdirSync(join(dir, 'curves'), { recursive: true });
      accessSync(dir, constants.W_OK);
    } catch (e) {
      throw new UserInputError(`results folder ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? 'error'}): pass --out to a folder you can write`);
    }
    this.runsJsonl = join(dir, 'runs.jsonl');
    this.runsCsv = join(dir, 'runs.csv');
    this.curvesDir = join(dir, 'curves');
  }

  records(): RunRecord[] {
    // the first record of an id wins (two writers racing on one run append the same result twice at worst)
    const seen = new Set<string>();
    return readJsonl<RunRecord>(this.runsJsonl).filter((r) => typeof r.id === 'string' && !seen.has(r.id) && (seen.add(r.id), true));
  }

  finishedIds(): Set<string> {
    return new Set(this.records().filter((r) => r.status !== 'failed').map((r) => r.id));
  }

  append(record: RunRecord, curve: EpochRecord[]): void {
    atomicWrite(join(this.curvesDir, `${record.id}.json`), JSON.stringify(curve));
    appendFileSync(this.runsJsonl, `${JSON.stringify(record)}\n`); // one write(2) with O_APPEND
    this.writeCsv();
  }

  writeCsv(): void {
    atomicWrite(this.runsCsv, recordsToCsv(this.records()));
  }
}

export function recordsToCsv(records: RunRecord[]): string {
  const sliceKeys = [...new Set(records.flatMap((r) => Object.keys(r.testSlices ?? {})))].sort();
  const header = [
    'id', 'label', 'task', 'd_model', 'n_layers', 'mixers', 'lr', 'seed', 'params',
    'state_floats_measured', 'state_floats_paper', 'state_bytes_measured', 'state_bytes_paper',
    'validation_accuracy', 'test_accuracy', 'final_test_accuracy', 'best_epoch', 'epochs', 'steps', 'status',
    'wall_seconds', 'ms_per_step', 'backend', 'device', ...sliceKeys.map((k) => `test:${k}`),
  ];
  const rows = records.map((r) => [
    r.id, r.label, r.config.data.task, r.config.model.dModel, r.config.model.nLayers,
    r.config.model.layers.map((l) => l.mixer).join('+'), r.config.train.lr, r.seed, r.params,
    r.stateFloats.measured, r.stateFloats.paper, r.stateBytes.measured, r.stateBytes.paper,
    r.validationAccuracy, r.testAccuracy, r.finalTestAccuracy, r.bestEpoch, r.epochs, r.steps, r.status,
    r.wallSeconds, r.msPerStep, r.backend, r.device, ...sliceKeys.map((k) => r.testSlices?.[k] ?? ''),
  ]);
  return stringify([header, ...rows]);
}
