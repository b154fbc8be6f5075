// Takes `rootfs.sqsh` out of a Talos base initramfs (one compressed newc cpio,
// xz before 1.8 and zstd since), streaming, without unpacking anything else.

import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { readCpio } from '../../formats/cpio.js';
import { decompressStream, peekCodec } from '../../formats/compression.js';

export class BaseInitramfsError extends Error {
  override name = 'BaseInitramfsError';
}

export async function extractBaseRootfs(initramfsPath: string, destination: string): Promise<void> {
  const { codec, stream } = await peekCodec(createReadStream(initramfsPath));
  const decompressed = codec === 'none' ? stream : stream.pipe(decompressStream(codec));
  stream.on('error', (error) => decompressed.destroy(error));
  try {
    for await (const entry of readCpio(decompressed, { concatenated: true })) {
      if (entry.name.replace(/^\.\//, '') !== 'rootfs.sqsh' || entry.type !== 'file') continue;
      await pipeline(entry.stream(), createWriteStream(destination));
      return;
    }
  } catch (error) {
    await rm(destination, { force: true });
    throw new BaseInitramfsError(`cannot read the base initramfs ${initramfsPath}: ${(error as Error).message}`, { cause: error });
  } finally {
    decompressed.destroy();
  }
  throw new BaseInitramfsError(`the base initramfs ${initramfsPath} holds no rootfs.sqsh`);
}
