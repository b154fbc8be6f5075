// One data, fragment or metadata block as the image stores it: read and
// compressed on a block worker, framed by its codec, and kept as it was read
// where compression does not make it smaller (the format's rule).

import { workBlock, type BlockPiece, type CompressMethod } from './block-workers.js';
import type { Compressor } from './codec-types.js';
import { SquashfsError } from './errors.js';

export type PackedBlock = { hole: true } | { hole: false; bytes: Buffer; compressed: boolean };

const STORE: CompressMethod = { codec: 'store' };

/** `compressor` undefined stores the block as read; `holeCheck` turns a block of zeros into a hole. */
export async function packBlock(compressor: Compressor | undefined, pieces: BlockPiece[], holeCheck = false): Promise<PackedBlock> {
  const worked = await workBlock(pieces, compressor?.method ?? STORE, holeCheck);
  if (worked.hole) return worked;
  if (worked.packed) {
    const bytes = compressor?.frame ? compressor.frame(worked.packed, { size: worked.size, crc32: worked.crc32 }) : worked.packed;
    if (bytes.length < worked.size) return { hole: false, bytes, compressed: true };
  }
  // The worker sends the bytes as read whenever the framed result may not be smaller.
  if (!worked.raw) throw new SquashfsError('squashfs: a block that compression did not shrink came back without its bytes');
  return { hole: false, bytes: worked.raw, compressed: false };
}
