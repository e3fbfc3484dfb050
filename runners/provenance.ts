// Where a number came from: the code (git commit, and whether the tree had uncommitted changes), the fast-path
// levers of the WebGPU path, and the driver. Stored in every record (runners/results.ts), shown by reports.
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dawnToggles, fastPathLevers, type BackendInfo } from '../engine/backend.js';
import { FIXES } from './knownFaults.js';

export interface Provenance {
  /** The git commit of the code that trained the run ('unknown' where neither git nor RECALLBENCH_COMMIT says). */
  commit: string;
  /** Uncommitted changes to tracked files when the run started (undefined: unknown). */
  dirty?: boolean;
  /** The WebGPU fast path's levers (accel/webgpu/index.ts), on the webgpu backend. */
  fastPath?: Record<string, boolean>;
  /** Dawn's device toggles (engine/dawnToggles.ts) the run used, if any: both by default since 2026-12-01, none with RECALLBENCH_DAWN_TOGGLES=none. */
  dawnToggles?: string[];
  /** The GPU driver as its adapter describes it. */
  driver?: string;
  /** The known faults (runners/knownFaults.ts) this code has fixed: verify flags runs whose code lacked a fix. */
  fixes?: string[];
}

let code: { commit: string; dirty?: boolean } | undefined;

/**
 * The commit, read once per process. A GPU host gets the tree without .git (the packed bundle): the command
 * passes RECALLBENCH_COMMIT (and RECALLBENCH_DIRTY=1|0) from the machine that packed it.
 */
function codeVersion(): { commit: string; dirty?: boolean } {
  if (code) return code;
  const envCommit = process.env.RECALLBENCH_COMMIT?.trim();
  if (envCommit) {
    const dirty = process.env.RECALLBENCH_DIRTY;
    return (code = { commit: envCommit, ...(dirty === '1' || dirty === '0' ? { dirty: dirty === '1' } : {}) });
  }
  const cwd = dirname(fileURLToPath(import.meta.url));
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return (code = { commit, dirty: status.trim().length > 0 });
  } catch {
    return (code = { commit: 'unknown' });
  }
}

export function provenance(backend: BackendInfo): Provenance {
  const levers = backend.backend === 'webgpu' ? fastPathLevers() : undefined;
  const toggles = backend.backend === 'webgpu' ? dawnToggles() : undefined;
  return { ...codeVersion(), ...(levers ? { fastPath: levers } : {}), ...(toggles?.length ? { dawnToggles: toggles } : {}), ...(backend.driver ? { driver: backend.driver } : {}), fixes: [...FIXES] };
}

/**
 * One process's share of a run that was interrupted and resumed: the epochs from `fromEpoch` on (up to the next
 * part's), with the code, levers and device that trained them. A run resumed across a change of levers or commit
 * says so in its record (`parts`), and verify judges every part (runners/knownFaults.ts).
 */
export interface TrainedPart {
  fromEpoch: number;
  backend: string;
  device: string;
  provenance: Provenance;
}

/** This process's part of a run, from epoch `fromEpoch` (0: a fresh run). */
export function trainedPart(fromEpoch: number, backend: BackendInfo): TrainedPart {
  return { fromEpoch, backend: backend.backend, device: backend.device, provenance: provenance(backend) };
}
