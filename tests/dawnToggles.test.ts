// engine/dawnToggles.ts: which Dawn device toggles a process asks for, and how they reach Dawn's options. Dawn takes
// a misspelt toggle without a word and reads one `enable-dawn-features=` option, so both are this module's to get
// right (bench/step.ts's robustness probe shows on a device that the toggle arrived).
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../engine/errors.js';
import { DAWN_TOGGLES, DEFAULT_DAWN_TOGGLES, dawnTogglesFromEnv, withDawnToggles } from '../engine/dawnToggles.js';

describe('Dawn device toggles', () => {
  it('reads RECALLBENCH_DAWN_TOGGLES: the default ones when unset, empty or default, none for none, the list in its order without repeats, an unknown name a user error', () => {
    // both on by default since the H200 checks of 2026-12-01 (bench/RESULTS.md)
    expect(DEFAULT_DAWN_TOGGLES).toEqual(['disable_robustness', 'disable_workgroup_init']);
    for (const raw of ['', ' ', 'default']) expect(dawnTogglesFromEnv(raw), raw).toEqual(['disable_robustness', 'disable_workgroup_init']);
    // unset: the variable itself absent (the default argument reads it)
    const before = process.env.RECALLBENCH_DAWN_TOGGLES;
    delete process.env.RECALLBENCH_DAWN_TOGGLES;
    try {
      expect(dawnTogglesFromEnv()).toEqual(['disable_robustness', 'disable_workgroup_init']);
    } finally {
      if (before !== undefined) process.env.RECALLBENCH_DAWN_TOGGLES = before;
    }
    expect(dawnTogglesFromEnv('none')).toEqual([]);
    expect(dawnTogglesFromEnv('disable_robustness')).toEqual(['disable_robustness']);
    expect(dawnTogglesFromEnv('disable_workgroup_init, disable_robustness,disable_workgroup_init')).toEqual(['disable_workgroup_init', 'disable_robustness']);
    expect(() => dawnTogglesFromEnv('disable_robustness,skip_validation')).toThrow(UserInputError);
    expect(() => dawnTogglesFromEnv('skip_validation')).toThrow(/unknown toggle 'skip_validation' \(known: disable_robustness, disable_workgroup_init; or none, default\)/);
    expect(() => dawnTogglesFromEnv('none,disable_robustness')).toThrow(/unknown toggle 'none'/);
    // only shader-side toggles: none that turns off Dawn's validation, which is how a bad dispatch becomes a fault
    expect(Object.keys(DAWN_TOGGLES).sort()).toEqual(['disable_robustness', 'disable_workgroup_init']);
  });

  it("joins the toggles to an options list's one enable-dawn-features option, or adds it; other options untouched", () => {
    const bench = ['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization'];
    expect(withDawnToggles(bench, ['disable_robustness', 'disable_workgroup_init'])).toEqual([
      'enable-dawn-features=allow_unsafe_apis,disable_robustness,disable_workgroup_init',
      'disable-dawn-features=timestamp_quantization',
    ]);
    expect(withDawnToggles(['adapter=NVIDIA H200'], ['disable_robustness'])).toEqual(['adapter=NVIDIA H200', 'enable-dawn-features=disable_robustness']);
    expect(withDawnToggles(['enable-dawn-features=disable_robustness'], ['disable_robustness'])).toEqual(['enable-dawn-features=disable_robustness']);
    const none = ['adapter=x'];
    const same = withDawnToggles(none, []);
    expect(same).toEqual(['adapter=x']);
    expect(same).not.toBe(none); // a copy: the caller's list is never changed
    expect(bench).toEqual(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization']);
  });
});
