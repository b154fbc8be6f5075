// Lays an image out before a byte is written: the tree (tree-layout.ts), the
// block of every file, the patched boot image, the volume descriptors, the
// boot catalog, the appended ESP and the MBR + GPT. Everything but file
// contents is decided here (file sizes come from stat), so the writer can
// stream the image front to back and the final size is known up front. The
// result is a sparse disk (disk/sparse.ts), like a FAT image's.
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

import { createReadStream, promises as fs } from 'node:fs';
import { CHUNK_SIZE, type Extent, type SparseDisk, bytesExtent, sparseDisk, streamExtent } from '../disk/sparse.js';
import type { FileSource, FileTree } from '../file-tree.js';
import type { GptLayout } from '../gpt.js';
import { BLOCK, FIRST_DESCRIPTOR, PARTITION_OFFSET_BLOCKS, SECTOR, SECTORS_PER_BLOCK, PLATFORM_EFI, PLATFORM_X86 } from './constants.js';
import { bootRecordDescriptor, primaryDescriptor, terminatorDescriptor, type VolumeIdentity } from './descriptors.js';
import { rootRecord } from './directory.js';
import { type CatalogEntry, encodeCatalog, patchBootInfoTable, patchGrub2BootInfo, paddedSectors } from './el-torito.js';
import { ceilDiv, recordDate } from './encoding.js';
import { Iso9660Error } from './errors.js';
import { DEFAULT_LOAD_SECTORS, DEFAULT_VOLUME_ID, type IsoHybrid, type IsoWriteOptions } from './options.js';
import { GPT_BACKUP_SECTORS, type SystemArea, systemArea } from './system-area.js';
import { encodeTree, layOutTree, sourceSize, type FilePlan, type TreeLayout } from './tree-layout.js';

export type { FilePlan } from './tree-layout.js';

/** A cylinder of the 64 heads x 32 sectors geometry: 1 MiB. */
const CYLINDER_BLOCKS = (64 * 32) / SECTORS_PER_BLOCK;
/** Boot images are patched in memory; anything bigger than this is not a boot image. */
const MAX_BOOT_IMAGE = 64 << 20;

export interface IsoPlan {
  /** Image size in bytes (a whole number of 2048-byte blocks). */
  size: number;
  /** The image as extents: metadata in memory, file contents and the ESP read while written; the gaps are zeros. */
  image: SparseDisk;
  volumeBlocks: number;
  /** Where the ISO filesystem's data ends (the appended ESP starts here). */
  isoEndBlock: number;
  catalogBlock?: number;
  /** The appended ESP: first block, source size, and blocks it takes with its padding. */
  esp?: { block: number; size: number; blocks: number };
  gpt?: GptLayout;
}

async function sourceBytes(source: FileSource): Promise<Buffer> {
  return 'data' in source ? Buffer.from(source.data) : fs.readFile(source.path);
}

/** A file's bytes, refused unless it still has the size the image was planned with. */
async function* fileContents(path: string, size: number, what: string): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_SIZE })) {
    const buf = chunk as Buffer;
    seen += buf.length;
    if (seen > size) break;
    yield buf;
  }
  if (seen !== size) throw new Iso9660Error(`iso9660: ${what} (${path}) changed size while the image was written`);
}

function sourceExtent(at: number, source: FileSource, size: number, what: string): Extent {
  return 'data' in source ? bytesExtent(at, source.data) : streamExtent(at, size, () => fileContents(source.path, size, what));
}

function bootFile(layout: TreeLayout, path: string, what: string): FilePlan {
  const file = layout.byPath.get(path.replace(/^\/+/, ''));
  if (!file) throw new Iso9660Error(`iso9660: the ${what} boot image ${path} is not a regular file in the tree`);
  if (file.size === 0) throw new Iso9660Error(`iso9660: the ${what} boot image ${path} is empty`);
  return file;
}

/** What the boot options name, checked against the tree. */
interface Boot {
  biosFile?: FilePlan;
  loadSectors: number;
  efiFile?: FilePlan;
  /** The El Torito EFI entry is the appended ESP. */
  efiOnEsp: boolean;
  esp?: { source: FileSource; size: number };
}

async function resolveBoot(layout: TreeLayout, options: IsoWriteOptions): Promise<Boot> {
  const { bios, efi, hybrid } = options;
  const loadSectors = bios?.loadSectors ?? DEFAULT_LOAD_SECTORS;
  if (!Number.isInteger(loadSectors) || loadSectors < 1 || loadSectors > 0xffff) throw new Iso9660Error(`iso9660: load size ${loadSectors} is not 1..65535 sectors`);
  const biosFile = bios ? bootFile(layout, bios.image, 'BIOS') : undefined;
  if (biosFile && biosFile.size > MAX_BOOT_IMAGE) throw new Iso9660Error(`iso9660: the BIOS boot image ${bios!.image} is larger than ${MAX_BOOT_IMAGE} bytes`);
  const efiFile = efi && 'image' in efi ? bootFile(layout, efi.image, 'EFI') : undefined;
  const efiOnEsp = efi !== undefined && 'appendedPartition' in efi;
  if (efiOnEsp && !hybrid?.esp) throw new Iso9660Error('iso9660: an EFI entry on the appended partition needs hybrid.esp');
  if (hybrid?.grub2Mbr && !biosFile) throw new Iso9660Error('iso9660: the GRUB MBR patch needs a BIOS boot image');
  let esp: Boot['esp'];
  if (hybrid?.esp) {
    esp = { source: hybrid.esp, size: await sourceSize(hybrid.esp, 'the ESP image') };
    if (esp.size === 0) throw new Iso9660Error('iso9660: the ESP image is empty');
  }
  return { loadSectors, efiOnEsp, ...(biosFile ? { biosFile } : {}), ...(efiFile ? { efiFile } : {}), ...(esp ? { esp } : {}) };
}

/** Where everything goes, in blocks (see the map at the top); files get their blocks here too. */
interface BlockMap {
  pvd: number;
  bootRecord?: number;
  terminator: number;
  relativePvd?: number;
  catalog?: number;
  tree: number;
  relativeTree?: number;
  /** Files in write order. */
  files: FilePlan[];
  isoEnd: number;
  esp?: number;
  espBlocks: number;
  totalSectors: number;
}

function assignBlocks(layout: TreeLayout, boot: Boot, options: IsoWriteOptions): BlockMap {
  const hybrid = options.hybrid !== undefined;
  const elTorito = boot.biosFile !== undefined || options.efi !== undefined;
  let next = FIRST_DESCRIPTOR;
  const pvd = next++;
  const bootRecord = elTorito ? next++ : undefined;
  const terminator = next++;
  const relativePvd = hybrid ? PARTITION_OFFSET_BLOCKS + FIRST_DESCRIPTOR : undefined;
  if (relativePvd !== undefined) next = relativePvd + 2;
  const catalog = elTorito ? next++ : undefined;
  const tree = next;
  next += layout.blocks;
  const relativeTree = hybrid ? next : undefined;
  if (hybrid) next += layout.blocks;

  // File data: boot images first (as mkisofs does), then path-table order.
  const boots = [boot.biosFile, boot.efiFile].filter((f): f is FilePlan => f !== undefined);
  const files = [...new Set([...boots, ...layout.files])].filter((f) => f.size > 0);
  for (const file of files) {
    file.block = next;
    next += ceilDiv(file.size, BLOCK);
  }

  // With cylinder alignment the ISO partition ends, and the ESP starts and ends, on 1 MiB boundaries.
  const align = options.hybrid?.cylinderAlign ? CYLINDER_BLOCKS : 1;
  const isoEnd = ceilDiv(next, align) * align;
  next = isoEnd;
  const esp = boot.esp ? next : undefined;
  const espBlocks = boot.esp ? ceilDiv(ceilDiv(boot.esp.size, BLOCK), align) * align : 0;
  next += espBlocks;
  const totalSectors = hybrid ? ceilDiv(next * SECTORS_PER_BLOCK + GPT_BACKUP_SECTORS, SECTORS_PER_BLOCK) * SECTORS_PER_BLOCK : next * SECTORS_PER_BLOCK;
  return { pvd, bootRecord, terminator, relativePvd, catalog, tree, relativeTree, files, isoEnd, esp, espBlocks, totalSectors };
}

/** Sector 0 and the GPTs: the ISO data as partition 1 (from the partition-relative copy on), the ESP as partition 2. */
function hybridSystemArea(hybrid: IsoHybrid, map: BlockMap, boot: Boot): SystemArea {
  return systemArea({
    guidSeed: hybrid.guidSeed,
    totalSectors: map.totalSectors,
    isoStartSector: PARTITION_OFFSET_BLOCKS * SECTORS_PER_BLOCK,
    isoEndSector: map.isoEnd * SECTORS_PER_BLOCK,
    ...(map.esp !== undefined ? { esp: { firstSector: map.esp * SECTORS_PER_BLOCK, sectors: map.espBlocks * SECTORS_PER_BLOCK } } : {}),
    ...(hybrid.mbrBootCode ? { mbrBootCode: hybrid.mbrBootCode } : {}),
    ...(hybrid.grub2Mbr ? { grub2ImageBlock: boot.biosFile!.block } : {}),
  });
}

function catalogEntries(boot: Boot, map: BlockMap): CatalogEntry[] {
  const entries: CatalogEntry[] = [];
  if (boot.biosFile) entries.push({ platform: PLATFORM_X86, sectorCount: boot.loadSectors, block: boot.biosFile.block });
  if (boot.efiFile) entries.push({ platform: PLATFORM_EFI, sectorCount: paddedSectors(boot.efiFile.size), block: boot.efiFile.block });
  else if (boot.efiOnEsp) entries.push({ platform: PLATFORM_EFI, sectorCount: map.espBlocks * SECTORS_PER_BLOCK, block: map.esp! });
  return entries;
}

export async function planIso(tree: FileTree, options: IsoWriteOptions = {}): Promise<IsoPlan> {
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
  const boot = await resolveBoot(layout, options);
  const map = assignBlocks(layout, boot, options);

  const { biosFile } = boot;
  if (biosFile) {
    const bios = options.bios!;
    const image = await sourceBytes(biosFile.source);
    if (image.length !== biosFile.size) throw new Iso9660Error(`iso9660: the BIOS boot image ${bios.image} changed size while the image was planned`);
    if (bios.grub2BootInfo) patchGrub2BootInfo(image, biosFile.block);
    if (bios.bootInfoTable ?? true) patchBootInfoTable(image, map.pvd, biosFile.block);
    biosFile.data = image;
  }

  const extents: Extent[] = [];
  const bytes = (block: number, data: Buffer): void => void extents.push(bytesExtent(block * BLOCK, data));
  const area = options.hybrid ? hybridSystemArea(options.hybrid, map, boot) : undefined;
  if (area) extents.push(bytesExtent(0, area.head));

  const descriptor = (start: number, shift: number, blocks: number): Buffer =>
    primaryDescriptor({
      identity,
      volumeBlocks: blocks,
      pathTableSize: layout.pathTableSize,
      lPathTable: start + layout.pathTableOffset - shift,
      mPathTable: start + layout.pathTableOffset + layout.pathTableBlocks - shift,
      rootRecord: rootRecord(start - shift, layout.dirs[0]!.blocks * BLOCK, recDate),
    });
  // The whole image's volume runs to its end, so El Torito's view of the appended ESP lies inside it.
  bytes(map.pvd, descriptor(map.tree, 0, map.totalSectors / SECTORS_PER_BLOCK));
  if (map.bootRecord !== undefined) bytes(map.bootRecord, bootRecordDescriptor(map.catalog!));
  bytes(map.terminator, terminatorDescriptor());
  if (map.relativePvd !== undefined) {
    bytes(map.relativePvd, descriptor(map.relativeTree!, PARTITION_OFFSET_BLOCKS, map.isoEnd - PARTITION_OFFSET_BLOCKS));
    bytes(map.relativePvd + 1, terminatorDescriptor());
  }
  if (map.catalog !== undefined) bytes(map.catalog, encodeCatalog(catalogEntries(boot, map)));
  bytes(map.tree, encodeTree(layout, map.tree, 0, recDate));
  if (map.relativeTree !== undefined) bytes(map.relativeTree, encodeTree(layout, map.relativeTree, PARTITION_OFFSET_BLOCKS, recDate));
  for (const file of map.files) extents.push(file.data ? bytesExtent(file.block * BLOCK, file.data) : sourceExtent(file.block * BLOCK, file.source, file.size, file.path));
  if (boot.esp && map.esp !== undefined) extents.push(sourceExtent(map.esp * BLOCK, boot.esp.source, boot.esp.size, 'the ESP image'));
  if (area) extents.push(bytesExtent((map.totalSectors - GPT_BACKUP_SECTORS) * SECTOR, area.backup));

  const size = map.totalSectors * SECTOR;
  return {
    size,
    image: sparseDisk(size, extents),
    volumeBlocks: map.totalSectors / SECTORS_PER_BLOCK,
    isoEndBlock: map.isoEnd,
    ...(map.catalog !== undefined ? { catalogBlock: map.catalog } : {}),
    ...(boot.esp && map.esp !== undefined ? { esp: { block: map.esp, size: boot.esp.size, blocks: map.espBlocks } } : {}),
    ...(area ? { gpt: area.gpt } : {}),
  };
}
