// Test-file order: the long training checks and process-heavy files first, then vitest's own order. With two
// workers and no timing cache (a clean CI checkout), vitest would otherwise start the small files last, and the
// ~20–40 s training checks would form a tail that one worker runs alone.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SLOW_FIRST = [/\.train\.test\.ts$/, /reliability\.test\.ts$/, /search\.sweep\.test\.ts$/, /memory\.test\.ts$/, /queue\.test\.ts$/];

const rank = (spec: TestSpecification) => {
  const i = SLOW_FIRST.findIndex((pattern) => pattern.test(spec.moduleId));
  return i < 0 ? SLOW_FIRST.length : i;
};

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b)); // stable: vitest's order within a rank
  }
}
