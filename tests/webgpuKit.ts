// What the fused-kernel tests share (tests/webgpu-*.test.ts): getting a WebGPU adapter (a real GPU, or Mesa's
// software Vulkan driver lavapipe after `eval "$(bash .ci/setup-webgpu.sh)"`), poisoning tfjs's buffer pool so an
// output element a kernel fails to write reads NaN, and the error measure every comparison uses.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { LanguageModel, type LayerSpec } from '../engine/model.js';
import { setFastPath, type Lever } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { fromOpsLayout, type HeadLayouts } from '../ops/shared/heads.js';

/** Dispatches of the kernel counted as `name` (accel/webgpu/dispatch.ts) since `before`, a copy of dispatchCounts. */
export const dispatchesSince = (before: ReadonlyMap<string, number>, name: string): number => (dispatchCounts.get(name) ?? 0) - (before.get(name) ?? 0);

/** The WebGPU adapter's name, or undefined (with a line saying the file is skipped and how to get one). */
export async function webgpuDevice(file: string): Promise<string | undefined> {
  try {
    return (await initBackend('webgpu', { allowSoftwareAdapter: true })).device;
  } catch {
    console.warn(`${file}: SKIPPED — no WebGPU adapter (no GPU and no software Vulkan driver). Run \`eval "$(bash .ci/setup-webgpu.sh)"\` first (see .ci/setup-webgpu.sh).`);
    return undefined;
  }
}

/** Leave NaN-filled buffers of these shapes in tfjs's pool, so the next outputs of those sizes start as NaN. */
export async function poison(shapes: number[][], copies = 3): Promise<void> {
  const ts = shapes.flatMap((s) => Array.from({ length: copies }, () => tf.fill(s, NaN)));
  await Promise.all(ts.map((t) => t.data()));
  ts.forEach((t) => t.dispose());
  // a tiny read submits the queue, so the released buffers are back in the pool
  const flush = tf.scalar(0).add(1);
  await flush.data();
  flush.dispose();
}

/** max |a − b| and that over max |b| (Infinity if a has a non-finite element: unwritten or broken). */
export async function errors(a: tf.Tensor, b: tf.Tensor): Promise<{ abs: number; rel: number }> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) return { abs: Infinity, rel: Infinity };
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return { abs: diff, rel: diff / (scale + 1e-12) };
}

/** errors(a, b).rel */
export async function relErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  return (await errors(a, b)).rel;
}

/** Bytes of workgroup memory a WGSL module declares (every `var<workgroup> name: array<T, N>`, T f32, u32, i32 or a vec2/vec4 of them). */
export function workgroupBytesDeclared(wgsl: string): number {
  const arrays = [...wgsl.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(?:vec([24])<)?(?:f32|u32|i32)>?\s*,\s*(\d+)\s*>/g)];
  if (arrays.length === 0) throw new Error('no workgroup arrays found in the WGSL');
  return arrays.reduce((n, m) => n + 4 * Number(m[1] ?? 1) * Number(m[2]), 0);
}

/**
 * One training step of a tiny model (V 30, d 16, batch 2) with `lever` on, then off: the loss must agree within 1e-5
 * and every parameter's gradient within 1e-4 (relative), and with `kernels` named, the step with the lever on must
 * run them (the model reaches the fused form). The lever is on again afterwards. Returns the errors, for a log line.
 */
export async function expectLeverStepAgrees(
  lever: Lever,
  layers: LayerSpec[],
  opts: { seqLen?: number; seed?: number; kernels?: string[]; label?: string; prefixLength?: number; dModel?: number } = {},
): Promise<{ lossRel: number; worstGradRel: number }> {
  const T = opts.seqLen ?? 10;
  const d = opts.dModel ?? 16;
  const label = opts.label ?? lever;
  const model = new LanguageModel({ vocabSize: 30, dModel: d, nLayers: layers.length, maxSeqLen: T, layers, positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: opts.seed ?? 3 });
  const tokens = tf.tensor2d(Array.from({ length: 2 * T }, (_, i) => (i * 7) % 30), [2, T], 'int32');
  const cotangent = tf.randomNormal([2, T, d], 0, 1, 'float32', 17);
  const step = (on: boolean) => {
    setFastPath({ [lever]: on });
    return tf.variableGrads(() => tf.sum(tf.mul(model.forward(tokens, { training: true, dropoutSeed: 1, prefixLength: opts.prefixLength }), cotangent)), model.variables);
  };
  try {
    let fast!: ReturnType<typeof step>;
    const ran = new Set((await tf.profile(() => (fast = step(true)).value)).kernelNames);
    for (const k of opts.kernels ?? []) expect(ran.has(k), `${label}: the step with ${lever} on runs ${k}`).toBe(true);
    const ref = step(false);
    const lossRel = (await errors(fast.value, ref.value)).rel;
    expect(lossRel, `${label}: loss`).toBeLessThan(1e-5);
    let worstGradRel = 0;
    for (const v of model.variables) {
      const e = (await errors(fast.grads[v.name]!, ref.grads[v.name]!)).rel;
      worstGradRel = Math.max(worstGradRel, e);
      expect(e, `${label}: ${v.name}`).toBeLessThan(1e-4);
    }
    tf.dispose([fast.value, ref.value, ...Object.values(fast.grads), ...Object.values(ref.grads)]);
    return { lossRel, worstGradRel };
  } finally {
    setFastPath({ [lever]: true });
    tf.dispose([tokens, cotangent]);
    model.dispose();
  }
}

/**
 * The head-layout pairs the stridedHeads tests run: the mixers' own (DeltaNet's, Gated DeltaNet's and GLA's bthd both
 * ways; RWKV-7's bthd in, heads first out) and one more that moves B and H apart on the input side.
 */
export const LAYOUT_PAIRS: readonly HeadLayouts[] = [
  { input: 'bthd', output: 'bthd' },
  { input: 'bthd', output: 'hbtd' },
  { input: 'hbtd', output: 'bhtd' },
];
export const RWKV7_LAYOUTS: HeadLayouts = LAYOUT_PAIRS[1]!;

/**
 * Lever stridedHeads for one fused recurrence and one pair of head layouts: `run` computes o and its inputs'
 * gradients with the inputs in L.input and o in L.output (the lever is on). No Transpose may run; the lever off (the
 * kernels in [B, H, T, ·] between transposes) must give the same bits; and each result must lie within bar(i) of the
 * reference's `ref` ([B, H, T, ·]: o moved to L.output, every gradient to L.input). `names` label the results.
 */
export async function expectLayoutsAgree(tag: string, L: HeadLayouts, run: () => tf.Tensor[], ref: tf.Tensor[], names: string[], bar: (i: number) => number): Promise<void> {
  let direct: tf.Tensor[] = [];
  const kernels = new Set((await tf.profile(() => (direct = run()))).kernelNames);
  expect(kernels.has('Transpose'), `${tag}: a Transpose ran`).toBe(false);
  let viaTransposes: tf.Tensor[] = [];
  try {
    setFastPath({ stridedHeads: false });
    viaTransposes = run();
  } finally {
    setFastPath({ stridedHeads: true });
  }
  const refIn = ref.map((t, i) => fromOpsLayout(t, i === 0 ? L.output : L.input));
  for (let i = 0; i < direct.length; i++) {
    expect(direct[i]!.shape, `${tag}: ${names[i]} shape`).toEqual(refIn[i]!.shape);
    expect(Array.from(await direct[i]!.data()), `${tag}: ${names[i]}, in place vs transposed`).toEqual(Array.from(await viaTransposes[i]!.data()));
    expect((await errors(direct[i]!, refIn[i]!)).rel, `${tag}: ${names[i]} vs reference`).toBeLessThan(bar(i));
  }
  tf.dispose([...direct, ...viaTransposes, ...refIn]);
}
