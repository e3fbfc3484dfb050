// Mixer lookup: the built-ins plus plugins loaded at run time (engine/plugins.ts).
import { builtinMixers } from '../architectures/index.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { zodErrorText } from '../core/zodText.js';
import { UserInputError } from './errors.js';

const mixers = new Map<string, MixerDefinition>(builtinMixers.map((m) => [m.name, m]));

export function registerMixer(def: MixerDefinition): void {
  mixers.set(def.name, def);
}

export function getMixer(name: string): MixerDefinition {
  const def = mixers.get(name);
  if (!def) throw new UserInputError(`unknown architecture '${name}' (known: ${[...mixers.keys()].sort().join(', ')}; add your own with --plugin FILE)`);
  return def;
}

export function listMixers(): MixerDefinition[] {
  return [...mixers.values()];
}

/** Validate a mixer's hyperparameters with its schema; a bad value is a one-line user error. */
export function resolveMixerParams(def: MixerDefinition, raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const parsed = def.params.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new UserInputError(`${def.name}: bad parameter ${zodErrorText(parsed.error, { top: '(params)' })}`);
  }
  return parsed.data as Record<string, unknown>;
}
