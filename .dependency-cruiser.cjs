// The import layers (README "Layout"), checked by dependency-cruiser in `npm test` (tests/layers.test.ts) and by
// `npm run lint:layers`. Imports point one way:
//   core → tasks, ops → architectures → accel → engine → runners → src (the CLI)
// accel/ (the fast forms: accel/webgpu, accel/wasm) imports core and ops only, and registers its entries in the one
// registry (core/fastForms.ts) through which the ops find them; nothing in core, tasks, ops or architectures imports
// it. The WebGPU fast path (accel/webgpu/) is opt-in: engine reaches it only with a dynamic import (engine/backend.ts
// on the webgpu backend, the pool trimmers of engine/gpuFaults.ts); accel/wasm (plain tfjs kernels) engine/backend.ts
// imports statically.
// Type-only imports count: a type that a lower layer needs lives in that layer (core/types.ts).
const upward = (from, to) => ({ name: `${from}-not-above`, severity: 'error', comment: `${from}/ must not import ${to.join(', ')}`, from: { path: `^${from}/` }, to: { path: `^(${to.join('|')})/` } });

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'no import cycles, type-only ones included', from: {}, to: { circular: true } },
    upward('core', ['tasks', 'ops', 'architectures', 'accel', 'engine', 'runners', 'src']),
    upward('tasks', ['ops', 'architectures', 'accel', 'engine', 'runners', 'src']),
    upward('ops', ['tasks', 'architectures', 'accel', 'engine', 'runners', 'src']),
    upward('architectures', ['tasks', 'accel', 'engine', 'runners', 'src']),
    upward('accel', ['tasks', 'architectures', 'engine', 'runners', 'src']),
    upward('engine', ['runners', 'src']),
    upward('runners', ['src']),
    {
      name: 'fast-path-is-opt-in',
      severity: 'error',
      comment: 'the WebGPU fast path is loaded dynamically, never imported statically from below it',
      from: { path: '^(core|tasks|ops|architectures|accel|engine)/', pathNot: '^accel/webgpu/' },
      to: { path: '^accel/webgpu/', dependencyTypesNot: ['dynamic-import'] },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|tests|bench|results|examples|runs)/' },
  },
};
