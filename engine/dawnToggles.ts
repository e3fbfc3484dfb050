// Dawn device toggles a process uses (RECALLBENCH_DAWN_TOGGLES), passed to Dawn with the adapter's other options when
// the WebGPU device is made. Each removes work Dawn adds to every shader for safety that the kernels here (and
// tfjs's) do not rely on, so the arithmetic is the same and a run's numbers repeat bit for bit with or without it.
// Both are on by default since 2026-12-01 (bench/RESULTS.md "Dawn's toggles, splitConcat and causalSoftmax on by
// default"): on an H200 a run trained with them equalled the plain run bit for bit, GPU ≡ CPU passed under them for
// the campaign's layouts, every timed step was faster with them, and on lavapipe all 18 mixers' steps gave the same
// loss to the bit. RECALLBENCH_DAWN_TOGGLES=none turns them off, a comma list names exactly those to use; a record
// names those its run used (provenance.dawnToggles). bench/gpu_check_pending.sh times them (campaign,
// CAMPAIGN_TOGGLES: separate processes, alternated) and checks them (equiv, EQUIV_DAWN_TOGGLES; bench/gpu_repro.sh
// modes default@none).
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

/** The toggles a process uses unless RECALLBENCH_DAWN_TOGGLES says otherwise: all of them (checked 2026-12-01). */
export const DEFAULT_DAWN_TOGGLES: readonly DawnToggle[] = ['disable_robustness', 'disable_workgroup_init'];

/**
 * The toggles RECALLBENCH_DAWN_TOGGLES asks for: unset, '' or 'default' the default ones, 'none' none, else the
 * comma list in its order without repeats.
 */
export function dawnTogglesFromEnv(raw = process.env.RECALLBENCH_DAWN_TOGGLES): DawnToggle[] {
  const given = (raw ?? '').trim();
  if (given === '' || given === 'default') return [...DEFAULT_DAWN_TOGGLES];
  if (given === 'none') return [];
  const names = given.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(KNOWN as string[]).includes(name)) throw new UserInputError(`RECALLBENCH_DAWN_TOGGLES: unknown toggle '${name}' (known: ${KNOWN.join(', ')}; or none, default)`);
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
