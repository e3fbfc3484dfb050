// The model and training settings: one strict zod schema each, and their TypeScript types derived from them
// (z.output), so a setting is declared once. runners/config.ts composes them into the run config; engine/ reads
// the types. Kept in engine/ (not runners/) so the import points down.
import { z } from 'zod';

export const layerSpecSchema = z
  .object({
    mixer: z.string().min(1),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const modelSchema = z
  .object({
    dModel: z.number().int().positive(),
    nLayers: z.number().int().positive().default(2),
    /** Hybrid layer list: layer i uses layers[i % layers.length]. */
    layers: z.array(layerSpecSchema).min(1),
    positionEmbeddings: z.boolean().default(false),
    /** The optional state mixer (MLP ×4, GELU) after each sequence mixer; the MQAR presets use none. */
    mlp: z.boolean().default(false),
    embeddingDropout: z.number().min(0).max(1).default(0.1),
    residualDropout: z.number().min(0).max(1).default(0),
    /**
     * JRT-RNN's masked-token objective on the prefix (Arora et al. 2024, "Just read twice"): in training, a
     * fraction `rate` of the prefix tokens is replaced by the mask token 0 and predicted, with loss weight `weight`
     * added to the LM loss (the paper: 15%, 0.25). Off when absent. Read by the model's jrt-rnn layers, which
     * declare it through the mixers' auxiliary-objective hook (architectures/jrtRnn.ts); other mixers ignore it.
     */
    prefixMlm: z.object({ rate: z.number().gt(0).max(1).default(0.15), weight: z.number().min(0).default(0.25) }).strict().optional(),
    /** 'zoology': zoology's TransformerBlock / MambaBlock and init (the paper presets); 'prenorm': x += mixer(LN(x)). engine/model.ts */
    block: z.enum(['zoology', 'prenorm']).default('prenorm'),
  })
  .strict();

export const trainSchema = z
  .object({
    epochs: z.number().int().positive().default(64),
    batchSize: z.number().int().positive().default(64),
    evalBatchSize: z.number().int().positive().default(64),
    lr: z.number().positive(),
    weightDecay: z.number().min(0).default(0.1),
    /** Stop once validation accuracy exceeds this (zoology: 0.99). */
    earlyStopAccuracy: z.number().min(0).max(1).default(0.99),
    /** Shuffle the order of batches each epoch (zoology's loader runs segments in order: set false). */
    shuffle: z.boolean().default(true),
  })
  .strict();

export type LayerSpec = z.output<typeof layerSpecSchema>;
/** The model part of a resolved run config. */
export type ModelSettings = z.output<typeof modelSchema>;
export type ModelBlock = ModelSettings['block'];
/** The training part of a resolved run config. */
export type TrainSettings = z.output<typeof trainSchema>;
