// Stacked runs (engine/stack.ts): R runs that differ only in learning rate, trained as one model with a leading run
// axis, must each produce the records the run produces alone (engine/loop.ts train), on the CPU backend: same
// losses, accuracies, slices, early stops — with dropout on (embedding, residual and attention weights), in both
// blocks, with an MLP, with position embeddings, and a run that diverges without touching the others.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { LanguageModel, type ModelConfig } from '../engine/model.js';
import { train, trainStack, type StackRunResult } from '../engine/loop.js';
import { stackMismatch, stackStepLoss } from '../engine/stack.js';
import { batchesOf, evaluateRuns, stepLoss, supervised, type TrainOptions, type TrainResult } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';

beforeAll(async () => {
  await initBackend('cpu');
});

// 48 training examples in batches of 16 (3 steps an epoch, as the 96 in batches of 32 were) and d_model 8 (was 16):
// every comparison below is of a stack against the same runs alone, on the same data and model, so the sizes set
// only the cost — on the cpu backend about 40% of the 16-wide, 32-example batches' file time
const splits = () =>
  buildSplits(
    {
      task: 'mqar',
      common: { vocabSize: 32 },
      train: [{ seqLen: 16, numKvPairs: 2, count: 48 }],
      validation: [{ seqLen: 16, numKvPairs: 2, count: 16 }],
      test: [{ seqLen: 16, numKvPairs: 2, count: 24 }],
    },
    3,
  );

const model = (over: Partial<ModelConfig>, runs = 1) =>
  new LanguageModel(
    {
      dModel: 8, nLayers: 2, layers: [{ mixer: 'attention', params: { numHeads: 2, dropout: 0.1 } }, { mixer: 'sliding-window', params: { windowSize: 4, dropout: 0.1 } }],
      mlp: false, embeddingDropout: 0.1, residualDropout: 0.1, vocabSize: 32, maxSeqLen: 16, seed: 5, ...over,
    } as ModelConfig,
    { runs },
  );

const options = (lr: number, over: Partial<TrainOptions> = {}): TrainOptions => ({ epochs: 3, batchSize: 16, evalBatchSize: 16, lr, weightDecay: 0.1, earlyStopAccuracy: 0.99, shuffle: true, seed: 7, ...over }) as TrainOptions;

/** A result without its wall times (the stack's are shared). */
const untimed = (r: TrainResult | StackRunResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0, trainSeconds: 0 })) });

async function alone(over: Partial<ModelConfig>, opts: TrainOptions): Promise<TrainResult> {
  const m = model(over);
  try {
    return await train(m, splits(), opts);
  } finally {
    m.dispose();
  }
}

async function stacked(over: Partial<ModelConfig>, opts: TrainOptions[]): Promise<StackRunResult[]> {
  const m = model(over, opts.length);
  try {
    return await trainStack(m, splits(), opts);
  } finally {
    m.dispose();
  }
}

describe('stacked runs', () => {
  it("a stack's evaluation forwards no more rows than a run alone's: batchSize / R examples per run at a time", async () => {
    const three = model({}, 3);
    const seen: number[] = [];
    const forward = three.forward.bind(three);
    three.forward = ((tokens: tf.Tensor2D, o: Parameters<typeof forward>[1]) => (seen.push(tokens.shape[0]), forward(tokens, o))) as typeof three.forward;
    const metrics = await evaluateRuns(three, splits().test, 16);
    expect(metrics).toHaveLength(3);
    expect(Math.max(...seen)).toBe(5); // ⌊16 / 3⌋ examples, each forwarded for all 3 runs: 15 rows ≤ the 16 alone
    expect(seen.reduce((a, b) => a + b, 0)).toBe(24); // every test example once
    three.dispose();
  });

  it('a stack whose logits pass the cap builds them a few runs at a time: the same losses and gradients', () => {
    const data = splits();
    const batch = batchesOf(data.train, 16)[0]!;
    const sup = supervised(batch.segment, batch.start, batch.size);
    const five = model({}, 5);
    const rowFloats = sup.rows.length * 32; // one run's logits [M, V]
    const at = (cap: number) => tf.variableGrads(() => stackStepLoss(five, batch, sup, 3, cap).total, five.variables);
    const whole = at(Number.POSITIVE_INFINITY);
    const split = [rowFloats, 2 * rowFloats + 1].map(at); // 5 chunks of one run; chunks of 2, 2, 1
    const perRunWhole = tf.tidy(() => stackStepLoss(five, batch, sup, 3).perRun.arraySync());
    const perRunSplit = tf.tidy(() => stackStepLoss(five, batch, sup, 3, rowFloats).perRun.arraySync());
    expect(perRunSplit).toHaveLength(5);
    perRunSplit.forEach((l, r) => expect(l).toBeCloseTo(perRunWhole[r]!, 6));
    for (const g of split) {
      expect(g.value.dataSync()[0]).toBeCloseTo(whole.value.dataSync()[0]!, 5);
      for (const v of five.variables) {
        const a = g.grads[v.name]!.dataSync();
        const b = whole.grads[v.name]!.dataSync();
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        expect(worst, v.name).toBeLessThan(1e-6);
      }
    }
    five.dispose();
  });

  it('a stacked step: each run\'s loss and gradients are those of the run alone (prenorm, MLP, dropout on)', () => {
    const over = { mlp: true, positionEmbeddings: true };
    const data = splits();
    const batch = batchesOf(data.train, 16)[1]!;
    const sup = supervised(batch.segment, batch.start, batch.size);
    // (one model at a time: tfjs registers variables by name)
    const one = model(over);
    const soloGrads = tf.variableGrads(() => stepLoss(one, batch, sup, 11), one.variables);
    const soloParams = one.parameterCount;
    const names = one.variables.map((v) => v.name);
    one.dispose();
    const three = model(over, 3);
    const stackGrads = tf.variableGrads(() => stackStepLoss(three, batch, sup, 11).total, three.variables);
    // three identical runs: the stack's loss is 3× the run's, and every slice of every gradient is the run's
    expect(stackGrads.value.dataSync()[0]).toBeCloseTo(3 * soloGrads.value.dataSync()[0]!, 5);
    expect(three.parameterCount).toBe(soloParams);
    names.forEach((name, i) => {
      const v = { name };
      const solo = soloGrads.grads[name]!;
      const stack = stackGrads.grads[three.variables[i]!.name]!;
      expect(stack.shape).toEqual([3, ...solo.shape]);
      for (let r = 0; r < 3; r++) {
        const slice = tf.squeeze(tf.slice(stack, [r, ...solo.shape.map(() => 0)], [1, ...solo.shape]), [0]);
        const worst = tf.max(tf.abs(tf.sub(slice, solo))).dataSync()[0]!;
        const scale = tf.max(tf.abs(solo)).dataSync()[0]!;
        expect(worst, `${v.name}, run ${r}`).toBeLessThanOrEqual(1e-6 * Math.max(scale, 1e-3));
      }
    });
    tf.dispose([soloGrads.value, stackGrads.value, ...Object.values(soloGrads.grads), ...Object.values(stackGrads.grads)]);
    three.dispose();
  });

  const expectSameRecords = (stack: StackRunResult[], solo: TrainResult[]) => {
    expect(stack).toHaveLength(solo.length);
    stack.forEach((result, r) => {
      const got = untimed(result);
      const want = untimed(solo[r]!);
      expect([got.status, got.steps]).toEqual([want.status, want.steps]);
      expect(got.epochs.map((e) => [e.epoch, e.lr, e.steps, e.validation.accuracy, e.test.accuracy, e.test.slices])).toEqual(want.epochs.map((e) => [e.epoch, e.lr, e.steps, e.validation.accuracy, e.test.accuracy, e.test.slices]));
      got.epochs.forEach((e, i) => {
        const w = want.epochs[i]!;
        expect(e.trainLoss).toBeCloseTo(w.trainLoss, 5);
        expect(e.validation.loss).toBeCloseTo(w.validation.loss, 5);
        expect(e.test.loss).toBeCloseTo(w.test.loss, 5);
      });
    });
  };

  /** Each lr trained alone for an epoch, then all of them as one stack: the stack's records equal the runs' own. */
  const expectStackEqualsAlone = async (over: Partial<ModelConfig>, lrs: readonly number[]) => {
    const solo: TrainResult[] = [];
    for (const lr of lrs) solo.push(await alone(over, options(lr, { epochs: 1 })));
    expectSameRecords(await stacked(over, lrs.map((lr) => options(lr, { epochs: 1 }))), solo);
  };

  it('two learning rates stacked (prenorm block, one stops early): every run\'s records equal the run trained alone', async () => {
    const over = { positionEmbeddings: true };
    // a bar lr 1e-2 passes after its first epoch (validation 0.031 there, 1 query in 32): it stops; lr 1e-3 stays
    // at 0 for its 3 epochs and goes on
    const lrs = [1e-3, 1e-2];
    const solo: TrainResult[] = [];
    for (const lr of lrs) solo.push(await alone(over, options(lr, { earlyStopAccuracy: 0.02 })));
    expect(solo.map((r) => [r.status, r.epochs.length])).toEqual([['done', 3], ['early-stop', 1]]);
    const before = tf.memory().numTensors;
    const stack = await stacked(over, lrs.map((lr) => options(lr, { earlyStopAccuracy: 0.02 })));
    expect(tf.memory().numTensors).toBe(before); // the stack's steps, evaluations and model leave no tensor behind
    expectSameRecords(stack, solo);
    // the learning rates really differ in what they trained
    expect(stack[0]!.epochs[0]!.trainLoss).not.toBeCloseTo(stack[1]!.epochs[0]!.trainLoss, 4);
  }, 120_000);

  it('BASED in zoology\'s block with an MLP (BaseConv short conv + Taylor linear attention + sliding window), two learning rates: records equal the runs alone', async () => {
    const over = { block: 'zoology', mlp: true, positionEmbeddings: true, layers: [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }, { mixer: 'based', params: { featureDim: 4 } }, { mixer: 'sliding-window', params: { windowSize: 4, dropout: 0.1 } }], nLayers: 3 } as Partial<ModelConfig>;
    const lrs = [3e-3, 1e-2];
    await expectStackEqualsAlone(over, lrs);
  }, 120_000);

  it('Mamba in zoology\'s MambaBlock (its RMSNorm, A, D, Δ and conv per run), two learning rates: records equal the runs alone', async () => {
    const over = { block: 'zoology', layers: [{ mixer: 'mamba', params: { stateDim: 4, expand: 1 } }], nLayers: 1, embeddingDropout: 0, residualDropout: 0 } as Partial<ModelConfig>;
    // rates far apart, so that a run reading another run's A, D or Δ would show in its losses within 3 steps
    const lrs = [1e-3, 1e-1];
    await expectStackEqualsAlone(over, lrs);
  }, 120_000);

  it("zoology-fig2's BaseConv (short conv, then the long conv with an implicit filter per run) and the prenorm long conv with its bias and an explicit filter, two learning rates far apart: records equal the runs alone", async () => {
    const lrs = [1e-3, 1e-1];
    for (const over of [
      { block: 'zoology', layers: [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }, { mixer: 'baseconv', params: { convType: 'long', filter: 'implicit' } }], nLayers: 2, embeddingDropout: 0, residualDropout: 0 },
      { block: 'prenorm', layers: [{ mixer: 'baseconv', params: { convType: 'long', filter: 'explicit' } }], nLayers: 1, embeddingDropout: 0, residualDropout: 0 },
    ] as Partial<ModelConfig>[]) {
      await expectStackEqualsAlone(over, lrs);
    }
  }, 120_000);

  it("Hyena (its short conv, filter MLP, ω, β, dropout masks and — under zoology's block — positions table per run), both blocks, two learning rates far apart: records equal the runs alone", async () => {
    const lrs = [1e-3, 1e-1];
    for (const block of ['zoology', 'prenorm'] as const) {
      // (dropout on the pre-gated v: each run's mask drawn as the run alone draws it)
      const over = { block, layers: [{ mixer: 'hyena', params: { filterOrder: 8, innerMlps: 1, dropout: 0.2 } }], nLayers: 1, embeddingDropout: 0, residualDropout: 0 } as Partial<ModelConfig>;
      await expectStackEqualsAlone(over, lrs);
    }
  }, 120_000);

  it('H3 (shift taps, D, the S4D parameters per run), head dims 1 and 2, two learning rates far apart: records equal the runs alone', async () => {
    const lrs = [1e-3, 1e-1];
    for (const headDim of [1, 2]) {
      const over = { block: 'zoology', layers: [{ mixer: 'h3', params: { stateDim: 4, headDim } }], nLayers: 1, embeddingDropout: 0, residualDropout: 0 } as Partial<ModelConfig>;
      await expectStackEqualsAlone(over, lrs);
    }
  }, 120_000);

  it('RWKV (time-mix μ, decay and bonus per run), two learning rates far apart: records equal the runs alone', async () => {
    const over = { block: 'zoology', layers: [{ mixer: 'rwkv' }], nLayers: 1, embeddingDropout: 0, residualDropout: 0 } as Partial<ModelConfig>;
    const lrs = [1e-3, 1e-1];
    await expectStackEqualsAlone(over, lrs);
  }, 120_000);

  it('a run that diverges stops as it would alone; the others train on unchanged', async () => {
    const over = {};
    const lrs = [3e-3, 1e30];
    const solo: TrainResult[] = [];
    for (const lr of lrs) solo.push(await alone(over, options(lr, { weightDecay: 0, epochs: 1 })));
    expect(solo[1]!.status).toBe('diverged'); // the recipe really diverges alone
    const stack = await stacked(over, lrs.map((lr) => options(lr, { weightDecay: 0, epochs: 1 })));
    expect(stack.map((r) => [r.status, r.steps, r.divergedAtStep])).toEqual(solo.map((r) => [r.status, r.steps, r.divergedAtStep]));
    expect(stack[0]!.epochs.map((e) => e.test.accuracy)).toEqual(solo[0]!.epochs.map((e) => e.test.accuracy));
    expect(stack[0]!.epochs.at(-1)!.trainLoss).toBeCloseTo(solo[0]!.epochs.at(-1)!.trainLoss, 5);
  }, 120_000);

  it('refuses runs that differ in more than lr, and mixers that do not declare stackable', () => {
    expect(stackMismatch([options(1e-3), options(3e-3)])).toBeUndefined();
    expect(stackMismatch([options(1e-3), options(1e-3, { seed: 8 })])).toBe('run 1 differs from run 0 in seed (a stack\'s runs differ only in lr)');
    expect(stackMismatch([options(1e-3), options(1e-3, { epochs: 4 })])).toMatch(/in epochs/);
    expect(() => model({ layers: [{ mixer: 'deltanet' }] }, 2)).toThrow(/layer 0 \(deltanet\): this mixer's runs cannot be stacked \(/);
    expect(() => model({ layers: [{ mixer: 'baseconv', params: { convType: 'long', causal: false } }] }, 2)).toThrow(/layer 0 \(baseconv\): this mixer's runs cannot be stacked with these settings/);
  });
});
