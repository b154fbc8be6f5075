// BOOT, the XFS partition GRUB boots from: A/vmlinuz, A/initramfs.xz and
// grub/grub.cfg, made by the host's mkfs.xfs from a protofile (so no mount,
// no root), labelled BOOT with the label-derived UUID, everything owned by
// root. grub.cfg is written as Talos' GRUB config encoder writes it.
//
// Talos gives mkfs.xfs the xfsprogs LTS config of its version; Debian's
// xfsprogs 6.1 ships none newer than lts_6.1, so the same features are passed
// as options. lts_6.18 (Talos 1.13+) also turns on `exchange` and `parent`,
// which xfsprogs 6.1 does not know: those BOOT partitions lack only these.

import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { guidFromLabel } from '../../formats/gpt.js';
import type { Quirks } from '../../talos/quirks.js';
import { grubQuote } from '../grub/quote.js';
import { MKFS_XFS, runTool } from '../../host-tool.js';

export interface BootPartitionInput {
  /** The Talos version as tagged. */
  version: string;
  kernel: string;
  initramfs: string;
  cmdline: string;
  /** The "Reset Talos installation" entry (Talos >= 1.4). */
  resetEntry: boolean;
  xfsConfig: ReturnType<Quirks['xfsMkfsConfig']>;
  /** Bytes. */
  size: number;
  sectorSize: number;
  workDir: string;
  /** Kills mkfs.xfs when aborted. */
  signal?: AbortSignal;
}

function menuEntry(name: string, cmdline: string): string {
  return `menuentry "${name}" {\n  set gfxmode=auto\n  set gfxpayload=text\n  linux /A/vmlinuz ${cmdline}\n  initrd /A/initramfs.xz\n}\n`;
}

/** grub/grub.cfg on BOOT: entry A as default, 3 s, and the reset entry. */
export function bootGrubConfig(version: string, cmdline: string, resetEntry: boolean): string {
  const name = `A - Talos ${version}`;
  const quoted = grubQuote(cmdline);
  let text = `set default="${name}"\n\nset timeout=3\n\ninsmod all_video\n\nterminal_input console\nterminal_output console\n\n`;
  text += menuEntry(name, quoted);
  if (resetEntry) text += menuEntry('Reset Talos installation and return to maintenance mode', `${quoted} talos.experimental.wipe=system:EPHEMERAL,STATE`);
  return text;
}

/** The metadata features of an xfsprogs LTS config: reverse mapping and 64-bit extent counters from lts_6.6 on. */
function xfsFeatureArgs(config: BootPartitionInput['xfsConfig']): string[] {
  const later = config === 'lts_6.1' ? 0 : 1;
  return ['-m', `crc=1,finobt=1,inobtcount=1,bigtime=1,reflink=1,rmapbt=${later}`, '-i', `sparse=1,nrext64=${later}`];
}

/** A protofile line for a path: names and paths must not contain whitespace (ours never do). */
function protofile(grubCfg: string, input: BootPartitionInput): string {
  return [
    '/dev/null',
    '0 0',
    'd--755 0 0',
    'A d--755 0 0',
    `vmlinuz ---644 0 0 ${input.kernel}`,
    `initramfs.xz ---644 0 0 ${input.initramfs}`,
    '$',
    'grub d--700 0 0',
    `grub.cfg ---600 0 0 ${grubCfg}`,
    '$',
    '$',
    '',
  ].join('\n');
}

/** Writes BOOT.img (sparse, `size` bytes) and returns its path. */
export async function buildBootPartition(input: BootPartitionInput): Promise<string> {
  const grubCfg = join(input.workDir, 'grub.cfg');
  await writeFile(grubCfg, bootGrubConfig(input.version, input.cmdline, input.resetEntry));
  const proto = join(input.workDir, 'boot.proto');
  await writeFile(proto, protofile(grubCfg, input));
  const image = join(input.workDir, 'BOOT.img');
  await writeFile(image, '');
  await truncate(image, input.size);
  const args = ['-q', '-f', '-n', 'ftype=1', ...xfsFeatureArgs(input.xfsConfig), '-L', 'BOOT', '-m', `uuid=${guidFromLabel('BOOT').toLowerCase()}`, '-p', proto];
  if (input.sectorSize !== 512) args.push('-s', `size=${input.sectorSize}`);
  await runTool(MKFS_XFS, [...args, image], input.signal ? { signal: input.signal } : {});
  return image;
}
