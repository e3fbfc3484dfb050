// sha256 of a task's splits (every byte a model sees), shared by tests/determinism.test.ts and the child
// process it spawns to compare hashes across processes.
import { createHash } from 'node:crypto';
import { buildSplits, type SplitSpec } from '../tasks/dataset.js';

/** Per split and segment: its key, shape, prefix length, inputs and labels. */
export function hashSplits(spec: SplitSpec, seed: number): string {
  const splits = buildSplits(spec, seed);
  const h = createHash('sha256');
  for (const name of ['train', 'validation', 'test'] as const) {
    for (const s of splits[name]) {
      h.update(`${name}|${s.key}|${s.seqLen}|${s.count}|${s.prefixLength}|`);
      h.update(new Uint8Array(s.inputs.buffer, s.inputs.byteOffset, s.inputs.byteLength));
      h.update(new Uint8Array(s.labels.buffer, s.labels.byteOffset, s.labels.byteLength));
    }
  }
  return h.digest('hex');
}
