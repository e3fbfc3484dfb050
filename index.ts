// recallbench's package entry for plugin authors: the mixer interface's types and `defineMixer`.
//   import type { PluginApi } from 'recallbench';
//   export default ({ tf, z, defineMixer, nn, dropout }: PluginApi) => defineMixer({ ... });
// A plugin needs no value imports: everything it calls comes in through the factory's argument.
export { defineMixer, mixerIsCausal } from './architectures/mixer.js';
export type {
  AuxBatch,
  AuxObjective,
  AuxOutputs,
  ForwardOptions,
  Linear,
  Mixer,
  MixerContext,
  MixerDefinition,
  MixerState,
  Nn,
  ParamFactory,
  PluginApi,
  PluginExport,
  StateFloats,
  Tensor,
  Tensor2D,
  Tensor3D,
  Tf,
  Variable,
} from './architectures/mixer.js';
