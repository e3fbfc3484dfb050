// Parameter creation with zoology's init: linear weights N(0, 0.02), zero biases, output projections
// N(0, 0.02/√(2·n_layers)). Every parameter gets a unique scoped name and a deterministic seed.
// A stack of R runs (engine/stack.ts: runs that differ only in learning rate share seed, data and init) gives
// every parameter a leading run axis, [R, ...shape], each slice the value the run alone would start from.
import * as tf from '@tensorflow/tfjs';
import { paramSeed } from '../core/prng.js';
import { linearApply } from '../ops/linear/index.js';
import type { Linear, ParamFactory, Tensor, Tf, Variable } from '../architectures/mixer.js';

export class ParamStore {
  readonly variables: Variable[] = [];
  private counter = 0;
  /** `runs`: the size of the stack (1: a run alone, parameters without a run axis). */
  constructor(readonly seed: number, readonly nLayers: number, readonly runs = 1) {}

  private nextSeed(): number {
    // distinct, deterministic seed per parameter (tfjs seeds its own Alea generator from it)
    this.counter += 1;
    return paramSeed(this.seed, this.counter);
  }

  create(name: string, shape: number[], init: 'zeros' | 'ones' | number | ((tf: Tf) => Tensor)): Variable {
    if (this.variables.some((v) => v.name === name)) throw new Error(`parameter ${name} defined twice`);
    let value = tf.tidy(() => {
      if (init === 'zeros') return tf.zeros(shape);
      if (init === 'ones') return tf.ones(shape);
      if (typeof init === 'number') return tf.randomNormal(shape, 0, init, 'float32', this.nextSeed());
      const t = init(tf);
      if (t.shape.join() !== shape.join()) throw new Error(`parameter ${name}: init gave shape [${t.shape}], declared [${shape}]`);
      return t;
    });
    if (this.runs > 1) {
      const one = value;
      value = tf.tidy(() => tf.tile(tf.expandDims(one, 0), [this.runs, ...shape.map(() => 1)]));
      one.dispose();
    }
    const v = tf.variable(value, true, `${name}_${this.variables.length}`, 'float32');
    value.dispose();
    this.variables.push(v);
    return v;
  }

  /** A factory that prefixes names with a scope (e.g. "layer0.attention"). */
  scope(prefix: string): ParamFactory {
    const store = this;
    const outputStd = 0.02 / Math.sqrt(2 * this.nLayers);
    return {
      outputStd,
      seed: () => store.nextSeed(),
      param: (name, shape, init) => store.create(`${prefix}.${name}`, shape, init),
      linear: (name, inDim, outDim, opts = {}): Linear => {
        const bound = opts.uniform;
        const init = bound === undefined ? (opts.std ?? 0.02) : (t: typeof tf) => t.randomUniform([inDim, outDim], -bound, bound, 'float32', store.nextSeed());
        const weight = store.create(`${prefix}.${name}.weight`, [inDim, outDim], init);
        const bias = opts.bias === false ? undefined : store.create(`${prefix}.${name}.bias`, [outDim], 'zeros');
        return {
          weight,
          bias,
          apply: (x: Tensor) => linearApply(x, weight, bias),
        };
      },
    };
  }

  /** Parameters of one run (a stack holds `runs` times as many). */
  get parameterCount(): number {
    return this.variables.reduce((n, v) => n + v.size, 0) / this.runs;
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.variables.length = 0;
  }
}
