// The registry of built-in mixers. Adding a mixer = one file in this folder + one line here.
import type { MixerDefinition } from './mixer.js';
import attention from './attention.js';
import based from './based.js';
import jrtRnn from './jrtRnn.js';
import linearAttention from './linearAttention.js';
import slidingWindow from './slidingWindow.js';
import boundedCache from './boundedCache.js';
import scatterbrain from './scatterbrain.js';
import mamba from './mamba.js';
import mamba2 from './mamba2.js';
import deltaNet from './deltaNet.js';
import gatedDeltaNet from './gatedDeltaNet.js';
import gla from './gla.js';
import rwkv from './rwkv.js';
import rwkv7 from './rwkv7.js';
import baseConv from './baseConv.js';
import h3 from './h3.js';
import hyena from './hyena.js';
import m2 from './m2.js';

export const builtinMixers: MixerDefinition[] = [attention, slidingWindow, boundedCache, scatterbrain, linearAttention, based, jrtRnn, mamba, mamba2, deltaNet, gatedDeltaNet, gla, rwkv, rwkv7, baseConv, h3, hyena, m2];
