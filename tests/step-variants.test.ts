// bench/step.ts's variant names: what each one turns on (the timing itself needs a GPU and is not tested here).
import { describe, expect, it } from 'vitest';
import { defaultFastPath, LEVERS } from '../accel/webgpu/index.js';
import { expandVariants, parseArgs, presetModel, programTimes } from '../bench/step.js';

describe('bench/step.ts --variants', () => {
  it('default-each: the default, then each of its levers off in turn, and nothing else changed', () => {
    const base = defaultFastPath() as Record<string, boolean>;
    const on = LEVERS.filter((l) => base[l]);
    const variants = expandVariants(['default-each']);
    expect(on.length).toBeGreaterThan(5);
    expect(variants.map((v) => v.name)).toEqual(['default', ...on.map((l) => `default-${l}`)]);
    expect(variants[0]!.levers).toEqual(Object.fromEntries(LEVERS.map((l) => [l, base[l] === true])));
    for (const [i, lever] of on.entries()) {
      const differing = LEVERS.filter((l) => variants[i + 1]!.levers[l] !== variants[0]!.levers[l]);
      expect(differing).toEqual([lever]);
      expect(variants[i + 1]!.levers[lever]).toBe(false);
    }
  });

  it('default-X and default+X edit the default; an unknown lever is named', () => {
    const [minus] = expandVariants(['default-matmul']);
    expect(minus!.levers.matmul).toBe(false);
    const [plus] = expandVariants(['default+attention']);
    expect(plus!.levers.attention).toBe(true);
    expect(() => expandVariants(['default-nosuchlever'])).toThrow(/unknown lever 'nosuchlever'/);
  });
});

describe('bench/step.ts --preset with --param', () => {
  it("picks the preset's run whose layers set the parameter (jrt-sd's featureDim), the first one without it, and names what it could not find", () => {
    const args = (...flags: string[]) => parseArgs(['--preset', 'jrt-sd', '--d-model', '36', '--seq-len', '84', '--vocab', '2048', ...flags]);
    const featureDims = (a: ReturnType<typeof parseArgs>) => presetModel(a.preset!, 'causal', a, 0).layers.map((l) => l.params?.featureDim);
    expect(featureDims(args())).toEqual([undefined, 4]);
    expect(featureDims(args('--param', 'featureDim=24'))).toEqual([undefined, 24]);
    const a = args('--param', 'featureDim=24');
    expect(presetModel(a.preset!, 'non-causal', a, 0).layers[1]!.params).toMatchObject({ featureDim: 24, causal: false });
    expect(() => presetModel('jrt-sd', 'causal', args('--param', 'featureDim=5'), 0)).toThrow(/no run of 'causal' at d_model 36 training on length 84 with featureDim=5/);
    expect(() => args('--param', 'featureDim')).toThrow(/--param expects KEY=VALUE/);
    expect(() => args('--param', '=24')).toThrow(/--param expects KEY=VALUE/);
    // a number as a number; a value holding '=' kept whole
    expect(featureDims(args('--param', 'featureDim=24.0'))).toEqual([undefined, 24]);
    expect(parseArgs(['--preset', 'x', '--param', 'k=a=b']).presetParams).toEqual({ k: 'a=b' });
    // without --preset it would pick nothing: refused, not ignored
    expect(() => parseArgs(['--param', 'featureDim=24'])).toThrow(/--param picks a run of --preset: give --preset too/);
  });
});

describe('bench/step.ts programTimes', () => {
  it("splits a profiled kernel's extraInfo into its programs' times (a fused kernel's passes apart)", () => {
    // the string tfjs-backend-webgpu's time() builds: "name: ms" per dispatch joined by ", "
    expect(programTimes('LinearAttentionGradIn: 0.101, LinearAttentionGradQ: 2.5, LinearAttentionGradK: 2.25, LinearAttentionGradV: 1e-3')).toEqual([
      { name: 'LinearAttentionGradIn', ms: 0.101 },
      { name: 'LinearAttentionGradQ', ms: 2.5 },
      { name: 'LinearAttentionGradK', ms: 2.25 },
      { name: 'LinearAttentionGradV', ms: 0.001 },
    ]);
    // a stock program by its class name; a timer without a time (NaN) left out; no extraInfo, nothing
    expect(programTimes('MatMulPackedProgram: 0.5, BinaryOpProgram: NaN')).toEqual([{ name: 'MatMulPackedProgram', ms: 0.5 }]);
    expect(programTimes('')).toEqual([]);
    expect(programTimes(undefined)).toEqual([]);
  });
});
