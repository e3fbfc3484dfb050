// The batched matrix product as the plain loop:  out[b, m, n] = Σ_k A[b, m, k] · B[b, k, n]
// with A stored [batch, K, M] when transposeA and B stored [batch, N, K] when transposeB (tf.matMul's convention),
// and a batch of 1 on either side broadcast to the other's. The reference of the kernels that replace tfjs's
// BatchMatMul (accel/webgpu/matmul.ts); float64 sums, so it is the exact product of the float32 inputs up to one
// rounding.

export interface MatMulShape {
  batchA: number;
  batchB: number;
  M: number;
  N: number;
  K: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** out [max(batchA, batchB), M, N] (row-major) of the float32 inputs a and b laid out as `shape` says. */
export function batchMatMulValues(a: ArrayLike<number>, b: ArrayLike<number>, shape: MatMulShape): Float32Array {
  const { batchA, batchB, M, N, K, transposeA, transposeB } = shape;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`batchMatMulValues: batches ${batchA} and ${batchB} do not broadcast`);
  const batch = Math.max(batchA, batchB);
  const out = new Float32Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    const aBase = (batchA === 1 ? 0 : p) * M * K;
    const bBase = (batchB === 1 ? 0 : p) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const x = a[aBase + (transposeA ? k * M + m : m * K + k)]!;
          const y = b[bBase + (transposeB ? n * K + k : k * N + n)]!;
          sum += x * y;
        }
        out[(p * M + m) * N + n] = sum;
      }
    }
  }
  return out;
}
