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

/** Longest sequence the model will see (sizes KV caches and position tables). */
export function maxSeqLenOf(segmentLengths: number[]): number {
  return Math.max(...segmentLengths);
}
