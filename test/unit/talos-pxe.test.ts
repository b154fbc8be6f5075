import { describe, expect, it } from 'vitest';
import { parsePxeTarget } from '../../src/talos/asset-path.js';
import { buildKernelCmdline } from '../../src/talos/kernel-args.js';
import { pxeScript } from '../../src/talos/pxe.js';
import { parsePathVersion } from '../../src/talos/version.js';

const EMPTY_SCHEMATIC_ID = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba';

/** What the /pxe handler does: parse the target as a cmdline asset, build it, fill in the template. */
function servePxe(pxeBaseUrl: string, schematicId: string, versionSegment: string, target: string, extraKernelArgs: string[] = []): string {
  const versionTag = versionSegment.startsWith('v') ? versionSegment : `v${versionSegment}`;
  const version = parsePathVersion(versionSegment);
  const request = parsePxeTarget(target);
  const cmdline = buildKernelCmdline({ version, ...request, extraKernelArgs });
  return pxeScript({ pxeBaseUrl, schematicId, versionTag, ...request, cmdline });
}

// Recorded from siderolabs/image-factory internal/integration/pxe_test.go (HEAD 26b95ca): the three
// expected scripts, and its fixupCmdline rewrites for v1.11.0 (selinux=1 after the IMA args, then no
// console=ttyS0 from 1.8 and no IMA args after 1.10).
const metalInsecureExpected =
  '#!ipxe\n\nimgfree\nkernel ENDPOINT/image/CONFIG/VERSION/kernel-amd64 talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512\ninitrd ENDPOINT/image/CONFIG/VERSION/initramfs-amd64.xz\nboot\n';
const equinixInsecureExpected =
  '#!ipxe\n\nimgfree\nkernel ENDPOINT/image/CONFIG/VERSION/kernel-amd64 talos.platform=equinixMetal console=ttyS1,115200n8 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512\ninitrd ENDPOINT/image/CONFIG/VERSION/initramfs-amd64.xz\nboot\n';
const securebootExpected =
  '#!ipxe\n\nimgfree\nkernel ENDPOINT/image/CONFIG/VERSION/metal-amd64-secureboot-uki.efi talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 lockdown=confidentiality\nboot\n';

function fixupFor111(script: string): string {
  return script
    .replaceAll('sha512\n', 'sha512 selinux=1\n')
    .replaceAll(' lockdown=confidentiality\n', ' selinux=1 lockdown=confidentiality\n')
    .replaceAll(' console=ttyS0', '')
    .replaceAll(' ima_template=ima-ng ima_appraise=fix ima_hash=sha512', '');
}

describe('pxeScript: upstream integration vectors', () => {
  const endpoint = 'http://factory.example:8080';
  const cases: Array<[string, string, string]> = [
    ['metal-amd64', metalInsecureExpected, 'metal-amd64'],
    ['metal-x86_64', metalInsecureExpected, 'metal-x86_64'],
    ['equinix', equinixInsecureExpected, 'equinixMetal-amd64'],
    ['secureboot-amd64', securebootExpected, 'metal-amd64-secureboot'],
  ];

  for (const version of ['v1.5.0', 'v1.11.0']) {
    it.each(cases)(`${version} %s`, (_name, template, target) => {
      const fixed = version === 'v1.11.0' ? fixupFor111(template) : template;
      const expected = fixed.replaceAll('ENDPOINT', endpoint).replaceAll('CONFIG', EMPTY_SCHEMATIC_ID).replaceAll('VERSION', version);
      expect(servePxe(endpoint, EMPTY_SCHEMATIC_ID, version, target)).toBe(expected);
    });
  }
});

describe('pxeScript: URL joining and text', () => {
  const input = {
    schematicId: EMPTY_SCHEMATIC_ID,
    versionTag: 'v1.9.0',
    platform: 'metal',
    arch: 'arm64' as const,
    secureBoot: false,
    cmdline: 'talos.platform=metal',
  };

  it('joins under a base path with or without a trailing slash (url.JoinPath)', () => {
    const a = pxeScript({ ...input, pxeBaseUrl: 'https://pxe.example/factory/' });
    const b = pxeScript({ ...input, pxeBaseUrl: 'https://pxe.example/factory' });
    expect(a).toBe(b);
    expect(a).toBe(
      `#!ipxe\n\nimgfree\nkernel https://pxe.example/factory/image/${EMPTY_SCHEMATIC_ID}/v1.9.0/kernel-arm64 talos.platform=metal\n` +
        `initrd https://pxe.example/factory/image/${EMPTY_SCHEMATIC_ID}/v1.9.0/initramfs-arm64.xz\nboot\n`,
    );
  });

  it('keeps credentials in the URLs (auth-enabled factories embed them)', () => {
    const script = pxeScript({ ...input, pxeBaseUrl: new URL('http://user:p%40ss@pxe.example') });
    expect(script).toContain(`kernel http://user:p%40ss@pxe.example/image/${EMPTY_SCHEMATIC_ID}/v1.9.0/kernel-arm64 `);
  });

  it('uses the version text of the request, with the leading v', () => {
    expect(servePxe('http://f', EMPTY_SCHEMATIC_ID, '1.9.0', 'metal-amd64')).toContain('http://f/image/' + EMPTY_SCHEMATIC_ID + '/v1.9.0/kernel-amd64 ');
  });

  it('uses the platform in the SecureBoot UKI name and embeds user args', () => {
    const script = servePxe('http://f', EMPTY_SCHEMATIC_ID, 'v1.14.0', 'nocloud-arm64-secureboot', ['-console', 'nomodeset']);
    expect(script).toBe(
      `#!ipxe\n\nimgfree\nkernel http://f/image/${EMPTY_SCHEMATIC_ID}/v1.14.0/nocloud-arm64-secureboot-uki.efi ` +
        'talos.platform=nocloud net.ifnames=0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never nomodeset\nboot\n',
    );
  });
});
