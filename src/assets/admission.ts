// Admission control for builds: a request that would start a new build (not
// join one already under way, not read the cache) is admitted only while this
// process has fewer than `maxQueued` builds queued or running, and its client
// fewer than `maxQueuedPerClient`. Otherwise it is refused with 429 (this
// client has enough) or 503 (the factory has enough), both with Retry-After,
// before anything is queued. Builds started from /status and installer
// prebuilds count like downloads. With BullMQ each web process bounds what it
// queues.

export interface AdmissionLimits {
  /** Builds queued or running that this process started, for all clients together. */
  maxQueued: number;
  /** Of those, for one client address. */
  maxQueuedPerClient: number;
  /** What Retry-After says when refusing. */
  retryAfterSeconds: number;
}

/** A build was not admitted: 429 (this client) or 503 (everyone), with the seconds to wait. */
export class AdmissionError extends Error {
  override name = 'AdmissionError';
  constructor(
    readonly status: 429 | 503,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

export class Admission {
  /** Admitted builds by AssetKey, with the client they count against. */
  private readonly builds = new Map<string, string>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly limits: AdmissionLimits) {}

  /**
   * Admits the build of `key` for `client`, or throws AdmissionError. Returns
   * the release to call when the build has settled; a build already admitted
   * is joined and costs nothing (its release is a no-op).
   */
  admit(key: string, client: string): () => void {
    if (this.builds.has(key)) return () => {};
    const { maxQueued, maxQueuedPerClient, retryAfterSeconds } = this.limits;
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= maxQueuedPerClient) {
      throw new AdmissionError(429, `too many builds queued for your address (${mine}, at most ${maxQueuedPerClient}): wait for them to finish, then retry`, retryAfterSeconds);
    }
    if (this.builds.size >= maxQueued) {
      throw new AdmissionError(503, `the factory has ${this.builds.size} builds queued (at most ${maxQueued}): retry later`, retryAfterSeconds);
    }
    this.builds.set(key, client);
    this.perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.builds.delete(key);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    };
  }

  /** Builds admitted and not yet settled (for metrics and tests). */
  get queued(): number {
    return this.builds.size;
  }
}
