// A planned disk as the file a user downloads: raw, qcow2 (8 KiB clusters,
// as upstream's qemu-img options), fixed VHD (force_size) or an OVA
// (stream-optimized VMDK with upstream's OVF), then compressed as the name
// asks: zstd -18, xz -0, gzip -6, or a sparse `disk.raw` in a gzip'ed tar.
// Everything streams from the sparse description; an uncompressed raw or VHD
// goes to a file with its zeros left as holes.

import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Codec, compressStream } from '../../formats/compression.js';
import { type SparseDisk, bytesExtent, rawDiskStream, sparseDisk, writeSparseFile } from '../../formats/disk/sparse.js';
import { createOva } from '../../formats/ova.js';
import { qcow2Stream } from '../../formats/qcow2.js';
import { sparseTarStream } from '../../formats/sparse-tar.js';
import { type VhdOptions, encodeVhdFooter, planVhd, vhdFixedStream } from '../../formats/vhd.js';
import type { Compression, DiskFormat } from '../../talos/platforms.js';

export interface DiskOutputOptions {
  format: DiskFormat;
  compression: Compression;
  sourceDateEpoch: number;
}

const QCOW2_CLUSTER = 8 * 1024;
const VHD_OPTIONS: VhdOptions = { forceSize: true };

async function formatted(disk: SparseDisk, options: DiskOutputOptions): Promise<Readable> {
  switch (options.format) {
    case 'raw':
      return options.compression === 'tar.gz' ? sparseTarStream('disk.raw', disk, { mtime: options.sourceDateEpoch }) : rawDiskStream(disk);
    case 'qcow2':
      return qcow2Stream(disk, { clusterSize: QCOW2_CLUSTER });
    case 'vhd':
      return vhdFixedStream(disk, VHD_OPTIONS);
    case 'ova':
      return createOva(disk, {
        ovf: {
          name: 'talos',
          product: { info: 'Talos Virtual Appliance', properties: [{ key: 'talos.config', label: 'Talos config data', description: 'Inline Talos config' }] },
        },
      });
  }
}

const CODECS: Record<Compression, { codec: Codec; level?: number; xzCheck?: 'crc64' }> = {
  none: { codec: 'none' },
  zst: { codec: 'zstd', level: 18 },
  xz: { codec: 'xz', level: 0, xzCheck: 'crc64' },
  gz: { codec: 'gzip', level: 6 },
  'tar.gz': { codec: 'gzip', level: 6 },
};

export async function diskImageStream(disk: SparseDisk, options: DiskOutputOptions): Promise<Readable> {
  const source = await formatted(disk, options);
  const { codec, level, xzCheck } = CODECS[options.compression];
  if (codec === 'none') return source;
  const compressor = compressStream(codec, { ...(level !== undefined && { level }), ...(xzCheck && { xzCheck }) });
  source.on('error', (error) => compressor.destroy(error));
  return source.pipe(compressor);
}

/**
 * Writes the file a user downloads. A fixed VHD is the raw disk plus a
 * footer, so like the raw disk it is written sparse: an 8 GiB Azure disk
 * takes the space of its data, not 8 GiB.
 */
export async function writeDiskImage(disk: SparseDisk, options: DiskOutputOptions, path: string): Promise<void> {
  if (options.compression === 'none' && options.format === 'raw') return writeSparseFile(disk, path);
  if (options.compression === 'none' && options.format === 'vhd') {
    const { currentSize, fileSize } = planVhd(disk.size, VHD_OPTIONS);
    return writeSparseFile(sparseDisk(fileSize, [...disk.extents, bytesExtent(currentSize, encodeVhdFooter(disk.size, VHD_OPTIONS))]), path);
  }
  await pipeline(await diskImageStream(disk, options), createWriteStream(path));
}
