// JRT prompting on synthetics (this project's own figure): accuracy vs state size with the context repeated
// p = 1, 2, 3 times, one panel per task setting (settings that differ only in p share a panel), one colour per
// mixer and one front per (mixer, p). Drawn only when the records vary p within a setting.
import { compareSettings, type FigurePoint, type LeftOutRun, type StateConvention } from '../analysis.js';
import { leftOutCaption, stateRows, stateSpec } from './accuracyVsState.js';
import type { Figure } from './common.js';

export function jrtPromptFigure(points: FigurePoint[], mixers: string[], convention: StateConvention, leftOut: LeftOutRun[] = []): Figure | undefined {
  // the settings a run was meant for count, whether or not it is a result: a p whose runs all failed is still a p
  const passesByBasis = new Map<string, Set<number>>();
  for (const p of [...points, ...leftOut]) passesByBasis.set(p.setting.basis, (passesByBasis.get(p.setting.basis) ?? new Set()).add(p.setting.passes));
  const selected = points.filter((p) => (passesByBasis.get(p.setting.basis)?.size ?? 0) >= 2);
  const selectedLeftOut = leftOut.filter((p) => (passesByBasis.get(p.setting.basis)?.size ?? 0) >= 2);
  if (selected.length === 0) return undefined;
  const rows = stateRows(selected, { convention, panelOf: (p) => p.setting.basisLabel, seriesOf: (p) => `p = ${p.setting.passes}`, leftOut: selectedLeftOut, mixers });
  const panels = [...new Map([...selected, ...selectedLeftOut].map((p) => [p.setting.basisLabel, p.setting])).values()].sort(compareSettings).map((s) => s.basisLabel);
  const spec = stateSpec(rows, mixers, {
    title: 'JRT prompting: accuracy vs state size for p = 1, 2, 3 passes (this project\'s own experiment)',
    subtitle: `the context repeated p times before the questions; one front per mixer and p; best learning rate on validation${selectedLeftOut.length ? '; ×: runs that are not results (left out)' : ''}`,
    convention,
    panels,
    seriesTitle: 'passes',
  });
  return {
    name: 'jrt-prompt',
    title: 'JRT prompting: accuracy vs state for p = 1, 2, 3 (ours)',
    caption: `This project's own experiment, with no published counterpart: test accuracy against recurrent state (bytes, ${convention} convention, log2 axis) when the context is read p times (JRT prompting). Shape and dash: p; colour: mixer; lines: Pareto front per (mixer, p). Attention's state grows with the sequence length, so repeating an SD context enlarges it; MQAR keeps L fixed. Dashed rule: MQAR's information-theoretic floor.${leftOutCaption(rows)}`,
    spec,
    rows: rows.filter((r) => r.kind === 'point' || r.kind === 'left-out' || r.kind === 'left-out-unplaced'),
  };
}
