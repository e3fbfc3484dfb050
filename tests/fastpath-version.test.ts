// The WebGPU fast path patches private internals of one tfjs release: any other release is refused in one line.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../engine/errors.js';
import { checkPatchedTfjsVersion, PATCHED_TFJS_VERSION } from '../accel/webgpu/index.js';

describe('fast path: tfjs version pin', () => {
  it('the installed tfjs is the patched release, and package.json pins it exactly', () => {
    expect(tf.version_core).toBe(PATCHED_TFJS_VERSION);
    expect(() => checkPatchedTfjsVersion()).not.toThrow();
    const deps = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
    for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm']) expect(deps[name]).toBe(PATCHED_TFJS_VERSION);
  });

  it('another release is a one-line user error naming both versions', () => {
    let error: unknown;
    try {
      checkPatchedTfjsVersion('4.23.0');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserInputError);
    expect((error as Error).message).toContain(`internals of tfjs ${PATCHED_TFJS_VERSION}, but tfjs 4.23.0 is installed`);
    expect((error as Error).message).not.toContain('\n');
  });
});
