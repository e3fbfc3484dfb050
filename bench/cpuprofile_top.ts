// Where a host-bound step's time goes: the self time of a V8 CPU profile (bench/step.ts --cpu-prof, CHECKS=submit's
// <mixer>-b64.cpuprofile) grouped by function, a native leaf (Dawn, the webgpu binding: no script url) named by the
// JS function that called it. The inspector's own work (node:inspector's `post` and what runs under it: stopping and
// serialising the profile) is left out — in 2026-11-30's JRT-RNN profile it was 110 of 272 ms.
//
//   npx tsx bench/cpuprofile_top.ts FILE.cpuprofile [--top 15]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export interface HostShare { name: string; ms: number; share: number }

/** Self time by function (native leaves under their JS caller), the inspector's own samples left out; largest first. */
export function hostShares(profile: CpuProfile): { totalMs: number; rows: HostShare[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isNative = (n: ProfileNode) => n.callFrame.url === '';
  // an anonymous function by where it is (its file's last segment and line, 0-based as V8 gives it)
  const label = (f: CallFrame) => f.functionName || `(anonymous ${f.url.split('/').pop()}:${f.lineNumber})`;
  const underInspector = (id: number) => {
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const n = byId.get(x)!;
      if (n.callFrame.url === 'node:inspector') return true;
    }
    return false;
  };
  const micros = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    if (underInspector(id)) return;
    const n = byId.get(id);
    if (!n) return; // a sample of a node the profile does not list: nothing to name it by
    const caller = byId.get(parent.get(id) ?? -1);
    const name = isNative(n) && !n.callFrame.functionName.startsWith('(')
      ? `native under ${caller ? label(caller.callFrame) : '(root)'}`
      : label(n.callFrame);
    micros.set(name, (micros.get(name) ?? 0) + dt);
    total += dt;
  });
  const rows = [...micros].map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 })).sort((a, b) => b.ms - a.ms);
  return { totalMs: total / 1000, rows };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, ...rest] = process.argv.slice(2);
  const topAt = rest.indexOf('--top');
  const top = topAt >= 0 ? Number(rest[topAt + 1]) : 15;
  if (!file || !Number.isInteger(top) || top < 1) {
    console.error('usage: npx tsx bench/cpuprofile_top.ts FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  let profile: CpuProfile;
  try {
    profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  } catch (e) {
    console.error(`cpuprofile_top: cannot read ${file}: ${(e as Error).message}`);
    process.exit(2);
  }
  if (!Array.isArray(profile?.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
    console.error(`cpuprofile_top: ${file} is not a V8 CPU profile (no nodes, samples and timeDeltas arrays)`);
    process.exit(2);
  }
  const { totalMs, rows } = hostShares(profile);
  // (idle), (program) and (garbage collector) are counted: shares of the sampled wall time, not of busy host time
  console.log(`${file}: ${totalMs.toFixed(1)} ms sampled (the inspector's own left out; idle and GC included)`);
  for (const r of rows.slice(0, top)) console.log(`${(r.share * 100).toFixed(1).padStart(5)} %  ${r.ms.toFixed(1).padStart(7)} ms  ${r.name}`);
}
