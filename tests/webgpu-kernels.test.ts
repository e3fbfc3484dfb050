// The WebGPU fast path against its plain-tfjs references, forward and gradients, on random inputs, with every
// output buffer poisoned (NaN) first so that an element a kernel fails to write shows up. Runs on a real GPU or
// on Mesa's software Vulkan driver (lavapipe): `eval "$(bash .ci/setup-webgpu.sh)"` before vitest. Without any
// WebGPU adapter the suite is skipped, saying why. Shapes are tiny: software rendering is slow.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { expectLeverStepAgrees, poison, relErr, webgpuDevice } from './webgpuKit.js';
import { LanguageModel } from '../engine/model.js';
import { fastForms } from '../core/fastForms.js';
import { softmaxCrossEntropyNaive, stackedTiedHeadCrossEntropy, tiedHeadCrossEntropy, tiedHeadCrossEntropyNaive } from '../ops/crossEntropy/index.js';
import { layerNorm, layerNormNaive } from '../ops/layerNorm/index.js';
import { adamWUpdateNaive } from '../ops/adamw/index.js';
import { AdamW } from '../engine/optimizer.js';
import { dropout, dropoutUniform, hashDropoutNaive } from '../ops/dropout/index.js';
import { SEGMENT_TILE, segmentSumTileOrderValues, unsortedSegmentSumValues } from '../ops/segmentSum/index.js';
import { adamWWebGpu } from '../accel/webgpu/adamw.js';
import { segmentSumOrderedWebGpu, segmentSumWebGpu } from '../accel/webgpu/segmentSum.js';
import { dropoutWebGpu } from '../accel/webgpu/dropout.js';
import { softmaxCrossEntropyByRunWebGpu, softmaxCrossEntropyWebGpu } from '../accel/webgpu/crossEntropy.js';
import { allocate, dispatchCounts, webgpuBackend } from '../accel/webgpu/dispatch.js';
import { allLevers, type FastPath, LEVERS, setFastPath } from '../accel/webgpu/index.js';
import { layerNormWebGpu } from '../accel/webgpu/layerNorm.js';
import { scanWebGpu } from '../accel/webgpu/scan.js';
import { wkvWebGpu } from '../accel/webgpu/wkv.js';
import { wkv, wkvNaive } from '../ops/wkv/index.js';
import { scan, scanNaive } from '../ops/scan/index.js';
import { pooledUploadsEnabled } from '../accel/webgpu/uploads.js';
import { bindGroupCacheStats } from '../accel/webgpu/bindGroups.js';
import { isReshapeTranspose } from '../accel/webgpu/transpose.js';
import { LONG_SUM_MAX_OUTPUTS, longSumChunks, longSumWebGpu, NARROW_SUM_MAX_R, narrowSumWebGpu } from '../accel/webgpu/narrowSum.js';
import { selectiveScanWebGpu } from '../accel/webgpu/selectiveScan.js';
import { deltaRuleWebGpu } from '../accel/webgpu/deltaRule.js';
import { axisRunView, sumAxisRunValues } from '../ops/sum/index.js';

const device = await webgpuDevice('webgpu-kernels');
if (device) console.log(`webgpu-kernels: running on ${device}`);

const ALL_ON = allLevers(true);
const ALL_OFF = allLevers(false);

let seed = 1000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const randLabels = (n: number, V: number) => tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 7 + seed++) % V), 'int32');

describe.skipIf(!device)(`WebGPU fast path (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(ALL_ON);
  });
  afterAll(() => {
    releaseGpu();
  });

  it('poisoning works: a fresh output of a poisoned size reads NaN', async () => {
    await poison([[5, 7]]);
    const info = allocate(webgpuBackend(), [5, 7]);
    const t = tf.engine().makeTensorFromTensorInfo(info);
    const values = await t.data();
    t.dispose();
    expect(Array.from(values).every((v) => Number.isNaN(v))).toBe(true);
  });

  it('pooled uploads: many small uploads reusing buffers keep their values', async () => {
    expect(pooledUploadsEnabled()).toBe(true);
    const results: tf.Tensor[] = [];
    const expected: number[][] = [];
    for (let i = 0; i < 40; i++) {
      const values = [i, -i, i * 0.5, 3];
      const t = tf.tensor1d(values);
      results.push(tf.add(t, i % 3)); // i % 3 is itself a scalar upload
      expected.push(values.map((v) => v + (i % 3)));
      t.dispose();
    }
    for (let i = 0; i < results.length; i++) expect(Array.from(await results[i]!.data())).toEqual(expected[i]);
    results.forEach((r) => r.dispose());
    const ints = tf.tensor1d([1, 2, 3, 4, 5], 'int32');
    const bools = tf.tensor1d([true, false, true], 'bool');
    expect(Array.from(await tf.add(ints, 1).data())).toEqual([2, 3, 4, 5, 6]);
    expect(Array.from(await tf.logicalNot(bools).data())).toEqual([0, 1, 0]);
  });

  it('softmax cross-entropy: loss and gradient match the reference (V not a multiple of the workgroup)', async () => {
    for (const [M, V] of [
      [6, 37],
      [13, 300],
    ] as const) {
      const logits = randn([M, V], 3);
      const labels = randLabels(M, V);
      const dy = tf.scalar(1.7);
      const f = (impl: typeof softmaxCrossEntropyNaive) => tf.grad((z: tf.Tensor) => tf.mul(impl(z as tf.Tensor2D, labels), dy));
      await poison([[], [M], [M, V]]);
      const loss = softmaxCrossEntropyWebGpu(logits as tf.Tensor2D, labels);
      const lossRef = softmaxCrossEntropyNaive(logits as tf.Tensor2D, labels);
      expect(await relErr(loss, lossRef)).toBeLessThan(1e-5);
      await poison([[M, V]]);
      const grad = f(softmaxCrossEntropyWebGpu)(logits);
      const gradRef = f(softmaxCrossEntropyNaive)(logits);
      expect(await relErr(grad, gradRef)).toBeLessThan(1e-5);
      tf.dispose([logits, labels, dy, loss, lossRef, grad, gradRef]);
    }
  });

  it("softmax cross-entropy of a stack: each run's mean loss [R] and its gradient, as each run alone", async () => {
    for (const [R, M, V] of [[3, 5, 37], [2, 300, 300]] as const) {
      const logits = randn([R * M, V], 3);
      const labels = randLabels(R * M, V);
      const w = tf.tensor1d(Array.from({ length: R }, (_, r) => 0.5 + r)); // a different dy per run
      // the reference: run r's rows alone through the plain loss
      const perRun = (z: tf.Tensor) => tf.stack(Array.from({ length: R }, (_, r) => softmaxCrossEntropyNaive(z.slice([r * M, 0], [M, V]) as tf.Tensor2D, labels.slice([r * M], [M]) as tf.Tensor1D)));
      await poison([[R], [R * M], [R * M, V]]);
      const loss = softmaxCrossEntropyByRunWebGpu(logits as tf.Tensor2D, labels, R);
      expect(loss.shape).toEqual([R]);
      expect(await relErr(loss, perRun(logits))).toBeLessThan(1e-5);
      const f = (impl: (z: tf.Tensor) => tf.Tensor) => tf.grad((z: tf.Tensor) => tf.sum(tf.mul(impl(z), w)));
      await poison([[R * M, V]]);
      const grad = f((z) => softmaxCrossEntropyByRunWebGpu(z as tf.Tensor2D, labels, R))(logits);
      expect(await relErr(grad, f(perRun)(logits))).toBeLessThan(1e-5);
      tf.dispose([logits, labels, w, loss, grad]);
    }
    // through the op with tied heads [R, V, d]: the fused form and the reference (the lever off) agree
    const [R, M, V, d] = [3, 4, 50, 8];
    const hidden = randn([R, M, d]) as tf.Tensor3D;
    const embedding = randn([R, V, d]) as tf.Tensor3D;
    const labels = randLabels(M, V);
    const fused = stackedTiedHeadCrossEntropy(hidden, embedding, labels);
    setFastPath({ crossEntropy: false });
    const reference = stackedTiedHeadCrossEntropy(hidden, embedding, labels);
    setFastPath({ crossEntropy: true });
    expect(await relErr(fused, reference)).toBeLessThan(1e-5);
    tf.dispose([hidden, embedding, labels, fused, reference]);
  });

  it('softmax cross-entropy: finite differences agree with the fused gradient', async () => {
    const logits = randn([4, 9], 2);
    const labels = randLabels(4, 9);
    const u = randn([4, 9]);
    const eps = 1e-2;
    const g = tf.grad((z: tf.Tensor) => softmaxCrossEntropyWebGpu(z as tf.Tensor2D, labels))(logits);
    const plus = softmaxCrossEntropyWebGpu(tf.add(logits, tf.mul(u, eps)) as tf.Tensor2D, labels);
    const minus = softmaxCrossEntropyWebGpu(tf.sub(logits, tf.mul(u, eps)) as tf.Tensor2D, labels);
    const fd = ((await plus.data())[0]! - (await minus.data())[0]!) / (2 * eps);
    const analytic = (await tf.sum(tf.mul(g, u)).data())[0]!;
    expect(Math.abs(fd - analytic)).toBeLessThan(2e-3 * Math.max(1, Math.abs(analytic)));
  });

  it('layer norm: output and gradients for x, gamma, beta match the reference (d above and below 64)', async () => {
    for (const shape of [
      [2, 3, 16],
      [3, 5, 130],
      [70, 24],
    ]) {
      const d = shape[shape.length - 1]!;
      const x = tf.add(randn(shape, 2), 0.5);
      const gamma = tf.add(randn([d], 0.3), 1);
      const beta = randn([d], 0.3);
      const w = randn(shape); // loss = Σ w ⊙ LN(x): a non-trivial dy
      await poison([shape]);
      const y = layerNormWebGpu(x, gamma, beta, 1e-5);
      const yRef = layerNormNaive(x, gamma, beta, 1e-5);
      expect(await relErr(y, yRef)).toBeLessThan(1e-5);
      const loss = (impl: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(impl(a, b, c, 1e-5), w));
      await poison([shape, [d], [d]]);
      const grads = tf.grads(loss(layerNormWebGpu))([x, gamma, beta]);
      const gradsRef = tf.grads(loss(layerNormNaive))([x, gamma, beta]);
      for (let i = 0; i < 3; i++) expect(await relErr(grads[i]!, gradsRef[i]!)).toBeLessThan(5e-5);
      tf.dispose([x, gamma, beta, w, y, yRef, ...grads, ...gradsRef]);
    }
  });

  it('layer norm with a run axis (a stack): each run\'s rows with its own gamma, beta, and its own gradients', async () => {
    // rows R·B·T, runs outermost; blocks of the backward (≥ 8 rows) that a run's rows end inside of (30 rows: 10 per run)
    for (const [R, shape] of [[3, [6, 5, 16]], [2, [80, 130]]] as const) {
      const d = shape[shape.length - 1]!;
      const x = tf.add(randn([...shape], 2), 0.5);
      const gamma = tf.add(randn([R, d], 0.5), 1); // far apart per run: a kernel reading run 0's for all would fail
      const beta = randn([R, d], 0.5);
      const w = randn([...shape]);
      // the reference: each run's rows alone through the plain LayerNorm with its own gamma, beta
      const perRun = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.concat(tf.split(a, R, 0).map((part, r) => layerNormNaive(part, g.slice([r, 0], [1, d]).reshape([d]), b.slice([r, 0], [1, d]).reshape([d]), 1e-5)), 0);
      await poison([[...shape], [R, d], [R, d]]);
      expect(await relErr(layerNormWebGpu(x, gamma, beta, 1e-5), perRun(x, gamma, beta))).toBeLessThan(1e-5);
      const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNormWebGpu(a, g, b, 1e-5), w)))([x, gamma, beta]);
      const gradsRef = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(perRun(a, g, b), w)))([x, gamma, beta]);
      for (let i = 0; i < 3; i++) {
        expect(grads[i]!.shape).toEqual(gradsRef[i]!.shape);
        expect(await relErr(grads[i]!, gradsRef[i]!), `R ${R} [${shape}] gradient ${['x', 'gamma', 'beta'][i]}`).toBeLessThan(5e-5);
      }
      tf.dispose([x, gamma, beta, w, ...grads, ...gradsRef]);
    }
  });

  it('layer norm, lever layerNormColumns: thousands of row blocks, split column sums; dx the same bits, dγ, dβ the reference', async () => {
    const ran = (name: string) => dispatchCounts.get(name) ?? 0;
    // [rows, d] and runs: 9,000 rows (8 rows a block → 1,125 blocks with the lever, 9 → 1,000 without), a stack
    for (const [R, rows, d] of [[1, 9000, 8], [3, 2100, 40], [1, 1000, 130]] as const) {
      const x = tf.add(randn([rows, d], 2), 0.5);
      const gamma = tf.add(randn(R === 1 ? [d] : [R, d], 0.5), 1);
      const beta = randn(R === 1 ? [d] : [R, d], 0.5);
      const w = randn([rows, d]);
      const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNormWebGpu(a, g, b, 1e-5), w));
      const perRun = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        R === 1 ? layerNormNaive(a, g, b, 1e-5) : tf.concat(tf.split(a, R, 0).map((part, r) => layerNormNaive(part, g.slice([r, 0], [1, d]).reshape([d]), b.slice([r, 0], [1, d]).reshape([d]), 1e-5)), 0);
      const ref = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(perRun(a, g, b), w)))([x, gamma, beta]);
      const grads: Record<string, tf.Tensor[]> = {};
      for (const split of [false, true]) {
        setFastPath({ layerNormColumns: split });
        const before = [ran('LayerNormGradColumns'), ran('LayerNormGradColumnsSplit')];
        await poison([[rows, d], gamma.shape]);
        grads[String(split)] = tf.grads(loss)([x, gamma, beta]);
        await grads[String(split)]![1]!.data();
        expect([ran('LayerNormGradColumns') - before[0]!, ran('LayerNormGradColumnsSplit') - before[1]!], `split ${split}`).toEqual(split ? [0, 1] : [1, 0]);
        for (let i = 0; i < 3; i++) expect(await relErr(grads[String(split)]![i]!, ref[i]!), `R ${R} [${rows}, ${d}] split ${split} gradient ${['x', 'gamma', 'beta'][i]}`).toBeLessThan(5e-5);
      }
      expect(Array.from(await grads.true![0]!.data())).toEqual(Array.from(await grads.false![0]!.data()));
      tf.dispose([x, gamma, beta, w, ...ref, ...grads.true!, ...grads.false!]);
    }
    setFastPath({ layerNormColumns: true });
  });

  it('layer norm: finite differences agree with the fused gradient', async () => {
    const x = randn([3, 20]);
    const gamma = tf.add(randn([20], 0.3), 1);
    const beta = randn([20]);
    const w = randn([3, 20]);
    const u = randn([3, 20]);
    const eps = 1e-2;
    const f = (a: tf.Tensor) => tf.sum(tf.mul(layerNormWebGpu(a, gamma, beta, 1e-5), w));
    const g = tf.grad(f)(x);
    const fd = ((await f(tf.add(x, tf.mul(u, eps))).data())[0]! - (await f(tf.sub(x, tf.mul(u, eps))).data())[0]!) / (2 * eps);
    const analytic = (await tf.sum(tf.mul(g, u)).data())[0]!;
    expect(Math.abs(fd - analytic)).toBeLessThan(5e-3 * Math.max(1, Math.abs(analytic)));
  });

  it('hashed dropout: mask, scaling and gradient match the JavaScript reference; the kept fraction is 1 − rate', async () => {
    const shape = [3, 7, 33];
    const x = randn(shape);
    const w = randn(shape);
    for (const [rate, s] of [[0.1, 17], [0.5, 123456789]] as const) {
      await poison([shape]);
      const y = dropoutWebGpu(x, rate, s);
      const yRef = hashDropoutNaive(x, rate, s);
      expect(await relErr(y, yRef)).toBeLessThan(1e-6);
      await poison([shape]);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dropoutWebGpu(a, rate, s), w)))(x);
      const gRef = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(hashDropoutNaive(a, rate, s), w)))(x);
      expect(await relErr(g, gRef)).toBeLessThan(1e-6);
      tf.dispose([y, yRef, g, gRef]);
    }
    let kept = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) if (dropoutUniform(99, i) >= 0.1) kept++;
    expect(Math.abs(kept / n - 0.9)).toBeLessThan(0.01);
    const a = await dropoutWebGpu(tf.ones([256]), 0.5, 1).data();
    const b = await dropoutWebGpu(tf.ones([256]), 0.5, 2).data();
    expect(Array.from(a).some((v, i) => v !== b[i])).toBe(true); // another seed, another mask
    tf.dispose([x, w]);
  });

  it('segment sum (gather gradient): sorted tiles match the reference with heavy duplicates and dropped ids', async () => {
    const N = 600;
    const rest = [3, 5];
    const S = 40;
    const idsArr = Int32Array.from({ length: N }, (_, i) => (i % 5 === 0 ? (i * 13) % S : i % 11 === 0 ? (i % 2 ? -1 : S + 3) : 0));
    const x = randn([N, ...rest]);
    const ids = tf.tensor1d(idsArr, 'int32');
    await poison([[S, ...rest]]);
    const out = tf.engine().makeTensorFromTensorInfo(segmentSumWebGpu(x, ids, S));
    const expected = new Float32Array(S * 15);
    unsortedSegmentSumValues((await x.data()) as Float32Array, idsArr, S, 15, expected);
    expect(await relErr(out, tf.tensor(expected, [S, ...rest]))).toBeLessThan(1e-5);
    // through tf.gather's gradient (the embedding lookup): the registered kernel is used
    const table = randn([S, 6]);
    const tokens = tf.tensor2d(Int32Array.from({ length: 4 * 70 }, (_, i) => (i % 3 ? 0 : (i * 7) % S)), [4, 70], 'int32');
    const w = randn([4, 70, 6]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tokens), w)))(table);
    const gRef = new Float32Array(S * 6);
    unsortedSegmentSumValues((await w.data()) as Float32Array, (await tokens.data()) as Int32Array, S, 6, gRef);
    expect(await relErr(g, tf.tensor(gRef, [S, 6]))).toBeLessThan(1e-5);
    tf.dispose([x, ids, out, table, tokens, w, g]);
  });

  it('segment sum in tile order (lever segmentSumOrdered): the bits of its JavaScript order, the plain sums within rounding', async () => {
    // [N, rowSize, S, ids]: a blank-heavy MQAR-like batch over 3 tiles and a ragged fourth, dropped ids, one id only,
    // rows wider than a workgroup, an empty input, a single row; 41 tiles (the tile bitmap's second word), with ids
    // spread over most tiles and with ids each in one or two tiles (runs of 37 rows), the blank in all
    const blankHeavy = (N: number, S: number) => Int32Array.from({ length: N }, (_, i) => (i % 4 === 0 ? (i * 7) % S : i % 37 === 0 ? (i % 2 ? -2 : S + 1) : 0));
    const cases: Array<[number, number, number, Int32Array]> = [
      [3 * SEGMENT_TILE + 77, 6, 50, blankHeavy(3 * SEGMENT_TILE + 77, 50)],
      [2 * SEGMENT_TILE, 3, 5, new Int32Array(2 * SEGMENT_TILE).fill(4)],
      [700, 300, 9, Int32Array.from({ length: 700 }, (_, i) => (i * 5) % 9)],
      [0, 4, 3, new Int32Array(0)],
      [1, 2, 3, Int32Array.from([2])],
      [40 * SEGMENT_TILE + 3, 2, 300, blankHeavy(40 * SEGMENT_TILE + 3, 300)],
      [40 * SEGMENT_TILE + 3, 2, 300, Int32Array.from({ length: 40 * SEGMENT_TILE + 3 }, (_, i) => (i % 4 === 0 ? Math.floor(i / 37) % 300 : 0))],
    ];
    for (const [N, rowSize, S, idsArr] of cases) {
      const x = randn([N, rowSize]);
      const ids = tf.tensor1d(idsArr, 'int32');
      // the output and the tile bitmap (S words a 32 tiles) from pooled buffers full of NaN bits: the zeroing must hold
      await poison([[S, rowSize], [S * Math.ceil(Math.max(1, Math.ceil(N / SEGMENT_TILE)) / 32)]]);
      const got = tf.engine().makeTensorFromTensorInfo(segmentSumOrderedWebGpu(x, ids, S)!);
      const values = (await x.data()) as Float32Array;
      expect(Array.from(await got.data()), `[${N}, ${rowSize}] → ${S}: the tile order's bits`).toEqual(Array.from(segmentSumTileOrderValues(values, idsArr, S, rowSize)));
      const plain = new Float32Array(S * rowSize);
      unsortedSegmentSumValues(values, idsArr, S, rowSize, plain);
      expect(await relErr(got, tf.tensor(plain, [S, rowSize])), `[${N}, ${rowSize}] → ${S}`).toBeLessThan(1e-5);
      tf.dispose([x, ids, got]);
    }
    // the order is what the reference says it is: summing the tiles backwards gives other bits for the blank id
    const N = 4 * SEGMENT_TILE;
    const idsArr = new Int32Array(N); // every row the blank 0: four tiles' partials of one segment
    // tile partials 1e8, 1, −1e8, 1: in tile order ((1e8 + 1) − 1e8) + 1 = 1 in float32 (1e8 + 1 rounds to 1e8)
    const values = new Float32Array(N);
    [1e8, 1, -1e8, 1].forEach((v, t) => (values[t * SEGMENT_TILE + 5] = v));
    const x = tf.tensor2d(values, [N, 1]);
    const forward = segmentSumTileOrderValues(values, idsArr, 1, 1)[0]!;
    expect(forward).toBe(1);
    const tileSums = [0, 1, 2, 3].map((t) => segmentSumTileOrderValues(values.slice(t * SEGMENT_TILE, (t + 1) * SEGMENT_TILE), idsArr.slice(0, SEGMENT_TILE), 1, 1)[0]!);
    expect(tileSums.reduce((a, b) => Math.fround(a + b), 0)).toBe(forward);
    const orders = [[3, 2, 1, 0], [1, 0, 3, 2], [2, 3, 0, 1]].map((order) => order.reduce((a, t) => Math.fround(a + tileSums[t]!), 0));
    expect(orders.some((v) => v !== forward), 'another order of the same partials rounds differently').toBe(true);
    const got = tf.engine().makeTensorFromTensorInfo(segmentSumOrderedWebGpu(x, tf.tensor1d(idsArr, 'int32'), 1)!);
    expect((await got.data())[0]).toBe(forward);
    // through tf.gather's gradient with the lever on: the ordered kernels run
    setFastPath({ segmentSum: true, segmentSumOrdered: true });
    const before = dispatchCounts.get('SegmentSumOrderedGather') ?? 0;
    const table = randn([20, 6]);
    const tokens = tf.tensor2d(Int32Array.from({ length: 4 * 70 }, (_, i) => (i % 3 ? 0 : (i * 7) % 20)), [4, 70], 'int32');
    const w = randn([4, 70, 6]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tokens), w)))(table);
    expect(Array.from(await g.data())).toEqual(Array.from(segmentSumTileOrderValues((await w.data()) as Float32Array, (await tokens.data()) as Int32Array, 20, 6)));
    expect((dispatchCounts.get('SegmentSumOrderedGather') ?? 0) - before).toBe(1);
    tf.dispose([x, got, table, tokens, w, g]);
  });

  it('pad of rank 5 and 6 (tfjs\'s stock shader does not compile: zeros) matches a JavaScript pad, values and gradient', async () => {
    // reference: index arithmetic in JavaScript, no tf op
    const jsPad = (values: Float32Array, shape: number[], pads: [number, number][], c: number) => {
      const outShape = shape.map((n, i) => n + pads[i]![0] + pads[i]![1]);
      const out = new Float32Array(outShape.reduce((a, b) => a * b, 1)).fill(c);
      const idx = new Array<number>(shape.length).fill(0);
      for (let f = 0; f < values.length; f++) {
        let rem = f;
        for (let a = shape.length - 1; a >= 0; a--) {
          idx[a] = rem % shape[a]!;
          rem = Math.floor(rem / shape[a]!);
        }
        let o = 0;
        for (let a = 0; a < shape.length; a++) o = o * outShape[a]! + idx[a]! + pads[a]![0];
        out[o] = values[f]!;
      }
      return out;
    };
    const cases: { shape: number[]; pads: [number, number][] }[] = [
      { shape: [2, 3, 1, 2, 4], pads: [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]] }, // ssd's [B·H, n, ...] carry pad, one rank up
      { shape: [2, 3, 2, 2, 3], pads: [[1, 2], [0, 0], [0, 1], [0, 0], [2, 0]] },
      { shape: [1, 2, 3, 2, 2, 2], pads: [[0, 0], [0, 0], [1, 1], [0, 0], [0, 2], [0, 0]] },
    ];
    for (const { shape, pads } of cases) {
      const x = randn(shape);
      const y = tf.pad(x, pads, 0.5);
      expect(y.shape).toEqual(shape.map((n, i) => n + pads[i]![0] + pads[i]![1]));
      const want = jsPad((await x.data()) as Float32Array, shape, pads, 0.5);
      const got = await y.data();
      expect(Array.from(got), JSON.stringify(pads)).toEqual(Array.from(want));
      // gradient: the slice of dy where x sits
      const dy = randn(y.shape);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.pad(t, pads), dy)))(x);
      const dyValues = await dy.data();
      const xIndex = jsPad(Float32Array.from({ length: x.size }, (_, i) => i + 1), shape, pads, 0);
      const wantDx = new Float32Array(x.size);
      xIndex.forEach((v, o) => { if (v > 0) wantDx[v - 1] = dyValues[o]!; });
      expect(Array.from(await dx.data())).toEqual(Array.from(wantDx));
      tf.dispose([x, y, dy, dx]);
    }
  });

  it('cumsum of rank 5 along the last axis (chunked linear attention) matches the CPU', async () => {
    const x = randn([2, 1, 3, 4, 5]);
    const values = await x.data();
    const y = await tf.cumsum(x, 4, true).data();
    for (let row = 0; row < 24; row++) {
      let acc = 0;
      for (let j = 0; j < 5; j++) {
        expect(Math.abs(y[row * 5 + j]! - acc)).toBeLessThan(1e-5);
        acc += values[row * 5 + j]!;
      }
    }
    x.dispose();
  });

  it('cumsum, every direction, of several lengths in one process, ranks 2–5, matches a JavaScript prefix sum (tfjs reuses a stale reverse-scan shader)', async () => {
    // tfjs-backend-webgpu 4.22 bakes the scanned length into a reverse scan's shader but not into its cache key:
    // without the fix the second length of a rank reads the first one's shader (cumsum.ts)
    for (const rank of [2, 3, 4, 5])
      for (const n of [4, 8, 16, 5])
        for (const [exclusive, reverse] of [[false, true], [true, true], [false, false], [true, false]] as const) {
          const shape = [...Array(rank - 1).fill(2), n];
          const x = randn(shape);
          const values = await x.data();
          const y = await tf.cumsum(x, rank - 1, exclusive, reverse).data();
          for (let row = 0; row < values.length / n; row++) {
            let acc = 0;
            for (let k = 0; k < n; k++) {
              const j = reverse ? n - 1 - k : k;
              if (!exclusive) acc += values[row * n + j]!;
              expect(Math.abs(y[row * n + j]! - acc), `rank ${rank} n ${n} exclusive ${exclusive} reverse ${reverse}`).toBeLessThan(1e-5);
              if (exclusive) acc += values[row * n + j]!;
            }
          }
          x.dispose();
        }
    // an axis that is not the last (rank ≤ 4): the stock kernel transposes, the fix reverses that axis
    const x = randn([3, 6, 2]);
    const ref = tf.tidy(() => tf.reverse(tf.cumsum(tf.reverse(x, 1), 1), 1));
    expect(await relErr(tf.cumsum(x, 1, false, true), ref)).toBeLessThan(1e-6);
    const x9 = randn([3, 9, 2]);
    const values9 = await x9.data();
    const y9 = await tf.cumsum(x9, 1, false, true).data();
    for (let a = 0; a < 3; a++)
      for (let c = 0; c < 2; c++) {
        let acc = 0;
        for (let t = 8; t >= 0; t--) {
          acc += values9[(a * 9 + t) * 2 + c]!;
          expect(Math.abs(y9[(a * 9 + t) * 2 + c]! - acc)).toBeLessThan(1e-5);
        }
      }
    tf.dispose([x, ref, x9]);
  });

  it('fused scan: values and gradients (a full or broadcast, lengths 1–64, rank 3 and 4) match the per-step reference; lever off runs the parallel form', async () => {
    const cases: { a: number[]; b: number[] }[] = [
      { a: [2, 7, 5], b: [2, 7, 5] },
      { a: [3, 64, 4, 2], b: [3, 64, 4, 2] }, // Mamba's [B, T, E, N]
      { a: [2, 33, 3, 1], b: [2, 33, 3, 4] }, // GLA's carry: a broadcast over d_v
      { a: [3, 5, 1, 1], b: [3, 5, 4, 6] }, // SSD's carry (Mamba-2): one decay per (batch·head, chunk)
      { a: [1, 9, 1, 4], b: [2, 9, 3, 4] }, // broadcast over the batch and a leading axis
      { a: [1, 1, 6], b: [1, 1, 6] },
    ];
    for (const c of cases) {
      const a = tf.randomUniform(c.a, 0.2, 1, 'float32', seed++);
      const b = randn(c.b);
      const w = randn(c.b); // a random cotangent: loss = Σ w ⊙ h
      const loss = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), w));
      const naive = tf.grads(loss(scanNaive));
      const fused = tf.grads(loss(scanWebGpu));
      const [daRef, dbRef] = naive([a, b]);
      const [da, db] = fused([a, b]);
      const label = `a [${c.a}] b [${c.b}]`;
      expect(await relErr(scanWebGpu(a, b), scanNaive(a, b)), label).toBeLessThan(1e-5);
      expect(da!.shape, label).toEqual(c.a);
      expect(await relErr(da!, daRef!), label).toBeLessThan(1e-5);
      expect(await relErr(db!, dbRef!), label).toBeLessThan(1e-5);
      // through the op: the fast form while the lever is on, the parallel form when off — same values
      const viaOp = await scan(a, b).data();
      setFastPath({ scan: false });
      expect(fastForms().some((f) => f.op === 'scan' && f.backend === 'webgpu' && f.lever === 'scan')).toBe(true);
      const parallel = scan(a, b);
      expect(await relErr(tf.tensor(viaOp, c.b), parallel), label).toBeLessThan(1e-5);
      setFastPath({ scan: true });
      tf.dispose([a, b, w, daRef!, dbRef!, da!, db!, parallel]);
    }
  });

  it('fused scan: a broadcast a is read in place — no array of b\'s size is made in JavaScript and uploaded (Mamba-2\'s host time)', async () => {
    // SSD's carry a [B·H, n, 1, 1] against b [B·H, n, N, P]: expanding a with tf.zeros(b.shape) built and uploaded a
    // Float32Array of b's size on every call (67 MB per layer and step at d 128, L 256, B 64: Mamba-2's host-bound step)
    const a = tf.randomUniform([4, 3, 1, 1], 0.2, 1, 'float32', seed++);
    const b = randn([4, 3, 16, 32]);
    const dbRef = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(scanNaive(x, y)))([a, b])[1]!;
    const spy = vi.spyOn(tf.engine(), 'makeTensor'); // every tensor made from JavaScript values (tf.zeros, tf.tensor)
    let made: number[];
    try {
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(scanWebGpu(x, y)))([a, b]);
      made = spy.mock.calls.map(([, shape]) => tf.util.sizeFromShape(shape));
      expect(da!.shape).toEqual([4, 3, 1, 1]);
      expect(await relErr(db!, dbRef)).toBeLessThan(1e-5);
      tf.dispose([da!, db!]);
    } finally {
      spy.mockRestore();
    }
    expect(Math.max(0, ...made), `sizes of the tensors made from JavaScript values: ${made}`).toBeLessThan(b.size);
    tf.dispose([dbRef]);
    // three alternating runs (no mixer makes them) expand a on the device first: the same as a full a summed back
    // (a fully expanded a is the reference here; scanNaive at rank 5 also needs a rank-5 pad, fixed on webgpu by accel/webgpu/pad.ts)
    const a5 = tf.randomUniform([2, 6, 3, 1, 2], 0.2, 1, 'float32', seed++);
    const b5 = randn([2, 6, 3, 4, 2]);
    const w5 = randn([2, 6, 3, 4, 2]);
    const [da5, db5] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(scanWebGpu(x, y), w5)))([a5, b5]);
    const [daFull, dbFull] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(scanWebGpu(x, y), w5)))([tf.concat([a5, a5, a5, a5], 3), b5]);
    expect(await relErr(scanWebGpu(a5, b5), scanWebGpu(tf.concat([a5, a5, a5, a5], 3), b5))).toBe(0);
    expect(await relErr(da5!, tf.sum(daFull!, 3, true))).toBe(0);
    expect(await relErr(db5!, dbFull!)).toBe(0);
    tf.dispose([a, b, a5, b5, w5, da5!, db5!, daFull!, dbFull!]);
  });

  it('fused WKV: values and gradients of w, u, k, v match the per-token reference (large keys, lengths 1–40); lever off runs the parallel form', async () => {
    // one token: only the bonus term (w has no gradient there, so values only)
    const one = [tf.exp(randn([4])), randn([4]), randn([3, 1, 4], 3), randn([3, 1, 4])] as [tf.Tensor1D, tf.Tensor1D, tf.Tensor3D, tf.Tensor3D];
    expect(await relErr(wkvWebGpu(...one), wkvNaive(...one))).toBeLessThan(1e-5);
    tf.dispose(one);
    for (const [B, T, C, kStd] of [[2, 13, 5, 1], [1, 40, 3, 4], [3, 2, 4, 1], [2, 24, 70, 2]] as const) {
      const w = tf.exp(randn([C], 0.5)) as tf.Tensor1D; // decay rate > 0
      const u = randn([C], 0.5) as tf.Tensor1D;
      const k = randn([B, T, C], kStd) as tf.Tensor3D; // kStd 4: e^k spans ~e^±12, the scaled state's job
      const v = randn([B, T, C]) as tf.Tensor3D;
      const cot = randn([B, T, C]);
      const loss = (f: typeof wkvNaive) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor1D, b as tf.Tensor1D, c as tf.Tensor3D, d as tf.Tensor3D), cot));
      const ref = tf.grads(loss(wkvNaive))([w, u, k, v]);
      const got = tf.grads(loss(wkvWebGpu))([w, u, k, v]);
      const label = `B ${B} T ${T} C ${C} k std ${kStd}`;
      expect(await relErr(wkvWebGpu(w, u, k, v), wkvNaive(w, u, k, v)), label).toBeLessThan(1e-5);
      for (let i = 0; i < 4; i++) {
        expect(got[i]!.shape, `${label} grad ${i}`).toEqual(ref[i]!.shape);
        expect(await relErr(got[i]!, ref[i]!), `${label} grad ${'wukv'[i]}`).toBeLessThan(2e-4);
      }
      const viaOp = await wkv(w, u, k, v).data();
      setFastPath({ wkv: false });
      const parallel = wkv(w, u, k, v);
      expect(await relErr(tf.tensor(viaOp, [B, T, C]), parallel), label).toBeLessThan(1e-5);
      setFastPath({ wkv: true });
      tf.dispose([w, u, k, v, cot, ...ref, ...got, parallel]);
    }
  });

  it("fused WKV for a stack of R runs (w, u [R, C]): values and gradients equal each run's own WKV; one run's w, u for all fails", async () => {
    for (const [R, B, T, C] of [[3, 6, 13, 70], [2, 2, 24, 5]] as const) {
      const per = B / R;
      const w = tf.exp(randn([R, C], 0.5)) as tf.Tensor2D;
      const u = randn([R, C], 0.5) as tf.Tensor2D;
      const k = randn([B, T, C], 2) as tf.Tensor3D;
      const v = randn([B, T, C]) as tf.Tensor3D;
      const cot = randn([B, T, C]);
      // the reference: each run's examples (run-major) through the per-token WKV with that run's w and u
      const stackedNaive = (ws: tf.Tensor, us: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor) =>
        tf.concat(Array.from({ length: R }, (_, r) => {
          const run = (t: tf.Tensor) => t.slice([r, 0], [1, C]).reshape([C]) as tf.Tensor1D;
          const rows = (t: tf.Tensor) => t.slice([r * per, 0, 0], [per, T, C]) as tf.Tensor3D;
          return wkvNaive(run(ws), run(us), rows(ks), rows(vs));
        }), 0);
      const fusedStack = (ws: tf.Tensor, us: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor) => wkvWebGpu(ws as tf.Tensor2D, us as tf.Tensor2D, ks as tf.Tensor3D, vs as tf.Tensor3D);
      const loss = (f: typeof stackedNaive) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, b, c, d), cot));
      const ref = tf.grads(loss(stackedNaive))([w, u, k, v]);
      const got = tf.grads(loss(fusedStack))([w, u, k, v]);
      const label = `R ${R} B ${B} T ${T} C ${C}`;
      const y = fusedStack(w, u, k, v);
      expect(await relErr(y, stackedNaive(w, u, k, v)), label).toBeLessThan(1e-5);
      for (let i = 0; i < 4; i++) {
        expect(got[i]!.shape, `${label} grad ${i}`).toEqual(ref[i]!.shape);
        expect(await relErr(got[i]!, ref[i]!), `${label} grad ${'wukv'[i]}`).toBeLessThan(2e-4);
      }
      // the mutation a per-run index would hide: every example with run 0's w and u
      const first = (t: tf.Tensor) => tf.tile(t.slice([0, 0], [1, C]), [R, 1]);
      const wrong = stackedNaive(first(w), first(u), k, v);
      expect(await relErr(y, wrong), `${label}: run 0's w, u for all`).toBeGreaterThan(1e-3);
      // through the op, a stack takes the fused form too (the parallel form agrees with it)
      const viaOp = wkv(w, u, k, v);
      setFastPath({ wkv: false });
      const parallel = wkv(w, u, k, v);
      setFastPath({ wkv: true });
      expect(await relErr(viaOp, y), label).toBe(0);
      expect(await relErr(parallel, y), label).toBeLessThan(1e-5);
      tf.dispose([w, u, k, v, cot, y, wrong, viaOp, parallel, ...ref, ...got]);
    }
  });

  it('transposes that only move size-1 axes are views with the right values; others still copy', async () => {
    expect(isReshapeTranspose([2, 5, 1, 3], [0, 2, 1, 3])).toBe(true);
    expect(isReshapeTranspose([2, 5, 2, 3], [0, 2, 1, 3])).toBe(false);
    expect(isReshapeTranspose([1, 5, 1, 3], [2, 0, 1, 3])).toBe(true);
    const x = randn([2, 5, 1, 3]);
    const xs = await x.array();
    for (const perm of [[0, 2, 1, 3], [0, 1, 3, 2]]) {
      const y = tf.transpose(x, perm);
      const ys = (await y.data()) as Float32Array;
      const shape = perm.map((a) => x.shape[a]!);
      const strides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
      for (let a = 0; a < 2; a++) for (let b = 0; b < 5; b++) for (let c = 0; c < 3; c++) {
        const src = [a, b, 0, c];
        const dst = perm.map((p) => src[p]!);
        expect(ys[dst.reduce((s, v, i) => s + v * strides[i]!, 0)]).toBeCloseTo((xs as number[][][][])[a]![b]![0]![c]!, 6);
      }
      // the view's gradient flows back through the same transpose
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.transpose(t, perm), tf.onesLike(y))))(x);
      expect(Array.from(await g.data()).every((v) => v === 1)).toBe(true);
      tf.dispose([y, g]);
    }
    x.dispose();
  });

  /** The fast Sum/Mean gradients equal tfjs's own, bit for bit, for each reduction axis of x. */
  async function expectReduceGradsEqual(shape: number[], axes: Array<number | number[] | undefined>): Promise<void> {
    const x = randn(shape);
    for (const axis of axes) {
      for (const op of [tf.sum, tf.mean]) {
        const w = randn(op(x, axis, true).shape);
        const f = (t: tf.Tensor) => tf.sum(tf.mul(op(t, axis, true), w));
        setFastPath({ reduceGrads: true });
        const fast = tf.grad(f)(x);
        setFastPath({ reduceGrads: false });
        const ref = tf.grad(f)(x);
        setFastPath({ reduceGrads: true });
        expect(Array.from(await fast.data())).toEqual(Array.from(await ref.data()));
        tf.dispose([w, fast, ref]);
      }
    }
    x.dispose();
  }

  it('Sum and Mean gradients broadcast on the device and equal tfjs\'s own exactly', async () => {
    await expectReduceGradsEqual([3, 4, 5], [0, 1, 2, -1, [0, 2], undefined]);
  });

  it('Sum and Mean gradients of rank 5 and 6 (H3, chunked scans) stay on the device and equal tfjs\'s own', async () => {
    // rank ≥ 5 broadcastTo goes through tfjs-webgpu's Tile, which reads synchronously on the CPU and throws in Node
    for (const shape of [[2, 3, 2, 3, 2], [2, 1, 3, 2, 2, 3]]) await expectReduceGradsEqual(shape, [[3, 4], [1], [0, 2, 4], undefined]);
  });

  it('narrow sums (≤ 64 values per output over adjacent axes): one thread per output equals the plain loop exactly; other sums keep the stock kernel', async () => {
    const cases: Array<{ shape: number[]; axes: number[]; narrow: boolean }> = [
      { shape: [8, 6, 3, 2, 2], axes: [-2], narrow: true }, // H3's contraction over i of [B, T, H, P, P]
      { shape: [8, 6, 3, 2, 2], axes: [4], narrow: true }, // the outer product's gradient over j
      { shape: [8, 6, 3, 2, 2], axes: [4, 3], narrow: true }, // two adjacent axes, given out of order
      { shape: [5, 7], axes: [0], narrow: true }, // leading axis: inner 7, strided reads
      { shape: [4, 3, 5], axes: [0, 1], narrow: true },
      { shape: [3, 9, 64], axes: [2], narrow: true }, // R = 64, the most it takes
      { shape: [3, 67], axes: [1], narrow: false }, // R = 67: the stock tree (longSum off here)
      { shape: [2, 3, 4], axes: [0, 2], narrow: false }, // not adjacent
    ];
    setFastPath({ longSum: false });
    try {
      for (const { shape, axes, narrow } of cases) {
        const x = randn(shape);
        const view = axisRunView(shape, axes);
        expect(view !== undefined && view.R <= NARROW_SUM_MAX_R, `${shape} over ${axes}`).toBe(narrow);
        for (const keepDims of [false, true]) {
          const direct = narrowSumWebGpu(x, axes, keepDims);
          expect(direct !== undefined, `${shape} over ${axes}`).toBe(narrow);
          const viaTf = tf.sum(x, axes, keepDims);
          if (direct) {
            const fast = tf.engine().makeTensorFromTensorInfo(direct);
            const expected = sumAxisRunValues((await x.data()) as Float32Array, view!);
            expect(fast.shape).toEqual(viaTf.shape);
            expect(Array.from(await fast.data())).toEqual(Array.from(expected));
            expect(Array.from(await viaTf.data())).toEqual(Array.from(expected));
            fast.dispose();
          } else {
            // the stock kernel: a tree, equal to the float64 sum within rounding
            const values = (await x.data()) as Float32Array;
            const summed = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
            const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, n) => p * n, 1));
            const outShape = shape.map((n, a) => (summed.has(a) ? 1 : n));
            const expected = new Float64Array(outShape.reduce((p, n) => p * n, 1));
            for (let flat = 0; flat < values.length; flat++) {
              const coords = shape.map((n, a) => Math.floor(flat / strides[a]!) % n);
              const outIndex = coords.reduce((acc, c, a) => acc * outShape[a]! + (summed.has(a) ? 0 : c), 0);
              expected[outIndex]! += values[flat]!;
            }
            const got = await viaTf.data();
            expect(got.length).toBe(expected.length);
            for (let k = 0; k < got.length; k++) expect(Math.abs(got[k]! - expected[k]!)).toBeLessThan(1e-5 * (1 + Math.abs(expected[k]!)));
          }
          viaTf.dispose();
        }
        x.dispose();
      }
    } finally {
      setFastPath({ longSum: true });
    }
  });

  it('long sums with few outputs (lever longSum): two passes read in place equal the float64 sum within float32 rounding; others decline', async () => {
    // chunks, from one outer slice's outputs and R: enough threads, ≥ 16 values each, ≤ 2,048 chunks, none empty
    expect(longSumChunks(64, 32768)).toEqual({ P: 1024, chunk: 32 }); // a [64] parameter's gradient at L 64, B512
    expect(longSumChunks(3, 1000)).toEqual({ P: 59, chunk: 17 });
    expect(longSumChunks(1, 1 << 21)).toEqual({ P: 2048, chunk: 1024 });
    expect(longSumChunks(16384, 100)).toEqual({ P: 4, chunk: 25 });
    expect(longSumChunks(8, 70)).toEqual({ P: 4, chunk: 18 });
    const ran = () => dispatchCounts.get('RecallbenchLongSumParts') ?? 0;
    const cases: Array<{ shape: number[]; axes: number[]; long: boolean }> = [
      { shape: [40000, 8], axes: [0], long: true }, // 1,024+ chunks of a tall column sum
      { shape: [3, 2000, 5], axes: [1], long: true }, // outer 3, inner 5
      { shape: [2, 70, 64], axes: [0, 1], long: true }, // a bias gradient over [B, T]
      { shape: [1000, 3], axes: [0], long: true }, // a ragged last chunk
      { shape: [70, 2], axes: [0], long: true }, // R 70: 4 chunks of 18, the last of 16
      { shape: [3, 67], axes: [1], long: true }, // R 67, just past the narrow sums: 4 chunks of 17, the last of 16
      { shape: [60, 200], axes: [1], long: true }, // inner 1: each thread walks its own rows
      { shape: [100, 20000], axes: [0], long: false }, // 20,000 outputs: the stock kernel
      { shape: [65, 100], axes: [1], long: false }, // 65 rows summed each (outer 65): the stock kernel's 65 workgroups
      { shape: [64, 100], axes: [1], long: true }, // 64 outer slices (a stack of 64 runs), inner 1
      { shape: [5, 17, 2], axes: [2], long: false }, // R 2: a narrow sum, not a long one
      { shape: [2, 3, 40], axes: [0, 2], long: false }, // not adjacent
    ];
    setFastPath({ narrowSum: false, longSum: true });
    try {
      for (const { shape, axes, long } of cases) {
        const x = randn(shape);
        const view = axisRunView(shape, axes);
        const values = (await x.data()) as Float32Array;
        for (const keepDims of [false, true]) {
          const direct = longSumWebGpu(x, axes, keepDims);
          expect(direct !== undefined, `${shape} over ${axes}`).toBe(long);
          const before = ran();
          const viaTf = tf.sum(x, axes, keepDims);
          await viaTf.data();
          expect(ran() - before, `${shape} over ${axes}: tf.sum took the long form`).toBe(long ? 1 : 0);
          if (direct) {
            expect(view!.outer * view!.inner).toBeLessThanOrEqual(LONG_SUM_MAX_OUTPUTS);
            const fast = tf.engine().makeTensorFromTensorInfo(direct);
            expect(fast.shape).toEqual(viaTf.shape);
            const got = await fast.data();
            for (let o = 0; o < view!.outer; o++)
              for (let i = 0; i < view!.inner; i++) {
                let exact = 0;
                let magnitude = 0;
                for (let r = 0; r < view!.R; r++) {
                  const v = values[(o * view!.R + r) * view!.inner + i]!;
                  exact += v;
                  magnitude += Math.abs(v);
                }
                expect(Math.abs(got[o * view!.inner + i]! - exact), `${shape} over ${axes} [${o}, ${i}]`).toBeLessThan(2e-7 * magnitude + 1e-6);
              }
            expect(Array.from(await viaTf.data())).toEqual(Array.from(got));
            fast.dispose();
          }
          viaTf.dispose();
        }
        x.dispose();
      }
    } finally {
      setFastPath({ narrowSum: true, longSum: true });
    }
  });

  it('long sums: a stack\'s runs (the outer axis) sum their slices exactly as each run alone', async () => {
    setFastPath({ longSum: true });
    // 6,000 rows of 64: 375 chunks for a run alone; chunked by the stack's 192 outputs it would be 342
    const x = randn([3, 6000, 64]);
    const stacked = tf.engine().makeTensorFromTensorInfo(longSumWebGpu(x, [1], false)!);
    for (let r = 0; r < 3; r++) {
      const slice = x.slice([r, 0, 0], [1, 6000, 64]).reshape([6000, 64]);
      const alone = tf.engine().makeTensorFromTensorInfo(longSumWebGpu(slice, [0], false)!);
      expect(Array.from(await stacked.slice([r, 0], [1, 64]).data()), `run ${r}`).toEqual(Array.from(await alone.data()));
      tf.dispose([slice, alone]);
    }
    tf.dispose([x, stacked]);
  });

  it('long sums: a tiny RWKV (its time-mix weights\' gradients over B·T = 80 rows) trains the same with the lever on and off', async () => {
    const e = await expectLeverStepAgrees('longSum', [{ mixer: 'rwkv' }], { seqLen: 40 });
    expect(e.lossRel).toBeLessThan(1e-5);
  });

  it('narrow sums: a tiny H3 with head_dim 2 (its outer product and contraction) trains the same with the lever on and off', async () => {
    const e = await expectLeverStepAgrees('narrowSum', [{ mixer: 'h3', params: { stateDim: 8, headDim: 2 } }], { seqLen: 12 });
    expect(e.lossRel).toBeLessThan(1e-5);
  });

  it('swizzle: the fused recurrences\' gradients are the same bit for bit with the permuted column-sum tables and without', async () => {
    const grads = async (on: boolean, f: (...a: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) => {
      setFastPath({ swizzle: on });
      try {
        const gs = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), 1.7)))(inputs);
        const values = await Promise.all(gs.map(async (g) => Array.from(await g.data())));
        tf.dispose(gs);
        return values;
      } finally {
        setFastPath({ swizzle: true });
      }
    };
    // selective scan: E 96 over blocks of 64 lanes (a partial block); delta rule: d_v 40 over blocks of 32 or 64 columns
    const [B, T, E, N] = [2, 13, 96, 16];
    const scan = [randn([B, T, E]), tf.softplus(randn([B, T, E])), tf.neg(tf.exp(randn([E, N], 0.3))), randn([B, T, N]), randn([B, T, N])];
    const [H, dk, dv] = [2, 8, 40];
    const unit = (t: tf.Tensor) => tf.div(t, tf.norm(t, 'euclidean', -1, true));
    const delta = [unit(randn([B, H, T, dk])), unit(randn([B, H, T, dk])), randn([B, H, T, dv]), tf.sigmoid(randn([B, H, T]))];
    const cases: Array<[string, (...a: tf.Tensor[]) => tf.Tensor, tf.Tensor[]]> = [
      ['selective scan', (x, dt, A, Bm, Cm) => selectiveScanWebGpu(x as tf.Tensor3D, dt as tf.Tensor3D, A as tf.Tensor2D, Bm as tf.Tensor3D, Cm as tf.Tensor3D)!, scan],
      ['delta rule', (q, k, v, b) => deltaRuleWebGpu(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, b as tf.Tensor3D)!, delta],
    ];
    for (const [name, f, inputs] of cases) {
      const on = await grads(true, f, inputs);
      const off = await grads(false, f, inputs);
      expect(on.length, name).toBe(inputs.length);
      for (let i = 0; i < on.length; i++) {
        expect(on[i]!.every(Number.isFinite), `${name}: gradient ${i} finite`).toBe(true);
        expect(on[i], `${name}: gradient ${i}`).toEqual(off[i]);
      }
    }
    tf.dispose([...scan, ...delta]);
  });

  it('AdamW: the fused in-place update equals the reference over several steps (vec4 and scalar paths, decay on/off)', async () => {
    const shapes = [[8, 4], [7], [3, 5], [16]];
    const init = shapes.map((s) => randn(s));
    const fused = init.map((t, i) => tf.tidy(() => tf.variable(tf.mul(t, 1), true, `fused${i}_${seed++}`)));
    const ref = init.map((t, i) => tf.tidy(() => tf.variable(tf.mul(t, 1), true, `ref${i}_${seed++}`)));
    const decays = (v: tf.Variable) => !v.name.includes('1_'); // one parameter without weight decay
    const optFused = new AdamW(fused, { weightDecay: 0.1, decays });
    const optRef = new AdamW(ref, { weightDecay: 0.1, decays });
    setFastPath({ adamw: false });
    for (let step = 0; step < 4; step++) {
      const grads = shapes.map((s) => randn(s, 0.5));
      const lr = 1e-2 * (step + 1);
      optRef.apply(grads, lr); // adamw off: the plain-tfjs reference
      optFused.stepCount += 1;
      const t = optFused.stepCount;
      const wd = fused.map((v) => (decays(v) ? 0.1 : 0));
      expect(adamWWebGpu(fused, optFused.m, optFused.v, grads, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 1 - 0.9 ** t, c2: 1 - 0.999 ** t, weightDecays: wd })).toBe(true);
      grads.forEach((g) => g.dispose());
    }
    setFastPath({ adamw: true });
    for (let i = 0; i < shapes.length; i++) {
      expect(await relErr(fused[i]!, ref[i]!)).toBeLessThan(1e-6);
      expect(await relErr(optFused.m[i]!, optRef.m[i]!)).toBeLessThan(1e-6);
      expect(await relErr(optFused.v[i]!, optRef.v[i]!)).toBeLessThan(1e-6);
      expect(await relErr(fused[i]!, init[i]!)).toBeGreaterThan(1e-3); // it did move
    }
    // a parameter whose buffer is shared with another live tensor is declined (the reference path runs instead)
    const alias = tf.reshape(fused[0]!, [32]);
    const g = shapes.map((s) => tf.zeros(s));
    expect(adamWWebGpu(fused, optFused.m, optFused.v, g, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 0.5, c2: 0.5, weightDecays: [0, 0, 0, 0] })).toBe(false);
    tf.dispose([alias, ...g, ...init]);
    optFused.dispose();
    optRef.dispose();
    [...fused, ...ref].forEach((v) => v.dispose());
  });

  it('the registry: every lever has its entries, and a lever turned off gives the op its reference back (same values)', async () => {
    const rows = fastForms().filter((e) => e.backend === 'webgpu');
    for (const lever of LEVERS) expect(rows.filter((e) => e.lever === lever).length, lever).toBeGreaterThan(0);
    for (const row of rows) expect(row.lever === undefined || (LEVERS as readonly string[]).includes(row.lever), row.op).toBe(true);
    const same = async (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    try {
      // fast forms the ops call: off → exactly the reference, on → exactly the fused kernel
      const x = randn([3, 5, 24]);
      const gamma = tf.add(randn([24], 0.3), 1);
      const beta = randn([24], 0.3);
      setFastPath({ layerNorm: false });
      await same(layerNorm(x, gamma, beta), layerNormNaive(x, gamma, beta));
      setFastPath({ layerNorm: true });
      await same(layerNorm(x, gamma, beta), layerNormWebGpu(x, gamma, beta, 1e-5));

      const hidden = randn([6, 16]) as tf.Tensor2D;
      const embedding = randn([30, 16]) as tf.Tensor2D;
      const labels = randLabels(6, 30);
      setFastPath({ crossEntropy: false });
      await same(tiedHeadCrossEntropy(hidden, embedding, labels).loss, tiedHeadCrossEntropyNaive(hidden, embedding, labels).loss);
      setFastPath({ crossEntropy: true });
      await same(tiedHeadCrossEntropy(hidden, embedding, labels).loss, softmaxCrossEntropyWebGpu(tf.matMul(hidden, embedding, false, true) as tf.Tensor2D, labels));

      setFastPath({ dropout: false });
      await same(dropout(x, 0.3, 77), tf.dropout(x, 0.3, undefined, 77));
      setFastPath({ dropout: true });
      await same(dropout(x, 0.3, 77), dropoutWebGpu(x, 0.3, 77));

      // AdamW off: the optimizer runs exactly the plain update of ops/adamw
      const init = [randn([8, 4]), randn([7])];
      const viaOptimizer = init.map((t, i) => tf.tidy(() => tf.variable(tf.mul(t, 1), true, `lever_opt${i}_${seed++}`)));
      const viaNaive = init.map((t, i) => tf.tidy(() => tf.variable(tf.mul(t, 1), true, `lever_ref${i}_${seed++}`)));
      const opt = new AdamW(viaOptimizer, { weightDecay: 0.1 });
      const moments = init.map((t) => [tf.variable(tf.zerosLike(t)), tf.variable(tf.zerosLike(t))] as const);
      const grads = init.map((t) => randn(t.shape, 0.5));
      setFastPath({ adamw: false });
      opt.apply(grads, 0.01);
      adamWUpdateNaive(viaNaive, moments.map((m) => m[0]), moments.map((m) => m[1]), grads, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 1 - 0.9, c2: 1 - 0.999, weightDecays: [0.1, 0.1] });
      for (let i = 0; i < init.length; i++) await same(viaOptimizer[i]!, viaNaive[i]!);

      // overrides: off → tfjs's stock kernel, gradient or backend path (the values of the plain references)
      setFastPath({ segmentSum: false });
      const ids = Int32Array.from({ length: 40 }, (_, i) => (i % 3 ? 0 : i % 7));
      const rowsX = randn([40, 5]);
      const expected = new Float32Array(7 * 5);
      unsortedSegmentSumValues((await rowsX.data()) as Float32Array, ids, 7, 5, expected);
      expect(await relErr(tf.unsortedSegmentSum(rowsX, tf.tensor1d(ids, 'int32'), 7), tf.tensor(expected, [7, 5]))).toBeLessThan(1e-5);
      setFastPath({ transposeViews: false });
      const t = tf.transpose(x.reshape([3, 5, 1, 24]), [0, 2, 1, 3]);
      await same(t, x.reshape([3, 1, 5, 24]));
      expect(t.dataId).not.toBe(x.dataId); // a copy again, not a view
      setFastPath({ uploads: false });
      expect(pooledUploadsEnabled()).toBe(false);
      setFastPath({ splitK: false });
      expect(tf.env().get('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL')).toBe(-1);
      // narrowSum off: tfjs's Sum (a transpose and a workgroup tree: equal within rounding, not bit for bit)
      const pairs = randn([6, 4, 2, 2]);
      const narrow = tf.engine().makeTensorFromTensorInfo(narrowSumWebGpu(pairs, [2], false)!);
      setFastPath({ narrowSum: false });
      const stockSum = tf.sum(pairs, 2);
      expect(await relErr(stockSum, narrow)).toBeLessThan(1e-6);
      setFastPath({ narrowSum: true });
      await same(tf.sum(pairs, 2), narrow);
      tf.dispose([pairs, narrow, stockSum]);
      setFastPath({ bindGroups: false });
      const before = bindGroupCacheStats();
      await tf.add(x, 1).data();
      const after = bindGroupCacheStats();
      expect(after.hits + after.misses).toBe(before.hits + before.misses); // the cache is not consulted
      tf.dispose([x, gamma, beta, hidden, embedding, labels, ...init, ...grads, ...moments.flat(), rowsX, t]);
      opt.dispose();
      [...viaOptimizer, ...viaNaive].forEach((v) => v.dispose());
    } finally {
      setFastPath(ALL_ON);
    }
    expect(pooledUploadsEnabled()).toBe(true);
    expect(tf.env().get('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL')).toBe(Number(process.env.RECALLBENCH_SPLITK_THRESHOLD ?? 600));
  });

  it('a training step of a tiny LanguageModel: fast path and reference give the same loss and gradients', async () => {
    const config = {
      vocabSize: 40, dModel: 24, nLayers: 2, maxSeqLen: 12, layers: [{ mixer: 'attention', params: { dropout: 0 } }],
      positionEmbeddings: true, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 5,
    };
    const model = new LanguageModel(config);
    const tokens = tf.tensor2d(Array.from({ length: 3 * 12 }, (_, i) => (i * 11) % 40), [3, 12], 'int32');
    const rows = tf.tensor1d([1, 5, 11, 14, 20, 35], 'int32');
    const labels = tf.tensor1d([3, 7, 39, 0, 12, 20], 'int32');
    const run = (levers: FastPath) => {
      setFastPath(levers);
      return tf.variableGrads(() => {
        const hidden = model.forward(tokens, { training: true, dropoutSeed: 1 });
        const h = tf.gather(hidden.reshape([-1, 24]), rows) as tf.Tensor2D;
        const { loss, logits } = tiedHeadCrossEntropy(h, model.embedding as tf.Tensor2D, labels);
        logits.dispose();
        return loss;
      }, model.variables);
    };
    const fast = run(ALL_ON);
    const ref = run(ALL_OFF);
    setFastPath(ALL_ON);
    expect(await relErr(fast.value, ref.value)).toBeLessThan(1e-5);
    for (const v of model.variables) expect(await relErr(fast.grads[v.name]!, ref.grads[v.name]!), v.name).toBeLessThan(1e-4);
    tf.dispose([tokens, rows, labels, fast.value, ref.value, ...Object.values(fast.grads), ...Object.values(ref.grads)]);
    model.dispose();
  });
});
