// The OCI distribution endpoint `talosctl upgrade` pulls installers from:
// /v2/ (ping), /v2/<image>/<schematic>/manifests/<tag|digest> and
// /v2/<image>/<schematic>/blobs/<digest>, where <image> is `installer` or
// `<platform>-installer` (their `-secureboot` forms are refused while
// SecureBoot is not offered). A tag builds (once) the installer for that
// Talos version; digests are served from what was built. Checked in
// upstream's order: the path's shape, the schematic, then the image name.

import type { Express, Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { AssetService } from '../../assets/service.js';
import { AssetNotImplementedError, InvalidAssetRequestError } from '../../assets/target.js';
import type { AssetCache, CachedAsset } from '../../cache/cache.js';
import type { DigestIndex } from '../../cache/digest-index.js';
import { BuildFailedError } from '../../jobs/queue.js';
import { OciArchiveRepository } from '../../oci/archive.js';
import { isDigest } from '../../oci/digest.js';
import { OciError } from '../../oci/errors.js';
import { InvalidManifestError } from '../../oci/manifest.js';
import { VersionNotAvailableError } from '../../release/errors.js';
import type { ReleaseService } from '../../release/release.js';
import type { SchematicService } from '../../schematic/index.js';
import { parseAssetPath } from '../../talos/asset-path.js';
import { InvalidVersionError, parsePathVersion, type TalosVersion } from '../../talos/version.js';
import { parseRange } from '../range.js';

export interface RegistryRouteDeps {
  schematics: SchematicService;
  assets: AssetService;
  cache: AssetCache;
  releases: ReleaseService;
  digests: DigestIndex;
}

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Errors as the distribution spec writes them, which every client understands. */
function sendRegistryError(res: Response, error: RegistryError): void {
  const body = Buffer.from(JSON.stringify({ errors: [{ code: error.code, message: error.message }] }));
  res.status(error.status).setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/** `installer[-secureboot]` or `<platform>-installer[-secureboot]` → the asset file name upstream would parse. */
function installerFileName(image: string): string {
  const m = /^(?:([a-z0-9-]+)-)?installer(-secureboot)?$/.exec(image);
  if (!m) throw new RegistryError(400, 'NAME_INVALID', `invalid image: ${image}`);
  const platform = m[1] === undefined ? '' : `${m[1]}-`;
  return `${platform}installer-amd64${m[2] ?? ''}.tar`;
}

async function versionFor(tag: string, releases: ReleaseService): Promise<TalosVersion> {
  if (tag === 'latest') {
    const newest = await releases.newestStable();
    if (!newest) throw new RegistryError(404, 'MANIFEST_UNKNOWN', 'no Talos version is available');
    return newest;
  }
  // Upstream looks any other tag up as it is, and only Talos versions (v...) are ever pushed.
  if (!tag.startsWith('v')) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `unknown tag ${tag}: tags are Talos versions such as v1.12.0, or latest`);
  try {
    return parsePathVersion(tag);
  } catch (error) {
    if (error instanceof InvalidVersionError) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `unknown tag ${tag}: tags are Talos versions such as v1.12.0, or latest`);
    throw error;
  }
}

async function archiveOf(asset: CachedAsset): Promise<OciArchiveRepository> {
  return OciArchiveRepository.open(`installer ${asset.metadata.key}`, (range) => asset.open(range), asset.metadata.size);
}

export function registryRoutes(app: Express, deps: RegistryRouteDeps): void {
  const byDigest = async (digest: string): Promise<OciArchiveRepository> => {
    const key = await deps.digests.lookup(digest);
    const asset = key === undefined ? undefined : await deps.cache.get(key);
    if (!asset) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${digest} is not known here: pull by tag first`);
    return archiveOf(asset);
  };

  const sendManifest = async (req: Request, res: Response, archive: OciArchiveRepository, reference: string): Promise<void> => {
    const { descriptor, bytes } = await archive.fetchManifest(reference).catch((error: unknown) => {
      // A digest of a layer or a config, or of nothing in this archive.
      if (error instanceof OciError || error instanceof InvalidManifestError) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${reference} is not a manifest here`);
      throw error;
    });
    res.status(200).setHeader('Content-Type', descriptor.mediaType);
    res.setHeader('Content-Length', bytes.length);
    res.setHeader('Docker-Content-Digest', descriptor.digest);
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };

  const requireSchematic = async (id: string) => {
    const schematic = await deps.schematics.getParsed(id);
    if (!schematic) throw new RegistryError(404, 'NAME_UNKNOWN', `schematic ID ${JSON.stringify(id)} not found`);
    return schematic;
  };

  const manifests = async (req: Request, res: Response, image: string, id: string, reference: string): Promise<void> => {
    const schematic = await requireSchematic(id);
    installerFileName(image);
    if (isDigest(reference)) return sendManifest(req, res, await byDigest(reference), reference);
    const version = await versionFor(reference, deps.releases);
    const prepared = await deps.assets.prepare(schematic, version, parseAssetPath(installerFileName(image)), 'oci-archive');
    const archive = await archiveOf(await deps.assets.fetch(prepared));
    await deps.digests.record(archive.digests(), prepared.spec.key);
    const tags = await archive.listTags();
    return sendManifest(req, res, archive, tags[0] ?? reference);
  };

  const blobs = async (req: Request, res: Response, image: string, id: string, digest: string): Promise<void> => {
    await requireSchematic(id);
    installerFileName(image);
    if (!isDigest(digest)) throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${digest}`);
    const archive = await byDigest(digest).catch((error: unknown) => {
      if (error instanceof RegistryError) throw new RegistryError(404, 'BLOB_UNKNOWN', error.message);
      throw error;
    });
    const size = archive.blobSize(digest);
    if (size === undefined) throw new RegistryError(404, 'BLOB_UNKNOWN', `${digest} is not known here: pull by tag first`);
    const range = parseRange(req.headers.range, size);
    if (range === 'invalid') {
      res.status(416).setHeader('Content-Range', `bytes */${size}`);
      res.end();
      return;
    }
    res.status(range ? 206 : 200).setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', range ? range.end - range.start + 1 : size);
    res.setHeader('Docker-Content-Digest', digest);
    res.setHeader('Accept-Ranges', 'bytes');
    if (range) res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    if (req.method === 'HEAD' || size === 0) return void res.end();
    await pipeline(range ? archive.openBlobRange(digest, range) : await archive.openBlob({ digest, size }), res);
  };

  /** Not in upstream's endpoint, but clients such as `skopeo inspect` list tags: the versions on offer. */
  const tags = async (res: Response, image: string, id: string): Promise<void> => {
    await requireSchematic(id);
    installerFileName(image);
    const versions = (await deps.releases.versions()).map((v) => `v${v.version}`);
    const body = Buffer.from(JSON.stringify({ name: `${image}/${id}`, tags: [...versions, 'latest'] }));
    res.status(200).setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', body.length);
    res.end(body);
  };

  app.all(/^\/v2(\/.*)?$/, async (req, res, next) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendRegistryError(res, new RegistryError(405, 'UNSUPPORTED', 'this registry is read-only'));
    }
    const parts = req.path.replace(/^\/v2\/?/, '').split('/').filter(Boolean);
    try {
      if (parts.length === 0) return void res.status(200).end();
      const [image, id, resource, reference] = parts;
      if (parts.length === 4 && resource === 'tags' && reference === 'list' && image !== undefined && id !== undefined) {
        return await tags(res, image, id);
      }
      if (image === 'siderolabs') {
        // Upstream proxies its release images (installer-base, imager, ...) from here; this factory reads them itself.
        throw new RegistryError(501, 'UNSUPPORTED', `the source image proxy (/v2/siderolabs/...) is not offered here: pull siderolabs/${parts.slice(1, -2).join('/')} from the release registry`);
      }
      if (parts.length !== 4 || image === undefined || id === undefined || reference === undefined || (resource !== 'manifests' && resource !== 'blobs')) {
        throw new RegistryError(404, 'NAME_UNKNOWN', `unknown registry path: ${JSON.stringify(req.path)}`);
      }
      if (resource === 'manifests') return await manifests(req, res, image, id, reference);
      return await blobs(req, res, image, id, reference);
    } catch (error) {
      if (res.headersSent) return void res.destroy(error as Error);
      if (error instanceof RegistryError) return sendRegistryError(res, error);
      if (error instanceof VersionNotAvailableError) return sendRegistryError(res, new RegistryError(404, 'MANIFEST_UNKNOWN', error.message));
      if (error instanceof InvalidAssetRequestError) return sendRegistryError(res, new RegistryError(400, 'UNSUPPORTED', error.message));
      if (error instanceof AssetNotImplementedError) return sendRegistryError(res, new RegistryError(501, 'UNSUPPORTED', error.message));
      if (error instanceof BuildFailedError) return sendRegistryError(res, new RegistryError(500, 'UNKNOWN', `installer build failed: ${error.message}`));
      next(error);
    }
  });
}
