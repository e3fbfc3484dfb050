// --gpu INDEX on a host with several GPUs, identical ones included (engine/gpuSelect.ts): which device index i
// is, and the environment that makes Dawn/Vulkan (and CUDA) see that device and no other. The selection logic,
// on recorded nvidia-smi output and a fake /sys; the real two-GPU check needs a multi-GPU machine.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { UserInputError } from '../engine/errors.js';
import { checkPlacement, driPrimeTag, findDeviceSelectLayer, gpuOfProcess, GpuPlacementError, LAYER_FIXED_MARKER, layerHasInvertedTagMatch, layerLibraryProblem, listGpus, listSysfsGpus, normalizePciBusId, parseComputeApps, parseNvidiaSmi, selectGpu, type GpuDevice } from '../engine/gpuSelect.js';

// `nvidia-smi --query-gpu=index,pci.bus_id,uuid,name --format=csv,noheader` on a 2 x H100 host
const TWO_H100 = `0, 00000000:18:00.0, GPU-6a3f2a8e-1c1b-2f4d-9e55-0c1d2e3f4a5b, NVIDIA H100 80GB HBM3
1, 00000000:2A:00.0, GPU-0b9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c, NVIDIA H100 80GB HBM3
`;

const implicitLayer = { dir: '/usr/share/vulkan/implicit_layer.d', implicit: true };

describe('which GPU is --gpu i', () => {
  it('reads nvidia-smi: index order, normalised PCI addresses, UUIDs', () => {
    const gpus = parseNvidiaSmi(TWO_H100);
    expect(gpus.map((g) => [g.index, g.pciBusId, g.name])).toEqual([
      [0, '0000:18:00.0', 'NVIDIA H100 80GB HBM3'],
      [1, '0000:2a:00.0', 'NVIDIA H100 80GB HBM3'],
    ]);
    expect(gpus[1]!.uuid).toBe('GPU-0b9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c');
    expect(normalizePciBusId('0001:3B:0.1')).toBe('0001:3b:00.1');
    expect(driPrimeTag('00000000:2A:00.0')).toBe('pci-0000_2a_00_0');
    expect(() => normalizePciBusId('2a:00')).toThrow();
  });

  it('without nvidia-smi, reads /sys/bus/pci: GPU vendors only (not the BMC VGA), in bus order', () => {
    const sys = mkdtempSync(join(tmpdir(), 'rb-sys-'));
    const dev = (addr: string, cls: string, vendor: string, device: string) => {
      const d = join(sys, 'bus', 'pci', 'devices', addr);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'class'), `${cls}\n`);
      writeFileSync(join(d, 'vendor'), `${vendor}\n`);
      writeFileSync(join(d, 'device'), `${device}\n`);
    };
    dev('0000:2a:00.0', '0x030200', '0x10de', '0x2330'); // H100 (3D controller)
    dev('0000:03:00.0', '0x030000', '0x1a03', '0x2000'); // ASPEED BMC VGA
    dev('0000:18:00.0', '0x030200', '0x10de', '0x2330');
    dev('0000:19:00.0', '0x020000', '0x15b3', '0x1021'); // a NIC
    const gpus = listSysfsGpus(sys);
    expect(gpus.map((g) => [g.index, g.pciBusId, g.name, g.source])).toEqual([
      [0, '0000:18:00.0', 'NVIDIA 0x2330', 'sysfs'],
      [1, '0000:2a:00.0', 'NVIDIA 0x2330', 'sysfs'],
    ]);
    expect(listGpus({ nvidiaSmi: () => undefined, sysRoot: sys })).toEqual(gpus);
    expect(listGpus({ nvidiaSmi: () => TWO_H100, sysRoot: sys }).map((g) => g.source)).toEqual(['nvidia-smi', 'nvidia-smi']);
    expect(listSysfsGpus(join(sys, 'nope'))).toEqual([]);
  });
});

describe('binding to it', () => {
  const gpus = parseNvidiaSmi(TWO_H100);

  it('identical GPUs: each index pins a different PCI address through the device-select layer, and a CUDA UUID', () => {
    const s0 = selectGpu(0, gpus, implicitLayer);
    const s1 = selectGpu(1, gpus, implicitLayer, { XDG_RUNTIME_DIR: '/run/user/0' });
    expect(s1.how).toBe('device-select-layer');
    expect(s1.env).toEqual({ CUDA_VISIBLE_DEVICES: 'GPU-0b9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c', DRI_PRIME: 'pci-0000_2a_00_0', MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' });
    expect(s0.env.DRI_PRIME).toBe('pci-0000_18_00_0');
    expect(s0.env.DRI_PRIME).not.toBe(s1.env.DRI_PRIME);
    expect(s1.unset).toContain('NODEVICE_SELECT'); // would switch the layer off
    expect(s0.env.XDG_RUNTIME_DIR).toMatch(/recallbench-xdg-/); // else libwayland (the layer looks for a display) prints an error per process
    expect(s1.dawnOptions).toEqual([]); // a name cannot tell them apart
    expect(s1.tag).toBe('gpu 1, pci 0000:2a:00.0');
  });

  it('a layer unpacked into a folder is enabled explicitly, keeping the layers already asked for', () => {
    const own = { dir: '/opt/vk', implicit: false };
    const s = selectGpu(1, gpus, own, { VK_LAYER_PATH: '/x/layers', VK_INSTANCE_LAYERS: 'VK_LAYER_KHRONOS_validation' });
    expect(s.env.VK_LAYER_PATH).toBe('/opt/vk:/x/layers');
    expect(s.env.VK_INSTANCE_LAYERS).toBe('VK_LAYER_KHRONOS_validation:VK_LAYER_MESA_device_select');
    expect(selectGpu(1, gpus, own, { VK_INSTANCE_LAYERS: 'VK_LAYER_MESA_device_select' }).env.VK_INSTANCE_LAYERS).toBe('VK_LAYER_MESA_device_select');
  });

  it('without the layer: a GPU with a name of its own goes by Dawn\'s adapter= name; identical ones are refused, never silently GPU 0', () => {
    const mixed: GpuDevice[] = [
      { index: 0, pciBusId: '0000:18:00.0', name: 'NVIDIA A100-SXM4-40GB', source: 'nvidia-smi' },
      { index: 1, pciBusId: '0000:2a:00.0', name: 'NVIDIA H100 80GB HBM3', source: 'nvidia-smi' },
    ];
    const s = selectGpu(1, mixed, undefined);
    expect(s.how).toBe('adapter-name');
    expect(s.dawnOptions).toEqual(['adapter=NVIDIA H100 80GB HBM3']);
    expect(s.env.DRI_PRIME).toBeUndefined();
    expect(() => selectGpu(1, gpus, undefined)).toThrow(/share the name 'NVIDIA H100 80GB HBM3'.*mesa-vulkan-drivers/);
    const fromSysfs = mixed.map((g) => ({ ...g, source: 'sysfs' as const }));
    expect(() => selectGpu(1, fromSysfs, undefined)).toThrow(/without nvidia-smi/);
  });

  it('one GPU needs no Vulkan selection; bad indices are one-line user errors', () => {
    const one = selectGpu(0, gpus.slice(0, 1), undefined);
    expect(one.how).toBe('only-gpu');
    expect(Object.keys(one.env)).toEqual(['CUDA_VISIBLE_DEVICES']);
    expect(() => selectGpu(2, gpus, implicitLayer)).toThrow(/this host has 2 GPUs \(0: NVIDIA H100 80GB HBM3 at 0000:18:00.0; 1: /);
    expect(() => selectGpu(-1, gpus, implicitLayer)).toThrow(UserInputError);
    expect(() => selectGpu(0, [], implicitLayer)).toThrow(/no GPU found/);
  });

  it('finds the layer: $RECALLBENCH_VK_LAYER_DIR first, else the loader\'s implicit-layer folders', () => {
    const files = new Set(['/opt/vk/VkLayer_MESA_device_select.json', '/usr/share/vulkan/implicit_layer.d/VkLayer_MESA_device_select.json']);
    const exists = (p: string) => files.has(p);
    const noFiles = () => undefined; // not this machine's layer files (a CI host may have Mesa's installed)
    expect(findDeviceSelectLayer({ RECALLBENCH_VK_LAYER_DIR: '/opt/vk', HOME: '/h' }, exists, noFiles)).toEqual({ dir: '/opt/vk', implicit: false });
    expect(findDeviceSelectLayer({ HOME: '/h' }, exists, noFiles)).toEqual({ dir: '/usr/share/vulkan/implicit_layer.d', implicit: true });
    expect(findDeviceSelectLayer({ HOME: '/h', XDG_DATA_DIRS: '/nowhere' }, exists, noFiles)).toBeUndefined();
  });

  it('a layer folder whose manifest the Vulkan loader could not follow is refused in one line, naming the fix', () => {
    const manifest = (library: string) => Buffer.from(JSON.stringify({ layer: { name: 'VK_LAYER_MESA_device_select', library_path: library } }));
    const lib = Buffer.from(`\0DRI_PRIME\0${LAYER_FIXED_MARKER}\0`);
    const fs = (files: Record<string, Buffer>) => (path: string) => files[path];
    const M = '/opt/vk/VkLayer_MESA_device_select.json';
    // the hand-made .vk of 2026-11-29: a bare name, the library beside the manifest, not on LD_LIBRARY_PATH
    const bare = fs({ [M]: manifest('libVkLayer_MESA_device_select.so'), '/opt/vk/libVkLayer_MESA_device_select.so': lib });
    expect(layerLibraryProblem('/opt/vk', { LD_LIBRARY_PATH: '/opt/vk/lib' }, bare)).toMatch(/names the library bare .* write '\.\/libVkLayer_MESA_device_select\.so' \(bench\/make_vk\.sh does\)/);
    // the same bare name found on LD_LIBRARY_PATH loads; './' resolves beside the manifest
    expect(layerLibraryProblem('/opt/vk', { LD_LIBRARY_PATH: '/x:/opt/vk' }, bare)).toBeUndefined();
    expect(layerLibraryProblem('/opt/vk', {}, fs({ [M]: manifest('./libVkLayer_MESA_device_select.so'), '/opt/vk/libVkLayer_MESA_device_select.so': lib }))).toBeUndefined();
    expect(layerLibraryProblem('/opt/vk', {}, fs({ [M]: manifest('./gone.so') }))).toMatch(/its library \/opt\/vk\/gone\.so .* does not exist/);
    // a bare name found nowhere this check looks (ld.so.conf, RUNPATH): not refused — the run's placement check decides
    expect(layerLibraryProblem('/opt/vk', {}, fs({ [M]: manifest('libnowhere.so') }))).toBeUndefined();
    expect(layerLibraryProblem('/opt/vk', {}, fs({ [M]: Buffer.from('{not json') }))).toMatch(/is not JSON/);
    expect(layerLibraryProblem('/opt/vk', {}, fs({}))).toBeUndefined(); // no manifest to read: nothing to say

    const exists = (p: string) => p === M;
    const located = findDeviceSelectLayer({ RECALLBENCH_VK_LAYER_DIR: '/opt/vk', HOME: '/h' }, exists, bare);
    expect(located?.libraryProblem).toMatch(/names the library bare/);
    const two = parseNvidiaSmi(TWO_H100);
    expect(() => selectGpu(1, two, located!)).toThrow(UserInputError);
    expect(() => selectGpu(1, two, located!)).toThrow(/^--gpu 1: the device-select layer in \/opt\/vk would not load: its manifest names the library bare/);
    // one GPU needs no layer: nothing refused
    expect(selectGpu(0, two.slice(0, 1), located!).how).toBe('only-gpu');
  });

  it("tells Mesa 22's layer (inverted DRI_PRIME match) from a fixed one by the library's strings; with it, two GPUs are pinned by the other's tag and more are refused", () => {
    const manifest = (library: string) => Buffer.from(JSON.stringify({ layer: { name: 'VK_LAYER_MESA_device_select', library_path: library } }));
    const old = Buffer.from('\0strcmp\0DRI_PRIME\0MESA_VK_DEVICE_SELECT\0');
    const fixed = Buffer.from(`\0DRI_PRIME\0${LAYER_FIXED_MARKER}\0`);
    const fs = (files: Record<string, Buffer>) => (path: string) => files[path];
    expect(layerHasInvertedTagMatch('/opt/vk', fs({ '/opt/vk/VkLayer_MESA_device_select.json': manifest('./libVkLayer_MESA_device_select.so'), '/opt/vk/libVkLayer_MESA_device_select.so': old }))).toBe(true);
    expect(layerHasInvertedTagMatch('/opt/vk', fs({ '/opt/vk/VkLayer_MESA_device_select.json': manifest('./libVkLayer_MESA_device_select.so'), '/opt/vk/libVkLayer_MESA_device_select.so': fixed }))).toBe(false);
    // an installed layer names its library bare: the system library folder
    expect(layerHasInvertedTagMatch('/usr/share/vulkan/implicit_layer.d', fs({ '/usr/share/vulkan/implicit_layer.d/VkLayer_MESA_device_select.json': manifest('libVkLayer_MESA_device_select.so'), '/usr/lib/x86_64-linux-gnu/libVkLayer_MESA_device_select.so': old }))).toBe(true);
    expect(layerHasInvertedTagMatch('/opt/vk', fs({ '/opt/vk/VkLayer_MESA_device_select.json': manifest('./missing.so') }))).toBeUndefined();
    const exists = (p: string) => p === '/opt/vk/VkLayer_MESA_device_select.json';
    const located = findDeviceSelectLayer({ RECALLBENCH_VK_LAYER_DIR: '/opt/vk', HOME: '/h' }, exists, fs({ '/opt/vk/VkLayer_MESA_device_select.json': manifest('./l.so'), '/opt/vk/l.so': old }));
    expect(located).toEqual({ dir: '/opt/vk', implicit: false, invertedTagMatch: true });

    const two = parseNvidiaSmi(TWO_H100);
    // GPU 1 by GPU 0's tag and GPU 0 by GPU 1's: the old layer keeps the last device whose tag differs
    expect(selectGpu(1, two, located!).env.DRI_PRIME).toBe('pci-0000_18_00_0');
    expect(selectGpu(0, two, located!).env.DRI_PRIME).toBe('pci-0000_2a_00_0');
    expect(selectGpu(1, two, { dir: '/opt/vk', implicit: false }).env.DRI_PRIME).toBe('pci-0000_2a_00_0'); // fixed layer: its own tag
    const four = parseNvidiaSmi(['06', '07', '08', '09'].map((b, i) => `${i}, 00000000:00:${b}.0, GPU-${i}, NVIDIA H200`).join('\n'));
    expect(() => selectGpu(2, four, located!)).toThrow(UserInputError);
    expect(() => selectGpu(2, four, located!)).toThrow(/Mesa 22.x's, which matches DRI_PRIME the wrong way round .* cannot reach GPU 2 of 4: use a fixed layer/);
  });

  it('--gpu with a CPU backend is refused before anything is bound', async () => {
    await expect(initBackend('cpu', { gpu: 0 })).rejects.toThrow(/--gpu 0: needs a GPU backend/);
    expect(process.env.DRI_PRIME).toBeUndefined();
  });
});

// `nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv,noheader,nounits` shape, as seen on an H200
// host (2026-11-29, bench/gpu_isolation.sh): Dawn/Vulkan processes are listed, one row per GPU they hold a context on
const COMPUTE_APPS = `696, 00000000:18:00.0, 8049
699, 00000000:18:00.0, 8838
834, 00000000:18:00.0, 3177
901, 00000000:2A:00.0, 120
901, 00000000:18:00.0, 5120
`;

describe('where a process landed (nvidia-smi), and the check of --gpu against it', () => {
  const gpus = parseNvidiaSmi(TWO_H100);

  it('reads the process list and finds a process\'s GPU (the one with most of its memory); null without nvidia-smi, undefined when not listed', () => {
    expect(parseComputeApps(COMPUTE_APPS)).toHaveLength(5);
    expect(parseComputeApps('[N/A], [N/A], [N/A]\n')).toEqual([]);
    expect(gpuOfProcess(834, { computeApps: () => COMPUTE_APPS, gpus })?.index).toBe(0);
    expect(gpuOfProcess(901, { computeApps: () => COMPUTE_APPS, gpus })?.index).toBe(0);
    expect(gpuOfProcess(901, { computeApps: () => '901, 00000000:2A:00.0, 300\n', gpus })?.index).toBe(1);
    expect(gpuOfProcess(12345, { computeApps: () => COMPUTE_APPS, gpus })).toBeUndefined();
    expect(gpuOfProcess(834, { computeApps: () => undefined, gpus })).toBeNull();
  });

  it('a process that landed on another GPU than --gpu asked for is a one-line error naming both; the right GPU or an unknown one passes', () => {
    const asked = selectGpu(1, gpus, implicitLayer);
    const elsewhere = gpuOfProcess(834, { computeApps: () => COMPUTE_APPS, gpus }) ?? undefined;
    expect(() => checkPlacement(asked, elsewhere)).toThrow(GpuPlacementError);
    expect(() => checkPlacement(asked, elsewhere)).toThrow(/--gpu 1: this process landed on GPU 0 \(pci 0000:18:00\.0\), not on GPU 1 \(pci 0000:2a:00\.0\)/);
    expect(checkPlacement(asked, gpus[1])).toBe(gpus[1]);
    expect(checkPlacement(asked, undefined)).toBeUndefined();
  });
});

