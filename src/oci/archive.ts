// An OCI archive (a tarred OCI layout) read in place: the tar headers are
// indexed once, then manifests and blobs are served as byte ranges of the
// archive, without unpacking it.

import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { VerifyingStream, digestHex, isDigest } from './digest.js';
import { OciError } from './errors.js';
import { type Descriptor, parseManifest } from './manifest.js';
import { REF_NAME_ANNOTATION } from './media-types.js';
import type { FetchedManifest, ImageRepository } from './repository.js';

export interface ArchiveMember {
  offset: number;
  size: number;
}

/** Reads `[start, end]` (inclusive) of the archive. */
export type RangeReader = (range: { start: number; end: number }) => Readable;

async function readRange(read: RangeReader, start: number, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of read({ start, end: start + length - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

/** Regular-file members by name (ustar headers; names as the archive has them, without `./`). */
export async function indexTar(read: RangeReader, size: number): Promise<Map<string, ArchiveMember>> {
  const members = new Map<string, ArchiveMember>();
  let offset = 0;
  while (offset + 512 <= size) {
    const header = await readRange(read, offset, 512);
    if (header.every((b) => b === 0)) break;
    const name = field(header, 0, 100);
    const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? field(header, 345, 155) : '';
    const length = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const full = (prefix ? `${prefix}/${name}` : name).replace(/^\.\//, '');
    if (type === '0' || type === '\0') members.set(full, { offset: offset + 512, size: length });
    offset += 512 + Math.ceil(length / 512) * 512;
  }
  return members;
}

/** The layout inside an archive, as a read-only image repository. */
export class OciArchiveRepository implements ImageRepository {
  private constructor(
    readonly location: string,
    private readonly read: RangeReader,
    private readonly members: Map<string, ArchiveMember>,
  ) {}

  static async open(location: string, read: RangeReader, size: number): Promise<OciArchiveRepository> {
    return new OciArchiveRepository(location, read, await indexTar(read, size));
  }

  /** Every blob digest the archive holds. */
  digests(): string[] {
    return [...this.members.keys()].filter((n) => n.startsWith('blobs/sha256/')).map((n) => `sha256:${n.slice('blobs/sha256/'.length)}`);
  }

  private member(name: string, operation: string, reference: string): ArchiveMember {
    const member = this.members.get(name);
    if (!member) throw new OciError('not-found', operation, `${this.location}:${reference}`, `${name} is not in the archive`);
    return member;
  }

  private async index(): Promise<{ manifests: Descriptor[] }> {
    const m = this.member('index.json', 'read index', 'index.json');
    return JSON.parse((await readRange(this.read, m.offset, m.size)).toString('utf8')) as { manifests: Descriptor[] };
  }

  async resolve(reference: string): Promise<Descriptor> {
    if (isDigest(reference)) return (await this.fetchManifest(reference)).descriptor;
    const found = (await this.index()).manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === reference);
    if (!found) throw new OciError('not-found', 'resolve', `${this.location}:${reference}`, 'no such tag');
    return found;
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    const digest = isDigest(reference) ? reference : (await this.resolve(reference)).digest;
    const m = this.member(`blobs/sha256/${digestHex(digest)}`, 'pull manifest', reference);
    if (m.size > 4 * 1024 * 1024) throw new OciError('invalid', 'pull manifest', `${this.location}@${digest}`, 'manifest larger than 4 MiB');
    const bytes = Buffer.from(await text(this.openMember(m, digest)), 'utf8');
    const parsed = parseManifest(bytes);
    return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes, parsed };
  }

  async openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable> {
    return this.openMember(this.member(`blobs/sha256/${digestHex(descriptor.digest)}`, 'pull blob', descriptor.digest), descriptor.digest);
  }

  /** A byte range of a blob (no digest check: a part cannot be verified). */
  openBlobRange(digest: string, range: { start: number; end: number }): Readable {
    const m = this.member(`blobs/sha256/${digestHex(digest)}`, 'pull blob', digest);
    return this.read({ start: m.offset + range.start, end: m.offset + range.end });
  }

  blobSize(digest: string): number | undefined {
    return this.members.get(`blobs/sha256/${digestHex(digest)}`)?.size;
  }

  private openMember(m: ArchiveMember, digest: string): Readable {
    const stream = m.size === 0 ? Readable.from([]) : this.read({ start: m.offset, end: m.offset + m.size - 1 });
    const verified = new VerifyingStream({ digest, size: m.size });
    stream.on('error', (error) => verified.destroy(error));
    return stream.pipe(verified);
  }

  async listTags(): Promise<string[]> {
    return (await this.index()).manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((t): t is string => t !== undefined);
  }
}
