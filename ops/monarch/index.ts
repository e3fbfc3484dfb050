// Monarch matrices (Dao et al. 2022; M2, Fu et al. 2023): y = P₂ · BlockDiag(w2) · P₁ · BlockDiag(w1) · x, the
// block-diagonal × permutation × block-diagonal (× permutation) product of HazyResearch/m2's
// blockdiag_butterfly_multiply. Fast form (bmm.ts: batched matmuls over the blocks) beside the dense reference (naive.ts).
export { monarch } from './bmm.js';
export { blockDiagDense, monarchDense, monarchNaive, monarchShapes, transposePermutation } from './naive.js';
