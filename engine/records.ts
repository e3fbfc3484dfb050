// What one epoch of training reports: the records the training loop produces (engine/train.ts), the invariants
// check (engine/invariants.ts) and results store (runners/results.ts).

export interface SplitMetrics {
  /** Mean over examples of the fraction of an example's supervised positions predicted right. */
  accuracy: number;
  /** Per slice (segment key). */
  slices: Record<string, number>;
  /** Mean cross-entropy over the split's supervised tokens. */
  loss: number;
  /** Fraction of the split's supervised tokens predicted right: what `loss` is bounded by (engine/invariants.ts). */
  tokenAccuracy?: number;
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
