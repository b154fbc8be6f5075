// The one error → answer mapping and the failure summaries, fed real errors:
// an ENOSPC from /dev/full, a host tool's real failure with its command line,
// express's body-parser errors. No answer to a client carries a path, a
// command or a JavaScript message; the status says whose fault it was.

import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Admission, AdmissionError } from '../../src/assets/admission.js';
import { InvalidAssetRequestError } from '../../src/assets/target.js';
import { MKFS_XFS, MissingToolError, runTool } from '../../src/host-tool.js';
import { loadConfig } from '../../src/config.js';
import { scrubPaths, summariseFailure } from '../../src/error-summary.js';
import { errorAnswer, HttpError } from '../../src/http/errors.js';
import { InProcessQueue } from '../../src/jobs/in-process.js';
import { BuildFailedError } from '../../src/jobs/queue.js';
import { OciError } from '../../src/oci/errors.js';
import { parseSchematic } from '../../src/schematic/index.js';
import { parsePathVersion } from '../../src/talos/version.js';

async function caught(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/** What a failed build reaches the HTTP layer as: summarised where it ran, then wrapped by the queue. */
function asBuildFailure(error: unknown): BuildFailedError {
  return new BuildFailedError(summariseFailure(error, 'build 0123456789ab'), { cause: error });
}

describe('errorAnswer', () => {
  it('answers a full disk with 507 and a fixed summary, directly or from a build', async () => {
    const enospc = await caught(() => writeFile('/dev/full', 'x'));
    expect((enospc as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(errorAnswer(enospc, 'r1')).toMatchObject({ status: 507, message: 'the factory is out of disk space', log: 'error' });
    expect(errorAnswer(asBuildFailure(enospc), 'r1')).toMatchObject({ status: 507, message: 'asset build failed: the factory is out of disk space' });
    // A tool saying so in words (mkfs.xfs on a full disk) is the same condition.
    const toolSaid = new Error('mkfs.xfs -f /data/tmp/build-x/BOOT.img failed (exit 1): write failed: No space left on device');
    expect(errorAnswer(asBuildFailure(toolSaid), 'r1').status).toBe(507);
  });

  it("hides a tool's command line and the server's paths behind the build's name", async () => {
    const failed = await caught(() => runTool(MKFS_XFS, ['-f', '/nonexistent/secret/BOOT.img']));
    const reply = errorAnswer(asBuildFailure(failed), 'r2');
    expect(reply.status).toBe(500);
    expect(reply.message).toBe('asset build failed: internal error (build 0123456789ab): the server log has the cause');
  });

  it('answers an unexpected error with the request ID and nothing of its message', () => {
    const reply = errorAnswer(new TypeError("Cannot read properties of undefined (reading 'x') at /app/dist/src/secret.js:1"), 'req-42');
    expect(reply).toMatchObject({ status: 500, log: 'error' });
    expect(reply.message).toBe('internal server error (request ID req-42): the server log has the details');
  });

  it('gives client mistakes 4xx with what to fix, and does not log them as errors', async () => {
    expect(errorAnswer(await caught(() => parsePathVersion('v9999999999999999999999.0.0')), 'r')).toMatchObject({ status: 400, log: 'none' });
    expect(errorAnswer(await caught(() => parseSchematic('['.repeat(100))), 'r')).toMatchObject({ status: 400, message: expect.stringContaining('maxDepth') });
    expect(errorAnswer(new InvalidAssetRequestError('secure boot is disabled'), 'r')).toMatchObject({
      status: 400,
      message: 'error enhancing profile from schematic: secure boot is disabled',
    });
    expect(errorAnswer(Object.assign(new Error('request entity too large'), { type: 'entity.too.large', limit: 1024 }), 'r')).toMatchObject({ status: 413 });
    expect(errorAnswer(new HttpError(404, 'schematic ID "x" not found'), 'r')).toMatchObject({ status: 404, log: 'none' });
    const badEscape = Object.assign(new URIError("Failed to decode param '%E0%A4%A'"), { status: 400 });
    expect(errorAnswer(badEscape, 'r')).toMatchObject({ status: 400, message: "invalid request: Failed to decode param '%E0%A4%A'" });
  });

  it('keeps the messages this service writes for users, paths scrubbed', () => {
    const missing = new MissingToolError('grub-mkimage', 'grub-common');
    expect(errorAnswer(asBuildFailure(missing), 'r')).toMatchObject({ status: 503, message: expect.stringContaining('apt-get install grub-common') });
    const layout = new OciError('not-found', 'open', '/srv/secret/layout/siderolabs/imager', 'not an OCI layout: oci-layout is missing');
    // The registry's 404 is the release source's answer to us, not the client's mistake.
    const upstream404 = new OciError('not-found', 'pull manifest', 'ghcr.io/siderolabs/gvisor:v1', 'MANIFEST_UNKNOWN', 404);
    expect(errorAnswer(upstream404, 'r')).toMatchObject({ status: 502, message: 'release source error: pull manifest ghcr.io/siderolabs/gvisor:v1: MANIFEST_UNKNOWN' });
    expect(errorAnswer(layout, 'r')).toMatchObject({ status: 502, message: 'release source error: open …: not an OCI layout: oci-layout is missing' });
    expect(scrubPaths('pull manifest http://127.0.0.1:5000/v2/siderolabs/imager/manifests/v1 from /var/lib/x')).toBe(
      'pull manifest http://127.0.0.1:5000/v2/siderolabs/imager/manifests/v1 from …',
    );
  });

  it('answers a build stopped at its deadline with 503 naming the limit and what to do, in-process or as text from another process', async () => {
    const queue = new InProcessQueue((_spec, { signal }) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')))), {
      concurrency: 1,
      timeoutMs: 1000,
    });
    const timedOut = await caught(() => queue.run({ key: 'k', canonical: '', versionTag: 'v1.12.0', path: 'metal-amd64.raw.zst' }));
    expect(timedOut).toBeInstanceOf(BuildFailedError);
    expect(errorAnswer(timedOut, 'r')).toMatchObject({
      status: 503,
      code: 'UNAVAILABLE',
      message:
        "asset build timed out: it ran longer than this factory's build time limit of 1 s (IF_BUILD_TIMEOUT_SECONDS) and was stopped; " +
        "try again later, when the factory is less busy, or have the factory's operator raise IF_BUILD_TIMEOUT_SECONDS",
    });
    // BullMQ hands the failure over as its message.
    expect(errorAnswer(new BuildFailedError('build timed out after 1800 s'), 'r')).toMatchObject({ status: 503, message: expect.stringContaining('limit of 1800 s') });
    // A build's own message that merely mentions a timeout is not the deadline.
    expect(errorAnswer(new BuildFailedError('release source error: build timed out after 3 s upstream'), 'r').status).toBe(500);
  });

  it('answers a refused admission with its status and Retry-After', () => {
    const admission = new Admission({ maxQueued: 2, maxQueuedPerClient: 1, retryAfterSeconds: 30 });
    const release = admission.admit('k1', 'a');
    expect(admission.admit('k1', 'b')).toBeTypeOf('function'); // joining the same build is free
    const perClient = (() => {
      try {
        admission.admit('k2', 'a');
      } catch (error) {
        return error;
      }
    })() as AdmissionError;
    expect(errorAnswer(perClient, 'r')).toMatchObject({ status: 429, retryAfter: 30, code: 'TOOMANYREQUESTS' });
    admission.admit('k3', 'b');
    expect(() => admission.admit('k4', 'c')).toThrow(AdmissionError);
    release();
    release(); // twice is once
    expect(admission.queued).toBe(1);
    expect(admission.admit('k4', 'c')).toBeTypeOf('function');
  });
});

describe('configuration defaults', () => {
  it('metrics listen on loopback unless configured, and admission has documented bounds', () => {
    const config = loadConfig({}, {});
    expect(config.metricsListen).toBe('127.0.0.1:2122');
    expect([config.maxQueuedBuilds, config.maxQueuedBuildsPerClient]).toEqual([64, 8]);
    expect(loadConfig({}, { IF_METRICS_LISTEN: '0.0.0.0:9000', IF_MAX_QUEUED_BUILDS_PER_CLIENT: '2' })).toMatchObject({ metricsListen: '0.0.0.0:9000', maxQueuedBuildsPerClient: 2 });
  });
});
