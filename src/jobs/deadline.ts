// A build's stop signal: aborted at its deadline (IF_BUILD_TIMEOUT_SECONDS) or
// when the queue gives it up for another reason (a lost lock), whichever
// comes first. The reason says why, for the status page and the logs.

export class BuildTimeoutError extends Error {
  override name = 'BuildTimeoutError';
}

const TIMED_OUT = 'build timed out after';

/** The time limit (seconds) a failed build's message says it ran past, if that is why it failed (the message may have crossed processes as text). */
export function timeLimitExceeded(message: string): number | undefined {
  const match = new RegExp(`^${TIMED_OUT} (\\d+) s$`).exec(message);
  return match ? Number(match[1]) : undefined;
}

export interface Deadline {
  signal: AbortSignal;
  /** Stops the timer once the build has ended. */
  clear(): void;
}

/** A signal aborted after `ms` with a BuildTimeoutError, or when `also` aborts. */
export function buildDeadline(ms: number, also?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new BuildTimeoutError(`${TIMED_OUT} ${Math.round(ms / 1000)} s`)), ms);
  const forward = (): void => controller.abort(also?.reason instanceof Error ? also.reason : new Error(String(also?.reason ?? 'build stopped')));
  if (also?.aborted) forward();
  else also?.addEventListener('abort', forward, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      also?.removeEventListener('abort', forward);
    },
  };
}

/** Why a stopped build failed: the signal's reason when it was stopped, else its own error. */
export function failureOf(error: unknown, signal: AbortSignal): Error {
  return signal.aborted && signal.reason instanceof Error ? signal.reason : (error as Error);
}
