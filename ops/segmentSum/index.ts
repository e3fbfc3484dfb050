// UnsortedSegmentSum (tf.gather's gradient): the plain loop (naive.ts); the kernels that replace tfjs's are in accel/.
export { unsortedSegmentSumValues } from './naive.js';
