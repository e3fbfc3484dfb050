// User mixers from files: `--plugin path/to/mixer.ts` (or .js/.mjs). The file's default export (or a named
// export `mixer`) is a MixerDefinition or a function ({ tf, z, defineMixer, nn, dropout }) => MixerDefinition
// (the PluginApi of architectures/mixer.ts). Loaded plugins are registered beside the built-ins; nothing in the
// package needs editing. `recallbench check-plugin FILE` imports one (importPlugin) and runs the generic checks.
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { defineMixer, type MixerDefinition, type PluginApi, type PluginExport } from '../architectures/mixer.js';
import * as nn from '../architectures/nn.js';
import { dropout } from '../ops/dropout/index.js';
import { UserInputError } from './errors.js';
import { ParamStore } from './params.js';
import { registerMixer, resolveMixerParams } from './registry.js';

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

function checkDefinition(def: unknown, file: string): MixerDefinition {
  const d = def as Partial<MixerDefinition> | undefined;
  const missing = [
    typeof d?.name === 'string' && d.name.length > 0 ? '' : 'name (string)',
    typeof (d?.params as { safeParse?: unknown } | undefined)?.safeParse === 'function' ? '' : 'params (a zod schema)',
    typeof d?.create === 'function' ? '' : 'create()',
    typeof d?.stateFloats === 'function' ? '' : 'stateFloats()',
  ].filter(Boolean);
  if (missing.length) throw new UserInputError(`plugin ${file}: its export is not a mixer definition (missing ${missing.join(', ')}); see examples/ for the shape`);
  const legacy = (d as { causal?: unknown }).causal;
  if (legacy !== undefined && legacy !== true)
    throw new UserInputError(`plugin ${file}: 'causal: ${String(legacy)}' is no longer read: declare causality once as isCausal(params) (absent = causal), e.g. isCausal: () => false`);
  return d as MixerDefinition;
}

/** Build the mixer on a tiny input and check the forward and step shapes (wrong shapes are user errors). */
export function smokeTestMixer(def: MixerDefinition, file: string): void {
  const store = new ParamStore(1, 2);
  const B = 1;
  const T = 4;
  const d = 8;
  try {
    const params = resolveMixerParams(def, {});
    const mixer = def.create(params, { dModel: d, maxSeqLen: T, layerIndex: 0, nLayers: 2 }, store.scope('smoke'));
    if (typeof (mixer as { auxLoss?: unknown }).auxLoss === 'function' && !mixer.auxObjective)
      throw new UserInputError(`plugin ${file}: ${def.name}: 'auxLoss()' is no longer read: declare an auxiliary training loss with auxObjective(batch) → { loss(out) } (README, "Write your own mixer")`);
    const shape = tf.tidy(() => mixer.forward(tf.randomNormal([B, T, d], 0, 1, 'float32', 1) as tf.Tensor3D, { training: false, prefixLength: 2 }).shape);
    if (shape.join() !== [B, T, d].join()) throw new UserInputError(`plugin ${file}: ${def.name}.forward returned shape [${shape}] for input [${B}, ${T}, ${d}] (must keep [batch, time, d_model])`);
    const stepShape = tf.tidy(() => mixer.step(mixer.initState(B), tf.randomNormal([B, d], 0, 1, 'float32', 2) as tf.Tensor2D, 0).y.shape);
    if (stepShape.join() !== [B, d].join()) throw new UserInputError(`plugin ${file}: ${def.name}.step returned y of shape [${stepShape}] for x [${B}, ${d}]`);
  } catch (e) {
    if (e instanceof UserInputError) throw e;
    throw new UserInputError(`plugin ${file}: ${def.name} fails on a tiny input: ${firstLine(e)}`);
  } finally {
    store.dispose();
  }
}

/** What a plugin's factory receives. */
export const pluginApi: PluginApi = { tf, z, defineMixer, nn, dropout };

/** Import a plugin file and return its mixer definition (checked for the required members; not run, not registered). */
export async function importPlugin(path: string): Promise<MixerDefinition> {
  const file = resolve(path);
  if (!existsSync(file)) throw new UserInputError(`plugin ${path}: file not found`);
  let mod: { default?: PluginExport; mixer?: PluginExport };
  try {
    mod = (await import(pathToFileURL(file).href)) as typeof mod;
  } catch (e) {
    throw new UserInputError(`plugin ${path}: failed to load: ${firstLine(e)}`);
  }
  const exported = mod.default ?? mod.mixer;
  if (exported === undefined) throw new UserInputError(`plugin ${path}: no default export (export default a mixer definition or ({ tf, z, defineMixer, nn, dropout }) => definition)`);
  let def: unknown = exported;
  if (typeof exported === 'function') {
    try {
      def = await exported(pluginApi);
    } catch (e) {
      throw new UserInputError(`plugin ${path}: its factory threw: ${firstLine(e)}`);
    }
  }
  return checkDefinition(def, path);
}

/** Import a plugin, check it builds and keeps its shapes on a tiny input, and register it beside the built-ins. */
export async function loadPlugin(path: string): Promise<MixerDefinition> {
  const checked = await importPlugin(path);
  smokeTestMixer(checked, path);
  registerMixer(checked);
  return checked;
}
