// The few Talos version quirks that change what a release's images hold. Kept
// here, apart from src/talos, on purpose: the development release is what the
// factory is tested against, so it must not inherit the factory's mistakes.

export interface TalosRelease {
  /** `v1.12.0`: the tag the images are published under. */
  tag: string;
  major: number;
  minor: number;
  patch: number;
  /** initramfs and squashfs compressed with zstd from 1.8, xz before. */
  zstd: boolean;
  /** Kernel modules live here (from the root): `usr/lib/modules` from 1.10, `lib/modules` before. */
  modulesPath: string;
  /** Firmware likewise: `usr/lib/firmware` from 1.10, `lib/firmware` before. */
  firmwarePath: string;
  /** The base installer image: `installer-base` from 1.10 ("unified installer"), `installer` before. */
  installerRepository: 'siderolabs/installer-base' | 'siderolabs/installer';
}

export function talosRelease(tag: string): TalosRelease {
  const m = /^v(\d+)\.(\d+)\.(\d+)$/.exec(tag);
  if (!m) throw new Error(`not a Talos release tag (vX.Y.Z): ${JSON.stringify(tag)}`);
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 1 || minor < 7) throw new Error(`${tag}: the development release covers Talos v1.7.0 and later`);
  const atLeast = (min: number): boolean => minor >= min;
  return {
    tag,
    major,
    minor,
    patch,
    zstd: atLeast(8),
    modulesPath: atLeast(10) ? 'usr/lib/modules' : 'lib/modules',
    firmwarePath: atLeast(10) ? 'usr/lib/firmware' : 'lib/firmware',
    installerRepository: atLeast(10) ? 'siderolabs/installer-base' : 'siderolabs/installer',
  };
}

export function compareReleases(a: TalosRelease, b: TalosRelease): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}
