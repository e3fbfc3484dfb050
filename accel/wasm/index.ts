// Fast forms for the CPU backends, registered in core/fastForms.ts by engine/backend.ts (a static import: they are
// plain tfjs kernels, no patched internals). No lever: each is always on where its backend is in use.
//   wasm  UnsortedSegmentSum (segmentSum.ts: tfjs-backend-wasm has none), BatchMatMul with transposed operands
//         (matMul.ts: transpose first, ~10x faster), channelMatMul of the long conv (channelMatMul.ts: a batch as
//         2-D products)
//   cpu   UnsortedSegmentSum (segmentSum.ts: the same loop, tfjs-backend-cpu's is O(numSegments · tokens))
// Each is tested against its reference: tests/longConv.test.ts (channelMatMul and the wrapped BatchMatMul on wasm),
// tests/fastForms.test.ts (segment sums and matmuls on wasm and cpu against ops/segmentSum's loop and tf.matMul).
import { registerFastForm } from '../../core/fastForms.js';
import { channelMatMulOp } from '../../ops/longConv/index.js';
import { channelMatMulWasm } from './channelMatMul.js';
import { registerWasmMatMulTransposeFix } from './matMul.js';
import { registerUnsortedSegmentSum, registerUnsortedSegmentSumWasm } from './segmentSum.js';

let wasmRegistered = false;
let cpuRegistered = false;

/** Once tfjs-backend-wasm is loaded (its stock kernels are wrapped). */
export function registerWasmFastForms(): void {
  if (wasmRegistered) return;
  wasmRegistered = true;
  registerFastForm({ op: 'UnsortedSegmentSum', backend: 'wasm', install: registerUnsortedSegmentSumWasm });
  registerFastForm({ op: 'BatchMatMul (transposed operands)', backend: 'wasm', install: registerWasmMatMulTransposeFix });
  registerFastForm({ op: channelMatMulOp, backend: 'wasm', impl: channelMatMulWasm });
}

export function registerCpuFastForms(): void {
  if (cpuRegistered) return;
  cpuRegistered = true;
  registerFastForm({ op: 'UnsortedSegmentSum', backend: 'cpu', install: registerUnsortedSegmentSum });
}
