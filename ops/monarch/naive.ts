// Monarch matmul, the dense reference (HazyResearch/m2 bert/src/mm/blockdiag_butterfly_multiply.py,
// blockdiag_butterfly_multiply_reference version 3, "most likely to be correct"): build each block-diagonal factor
// as a dense matrix and apply the two permutations as index gathers.
//   y = P₂ · BlockDiag(w2) · P₁ · BlockDiag(w1) · x
//   w1 [k, q, p] (k blocks, q × p each; x has n = k·p features), w2 [l, s, r] with l·r = k·q; y has m = l·s.
//   P₁: rearrange '(r l) -> (l r)' on the k·q intermediate features; P₂: rearrange '(l s) -> (s l)' on the output.
import * as tf from '@tensorflow/tfjs';

/** The dense matrix [n, m] of BlockDiag(w) (transposed: x [.., n] · it = BlockDiag(w) x), w [nb, q, p] → [nb·p, nb·q]. */
export function blockDiagDense(w: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const [nb, q, p] = w.shape;
    const rows: tf.Tensor2D[] = [];
    for (let b = 0; b < nb; b++) {
      const block = tf.transpose(w.slice([b, 0, 0], [1, q, p]).reshape([q, p])) as tf.Tensor2D; // [p, q]
      rows.push(tf.pad(block, [[0, 0], [b * q, (nb - 1 - b) * q]]));
    }
    return tf.concat(rows, 0) as tf.Tensor2D;
  });
}

/** Index map of rearrange '(a b) -> (b a)' on a·b features: new position j reads old position perm[j]. */
export function transposePermutation(a: number, b: number): number[] {
  const perm = new Array<number>(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) perm[j * a + i] = i * b + j;
  return perm;
}

/** Shapes of a Monarch pair; throws when they do not chain. */
export function monarchShapes(w1: tf.Tensor3D, w2: tf.Tensor3D): { k: number; q: number; p: number; l: number; s: number; r: number; n: number; m: number } {
  const [k, q, p] = w1.shape;
  const [l, s, r] = w2.shape;
  if (l * r !== k * q) throw new Error(`monarch: w2 [${l}, ${s}, ${r}] does not chain with w1 [${k}, ${q}, ${p}] (l·r must equal k·q)`);
  return { k, q, p, l, s, r, n: k * p, m: l * s };
}

/** x [..., n] → [..., m], by dense matmuls and gathers (slow, plain). */
export function monarchNaive(x: tf.Tensor, w1: tf.Tensor3D, w2: tf.Tensor3D): tf.Tensor {
  return tf.tidy(() => {
    const { k, q, l, s, r, n, m } = monarchShapes(w1, w2);
    if (x.shape[x.rank - 1] !== n) throw new Error(`monarch: x has ${x.shape[x.rank - 1]} features, w1 takes ${n}`);
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, n]) as tf.Tensor2D;
    const h = tf.gather(tf.matMul(x2, blockDiagDense(w1)), transposePermutation(r, l), 1) as tf.Tensor2D; // [N, k·q]
    void k;
    void q;
    const y = tf.gather(tf.matMul(h, blockDiagDense(w2)), transposePermutation(l, s), 1);
    return y.reshape([...lead, m]);
  });
}

/** The dense equivalent [n, m] of the Monarch pair: x · monarchDense(w1, w2) = monarchNaive(x, w1, w2). */
export function monarchDense(w1: tf.Tensor3D, w2: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => monarchNaive(tf.eye(monarchShapes(w1, w2).n), w1, w2) as tf.Tensor2D);
}
