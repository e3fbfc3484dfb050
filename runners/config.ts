// Run configs and presets are data, validated by strict zod schemas: unknown keys, wrong types and
// impossible settings are one-line errors (zoology's pydantic silently drops a misspelled key).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { zodErrorText } from '../core/zodText.js';
import { modelSchema, trainSchema } from '../engine/config.js';
import { UserInputError } from '../engine/errors.js';
import { splitSpecSchema } from '../tasks/dataset.js';

/** The data: a mixture spec (tasks/dataset.ts splitSpecSchema), MQAR by default, and the seed of its streams. */
export const dataSchema = splitSpecSchema.extend({
  task: z.string().min(1).default('mqar'),
  /** Seed of the data streams (train/validation/test are disjoint streams of it). */
  seed: z.number().int().nonnegative().default(0),
});

export const runConfigSchema = z
  .object({
    /** Label of the architecture in tables and plots, e.g. "attention" or "based". */
    label: z.string().min(1),
    data: dataSchema,
    model: modelSchema,
    train: trainSchema,
    seed: z.number().int().nonnegative().default(0),
  })
  .strict()
  .superRefine((c, ctx) => {
    // layer i uses layers[i % layers.length]: a list longer than the model would silently drop its tail
    if (c.model.layers.length > c.model.nLayers) {
      ctx.addIssue({ code: 'custom', path: ['model', 'layers'], message: `${c.model.layers.length} layers listed (${c.model.layers.map((l) => l.mixer).join(', ')}) but nLayers is ${c.model.nLayers}: the extra ones would never be used — raise nLayers or shorten the list` });
    }
  });

export type RunConfig = z.output<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;

/** Parse with a schema; the first issue becomes a one-line UserInputError naming the key. */
export function parseStrict<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new UserInputError(`${what}: ${zodErrorText(parsed.error, { top: '(top level)' })}`);
}

/** JSON with object keys sorted, so equal configs hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Content-hash run id: the same resolved config is the same run, whatever backend runs it. */
export function runId(config: RunConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}

// ---- Presets: a grid of runs as data (runners/sweep.ts expands them) ----------------------------------------

/**
 * The keys of an object schema as overrides: each optional, with no default. zod 4's `.partial()` keeps inner
 * defaults, so an override `{ positionEmbeddings: true }` would parse as every model key at its default and, merged
 * over the preset's model settings, silently reset them (it dropped `block: "zoology"` for zoology-fig2's attention).
 */
function overridesOf<S extends z.ZodObject>(schema: S): z.ZodType<Partial<z.output<S>>> {
  const shape = Object.fromEntries(Object.entries(schema.shape).map(([key, field]) => [key, ((field instanceof z.ZodDefault ? field.unwrap() : field) as z.ZodType).optional()]));
  return z.object(shape).strict() as unknown as z.ZodType<Partial<z.output<S>>>;
}

const architectureEntry = z
  .object({
    label: z.string().min(1),
    layers: modelSchema.shape.layers,
    /** Overrides of the shared model settings for this architecture (e.g. positionEmbeddings). */
    model: overridesOf(modelSchema.omit({ dModel: true, layers: true })).optional(),
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

/**
 * How a preset's learning rates are searched (runners/search.ts). `grid`: every run trains to its last epoch.
 * `halving`: successive halving (ASHA-style, synchronous per group): the runs of a group (the same model, task
 * setting and seed at every lr) all start; at each rung (an epoch) they are ranked by best-so-far validation
 * accuracy and only the best ⌈n/eta⌉ continue. Rungs: `rungs` (epochs), or `minEpochs`·eta^k, or by default
 * max(1, round(E/8))·eta^k — always below the run's own epochs E, so survivors train the epochs the preset says.
 */
export const searchSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('grid') }).strict(),
  z
    .object({
      kind: z.literal('halving'),
      /** Keep the best ⌈n/eta⌉ of n runs at each rung. */
      eta: z.number().int().min(2).default(2),
      /** Rung epochs, increasing (those ≥ a run's epochs are skipped for it). */
      rungs: z.array(z.number().int().positive()).min(1).optional(),
      /** First rung (then ×eta); default max(1, round(epochs / 8)). */
      minEpochs: z.number().int().positive().optional(),
      /**
       * A tie margin: a run below the ⌈n/eta⌉ line goes on too if its best validation accuracy is within this much of
       * the last run above it — the two cannot be told apart on the validation set, so the rung does not rank them
       * (runners/search.ts halvingDecision). 0: strict halving.
       */
      keepWithin: z.number().min(0).max(1).default(0),
      /**
       * Once a run of the group has solved the task — its validation accuracy above the runs' early-stop threshold
       * (train.earlyStopAccuracy) by the rung epoch — the rung stops every run still training below it, tie margin
       * or not: the group's point is already the solved run's, and the others could at most tie it
       * (runners/search.ts halvingDecision). false: solved or not, the rung keeps ⌈n/eta⌉ and their ties.
       */
      stopOnSolved: z.boolean().default(false),
    })
    .strict()
    .refine((s) => !(s.rungs && s.minEpochs), { message: 'give rungs or minEpochs, not both' })
    .refine((s) => !s.rungs || s.rungs.every((r, i) => i === 0 || r > s.rungs![i - 1]!), { message: 'rungs must be increasing epochs', path: ['rungs'] }),
]);

export type Search = z.output<typeof searchSchema>;

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
    model: overridesOf(modelSchema.omit({ dModel: true, layers: true })).default({}),
    train: overridesOf(trainSchema.omit({ lr: true })).default({}),
    /** Learning-rate search (default: the full grid). The paper presets use successive halving. */
    search: searchSchema.default({ kind: 'grid' }),
    /**
     * Stacks of up to this many runs (the learning rates of a grid point, one model with a run axis: engine/stack.ts)
     * in this preset's sweeps on webgpu, where a GPU measured it faster (bench/RESULTS.md); `--stack N` overrides, and
     * other backends train runs alone unless asked. Unset: alone.
     */
    stack: z.number().int().min(1).optional(),
  })
  .strict();

export type Preset = z.output<typeof presetSchema>;
export type PresetInput = z.input<typeof presetSchema>;

