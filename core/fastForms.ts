// The one registry through which a fast form replaces its reference (issue 14). Below every op: no tfjs here, the
// caller names the backend (tf.getBackend()).
//
// An entry names the op it speeds up, the backend it runs on and the lever that switches it (none: always on, a
// fix rather than an option), and then either
//   - `impl`: the function the op calls instead of its reference (ops/layerNorm, ops/crossEntropy, ops/dropout,
//     ops/adamw, ops/longConv's channelMatMul ask `fastForm(op, backend)` and fall back to their naive form), or
//   - `install` / `uninstall`: an override of something the op reaches through tfjs (a tfjs kernel such as
//     Transpose or UnsortedSegmentSum, a gradient such as Sum's, or the backend's own upload and bind-group paths),
//     put in place when the lever turns on and taken out (the stock behaviour back) when it turns off.
// The accelerator layers register their entries (accel/webgpu/index.ts, accel/wasm/index.ts); the levers are
// switched here (accel/webgpu's setFastPath, RECALLBENCH_FAST_PATH). Nothing below accel registers anything.

/** A typed key of an op that has an `impl` fast form: `Impl` is the signature the op calls. */
export interface FastOp<Impl> {
  readonly name: string;
  /** Phantom: carries the implementation's type, never set. */
  readonly impl?: Impl;
}

/** The key of an op's fast form (each op declares its own, beside its reference). */
export function fastOp<Impl>(name: string): FastOp<Impl> {
  return { name };
}

interface EntryBase {
  backend: string;
  /** The switch (accel/webgpu LEVERS); undefined: always on. */
  lever?: string;
}
/** A fast form the op calls in place of its reference. */
export interface ImplEntry<Impl> extends EntryBase {
  op: FastOp<Impl>;
  impl: Impl;
}
/** An override of a tfjs kernel, gradient or backend internal, named by what it overrides (`op`). */
export interface OverrideEntry extends EntryBase {
  op: string;
  /** Put the override in place (idempotent: it is called on every switch of its lever to on). */
  install(): void;
  /** Give back the stock behaviour (idempotent); absent only where there is no lever (always on). */
  uninstall?(): void;
}

/** What the registry lists: one row per entry. */
export interface FastFormRow {
  op: string;
  backend: string;
  lever: string | undefined;
  kind: 'impl' | 'override';
}

type Entry = { row: FastFormRow; impl?: unknown; install?(): void; uninstall?(): void };

const entries: Entry[] = [];
const leversOn = new Set<string>();

const active = (lever: string | undefined) => lever === undefined || leversOn.has(lever);

/** Register a fast form. An override whose lever is on (or that has none) is installed at once. */
export function registerFastForm<Impl>(entry: ImplEntry<Impl> | OverrideEntry): void {
  const isImpl = 'impl' in entry;
  const name = typeof entry.op === 'string' ? entry.op : entry.op.name;
  if (entries.some((e) => e.row.op === name && e.row.backend === entry.backend)) throw new Error(`fast form ${name} on ${entry.backend} is registered twice`);
  const row: FastFormRow = { op: name, backend: entry.backend, lever: entry.lever, kind: isImpl ? 'impl' : 'override' };
  if (isImpl) entries.push({ row, impl: entry.impl });
  else {
    entries.push({ row, install: entry.install, uninstall: entry.uninstall });
    if (active(entry.lever)) entry.install();
  }
}

/** The fast form of `op` on `backend` when one is registered and its lever is on; otherwise undefined (the op runs its reference). */
export function fastForm<Impl>(op: FastOp<Impl>, backend: string): Impl | undefined {
  for (const e of entries) if (e.row.kind === 'impl' && e.row.op === op.name && e.row.backend === backend && active(e.row.lever)) return e.impl as Impl;
  return undefined;
}

/** Switch a lever: its `impl` entries are used or not from the next call on, its overrides are (un)installed now. */
export function setLever(lever: string, on: boolean): void {
  if (on) leversOn.add(lever);
  else leversOn.delete(lever);
  for (const e of entries) if (e.row.lever === lever) (on ? e.install : e.uninstall)?.();
}

export function leverOn(lever: string): boolean {
  return leversOn.has(lever);
}

/** Every registered entry (what it speeds up, where, switched by which lever). */
export function fastForms(): FastFormRow[] {
  return entries.map((e) => ({ ...e.row }));
}
