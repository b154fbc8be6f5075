// OCI / Docker v2 manifests and indexes: types, strict parsing, platform selection.

import { z } from 'zod';
import { DIGEST_PATTERN } from './digest.js';
import { MEDIA_TYPE, isImageManifestMediaType, isIndexMediaType } from './media-types.js';

const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
});

const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string().regex(DIGEST_PATTERN, 'must be a sha256 digest'),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
  artifactType: z.string().optional(),
});

const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const imageIndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type Platform = z.infer<typeof platformSchema>;
export type Descriptor = z.infer<typeof descriptorSchema>;
export type ImageManifest = z.infer<typeof imageManifestSchema>;
export type ImageIndex = z.infer<typeof imageIndexSchema>;

/** The parts of an image config we read or carry over. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: {
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    [key: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: unknown[];
  [key: string]: unknown;
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'image'; mediaType: string; manifest: ImageManifest };

export class InvalidManifestError extends Error {
  override name = 'InvalidManifestError';
}

/**
 * Parses manifest bytes. The media type comes from the transport (Content-Type
 * or descriptor); when absent or generic, the document's own field decides.
 */
export function parseManifest(bytes: Uint8Array, transportMediaType?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new InvalidManifestError(`manifest is not JSON: ${(error as Error).message}`);
  }
  const declared = typeof json === 'object' && json !== null ? (json as { mediaType?: unknown }).mediaType : undefined;
  const mediaType = pickMediaType(transportMediaType, declared, json);
  if (isIndexMediaType(mediaType)) {
    const parsed = imageIndexSchema.safeParse(json);
    if (!parsed.success) throw new InvalidManifestError(`invalid image index: ${formatIssues(parsed.error)}`);
    return { kind: 'index', mediaType, index: parsed.data };
  }
  if (isImageManifestMediaType(mediaType)) {
    const parsed = imageManifestSchema.safeParse(json);
    if (!parsed.success) throw new InvalidManifestError(`invalid image manifest: ${formatIssues(parsed.error)}`);
    return { kind: 'image', mediaType, manifest: parsed.data };
  }
  throw new InvalidManifestError(`unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

function pickMediaType(transport: string | undefined, declared: unknown, json: unknown): string {
  const fromTransport = transport?.split(';')[0]?.trim();
  if (fromTransport && (isIndexMediaType(fromTransport) || isImageManifestMediaType(fromTransport))) return fromTransport;
  if (typeof declared === 'string' && declared !== '') return declared;
  // OCI allows omitting mediaType; tell the two kinds apart by shape.
  const hasManifests = typeof json === 'object' && json !== null && 'manifests' in json;
  return hasManifests ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest;
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * Picks the manifest for a platform from an index: same os and architecture,
 * and the same variant when one is asked for. Attestation manifests
 * (platform unknown/unknown) never match.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor | undefined {
  return index.manifests.find(
    (d) =>
      d.platform !== undefined &&
      d.platform.os === want.os &&
      d.platform.architecture === want.architecture &&
      (want.variant === undefined || d.platform.variant === want.variant),
  );
}

/** Serialises a manifest or index the way we publish it (compact JSON, stable key order from the object). */
export function encodeManifest(document: ImageManifest | ImageIndex): Buffer {
  return Buffer.from(JSON.stringify(document), 'utf8');
}
