// How `auto` decides there is no GPU without asking Dawn (which prints a multi-line native warning when the Vulkan
// loader exists without a driver), and the one line it gives the user instead.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, vulkanDriverPresent, vulkanLoaderPresent } from '../engine/backend.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-icd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(process.platform !== 'linux')('Vulkan driver detection', () => {
  it('finds a driver named by VK_DRIVER_FILES / VK_ICD_FILENAMES, ignores names of missing files', () => {
    const icd = join(dir, 'fake_icd.json');
    writeFileSync(icd, '{"file_format_version": "1.0.0", "ICD": {"library_path": "libfake.so"}}');
    expect(vulkanDriverPresent({ VK_DRIVER_FILES: icd, XDG_DATA_DIRS: dir })).toBe(true);
    expect(vulkanDriverPresent({ VK_ICD_FILENAMES: `/nonexistent.json:${icd}`, XDG_DATA_DIRS: dir })).toBe(true);
  });

  it('finds one in an icd.d folder of XDG_DATA_DIRS', () => {
    const data = join(dir, 'share');
    const icdDir = join(data, 'vulkan', 'icd.d');
    mkdirSync(icdDir, { recursive: true });
    writeFileSync(join(icdDir, 'x_icd.json'), '{}');
    expect(vulkanDriverPresent({ XDG_DATA_DIRS: data, HOME: dir })).toBe(true);
  });

  it('auto without a usable GPU picks wasm and says why in one line', async () => {
    if (vulkanLoaderPresent() && vulkanDriverPresent() && process.env.RECALLBENCH_WEBGPU_SOFTWARE !== '1') return; // a real GPU machine: nothing to check
    const info = await initBackend('auto');
    expect(info.backend).toBe('wasm');
    expect(info.note).toMatch(/^no GPU: /);
    expect(info.note).not.toContain('\n');
  });
});
