// The two interfaces every image store implements (a remote registry repository,
// an OCI layout directory): reading, and for some, writing. Transforms and copies
// are written against these, never against a concrete store.

import type { Readable } from 'node:stream';
import type { Descriptor, ParsedManifest } from './manifest.js';

export interface FetchedManifest {
  /** Digest, size and media type of the exact bytes. */
  descriptor: Descriptor;
  bytes: Buffer;
  parsed: ParsedManifest;
}

export interface ImageRepository {
  /** Where this is, for messages: `127.0.0.1:5000/siderolabs/imager`, `oci:/srv/mirror/siderolabs/imager`. */
  readonly location: string;
  /** Tag or digest → the descriptor of the manifest it names (no body transfer where possible). */
  resolve(reference: string): Promise<Descriptor>;
  /** Tag or digest → manifest bytes, verified against the digest when one was asked for. */
  fetchManifest(reference: string): Promise<FetchedManifest>;
  /** A blob's bytes as a stream that errors at the end unless digest and size match. */
  openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable>;
  /** Every tag, in the store's order. */
  listTags(): Promise<string[]>;
}

export interface WritableImageRepository extends ImageRepository {
  hasBlob(digest: string): Promise<boolean>;
  /** Stores a blob; `open` may be called again when a transfer has to be retried. */
  putBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>, open: () => Readable | Promise<Readable>): Promise<void>;
  /** Stores manifest bytes under a tag (or only by digest when `tag` is undefined). */
  putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<Descriptor>;
}
