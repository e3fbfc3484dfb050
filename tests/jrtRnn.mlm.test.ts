// JRT-RNN's masked-token objective on the prefix (15% of prefix tokens, weight 0.25): which positions are masked,
// that the loss adds exactly weight × the masked-token cross-entropy, and that a run with it trains and records it.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import { LanguageModel } from '../engine/model.js';
import { batchLoss, batchesOf, MASK_TOKEN, prefixMasking, supervised } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';
import { resolveRunConfig, runOne } from '../runners/run.js';

let backend: BackendInfo;
beforeAll(async () => {
  backend = await initBackend('cpu');
});

const splits = () => buildSplits({ task: 'mqar', common: { vocabSize: 64 }, train: [{ seqLen: 32, numKvPairs: 4, count: 64 }], test: [{ seqLen: 32, numKvPairs: 4, count: 8 }] }, 0);

describe('prefix masked-token loss', () => {
  it('masks about the requested fraction of prefix positions, only in the prefix, deterministically', () => {
    const { train } = splits();
    const [batch] = batchesOf(train, 64);
    const T = 32;
    const M = batch!.segment.prefixLength;
    expect(M).toBe(8);
    const m = prefixMasking(batch!, 0.15, 0.25, 7);
    expect(m.rows.length / (64 * M)).toBeGreaterThan(0.08);
    expect(m.rows.length / (64 * M)).toBeLessThan(0.22);
    for (let i = 0; i < m.rows.length; i++) {
      const row = m.rows[i]!;
      expect(row % T).toBeLessThan(M);
      expect(m.tokens[row]).toBe(MASK_TOKEN);
      expect(m.labels[i]).toBe(batch!.segment.inputs[row]); // the original token is the target
      expect(m.labels[i]).not.toBe(MASK_TOKEN);
    }
    // everything not masked is unchanged
    const masked = new Set(m.rows);
    for (let i = 0; i < 64 * T; i++) if (!masked.has(i)) expect(m.tokens[i]).toBe(batch!.segment.inputs[i]);
    expect(Array.from(prefixMasking(batch!, 0.15, 0.25, 7).rows)).toEqual(Array.from(m.rows));
    expect(Array.from(prefixMasking(batch!, 0.15, 0.25, 8).rows)).not.toEqual(Array.from(m.rows));
  });

  it('adds weight × the cross-entropy at the masked positions (≈ ln V at init)', async () => {
    const { train } = splits();
    const [batch] = batchesOf(train, 16);
    const sup = supervised(batch!.segment, batch!.start, batch!.size);
    const model = new LanguageModel({ vocabSize: 64, dModel: 16, nLayers: 2, maxSeqLen: 32, layers: [{ mixer: 'jrt-rnn', params: { featureDim: 4 } }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 1 });
    const masking = prefixMasking(batch!, 0.15, 0.25, 3);
    expect(masking.rows.length).toBeGreaterThan(0);
    const withMlm = (await batchLoss(model, batch!, false, 0, sup, masking).loss.data())[0]!;
    const lmOnly = (await batchLoss(model, batch!, false, 0, sup, { ...masking, weight: 0 }).loss.data())[0]!;
    const mlmCe = (withMlm - lmOnly) / 0.25;
    expect(Math.abs(mlmCe - Math.log(64))).toBeLessThan(0.5);
    model.dispose();
    tf.disposeVariables();
  });

  it('a jrt-rnn run with the objective trains, and the resolved config records it', async () => {
    const config = resolveRunConfig({
      label: 'jrt-rnn',
      data: { task: 'mqar', common: { vocabSize: 64 }, train: [{ seqLen: 32, numKvPairs: 4, count: 64 }], test: [{ seqLen: 32, numKvPairs: 4, count: 16 }] },
      model: { dModel: 16, layers: [{ mixer: 'jrt-rnn', params: { featureDim: 4 } }], prefixMlm: {} },
      train: { epochs: 2, batchSize: 32, lr: 3e-3 },
    });
    expect(config.model.prefixMlm).toEqual({ rate: 0.15, weight: 0.25 });
    const { record, curve } = await runOne(config, { backend });
    expect(record.steps).toBe(4);
    expect(curve.every((e) => Number.isFinite(e.trainLoss))).toBe(true);
    expect(record.config.model.prefixMlm).toEqual({ rate: 0.15, weight: 0.25 });
  });
});
