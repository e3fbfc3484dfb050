// bench/submit_summary.ts: the submit-batch check's log read into each mixer's passes per batch size, the median, and
// a verdict only where every pass of a size lies beyond every pass of tfjs's default.
import { describe, expect, it } from 'vitest';
import { median, parseSubmitLog, verdicts } from '../bench/submit_summary.js';

const header = (size: number) => `recallbench step benchmark: webgpu on nvidia h200; tfjs 4.22.0; node v20.20.2; WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=${size}`;
const step = (mixer: string, ms: number) => `${mixer.padEnd(14)} B64   default   ${ms.toFixed(1).padStart(8)} ms/step  host  ${ms.toFixed(1)} ms   1000k tok/s   200 dispatches`;

describe('bench/submit_summary.ts', () => {
  const log = [
    header(15), step('jrt-rnn', 19.7), step('gated-deltanet', 13.0), step('mamba2', 14.3),
    header(60), step('jrt-rnn', 12.2), step('gated-deltanet', 24.5), step('mamba2', 18.7),
    header(15), step('jrt-rnn', 18.1), step('gated-deltanet', 12.1), step('mamba2', 13.9),
    header(60), step('jrt-rnn', 12.9), step('gated-deltanet', 11.0), step('mamba2', 16.0),
    'jrt-rnn FAULT: not a step line',
  ].join('\n');

  it('reads every pass per mixer and size, in order', () => {
    const s = parseSubmitLog(log);
    expect(s.sizes).toEqual([15, 60]);
    expect(s.passes.get('jrt-rnn')!.get(15)).toEqual([19.7, 18.1]);
    expect(s.passes.get('gated-deltanet')!.get(60)).toEqual([24.5, 11.0]);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('calls a size faster only when all its passes beat all the default\'s; overlapping ranges decide nothing', () => {
    const v = verdicts(parseSubmitLog(log)).get(60)!;
    expect(v.faster).toEqual(['jrt-rnn']); // 12.2, 12.9 against 19.7, 18.1
    expect(v.slower).toEqual(['mamba2']); // 18.7, 16.0 against 14.3, 13.9; gated-deltanet's 24.5 and 11.0 straddle 12.1–13.0
  });
});
