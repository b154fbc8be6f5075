// Path tables (ECMA-119 9.4): every directory once, in path-table order (by
// depth, then parent number, then identifier), naming its parent by number.
// The L table stores numbers little-endian, the M table big-endian.

export interface PathTableDirectory {
  /** Identifier bytes; the root's is a single 0 byte. */
  id: Buffer;
  /** 1-based number of the parent (the root is its own parent). */
  parent: number;
  /** Absolute block of the directory's extent in the copy of the tree starting at `treeStart`. */
  extent(treeStart: number): number;
}

export function pathTableSize(dirs: { id: Buffer }[]): number {
  return dirs.reduce((n, d) => n + 8 + d.id.length + (d.id.length % 2), 0);
}

export function encodePathTable(dirs: PathTableDirectory[], bigEndian: boolean, treeStart: number, shift: number): Buffer {
  const out = Buffer.alloc(pathTableSize(dirs));
  let at = 0;
  for (const dir of dirs) {
    out[at] = dir.id.length;
    const extent = dir.extent(treeStart) - shift;
    if (bigEndian) {
      out.writeUInt32BE(extent, at + 2);
      out.writeUInt16BE(dir.parent, at + 6);
    } else {
      out.writeUInt32LE(extent, at + 2);
      out.writeUInt16LE(dir.parent, at + 6);
    }
    dir.id.copy(out, at + 8);
    at += 8 + dir.id.length + (dir.id.length % 2);
  }
  return out;
}

export interface PathTableRecord {
  id: Buffer;
  extent: number;
  parent: number;
}

/** Reads a path table back (for the reader and tests). */
export function parsePathTable(buf: Buffer, bigEndian: boolean): PathTableRecord[] {
  const out: PathTableRecord[] = [];
  let at = 0;
  while (at + 8 <= buf.length) {
    const length = buf[at]!;
    if (length === 0) break;
    out.push({
      id: buf.subarray(at + 8, at + 8 + length),
      extent: bigEndian ? buf.readUInt32BE(at + 2) : buf.readUInt32LE(at + 2),
      parent: bigEndian ? buf.readUInt16BE(at + 6) : buf.readUInt16LE(at + 6),
    });
    at += 8 + length + (length % 2);
  }
  return out;
}
