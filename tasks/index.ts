// The public surface of tasks/ (pure TypeScript: no tfjs anywhere under tasks/): the registry (getTask,
// listTasks), every task definition, the dataset builder and the exporter.
export { getTask, listTasks } from './registry.js';
export * from './types.js';
export * from './task.js';
export * from '../core/prng.js';
export * from './jrt.js';
export * from './slots.js';
export * from './mqar.js';
export * from './setDisjointness.js';
export * from './noisyRecall.js';
export * from './fuzzyRecall.js';
export * from './selectiveCopying.js';
export * from './forgettingMqar.js';
export * from './regbench.js';
export * from './dataset.js';
export * from './export.js';
