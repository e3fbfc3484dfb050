// The submit-batch check's answer: each mixer's median ms a step per WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE over the
// alternated passes of `bench/gpu_session.sh submit` (its submit.log: a benchmark header naming the flag, then one
// line per mixer), and how many mixers each size beats tfjs's default (15) on by more than the passes' spread.
//
//   npx tsx bench/submit_summary.ts submit.log
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface SubmitSummary {
  sizes: number[];
  /** mixer → size → every pass's ms a step */
  passes: Map<string, Map<number, number[]>>;
}

const HEADER = /WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=(\d+)/;
const STEP = /^(\S+)\s+B\d+\s+\S+\s+([\d.]+) ms\/step/;

export function parseSubmitLog(text: string): SubmitSummary {
  const passes = new Map<string, Map<number, number[]>>();
  const sizes: number[] = [];
  let size: number | undefined;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header && line.includes('benchmark:')) {
      size = Number(header[1]);
      if (!sizes.includes(size)) sizes.push(size);
      continue;
    }
    const step = STEP.exec(line);
    if (!step || size === undefined) continue;
    const bySize = passes.get(step[1]!) ?? new Map<number, number[]>();
    passes.set(step[1]!, bySize);
    bySize.set(size, [...(bySize.get(size) ?? []), Number(step[2])]);
  }
  return { sizes, passes };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Per size, the mixers whose passes all beat every pass of the baseline size (no overlap of the two ranges: a
 * difference no pass-to-pass spread explains), and those all slower.
 */
export function verdicts(summary: SubmitSummary, baseline = 15): Map<number, { faster: string[]; slower: string[] }> {
  const out = new Map<number, { faster: string[]; slower: string[] }>();
  for (const size of summary.sizes) {
    if (size === baseline) continue;
    const faster: string[] = [];
    const slower: string[] = [];
    for (const [mixer, bySize] of summary.passes) {
      const base = bySize.get(baseline);
      const here = bySize.get(size);
      if (!base?.length || !here?.length) continue;
      if (Math.max(...here) < Math.min(...base)) faster.push(mixer);
      else if (Math.min(...here) > Math.max(...base)) slower.push(mixer);
    }
    out.set(size, { faster, slower });
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npx tsx bench/submit_summary.ts submit.log');
    process.exit(2);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    console.error(`submit_summary: cannot read ${file}: ${(e as Error).message}`);
    process.exit(2);
  }
  const summary = parseSubmitLog(text);
  if (!summary.sizes.length) {
    console.error(`submit_summary: ${file} has no WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE benchmark header`);
    process.exit(2);
  }
  console.log(`| mixer | ${summary.sizes.map((s) => `${s}: median (passes)`).join(' | ')} |`);
  console.log(`|---|${summary.sizes.map(() => '---|').join('')}`);
  for (const [mixer, bySize] of summary.passes) {
    const cells = summary.sizes.map((s) => {
      const xs = bySize.get(s) ?? [];
      return xs.length ? `${median(xs).toFixed(1)} (${xs.map((x) => x.toFixed(1)).join(' / ')})` : '—';
    });
    console.log(`| ${mixer} | ${cells.join(' | ')} |`);
  }
  for (const [size, v] of verdicts(summary)) console.log(`${size} against 15: faster in every pass for ${v.faster.length} (${v.faster.join(', ') || 'none'}), slower for ${v.slower.length} (${v.slower.join(', ') || 'none'}) of ${summary.passes.size}`);
}
