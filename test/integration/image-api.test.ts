// The /image and /pxe routes' answers for everything but a successful boot:
// upstream's status codes and texts for bad input, headers, HEAD, ?filename=.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
let svc: ServiceProcess;
let id: string;

beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_EXTERNAL_URL: 'https://factory.example.com/base/' });
  const res = await fetch(`${svc.url}/schematics`, {
    method: 'POST',
    body: 'customization:\n  extraKernelArgs: [nolapic, -console, console=ttyS1]\n  systemExtensions:\n    officialExtensions: [siderolabs/hello-service]\n',
  });
  id = ((await res.json()) as { id: string }).id;
});
afterAll(() => svc.stop());

async function get(path: string, init?: RequestInit): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${svc.url}${path}`, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe('/image errors, as upstream answers them', () => {
  it.each([
    ['an unknown schematic', () => `/image/${'0'.repeat(64)}/${version}/kernel-amd64`, 404, `schematic ID "${'0'.repeat(64)}" not found\n`],
    ['a malformed file name', () => `/image/${id}/${version}/metal-amd64.ssd`, 400, 'error parsing profile from path: invalid profile path: "metal-amd64.ssd"\n'],
    ['a version the release lacks', () => `/image/${id}/v1.5.0/initramfs-amd64.xz`, 404, 'version 1.5.0 is not available\n'],
    ['secure boot without keys', () => `/image/${id}/${version}/cmdline-metal-amd64-secureboot`, 400, 'error enhancing profile from schematic: secure boot is disabled\n'],
  ])('%s', async (_what, path, status, body) => {
    const res = await get(path());
    expect(res.status).toBe(status);
    expect(res.body).toBe(body);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  });

  it('names an extension the version does not have', async () => {
    const created = await fetch(`${svc.url}/schematics`, {
      method: 'POST',
      body: 'customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/no-such-thing]\n',
    });
    const other = ((await created.json()) as { id: string }).id;
    const res = await get(`/image/${other}/${version}/initramfs-amd64.xz`);
    expect(res).toMatchObject({
      status: 400,
      body: `error enhancing profile from schematic: official extension "siderolabs/no-such-thing" is not available for Talos version ${version}\n`,
    });
  });

  it('refuses a dual-boot disk image for arm64 with a 400 that says what to use', async () => {
    const created = await fetch(`${svc.url}/schematics`, { method: 'POST', body: 'customization:\n  bootloader: dual-boot\n' });
    const dual = ((await created.json()) as { id: string }).id;
    const res = await get(`/image/${dual}/${version}/metal-arm64.raw.zst`);
    expect(res.status).toBe(400);
    expect(res.body).toContain('use grub or sd-boot');
  });

  it('answers 400 for a version that is not semver', async () => {
    const res = await get(`/image/${id}/1.12/kernel-amd64`);
    expect(res.status).toBe(400);
  });
});

describe('/image answers', () => {
  it('serves the cmdline with the schematic args applied (console overwritten, -key removed)', async () => {
    const res = await get(`/image/${id}/${version}/cmdline-metal-amd64`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="cmdline-metal-amd64"');
    // `-console` removed the platform's console=tty0; console=ttyS1 then came back at the end.
    expect(res.body).toMatch(/^talos\.platform=metal init_on_alloc=1 .* nolapic console=ttyS1$/);
    expect(res.body).not.toContain('console=tty0');
    expect(res.body).not.toContain('\n');
  });

  it('answers HEAD with the length GET sends, and honours ?filename=', async () => {
    const head = await fetch(`${svc.url}/image/${id}/${version}/initramfs-amd64.xz?filename=my.xz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-disposition')).toBe('attachment; filename="my.xz"');
    const body = Buffer.from(await (await fetch(`${svc.url}/image/${id}/${version}/initramfs-amd64.xz`)).arrayBuffer());
    expect(Number(head.headers.get('content-length'))).toBe(body.length);
  });

  it('builds the same initramfs bytes twice (reproducible)', async () => {
    const digest = async () =>
      createHash('sha256')
        .update(Buffer.from(await (await fetch(`${svc.url}/image/${id}/${version}/initramfs-amd64.xz`)).arrayBuffer()))
        .digest('hex');
    expect(await digest()).toBe(await digest());
  });

  it('serves the release kernel as it is', async () => {
    const res = await fetch(`${svc.url}/image/${id}/${version}/kernel-x86_64`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="kernel-x86_64"');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.subarray(0x202, 0x206).toString('latin1')).toBe('HdrS'); // a bzImage
  });
});

describe('/pxe', () => {
  it('writes upstream script text with the external URL and the cmdline', async () => {
    const res = await get(`/pxe/${id}/${version.slice(1)}/metal-x86_64`);
    expect(res.status).toBe(200);
    const cmdline = (await get(`/image/${id}/${version}/cmdline-metal-amd64`)).body;
    const base = `https://factory.example.com/base/image/${id}/${version}`;
    expect(res.body).toBe(`#!ipxe\n\nimgfree\nkernel ${base}/kernel-amd64 ${cmdline}\ninitrd ${base}/initramfs-amd64.xz\nboot\n`);
  });

  it('answers errors like /image', async () => {
    expect(await get(`/pxe/${id}/v1.5.0/metal-amd64`)).toMatchObject({ status: 404, body: 'version 1.5.0 is not available\n' });
    expect(await get(`/pxe/${id}/${version}/metal-amd64-secureboot`)).toMatchObject({ status: 400 });
    expect((await get(`/pxe/${id}/${version}/metal-amd64`, { method: 'HEAD' })).status).toBe(405);
  });
});
