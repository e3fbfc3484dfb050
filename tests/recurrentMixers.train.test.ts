// Mamba-free part of the recurrent mixers' MQAR training checks (tests/recurrentMixersTrain.ts).
import { recurrentMixersLearn } from './recurrentMixersTrain.js';

recurrentMixersLearn(['deltanet', 'gla', 'rwkv']);
