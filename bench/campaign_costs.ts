// What each figure point of a campaign folder has cost so far: the process-hours of its group's records (every lr's
// wallSeconds, runs stopped by halving included; a run in flight is not a record yet) and their epochs — the
// measured basis for docs/campaign.md's projection of what the points left will cost. Read with runners/results.ts
// readRecords, as the report reads them; L as bench/campaign_new_records.ts names it (the first training segment's).
//
//   npx tsx bench/campaign_costs.ts RESULTS_FOLDER
//
// A line per group (label, training length L, d_model and the mixer parameters that vary): records, epochs,
// process-hours, whether the group is complete (as many records as the folder's largest group). Totals at the end.
// With several processes on one GPU a process-hour is a share of that GPU: the stretch's nvidia-smi log says how many.
// Exit 2, one line, if the folder has no readable runs.jsonl.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readRecords, type RunRecord } from '../runners/results.js';
import { paramNamer } from '../runners/summary.js';
import { trainLength } from './campaign_new_records.js';

interface Group {
  label: string;
  L: number;
  d: number;
  more: string;
  records: RunRecord[];
}

/** The records grouped by figure point (the lrs of one model on one training setting), largest groups' size first. */
export function costGroups(records: RunRecord[]): Group[] {
  const paramsOf = paramNamer(records.map((r) => r.config));
  const groups = new Map<string, Group>();
  for (const r of records) {
    const L = trainLength(r);
    const more = paramsOf(r.config).join(' ');
    const key = `${r.label}|${L}|${r.config.model.dModel}|${more}|${r.seed}`;
    const g = groups.get(key) ?? { label: r.label, L, d: r.config.model.dModel, more, records: [] };
    g.records.push(r);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => a.label.localeCompare(b.label) || a.L - b.L || a.d - b.d || a.more.localeCompare(b.more, 'en', { numeric: true }));
}

export function costLines(records: RunRecord[]): string[] {
  const groups = costGroups(records);
  const full = Math.max(0, ...groups.map((g) => g.records.length));
  const hours = (g: Group) => g.records.reduce((s, r) => s + r.wallSeconds, 0) / 3600;
  const lines = groups.map(
    (g) =>
      `  ${g.label.padEnd(12)} L${String(g.L).padEnd(5)} d${String(g.d).padEnd(5)}${g.more ? ` ${g.more}` : ''}  ${g.records.length} records  ${String(g.records.reduce((s, r) => s + r.epochs, 0)).padStart(4)} epochs  ${hours(g).toFixed(2)} process-h${g.records.length === full ? '' : ' (incomplete)'}`,
  );
  const complete = groups.filter((g) => g.records.length === full);
  const total = complete.reduce((s, g) => s + hours(g), 0);
  lines.push(`complete groups: ${complete.length} of ${groups.length} (${full} records each), ${total.toFixed(2)} process-hours, ${complete.length ? (total / complete.length).toFixed(2) : '-'} a group`);
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const folder = process.argv[2];
  if (!folder || !existsSync(join(folder, 'runs.jsonl'))) {
    console.error(`campaign_costs: usage: campaign_costs.ts RESULTS_FOLDER (a folder with runs.jsonl), got '${folder ?? ''}'`);
    process.exit(2);
  }
  console.log(costLines(readRecords(folder)).join('\n'));
}
