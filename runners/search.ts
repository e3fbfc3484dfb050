// Learning-rate search by successive halving (a preset's `search: {kind: "halving"}`, config.ts searchSchema).
//
//   group    = the runs of one grid point that differ only in learning rate: the same data setting, architecture
//              entry/variant, d_model and seed (groupKey). Every learning rate of the grid starts.
//   rungs    = epochs below the runs' own epochs E (rungsFor): `rungs`, or minEpochs·eta^k, or by default
//              max(1, round(E/8))·eta^k (E 64: 8, 16, 32; E 32: 4, 8, 16; E 48: 6, 12, 24). Survivors train all E
//              epochs, with the lr schedule of an E-epoch run: a survivor's record is the full grid's record.
//   decision = at rung k (epoch e), the group's runs still in (n of them) are ranked by their best validation accuracy
//              over epochs ≤ e; ties go to the lower validation loss at that best epoch, then to the smaller lr
//              (halvingDecision). The best ⌈n/eta⌉ continue, and with `keepWithin` w also every run whose accuracy
//              is within w of the last of those (a tie within validation noise is not ranked: when all runs of a
//              group still sit on the same plateau, which lr escapes it first is not yet known); of the rest, runs
//              still training stop there (stored
//              as status 'stopped' with search.stoppedAtRung), runs already finished (early stop at 0.99,
//              diverged, a failure not retried) are never stopped — they only take part in the ranking, and one
//              that ranks among the best keeps its place at the next rung too. A group with one run left has no
//              further rungs.
//   solved   = with `stopOnSolved`, a rung at which some run of the group has solved the task (best validation
//              accuracy above train.earlyStopAccuracy by the rung epoch: a run that early-stopped, in practice) keeps
//              only the runs that solved it; every run still training stops there, the tie margin notwithstanding —
//              the margin is for runs that cannot be told apart on a plateau, not for runs on the plateau while
//              another has left it. (zoology-fig2 L 512 d 64, attention: lr 1e-2 early-stopped at epoch 22 with
//              1.000; the other three, 0.008–0.009 at rung 32 and within the margin of the line, trained to epoch 64
//              and ended at 0.008–0.085: half of their 0.94 process-hours after rung 32.)
//
// Determinism and resumability: a decision is a pure function of the group's per-epoch records up to the rung
// epoch — of a finished run, its stored curve; of a paused one, the curve saved beside its checkpoint when it
// paused (checkpoints/<id>/rung.json) — never of timing or of which process trained what. So the work is done as
// rung passes: every run of a group still in trains to the rung epoch (keeping its epoch checkpoint, as any run
// does) and pauses; once all have, the decision is made, the losers are stored as stopped, and the survivors
// resume from their checkpoints towards the next rung. Re-planning from the folder after any kill gives the same
// decisions (planSearch), in a serial sweep and in `--concurrency N` lanes alike. Stored 'stopped' records are
// the decisions' lasting trace; a decision that has to be re-made (a run retried from scratch) is re-made from the
// same numbers.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochRecord } from '../engine/records.js';
import { removeCheckpoint } from './checkpoint.js';
import { runId, type RunConfig, type Search } from './config.js';
import { atomicWrite, readCurve, readJsonl, parseRunRecord, type ResultsDir, type RunRecord } from './results.js';

export type Halving = Extract<Search, { kind: 'halving' }>;

/** The halving settings of a search, or undefined for the full grid. */
export function halvingOf(search: Search | undefined): Halving | undefined {
  return search?.kind === 'halving' ? search : undefined;
}

/** The rung epochs of a run with `epochs` epochs (increasing, each below `epochs`). */
export function rungsFor(search: Halving, epochs: number): number[] {
  if (search.rungs) return search.rungs.filter((r) => r < epochs);
  const out: number[] = [];
  for (let r = search.minEpochs ?? Math.max(1, Math.round(epochs / 8)); r < epochs; r *= search.eta) out.push(r);
  return out;
}

/** How many of n runs continue past a rung. */
export function keptOf(n: number, eta: number): number {
  return Math.max(1, Math.ceil(n / eta));
}

/** What a decision reads of an epoch. */
export type EpochLike = Pick<EpochRecord, 'epoch'> & { validation: Pick<EpochRecord['validation'], 'accuracy' | 'loss'> };

/** A run at a rung epoch: its best validation accuracy over epochs ≤ epoch (the first best) and that epoch's loss. */
export function standingAt(curve: readonly EpochLike[], epoch: number): { accuracy: number; loss: number; bestEpoch: number } {
  let best: EpochLike | undefined;
  for (const e of curve) {
    if (e.epoch > epoch) continue;
    const acc = e.validation.accuracy;
    if (Number.isFinite(acc) && (!best || acc > best.validation.accuracy)) best = e;
  }
  if (!best) return { accuracy: -Infinity, loss: Infinity, bestEpoch: 0 };
  const loss = best.validation.loss;
  return { accuracy: best.validation.accuracy, loss: Number.isFinite(loss) ? loss : Infinity, bestEpoch: best.epoch };
}

export interface Candidate {
  id: string;
  lr: number;
  curve: readonly EpochLike[];
  /** Finished (early stop, diverged, done, a failure not retried): ranked, never stopped. */
  finished: boolean;
}

export interface RankedCandidate {
  id: string;
  lr: number;
  /** 1 = best. */
  rank: number;
  accuracy: number;
  loss: number;
  finished: boolean;
  /** Among the best ⌈n/eta⌉. */
  survives: boolean;
  /** Below the line and still training: stops here. */
  stops: boolean;
}

export interface HalvingDecision {
  epoch: number;
  kept: number;
  ranking: RankedCandidate[];
  survivors: string[];
  stopped: string[];
}

/**
 * The halving rule at one rung (pure): rank by best-so-far validation accuracy, then lower loss, then smaller lr; the
 * best ⌈n/eta⌉ go on, and so does every run within `keepWithin` of the last of them (`kept` counts them all). Given
 * `solvedAbove` (stopOnSolved: the early-stop threshold), a group whose best run is above it keeps only the runs above it.
 */
export function halvingDecision(candidates: readonly Candidate[], epoch: number, eta: number, keepWithin = 0, solvedAbove?: number): HalvingDecision {
  const scored = candidates.map((c) => ({ c, ...standingAt(c.curve, epoch) }));
  scored.sort((a, b) => b.accuracy - a.accuracy || a.loss - b.loss || a.c.lr - b.c.lr || (a.c.id < b.c.id ? -1 : a.c.id > b.c.id ? 1 : 0));
  const above = keptOf(candidates.length, eta);
  const line = scored[above - 1]!.accuracy;
  // solved (stopOnSolved): only the runs above the early-stop threshold go on — the best is one of them
  const solved = solvedAbove !== undefined && scored[0]!.accuracy > solvedAbove;
  // a tie with the line goes on; accuracies are finite or -Infinity (no epoch yet), and -Infinity never ties
  const ranking = scored.map((s, i) => {
    const survives = solved ? s.accuracy > solvedAbove! : i < above || (keepWithin > 0 && Number.isFinite(line) && s.accuracy >= line - keepWithin);
    return { id: s.c.id, lr: s.c.lr, rank: i + 1, accuracy: s.accuracy, loss: s.loss, finished: s.c.finished, survives, stops: !survives && !s.c.finished };
  });
  const survivors = ranking.filter((r) => r.survives).map((r) => r.id);
  return { epoch, kept: survivors.length, ranking, survivors, stopped: ranking.filter((r) => r.stops).map((r) => r.id) };
}

// ---------------------------------------------------------------------------------------------------------
// Groups and their plan

/** The group of a run: its config with the learning rate left out. */
export function groupKey(config: RunConfig): string {
  return runId({ ...config, train: { ...config.train, lr: 0 } });
}

/** One run of a group as the planner sees it. */
export interface MemberState {
  config: RunConfig;
  id: string;
  lr: number;
  /** Needs no more training: a stored record (done, early-stop, diverged, stopped) or a failure not retried. */
  terminal: boolean;
  /** A stored 'stopped' record's rung. */
  stoppedAtRung?: number;
  /** Failed in this sweep: the next sweep retries it; decisions that need it wait. */
  blocked: boolean;
  /** Its epochs so far: a terminal run's curve, else the curve saved when it last paused ([] if never). */
  curve: EpochLike[];
  /** Epochs trained as far as the planner knows (a paused run's pause epoch). */
  progress: number;
}

export interface StopOrder {
  id: string;
  config: RunConfig;
  rung: number;
  epoch: number;
  rank: number;
  of: number;
}

export interface WorkItem {
  id: string;
  config: RunConfig;
  /** Train to this epoch and pause (a rung); undefined: to the end. */
  target?: number;
  /** 1-based rung of `target`. */
  rung?: number;
}

export interface GroupPlan {
  key: string;
  epochs: number;
  rungs: number[];
  decisions: Array<{ rung: number } & HalvingDecision>;
  /** Runs the decisions stop that have no stored 'stopped' record yet. */
  stops: StopOrder[];
  work: WorkItem[];
  /** A decision waits for a run that failed in this sweep. */
  waitingOnFailed: boolean;
}

/** Finished without a stop (early stop, diverged, done, a failure not retried): ranked at a rung, never stopped. */
const finishedOf = (m: MemberState) => m.terminal && m.stoppedAtRung === undefined;

/** The decision at one rung over the group's runs still in, under the search's eta and tie margin. */
function decideRung(live: readonly MemberState[], epoch: number, search: Halving): HalvingDecision {
  const solvedAbove = search.stopOnSolved ? live[0]!.config.train.earlyStopAccuracy : undefined;
  return halvingDecision(live.map((m) => ({ id: m.id, lr: m.lr, curve: m.curve, finished: finishedOf(m) })), epoch, search.eta, search.keepWithin, solvedAbove);
}

/** The plan of one group (pure): the decisions its records allow, what to stop, what to train to where. */
export function planGroup(members: readonly MemberState[], search: Halving): GroupPlan {
  const first = members[0]!;
  const epochs = first.config.train.epochs;
  const rungs = rungsFor(search, epochs);
  const plan: GroupPlan = { key: groupKey(first.config), epochs, rungs, decisions: [], stops: [], work: [], waitingOnFailed: false };
  let live = [...members].sort((a, b) => a.lr - b.lr);
  for (let k = 0; k < rungs.length && live.length > 1; k++) {
    const epoch = rungs[k]!;
    const behind = live.filter((m) => !m.terminal && m.progress < epoch);
    if (behind.length > 0) {
      plan.work = behind.filter((m) => !m.blocked).map((m) => ({ id: m.id, config: m.config, target: epoch, rung: k + 1 }));
      plan.waitingOnFailed = behind.some((m) => m.blocked);
      return plan;
    }
    const decision = decideRung(live, epoch, search);
    plan.decisions.push({ rung: k + 1, ...decision });
    const byId = new Map(live.map((m) => [m.id, m]));
    for (const r of decision.ranking) {
      const m = byId.get(r.id)!;
      if (r.stops && !m.terminal) plan.stops.push({ id: m.id, config: m.config, rung: k + 1, epoch, rank: r.rank, of: live.length });
    }
    // a run stored as stopped here is out whatever the ranking says (a decision is never taken back)
    live = decision.survivors.map((id) => byId.get(id)!).filter((m) => m.stoppedAtRung !== k + 1);
  }
  plan.work = live.filter((m) => !m.terminal && !m.blocked).map((m) => ({ id: m.id, config: m.config }));
  plan.waitingOnFailed = live.some((m) => !m.terminal && m.blocked);
  return plan;
}

// ---------------------------------------------------------------------------------------------------------
// A paused run: its would-be record and curve beside its checkpoint

export const RUNG_FILE = 'rung.json';

export interface RungState {
  runId: string;
  /** Epochs trained when it paused. */
  epoch: number;
  /** The record it gets if stopped here (status 'stopped'; the sweep adds `search`). */
  record: RunRecord;
  curve: EpochRecord[];
}

export function writeRungState(results: ResultsDir, state: RungState): void {
  atomicWrite(join(results.checkpointDir(state.runId), RUNG_FILE), JSON.stringify(state));
}

export function readRungState(results: ResultsDir, id: string): RungState | undefined {
  const path = join(results.checkpointDir(id), RUNG_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as RungState;
    const record = parseRunRecord(state.record);
    if (state.runId !== id || !record || !Array.isArray(state.curve) || !Number.isInteger(state.epoch)) return undefined;
    return { ...state, record };
  } catch {
    return undefined; // a damaged file: the run retrains to its rung from its checkpoint (which pauses at once)
  }
}

// ---------------------------------------------------------------------------------------------------------
// The plan of a whole grid, read from a results folder

export interface SearchPlan {
  groups: GroupPlan[];
  /** Cheapest group first (the grid's order), each group's runs by lr. */
  work: WorkItem[];
  stops: StopOrder[];
  /** Groups whose next decision waits for a run that failed in this sweep. */
  waitingOnFailed: number;
}

export interface PlanOptions {
  /** A run stored as failed this many times is not retried: it counts as finished (ranked last). */
  maxAttempts: number;
  /** Runs that failed in this sweep (retried by the next). */
  blocked: ReadonlySet<string>;
}

/** Read every run's state from the folder and plan each group (configs in the sweep's order: cheapest first). */
export function planSearch(configs: readonly RunConfig[], results: ResultsDir, search: Halving, opts: PlanOptions): SearchPlan {
  const plans = readGroups(configs, results, opts).map((members) => planGroup(members, search));
  return {
    groups: plans,
    work: plans.flatMap((p) => p.work),
    stops: plans.flatMap((p) => p.stops),
    waitingOnFailed: plans.filter((p) => p.waitingOnFailed).length,
  };
}

/** Every group's members as the folder has them (stored records with their curves, paused runs with their rung notes). */
export function readGroups(configs: readonly RunConfig[], results: ResultsDir, opts: PlanOptions): MemberState[][] {
  const all = readJsonl<unknown>(results.runsJsonl).map(parseRunRecord).filter((r): r is RunRecord => r !== undefined);
  const attempts = new Map<string, number>();
  const stored = new Map<string, RunRecord>();
  for (const r of all) {
    if (r.status === 'failed') attempts.set(r.id, (attempts.get(r.id) ?? 0) + 1);
    else if (!stored.has(r.id)) stored.set(r.id, r);
  }
  const groups = new Map<string, MemberState[]>();
  for (const config of configs) {
    const id = runId(config);
    const record = stored.get(id);
    let member: MemberState;
    if (record) {
      const curve = readCurve(results.dir, id) ?? [];
      member = { config, id, lr: config.train.lr, terminal: true, blocked: false, curve, progress: curve.length, ...(record.status === 'stopped' ? { stoppedAtRung: record.search?.stoppedAtRung ?? 0 } : {}) };
    } else if ((attempts.get(id) ?? 0) >= opts.maxAttempts) {
      member = { config, id, lr: config.train.lr, terminal: true, blocked: false, curve: [], progress: 0 };
    } else {
      const rung = readRungState(results, id);
      member = { config, id, lr: config.train.lr, terminal: false, blocked: opts.blocked.has(id), curve: rung?.curve ?? [], progress: rung?.epoch ?? 0 };
    }
    const key = groupKey(config);
    groups.set(key, [...(groups.get(key) ?? []), member]);
  }
  return [...groups.values()];
}

/**
 * The stored stops of a group that a new rule (a tie margin, say) would not have made, to re-open (pure): each rung's
 * decision re-made from the stored curves under `search`; from the first rung where a run stored as stopped there
 * would now go on, every stop at that rung or later (the later decisions were made without it). Only in a group none
 * of whose runs reached `solvedAt` (validation above it: the early-stop threshold) — once one has, its point is
 * solved whatever the others would have done. Paused runs' curves go only up to their pause: the re-made decisions
 * stop at the first rung one of them has not reached.
 */
export function stopsToReopen(members: readonly MemberState[], search: Halving, solvedAt: number): string[] {
  if (members.some((m) => m.curve.some((e) => e.validation.accuracy > solvedAt))) return [];
  const rungs = rungsFor(search, members[0]!.config.train.epochs);
  let live = [...members];
  for (let k = 0; k < rungs.length && live.length > 1; k++) {
    const epoch = rungs[k]!;
    if (live.some((m) => m.progress < epoch && !finishedOf(m))) return [];
    const decision = decideRung(live, epoch, search);
    const kept = new Set(decision.survivors);
    if (live.some((m) => m.stoppedAtRung === k + 1 && kept.has(m.id))) return members.filter((m) => m.stoppedAtRung !== undefined && m.stoppedAtRung >= k + 1).map((m) => m.id);
    live = live.filter((m) => kept.has(m.id));
  }
  return [];
}

/** The `search` field of a record trained under halving (rungs of its own epochs). */
export function searchMarker(search: Halving, config: RunConfig): NonNullable<RunRecord['search']> {
  return { kind: 'halving', eta: search.eta, rungs: rungsFor(search, config.train.epochs), ...(search.keepWithin > 0 ? { keepWithin: search.keepWithin } : {}), ...(search.stopOnSolved ? { stopOnSolved: true } : {}) };
}

/**
 * Store the plan's stops: each run's paused record as status 'stopped' (with its rung, epoch and rank), then remove
 * its checkpoint. A run another process holds is left to it. Returns the records stored.
 */
export function storeStops(stops: readonly StopOrder[], results: ResultsDir, search: Halving): RunRecord[] {
  const out: RunRecord[] = [];
  for (const stop of stops) {
    const lock = results.tryLockRun(stop.id);
    if (!lock) continue;
    try {
      if (results.finishedIds().has(stop.id)) continue;
      const state = readRungState(results, stop.id);
      if (!state) continue; // cannot happen: a run is ranked at a rung only once it paused there
      const record: RunRecord = {
        ...state.record,
        status: 'stopped',
        search: { ...searchMarker(search, stop.config), stoppedAtRung: stop.rung, rungEpoch: stop.epoch, rank: stop.rank, of: stop.of },
        finishedAt: new Date().toISOString(),
      };
      results.append(record, state.curve);
      removeCheckpoint(results.checkpointDir(stop.id));
      out.push(record);
    } finally {
      lock.release();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// What it costs and saves

/**
 * Epochs a grid trains at most (no early stop): the full grid (every run all its epochs) and under halving (per
 * group, the runs still in between consecutive rungs).
 */
export function halvingBudget(configs: readonly RunConfig[], search: Halving): { fullEpochs: number; halvingEpochs: number } {
  const groups = new Map<string, RunConfig[]>();
  for (const c of configs) groups.set(groupKey(c), [...(groups.get(groupKey(c)) ?? []), c]);
  let fullEpochs = 0;
  let halvingEpochs = 0;
  for (const members of groups.values()) {
    const epochs = members[0]!.train.epochs;
    fullEpochs += members.length * epochs;
    let live = members.length;
    let at = 0;
    for (const r of rungsFor(search, epochs)) {
      if (live <= 1) break;
      halvingEpochs += live * (r - at);
      at = r;
      live = keptOf(live, search.eta);
    }
    halvingEpochs += live * (epochs - at);
  }
  return { fullEpochs, halvingEpochs };
}

export interface SearchSavings {
  preset: string;
  runs: number;
  stopped: number;
  /** Epochs the stored runs trained (failed attempts not counted). */
  epochsTrained: number;
  /** What a full grid would have needed: the same, with every stopped run trained to its last epoch (an upper bound: it might have stopped early). */
  fullGridEpochs: number;
}

/** Epochs trained vs a full grid's, per preset tag of the records (runs that failed are left out). */
export function searchSavings(records: readonly RunRecord[]): SearchSavings[] {
  const by = new Map<string, SearchSavings>();
  for (const r of records) {
    if (r.status === 'failed') continue;
    const preset = r.preset ?? '(none)';
    const s = by.get(preset) ?? { preset, runs: 0, stopped: 0, epochsTrained: 0, fullGridEpochs: 0 };
    s.runs++;
    s.epochsTrained += r.epochs;
    if (r.status === 'stopped') {
      s.stopped++;
      s.fullGridEpochs += Math.max(r.epochs, r.config.train.epochs);
    } else s.fullGridEpochs += r.epochs;
    by.set(preset, s);
  }
  return [...by.values()];
}

/** "8 runs (3 stopped at rungs): 13 epochs trained, a full grid up to 28 (54% saved)". */
export function savingsText(s: Pick<SearchSavings, 'runs' | 'stopped' | 'epochsTrained' | 'fullGridEpochs'>): string {
  const saved = s.fullGridEpochs > 0 ? Math.round((100 * (s.fullGridEpochs - s.epochsTrained)) / s.fullGridEpochs) : 0;
  return `${s.runs} runs (${s.stopped} stopped at rungs): ${s.epochsTrained} epochs trained, a full grid up to ${s.fullGridEpochs} (${saved}% saved)`;
}

/** One line on the search of a grid, for the sweep's start (and --dry-run). */
export function describeSearch(configs: readonly RunConfig[], search: Search | undefined): string {
  const halving = halvingOf(search);
  const full = configs.reduce((n, c) => n + c.train.epochs, 0);
  if (!halving) return `learning rates: full grid (${full} epochs at most)`;
  const { halvingEpochs } = halvingBudget(configs, halving);
  const byEpochs = new Map<number, number[]>();
  for (const c of configs) if (!byEpochs.has(c.train.epochs)) byEpochs.set(c.train.epochs, rungsFor(halving, c.train.epochs));
  const rungs = [...byEpochs].sort(([a], [b]) => a - b).map(([e, r]) => `${r.length ? r.join(', ') : 'none'} (of ${e})`).join('; ');
  const ties = (halving.keepWithin > 0 ? `, ties within ${halving.keepWithin} kept` : '') + (halving.stopOnSolved ? ", a solved group's other runs stopped at the next rung" : '');
  const bound = halving.keepWithin > 0 ? `${halvingEpochs} epochs if no rung keeps a tie (up to ${full}, the full grid, if every rung does)` : `at most ${halvingEpochs} epochs instead of ${full} for the full grid`;
  return `learning rates: successive halving, eta ${halving.eta}${ties}, rungs at epochs ${rungs}: ${bound} (no early stop counted)`;
}
