// Dawn device toggles a process may ask for (RECALLBENCH_DAWN_TOGGLES, a comma list), passed to Dawn with the
// adapter's other options when the WebGPU device is made. Each removes work Dawn adds to every shader for safety that
// the kernels here (and tfjs's) do not rely on, so the arithmetic is the same and a run's numbers should repeat bit
// for bit with or without it; none is on unless asked for, and a record names those its run used
// (provenance.dawnToggles). bench/gpu_check_pending.sh times them (campaign, CAMPAIGN_TOGGLES: separate processes,
// alternated) and checks them (equiv, EQUIV_DAWN_TOGGLES: GPU ≡ CPU; repro, REPRO_TOGGLES: one run trained with and
// without, compared bit for bit) before any is turned on by default.
import { UserInputError } from './errors.js';

export const DAWN_TOGGLES = {
  // Tint's robustness pass clamps every index into an array — storage buffers, and the workgroup and private arrays
  // of the register-blocked kernels' inner loops — to its bounds: a min() per access. The kernels here guard their
  // own ranges (an out-of-range row, column or k reads 0 by an explicit test), so the clamp should never change a
  // value read; the repro check shows it bit for bit for the kernels of the run it trains (REPRO_ARCH: attention by
  // default — add h3, mamba, … for theirs), GPU ≡ CPU within its tolerance for the mixers it checks.
  disable_robustness: 'no bounds clamp on array indices in shaders',
  // WGSL zero-fills var<workgroup> memory when a workgroup starts (a loop and a barrier per workgroup); the kernels
  // here write their workgroup tiles before reading them (the repro and GPU ≡ CPU checks, again, for what they run).
  disable_workgroup_init: 'no zero fill of workgroup memory',
} as const;
export type DawnToggle = keyof typeof DAWN_TOGGLES;
const KNOWN = Object.keys(DAWN_TOGGLES) as DawnToggle[];

/** The toggles RECALLBENCH_DAWN_TOGGLES asks for ('' or unset: none), in the list's order without repeats. */
export function dawnTogglesFromEnv(raw = process.env.RECALLBENCH_DAWN_TOGGLES): DawnToggle[] {
  const names = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(KNOWN as string[]).includes(name)) throw new UserInputError(`RECALLBENCH_DAWN_TOGGLES: unknown toggle '${name}' (known: ${KNOWN.join(', ')})`);
  }
  return [...new Set(names)] as DawnToggle[];
}

/**
 * Dawn's options with `toggles` enabled: Dawn reads one `enable-dawn-features=a,b` option, so the toggles join the
 * list an option already has (bench/step.ts passes allow_unsafe_apis there) instead of adding a second one.
 */
export function withDawnToggles(options: readonly string[], toggles: readonly string[]): string[] {
  if (toggles.length === 0) return [...options];
  const key = 'enable-dawn-features=';
  const at = options.findIndex((o) => o.startsWith(key));
  if (at < 0) return [...options, key + toggles.join(',')];
  const have = options[at]!.slice(key.length).split(',').filter(Boolean);
  const merged = [...have, ...toggles.filter((t) => !have.includes(t))];
  return options.map((o, i) => (i === at ? key + merged.join(',') : o));
}
