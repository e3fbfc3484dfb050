// The registry of all task definitions.
import { forgettingMqar } from './forgettingMqar.js';
import { fuzzyRecall } from './fuzzyRecall.js';
import { mqar } from './mqar.js';
import { noisyRecall } from './noisyRecall.js';
import { regbench } from './regbench.js';
import { selectiveCopying } from './selectiveCopying.js';
import { setDisjointness } from './setDisjointness.js';
import type { AnyTaskDefinition } from './task.js';
import { TaskConfigError } from './types.js';

const REGISTRY: readonly AnyTaskDefinition[] = [
  mqar,
  setDisjointness,
  noisyRecall,
  fuzzyRecall,
  selectiveCopying,
  forgettingMqar,
  regbench,
];

/** Every registered task definition, in a fixed order (mqar, sd, noisy-recall, fuzzy-recall, selective-copying, forgetting-mqar, regbench). */
export function listTasks(): AnyTaskDefinition[] {
  return [...REGISTRY];
}

/** The task called `name`; unknown names throw TaskConfigError listing the known ones. */
export function getTask(name: string): AnyTaskDefinition {
  const t = REGISTRY.find((d) => d.name === name);
  if (!t) {
    throw new TaskConfigError(`unknown task '${name}'; known tasks: ${REGISTRY.map((d) => d.name).join(', ')}`);
  }
  return t;
}
