// The development release for tests: built on first use (CI builds it with
// `npm run dev-release` before the tests, so this is normally a quick check),
// rebuilt when the builder's code changed since, and pushed into a registry
// on request.
//
//   const release = await ensureDevRelease();
//   release.layoutDir                       // <root>/siderolabs/imager, …
//   release.boot['v1.12.0'].kernel / .initramfs
//   await publishDevRelease(registry.host); // every image, same tags and digests

import { stat } from 'node:fs/promises';
import { DEFAULT_OUT, DEFAULT_VERSIONS, buildDevRelease } from '../../devrelease/build.js';
import { codeHash } from '../../devrelease/code-hash.js';
import { pushDevRelease } from '../../devrelease/push.js';
import { type DevReleaseInfo, readReleaseInfo } from '../../devrelease/release-info.js';

export type { BootFiles, DevReleaseInfo, ExtensionInfo, ImageInfo, OverlayInfo } from '../../devrelease/release-info.js';

/** Where the release is (IF_DEV_RELEASE_DIR overrides the default .cache/dev-release). */
export const DEV_RELEASE_DIR = process.env.IF_DEV_RELEASE_DIR ?? DEFAULT_OUT;

let pending: Promise<DevReleaseInfo> | undefined;

export function ensureDevRelease(): Promise<DevReleaseInfo> {
  pending ??= load().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function load(): Promise<DevReleaseInfo> {
  const existing = await readReleaseInfo(DEV_RELEASE_DIR).catch(() => undefined);
  if (existing && (await usable(existing))) return existing;
  const versions = [...new Set([...DEFAULT_VERSIONS, ...(existing?.versions ?? [])])];
  return buildDevRelease({ out: DEV_RELEASE_DIR, versions });
}

/** Made by the current code, with the default versions, and its layouts still there. */
async function usable(info: DevReleaseInfo): Promise<boolean> {
  if (info.codeHash !== (await codeHash())) return false;
  if (!DEFAULT_VERSIONS.every((v) => info.versions.includes(v))) return false;
  const files = [info.layoutDir, info.grubDir, ...Object.values(info.boot).flatMap((b) => [b.kernel, b.initramfs, b.systemdBoot, b.systemdStub])];
  const present = await Promise.all(files.map((f) => stat(f).then(() => true, () => false)));
  return present.every(Boolean);
}

/** Pushes every image of the release into a registry (plain http), tags and digests unchanged. */
export async function publishDevRelease(host: string): Promise<DevReleaseInfo> {
  const info = await ensureDevRelease();
  await pushDevRelease(info, host);
  return info;
}
