// The import layers (README "Layout"), checked by dependency-cruiser in `npm test` (tests/layers.test.ts) and by
// `npm run lint:layers`. Imports point one way:
//   core → tasks, ops → architectures → engine → runners → src (the CLI)
// and the WebGPU fast path (engine/kernels/webgpu/) is an opt-in layer: nothing below it imports it statically
// (engine/backend.ts and the pool trimmers load it with a dynamic import, only on the webgpu backend).
// Type-only imports count: a type that a lower layer needs lives in that layer (core/types.ts).
const upward = (from, to) => ({ name: `${from}-not-above`, severity: 'error', comment: `${from}/ must not import ${to.join(', ')}`, from: { path: `^${from}/` }, to: { path: `^(${to.join('|')})/` } });

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'no import cycles, type-only ones included', from: {}, to: { circular: true } },
    upward('core', ['tasks', 'ops', 'architectures', 'engine', 'runners', 'src']),
    upward('tasks', ['ops', 'architectures', 'engine', 'runners', 'src']),
    upward('ops', ['tasks', 'architectures', 'engine', 'runners', 'src']),
    upward('architectures', ['tasks', 'engine', 'runners', 'src']),
    upward('engine', ['runners', 'src']),
    upward('runners', ['src']),
    {
      name: 'fast-path-is-opt-in',
      severity: 'error',
      comment: 'the WebGPU fast path is loaded dynamically, never imported statically from below it',
      from: { path: '^(core|tasks|ops|architectures|engine)/', pathNot: '^engine/kernels/webgpu/' },
      to: { path: '^engine/kernels/webgpu/', dependencyTypesNot: ['dynamic-import'] },
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
