// One copy of the directory tree laid out: ISO identifiers, the records of
// every directory (path-table order: breadth first, children by identifier)
// with their Rock Ridge entries, the continuation pool and both path tables,
// as block offsets from the start of the copy. encodeTree writes a copy at a
// given block, addresses shifted for the partition-relative view. File
// contents are not here: files only get sizes, and blocks later (plan.ts).
// What a Rock Ridge tree cannot carry (over-long names and targets) is refused
// here, before anything is written.

import { type FileSource, type FileTree, type TreeDirectory, childPath, sourceSize as fileSourceSize } from '../file-tree.js';
import { BLOCK, MAX_FILE_SIZE, S_IFDIR, S_IFLNK, S_IFREG } from './constants.js';
import {
  ContinuationPool,
  PARENT_ID,
  SELF_ID,
  directoryBlocks,
  encodeContinuations,
  encodeDirectory,
  layOutRecord,
  type EncodeContext,
  type LaidOutRecord,
  type RecordTarget,
} from './directory.js';
import { ceilDiv } from './encoding.js';
import { Iso9660Error } from './errors.js';
import { compareIdentifiers, isoIdentifiers } from './names.js';
import { encodePathTable, pathTableSize } from './path-table.js';
import { erEntry, nmEntries, pxEntry, slEntries, spEntry, tfEntry } from './susp.js';

/** Path table parent numbers are 16-bit. */
const MAX_DIRECTORIES = 0xffff;
/**
 * Longest name in bytes. Rock Ridge could carry more (NM entries continue),
 * but Linux' isofs drops any NM piece that would take a name to 254 bytes or
 * more, so a 254- or 255-byte name would come out truncated there (measured).
 */
export const NAME_MAX = 253;
/** Linux' PATH_MAX less the terminating NUL. */
const SYMLINK_MAX = 4095;

interface DirectoryPlan {
  node: TreeDirectory;
  path: string;
  /** 1-based path table number. */
  number: number;
  /** Undefined for the root (its own parent). */
  parent: DirectoryPlan | undefined;
  id: Buffer;
  records: LaidOutRecord[];
  blocks: number;
  /** First block, counted from the start of the tree. */
  offset: number;
}

export interface FilePlan {
  path: string;
  source: FileSource;
  size: number;
  block: number;
  /** Patched contents of a boot image (written instead of the source). */
  data?: Buffer;
}

export async function sourceSize(source: FileSource, what: string): Promise<number> {
  const size = await fileSourceSize(source, what);
  if (size > MAX_FILE_SIZE) throw new Iso9660Error(`iso9660: ${what} is ${size} bytes; files of 4 GiB and more are not supported`);
  return size;
}

export interface TreeLayout {
  dirs: DirectoryPlan[];
  files: FilePlan[];
  byPath: Map<string, FilePlan>;
  pool: ContinuationPool;
  /** Blocks of one copy of the tree (directories, pool, both path tables). */
  blocks: number;
  poolOffset: number;
  pathTableOffset: number;
  pathTableBlocks: number;
  pathTableSize: number;
}

export async function layOutTree(tree: FileTree, date: Date): Promise<TreeLayout> {
  const tf = tfEntry(date);
  const root: DirectoryPlan = { node: tree.root, path: '', number: 1, parent: undefined, id: SELF_ID, records: [], blocks: 0, offset: 0 };
  const dirs: DirectoryPlan[] = [root];
  const files: FilePlan[] = [];
  const byPath = new Map<string, FilePlan>();
  const pool = new ContinuationPool();
  const links = (dir: TreeDirectory): number => 2 + [...dir.children.values()].filter((c) => c.kind === 'directory').length;
  const dirTarget = (dir: DirectoryPlan): RecordTarget => ({
    isDirectory: true,
    extent: (treeStart) => treeStart + dir.offset,
    size: () => dir.blocks * BLOCK,
  });
  const empty: RecordTarget = { isDirectory: false, extent: () => 0, size: () => 0 };

  // Breadth-first with children in identifier order is path-table order.
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i]!;
    const parent = dir.parent ?? dir;
    const ids = isoIdentifiers([...dir.node.children].map(([name, node]) => ({ name, isDirectory: node.kind === 'directory' })));
    const children = [...dir.node.children].sort(([a], [b]) => compareIdentifiers(ids.get(a)!, ids.get(b)!));

    const self = [...(dir === root ? [spEntry()] : []), pxEntry(S_IFDIR | dir.node.mode, links(dir.node)), tf, ...(dir === root ? [erEntry()] : [])];
    const records = [
      layOutRecord(SELF_ID, dirTarget(dir), self, pool),
      layOutRecord(PARENT_ID, dirTarget(parent), [pxEntry(S_IFDIR | parent.node.mode, links(parent.node)), tf], pool),
    ];
    for (const [name, node] of children) {
      const id = Buffer.from(ids.get(name)!, 'latin1');
      const path = childPath(dir.path, name);
      if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new Iso9660Error(`iso9660: ${path}: name longer than ${NAME_MAX} bytes`);
      if (node.kind === 'symlink' && Buffer.byteLength(node.target, 'utf8') > SYMLINK_MAX) throw new Iso9660Error(`iso9660: ${path}: symlink target longer than ${SYMLINK_MAX} bytes`);
      if (node.kind === 'directory') {
        if (dirs.length >= MAX_DIRECTORIES) throw new Iso9660Error(`iso9660: more than ${MAX_DIRECTORIES} directories`);
        const child = { node, path, number: dirs.length + 1, parent: dir, id, records: [], blocks: 0, offset: 0 } satisfies DirectoryPlan;
        dirs.push(child);
        records.push(layOutRecord(id, dirTarget(child), [pxEntry(S_IFDIR | node.mode, links(node)), tf, ...nmEntries(name)], pool));
      } else if (node.kind === 'file') {
        const file: FilePlan = { path, source: node.source, size: await sourceSize(node.source, path), block: 0 };
        files.push(file);
        byPath.set(path, file);
        const target: RecordTarget = { isDirectory: false, extent: () => (file.size === 0 ? 0 : file.block), size: () => file.size };
        records.push(layOutRecord(id, target, [pxEntry(S_IFREG | node.mode, 1), tf, ...nmEntries(name)], pool));
      } else {
        records.push(layOutRecord(id, empty, [pxEntry(S_IFLNK | node.mode, 1), tf, ...nmEntries(name), ...slEntries(node.target)], pool));
      }
    }
    dir.records = records;
    dir.blocks = directoryBlocks(records);
  }

  let offset = 0;
  for (const dir of dirs) {
    dir.offset = offset;
    offset += dir.blocks;
  }
  const poolOffset = offset;
  const size = pathTableSize(dirs);
  const pathTableBlocks = ceilDiv(size, BLOCK);
  const pathTableOffset = poolOffset + pool.blocks;
  return {
    dirs,
    files,
    byPath,
    pool,
    blocks: pathTableOffset + 2 * pathTableBlocks,
    poolOffset,
    pathTableOffset,
    pathTableBlocks,
    pathTableSize: size,
  };
}

/** One copy of the tree's metadata, addresses written as `absolute - shift`. */
export function encodeTree(layout: TreeLayout, treeStart: number, shift: number, date: Buffer): Buffer {
  const out = Buffer.alloc(layout.blocks * BLOCK);
  const ctx: EncodeContext = { shift, treeStart, poolStart: treeStart + layout.poolOffset, date };
  for (const dir of layout.dirs) encodeDirectory(dir.records, dir.blocks, ctx).copy(out, dir.offset * BLOCK);
  const pool = out.subarray(layout.poolOffset * BLOCK, layout.pathTableOffset * BLOCK);
  encodeContinuations(
    layout.dirs.flatMap((d) => d.records),
    pool,
    ctx,
  );
  const tables = layout.pathTableOffset * BLOCK;
  const pathDirs = layout.dirs.map((d) => ({ id: d.id, parent: (d.parent ?? d).number, extent: (start: number) => start + d.offset }));
  encodePathTable(pathDirs, false, treeStart, shift).copy(out, tables);
  encodePathTable(pathDirs, true, treeStart, shift).copy(out, tables + layout.pathTableBlocks * BLOCK);
  return out;
}
