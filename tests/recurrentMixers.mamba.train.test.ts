// Mamba's MQAR training check (tests/recurrentMixersTrain.ts): the slowest of the recurrent mixers, in a file of its own.
import { recurrentMixersLearn } from './recurrentMixersTrain.js';

recurrentMixersLearn(['mamba']);
