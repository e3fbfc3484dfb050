// Where a parallel sweep's lanes spent their time, read back from its log: the lines RECALLBENCH_LANE_TIMES=1 makes
// the sweep print (runners/concurrency.ts laneClock; bench/campaign_stretch.sh sets it), "  lane K at T s: EVENT".
// Each stretch of a lane's time goes to the state its last event began:
//   starting   start → backend: a new process, its program loaded, its backend (the GPU's device) up
//   in a run   backend → reported: data and model built, checkpoint read, trained, evaluated, checkpoint written
//   exiting    reported → closed: the process's exit after its runs reported (a GPU backend's teardown)
//   between    closed → the next start: the sweep planning the lane's next job
//   waiting    nothing the lane may take (memory, or a rung's decision waiting on other lanes' runs)
//   ended      the lane had nothing left before the sweep ended
// The sweep's end is its log's "sweep rc N after S s" line (bench/campaign_stretch.sh writes it: a stop by SIGINT),
// else the last event; the state each lane was in then runs to that end (a run cut by the stop is "in a run"). The
// lane lines count from the sweep's node process's start, the rc line from the shell's a little before it (the
// bundle's launcher: a few seconds at most), so each lane's last state may be that much long.
//
//   npx tsx bench/lane_times.ts SWEEP_LOG
//
// Exit 2, one line, if the log has no lane lines.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const LANE_STATES = ['starting', 'in a run', 'exiting', 'between', 'waiting', 'ended'] as const;
export type LaneState = (typeof LANE_STATES)[number];

export interface LaneTimes {
  lanes: number;
  /** Seconds since the sweep process started: the first lane event, and the end the times run to. */
  from: number;
  end: number;
  /** Seconds in each state, summed over the lanes (from each lane's first event). */
  seconds: Record<LaneState, number>;
  /** Jobs started, and each job's seconds in `starting` and in `exiting` (those that got that far). */
  jobs: number;
  starting: number[];
  exiting: number[];
}

const STATE_OF: Record<string, LaneState> = { start: 'starting', backend: 'in a run', reported: 'exiting', closed: 'between', waiting: 'waiting', done: 'ended' };

/** The lane times of a sweep log's text, or undefined if it has no lane lines. */
export function laneTimes(log: string): LaneTimes | undefined {
  const events: Array<{ lane: number; t: number; event: string }> = [];
  let end: number | undefined;
  for (const line of log.split('\n')) {
    const m = /^\s*lane (\d+) at (\d+(?:\.\d+)?) s: (\w+)/.exec(line);
    if (m) events.push({ lane: Number(m[1]), t: Number(m[2]), event: m[3]! });
    const rc = /^sweep rc \d+ after (\d+) s/.exec(line);
    if (rc) end = Number(rc[1]);
  }
  if (!events.length) return undefined;
  const last = Math.max(...events.map((e) => e.t));
  const until = Math.max(end ?? last, last);
  const seconds = Object.fromEntries(LANE_STATES.map((s) => [s, 0])) as Record<LaneState, number>;
  const starting: number[] = [];
  const exiting: number[] = [];
  let jobs = 0;
  const lanes = [...new Set(events.map((e) => e.lane))];
  for (const lane of lanes) {
    const mine = events.filter((e) => e.lane === lane); // in the log's order, which is time's
    let state: LaneState | undefined;
    let since = 0;
    let startedAt: number | undefined;
    let reportedAt: number | undefined;
    for (const { t, event } of mine) {
      const next = STATE_OF[event];
      if (!next) continue;
      if (state) seconds[state] += t - since;
      if (event === 'start') {
        jobs++;
        startedAt = t;
        reportedAt = undefined;
      } else if (event === 'backend' && startedAt !== undefined) {
        starting.push(t - startedAt);
        startedAt = undefined;
      } else if (event === 'reported') {
        reportedAt ??= t; // a stack's runs report one after another: its exit counts from the first
      } else if (event === 'closed' && reportedAt !== undefined) {
        exiting.push(t - reportedAt);
        reportedAt = undefined;
      }
      // a stack's later runs reporting keep the lane exiting; another 'waiting' keeps it waiting
      state = next;
      since = t;
    }
    if (state) seconds[state] += until - since;
  }
  return { lanes: lanes.length, from: Math.min(...events.map((e) => e.t)), end: until, seconds, jobs, starting, exiting };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : 0;
}

/** The report's lines. */
export function laneTimesLines(times: LaneTimes): string[] {
  const total = LANE_STATES.reduce((s, k) => s + times.seconds[k], 0);
  const share = (x: number) => `${(total ? (100 * x) / total : 0).toFixed(1).padStart(5)} %`;
  const spread = (xs: number[]) => (xs.length ? ` (${xs.length} jobs: median ${median(xs).toFixed(1)} s, max ${Math.max(...xs).toFixed(1)} s)` : '');
  return [
    `${times.lanes} lanes, ${times.jobs} jobs started, from ${times.from.toFixed(1)} s to ${times.end.toFixed(1)} s of the sweep: ${total.toFixed(0)} lane-seconds`,
    ...LANE_STATES.map((k) => `  ${k.padEnd(10)} ${times.seconds[k].toFixed(0).padStart(7)} s ${share(times.seconds[k])}${k === 'starting' ? spread(times.starting) : k === 'exiting' ? spread(times.exiting) : ''}`),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  let text: string;
  try {
    text = readFileSync(file ?? '', 'utf8');
  } catch {
    console.error(`lane_times: cannot read the sweep log '${file ?? ''}' (usage: npx tsx bench/lane_times.ts SWEEP_LOG)`);
    process.exit(2);
  }
  const times = laneTimes(text);
  if (!times) {
    console.error(`lane_times: ${file} has no lane lines (a sweep run with RECALLBENCH_LANE_TIMES=1 and --concurrency ≥ 2 prints them)`);
    process.exit(2);
  }
  console.log(laneTimesLines(times).join('\n'));
}
