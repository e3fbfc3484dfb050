// Bugs found in code that trained stored runs, and which runs they touch: a run trained by code without the fix
// is not a result (`recallbench verify` lists it, plots leave it out). Each fixed bug gets an id here; every new
// record lists the ids of the fixes its code has (provenance.fixes, runners/provenance.ts), so old records — and
// records made elsewhere by older code — are recognised by what they lack, without git history.
import type { RunRecord } from './results.js';

interface Layer {
  mixer: string;
  params?: Record<string, unknown>;
}

export interface KnownFault {
  id: string;
  /** The backend whose runs it touches. */
  backend: string;
  /** Whether a model of these layers went through the faulty code. */
  affects: (layers: Layer[]) => boolean;
  /** One line for verify's report. */
  what: string;
}

const KNOWN_FAULTS: readonly KnownFault[] = [
  {
    // tfjs-backend-webgpu 4.22 reuses a reverse Cumsum's shader across lengths (accel/webgpu/cumsum.ts): wrong
    // gradients through every cumsum — the chunked causal linear attention's cross-chunk sums (BASED, JRT-RNN,
    // causal linear attention: the chunk count changes with the length) and GLA's within-chunk gate sums
    id: 'webgpu-reverse-cumsum',
    backend: 'webgpu',
    affects: (layers) => layers.some((l) => ['based', 'jrt-rnn', 'gla'].includes(l.mixer) || (l.mixer === 'linear-attention' && l.params?.causal !== false)),
    what: 'trained on webgpu before the reverse-cumsum fix (tfjs could reuse a stale shader: gradients through cumsum may be wrong; docs/gpu-faults.md)',
  },
];

/** The ids of the fixes this code has: every known fault is fixed in it. */
export const FIXES = KNOWN_FAULTS.map((f) => f.id);

/**
 * The known faults a stored run was trained with: its code lacked their fix — the code that finished it, or (a
 * resumed run, `parts`) the code of any process that trained some of its epochs.
 */
export function knownFaultsOf(record: Pick<RunRecord, 'backend' | 'config' | 'provenance' | 'parts'>): KnownFault[] {
  const layers = (record.config?.model?.layers ?? []) as Layer[];
  const trainers = [{ backend: record.backend, fixes: record.provenance?.fixes }, ...(record.parts ?? []).map((p) => ({ backend: p.backend, fixes: p.provenance.fixes }))];
  return KNOWN_FAULTS.filter((f) => f.affects(layers) && trainers.some((t) => t.backend === f.backend && !(t.fixes ?? []).includes(f.id)));
}
