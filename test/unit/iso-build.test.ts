// The small rules behind the ISO builder: which boot loader an ISO or disk
// image gets (upstream's selectBootloader and the ISO quirks), GRUB quoting,
// the ISO grub.cfg text, and the volume "UUID" GRUB searches for.

import { describe, expect, it } from 'vitest';
import { isoGrubConfig } from '../../src/build/iso/grub-cfg.js';
import { isoGrubUuid } from '../../src/build/iso/grub-images.js';
import { grubQuote } from '../../src/build/grub/quote.js';
import { BOOTLOADERS } from '../../src/schematic/model.js';
import { selectBootloader } from '../../src/talos/bootloader.js';
import { parseVersionTolerant } from '../../src/talos/version.js';

const choice = (name: (typeof BOOTLOADERS)[number]): number => BOOTLOADERS.indexOf(name);

describe('selectBootloader', () => {
  const pick = (version: string, arch: 'amd64' | 'arm64', kind: 'iso' | 'image', asked: (typeof BOOTLOADERS)[number] = 'none', secureBoot = false) =>
    selectBootloader({ version: parseVersionTolerant(version), arch, kind, secureBoot, schematicChoice: choice(asked) });

  it('defaults: GRUB before 1.10, dual-boot on amd64 and sd-boot on arm64 after (pre-releases count as their release)', () => {
    expect(pick('v1.9.5', 'amd64', 'image')).toBe('grub');
    expect(pick('v1.9.5', 'arm64', 'image')).toBe('grub');
    expect(pick('v1.10.0-alpha.1', 'amd64', 'image')).toBe('dual-boot');
    expect(pick('v1.12.0', 'arm64', 'image')).toBe('sd-boot');
  });

  it("honours the schematic for disk images, and for ISOs only from 1.12; SecureBoot is always sd-boot", () => {
    expect(pick('v1.9.5', 'amd64', 'image', 'sd-boot')).toBe('sd-boot');
    expect(pick('v1.11.3', 'amd64', 'iso', 'grub')).toBe('dual-boot');
    expect(pick('v1.11.3', 'arm64', 'iso')).toBe('dual-boot');
    expect(pick('v1.9.5', 'amd64', 'iso', 'sd-boot')).toBe('grub');
    expect(pick('v1.12.0', 'amd64', 'iso', 'grub')).toBe('grub');
    expect(pick('v1.12.0', 'amd64', 'iso', 'sd-boot')).toBe('sd-boot');
    expect(pick('v1.12.0', 'amd64', 'image', 'grub', true)).toBe('sd-boot');
  });
});

describe('GRUB text', () => {
  it('escapes what GRUB treats specially, backslashes first', () => {
    expect(grubQuote('a\\b {c} $d & e|f;g<h>"i"')).toBe('a\\\\b \\{c\\} \\$d \\& e\\|f\\;g\\<h\\>\\"i\\"');
    expect(grubQuote('console=ttyS0 talos.config=http://x/?a=1')).toBe('console=ttyS0 talos.config=http://x/?a=1');
  });

  it('writes the ISO grub.cfg as upstream renders its template', () => {
    const withReset = isoGrubConfig({ cmdline: 'talos.platform=metal x=$y', resetEntry: true });
    expect(withReset).toBe(
      [
        'set default=0',
        'set timeout=3',
        '',
        'insmod all_video',
        '',
        'terminal_input console',
        'terminal_output console',
        '',
        'menuentry "Talos ISO" {',
        '\tset gfxmode=auto',
        '\tset gfxpayload=text',
        '\tlinux /boot/vmlinuz talos.platform=metal x=\\$y',
        '\tinitrd /boot/initramfs.xz',
        '}',
        '',
        'menuentry "Reset Talos installation" {',
        '\tset gfxmode=auto',
        '\tset gfxpayload=text',
        '\tlinux /boot/vmlinuz talos.platform=metal x=\\$y talos.experimental.wipe=system',
        '\tinitrd /boot/initramfs.xz',
        '}',
        '',
      ].join('\n'),
    );
    const withoutReset = isoGrubConfig({ cmdline: 'a', resetEntry: false });
    expect(withoutReset.endsWith('\tinitrd /boot/initramfs.xz\n}\n\n')).toBe(true);
    expect(withoutReset).not.toContain('Reset');
  });

  it("names the ISO the way GRUB's iso9660 driver prints its UUID", () => {
    expect(isoGrubUuid(new Date('2023-11-14T22:13:20Z'))).toBe('2023-11-14-22-13-20-00');
    expect(isoGrubUuid(new Date('1970-01-01T00:00:00.370Z'))).toBe('1970-01-01-00-00-00-37');
  });
});
