// What one epoch of training reports: the records the training loop produces (engine/loop.ts), the invariants
// check (engine/invariants.ts) and results store (runners/results.ts).
import type { ValidityMetrics } from '../tasks/types.js';

export type { ValidityCurve, ValidityMetrics } from '../tasks/types.js';

export interface SplitMetrics {
  /**
   * Mean over examples of the fraction of an example's supervised positions predicted right (set-valued tasks,
   * regbench: right = the greedy token is in the position's allowed set, i.e. validity).
   */
  accuracy: number;
  /** Per slice (segment key). */
  slices: Record<string, number>;
  /** Mean cross-entropy over the split's supervised tokens. */
  loss: number;
  /** Fraction of the split's supervised tokens predicted right: what `loss` is bounded by (engine/invariants.ts). */
  tokenAccuracy?: number;
  /** Set-valued targets (regbench): validity and total variation, averaged, per position and by strings seen. */
  validity?: ValidityMetrics;
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  validation: SplitMetrics;
  test: SplitMetrics;
  /** Wall time of the epoch: training steps only, and in all (with evaluation). */
  trainSeconds: number;
  seconds: number;
  steps: number;
}
