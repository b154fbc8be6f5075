// PXE-style boot of what the factory serves: a user creates a schematic, asks
// for the iPXE script, downloads the kernel and initramfs it names and boots
// them with its command line. QEMU (TCG) runs the development release's kernel,
// whose init reports what Talos' init would see: every extension layer, files
// read through the merged root, the extension's kernel module loaded through
// the rebuilt modules.dep, firmware, early microcode, META and kernel args.

import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { bootQemu, qemuSkipReason } from '../helpers/qemu.js';
import { freePort } from '../helpers/registry.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const skip = qemuSkipReason();
let svc: ServiceProcess;
const work = mkdtempSync(join(tmpdir(), 'if-boot-'));

beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_EXTERNAL_URL: 'http://factory.invalid/' });
});
afterAll(async () => {
  await svc.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(svc.dataDir, { recursive: true, force: true });
});

async function createSchematic(yaml: string): Promise<string> {
  const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: yaml });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function download(url: string, file: string): Promise<{ type: string | null; length: string | null }> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return { type: res.headers.get('content-type'), length: res.headers.get('content-length') };
}

/** The kernel line, initrd URL and command line of a standard iPXE script. */
function parseScript(script: string): { kernelUrl: string; initrdUrl: string; cmdline: string } {
  const kernel = /^kernel (\S+) (.*)$/m.exec(script);
  const initrd = /^initrd (\S+)$/m.exec(script);
  expect(kernel && initrd, script).toBeTruthy();
  return { kernelUrl: kernel![1]!, cmdline: kernel![2]!, initrdUrl: initrd![1]! };
}

describe.skipIf(skip !== undefined)('booting served kernel + initramfs + cmdline', () => {
  for (const version of release.versions) {
    it(`boots ${version} with every sample extension, kernel args and META`, async () => {
      const extensions = release.extensions[version]!;
      const names = extensions.map((e) => e.repository);
      const id = await createSchematic(
        [
          'customization:',
          '  extraKernelArgs: [console=ttyS0, factory.test=boot-assets]',
          '  meta:',
          '    - key: 12',
          '      value: "{\\"hello\\": \\"meta\\"}"',
          '  systemExtensions:',
          `    officialExtensions: [${names.join(', ')}]`,
          '',
        ].join('\n'),
      );
      const scriptRes = await fetch(`${svc.url}/pxe/${id}/${version}/metal-amd64`);
      expect(scriptRes.status).toBe(200);
      expect(scriptRes.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      const script = await scriptRes.text();
      const { kernelUrl, initrdUrl, cmdline } = parseScript(script);
      expect(kernelUrl).toBe(`http://factory.invalid/image/${id}/${version}/kernel-amd64`);
      expect(initrdUrl).toBe(`http://factory.invalid/image/${id}/${version}/initramfs-amd64.xz`);
      const served = await (await fetch(`${svc.url}/image/${id}/${version}/cmdline-metal-amd64`)).text();
      expect(cmdline).toBe(served);

      const kernel = join(work, `kernel-${version}`);
      const initramfs = join(work, `initramfs-${version}.xz`);
      const local = (url: string) => url.replace('http://factory.invalid', svc.url);
      expect(await download(local(kernelUrl), kernel)).toMatchObject({ type: 'application/octet-stream' });
      const initrdHeaders = await download(local(initrdUrl), initramfs);
      expect(initrdHeaders.type).toBe('application/x-xz');
      // The first GET streamed it as it was built (no length yet); HEAD answers from the cached entry.
      const head = await fetch(local(initrdUrl), { method: 'HEAD' });
      expect(Number(head.headers.get('content-length'))).toBe(statSync(initramfs).size);

      const boot = await bootQemu({ kernel, initrd: initramfs, append: cmdline, timeoutMs: 90_000 });
      const report = boot.report;
      expect(report.status, boot.console.slice(-3000)).toBe('ok');
      expect(report.cmdline).toBe(cmdline);
      expect(report.cmdline).toContain('factory.test=boot-assets');
      expect(report.layers.map((l) => [l.name, l.version])).toEqual([
        ...extensions.map((e) => [e.name, e.version]),
        ['schematic', id],
        ['modules.dep', release.kernel.release],
      ]);
      for (const e of extensions) {
        expect(report.markers.map((m) => m.path)).toContain(`/usr/local/share/${e.name}/marker`);
      }
      expect(report.modules.length).toBeGreaterThan(0);
      for (const m of report.modules) expect(m, m.detail).toMatchObject({ modprobe: 'ok', sysfs: true });
      expect(report.firmware.length).toBeGreaterThan(0);
      expect(report.microcode.map((m) => m.name).sort()).toEqual(['AuthenticAMD.bin', 'GenuineIntel.bin']);
      expect(report.meta).toEqual([{ key: '0xc', value: '{"hello": "meta"}' }]);
      expect(report.errors).toEqual([]);
    });
  }

  it('boots a schematic without extensions: only the schematic layer, no modules.dep', async () => {
    const version = release.versions.at(-1)!;
    const id = await createSchematic('customization:\n  extraKernelArgs: [console=ttyS0]\n');
    const kernel = join(work, 'kernel-plain');
    const initramfs = join(work, 'initramfs-plain.xz');
    await download(`${svc.url}/image/${id}/${version}/kernel-amd64`, kernel);
    await download(`${svc.url}/image/${id}/${version}/initramfs-amd64.xz`, initramfs);
    const cmdline = await (await fetch(`${svc.url}/image/${id}/${version}/cmdline-metal-amd64`)).text();
    const boot = await bootQemu({ kernel, initrd: initramfs, append: cmdline, timeoutMs: 90_000 });
    expect(boot.report.status, boot.console.slice(-3000)).toBe('ok');
    expect(boot.report.layers.map((l) => l.name)).toEqual(['schematic']);
    expect(boot.report.microcode).toEqual([]);
  });

  it('boots through a real iPXE client: QEMU\'s iPXE ROM fetches /pxe/... over user-mode networking', async () => {
    const version = release.versions.at(-1)!;
    // The guest reaches the host's loopback as 10.0.2.2, so the scripts must point there.
    const port = await freePort();
    const pxeSvc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_EXTERNAL_PXE_URL: `http://10.0.2.2:${port}/` }, `127.0.0.1:${port}`);
    try {
      const res = await fetch(`${pxeSvc.url}/schematics`, {
        method: 'POST',
        body: 'customization:\n  extraKernelArgs: [console=ttyS0, factory.test=ipxe]\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n',
      });
      const id = ((await res.json()) as { id: string }).id;
      const script = `http://10.0.2.2:${port}/pxe/${id}/${version}/metal-amd64`;
      const boot = await bootQemu({
        args: ['-netdev', `user,id=n0,bootfile=${script}`, '-device', 'virtio-net-pci,netdev=n0', '-boot', 'n'],
        timeoutMs: 150_000,
      });
      expect(boot.report.status, boot.console.slice(-3000)).toBe('ok');
      expect(boot.report.cmdline).toContain('factory.test=ipxe');
      expect(boot.report.layers.map((l) => l.name)).toEqual(['dummy-module', 'schematic', 'modules.dep']);
      expect(boot.report.modules.map((m) => m.modprobe)).toEqual(['ok']);
    } finally {
      await pxeSvc.stop();
      rmSync(pxeSvc.dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
