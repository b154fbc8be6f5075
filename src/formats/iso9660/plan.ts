// Lays an image out before a byte is written: the tree (tree-layout.ts), the
// block of every file, the patched boot image, the volume descriptors, the
// boot catalog, the appended ESP and the MBR + GPT. Everything but file
// contents is decided here (file sizes come from stat), so the writer can
// stream the image front to back and the final size is known up front.
//
// Block map (2048-byte blocks; P = 16 with a GPT, else absent):
//   0..15          system area (MBR + primary GPT when hybrid, else zeros)
//   16, 17, 18     primary descriptor, El Torito boot record, terminator
//   P+16, P+17     partition-relative primary descriptor and terminator
//   next           boot catalog
//   tree           directories, continuation pool, L and M path tables
//   tree'          the same with partition-relative addresses (P only)
//   files          boot images first, then every file in path-table order
//   ESP            appended partition 2 (hybrid.esp)
//   end            backup GPT in the image's last 63 sectors

import { promises as fs } from 'node:fs';
import { BLOCK, FIRST_DESCRIPTOR, PARTITION_OFFSET_BLOCKS, SECTOR, SECTORS_PER_BLOCK, PLATFORM_EFI, PLATFORM_X86 } from './constants.js';
import { bootRecordDescriptor, primaryDescriptor, terminatorDescriptor, type VolumeIdentity } from './descriptors.js';
import { rootRecord } from './directory.js';
import { type CatalogEntry, encodeCatalog, patchBootInfoTable, patchGrub2BootInfo, paddedSectors } from './el-torito.js';
import { ceilDiv, recordDate } from './encoding.js';
import { Iso9660Error } from './errors.js';
import { seededGuid } from './guid.js';
import { DEFAULT_LOAD_SECTORS, DEFAULT_VOLUME_ID, type IsoWriteOptions } from './options.js';
import {
  ATTR_READ_ONLY,
  ATTR_REQUIRED,
  BASIC_DATA_TYPE,
  ESP_TYPE,
  GPT_BACKUP_SECTORS,
  encodeGpt,
  encodeProtectiveMbr,
  type EncodedGpt,
  type GptPartition,
} from './system-area.js';
import type { IsoFileSource, IsoTree } from './tree.js';
import { encodeTree, layOutTree, sourceSize, type FilePlan, type TreeLayout } from './tree-layout.js';

export type { FilePlan } from './tree-layout.js';

/** A cylinder of the 64 heads x 32 sectors geometry: 1 MiB. */
const CYLINDER_BLOCKS = (64 * 32) / SECTORS_PER_BLOCK;
/** Boot images are patched in memory; anything bigger than this is not a boot image. */
const MAX_BOOT_IMAGE = 64 << 20;

/** A region of the image, in write order. */
export type Region =
  | { at: number; kind: 'bytes'; data: Buffer }
  | { at: number; kind: 'file'; file: FilePlan }
  | { at: number; kind: 'esp'; source: IsoFileSource; size: number };

export interface IsoPlan {
  /** Image size in bytes (a whole number of 2048-byte blocks). */
  size: number;
  /** Regions by increasing byte offset; the gaps between them are zeros. */
  regions: Region[];
  volumeBlocks: number;
  /** Where the ISO filesystem's data ends (the appended ESP starts here). */
  isoEndBlock: number;
  catalogBlock?: number;
  /** The appended ESP: first block, source size, and blocks it takes with its padding. */
  esp?: { block: number; size: number; blocks: number };
  gpt?: { diskGuid: string; partitions: GptPartition[] };
}

async function sourceBytes(source: IsoFileSource): Promise<Buffer> {
  return 'data' in source ? Buffer.from(source.data) : fs.readFile(source.path);
}

function bootFile(layout: TreeLayout, path: string, what: string): FilePlan {
  const file = layout.byPath.get(path.replace(/^\/+/, ''));
  if (!file) throw new Iso9660Error(`iso9660: the ${what} boot image ${path} is not a regular file in the tree`);
  if (file.size === 0) throw new Iso9660Error(`iso9660: the ${what} boot image ${path} is empty`);
  return file;
}

export async function planIso(tree: IsoTree, options: IsoWriteOptions = {}): Promise<IsoPlan> {
  const date = options.date ?? new Date(0);
  const fileDate = options.fileDate ?? date;
  const identity: VolumeIdentity = {
    systemId: options.systemId ?? '',
    volumeId: options.volumeId ?? DEFAULT_VOLUME_ID,
    volumeSetId: options.volumeSetId ?? '',
    publisherId: options.publisherId ?? '',
    preparerId: options.preparerId ?? '',
    applicationId: options.applicationId ?? '',
    created: date,
    modified: date,
  };
  const recDate = recordDate(fileDate);
  const layout = await layOutTree(tree, fileDate);
  const hybrid = options.hybrid;
  const shift = hybrid ? PARTITION_OFFSET_BLOCKS : 0;

  const bios = options.bios;
  const loadSectors = bios?.loadSectors ?? DEFAULT_LOAD_SECTORS;
  if (!Number.isInteger(loadSectors) || loadSectors < 1 || loadSectors > 0xffff) throw new Iso9660Error(`iso9660: load size ${loadSectors} is not 1..65535 sectors`);
  const biosFile = bios ? bootFile(layout, bios.image, 'BIOS') : undefined;
  if (biosFile && biosFile.size > MAX_BOOT_IMAGE) throw new Iso9660Error(`iso9660: the BIOS boot image ${bios!.image} is larger than ${MAX_BOOT_IMAGE} bytes`);
  const efi = options.efi;
  const efiFile = efi && 'image' in efi ? bootFile(layout, efi.image, 'EFI') : undefined;
  const espSource = hybrid?.esp;
  if (efi && 'appendedPartition' in efi && !espSource) throw new Iso9660Error('iso9660: an EFI entry on the appended partition needs hybrid.esp');
  if (hybrid?.grub2Mbr && !biosFile) throw new Iso9660Error('iso9660: the GRUB MBR patch needs a BIOS boot image');
  const espSize = espSource ? await sourceSize(espSource, 'the ESP image') : 0;
  if (espSource && espSize === 0) throw new Iso9660Error('iso9660: the ESP image is empty');
  const elTorito = biosFile !== undefined || efi !== undefined;

  // Descriptors, catalog and the tree copies.
  let next = FIRST_DESCRIPTOR;
  const pvdBlock = next++;
  const bootRecordBlock = elTorito ? next++ : undefined;
  const terminatorBlock = next++;
  const relativePvdBlock = hybrid ? shift + FIRST_DESCRIPTOR : undefined;
  if (relativePvdBlock !== undefined) next = relativePvdBlock + 2;
  const catalogBlock = elTorito ? next++ : undefined;
  const treeStart = next;
  next += layout.blocks;
  const relativeTreeStart = hybrid ? next : undefined;
  if (hybrid) next += layout.blocks;

  // File data: boot images first (as mkisofs does), then path-table order.
  const boots = [biosFile, efiFile].filter((f): f is FilePlan => f !== undefined);
  const ordered = [...new Set([...boots, ...layout.files])];
  for (const file of ordered) {
    if (file.size === 0) continue;
    file.block = next;
    next += ceilDiv(file.size, BLOCK);
  }
  // With cylinder alignment the ISO partition ends, and the ESP starts and ends, on 1 MiB boundaries.
  const align = hybrid?.cylinderAlign ? CYLINDER_BLOCKS : 1;
  const isoEndBlock = ceilDiv(next, align) * align;
  next = isoEndBlock;
  const espBlock = espSource ? next : undefined;
  const espBlocks = ceilDiv(ceilDiv(espSize, BLOCK), align) * align;
  const espSectors = espBlocks * SECTORS_PER_BLOCK;
  next += espBlocks;
  const totalSectors = hybrid ? ceilDiv(next * SECTORS_PER_BLOCK + GPT_BACKUP_SECTORS, SECTORS_PER_BLOCK) * SECTORS_PER_BLOCK : next * SECTORS_PER_BLOCK;
  const volumeBlocks = totalSectors / SECTORS_PER_BLOCK;

  if (biosFile) {
    const image = await sourceBytes(biosFile.source);
    if (image.length !== biosFile.size) throw new Iso9660Error(`iso9660: the BIOS boot image ${bios!.image} changed size while the image was planned`);
    if (bios!.grub2BootInfo) patchGrub2BootInfo(image, biosFile.block);
    if (bios!.bootInfoTable ?? true) patchBootInfoTable(image, pvdBlock, biosFile.block);
    biosFile.data = image;
  }

  const regions: Region[] = [];
  const bytes = (block: number, data: Buffer): void => void regions.push({ at: block * BLOCK, kind: 'bytes', data });

  let gpt: IsoPlan['gpt'];
  let encodedGpt: EncodedGpt | undefined;
  if (hybrid) {
    const partitions: GptPartition[] = [
      {
        number: 1,
        type: BASIC_DATA_TYPE,
        guid: seededGuid(hybrid.guidSeed, 'partition-1'),
        firstSector: shift * SECTORS_PER_BLOCK,
        lastSector: isoEndBlock * SECTORS_PER_BLOCK - 1,
        attributes: ATTR_REQUIRED | ATTR_READ_ONLY,
        name: 'ISO9660',
      },
    ];
    if (espBlock !== undefined) {
      partitions.push({
        number: 2,
        type: ESP_TYPE,
        guid: seededGuid(hybrid.guidSeed, 'partition-2'),
        firstSector: espBlock * SECTORS_PER_BLOCK,
        lastSector: espBlock * SECTORS_PER_BLOCK + espSectors - 1,
        attributes: 0n,
        name: 'EFI',
      });
    }
    gpt = { diskGuid: seededGuid(hybrid.guidSeed, 'disk'), partitions };
    encodedGpt = encodeGpt({ ...gpt, totalSectors, firstUsable: shift * SECTORS_PER_BLOCK });
    const mbr = encodeProtectiveMbr(totalSectors, hybrid.mbrBootCode, hybrid.grub2Mbr ? biosFile!.block : undefined);
    regions.push({ at: 0, kind: 'bytes', data: Buffer.concat([mbr, encodedGpt.primary]) });
  }

  const descriptor = (start: number, treeShift: number, blocks: number): Buffer =>
    primaryDescriptor({
      identity,
      volumeBlocks: blocks,
      pathTableSize: layout.pathTableSize,
      lPathTable: start + layout.pathTableOffset - treeShift,
      mPathTable: start + layout.pathTableOffset + layout.pathTableBlocks - treeShift,
      rootRecord: rootRecord(start - treeShift, layout.dirs[0]!.blocks * BLOCK, recDate),
    });
  bytes(pvdBlock, descriptor(treeStart, 0, volumeBlocks));
  if (bootRecordBlock !== undefined) bytes(bootRecordBlock, bootRecordDescriptor(catalogBlock!));
  bytes(terminatorBlock, terminatorDescriptor());
  if (relativePvdBlock !== undefined) {
    bytes(relativePvdBlock, descriptor(relativeTreeStart!, shift, isoEndBlock - shift));
    bytes(relativePvdBlock + 1, terminatorDescriptor());
  }
  if (catalogBlock !== undefined) {
    const entries: CatalogEntry[] = [];
    if (biosFile) entries.push({ platform: PLATFORM_X86, sectorCount: loadSectors, block: biosFile.block });
    if (efiFile) entries.push({ platform: PLATFORM_EFI, sectorCount: paddedSectors(efiFile.size), block: efiFile.block });
    else if (espBlock !== undefined && efi) entries.push({ platform: PLATFORM_EFI, sectorCount: espSectors, block: espBlock });
    bytes(catalogBlock, encodeCatalog(entries));
  }
  bytes(treeStart, encodeTree(layout, treeStart, 0, recDate));
  if (relativeTreeStart !== undefined) bytes(relativeTreeStart, encodeTree(layout, relativeTreeStart, shift, recDate));
  for (const file of ordered) {
    if (file.size > 0) regions.push({ at: file.block * BLOCK, kind: 'file', file });
  }
  if (espSource && espBlock !== undefined) regions.push({ at: espBlock * BLOCK, kind: 'esp', source: espSource, size: espSize });
  if (encodedGpt) regions.push({ at: (totalSectors - GPT_BACKUP_SECTORS) * SECTOR, kind: 'bytes', data: encodedGpt.backup });

  return {
    size: totalSectors * SECTOR,
    regions,
    volumeBlocks,
    isoEndBlock,
    ...(catalogBlock !== undefined ? { catalogBlock } : {}),
    ...(espBlock !== undefined ? { esp: { block: espBlock, size: espSize, blocks: espBlocks } } : {}),
    ...(gpt ? { gpt } : {}),
  };
}
