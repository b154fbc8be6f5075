// Every release image is checked before use, as upstream checks what it pulls:
// its manifest digest must carry a cosign signature made with the configured
// public key. A digest that passed is remembered (digests never change
// meaning); one that failed is asked again next time, so a signature pushed
// late is picked up.

import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { SignatureVerificationError, verifyCosignSignature } from '../oci/cosign/verify.js';
import type { ImageRepository } from '../oci/repository.js';
import { InvalidReleaseError } from './errors.js';

/** A release image is unsigned or mis-signed: it is not used, and nothing built from it is cached. */
export class ReleaseSignatureError extends InvalidReleaseError {
  override name = 'ReleaseSignatureError';
}

export class ReleaseVerifier {
  private readonly verified = new LRUCache<string, true>({ max: 4096 });
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly key: KeyObject,
    private readonly logger: Logger,
  ) {}

  verify(repo: ImageRepository, digest: string): Promise<void> {
    const id = `${repo.location}@${digest}`;
    if (this.verified.has(id)) return Promise.resolve();
    let pending = this.inflight.get(id);
    if (!pending) {
      pending = this.check(repo, digest, id).finally(() => this.inflight.delete(id));
      this.inflight.set(id, pending);
    }
    return pending;
  }

  private async check(repo: ImageRepository, digest: string, id: string): Promise<void> {
    try {
      const format = await verifyCosignSignature(repo, digest, this.key);
      this.verified.set(id, true);
      this.logger.debug({ image: id, format }, 'release image signature verified');
    } catch (error) {
      if (!(error instanceof SignatureVerificationError)) throw error;
      this.logger.error({ image: id, reason: error.message }, 'release image refused');
      throw new ReleaseSignatureError(`image ${id} failed signature verification: ${error.message}`, { cause: error });
    }
  }
}
