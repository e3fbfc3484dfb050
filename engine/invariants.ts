// What no working model can produce: the checks every epoch passes before its numbers are used (engine/loop.ts),
// and that `recallbench verify` applies to stored results (runners/verify.ts). One source of truth for both.
//
// The loss bound: for a supervised token predicted wrong, argmax picked another token, so the label's probability
// is at most 1/2 and its cross-entropy at least ln 2; a right one costs at least 0. The mean cross-entropy over a
// split's supervised tokens is therefore at least (1 − token accuracy)·ln 2. A loss below it (or negative, or
// NaN) means the numbers were not computed by the model — e.g. read back from a buffer a failed dispatch never
// wrote (engine/gpuFaults.ts).
//
// Set-valued targets (regbench: several next tokens are right at a position, its allowed set A). The loss is still
// the cross-entropy of ONE stored label y per position (a sample from A), and `tokenAccuracy` is still the fraction
// of positions whose greedy token equals y, so the bound above holds unchanged. What changes is `accuracy`: it is
// validity (greedy token ∈ A), which can be far above the label accuracy (with |A| = 3, a model that knows the
// language exactly is valid everywhere but matches y a third of the time), so (1 − validity)·ln 2 is only a weaker
// bound — an invalid prediction is a wrong one (y ∈ A), hence costs ≥ ln 2 too. What the set-valued metrics add:
// the stored label is always allowed, so every exact match is valid: token accuracy ≤ validity; and validity and
// the total-variation distance lie in [0, 1]. (Records without tokenAccuracy fall back to the slices: regbench
// examples all have seqLen supervised positions, so a slice's invalid fraction bounds its wrong fraction there too.)
import type { EpochRecord, SplitMetrics } from './records.js';

/** fp32 sums of up to ~10⁶ terms on the GPU: a relative slack far above rounding, far below any real violation. */
const RELATIVE_SLACK = 1e-3;
const ABSOLUTE_SLACK = 1e-6;

/** The least mean cross-entropy compatible with a fraction `wrong` of wrongly predicted tokens. */
export function lossFloor(wrong: number): number {
  return Math.max(0, wrong) * Math.LN2 * (1 - RELATIVE_SLACK) - ABSOLUTE_SLACK;
}

const fmt = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(4)) : String(x));

function inUnit(x: number): boolean {
  return Number.isFinite(x) && x >= 0 && x <= 1;
}

/**
 * Violations of one evaluated split. With `tokenAccuracy` (recorded since 2026-11-28) the bound is exact; older
 * records hold only per-example accuracies per slice, and within a slice every example has the same number of
 * supervised tokens in the recall tasks, so the split's wrong-token fraction is at least the smallest slice's.
 */
export function splitViolations(split: string, m: SplitMetrics): string[] {
  const out: string[] = [];
  if (!inUnit(m.accuracy)) out.push(`${split} accuracy ${fmt(m.accuracy)} is not in [0, 1]`);
  for (const [slice, acc] of Object.entries(m.slices ?? {})) if (!inUnit(acc)) out.push(`${split} slice ${slice} accuracy ${fmt(acc)} is not in [0, 1]`);
  if (m.tokenAccuracy !== undefined && !inUnit(m.tokenAccuracy)) out.push(`${split} token accuracy ${fmt(m.tokenAccuracy)} is not in [0, 1]`);
  if (m.validity) {
    const v = m.validity;
    if (!inUnit(v.validity)) out.push(`${split} validity ${fmt(v.validity)} is not in [0, 1]`);
    if (!(Number.isFinite(v.tv) && v.tv >= -ABSOLUTE_SLACK && v.tv <= 1 + RELATIVE_SLACK)) out.push(`${split} total variation ${fmt(v.tv)} is not in [0, 1]`);
    if (m.tokenAccuracy !== undefined && inUnit(v.validity) && m.tokenAccuracy > v.validity + ABSOLUTE_SLACK) {
      out.push(`${split} token accuracy ${fmt(m.tokenAccuracy)} > validity ${fmt(v.validity)} (an exact match of the stored label is always valid)`);
    }
  }
  if (!Number.isFinite(m.loss)) {
    out.push(`${split} loss is ${m.loss}`);
    return out;
  }
  const wrong = wrongTokenFraction(m);
  const floor = lossFloor(wrong);
  if (m.loss < floor) out.push(`${split} loss ${fmt(m.loss)} < (1 − accuracy ${fmt(1 - wrong)})·ln 2 = ${fmt(wrong * Math.LN2)}`);
  return out;
}

/** The least fraction of the split's supervised tokens that was predicted wrong, from what the record holds. */
function wrongTokenFraction(m: SplitMetrics): number {
  if (m.tokenAccuracy !== undefined) return 1 - m.tokenAccuracy;
  // older records: per slice, examples have equal token counts, so the smallest slice's error bounds the split's
  const sliceAccuracies = Object.values(m.slices ?? {}).filter(inUnit);
  if (sliceAccuracies.length) return Math.min(...sliceAccuracies.map((a) => 1 - a));
  // no usable slices: the split accuracy is per token only when there is at most one slice
  return inUnit(m.accuracy) && Object.keys(m.slices ?? {}).length <= 1 ? 1 - m.accuracy : 0;
}

/** Violations of one epoch's record: its training loss and both evaluated splits (a diverged epoch is never stored). */
export function epochViolations(e: EpochRecord): string[] {
  const out: string[] = [];
  if (!(Number.isFinite(e.trainLoss) && e.trainLoss >= -ABSOLUTE_SLACK)) out.push(`train loss ${fmt(e.trainLoss)} is not a finite number ≥ 0`);
  out.push(...splitViolations('validation', e.validation), ...splitViolations('test', e.test));
  return out.map((v) => `epoch ${e.epoch}: ${v}`);
}

/** A run's numbers are impossible: it is recorded as failed with them, never as a result. */
export class NumericalFaultError extends Error {
  constructor(readonly violations: string[]) {
    super(`numerical fault: ${violations.slice(0, 3).join('; ')}${violations.length > 3 ? ` (+${violations.length - 3} more)` : ''}`);
    this.name = 'NumericalFaultError';
  }
}
