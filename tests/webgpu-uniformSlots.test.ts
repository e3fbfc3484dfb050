// Uniform slots (accel/webgpu/bindGroups.ts, lever bindGroups) and lever uniformSkip: a dispatch whose uniforms equal
// what its slot already holds skips the write. Training steps with the skip on and off give the same losses and
// parameters bit for bit while the batch's sequence length switches (16, 16, 16, 8, 8, 8, then 16 after the slots
// are forgotten, as after a GPU fault) — so slots are rewritten with other shapes, and a skip that trusted a stale
// slot would read the wrong sizes — and a step shaped as the one before skips most writes.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { LanguageModel, type LayerSpec, type ModelConfig } from '../engine/model.js';
import { AdamW } from '../engine/optimizer.js';
import { batchesOf, supervised, trainStep } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';
import { forgetUniformSlots, uniformSlotStats } from '../accel/webgpu/bindGroups.js';
import { defaultFastPath, setFastPath } from '../accel/webgpu/index.js';
import { webgpuDevice } from './webgpuKit.js';

const device = await webgpuDevice('webgpu-uniformSlots');

const LAYERS: LayerSpec[] = [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }, { mixer: 'based', params: { featureDim: 4 } }];
const config: ModelConfig = { dModel: 16, nLayers: 2, layers: LAYERS, mlp: true, positionEmbeddings: false, embeddingDropout: 0.1, residualDropout: 0.1, vocabSize: 32, maxSeqLen: 16, seed: 7, block: 'zoology' } as ModelConfig;

describe.skipIf(!device)(`uniform slots on WebGPU (${device})`, () => {
  afterAll(() => {
    setFastPath(defaultFastPath());
    releaseGpu();
  });

  it('skipping unchanged uniform writes: the same losses and parameters bit for bit, most writes skipped after the first step', async () => {
    const data = (seqLen: number) => buildSplits({ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen, numKvPairs: 2, count: 8 }], test: [{ seqLen, numKvPairs: 2, count: 8 }] }, 3);
    const byLength = new Map([16, 8].map((L) => [L, batchesOf(data(L).train, 8)[0]!]));
    const lengths = [16, 16, 16, 8, 8, 8, 16];
    const train = async (skip: boolean) => {
      setFastPath({ bindGroups: true, uniformSkip: skip });
      const model = new LanguageModel(config);
      const optimizer = new AdamW(model.variables, { weightDecay: 0.1 });
      const losses: number[] = [];
      const perStep: Array<{ writes: number; skipped: number }> = [];
      try {
        for (let s = 0; s < lengths.length; s++) {
          const batch = byLength.get(lengths[s]!)!;
          if (s === lengths.length - 1) forgetUniformSlots(); // as after a GPU fault: the last step writes every slot afresh
          const before = uniformSlotStats();
          const loss = trainStep(model, optimizer, batch, supervised(batch.segment, batch.start, batch.size), 3e-3, s + 1);
          losses.push((await loss.data())[0]!);
          loss.dispose();
          const after = uniformSlotStats();
          perStep.push({ writes: after.writes - before.writes, skipped: after.skipped - before.skipped });
        }
        const params = await Promise.all(model.variables.map(async (v) => Array.from(await v.data())));
        return { losses, params, perStep };
      } finally {
        optimizer.dispose();
        model.dispose();
      }
    };
    const off = await train(false);
    const on = await train(true);
    expect(on.losses).toEqual(off.losses);
    expect(on.params).toEqual(off.params);
    expect(off.losses.every(Number.isFinite)).toBe(true);
    expect(off.perStep.every((p) => p.skipped === 0 && p.writes > 0)).toBe(true);
    // a step shaped as the one before: most of its uniforms are those its slots hold (AdamW's bias corrections and
    // the dropout seeds change every step, and are written). Not step 1: the first step's optimizer made its moments,
    // dispatches that shift every later slot of step 0 (196 writes and 1 skip in step 1 on lavapipe, then 37 and 160)
    for (const s of [2, 4, 5]) expect(on.perStep[s]!.skipped, JSON.stringify(on.perStep)).toBeGreaterThan(2 * on.perStep[s]!.writes);
    // after a change of shape, uniforms carrying the sizes are written again; after forgetUniformSlots, all of them
    expect(on.perStep[3]!.writes).toBeGreaterThan(on.perStep[2]!.writes);
    expect(on.perStep[6]!.skipped).toBe(0);
    console.log(`uniform slots: writes / skipped per step ${on.perStep.map((p) => `${p.writes}/${p.skipped}`).join(', ')}`);
  });
});
