// What a client may be told about a server-side failure. The real cause (an
// errno with the server's paths, a tool's command line and stderr, a
// JavaScript message) goes to the log; the client gets one of a few fixed
// summaries, or the message of an error this service wrote for users. Build
// failures are summarised where the build runs, so the text that travels
// through the queue (to /status, to another process with BullMQ) is already fit
// to show, and its HTTP status can be read back from it.

import { MissingToolError } from './host-tool.js';
import { InvalidExtensionError } from './build/extensions/manifest.js';
import { OciError } from './oci/errors.js';
import { InvalidReleaseError, UnknownExtensionError, VersionNotAvailableError } from './release/errors.js';

interface Summary {
  status: number;
  message: string;
  matches(codes: ReadonlySet<string>, text: string): boolean;
}

/** Conditions of this machine, recognised by errno or by the words tools print for them. */
const SUMMARIES: readonly Summary[] = [
  {
    status: 507,
    message: 'the factory is out of disk space',
    matches: (codes, text) => codes.has('ENOSPC') || codes.has('EDQUOT') || /no space left on device|disk quota exceeded/i.test(text),
  },
  {
    status: 503,
    message: "the factory's storage is read-only",
    matches: (codes, text) => codes.has('EROFS') || /read-only file system/i.test(text),
  },
  {
    status: 503,
    message: 'the factory has run out of file handles or memory',
    matches: (codes) => codes.has('EMFILE') || codes.has('ENFILE') || codes.has('ENOMEM'),
  },
];

/** Errors whose messages this service writes for users: names of images, versions, packages; never local paths. */
const USER_FACING = [MissingToolError, OciError, InvalidReleaseError, InvalidExtensionError, UnknownExtensionError, VersionNotAvailableError];

/** The error and its causes (`cause`, AggregateError's `errors`), outermost first, bounded. */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  const queue = [error];
  while (queue.length > 0 && out.length < 16) {
    const e = queue.shift();
    if (e === undefined || e === null || out.includes(e)) continue;
    out.push(e);
    if (e instanceof AggregateError) queue.push(...(e.errors as unknown[]));
    if (e instanceof Error && e.cause !== undefined) queue.push(e.cause);
  }
  return out;
}

/** Absolute file paths in a message (not the paths of URLs) become `…`. */
export function scrubPaths(text: string): string {
  return text.replace(/(^|[\s'"(=,])\/[^\s'"),:]+/g, '$1…');
}

/** The condition of this machine behind an error, if it is one of the known ones. */
export function machineCondition(error: unknown): { status: number; message: string } | undefined {
  const errors = chain(error);
  const codes = new Set(errors.map((e) => (e as { code?: unknown }).code).filter((c): c is string => typeof c === 'string'));
  const text = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('\n');
  const found = SUMMARIES.find((s) => s.matches(codes, text));
  return found && { status: found.status, message: found.message };
}

/**
 * A client-safe message for a failed build: a machine condition, else the
 * message of a user-facing error in the chain (paths scrubbed), else a generic
 * text pointing at the log.
 */
export function summariseFailure(error: unknown, where: string): string {
  const condition = machineCondition(error);
  if (condition) return condition.message;
  const known = chain(error).find((e) => USER_FACING.some((type) => e instanceof type));
  if (known instanceof Error) return scrubPaths(known.message);
  return `internal error (${where}): the server log has the cause`;
}

/** The HTTP status a summarised build failure deserves (the summary may have crossed processes as text). */
export function statusOfSummary(message: string): number {
  const condition = SUMMARIES.find((s) => message.startsWith(s.message));
  if (condition) return condition.status;
  if (message.includes('is not installed: install the Debian package')) return 503;
  return 500;
}
