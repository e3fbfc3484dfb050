// Fused WebGPU kernels of the fast path, registered when the webgpu backend is chosen (engine/backend.ts).
// Each kernel lives beside its plain-tfjs reference and is tested against it (tests/kernels*.test.ts).
export function registerWebGpuKernels(): void {
  // populated by the GPU fast-path work (issue 4)
}
