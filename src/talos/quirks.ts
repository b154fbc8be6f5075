// The Talos version quirk table: every place where the Talos version being
// built changes what a builder must produce. Compared like upstream's quirks:
// a pre-release counts as its release (1.10.0-alpha.1 has the 1.10 behaviour).

import { SemVer } from 'semver';
import type { TalosVersion } from './version.js';

function atLeast(version: TalosVersion, minimum: string): boolean {
  const release = new SemVer(`${version.major}.${version.minor}.${version.patch}`);
  return release.compare(minimum) >= 0;
}

function atMost(version: TalosVersion, maximum: string): boolean {
  const release = new SemVer(`${version.major}.${version.minor}.${version.patch}`);
  return release.compare(maximum) <= 0;
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

  /** Where kernel modules live in the root filesystem and in extensions (no leading slash). */
  kernelModulesPath(): string {
    return this.usesUsrLibPaths() ? 'usr/lib/modules' : 'lib/modules';
  }

  /** Where firmware lives in extensions and, after the build, in the initramfs. */
  firmwarePath(): string {
    return this.usesUsrLibPaths() ? 'usr/lib/firmware' : 'lib/firmware';
  }

  /** A machine configuration can be embedded into images from 1.12. */
  supportsEmbeddedConfig(): boolean {
    return atLeast(this.version, '1.12.0');
  }

  /** The factory's `schematic` extension carries the schematic as extraInfo from 1.7. */
  schematicInExtraInfo(): boolean {
    return atLeast(this.version, '1.7.0');
  }

  /** The installer is built from `installer-base` from 1.10 ("unified installer"), from `installer` before. */
  usesInstallerBase(): boolean {
    return atLeast(this.version, '1.10.0');
  }

  /** Installer images are per platform (`<platform>-installer`) from 1.10; before, one `installer` for all. */
  platformInstallers(): boolean {
    return atLeast(this.version, '1.10.0');
  }

  /** UEFI boots systemd-boot + UKI from 1.10 (dual-boot on amd64, sd-boot only on arm64); GRUB before. */
  usesSdBootForUefi(): boolean {
    return atLeast(this.version, '1.10.0');
  }

  /** A schematic's `bootloader` applies to ISOs from 1.12 (disk images always honour it). */
  isoHonoursBootloader(): boolean {
    return atLeast(this.version, '1.12.0');
  }

  /** GRUB menus carry a "Reset Talos installation" entry from 1.4. */
  grubResetEntry(): boolean {
    return atLeast(this.version, '1.4.0');
  }

  /** BOOT grew from 1000 to 2000 MiB in 1.11. */
  doublesBootPartition(): boolean {
    return atLeast(this.version, '1.11.0');
  }

  /** The xfsprogs LTS config (mkfs.xfs -c options=/usr/share/xfsprogs/mkfs/<name>.conf) BOOT is made with. */
  xfsMkfsConfig(): 'lts_6.1' | 'lts_6.6' | 'lts_6.12' | 'lts_6.18' {
    if (atLeast(this.version, '1.13.0')) return 'lts_6.18';
    if (atLeast(this.version, '1.10.0')) return 'lts_6.12';
    if (atLeast(this.version, '1.8.0')) return 'lts_6.6';
    return 'lts_6.1';
  }

  /** Disk images carry no STATE and EPHEMERAL partitions from 1.8 (Talos makes them on first boot). */
  skipsDataPartitions(): boolean {
    return atLeast(this.version, '1.8.0');
  }

  /** The initramfs (and extension segments) are zstd from 1.8, xz before. */
  initramfsCodec(): 'zstd' | 'xz' {
    return atLeast(this.version, '1.8.0') ? 'zstd' : 'xz';
  }

  /** UKIs, and so SecureBoot outputs, exist from 1.5. */
  supportsUki(): boolean {
    return atLeast(this.version, '1.5.0');
  }

  /** The META environment value may be gzip'ed (when long) from 1.6.3. */
  supportsCompressedMeta(): boolean {
    return atLeast(this.version, '1.6.3');
  }

  /** ISOs carry `talos.halt_if_installed=1` from 1.8. */
  supportsHaltIfInstalled(): boolean {
    return atLeast(this.version, '1.8.0');
  }

  /** metal amd64 boots with `console=ttyS0 console=tty0` before 1.8, `console=tty0` after. */
  metalConsoleTtyS0(): boolean {
    return !atLeast(this.version, '1.8.0');
  }

  /** The IMA arguments are defaults up to 1.10.x (upstream's bound is 1.10.99, inclusive). */
  supportsIma(): boolean {
    return atMost(this.version, '1.10.99');
  }

  /** `selinux=1` is a default from 1.10. */
  supportsSelinux(): boolean {
    return atLeast(this.version, '1.10.0');
  }

  /** `module.sig_enforce=1` is a default from 1.12. */
  enforcesModuleSignatures(): boolean {
    return atLeast(this.version, '1.12.0');
  }

  /** `proc_mem.force_override=never` is a default from 1.13. */
  procMemOverrideNever(): boolean {
    return atLeast(this.version, '1.13.0');
  }

  /** `init_on_alloc=1` stops being a default at 1.14. */
  dropsInitOnAlloc(): boolean {
    return atLeast(this.version, '1.14.0');
  }

  /** `nvme_core.io_timeout=4294967295` moves from the defaults to the AWS platform arguments at 1.14. */
  nvmeIoTimeoutAwsOnly(): boolean {
    return atLeast(this.version, '1.14.0');
  }

  /** SecureBoot command lines carry `lockdown=confidentiality` before 1.14. */
  forcesLockdownConfidentiality(): boolean {
    return !atLeast(this.version, '1.14.0');
  }
}
