// The linear-attention family's MQAR training check (tests/linearAttentionTrain.ts), sliding-window.
import { linearAttentionLearns } from './linearAttentionTrain.js';

linearAttentionLearns('sliding-window (w 64 ≥ L)', [{ mixer: 'sliding-window', params: { windowSize: 64, dropout: 0 } }]);
