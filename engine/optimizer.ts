// AdamW (Loshchilov & Hutter) as in torch.optim.AdamW — the moments and the step count; the update is
// ops/adamw — and the cosine-over-epochs schedule of zoology.
import * as tf from '@tensorflow/tfjs';
import { adamWUpdate } from '../ops/adamw/index.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay: number;
  /** Which variables decay (zoology decays all of them). */
  decays?: (v: tf.Variable) => boolean;
}

export class AdamW {
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];
  stepCount = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(readonly vars: tf.Variable[], readonly opts: AdamWOptions) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    // tidy: the zeros tensors are released, each moment variable is the sole owner of its buffer
    this.m = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** One update with learning rate `lr` (a stack of runs, engine/stack.ts: one per run); grads in the order of `vars`. */
  apply(grads: tf.Tensor[], lr: number | number[]): void {
    this.stepCount += 1;
    const t = this.stepCount;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const weightDecays = this.vars.map((p) => (this.opts.decays === undefined || this.opts.decays(p) ? this.opts.weightDecay : 0));
    // the update itself (ops/adamw): the plain-tfjs reference, or a backend's fused in-place form
    adamWUpdate(this.vars, this.m, this.v, grads, { lr, beta1: b1, beta2: b2, eps, c1, c2, weightDecays });
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/** Cosine annealing to 0 over `epochs`, stepped per epoch (torch CosineAnnealingLR, T_max = epochs). */
export function cosineLr(baseLr: number, epoch: number, epochs: number): number {
  return 0.5 * baseLr * (1 + Math.cos((Math.PI * epoch) / epochs));
}
