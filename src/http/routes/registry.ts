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
import type { AssetCache, CachedAsset } from '../../cache/cache.js';
import type { DigestIndex } from '../../cache/digest-index.js';
import { OciArchiveRepository } from '../../oci/archive.js';
import { isDigest } from '../../oci/digest.js';
import { OciError } from '../../oci/errors.js';
import { InvalidManifestError } from '../../oci/manifest.js';
import type { CosignSigner } from '../../oci/cosign/signer.js';
import { signedDigestOfTag } from '../../oci/cosign/simple-signing.js';
import { MEDIA_TYPE } from '../../oci/media-types.js';
import type { ReleaseService } from '../../release/release.js';
import type { ParsedSchematic, SchematicService } from '../../schematic/index.js';
import { InvalidAssetPathError, parseAssetPath } from '../../talos/asset-path.js';
import { InvalidVersionError, parsePathVersion, type TalosVersion, versionTag } from '../../talos/version.js';
import { type ErrorAnswer, errorAnswer, HttpError, logFailure } from '../errors.js';
import { parseRange } from '../range.js';
import { clientAddress } from '../routing.js';

export interface RegistryRouteDeps {
  schematics: SchematicService;
  assets: AssetService;
  cache: AssetCache;
  releases: ReleaseService;
  digests: DigestIndex;
  /** Signs installers (cosign's `sha256-<hex>.sig` images); unset: installers are served unsigned. */
  signer?: CosignSigner;
}

/** A registry answer: distribution-spec code first, as these call sites read best. */
class RegistryError extends HttpError {
  constructor(status: number, code: string, message: string) {
    super(status, message, code);
  }
}

/** Errors as the distribution spec writes them, which every client understands. */
function sendRegistryError(res: Response, reply: ErrorAnswer): void {
  const body = Buffer.from(JSON.stringify({ errors: [{ code: reply.code, message: reply.message }] }));
  res.status(reply.status).setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', body.length);
  if (reply.retryAfter !== undefined) res.setHeader('Retry-After', reply.retryAfter);
  res.end(body);
}

/** `installer[-secureboot]` or `<platform>-installer[-secureboot]` → the asset file name upstream would parse. */
function installerFileName(image: string): string {
  const m = /^(?:([a-z0-9-]+)-)?installer(-secureboot)?$/.exec(image);
  if (!m) throw new RegistryError(400, 'NAME_INVALID', `invalid image: ${image}`);
  const platform = m[1] === undefined ? '' : `${m[1]}-`;
  const fileName = `${platform}installer-amd64${m[2] ?? ''}.tar`;
  // A dash the platform name cannot hold (e.g. `not-an-installer`) leaves no valid asset name.
  try {
    parseAssetPath(fileName);
  } catch (error) {
    if (error instanceof InvalidAssetPathError) throw new RegistryError(400, 'NAME_INVALID', `invalid image: ${image}`);
    throw error;
  }
  return fileName;
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
  /** The installer archive of a schematic and version, built once; its digests recorded for pulls by digest. */
  const installerArchive = async (schematic: ParsedSchematic, image: string, version: TalosVersion, client?: string): Promise<OciArchiveRepository> => {
    const prepared = await deps.assets.prepare(schematic, version, parseAssetPath(installerFileName(image)), 'oci-archive');
    const archive = await archiveOf(await deps.assets.fetch(prepared, client));
    await deps.digests.record(archive.digests(), { key: prepared.spec.key, image, schematic: schematic.id, version: versionTag(version) });
    return archive;
  };

  // Another instance may have served this digest: its index entry names the installer, which is cached or built once here.
  const byDigest = async (digest: string): Promise<OciArchiveRepository> => {
    const ref = await deps.digests.lookup(digest);
    const cached = ref === undefined ? undefined : await deps.cache.get(ref.key);
    if (cached) return archiveOf(cached);
    const schematic = ref === undefined ? undefined : await deps.schematics.getParsed(ref.schematic);
    if (!ref || !schematic) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${digest} is not known here: pull by tag first`);
    return installerArchive(schematic, ref.image, parsePathVersion(ref.version));
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

  // Where cosign clients look for an installer's signature: signed for the repository as this client named it.
  const sendSignature = async (req: Request, res: Response, signer: CosignSigner, repository: string, digest: string): Promise<void> => {
    const archive = await byDigest(digest);
    await archive.fetchManifest(digest).catch(() => {
      throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${digest} is not an installer manifest here`);
    });
    const reference = `${req.headers.host ?? 'localhost'}/${repository}`;
    const signature = signer.sign(reference, digest);
    // A client may fetch the blobs from another instance (a load balancer): the index tells it what to sign again.
    const ref = await deps.digests.lookup(digest);
    if (ref) await deps.digests.record(signature.blobs, { ...ref, signature: { reference, digest } });
    res.status(200).setHeader('Content-Type', MEDIA_TYPE.ociManifest);
    res.setHeader('Content-Length', signature.manifest.length);
    res.setHeader('Docker-Content-Digest', signature.digest);
    res.end(req.method === 'HEAD' ? undefined : signature.manifest);
  };

  /** A blob of a signature image signed here, or recorded by another instance (then signed here the same way). */
  const signatureBlobOf = async (signer: CosignSigner, digest: string): Promise<Buffer | undefined> => {
    const made = signer.blob(digest);
    if (made) return made;
    const signed = (await deps.digests.lookup(digest))?.signature;
    if (!signed) return undefined;
    signer.sign(signed.reference, signed.digest);
    return signer.blob(digest);
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
    const signed = signedDigestOfTag(reference);
    if (signed !== undefined && deps.signer) return sendSignature(req, res, deps.signer, `${image}/${id}`, signed);
    const archive = await installerArchive(schematic, image, await versionFor(reference, deps.releases), clientAddress(req));
    const tags = await archive.listTags();
    return sendManifest(req, res, archive, tags[0] ?? reference);
  };

  const blobs = async (req: Request, res: Response, image: string, id: string, digest: string): Promise<void> => {
    await requireSchematic(id);
    installerFileName(image);
    if (!isDigest(digest)) throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${digest}`);
    const signatureBlob = deps.signer && (await signatureBlobOf(deps.signer, digest));
    if (signatureBlob) {
      res.status(200).setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', signatureBlob.length);
      res.setHeader('Docker-Content-Digest', digest);
      return void res.end(req.method === 'HEAD' ? undefined : signatureBlob);
    }
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

  app.all(/^\/v2(\/.*)?$/, async (req, res) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendRegistryError(res, errorAnswer(new RegistryError(405, 'UNSUPPORTED', 'this registry is read-only'), String(req.id)));
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
      const reply = errorAnswer(error, String(req.id));
      logFailure(req, error, reply);
      if (res.headersSent) return void res.destroy(error as Error);
      sendRegistryError(res, reply);
    }
  });
}
