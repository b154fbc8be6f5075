import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentTypeFor, InvalidAssetPathError, parseAssetPath, parsePxeTarget, type AssetRequest } from '../../src/talos/asset-path.js';
import { goQuote } from '../../src/talos/go-quote.js';
import { allPlatforms, DEFAULT_RAW_DISK_SIZE, MIN_RAW_DISK_SIZE } from '../../src/talos/platforms.js';

const MiB = 1024 * 1024;

function request(path: string, fields: Omit<AssetRequest, 'fileName' | 'secureBoot'> & { secureBoot?: boolean }): [string, AssetRequest] {
  return [path, { secureBoot: false, ...fields, fileName: path }];
}

// Recorded from siderolabs/image-factory internal/profile/profile_test.go (TestParseFromPath, HEAD 26b95ca).
describe('parseAssetPath: upstream vectors', () => {
  const ok: Array<[string, AssetRequest]> = [
    request('kernel-amd64', { kind: 'kernel', platform: 'metal', arch: 'amd64' }),
    request('kernel-arm64', { kind: 'kernel', platform: 'metal', arch: 'arm64' }),
    request('cmdline-metal-arm64', { kind: 'cmdline', platform: 'metal', arch: 'arm64' }),
    request('cmdline-aws-amd64-secureboot', { kind: 'cmdline', platform: 'aws', arch: 'amd64', secureBoot: true }),
    request('initramfs-amd64.xz', { kind: 'initramfs', platform: 'metal', arch: 'amd64' }),
    request('metal-arm64-secureboot.iso', { kind: 'iso', platform: 'metal', arch: 'arm64', secureBoot: true }),
    request('metal-amd64-secureboot-uki.efi', { kind: 'uki', platform: 'metal', arch: 'amd64', secureBoot: true }),
    request('metal-amd64-uki.efi', { kind: 'uki', platform: 'metal', arch: 'amd64' }),
    request('installer-amd64.tar', { kind: 'installer', platform: 'metal', arch: 'amd64' }),
    request('metal-installer-amd64.tar', { kind: 'installer', platform: 'metal', arch: 'amd64' }),
    request('digital-ocean-installer-amd64.tar', { kind: 'installer', platform: 'digital-ocean', arch: 'amd64' }),
    request('metal-arm64.raw.xz', {
      kind: 'image',
      platform: 'metal',
      arch: 'arm64',
      diskFormat: 'raw',
      diskFormatOptions: '',
      compression: 'xz',
      diskSize: 1246 * MiB,
    }),
    request('metal-arm64.raw.zst', {
      kind: 'image',
      platform: 'metal',
      arch: 'arm64',
      diskFormat: 'raw',
      diskFormatOptions: '',
      compression: 'zst',
      diskSize: 1246 * MiB,
    }),
    request('aws-amd64-secureboot.qcow2.tar.gz', {
      kind: 'image',
      platform: 'aws',
      arch: 'amd64',
      secureBoot: true,
      diskFormat: 'qcow2',
      diskFormatOptions: 'cluster_size=8k',
      compression: 'tar.gz',
      diskSize: 8192 * MiB,
    }),
    request('azure-amd64.vhd', {
      kind: 'image',
      platform: 'azure',
      arch: 'amd64',
      diskFormat: 'vhd',
      diskFormatOptions: 'subformat=fixed,force_size',
      compression: 'none',
      diskSize: 8192 * MiB,
    }),
    request('digital-ocean-amd64.raw.gz', {
      kind: 'image',
      platform: 'digital-ocean',
      arch: 'amd64',
      diskFormat: 'raw',
      diskFormatOptions: '',
      compression: 'gz',
      diskSize: 8192 * MiB,
    }),
  ];
  it.each(ok)('%s', (path, expected) => {
    expect(parseAssetPath(path)).toEqual(expected);
  });

  const bad: Array<[string, string]> = [
    ['kernel-foo', 'invalid architecture: "foo"'],
    ['metal-rpi_generic-arm64.raw.xz', 'invalid architecture: "rpi_generic-arm64"'],
    // image-factory.md §1: the 400 body for an unknown disk format.
    ['metal-amd64.ssd', 'invalid profile path: "metal-amd64.ssd"'],
  ];
  it.each(bad)('%s fails', (path, message) => {
    expect(() => parseAssetPath(path)).toThrow(new InvalidAssetPathError(message));
  });
});

// Derived from reading ParseFromPath (rule order, suffix cutting, default profiles); no upstream test covers these.
describe('parseAssetPath: rule order and details', () => {
  it('maps the iPXE architectures to amd64', () => {
    expect(parseAssetPath('kernel-x86_64').arch).toBe('amd64');
    expect(parseAssetPath('cmdline-metal-i386').arch).toBe('amd64');
    expect(parseAssetPath('nocloud-x86_64.raw.xz').arch).toBe('amd64');
  });

  it('quotes what is left after cutting the compression suffix', () => {
    expect(() => parseAssetPath('metal-amd64.ssd.zst')).toThrow('invalid profile path: "metal-amd64.ssd"');
    expect(() => parseAssetPath('metal-amd64.tar')).toThrow('invalid profile path: "metal-amd64.tar"');
    expect(() => parseAssetPath('metal-amd64.raw.bz2')).toThrow('invalid profile path: "metal-amd64.raw.bz2"');
    expect(() => parseAssetPath('')).toThrow('invalid profile path: ""');
  });

  it('reports platform-arch errors after cutting -secureboot', () => {
    expect(() => parseAssetPath('cmdline-metal')).toThrow('invalid platform-arch: "metal"');
    expect(() => parseAssetPath('metal-secureboot.iso')).toThrow('invalid platform-arch: "metal"');
    expect(() => parseAssetPath('digital-ocean.raw')).toThrow('invalid architecture: "ocean"');
    expect(() => parseAssetPath('cmdline-metal-amd64.iso')).toThrow('invalid architecture: "amd64.iso"');
  });

  it('quotes like Go %q', () => {
    expect(() => parseAssetPath('kernel-"a"\n\u0001é')).toThrow('invalid architecture: "\\"a\\"\\n\\x01é"');
    expect(goQuote('a\tb\u007f\u00a0\u{1f600}\u200b')).toBe('"a\\tb\\x7f\\u00a0\u{1f600}\\u200b"');
  });

  it('falls through when initramfs- or installer- lack their suffix', () => {
    expect(parseAssetPath('initramfs-amd64.raw')).toMatchObject({ kind: 'image', platform: 'initramfs', arch: 'amd64' });
    expect(() => parseAssetPath('initramfs-amd64.zst')).toThrow('invalid profile path: "initramfs-amd64"');
    expect(parseAssetPath('installer-amd64.iso')).toMatchObject({ kind: 'iso', platform: 'installer' });
    expect(parseAssetPath('installer-arm64-secureboot.tar')).toMatchObject({ kind: 'installer', platform: 'metal', arch: 'arm64', secureBoot: true });
    expect(parseAssetPath('aws-installer-arm64-secureboot.tar')).toMatchObject({ kind: 'installer', platform: 'aws', arch: 'arm64', secureBoot: true });
    expect(() => parseAssetPath('installer-foo.tar')).toThrow('invalid architecture: "foo"');
  });

  it('does not validate the platform name', () => {
    expect(parseAssetPath('foo-amd64.iso')).toMatchObject({ kind: 'iso', platform: 'foo' });
    expect(parseAssetPath('-amd64.raw')).toMatchObject({ kind: 'image', platform: '', diskSize: DEFAULT_RAW_DISK_SIZE });
    expect(parseAssetPath('digital-arm64-uki.efi')).toMatchObject({ kind: 'uki', platform: 'digital', arch: 'arm64' });
  });

  it('takes size and options from the platform default profile (image-factory.md §3)', () => {
    const size = (platform: string) => parseAssetPath(`${platform}-amd64.raw`).diskSize;
    for (const p of ['metal', 'nocloud', 'openstack', 'hcloud', 'scaleway', 'opennebula', 'akamai', 'alibabacloud']) {
      expect(size(p), p).toBe(MIN_RAW_DISK_SIZE);
    }
    for (const p of ['aws', 'gcp', 'vmware', 'upcloud', 'vultr', 'digital-ocean', 'cloudstack', 'azure', 'oracle']) {
      expect(size(p), p).toBe(DEFAULT_RAW_DISK_SIZE);
    }
    expect(parseAssetPath('exoscale-arm64.qcow2')).toMatchObject({ diskSize: 10240 * MiB, diskFormatOptions: 'cluster_size=8k', compression: 'none' });
    expect(parseAssetPath('exoscale-arm64.raw').diskFormatOptions).toBe('cluster_size=8k');
    expect(parseAssetPath('oracle-arm64.raw.zst').diskFormatOptions).toBe('cluster_size=8k');
    expect(parseAssetPath('metal-amd64.qcow2').diskFormatOptions).toBe('cluster_size=8k');
    expect(parseAssetPath('vmware-amd64.ova')).toMatchObject({ diskFormat: 'ova', diskFormatOptions: '', diskSize: DEFAULT_RAW_DISK_SIZE });
    // No default profile under these names: 8192 MiB. (Upstream has profiles named iso and installer without
    // image options and crashes on them; here they are plain unknown platforms.)
    for (const p of ['equinixMetal', 'packet', 'container', 'iso', 'installer', 'foo']) expect(size(p), p).toBe(DEFAULT_RAW_DISK_SIZE);
  });

  it('parses every platform list URL (talos platforms.go DiskImageSuffix)', () => {
    for (const platform of allPlatforms()) {
      const listing = platform.listing;
      if (!listing?.diskImageSuffix) continue;
      for (const arch of listing.architectures) {
        const parsed = parseAssetPath(`${platform.name}-${arch}.${listing.diskImageSuffix}`);
        expect(parsed).toMatchObject({ kind: 'image', platform: platform.name, arch });
        if (listing.secureBootSupported) {
          expect(parseAssetPath(`${platform.name}-${arch}-secureboot.${listing.diskImageSuffix}`).secureBoot).toBe(true);
        }
      }
    }
  });

  it('round-trips generated names', () => {
    const platformArb = fc.constantFrom('metal', 'aws', 'digital-ocean', 'gcp', 'nocloud', 'x');
    fc.assert(
      fc.property(
        platformArb,
        fc.constantFrom('amd64' as const, 'arm64' as const),
        fc.boolean(),
        fc.constantFrom('raw', 'qcow2', 'vhd', 'ova'),
        fc.constantFrom(['none', ''], ['zst', '.zst'], ['xz', '.xz'], ['gz', '.gz'], ['tar.gz', '.tar.gz']),
        (platform, arch, secureBoot, disk, [compression, suffix]) => {
          const name = `${platform}-${arch}${secureBoot ? '-secureboot' : ''}.${disk}${suffix}`;
          const parsed = parseAssetPath(name);
          return (
            parsed.kind === 'image' &&
            parsed.platform === platform &&
            parsed.arch === arch &&
            parsed.secureBoot === secureBoot &&
            parsed.diskFormat === disk &&
            parsed.compression === compression
          );
        },
      ),
    );
  });

  // Pieces of the grammar, so that generated names hit every rule and its failures.
  const pieceArb = fc.constantFrom(
    'metal', 'aws', 'digital', '-', 'ocean-', 'amd64', 'arm64', 'x86_64', 'i386', '.raw', '.qcow2', '.vhd', '.ova', '.zst',
    '.xz', '.gz', '.tar', '.tar.gz', '.iso', '-uki.efi', 'installer-', '-installer-', 'cmdline-', 'kernel-', 'initramfs-',
    '-secureboot', 'é', '"', '\n', '\u0000',
  );

  it('either parses or throws InvalidAssetPathError, for any input', () => {
    fc.assert(
      fc.property(fc.array(pieceArb, { maxLength: 8 }).map((pieces) => pieces.join('')), (path) => {
        try {
          parseAssetPath(path);
          return true;
        } catch (error) {
          return error instanceof InvalidAssetPathError;
        }
      }),
    );
  });
});

// image-factory pxe.go: the PXE path is parsed as "cmdline-" + path.
describe('parsePxeTarget', () => {
  it('parses <platform>-<arch>[-secureboot]', () => {
    expect(parsePxeTarget('metal-amd64')).toEqual({ kind: 'cmdline', platform: 'metal', arch: 'amd64', secureBoot: false, fileName: 'cmdline-metal-amd64' });
    expect(parsePxeTarget('metal-x86_64')).toMatchObject({ platform: 'metal', arch: 'amd64' });
    expect(parsePxeTarget('equinixMetal-amd64')).toMatchObject({ platform: 'equinixMetal', arch: 'amd64' });
    expect(parsePxeTarget('metal-amd64-secureboot')).toMatchObject({ platform: 'metal', arch: 'amd64', secureBoot: true });
    expect(parsePxeTarget('digital-ocean-amd64')).toMatchObject({ platform: 'digital-ocean' });
    expect(() => parsePxeTarget('metal')).toThrow('invalid platform-arch: "metal"');
    expect(() => parsePxeTarget('metal-riscv64')).toThrow('invalid architecture: "riscv64"');
  });
});

// image-factory internal/mime/mime.go with Go's built-in table only (the upstream container has no
// /etc/mime.types and no shared-mime-info globs2); the first six rows are mime_test.go's own vectors
// that do not depend on the system tables.
describe('contentTypeFor', () => {
  const table: Array<[string, string]> = [
    ['file.efi', 'application/efi'],
    ['file.unknown', 'application/octet-stream'],
    ['file.iso', 'application/x-iso9660-image'],
    ['file.tar.gz', 'application/gzip'],
    ['file.qcow2', 'application/x-qemu-disk'],
    ['file.xz', 'application/x-xz'],
    ['metal-amd64-secureboot-uki.efi', 'application/efi'],
    ['initramfs-amd64.xz', 'application/x-xz'],
    ['kernel-amd64', 'application/octet-stream'],
    ['cmdline-metal-amd64', 'application/octet-stream'],
    ['installer-amd64.tar', 'application/octet-stream'],
    ['metal-amd64.raw.zst', 'application/octet-stream'],
    ['metal-amd64.raw', 'application/octet-stream'],
    ['azure-amd64.vhd', 'application/octet-stream'],
    ['vmware-amd64.ova', 'application/octet-stream'],
    ['digital-ocean-amd64.raw.gz', 'application/gzip'],
    ['dir.d/kernel-amd64', 'application/octet-stream'],
  ];
  it.each(table)('%s', (name, type) => {
    expect(contentTypeFor(name)).toBe(type);
  });
});
