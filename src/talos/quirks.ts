// The Talos version quirk table: every place where the Talos version being
// built changes what a builder must produce. Compared like upstream's quirks:
// a pre-release counts as its release (1.10.0-alpha.1 has the 1.10 behaviour).

import { SemVer } from 'semver';
import type { TalosVersion } from './version.js';

function atLeast(version: TalosVersion, minimum: string): boolean {
  const release = new SemVer(`${version.major}.${version.minor}.${version.patch}`);
  return release.compare(minimum) >= 0;
}

export class Quirks {
  constructor(readonly version: TalosVersion) {}

  /** Overlays (SBC images) exist from 1.7. */
  supportsOverlay(): boolean {
    return atLeast(this.version, '1.7.0');
  }

  /** Kernel modules and firmware moved under /usr/lib in 1.10. */
  usesUsrLibPaths(): boolean {
    return atLeast(this.version, '1.10.0');
  }

  /** The installer is built from `installer-base` from 1.10 ("unified installer"), from `installer` before. */
  usesInstallerBase(): boolean {
    return atLeast(this.version, '1.10.0');
  }

  /** The initramfs (and extension segments) are zstd from 1.8, xz before. */
  initramfsCodec(): 'zstd' | 'xz' {
    return atLeast(this.version, '1.8.0') ? 'zstd' : 'xz';
  }
}
