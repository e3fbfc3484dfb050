// The bits of one mixer's training step on the CPU backend, as one hash: a 2-layer model (d 16, L 12, V 30, seed 3,
// dropout off) of that mixer with its default params, the sum of its output times a fixed cotangent, and the gradient
// of every variable — sha256 over the loss and the gradients' float32 bytes. What "a CPU run keeps its bits" is
// checked with when a mixer's ops move into ops/ (bench/RESULTS.md): the same hash before and after the change,
//
//   npx tsx bench/cpu_bits.ts MIXER [PREFIX]                      here
//   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/node_modules \
//     && (cd /tmp/before && npx tsx bench/cpu_bits.ts MIXER [PREFIX])   at the commit before (if it has this file;
//                                                                 else copy it there)
//
// PREFIX: a prefix length for the models that take one (JRT-RNN's encoder). Variables without a gradient (a part the
// forward did not use) are left out of the hash. Prints `MIXER HASH16 LOSS`.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { UserInputError } from '../core/errors.js';
import { initBackend } from '../engine/backend.js';
import { LanguageModel } from '../engine/model.js';

async function main(argv: string[]): Promise<number> {
  const [mixer, prefixArg] = argv;
  if (!mixer) throw new UserInputError('usage: cpu_bits.ts MIXER [PREFIX]');
  const prefixLength = prefixArg === undefined ? undefined : Number(prefixArg);
  if (prefixLength !== undefined && !(Number.isInteger(prefixLength) && prefixLength >= 1 && prefixLength < 12)) throw new UserInputError(`cpu_bits: PREFIX must be a whole number from 1 to 11, got '${prefixArg}'`);
  await initBackend('cpu');
  const model = new LanguageModel({ vocabSize: 30, dModel: 16, nLayers: 2, maxSeqLen: 12, layers: [{ mixer, params: {} }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 3 });
  const tokens = tf.tensor2d(Array.from({ length: 24 }, (_, i) => (i * 7) % 30), [2, 12], 'int32');
  const cotangent = tf.randomNormal([2, 12, 16], 0, 1, 'float32', 17);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(tokens, { training: true, dropoutSeed: 1, prefixLength }), cotangent)), model.variables);
  const hash = createHash('sha256');
  const loss = (await value.data()) as Float32Array;
  hash.update(Buffer.from(loss.buffer, loss.byteOffset, loss.byteLength));
  for (const v of model.variables) {
    const g = grads[v.name];
    if (!g) continue;
    const bytes = (await g.data()) as Float32Array;
    hash.update(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  console.log(`${mixer}${prefixLength ? ` prefix ${prefixLength}` : ''} ${hash.digest('hex').slice(0, 16)} ${loss[0]}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof UserInputError ? e.message : `cpu_bits: ${(e as Error).message}`);
    process.exit(e instanceof UserInputError ? 2 : 1);
  },
);
