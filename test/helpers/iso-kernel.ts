// The Linux kernel's isofs as an ISO oracle, inside QEMU: a tiny initramfs
// (busybox and the development release kernel's virtio, virtio_blk, cdrom and
// isofs modules) whose init mounts the image attached as a virtio disk, whole
// (/dev/vda) and as GPT partition 1 (/dev/vda1), and prints every entry with
// its Rock Ridge type, mode, size, SHA-256 and symlink target on the console
// (names and targets hex-encoded, so only ASCII crosses the serial line).

import { createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { cpioArchive, type CpioEntry } from '../../src/formats/cpio.js';
import type { DevReleaseInfo } from './dev-release.js';

/** Load order: each module after the ones it depends on. */
const MODULES = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'drivers/block/virtio_blk.ko',
  'drivers/cdrom/cdrom.ko',
  'fs/isofs/isofs.ko',
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1
# Names and targets go out hex-encoded: the console stays ASCII whatever the names are.
hex() { hexdump -ve '1/1 "%02x"'; }
for m in ${MODULES.map((m) => m.split('/').pop()).join(' ')}; do insmod /modules/$m || echo "ISO-PROBE-ERROR insmod $m"; done
i=0; while [ ! -b /dev/vda1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
for dev in vda vda1; do
  m=/mnt/$dev; mkdir -p $m
  if ! mount -t iso9660 -o ro /dev/$dev $m; then echo "ISO-PROBE-ERROR mount $dev"; continue; fi
  find $m -mindepth 1 | while IFS= read -r p; do
    rel=$(printf %s "\${p#$m/}" | hex)
    if [ -L "$p" ]; then echo "ISO-ENTRY|$dev|l|$(stat -c %a "$p")|0|-|$rel|$(readlink "$p" | tr -d '\n' | hex)"
    elif [ -d "$p" ]; then echo "ISO-ENTRY|$dev|d|$(stat -c %a "$p")|0|-|$rel|"
    else echo "ISO-ENTRY|$dev|f|$(stat -c %a "$p")|$(stat -c %s "$p")|$(sha256sum < "$p" | cut -d' ' -f1)|$rel|"
    fi
  done
  echo "ISO-PROBE-DONE $dev"
  umount $m
done
poweroff -f
`;

function busybox(release: DevReleaseInfo): string {
  const extracted = join(release.outDir, 'debs', 'extracted');
  const pkg = readdirSync(extracted).find((name) => name.startsWith('busybox-static'));
  const path = pkg ? join(extracted, pkg, 'bin', 'busybox') : '/bin/busybox';
  if (!existsSync(path)) throw new Error('no static busybox in the development release or on the host (apt-get install busybox-static)');
  return path;
}

function fileEntry(name: string, path: string, mode: number): CpioEntry {
  return { name, type: 'file', mode, size: statSync(path).size, source: path };
}

/** Writes the probe initramfs (an uncompressed newc cpio) to `out`. */
export async function buildIsoProbeInitramfs(release: DevReleaseInfo, kernel: string, out: string): Promise<void> {
  const modules = join(dirname(dirname(kernel)), 'lib', 'modules', release.kernel.release, 'kernel');
  const entries: CpioEntry[] = [
    { name: 'bin', type: 'directory' },
    fileEntry('bin/busybox', busybox(release), 0o755),
    { name: 'dev', type: 'directory' },
    { name: 'init', type: 'file', mode: 0o755, size: Buffer.byteLength(INIT), source: Buffer.from(INIT) },
    { name: 'mnt', type: 'directory' },
    { name: 'modules', type: 'directory' },
    ...MODULES.map((m) => fileEntry(`modules/${m.split('/').pop()}`, join(modules, m), 0o644)),
    { name: 'proc', type: 'directory' },
    { name: 'sys', type: 'directory' },
  ];
  await pipeline(cpioArchive(entries), createWriteStream(out));
}

export interface ProbedEntry {
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  size: number;
  sha256?: string;
  path: string;
  target?: string;
}

export interface IsoProbe {
  /** Entries per device (vda, vda1), sorted by path bytes. */
  devices: Record<string, ProbedEntry[]>;
  done: string[];
  errors: string[];
}

export function parseIsoProbe(console: string): IsoProbe {
  const probe: IsoProbe = { devices: {}, done: [], errors: [] };
  const fromHex = (hex: string): string => Buffer.from(hex, 'hex').toString('utf8');
  for (const raw of console.split('\n')) {
    // Terminal control sequences may precede a record on its line.
    const line = raw.slice(Math.max(0, raw.search(/ISO-(ENTRY|PROBE)/)));
    if (line.startsWith('ISO-PROBE-DONE ')) probe.done.push(line.slice(15).trim());
    else if (line.startsWith('ISO-PROBE-ERROR ')) probe.errors.push(line.slice(16).trim());
    else if (line.startsWith('ISO-ENTRY|')) {
      const [, dev, type, mode, size, sha, path, target] = line.trim().split('|');
      const entry: ProbedEntry = {
        type: type === 'd' ? 'directory' : type === 'l' ? 'symlink' : 'file',
        mode: parseInt(mode!, 8),
        size: Number(size),
        path: fromHex(path!),
        ...(type === 'f' ? { sha256: sha! } : {}),
        ...(type === 'l' ? { target: fromHex(target!) } : {}),
      };
      (probe.devices[dev!] ??= []).push(entry);
    }
  }
  for (const list of Object.values(probe.devices)) list.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return probe;
}
