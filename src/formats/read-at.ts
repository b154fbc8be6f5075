// Positional reads that do not stop at a short read: the one loop every
// reader of a file format (GPT, FAT, ISO 9660, PE, squashfs) uses, and the
// one way those readers open their image.

import { type FileHandle, open } from 'node:fs/promises';

/** Opens `path` read-only for `init`, whose result owns the handle; if `init` fails, the handle is closed. */
export async function openForReader<T>(path: string, init: (handle: FileHandle) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r');
  try {
    return await init(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Up to `length` bytes at `position`: fewer only where the file ends. */
export async function readUpTo(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

/** Exactly `length` bytes at `position`; `short(end)` is the error when the file ends at `end` first. */
export async function readExactly(handle: FileHandle, position: number, length: number, short: (end: number) => Error): Promise<Buffer> {
  const buffer = await readUpTo(handle, position, length);
  if (buffer.length < length) throw short(position + buffer.length);
  return buffer;
}
