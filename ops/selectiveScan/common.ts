// Shape checks shared by the forms of the selective scan (naive.ts, blocked.ts, the fused forms).
import type * as tf from '@tensorflow/tfjs';

/**
 * x, Δ [B, T, E], A [E, N] — or a stack of R runs' A [R, E, N] (engine/stack.ts: the batch is R runs' examples,
 * run-major) — B, C [B, T, N]; returns the sizes (`runs`: 1 for one A).
 */
export function checkShapes(x: tf.Tensor, dt: tf.Tensor, A: tf.Tensor, B: tf.Tensor, C: tf.Tensor): { Bsz: number; T: number; E: number; N: number; runs: number } {
  if (x.rank !== 3 || (A.rank !== 2 && A.rank !== 3) || B.rank !== 3) throw new Error(`selectiveScan: expected x, Δ [B, T, E], A [E, N] or [R, E, N], B, C [B, T, N], got x [${x.shape}] A [${A.shape}] B [${B.shape}]`);
  const [Bsz, T, E] = x.shape as [number, number, number];
  const runs = A.rank === 3 ? A.shape[0]! : 1;
  const N = A.shape[A.rank - 1]!;
  if (dt.shape.join() !== x.shape.join()) throw new Error(`selectiveScan: Δ [${dt.shape}] differs from x [${x.shape}]`);
  if (A.shape[A.rank - 2] !== E) throw new Error(`selectiveScan: A [${A.shape}] does not match E = ${E}`);
  if (Bsz % runs !== 0) throw new Error(`selectiveScan: a stack of ${runs} runs' A needs a batch divisible by it, got ${Bsz}`);
  for (const [name, t] of [['B', B], ['C', C]] as const) if (t.shape.join() !== [Bsz, T, N].join()) throw new Error(`selectiveScan: ${name} [${t.shape}] is not [${Bsz}, ${T}, ${N}]`);
  return { Bsz, T, E, N, runs };
}
