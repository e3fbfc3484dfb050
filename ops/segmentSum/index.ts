// UnsortedSegmentSum (tf.gather's gradient): the plain loop (naive.ts); the kernels that replace tfjs's are in accel/.
export { SEGMENT_TILE, segmentSumTileOrderValues, unsortedSegmentSumValues } from './naive.js';
