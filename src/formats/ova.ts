// OVA: a ustar archive of the OVF descriptor, the manifest and the disk, in
// the order the Talos imager packs them (`tar -cf out.ova disk.ovf disk.mf
// disk.vmdk`): the descriptor first, as the OVF spec requires, then the
// manifest ("SHA256(disk.vmdk)= <hex>" and "SHA256(disk.ovf)= <hex>" lines),
// then the VMDK.
//
// The descriptor (the VMDK's size) and the manifest (its SHA-256) come before
// the VMDK itself, so the VMDK is produced twice: once to measure it, once to
// stream it into the archive. Both passes give the same bytes (the writer is
// deterministic); the second is checked against the first and the archive
// fails rather than carry a wrong manifest.

import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Pack, pack as createPack } from 'tar-stream';
import { DiskFormatError } from './disk/errors.js';
import type { SparseDisk } from './disk/sparse.js';
import { type OvfOptions, renderOvf } from './ovf.js';
import { type VmdkOptions, vmdkStream } from './vmdk.js';

export interface MeasuredFile {
  size: number;
  sha256: string;
  /** Gives the same `size` bytes each time. */
  open: () => Readable;
}

export interface OvaEntryOptions {
  /** Entry mtime; default the Unix epoch (reproducible). */
  mtime?: Date;
}

export interface OvaOptions extends OvaEntryOptions {
  /** Base name of the three entries; default "disk". */
  baseName?: string;
  ovf: Omit<OvfOptions, 'vmdkFileName' | 'vmdkSize' | 'capacityBytes'>;
  vmdk?: Omit<VmdkOptions, 'fileName'>;
}

export async function measure(open: () => Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of open()) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

export function renderManifest(files: ReadonlyArray<{ name: string; sha256: string }>): string {
  return files.map((f) => `SHA256(${f.name})= ${f.sha256}\n`).join('');
}

/** Passes bytes through and fails at the end unless they are exactly the measured ones. */
class Verify extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;
  constructor(private readonly expected: { size: number; sha256: string }) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.seen += chunk.length;
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    const sha256 = this.hash.digest('hex');
    if (this.seen !== this.expected.size || sha256 !== this.expected.sha256) {
      done(new DiskFormatError(`ova: the disk changed between passes (${this.seen} bytes, sha256 ${sha256}; measured ${this.expected.size}, ${this.expected.sha256})`));
    } else done();
  }
}

function entry(pack: Pack, name: string, size: number, mtime: Date, body: Buffer | { source: () => Readable; check: Transform }): Promise<void> {
  const header = { name, size, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime, type: 'file' as const };
  if (Buffer.isBuffer(body)) {
    return new Promise<void>((resolve, reject) => pack.entry(header, body, (error) => (error ? reject(error) : resolve())));
  }
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    // tar-stream's entry is a streamx writable, which Node's pipeline drives.
    pipeline(body.source(), body.check, sink as unknown as NodeJS.WritableStream).catch((error: Error) => {
      sink.destroy(error);
      reject(error);
    });
  });
}

/** The archive from an already measured VMDK. */
export function ovaStream(baseName: string, ovf: string, vmdk: MeasuredFile, options: OvaEntryOptions = {}): Readable {
  const mtime = options.mtime ?? new Date(0);
  const ovfBytes = Buffer.from(ovf, 'utf8');
  const names = { ovf: `${baseName}.ovf`, mf: `${baseName}.mf`, vmdk: `${baseName}.vmdk` };
  const manifest = Buffer.from(
    renderManifest([
      { name: names.vmdk, sha256: vmdk.sha256 },
      { name: names.ovf, sha256: createHash('sha256').update(ovfBytes).digest('hex') },
    ]),
  );
  const pack = createPack();
  void (async () => {
    try {
      await entry(pack, names.ovf, ovfBytes.length, mtime, ovfBytes);
      await entry(pack, names.mf, manifest.length, mtime, manifest);
      await entry(pack, names.vmdk, vmdk.size, mtime, { source: vmdk.open, check: new Verify(vmdk) });
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false, highWaterMark: 1 << 20 });
}

/** Measures the disk's VMDK (one full pass through the compressor), then returns the OVA stream (the second pass). */
export async function createOva(disk: SparseDisk, options: OvaOptions): Promise<Readable> {
  const baseName = options.baseName ?? 'disk';
  const vmdkFileName = `${baseName}.vmdk`;
  const open = (): Readable => vmdkStream(disk, { ...options.vmdk, fileName: vmdkFileName });
  const { size, sha256 } = await measure(open);
  const ovf = renderOvf({ ...options.ovf, vmdkFileName, vmdkSize: size, capacityBytes: disk.size });
  return ovaStream(baseName, ovf, { size, sha256, open }, options);
}
