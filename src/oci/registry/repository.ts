// One repository of a registry, through the distribution API: manifests, blobs
// and tags, read and written.

import { PassThrough, type Readable, pipeline } from 'node:stream';
import { DigestMismatchError, VerifyingStream, isDigest, sha256Digest } from '../digest.js';
import { OciError } from '../errors.js';
import { type Descriptor, InvalidManifestError, parseManifest } from '../manifest.js';
import { MANIFEST_ACCEPT, isImageManifestMediaType, isIndexMediaType } from '../media-types.js';
import { isValidTag } from '../reference.js';
import type { FetchedManifest, WritableImageRepository } from '../repository.js';
import { type ErrorContext, ociError } from './errors.js';
import { nextPageUrl } from './link.js';
import { type RegistryResponse, type Transport, withRetries } from './transport.js';

/** Manifests are small documents; anything bigger is not one (and must never make us buffer a blob). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TAGS_PAGE_BYTES = 16 * 1024 * 1024;
const ACCEPT_MANIFESTS = { accept: MANIFEST_ACCEPT.join(', ') };

export class RegistryRepository implements WritableImageRepository {
  /** `<registry>/<path>`, for messages. */
  readonly location: string;
  private readonly base: string;
  private readonly pullScope: string;
  private readonly pushScope: string;

  constructor(
    private readonly transport: Transport,
    readonly registry: string,
    readonly path: string,
    private readonly tagsPageSize?: number,
  ) {
    this.location = `${registry}/${path}`;
    this.base = `${transport.options.origin}/v2/${path}`;
    this.pullScope = `repository:${path}:pull`;
    this.pushScope = `repository:${path}:pull,push`;
  }

  async resolve(reference: string): Promise<Descriptor> {
    const context = this.context('resolve', reference);
    checkReference(reference, context);
    const fromHead = await this.transport.send(
      {
        ...context,
        method: 'HEAD',
        url: `${this.base}/manifests/${reference}`,
        headers: ACCEPT_MANIFESTS,
        scope: this.pullScope,
        followRedirects: true,
        accept: [200, 404, 405],
      },
      async (response) => (response.status === 200 ? descriptorFromHeaders(response, reference, context) : undefined),
    );
    // Without a usable HEAD answer the GET decides; on a 404 it also brings the registry's own explanation
    // (a HEAD answer has no body).
    return fromHead ?? (await this.fetchManifest(reference)).descriptor;
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    const context = this.context('pull manifest', reference);
    checkReference(reference, context);
    return this.transport.send(
      {
        ...context,
        method: 'GET',
        url: `${this.base}/manifests/${reference}`,
        headers: ACCEPT_MANIFESTS,
        scope: this.pullScope,
        followRedirects: true,
      },
      async (response) => {
        const bytes = await response.bytes(MAX_MANIFEST_BYTES, 'the manifest');
        const digest = sha256Digest(bytes);
        const claimed = isDigest(reference) ? reference : response.headers.get('docker-content-digest');
        if (claimed !== null && isDigest(claimed) && claimed !== digest) {
          throw ociError(context, 'digest-mismatch', `the manifest received has digest ${digest}, not ${claimed}`);
        }
        let parsed;
        try {
          parsed = parseManifest(bytes, response.headers.get('content-type') ?? undefined);
        } catch (error) {
          if (!(error instanceof InvalidManifestError)) throw error;
          throw ociError(context, 'invalid', error.message, { cause: error });
        }
        return { descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes, parsed };
      },
    );
  }

  async openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable> {
    const context = this.context('pull blob', descriptor.digest);
    checkDigest(descriptor.digest, context);
    return this.transport.send(
      {
        ...context,
        method: 'GET',
        url: `${this.base}/blobs/${descriptor.digest}`,
        scope: this.pullScope,
        followRedirects: true,
      },
      async (response) => {
        const length = response.headers.get('content-length');
        if (length !== null && Number(length) !== descriptor.size) {
          const detail = `the registry offers ${length} bytes, the descriptor says ${descriptor.size}`;
          throw ociError(context, 'digest-mismatch', detail);
        }
        return verified(response.stream(), descriptor, context);
      },
    );
  }

  async listTags(): Promise<string[]> {
    const context: ErrorContext = { operation: 'list tags', image: this.location };
    const tags: string[] = [];
    const visited = new Set<string>();
    let url: string | undefined = `${this.base}/tags/list${this.tagsPageSize ? `?n=${this.tagsPageSize}` : ''}`;
    while (url !== undefined) {
      if (visited.has(url)) throw ociError(context, 'invalid', `tag list pages loop back to ${url}`);
      visited.add(url);
      const page: { tags: string[]; next: string | undefined } = await this.transport.send(
        { ...context, method: 'GET', url, scope: this.pullScope, followRedirects: true },
        async (response) => ({
          tags: parseTagList(await response.text(MAX_TAGS_PAGE_BYTES, 'a tag list page'), context),
          next: nextPageUrl(response.headers.get('link'), response.url),
        }),
      );
      tags.push(...page.tags);
      url = page.next;
    }
    return tags;
  }

  async hasBlob(digest: string): Promise<boolean> {
    const context = this.context('check blob', digest);
    checkDigest(digest, context);
    return this.blobExists(digest, this.pullScope, context);
  }

  async putBlob(
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    open: () => Readable | Promise<Readable>,
  ): Promise<void> {
    const context = this.context('push blob', descriptor.digest);
    checkDigest(descriptor.digest, context);
    if (await this.blobExists(descriptor.digest, this.pushScope, context)) return;
    // A failed upload is not resumed: each try opens the content again and starts a new upload session.
    await withRetries(this.transport.options.retry, undefined, context, async () => {
      const uploadUrl = await this.transport.send(
        { ...context, method: 'POST', url: `${this.base}/blobs/uploads/`, scope: this.pushScope, attempts: 1 },
        async (response) => {
          const location = response.headers.get('location');
          await response.drain();
          if (location === null) {
            throw ociError(context, 'invalid', 'the registry started an upload without a Location header');
          }
          return new URL(location, response.url);
        },
      );
      uploadUrl.searchParams.set('digest', descriptor.digest);
      await this.transport.send(
        {
          ...context,
          method: 'PUT',
          url: uploadUrl.href,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
          body: open,
          scope: this.pushScope,
          attempts: 1,
        },
        async (response) => {
          checkStoredDigest(response, descriptor.digest, context);
          await response.drain();
        },
      );
    });
  }

  async putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<Descriptor> {
    const digest = sha256Digest(bytes);
    const reference = tag ?? digest;
    const context = this.context('push manifest', reference);
    if (tag !== undefined && !isValidTag(tag)) {
      throw ociError(context, 'invalid', `invalid tag ${JSON.stringify(tag)}`);
    }
    await this.transport.send(
      {
        ...context,
        method: 'PUT',
        url: `${this.base}/manifests/${reference}`,
        headers: { 'content-type': mediaType },
        body: bytes,
        scope: this.pushScope,
      },
      async (response) => {
        checkStoredDigest(response, digest, context);
        await response.drain();
      },
    );
    return { mediaType, digest, size: bytes.length };
  }

  private blobExists(digest: string, scope: string, context: ErrorContext): Promise<boolean> {
    return this.transport.send(
      { ...context, method: 'HEAD', url: `${this.base}/blobs/${digest}`, scope, followRedirects: true, accept: [200, 404] },
      async (response) => response.status === 200,
    );
  }

  private context(operation: string, reference: string): ErrorContext {
    return { operation, image: `${this.location}${isDigest(reference) ? '@' : ':'}${reference}` };
  }
}

function checkReference(reference: string, context: ErrorContext): void {
  if (!isDigest(reference) && !isValidTag(reference)) {
    throw ociError(context, 'invalid', 'a reference must be a tag or a sha256 digest');
  }
}

function checkDigest(digest: string, context: ErrorContext): void {
  if (!isDigest(digest)) throw ociError(context, 'invalid', 'not a sha256 digest');
}

/** The descriptor a HEAD answer describes, or undefined when it lacks something (then a GET is needed). */
function descriptorFromHeaders(
  response: RegistryResponse,
  reference: string,
  context: ErrorContext,
): Descriptor | undefined {
  const digest = response.headers.get('docker-content-digest');
  const mediaType = response.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
  const size = Number(response.headers.get('content-length') ?? NaN);
  if (digest === null || !isDigest(digest)) return undefined;
  if (isDigest(reference) && digest !== reference) {
    throw ociError(context, 'digest-mismatch', `the registry answered with digest ${digest}`);
  }
  if (!(isIndexMediaType(mediaType) || isImageManifestMediaType(mediaType)) || !Number.isSafeInteger(size) || size < 0) {
    return undefined;
  }
  return { mediaType, digest, size };
}

function checkStoredDigest(response: RegistryResponse, digest: string, context: ErrorContext): void {
  const stored = response.headers.get('docker-content-digest');
  if (stored !== null && isDigest(stored) && stored !== digest) {
    throw ociError(context, 'digest-mismatch', `the registry stored digest ${stored}, we sent ${digest}`);
  }
}

function parseTagList(text: string, context: ErrorContext): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw ociError(context, 'invalid', 'the tag list is not JSON');
  }
  const tags = (json as { tags?: unknown } | null)?.tags;
  if (tags === null || tags === undefined) return []; // distribution says null for a repository without tags
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
    throw ociError(context, 'invalid', 'the tag list has no array of strings under "tags"');
  }
  return tags as string[];
}

/**
 * The blob as it arrives, hashed on the way: the stream fails at its end unless
 * digest and size match, and every failure on it is an OciError.
 */
function verified(source: Readable, expected: Pick<Descriptor, 'digest' | 'size'>, context: ErrorContext): Readable {
  const verifier = new VerifyingStream(expected);
  const out = new PassThrough();
  // The caller may still be getting ready (opening its file) when the connection breaks; that
  // error must wait in the stream for its reader, not be thrown out of the process.
  out.on('error', () => undefined);
  verifier.pipe(out);
  pipeline(source, verifier, (error) => {
    if (error) out.destroy(asOciError(error, context));
  });
  // A consumer that stops early releases the connection.
  out.on('close', () => {
    if (!out.readableEnded) source.destroy();
  });
  return out;
}

function asOciError(error: unknown, context: ErrorContext): OciError {
  if (error instanceof OciError) return error;
  if (error instanceof DigestMismatchError) {
    return ociError(context, 'digest-mismatch', error.message, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return ociError(context, 'unavailable', message, { cause: error });
}
