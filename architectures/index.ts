// The registry of built-in mixers. Adding a mixer = one file in this folder + one line here.
import type { MixerDefinition } from './mixer.js';
import attention from './attention.js';

export const builtinMixers: MixerDefinition[] = [attention];
