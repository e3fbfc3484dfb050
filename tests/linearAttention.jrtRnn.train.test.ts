// The linear-attention family's MQAR training check (tests/linearAttentionTrain.ts), jrt-rnn.
import { linearAttentionLearns } from './linearAttentionTrain.js';

linearAttentionLearns('jrt-rnn (prefix = the kv block)', [{ mixer: 'jrt-rnn' }]);
