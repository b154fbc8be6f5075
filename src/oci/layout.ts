// An OCI image layout directory (image-spec "image-layout"): `oci-layout`,
// `index.json` and `blobs/sha256/<hex>`, as skopeo, umoci and crane write them.
// One directory is one repository; a tag is the `org.opencontainers.image.ref.name`
// annotation of a descriptor in index.json.
//
// Durability: blobs and index.json are written under a temporary name in their
// final directory, flushed, then renamed, so a reader (or a crash) never sees
// half a file. index.json is re-read on every lookup (another tool may have
// added tags since) and its read-modify-write cycles are serialised per
// directory within this process.

import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, VerifyingStream, digestHex, isDigest, sha256Digest } from './digest.js';
import { writeFileAtomic } from '../durable-file.js';
import { OciError } from './errors.js';
import { type Descriptor, InvalidManifestError, type ParsedManifest, parseManifest } from './manifest.js';
import { MEDIA_TYPE, REF_NAME_ANNOTATION } from './media-types.js';
import { isValidTag } from './reference.js';
import type { FetchedManifest, WritableImageRepository } from './repository.js';

const LAYOUT_FILE = 'oci-layout';
const INDEX_FILE = 'index.json';
const LAYOUT_VERSION = '1.0.0';
/** Manifests are small documents; a bigger "manifest" blob is refused rather than read into memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Tries for a blob whose source fails midway with a transient error. */
const PUT_BLOB_ATTEMPTS = 3;

/** index.json as found on disk: fields we do not model are kept when we rewrite it. */
interface RawIndex {
  manifests: Array<Record<string, unknown> & { annotations?: Record<string, unknown> }>;
  [key: string]: unknown;
}

export class OciLayout implements WritableImageRepository {
  readonly location: string;

  private constructor(readonly dir: string) {
    this.location = `oci:${dir}`;
  }

  /** Opens an existing layout; OciError not-found when `oci-layout` is missing. */
  static async open(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(resolvePath(dir));
    await layout.checkLayoutFile();
    return layout;
  }

  /** Opens the layout in `dir`, creating an empty one (and the directory) when there is none. */
  static async create(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(resolvePath(dir));
    await mkdir(join(layout.dir, 'blobs', 'sha256'), { recursive: true });
    if (!(await exists(join(layout.dir, LAYOUT_FILE)))) {
      await writeFileAtomic(join(layout.dir, LAYOUT_FILE), Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })));
    }
    await layout.checkLayoutFile();
    await serialised(layout.dir, async () => {
      if (!(await exists(layout.indexPath))) {
        await writeFileAtomic(layout.indexPath, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] })));
      }
    });
    return layout;
  }

  async resolve(reference: string): Promise<Descriptor> {
    if (isDigest(reference)) return (await this.fetchManifest(reference)).descriptor;
    const entry = await this.findTag(reference, 'resolve');
    return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    const operation = 'pull manifest';
    const wanted = isDigest(reference) ? { digest: reference } : await this.findTag(reference, operation);
    const image = this.image(reference);
    const bytes = await this.readSmallBlob(wanted.digest, operation, image);
    const digest = sha256Digest(bytes);
    if (digest !== wanted.digest) {
      throw new OciError('digest-mismatch', operation, image, `blob ${wanted.digest} holds content with digest ${digest}`);
    }
    if ('size' in wanted && wanted.size !== bytes.length) {
      throw new OciError('digest-mismatch', operation, image, `index.json says ${wanted.size} bytes, the manifest has ${bytes.length}`);
    }
    let parsed: ParsedManifest;
    try {
      // A tag's index.json entry names the media type; a bare digest leaves it to the manifest itself.
      parsed = parseManifest(bytes, 'mediaType' in wanted ? wanted.mediaType : undefined);
    } catch (error) {
      if (!(error instanceof InvalidManifestError)) throw error;
      throw new OciError('invalid', operation, image, error.message, undefined, { cause: error });
    }
    return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes, parsed };
  }

  async openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable> {
    const operation = 'pull blob';
    const image = this.image(descriptor.digest);
    const file = await this.openBlobFile(descriptor.digest, operation, image);
    const { size } = await file.stat();
    if (size !== descriptor.size) {
      await file.close();
      throw new OciError('digest-mismatch', operation, image, `the blob file has ${size} bytes, the descriptor says ${descriptor.size}`);
    }
    const verifier = new LayoutBlobStream(descriptor, operation, image);
    const source = file.createReadStream();
    source.on('error', (error) => verifier.destroy(new OciError('unavailable', operation, image, error.message, undefined, { cause: error })));
    // A consumer that stops early closes the file.
    verifier.on('close', () => source.destroy());
    return source.pipe(verifier);
  }

  async listTags(): Promise<string[]> {
    const names = (await this.readIndex('list tags')).manifests.map(refName).filter((name) => name !== undefined);
    return [...new Set(names)];
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest, 'check blob'));
  }

  async putBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>, openSource: () => Readable | Promise<Readable>): Promise<void> {
    const operation = 'push blob';
    const image = this.image(descriptor.digest);
    const path = this.blobPath(descriptor.digest, operation);
    if (await exists(path)) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await writeFileAtomic(path, async (file) => {
          const source = await openSource();
          await pipeline(source, new VerifyingStream(descriptor), (chunks: AsyncIterable<Buffer>) => writeChunks(file, chunks));
        });
        return;
      } catch (error) {
        if (error instanceof DigestMismatchError) {
          throw new OciError('digest-mismatch', operation, image, error.message, undefined, { cause: error });
        }
        const transient = error instanceof OciError && error.kind === 'unavailable';
        if (!transient || attempt >= PUT_BLOB_ATTEMPTS) throw error;
      }
    }
  }

  async putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<Descriptor> {
    const digest = sha256Digest(bytes);
    const operation = 'push manifest';
    const image = this.image(tag ?? digest);
    if (tag !== undefined && !isValidTag(tag)) throw new OciError('invalid', operation, image, `invalid tag ${JSON.stringify(tag)}`);
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(bytes, mediaType);
    } catch (error) {
      if (!(error instanceof InvalidManifestError)) throw error;
      throw new OciError('invalid', operation, image, error.message, undefined, { cause: error });
    }
    const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size: bytes.length };
    const path = this.blobPath(digest, operation);
    if (!(await exists(path))) await writeFileAtomic(path, bytes);
    if (tag !== undefined) {
      await this.updateIndex(operation, (index) => {
        const entry = { ...descriptor, annotations: { [REF_NAME_ANNOTATION]: tag } };
        // A retagged entry keeps its place in the index (listTags order); duplicates of it go.
        let placed = false;
        index.manifests = index.manifests.flatMap((m) => {
          if (refName(m) !== tag) return [m];
          if (placed) return [];
          placed = true;
          return [entry];
        });
        if (!placed) index.manifests.push(entry);
      });
    }
    return descriptor;
  }

  private get indexPath(): string {
    return join(this.dir, INDEX_FILE);
  }

  private image(reference: string): string {
    return `${this.location}${isDigest(reference) ? '@' : ':'}${reference}`;
  }

  private blobPath(digest: string, operation: string): string {
    if (!isDigest(digest)) throw new OciError('invalid', operation, this.image(digest), 'not a sha256 digest');
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  private async checkLayoutFile(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.dir, LAYOUT_FILE), 'utf8');
    } catch (error) {
      if (isNoEntry(error)) throw new OciError('not-found', 'open', this.location, `not an OCI layout: ${LAYOUT_FILE} is missing`, undefined, { cause: error });
      throw error;
    }
    let version: unknown;
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (typeof version !== 'string' || !version.startsWith('1.')) {
      throw new OciError('unsupported', 'open', this.location, `${LAYOUT_FILE} does not declare an image layout version 1.x`);
    }
  }

  /** The raw index.json, checked against the image index schema. */
  private async readIndex(operation: string): Promise<RawIndex> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.indexPath);
    } catch (error) {
      if (isNoEntry(error)) throw new OciError('not-found', operation, this.location, `${INDEX_FILE} is missing`, undefined, { cause: error });
      throw error;
    }
    try {
      if (parseManifest(bytes, MEDIA_TYPE.ociIndex).kind !== 'index') throw new InvalidManifestError('not an image index');
    } catch (error) {
      if (!(error instanceof InvalidManifestError)) throw error;
      throw new OciError('invalid', operation, this.location, `${INDEX_FILE}: ${error.message}`, undefined, { cause: error });
    }
    return JSON.parse(bytes.toString('utf8')) as RawIndex;
  }

  private updateIndex(operation: string, change: (index: RawIndex) => void): Promise<void> {
    return serialised(this.dir, async () => {
      const index = await this.readIndex(operation);
      change(index);
      await writeFileAtomic(this.indexPath, Buffer.from(JSON.stringify(index)));
    });
  }

  /** The index.json entry of a tag (the last one, should a foreign writer have left several). */
  private async findTag(tag: string, operation: string): Promise<Descriptor> {
    const manifests = (await this.readIndex(operation)).manifests;
    const entry = manifests.findLast((m) => refName(m) === tag);
    if (entry === undefined) {
      const tags = manifests.map(refName).filter((name) => name !== undefined);
      const known = tags.length === 0 ? 'the layout has no tags' : `tags: ${tags.slice(0, 20).join(', ')}${tags.length > 20 ? ', …' : ''}`;
      throw new OciError('not-found', operation, this.image(tag), `no such tag (${known})`);
    }
    return entry as unknown as Descriptor; // validated by readIndex
  }

  private async openBlobFile(digest: string, operation: string, image: string): Promise<FileHandle> {
    try {
      return await open(this.blobPath(digest, operation), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (isNoEntry(error)) throw new OciError('not-found', operation, image, 'blob not found', undefined, { cause: error });
      throw error;
    }
  }

  private async readSmallBlob(digest: string, operation: string, image: string): Promise<Buffer> {
    const file = await this.openBlobFile(digest, operation, image);
    try {
      const { size } = await file.stat();
      if (size > MAX_MANIFEST_BYTES) throw new OciError('invalid', operation, image, `the manifest is ${size} bytes, more than a manifest can be`);
      return await file.readFile();
    } finally {
      await file.close();
    }
  }
}

function refName(entry: { annotations?: Record<string, unknown> }): string | undefined {
  const name = entry.annotations?.[REF_NAME_ANNOTATION];
  return typeof name === 'string' ? name : undefined;
}

/** A blob being read: hashed on the way, every failure an OciError. */
class LayoutBlobStream extends VerifyingStream {
  constructor(
    expected: { digest: string; size: number },
    private readonly operation: string,
    private readonly image: string,
  ) {
    super(expected);
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    super._transform(chunk, encoding, (error, data) => callback(error ? this.asOciError(error) : null, data as Buffer));
  }

  override _flush(callback: (error?: Error | null) => void): void {
    super._flush((error) => callback(error ? this.asOciError(error) : null));
  }

  private asOciError(error: Error): Error {
    return new OciError('digest-mismatch', this.operation, this.image, error.message, undefined, { cause: error });
  }
}

// Per-directory queues for index.json updates (shared by every OciLayout of the same directory).
const indexQueues = new Map<string, Promise<void>>();

function serialised<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = indexQueues.get(key) ?? Promise.resolve();
  const run = previous.then(task);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  indexQueues.set(key, tail);
  void tail.then(() => {
    if (indexQueues.get(key) === tail) indexQueues.delete(key);
  });
  return run;
}


/** Writes every chunk in full (a write stream made with autoClose: false would keep the handle from closing). */
async function writeChunks(file: FileHandle, chunks: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of chunks) {
    for (let offset = 0; offset < chunk.length; ) offset += (await file.write(chunk, offset)).bytesWritten;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNoEntry(error)) return false;
    throw error;
  }
}

function isNoEntry(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
