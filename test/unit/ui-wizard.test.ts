// The web UI's pure parts: escaping, the links of the result page, and the schematic text the wizard hands
// to the same parser as POST /schematics (whatever the user typed, the parsed
// schematic holds exactly those values).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSchematic } from '../../src/schematic/index.js';
import { html } from '../../src/http/ui/html.js';
import { resultLinks } from '../../src/http/ui/links.js';
import { findPlatform } from '../../src/talos/platforms.js';
import { parseVersion } from '../../src/talos/version.js';
import { overlayOptionsText, schematicYaml, splitCmdline, type Choices } from '../../src/http/ui/wizard.js';

const base: Choices = { extensions: [], extensionsSet: true, cmdline: '', cmdlineSet: true, bootloader: 'auto' };
const noCustom = { embeddedConfig: '', overlayOptions: '' };

describe('html', () => {
  it('escapes every interpolated text, keeps nested Html', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${`"'&`}">${'<script>alert(1)</script>'}${inner}${[1, '<', false, null]}</p>`.text).toBe(
      '<p title="&quot;&#39;&amp;">&lt;script&gt;alert(1)&lt;/script&gt;<b>&lt;i&gt;</b>1&lt;</p>',
    );
  });
});

describe('schematicYaml', () => {
  it('is the empty schematic when nothing is chosen', () => {
    expect(parseSchematic(schematicYaml(base, noCustom).text).id).toBe('376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba');
  });

  it('gives the ID of the same schematic written by hand', () => {
    const choices = { ...base, extensions: ['siderolabs/amd-ucode', 'siderolabs/gvisor'], cmdline: ' net.ifnames=0   console=ttyS0 ', bootloader: 'sd-boot' };
    const config = 'version: v1alpha1\nmachine:\n  type: worker\n';
    const ours = parseSchematic(schematicYaml(choices, { ...noCustom, embeddedConfig: config }).text);
    const byHand = parseSchematic(
      `customization:\n  extraKernelArgs: [net.ifnames=0, console=ttyS0]\n  systemExtensions:\n    officialExtensions: [siderolabs/amd-ucode, siderolabs/gvisor]\n  bootloader: sd-boot\n  embeddedMachineConfiguration: |\n    version: v1alpha1\n    machine:\n      type: worker\n`,
    );
    expect(ours.id).toBe(byHand.id);
  });

  it('places overlay options as the user wrote them, and finds them again in the canonical form', () => {
    const board = { name: 'rpi_generic', registry: 'ghcr.io', repository: 'siderolabs/sbc-raspberrypi', tag: 'v0.1.0', digest: 'sha256:00' };
    const { text, optionLines } = schematicYaml({ ...base, board }, { ...noCustom, overlayOptions: 'configTxtAppend: |\n  dtoverlay=x\nflag: yes\n' });
    const parsed = parseSchematic(text);
    expect(parsed.canonical).toBe(
      "overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\n    options:\n        configTxtAppend: |\n            dtoverlay=x\n        flag: 'yes'\ncustomization: {}\n",
    );
    expect(optionLines).toEqual([5, 7]);
    expect(overlayOptionsText(parsed.canonical)).toBe("configTxtAppend: |\n    dtoverlay=x\nflag: 'yes'\n");
    // A mistake in the options is reported on one of their lines.
    expect(() => parseSchematic(schematicYaml({ ...base, board }, { ...noCustom, overlayOptions: 'a: [' }).text)).toThrow(/line [56]/);
  });

  it('keeps any typed kernel argument and extension name exactly', () => {
    const token = fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }).filter((s) => splitCmdline(s).length === 1 && splitCmdline(s)[0] === s);
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), fc.array(token, { maxLength: 4 }), (args, extensions) => {
        const sorted = [...new Set(extensions)].sort();
        const parsed = parseSchematic(schematicYaml({ ...base, cmdline: args.join(' '), extensions: sorted }, noCustom).text);
        expect(parsed.schematic.customization.extraKernelArgs ?? []).toEqual(args);
        expect(parsed.schematic.customization.systemExtensions.officialExtensions ?? []).toEqual(sorted);
      }),
      { numRuns: 300 },
    );
  });
});

describe('resultLinks', () => {
  const id = 'a'.repeat(64);
  const bases = { externalUrl: 'https://factory.example.com/', externalPxeUrl: 'http://pxe.example.com/boot/' };
  const metal = findPlatform('metal')!;

  it('names every metal asset, the iPXE script and the per-platform installer (1.10 on)', () => {
    const links = resultLinks(bases, { schematicId: id, version: parseVersion('1.12.0'), target: 'metal', platform: metal, arch: 'amd64' });
    expect(links.assets.map((a) => a.file)).toEqual(['metal-amd64.iso', 'metal-amd64.raw.zst', 'metal-amd64.qcow2', 'metal-amd64-uki.efi', 'kernel-amd64', 'initramfs-amd64.xz', 'cmdline-metal-amd64']);
    expect(links.assets[0]).toEqual({
      label: 'ISO',
      file: 'metal-amd64.iso',
      url: `https://factory.example.com/image/${id}/v1.12.0/metal-amd64.iso`,
      sha256Url: `https://factory.example.com/image/${id}/v1.12.0/metal-amd64.iso.sha256`,
    });
    expect(links.pxeUrl).toBe(`http://pxe.example.com/boot/pxe/${id}/v1.12.0/metal-amd64`);
    expect(links.installer).toBe(`factory.example.com/metal-installer/${id}:v1.12.0`);
    expect(links.upgradeCommand).toBe(`talosctl upgrade --image factory.example.com/metal-installer/${id}:v1.12.0`);
    expect(links.insecureRegistry).toBe(false);
  });

  it('uses one installer before 1.10, no UKI before 1.5, and the platform disk format of clouds', () => {
    const old = resultLinks(bases, { schematicId: id, version: parseVersion('1.4.0'), target: 'metal', platform: metal, arch: 'arm64' });
    expect(old.installer).toBe(`factory.example.com/installer/${id}:v1.4.0`);
    expect(old.assets.map((a) => a.file)).not.toContain('metal-arm64-uki.efi');
    const aws = resultLinks({ ...bases, externalUrl: 'http://10.0.0.5:8080/' }, { schematicId: id, version: parseVersion('1.12.0'), target: 'cloud', platform: findPlatform('aws')!, arch: 'amd64' });
    expect(aws.assets.map((a) => a.file)).toEqual(['aws-amd64.raw.xz', 'aws-amd64-uki.efi', 'kernel-amd64', 'initramfs-amd64.xz', 'cmdline-aws-amd64']);
    expect(aws.pxeUrl).toBeUndefined();
    expect(aws.installer).toBe(`10.0.0.5:8080/aws-installer/${id}:v1.12.0`);
    expect(aws.insecureRegistry).toBe(true);
  });
});
