// Binding this process to one GPU of several, identical ones included (`--gpu INDEX`), for the webgpu
// (Dawn on Vulkan) and tensorflow (CUDA) backends.
//
// Why it takes more than a name: Dawn's Node binding enumerates the Vulkan adapters and takes the FIRST whose
// name contains `adapter=<text>` — identical GPUs share a name, so every process would land on GPU 0. The knobs
// of the Vulkan loader match IDs, not devices: VK_LOADER_DEVICE_SELECT=<vendor>:<device> only reorders
// (Linux), VK_LOADER_DEVICE_ID_FILTER (loader ≥ 1.4.326) filters by deviceID, and identical GPUs share both.
// NVIDIA's Vulkan driver ignores CUDA_VISIBLE_DEVICES; __NV_PRIME_RENDER_OFFLOAD picks the NVIDIA provider on
// hybrid laptops, not one NVIDIA GPU among several. What does tell identical GPUs apart is their PCI address
// (VK_EXT_pci_bus_info, which NVIDIA's driver exposes) or UUID. Mesa's device-select layer
// (VK_LAYER_MESA_device_select, Debian package mesa-vulkan-drivers) is vendor-neutral — it sits between the
// loader and any driver, NVIDIA's included — and selects by PCI address:
//   DRI_PRIME=pci-DDDD_BB_DD_F                       puts that device first in vkEnumeratePhysicalDevices
//   MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1     ... and hides every other device from the application
// So `--gpu i` means: the i-th GPU in nvidia-smi's order (which is PCI bus order; /sys/bus/pci when there is
// no nvidia-smi) →
//   Vulkan/Dawn  DRI_PRIME=pci-<its address> + FORCE_DEFAULT_DEVICE=1 (+ VK_LAYER_PATH / VK_INSTANCE_LAYERS when
//                the layer is shipped in a folder rather than installed as an implicit layer); without the layer,
//                Dawn's `adapter=<name>` when that GPU's name is unique on the host; otherwise a clear error
//                (never a silent GPU 0)
//   CUDA         CUDA_VISIBLE_DEVICES=<its UUID>
// written into process.env before Dawn or libtensorflow load (Node's process.env writes through to the C
// environment that the Vulkan loader, the layer and CUDA read), and inherited by child processes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserInputError } from './errors.js';

export interface GpuDevice {
  /** Position in nvidia-smi's (PCI bus) order: what --gpu counts. */
  index: number;
  name: string;
  /** Normalised PCI address, DDDD:BB:DD.F in lowercase hex. */
  pciBusId: string;
  uuid?: string;
  /** Where the name comes from: the driver's own (nvidia-smi, as Vulkan reports it too) or made up from PCI ids. */
  source: 'nvidia-smi' | 'sysfs';
}

export const DEVICE_SELECT_LAYER = 'VK_LAYER_MESA_device_select';
const DEVICE_SELECT_MANIFEST = 'VkLayer_MESA_device_select.json';

/** "00000000:18:00.0" (nvidia-smi) or "0000:18:00.0" (sysfs) → "0000:18:00.0". */
export function normalizePciBusId(text: string): string {
  const m = /^(?:([0-9a-f]+):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(text.trim());
  if (!m) throw new Error(`not a PCI address: '${text}'`);
  const hex = (s: string, width: number) => parseInt(s, 16).toString(16).padStart(width, '0');
  return `${hex(m[1] ?? '0', 4)}:${hex(m[2]!, 2)}:${hex(m[3]!, 2)}.${m[4]}`;
}

/** The device-select layer's tag for a PCI address: "0000:18:00.0" → "pci-0000_18_00_0". */
export function driPrimeTag(pciBusId: string): string {
  return `pci-${normalizePciBusId(pciBusId).replace(/[:.]/g, '_')}`;
}

/** Rows of `nvidia-smi --query-gpu=index,pci.bus_id,uuid,name --format=csv,noheader`. */
export function parseNvidiaSmi(csv: string): GpuDevice[] {
  const gpus: GpuDevice[] = [];
  for (const line of csv.split('\n')) {
    if (!line.trim()) continue;
    const [index, bus, uuid, ...name] = line.split(',').map((s) => s.trim());
    if (!index || !/^\d+$/.test(index) || !bus) continue;
    gpus.push({ index: Number(index), pciBusId: normalizePciBusId(bus), ...(uuid && uuid !== '[N/A]' ? { uuid } : {}), name: name.join(', ') || 'GPU', source: 'nvidia-smi' });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

const GPU_VENDORS: Record<string, string> = { '0x10de': 'NVIDIA', '0x1002': 'AMD', '0x8086': 'Intel' };

/**
 * GPUs on the PCI bus (display or 3D controllers of GPU vendors; a server's BMC VGA — ASPEED, Matrox — is not
 * one), in bus order: the fallback when there is no nvidia-smi.
 */
export function listSysfsGpus(sysRoot = '/sys'): GpuDevice[] {
  const dir = join(sysRoot, 'bus', 'pci', 'devices');
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const read = (d: string, f: string) => {
    try {
      return readFileSync(join(dir, d, f), 'utf8').trim().toLowerCase();
    } catch {
      return '';
    }
  };
  const found: Array<Omit<GpuDevice, 'index'>> = [];
  for (const address of entries) {
    const cls = read(address, 'class');
    const vendor = read(address, 'vendor');
    if (!/^0x030[02]/.test(cls) || !GPU_VENDORS[vendor]) continue;
    let pciBusId: string;
    try {
      pciBusId = normalizePciBusId(address);
    } catch {
      continue;
    }
    found.push({ pciBusId, name: `${GPU_VENDORS[vendor]} ${read(address, 'device')}`, source: 'sysfs' });
  }
  return found.sort((a, b) => (a.pciBusId < b.pciBusId ? -1 : a.pciBusId > b.pciBusId ? 1 : 0)).map((g, index) => ({ index, ...g }));
}

/** The host's GPUs: nvidia-smi when it runs, else the PCI bus. */
export function listGpus(opts: { nvidiaSmi?: () => string | undefined; sysRoot?: string } = {}): GpuDevice[] {
  const smi = (opts.nvidiaSmi ?? runNvidiaSmi)();
  if (smi !== undefined) {
    const gpus = parseNvidiaSmi(smi);
    if (gpus.length > 0) return gpus;
  }
  return listSysfsGpus(opts.sysRoot);
}

/** One row of `nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv,noheader`. */
export interface GpuProcess {
  pid: number;
  pciBusId: string;
  usedMiB: number;
}

/**
 * Rows of nvidia-smi's compute-apps query. Vulkan processes are listed there too (type "C+G": checked on an H200
 * host with Dawn, docs/scale-out.md), which is what lets a process find out which GPU it actually landed on.
 */
export function parseComputeApps(csv: string): GpuProcess[] {
  const rows: GpuProcess[] = [];
  for (const line of csv.split('\n')) {
    const [pid, bus, used] = line.split(',').map((x) => x.trim());
    if (!pid || !/^\d+$/.test(pid) || !bus) continue;
    try {
      rows.push({ pid: Number(pid), pciBusId: normalizePciBusId(bus), usedMiB: Number.parseFloat(used ?? '') || 0 });
    } catch {
      // not a PCI address (e.g. "[N/A]"): not a row we can place
    }
  }
  return rows;
}

/**
 * The GPU process `pid` holds a context on, from nvidia-smi: null without nvidia-smi, undefined when the process is
 * not listed (not yet, or a driver that does not list it). Several GPUs: the one where it uses the most memory.
 */
export function gpuOfProcess(pid: number, opts: { computeApps?: () => string | undefined; gpus?: GpuDevice[] } = {}): GpuDevice | undefined | null {
  const csv = (opts.computeApps ?? runComputeApps)();
  if (csv === undefined) return null;
  const mine = parseComputeApps(csv).filter((r) => r.pid === pid).sort((a, b) => b.usedMiB - a.usedMiB)[0];
  if (!mine) return undefined;
  return (opts.gpus ?? listGpus()).find((g) => g.pciBusId === mine.pciBusId);
}

/** --gpu asked for one GPU and the driver put the process on another: nothing it trains may be stored as run there. */
export class GpuPlacementError extends UserInputError {}

/**
 * Check where the process landed against the GPU `--gpu` asked for: the selection only sets the environment, and
 * on some hosts the driver ignores it (four identical H200s with NVIDIA 580: every process on one GPU, whatever the
 * tag — docs/scale-out.md). Returns the GPU it is on (undefined: cannot tell); throws when it is another one.
 */
export function checkPlacement(asked: GpuSelection, landed: GpuDevice | undefined): GpuDevice | undefined {
  if (landed && landed.pciBusId !== asked.gpu.pciBusId) {
    throw new GpuPlacementError(
      `--gpu ${asked.gpu.index}: this process landed on GPU ${landed.index} (pci ${landed.pciBusId}), not on GPU ${asked.gpu.index} (pci ${asked.gpu.pciBusId}): ` +
        `the GPU selection (${asked.how}) does not work on this host — run one GPU per host or leave --gpu out (docs/scale-out.md)`,
    );
  }
  return landed;
}

function runComputeApps(): string | undefined {
  try {
    return execFileSync('nvidia-smi', ['--query-compute-apps=pid,gpu_bus_id,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

function runNvidiaSmi(): string | undefined {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=index,pci.bus_id,uuid,name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

export interface LayerLocation {
  /** Folder holding VkLayer_MESA_device_select.json. */
  dir: string;
  /** Found in an implicit-layer folder: the loader loads it by itself. */
  implicit: boolean;
  /**
   * Mesa 22.x's layer (Debian bookworm's 22.3.6) compares the DRI_PRIME tag the wrong way round: it keeps the LAST
   * device whose PCI tag does NOT match (`if (strcmp(dri_prime, tag)) default_idx = i`), so every tag but the last
   * GPU's selects the last GPU — what put a 4-GPU sweep on GPUs 2 and 3 (docs/scale-out.md). Later Mesa (25.0.7 of
   * bookworm-backports) matches. Told apart by a string only the fixed layers carry (LAYER_FIXED_MARKER).
   */
  invertedTagMatch?: boolean;
  /** Why the Vulkan loader would not load this layer (layerLibraryProblem), for a folder of RECALLBENCH_VK_LAYER_DIR. */
  libraryProblem?: string;
}

/** An environment variable the fixed layers read and 22.x's does not: its name is in the library's strings. */
export const LAYER_FIXED_MARKER = 'MESA_VK_DEVICE_SELECT_DEBUG';

/** The library_path the layer manifest in `dir` names; undefined if there is no manifest to read; a problem if it names none. */
function manifestLibrary(dir: string, read: (path: string) => Buffer | undefined): { library: string } | { problem: string } | undefined {
  const path = join(dir, DEVICE_SELECT_MANIFEST);
  const manifest = read(path);
  if (!manifest) return undefined;
  let library: string | undefined;
  try {
    library = (JSON.parse(manifest.toString('utf8')) as { layer?: { library_path?: string } }).layer?.library_path;
  } catch {
    return { problem: `its manifest ${path} is not JSON` };
  }
  return library ? { library } : { problem: `its manifest ${path} names no layer.library_path` };
}

/**
 * Whether the layer in `dir` is one with the inverted DRI_PRIME match: its manifest's library (relative to `dir`, or a
 * bare name in the system library folders) lacks LAYER_FIXED_MARKER. Undefined when the library cannot be read (then
 * the selection is used as if it matched, and the run's placement check says if it did not).
 */
export function layerHasInvertedTagMatch(dir: string, read: (path: string) => Buffer | undefined = readIfExists): boolean | undefined {
  const named = manifestLibrary(dir, read);
  if (!named || 'problem' in named) return undefined;
  const { library } = named;
  const candidates = library.includes('/') ? [library.startsWith('/') ? library : join(dir, library)] : ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'].map((d) => join(d, library));
  for (const path of candidates) {
    const bytes = read(path);
    if (bytes) return !bytes.includes(LAYER_FIXED_MARKER);
  }
  return undefined;
}

/**
 * Why the Vulkan loader would not load the layer in `dir` (a folder you unpacked it into), or undefined if it would
 * or the manifest cannot be read. The loader opens a library_path with a '/' relative to the manifest, and looks a
 * bare file name up on LD_LIBRARY_PATH and the system folders — not beside the manifest: a hand-made .vk named its
 * library bare on 2026-11-29, the layer did not load, and a sweep asked for two GPUs ran on one.
 */
export function layerLibraryProblem(dir: string, env: NodeJS.ProcessEnv, read: (path: string) => Buffer | undefined = readIfExists): string | undefined {
  const named = manifestLibrary(dir, read);
  if (!named || 'problem' in named) return named?.problem;
  const { library } = named;
  if (library.includes('/')) {
    const path = library.startsWith('/') ? library : join(dir, library);
    return read(path) ? undefined : `its library ${path} (library_path '${library}' of the manifest) does not exist`;
  }
  // refused only when certain: the library sits beside the manifest and on none of the usual search folders (the
  // dynamic linker also reads ld.so.conf and RUNPATHs, which this does not follow: elsewhere, the run's own placement
  // check still says where it landed)
  if (!read(join(dir, library))) return undefined;
  const searched = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/local/lib'];
  if (searched.some((d) => read(join(d, library)))) return undefined;
  return `its manifest names the library bare ('${library}'), which the Vulkan loader looks up on LD_LIBRARY_PATH and the system folders, not beside the manifest: write './${library}' (bench/make_vk.sh does)`;
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Where the device-select layer's manifest is: $RECALLBENCH_VK_LAYER_DIR (a folder you unpacked it into, loaded
 * as an explicit layer), else the Vulkan loader's implicit-layer folders (installed by mesa-vulkan-drivers).
 */
export function findDeviceSelectLayer(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync, read?: (path: string) => Buffer | undefined): LayerLocation | undefined {
  const own = env.RECALLBENCH_VK_LAYER_DIR;
  if (own && exists(join(own, DEVICE_SELECT_MANIFEST))) {
    const problem = layerLibraryProblem(own, env, read);
    return withTagMatch(problem ? { dir: own, implicit: false, libraryProblem: problem } : { dir: own, implicit: false }, read);
  }
  const configDirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const dataDirs = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  const candidates = [
    ...configDirs.map((d) => join(d, 'vulkan', 'implicit_layer.d')),
    '/etc/vulkan/implicit_layer.d',
    join(dataHome, 'vulkan', 'implicit_layer.d'),
    ...dataDirs.map((d) => join(d, 'vulkan', 'implicit_layer.d')),
    ...(env.VK_ADD_IMPLICIT_LAYER_PATH ?? '').split(':').filter(Boolean),
  ];
  for (const dir of candidates) if (dir && exists(join(dir, DEVICE_SELECT_MANIFEST))) return withTagMatch({ dir, implicit: true }, read);
  return undefined;
}

function withTagMatch(layer: LayerLocation, read?: (path: string) => Buffer | undefined): LayerLocation {
  return layerHasInvertedTagMatch(layer.dir, read) ? { ...layer, invertedTagMatch: true } : layer;
}

export interface GpuSelection {
  gpu: GpuDevice;
  /** Environment to set before any GPU library loads. */
  env: Record<string, string>;
  /** Environment variables to remove (one that would switch the layer off). */
  unset: string[];
  /** Extra Dawn options (only `adapter=<name>` when the name alone is unique). */
  dawnOptions: string[];
  /** How the Vulkan device is pinned, for logs and records. */
  how: 'only-gpu' | 'device-select-layer' | 'adapter-name';
  /** Short tag for the device string, e.g. "gpu 1, pci 0000:65:00.0". */
  tag: string;
}

/** The environment (and Dawn options) that bind this process to GPU `index` of `gpus`. Pure: tests call it. */
export function selectGpu(index: number, gpus: GpuDevice[], layer: LayerLocation | undefined, env: NodeJS.ProcessEnv = {}): GpuSelection {
  if (!Number.isInteger(index) || index < 0) throw new UserInputError(`--gpu expects a GPU index (0, 1, ...), got ${index}`);
  if (gpus.length === 0) throw new UserInputError(`--gpu ${index}: no GPU found on this host (nvidia-smi and /sys/bus/pci list none)`);
  const gpu = gpus.find((g) => g.index === index);
  if (!gpu) throw new UserInputError(`--gpu ${index}: this host has ${gpus.length} GPU${gpus.length > 1 ? 's' : ''} (${gpus.map((g) => `${g.index}: ${g.name} at ${g.pciBusId}`).join('; ')})`);
  const out: GpuSelection = { gpu, env: { CUDA_VISIBLE_DEVICES: gpu.uuid ?? String(gpu.index) }, unset: [], dawnOptions: [], how: 'only-gpu', tag: `gpu ${gpu.index}, pci ${gpu.pciBusId}` };
  // RECALLBENCH_FORCE_DEVICE_SELECT=1: go through the layer even with one GPU (to check the mechanism on one)
  if (gpus.length === 1 && !(layer && env.RECALLBENCH_FORCE_DEVICE_SELECT === '1')) return out;
  if (layer) {
    out.how = 'device-select-layer';
    if (layer.libraryProblem) throw new UserInputError(`--gpu ${index}: the device-select layer in ${layer.dir} would not load: ${layer.libraryProblem} (docs/scale-out.md)`);
    if (layer.invertedTagMatch) {
      // Mesa 22.x keeps the last GPU whose tag does NOT match: with two GPUs, the other one's tag selects this one;
      // with more, only the last two are reachable at all
      if (gpus.length !== 2)
        throw new UserInputError(
          `--gpu ${index}: the device-select layer in ${layer.dir} is Mesa 22.x's, which matches DRI_PRIME the wrong way round (it selects the last GPU whose address does not match) and cannot reach GPU ${index} of ${gpus.length}: ` +
            `use a fixed layer (Mesa 25, e.g. Debian bookworm-backports' mesa-vulkan-drivers) in RECALLBENCH_VK_LAYER_DIR (docs/scale-out.md)`,
        );
      out.env.DRI_PRIME = driPrimeTag(gpus.find((g) => g.index !== gpu.index)!.pciBusId);
    } else out.env.DRI_PRIME = driPrimeTag(gpu.pciBusId);
    out.env.MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE = '1';
    out.unset.push('NODEVICE_SELECT', 'MESA_VK_DEVICE_SELECT');
    // the layer looks for a Wayland display; without XDG_RUNTIME_DIR libwayland prints an error line per process
    if (!env.XDG_RUNTIME_DIR) out.env.XDG_RUNTIME_DIR = join(tmpdir(), `recallbench-xdg-${process.getuid?.() ?? 0}`);
    if (!layer.implicit) {
      out.env.VK_LAYER_PATH = [layer.dir, ...(env.VK_LAYER_PATH ?? '').split(':').filter((d) => d && d !== layer.dir)].join(':');
      const enabled = (env.VK_INSTANCE_LAYERS ?? '').split(':').filter(Boolean);
      out.env.VK_INSTANCE_LAYERS = [...new Set([...enabled, DEVICE_SELECT_LAYER])].join(':');
    }
    return out;
  }
  if (gpu.source === 'nvidia-smi' && gpus.filter((g) => g.name === gpu.name).length === 1) {
    out.how = 'adapter-name';
    out.dawnOptions.push(`adapter=${gpu.name}`);
    return out;
  }
  throw new UserInputError(
    `--gpu ${index}: ${gpu.source === 'nvidia-smi' ? `the ${gpus.length} GPUs share the name '${gpu.name}'` : 'without nvidia-smi the GPUs\' Vulkan names are unknown'} and Dawn tells adapters apart only by name; ` +
      `install Mesa's Vulkan device-select layer (apt-get install mesa-vulkan-drivers) or set RECALLBENCH_VK_LAYER_DIR to a folder holding ${DEVICE_SELECT_MANIFEST} and its library (docs/scale-out.md)`,
  );
}

let bound: GpuSelection | undefined;

/**
 * Bind this process to GPU `index`: writes the selection into process.env (before Dawn or libtensorflow is
 * loaded — call it first). Binding twice to another GPU in one process is an error: the driver has read the
 * environment already.
 */
export function bindGpu(index: number): GpuSelection {
  if (bound) {
    if (bound.gpu.index !== index) throw new UserInputError(`--gpu ${index}: this process is already bound to GPU ${bound.gpu.index}`);
    return bound;
  }
  const selection = selectGpu(index, listGpus(), findDeviceSelectLayer(), process.env);
  if (selection.env.XDG_RUNTIME_DIR) mkdirSync(selection.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  for (const key of selection.unset) delete process.env[key];
  Object.assign(process.env, selection.env);
  bound = selection;
  return selection;
}
