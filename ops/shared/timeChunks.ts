// The chunk layout of the chunked forms (delta rule, gated delta rule, GLA, SSD): time — axis 2 of [B, H, T, ...] —
// cut into n chunks of C tokens, the tail zero-padded (each op's padding writes nothing and decays nothing), and
// (B, H, n) flattened into one batch axis G, so every intra-chunk product is one batched matmul of rank ≤ 4
// (tfjs-wasm is slow on higher ranks).
import * as tf from '@tensorflow/tfjs';

export interface TimeChunks {
  /** tokens per chunk: min(chunkSize, T) */
  C: number;
  /** chunks: ⌈T / C⌉ */
  n: number;
  /** B·H·n */
  G: number;
  /** x [B, H, T, ...rest] → [G, C, ...rest], the tail zero-padded. */
  split<R extends tf.Tensor>(x: tf.Tensor): R;
  /** y holding [B, H, n·C, width] in order → [B, H, T, width] (the padded tail dropped). */
  merge(y: tf.Tensor, width: number): tf.Tensor4D;
}

export function timeChunks(B: number, H: number, T: number, chunkSize: number): TimeChunks {
  const C = Math.min(chunkSize, T);
  const n = Math.ceil(T / C);
  const pad = n * C - T;
  const G = B * H * n;
  return {
    C,
    n,
    G,
    split: <R extends tf.Tensor>(x: tf.Tensor) => (pad ? tf.pad(x, x.shape.map((_, i): [number, number] => (i === 2 ? [0, pad] : [0, 0]))) : x).reshape([G, C, ...x.shape.slice(3)]) as R,
    merge: (y, width) => {
      const o = y.reshape([B, H, n * C, width]);
      return (pad ? o.slice([0, 0, 0, 0], [B, H, T, width]) : o) as tf.Tensor4D;
    },
  };
}
