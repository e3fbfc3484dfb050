// The linear-attention family's MQAR training check (tests/linearAttentionTrain.ts), based.
import { linearAttentionLearns } from './linearAttentionTrain.js';

linearAttentionLearns('based (Taylor linear attention)', [{ mixer: 'based' }]);
