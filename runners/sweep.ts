// A sweep = a grid of runs expanded from a preset (a data file) or from flags:
//   architectures × d_model × learning rate × task settings × seeds  (+ per-architecture parameter grids).
// Runs go cheapest first; finished runs (by content-hash id) are skipped, so re-running resumes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { UserInputError } from '../engine/errors.js';
import { dataSchema, modelSchema, parseStrict, runId, trainSchema, type RunConfig } from './config.js';
import type { BackendInfo } from '../engine/backend.js';
import { createProgress } from './progress.js';
import { ResultsDir, type RunRecord } from './results.js';
import { resolveRunConfig, runOne } from './run.js';

const architectureEntry = z
  .object({
    label: z.string().min(1),
    layers: modelSchema.shape.layers,
    /** Overrides of the shared model settings for this architecture (e.g. positionEmbeddings). */
    model: modelSchema.omit({ dModel: true, layers: true }).partial().optional(),
    /** This architecture's own widths / learning rates, replacing the preset's axes. */
    dModels: z.array(z.number().int().positive()).min(1).optional(),
    learningRates: z.array(z.number().positive()).min(1).optional(),
    /** Mixer-parameter axes, e.g. { "featureDim": [8, 16, 24] }, applied to layer `paramLayer` (default: last). */
    paramGrid: z.record(z.string(), z.array(z.unknown()).min(1)).optional(),
    paramLayer: z.number().int().nonnegative().optional(),
    /** Only these task settings (data entries, by label): for parameters tied to a setting, e.g. H3 with N = L. */
    dataLabels: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

/** One task setting: a full data config, its label, and training overrides for it (e.g. batch size by length). */
const dataEntry = dataSchema
  .extend({
    label: z.string().optional(),
    trainOverrides: z
      .object({ batchSize: z.number().int().positive(), evalBatchSize: z.number().int().positive(), epochs: z.number().int().positive() })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

export const presetSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** Task settings axis: each entry is a full data config (train and test segments). */
    data: z.array(dataEntry).min(1),
    architectures: z.array(architectureEntry).min(1),
    dModels: z.array(z.number().int().positive()).min(1),
    learningRates: z.array(z.number().positive()).min(1),
    seeds: z.array(z.number().int().nonnegative()).min(1).default([0]),
    model: modelSchema.omit({ dModel: true, layers: true }).partial().default({}),
    train: trainSchema.omit({ lr: true }).partial().default({}),
  })
  .strict();

export type Preset = z.output<typeof presetSchema>;
export type PresetInput = z.input<typeof presetSchema>;

export const PRESETS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'presets');

/** A preset by name (runners/presets/NAME.json) or by path to a JSON file. */
export function loadPreset(nameOrPath: string): Preset {
  const path = existsSync(nameOrPath) ? resolve(nameOrPath) : join(PRESETS_DIR, `${nameOrPath}.json`);
  if (!existsSync(path)) throw new UserInputError(`unknown preset '${nameOrPath}' (not a file, and not one of: ${listPresetNames().join(', ')})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserInputError(`preset ${path} is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseStrict(presetSchema, raw, `preset ${path}`);
}

export function listPresetNames(): string[] {
  if (!existsSync(PRESETS_DIR)) return [];
  return readdirSync(PRESETS_DIR).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
}

/** Estimated relative cost of a run (for cheapest-first ordering): d² · training tokens · epochs. */
export function runCost(config: RunConfig): number {
  const tokens = config.data.train.reduce((n, s) => n + Number(s.count ?? 0) * Number(s.seqLen ?? (Number(s.sizeA ?? 0) + Number(s.sizeB ?? 0))), 0);
  return config.model.dModel * config.model.dModel * config.model.nLayers * tokens * config.train.epochs;
}

function cartesian(axes: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) out = out.flatMap((o) => values.map((v) => ({ ...o, [key]: v })));
  return out;
}

/** Every run of a preset, resolved, deduplicated by id, cheapest first. */
export function expandPreset(preset: Preset): RunConfig[] {
  const configs = new Map<string, RunConfig>();
  const dataLabels = new Set(preset.data.map((d) => d.label).filter((l): l is string => !!l));
  for (const arch of preset.architectures) {
    for (const l of arch.dataLabels ?? []) {
      if (!dataLabels.has(l)) throw new UserInputError(`preset ${preset.name}: architecture ${arch.label}: dataLabels names '${l}', which is not the label of any data entry`);
    }
    const paramLayer = arch.paramLayer ?? arch.layers.length - 1;
    if (paramLayer >= arch.layers.length) throw new UserInputError(`preset ${preset.name}: architecture ${arch.label}: paramLayer ${paramLayer} out of range`);
    for (const variant of cartesian(arch.paramGrid ?? {})) {
      const layers = arch.layers.map((l, i) => (i === paramLayer ? { ...l, params: { ...(l.params ?? {}), ...variant } } : l));
      for (const data of preset.data) {
        if (arch.dataLabels && !arch.dataLabels.includes(data.label ?? '')) continue;
        for (const dModel of arch.dModels ?? preset.dModels)
          for (const lr of arch.learningRates ?? preset.learningRates)
            for (const seed of preset.seeds) {
              const { label: _dataLabel, trainOverrides, ...dataConfig } = data;
              const config = resolveRunConfig(
                {
                  label: arch.label,
                  data: dataConfig,
                  model: { ...preset.model, ...(arch.model ?? {}), dModel, layers },
                  train: { ...preset.train, ...(trainOverrides ?? {}), lr },
                  seed,
                },
                `preset ${preset.name} (${arch.label})`,
              );
              configs.set(runId(config), config);
            }
      }
    }
  }
  return [...configs.values()].map((c, i) => ({ c, i, cost: runCost(c) })).sort((a, b) => a.cost - b.cost || a.i - b.i).map((x) => x.c);
}

export interface SweepOptions {
  backend: BackendInfo;
  results: ResultsDir;
  preset?: string;
  quiet?: boolean;
  /** Called after each run is stored (tests use it to kill a sweep midway). */
  onRunStored?(record: RunRecord): void;
}

/** Train every run not already in the results folder; returns the records of the whole grid. */
export async function runSweep(configs: RunConfig[], opts: SweepOptions): Promise<RunRecord[]> {
  const done = opts.results.finishedIds();
  const todo = configs.filter((c) => !done.has(runId(c)));
  const log = createProgress('sweep', opts.quiet);
  if (!opts.quiet) log.log(`sweep: ${configs.length} runs, ${configs.length - todo.length} already finished, ${todo.length} to train on ${opts.backend.backend} (${opts.backend.device}) → ${opts.results.dir}`);
  for (const [i, config] of todo.entries()) {
    const label = `${config.label} d${config.model.dModel} lr${config.train.lr}`;
    const { record, curve } = await runOne(config, {
      backend: opts.backend,
      preset: opts.preset,
      hooks: { onStep: (step, total) => log.update(i * total + step, todo.length * total, `run ${i + 1}/${todo.length} ${label}`) },
    });
    opts.results.append(record, curve);
    log.log(`  ${record.status.padEnd(10)} ${label.padEnd(36)} test acc ${record.testAccuracy.toFixed(3)} (${record.epochs} epochs, ${record.wallSeconds.toFixed(1)} s, ${record.msPerStep.toFixed(1)} ms/step)`);
    opts.onRunStored?.(record);
  }
  log.stop();
  const ids = new Set(configs.map(runId));
  return opts.results.records().filter((r) => ids.has(r.id));
}

/** The short table printed at the end of a sweep: one row per (label, d_model, task), best lr on validation. */
export function summaryTable(records: RunRecord[]): string {
  const groups = new Map<string, RunRecord>();
  for (const r of records) {
    const key = `${r.label}|${r.config.model.dModel}|${sliceSummary(r)}`;
    const prev = groups.get(key);
    if (!prev || r.validationAccuracy > prev.validationAccuracy) groups.set(key, r);
  }
  const rows = [...groups.values()].sort((a, b) => a.label.localeCompare(b.label) || a.config.model.dModel - b.config.model.dModel);
  const header = ['architecture', 'd_model', 'task', 'best lr', 'val acc', 'test acc', 'state (bytes)', 'epochs'];
  const body = rows.map((r) => [r.label, String(r.config.model.dModel), sliceSummary(r), String(r.config.train.lr), r.validationAccuracy.toFixed(3), r.testAccuracy.toFixed(3), String(r.stateBytes.measured), String(r.epochs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function sliceSummary(r: RunRecord): string {
  return `${r.config.data.task}:${Object.keys(r.testSlices).join(',')}`;
}
