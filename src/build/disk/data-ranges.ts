// Where a sparse file holds data, as its filesystem knows it (lseek's
// SEEK_DATA/SEEK_HOLE). Node has no lseek, so xfs_io (xfsprogs, like the
// mkfs.xfs that made the file) asks for us. BOOT.img is 1000-2000 MiB of which
// a few MiB are data: reading its holes to find them cost seconds of system
// time; asking costs one short process. A filesystem without SEEK_DATA
// reports the whole file as data, which is still right, only slower to scan.

import type { FileRange } from '../../formats/disk/scan.js';
import { ToolFailedError, XFS_IO, runTool } from '../../host-tool.js';

/** xfs_io's `seek -a -r 0` output: a header, then `DATA <offset>` / `HOLE <offset>` lines in file order (or `DATA EOF`). */
export function parseSeekOutput(output: string): FileRange[] {
  const [header, ...lines] = output.trim().split('\n');
  if (header?.trim() !== 'Whence\tResult') throw new ToolFailedError(`xfs_io seek: unexpected output ${JSON.stringify(output.slice(0, 200))}`);
  const ranges: FileRange[] = [];
  let dataStart: number | undefined;
  for (const line of lines) {
    const [whence, offset] = line.trim().split('\t');
    if (offset === 'EOF') continue;
    if ((whence !== 'DATA' && whence !== 'HOLE') || !/^\d+$/.test(offset ?? '')) throw new ToolFailedError(`xfs_io seek: unexpected line ${JSON.stringify(line)}`);
    const at = Number(offset);
    if (whence === 'DATA') dataStart = at;
    else if (dataStart !== undefined) {
      ranges.push({ start: dataStart, end: at });
      dataStart = undefined;
    }
  }
  if (dataStart !== undefined) throw new ToolFailedError('xfs_io seek: data without the hole that ends it');
  return ranges;
}

/** The byte ranges of `path` that may hold data (everything else is a hole, read as zeros). */
export async function fileDataRanges(path: string, signal?: AbortSignal): Promise<FileRange[]> {
  return parseSeekOutput(await runTool(XFS_IO, ['-r', '-c', 'seek -a -r 0', path], signal ? { signal } : {}));
}
