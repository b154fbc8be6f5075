// Image references: `[registry/]repository[:tag][@digest]`, with Docker's rules for
// telling a registry host from the first path component.

import { DIGEST_PATTERN } from './digest.js';

export interface ImageReference {
  /** Registry host[:port], e.g. `ghcr.io` or `127.0.0.1:5000`. */
  registry: string;
  /** Repository path, e.g. `siderolabs/imager`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const REPOSITORY_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;

export const DEFAULT_REGISTRY = 'docker.io';

export class InvalidReferenceError extends Error {
  override name = 'InvalidReferenceError';
}

export function isValidRepository(repository: string): boolean {
  return repository.length <= 255 && REPOSITORY_PATTERN.test(repository);
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

export function parseReference(text: string): ImageReference {
  const fail = (why: string): never => {
    throw new InvalidReferenceError(`invalid image reference ${JSON.stringify(text)}: ${why}`);
  };
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_PATTERN.test(digest)) fail('the digest must be sha256: followed by 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) fail(`invalid tag ${JSON.stringify(tag)}`);
  }
  let registry = DEFAULT_REGISTRY;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  if (!isValidRepository(rest)) fail(`invalid repository ${JSON.stringify(rest)}`);
  return { registry, repository: rest, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
