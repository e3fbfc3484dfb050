// AdamW (Loshchilov & Hutter) as in torch.optim.AdamW, and the cosine-over-epochs schedule of zoology.
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay: number;
  /** Which variables decay (zoology decays all of them). */
  decays?: (v: tf.Variable) => boolean;
}

/** Hyperparameters of one AdamW step, as a fused implementation receives them. */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Bias corrections 1 − β1^t and 1 − β2^t. */
  c1: number;
  c2: number;
  /** Weight decay of each parameter (0 = none). */
  weightDecays: number[];
}

/** Updates params and moments in place, exactly as `AdamW.apply` would; returns false to decline (then the reference runs). */
type FusedAdamW = (params: tf.Variable[], m: tf.Variable[], v: tf.Variable[], grads: tf.Tensor[], step: AdamWStep) => boolean;
const fusedAdamW = new Map<string, FusedAdamW>();

/** Register a fused AdamW update for a backend, e.g. 'webgpu' (engine/kernels/webgpu/adamw.ts). */
export function registerFusedAdamW(backend: string, impl: FusedAdamW): void {
  fusedAdamW.set(backend, impl);
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

  /** One update with learning rate `lr`; grads in the order of `vars`. */
  apply(grads: tf.Tensor[], lr: number): void {
    this.stepCount += 1;
    const t = this.stepCount;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const fused = fusedAdamW.get(tf.getBackend());
    if (fused) {
      const weightDecays = this.vars.map((p) => (this.opts.decays === undefined || this.opts.decays(p) ? this.opts.weightDecay : 0));
      if (fused(this.vars, this.m, this.v, grads, { lr, beta1: b1, beta2: b2, eps, c1, c2, weightDecays })) return;
    }
    tf.tidy(() => {
      this.vars.forEach((p, i) => {
        const g = grads[i]!;
        const m = tf.add(tf.mul(this.m[i]!, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v[i]!, b2), tf.mul(tf.square(g), 1 - b2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        // torch: p ← p·(1 − lr·wd);  p ← p − lr · m̂ / (√v̂ + eps)
        const wd = this.opts.decays === undefined || this.opts.decays(p) ? this.opts.weightDecay : 0;
        const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    });
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/** Cosine annealing to 0 over `epochs`, stepped per epoch (torch CosineAnnealingLR, T_max = epochs). */
export function cosineLr(baseLr: number, epoch: number, epochs: number): number {
  return 0.5 * baseLr * (1 + Math.cos((Math.PI * epoch) / epochs));
}
