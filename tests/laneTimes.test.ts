// bench/lane_times.ts: a sweep log's lane lines (RECALLBENCH_LANE_TIMES=1) summed into where the lanes' time went.
import { describe, expect, it } from 'vitest';
import { laneTimes, laneTimesLines } from '../bench/lane_times.js';

const LOG = `sweep: 4 runs, 0 already finished, 4 to train in 2 parallel processes on webgpu → .campaign/x
  lane 0 at 2.0 s: start a d8 lr0.01 (stacked with lr0.003)
  lane 1 at 2.5 s: start b d8 lr0.01
  lane 0 at 5.0 s: backend
  lane 1 at 6.5 s: backend
  lane 0 at 65.0 s: reported a d8 lr0.01
  done       a d8 lr0.01                         test acc 0.500 (1 epochs, 60.0 s, 1.0 ms/step)
  lane 0 at 65.5 s: reported a d8 lr0.003
  lane 0 at 85.0 s: closed
  lane 0 at 85.0 s: waiting
  lane 1 at 96.5 s: reported b d8 lr0.01
  lane 1 at 98.5 s: closed
  lane 1 at 99.0 s: start c d8 lr0.01
  lane 0 at 99.0 s: waiting
  lane 1 at 102.0 s: backend
sweep rc 124 after 150 s
`;

describe('bench/lane_times.ts', () => {
  it("each lane's time goes to the state its last event began, up to the sweep's end; a stack exits from its first report", () => {
    const t = laneTimes(LOG)!;
    expect(t.lanes).toBe(2);
    expect(t.jobs).toBe(3);
    expect(t.from).toBe(2);
    expect(t.end).toBe(150);
    // lane 0: starting 3, in a run 60, exiting 20 (65 → 85), waiting 65 (85 → 150; a second 'waiting' changes nothing)
    // lane 1: starting 4 + 3, in a run 90 + 48 (102 → 150, cut by the stop), exiting 2, between 0.5
    expect(t.seconds).toEqual({ starting: 10, 'in a run': 198, exiting: 22, between: 0.5, waiting: 65, ended: 0 });
    expect(t.starting).toEqual([3, 4, 3]);
    expect(t.exiting).toEqual([20, 2]);
    const lines = laneTimesLines(t);
    expect(lines[0]).toBe('2 lanes, 3 jobs started, from 2.0 s to 150.0 s of the sweep: 296 lane-seconds');
    expect(lines.find((l) => l.includes('exiting'))).toBe('  exiting         22 s   7.4 % (2 jobs: median 11.0 s, max 20.0 s)');
  });

  it('a log without lane lines: undefined; without the rc line the end is the last event', () => {
    expect(laneTimes('sweep: 1 runs\n  done  x\n')).toBeUndefined();
    const t = laneTimes('  lane 0 at 1.0 s: start x\n  lane 0 at 4.0 s: backend\n')!;
    expect(t.end).toBe(4);
    expect(t.seconds.starting).toBe(3);
    expect(t.seconds['in a run']).toBe(0);
  });
});
