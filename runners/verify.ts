// `recallbench verify <results folders>`: check every stored record and curve against the invariants the training
// loop enforces (engine/invariants.ts) and against each other, and list what fails. Plots and reports use the same
// check to draw such runs as invalid, never as results.
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { epochViolations } from '../engine/invariants.js';
import type { EpochRecord } from '../engine/train.js';
import { atomicWrite, readCurve, readRecords, ResultsDir, type RunRecord } from './results.js';
import { UserInputError } from '../engine/errors.js';
import { knownFaultsOf } from './knownFaults.js';

const STATUSES = new Set(['done', 'early-stop', 'diverged', 'failed', 'stopped']);
/** Stored accuracies are the curve's numbers copied: equal up to JSON round-trips. */
const SAME = 1e-9;

/**
 * What is wrong with a stored run: impossible numbers in its curve or record, a record that disagrees with its
 * curve, or code with a known fault that touched its model (runners/knownFaults.ts). [] for a sane run; failed
 * runs are not results and only need a reason.
 */
export function recordViolations(record: RunRecord, curve: EpochRecord[] | undefined): string[] {
  const out: string[] = [];
  if (!STATUSES.has(record.status)) return [`unknown status '${record.status}'`];
  if (record.status === 'failed') return record.error ? [] : ['failed without a reason'];
  for (const [name, value] of [['validationAccuracy', record.validationAccuracy], ['testAccuracy', record.testAccuracy], ['finalTestAccuracy', record.finalTestAccuracy]] as const) {
    if (!(Number.isFinite(value) && value >= 0 && value <= 1)) out.push(`${name} ${value} is not in [0, 1]`);
  }
  if (record.status === 'stopped') {
    // successive halving stopped it at a rung: it trained at least to that epoch (runners/search.ts)
    const s = record.search;
    if (!s || s.stoppedAtRung === undefined || s.rungEpoch === undefined) out.push('stopped without its rung (search.stoppedAtRung, search.rungEpoch)');
    else if (record.epochs < s.rungEpoch) out.push(`stopped at rung ${s.stoppedAtRung} (epoch ${s.rungEpoch}) after only ${record.epochs} epochs`);
  }
  for (const fault of knownFaultsOf(record)) out.push(fault.what);
  if (!curve) return [...out, 'its curve (curves/<id>.json) is missing or unreadable'];
  if (curve.length !== record.epochs) out.push(`the record says ${record.epochs} epochs, its curve holds ${curve.length}`);
  for (const e of curve) out.push(...epochViolations(e));
  const best = curve[record.bestEpoch - 1];
  if (record.epochs > 0 && !best) out.push(`best epoch ${record.bestEpoch} is not in the curve`);
  if (best && (Math.abs(best.test.accuracy - record.testAccuracy) > SAME || Math.abs(best.validation.accuracy - record.validationAccuracy) > SAME)) {
    out.push(`the record's accuracies (validation ${record.validationAccuracy}, test ${record.testAccuracy}) are not its best epoch's (${best.validation.accuracy}, ${best.test.accuracy})`);
  }
  return out;
}

export interface VerifiedRun {
  dir: string;
  record: RunRecord;
  violations: string[];
}

/** Every stored run of a results folder (one record per id, as the folder's readers see it) with its violations. */
export function verifyFolder(dir: string): VerifiedRun[] {
  const jsonl = join(dir, 'runs.jsonl');
  if (!existsSync(jsonl)) throw new UserInputError(`${dir}: no runs.jsonl here (not a results folder)`);
  return readRecords(dir).map((record) => ({ dir, record, violations: recordViolations(record, readCurve(dir, record.id)) }));
}

/**
 * The runs whose stored numbers break the invariants, id → violations (plots and reports leave them out). A run
 * without its curve cannot be checked and counts as invalid.
 */
export function invalidRuns(records: RunRecord[], curves: ReadonlyMap<string, EpochRecord[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of records) {
    const violations = recordViolations(r, curves.get(r.id));
    if (violations.length) out.set(r.id, violations);
  }
  return out;
}

/** The CLI's report: one line per bad run, a summary line per folder; `bad` counts the bad runs. */
export function verifyReport(dirs: string[]): { text: string; bad: number; checked: number; invalidIds: Map<string, string[]> } {
  const lines: string[] = [];
  const invalidIds = new Map<string, string[]>();
  let bad = 0;
  let checked = 0;
  for (const dir of dirs) {
    // `verify results/*` meets folders that hold no runs (logs, a sweep that stored nothing yet): say so, go on
    if (!existsSync(join(dir, 'runs.jsonl'))) {
      lines.push(`${dir}: no runs.jsonl (not a results folder, or nothing stored yet): skipped`);
      continue;
    }
    const runs = verifyFolder(dir);
    const failed = runs.filter((r) => r.record.status === 'failed').length;
    const wrong = runs.filter((r) => r.violations.length);
    invalidIds.set(dir, wrong.map((w) => w.record.id));
    checked += runs.length;
    bad += wrong.length;
    for (const w of wrong) lines.push(`${dir} ${w.record.id} ${w.record.label} d${w.record.config?.model?.dModel ?? '?'}: ${w.violations.slice(0, 3).join('; ')}${w.violations.length > 3 ? ` (+${w.violations.length - 3} more)` : ''}`);
    lines.push(`${dir}: ${runs.length} runs, ${wrong.length} invalid, ${failed} failed (not results)`);
  }
  return { text: lines.join('\n'), bad, checked, invalidIds };
}

/**
 * `verify --set-aside`: move a folder's invalid runs out of its results — every line of their ids from runs.jsonl
 * into invalid.jsonl (kept as evidence, read by nothing), their curves into curves-invalid/ — and rewrite runs.csv.
 * `ids`: the folder's invalid runs when already verified (else verified here). Returns the ids moved. Run it only
 * where no sweep is writing to the folder.
 */
export function setAsideInvalid(dir: string, ids: string[] = verifyFolder(dir).filter((v) => v.violations.length).map((v) => v.record.id)): string[] {
  return setAside(dir, ids, 'invalid');
}

/**
 * Move runs out of a folder's results: their lines of runs.jsonl into `<name>.jsonl` (kept, read by nothing), their
 * curves into `curves-<name>/`; runs.csv rewritten. A sweep then trains them again. Only where no sweep is writing.
 */
export function setAside(dir: string, ids: readonly string[], name: string): string[] {
  const bad = new Set(ids);
  if (bad.size === 0) return [];
  const results = new ResultsDir(dir);
  const lines = readFileSync(results.runsJsonl, 'utf8').split('\n').filter((l) => l.trim());
  const idOf = (line: string) => {
    try {
      return (JSON.parse(line) as { id?: string }).id;
    } catch {
      return undefined;
    }
  };
  const keep = lines.filter((l) => !bad.has(idOf(l) ?? ''));
  const moved = lines.filter((l) => bad.has(idOf(l) ?? ''));
  const previous = existsSync(join(dir, `${name}.jsonl`)) ? readFileSync(join(dir, `${name}.jsonl`), 'utf8') : '';
  atomicWrite(join(dir, `${name}.jsonl`), previous + moved.map((l) => `${l}\n`).join(''));
  atomicWrite(results.runsJsonl, keep.map((l) => `${l}\n`).join(''));
  mkdirSync(join(dir, `curves-${name}`), { recursive: true });
  for (const id of bad) {
    const curve = join(results.curvesDir, `${id}.json`);
    if (existsSync(curve)) renameSync(curve, join(dir, `curves-${name}`, `${id}.json`));
  }
  results.writeCsv();
  return [...bad];
}
