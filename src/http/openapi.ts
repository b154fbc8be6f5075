// The HTTP API described as OpenAPI 3.1: every route, its parameters, bodies,
// status codes and error texts. Served at /openapi.json and rendered at /api;
// the integration tests check real responses of every route against it.

import { VERSION } from '../version.js';

type Json = Record<string, unknown>;

const TEXT = 'text/plain; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/** A plain-text answer (Go's http.Error style: the message and a newline). */
function text(description: string, example?: string): Json {
  return { description, content: { [TEXT]: { schema: ref('ErrorText'), ...(example !== undefined && { example }) } } };
}

function json(description: string, schema: Json, contentType = 'application/json'): Json {
  return { description, content: { [contentType]: { schema } } };
}

function page(description: string): Json {
  return { description, content: { [HTML]: { schema: { type: 'string' } } } };
}

const redirect = (description: string): Json => ({
  description,
  headers: { Location: { schema: { type: 'string' }, description: 'Where to go next.' } },
  content: { [TEXT]: { schema: { type: 'string' } } },
});

const empty = (description: string): Json => ({ description });

function pathParam(name: string, description: string, schema: Json = { type: 'string' }): Json {
  return { name, in: 'path', required: true, description, schema };
}

function queryParam(name: string, description: string, schema: Json = { type: 'string' }): Json {
  return { name, in: 'query', required: false, description, schema };
}

const schematicParam = pathParam('schematic', 'Schematic ID: 64 lower-case hex digits (the SHA-256 of its canonical YAML).', ref('SchematicId'));
const versionParam = pathParam('version', 'Talos version, with or without the leading `v` (e.g. `v1.12.0`).');
const fileParam = pathParam(
  'file',
  'Asset file name: `kernel-<arch>`, `initramfs-<arch>.xz`, `cmdline-<platform>-<arch>`, `<platform>-<arch>[-secureboot]-uki.efi`, `<platform>-<arch>[-secureboot].iso`, `<platform>-<arch>[-secureboot].<raw|qcow2|vhd|ova>[.zst|.xz|.gz|.tar.gz]`, `installer-<arch>.tar`.',
);

const retryAfter = { description: 'Seconds to wait before asking again (queue limits only).', schema: { type: 'integer' } };

const assetErrors = {
  '400': text('The file name, the schematic or the version cannot be built (e.g. an unknown extension, SecureBoot without keys).', 'error parsing profile from path: invalid profile path: "metal-amd64.ssd"\n'),
  '404': text('Unknown schematic, or a version that is not on offer.', 'schematic ID "0000" not found\n'),
  '500': text('The build failed.', 'asset build failed: ...\n'),
  '429': { ...text('This client has too many builds queued (IF_MAX_QUEUED_BUILDS_PER_CLIENT).'), headers: { 'Retry-After': retryAfter } },
  '501': text('Not built by this factory yet (overlays for single-board computers).'),
  '502': text('The release source (registry or layout directory) failed, or a release image failed its signature check.', 'release source error: ...\n'),
  '503': {
    ...text(
      'The build queue is full (IF_MAX_QUEUED_BUILDS, with Retry-After), the build ran past the time limit (IF_BUILD_TIMEOUT_SECONDS), a host tool a build needs is missing, or the storage is read-only.',
      'service not fully installed: ...\n',
    ),
    headers: { 'Retry-After': retryAfter },
  },
  '507': text('The disk the build writes to is full; nothing was cached.'),
};

const registryError = json('An OCI distribution error.', ref('RegistryErrors'));

const wizardParams = [
  queryParam('target', 'Hardware type.', { enum: ['metal', 'cloud', 'sbc'] }),
  queryParam('version', 'Talos version, e.g. `v1.12.0`.'),
  queryParam('platform', 'Cloud platform (target `cloud`), e.g. `aws`.'),
  queryParam('board', 'Board overlay name (target `sbc`), e.g. `rpi_generic`.'),
  queryParam('arch', 'CPU architecture.', { enum: ['amd64', 'arm64'] }),
  queryParam('secureboot', 'Ask for SecureBoot (refused while no signing keys are configured).'),
  { ...queryParam('extensions', 'Official system extensions, repeated.', { type: 'array', items: { type: 'string' } }), explode: true },
  queryParam('extensions-set', 'Present once the extensions step was answered (even with none).'),
  queryParam('q', 'Extension search text (the extensions step without JavaScript).'),
  queryParam('cmdline', 'Extra kernel arguments, separated by spaces.'),
  queryParam('bootloader', 'Bootloader (Talos 1.12 and newer).', { enum: ['auto', 'dual-boot', 'sd-boot', 'grub'] }),
  queryParam('schematic-id', 'Reopen this schematic: its extensions, kernel arguments and options fill the steps.'),
];

const formTooLarge = text('The form is larger than 2 MiB.', 'request body too large: a schematic may be at most 2097152 bytes\n');

const formBody = (description: string, properties: Json): Json => ({
  required: true,
  description,
  content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties } } },
});

export const OPENAPI_DOCUMENT: Json = {
  openapi: '3.1.0',
  info: {
    title: 'Talos Linux Image Factory',
    version: VERSION,
    description:
      'Schematics, Talos boot assets, iPXE scripts and installer images, compatible with the public Image Factory. Errors are plain text ending in a newline. A known path asked with another method answers 405 with an `Allow` header; OPTIONS answers 200 with `Allow`; an unknown path answers `404 page not found`.',
    license: { name: 'MPL-2.0', identifier: 'MPL-2.0' },
  },
  paths: {
    '/healthz': { get: { summary: 'Liveness', responses: { '200': empty('Serving.') } }, head: { summary: 'Liveness', responses: { '200': empty('Serving.') } } },
    '/readyz': { get: { summary: 'Readiness', responses: { '200': empty('Ready.') } }, head: { summary: 'Readiness', responses: { '200': empty('Ready.') } } },
    '/schematics': {
      post: {
        summary: 'Create a schematic',
        description: 'Parses the schematic strictly, stores its canonical form and answers its ID (the same for every spelling of the same schematic). Re-posting answers 201 again.',
        requestBody: {
          required: true,
          content: { 'application/yaml': { schema: ref('Schematic') }, 'application/json': { schema: ref('Schematic') } },
        },
        responses: {
          '201': json('Created (or already there).', ref('SchematicCreated')),
          '400': text(
            'Not a valid schematic: the YAML error, an unknown field, a structure beyond the limits (depth, aliases, items), or `owner` outside Enterprise.',
            'yaml: construct errors: line 1: field something not found in type schematic.Schematic\n',
          ),
          '413': text('The body is larger than 1 MiB.', 'request body too large: a schematic may be at most 1048576 bytes\n'),
          '503': text('The shared schematic registry (IF_SCHEMATIC_REGISTRY) is down; nothing was stored.'),
        },
      },
    },
    '/schematics/{schematic}': {
      get: {
        summary: 'Read a schematic',
        parameters: [pathParam('schematic', 'Schematic ID.')],
        responses: {
          '200': { description: 'The canonical YAML.', content: { 'application/yaml': { schema: { type: 'string' } } } },
          '404': text('Unknown or malformed ID.', 'schematic not found\n'),
        },
      },
    },
    '/versions': {
      get: {
        summary: 'Talos versions on offer',
        description: 'Ascending. Go-encoded JSON served as text/plain, as upstream.',
        parameters: [queryParam('broken', '`true`: the configured broken versions instead.')],
        responses: { '200': json('Version tags.', ref('Versions'), TEXT), '502': assetErrors['502'] },
      },
    },
    '/version/{version}/extensions/official': {
      get: {
        summary: 'Official system extensions of a version',
        parameters: [versionParam],
        responses: {
          '200': json('The extension catalog.', { type: 'array', items: ref('Extension') }, TEXT),
          '400': text('Not a version.', 'invalid version "x": use a Talos version such as v1.12.0\n'),
          '404': text('A version that is not on offer.', 'version 1.5.0-alpha.0 is not available\n'),
          '502': assetErrors['502'],
        },
      },
    },
    '/version/{version}/overlays/official': {
      get: {
        summary: 'Official overlays (boards) of a version',
        parameters: [versionParam],
        responses: {
          '200': json('The overlay catalog (`[]` before Talos 1.7).', { type: 'array', items: ref('Overlay') }, TEXT),
          '400': text('Not a version.'),
          '404': text('A version that is not on offer.'),
          '502': assetErrors['502'],
        },
      },
    },
    '/image/{schematic}/{version}/{file}': Object.fromEntries(
      (['get', 'head'] as const).map((method) => [
        method,
        {
          summary: method === 'get' ? 'Download a boot asset' : 'Size and type of a boot asset',
          description: 'Built on first request (the download streams while it is built), cached after. `<file>.sha256` and `<file>.sha512` answer its digest as `<hex>  <file>`. Single byte ranges and `If-None-Match` are honoured.',
          parameters: [
            schematicParam,
            versionParam,
            fileParam,
            queryParam('filename', 'The file name in Content-Disposition.'),
            { name: 'Range', in: 'header', required: false, schema: { type: 'string' }, description: 'One byte range, e.g. `bytes=0-1023`.' },
          ],
          responses: {
            '200': { description: 'The asset (or its checksum line).', content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } }, 'application/x-iso9660-image': {}, 'application/efi': {}, 'application/x-xz': {}, 'application/gzip': {}, 'application/x-qemu-disk': {}, [TEXT]: { schema: ref('Checksum') } } },
            '206': { description: 'The requested range.', content: { 'application/octet-stream': {}, 'application/x-iso9660-image': {}, 'application/efi': {}, 'application/x-xz': {}, 'application/gzip': {}, 'application/x-qemu-disk': {} } },
            '304': empty('Not modified (If-None-Match).'),
            '416': empty('The range is outside the asset.'),
            ...assetErrors,
          },
        },
      ]),
    ),
    '/status/{schematic}/{version}/{file}': {
      get: {
        summary: 'Build state of an asset',
        parameters: [schematicParam, versionParam, fileParam, queryParam('build', '`true`: start building it now.')],
        responses: { '200': json('The state.', ref('AssetStatus')), ...assetErrors },
      },
    },
    '/status/{schematic}/{version}/{file}/events': {
      get: {
        summary: 'Build state of an asset as server-sent events',
        description: 'One `data:` line of AssetStatus JSON (see components) per change, until the asset is cached or its build failed.',
        parameters: [schematicParam, versionParam, fileParam, queryParam('build', '`true`: start building it now.')],
        responses: { '200': { description: 'The event stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...assetErrors },
      },
    },
    '/pxe/{schematic}/{version}/{target}': {
      get: {
        summary: 'iPXE script',
        parameters: [schematicParam, versionParam, pathParam('target', '`<platform>-<arch>[-secureboot]`; `x86_64` and `i386` mean amd64.')],
        responses: { '200': { description: 'The script.', content: { [TEXT]: { schema: ref('IpxeScript') } } }, ...assetErrors },
      },
    },
    '/v2/': {
      get: { summary: 'Registry ping', responses: { '200': empty('An OCI distribution registry (read-only).') } },
      head: { summary: 'Registry ping', responses: { '200': empty('An OCI distribution registry (read-only).') } },
    },
    '/v2/{image}/{schematic}/manifests/{reference}': Object.fromEntries(
      (['get', 'head'] as const).map((method) => [
        method,
        {
          summary: 'Installer image manifest (built on first pull)',
          parameters: [
            pathParam('image', '`installer`, `installer-secureboot`, `<platform>-installer` or `<platform>-installer-secureboot`.'),
            schematicParam,
            pathParam('reference', 'A Talos version tag, `latest`, or a digest.'),
          ],
          responses: {
            '200': {
              description: 'The image index (or a manifest by digest).',
              content: { 'application/vnd.oci.image.index.v1+json': { schema: ref('OciDocument') }, 'application/vnd.oci.image.manifest.v1+json': { schema: ref('OciDocument') } },
            },
            '400': registryError,
            '404': registryError,
            '429': registryError,
            '500': registryError,
            '501': registryError,
            '502': registryError,
            '503': registryError,
            '507': registryError,
          },
        },
      ]),
    ),
    '/v2/{image}/{schematic}/blobs/{digest}': Object.fromEntries(
      (['get', 'head'] as const).map((method) => [
        method,
        {
          summary: 'Installer image blob',
          parameters: [pathParam('image', 'As for manifests.'), schematicParam, pathParam('digest', '`sha256:<hex>`.')],
          responses: {
            '200': { description: 'The blob.', content: { 'application/octet-stream': {}, 'application/vnd.oci.image.config.v1+json': {} } },
            '206': { description: 'A byte range of the blob.', content: { 'application/octet-stream': {} } },
            '400': registryError,
            '404': registryError,
            '416': empty('The range is outside the blob.'),
          },
        },
      ]),
    ),
    '/v2/{image}/{schematic}/tags/list': {
      get: {
        summary: 'Installer tags',
        parameters: [pathParam('image', 'As for manifests.'), schematicParam],
        responses: { '200': json('The versions on offer and `latest`.', ref('TagList')), '400': registryError, '404': registryError },
      },
    },
    '/': Object.fromEntries(
      (['get', 'head'] as const).map((method) => [
        method,
        {
          summary: 'Web UI: the wizard',
          description: 'Renders the first step the parameters do not answer. A value that is not on offer renders its step again with the reason (400).',
          parameters: wizardParams,
          responses: { '200': page('A wizard step.'), '400': page('A step again, saying which value was not accepted.'), '404': page('The first step, saying that `schematic-id` was not found.') },
        },
      ]),
    ),
    '/ui/schematics': {
      post: {
        summary: 'Web UI: create the schematic the wizard describes',
        description: 'Through the same schematic creation as `POST /schematics`.',
        requestBody: formBody('The wizard state, `cmdline-set`, `embedded-config` and `overlay-options`.', { target: { type: 'string' }, version: { type: 'string' } }),
        responses: { '303': redirect('To the result page.'), '400': page('The form again, the error next to its field.'), '413': formTooLarge },
      },
    },
    '/ui/result/{schematic}/{version}': {
      get: {
        summary: 'Web UI: every link of a schematic for one target',
        parameters: [schematicParam, versionParam, ...wizardParams.slice(0, 5)],
        responses: { '200': page('The result page.'), '400': page('A target that is not complete or not on offer.'), '404': page('Unknown schematic.') },
      },
    },
    '/ui/prepare/{schematic}/{version}/{file}': {
      post: {
        summary: 'Web UI: start building an asset (without JavaScript)',
        parameters: [schematicParam, versionParam, fileParam],
        requestBody: formBody('Where to go back to.', { back: { type: 'string' } }),
        responses: { '303': redirect('Back to the result page.'), '400': page('Not an asset file name or version, or not buildable (e.g. SecureBoot).'), '404': page('Unknown schematic, or a version not on offer.') },
      },
    },
    '/ui/paste': {
      get: { summary: 'Web UI: paste a schematic', responses: { '200': page('The form.') } },
      post: {
        summary: 'Web UI: create a pasted schematic',
        requestBody: formBody('The schematic and the target.', { yaml: { type: 'string' }, version: { type: 'string' }, platform: { type: 'string' }, arch: { type: 'string' } }),
        responses: { '303': redirect('To the result page.'), '400': page('The form again, with the error.'), '413': formTooLarge },
      },
    },
    '/ui/static/{file}': Object.fromEntries(
      (['get', 'head'] as const).map((method) => [
        method,
        {
          summary: 'Web UI: stylesheet and script (content-addressed names)',
          parameters: [pathParam('file', 'e.g. `app-<digest>.css`.')],
          responses: { '200': { description: 'The file.', content: { 'text/css; charset=utf-8': {}, 'text/javascript; charset=utf-8': {} } }, '304': empty('Not modified.'), '404': text('Unknown file.', '404 page not found\n') },
        },
      ]),
    ),
    '/oci/cosign/signing-key.pub': {
      get: {
        summary: 'The public key installers are signed with',
        description: 'For `cosign verify --key` and container image policies (upstream path).',
        responses: { '200': { description: 'A PEM public key.', content: { 'application/x-pem-file': { schema: { type: 'string', pattern: '^-----BEGIN PUBLIC KEY-----' } } } } },
      },
    },
    '/openapi.json': { get: { summary: 'This document', responses: { '200': json('OpenAPI 3.1.', { type: 'object' }) } } },
    '/api': { get: { summary: 'This document, readable', responses: { '200': page('The API reference.') } } },
  },
  components: {
    schemas: {
      ErrorText: { type: 'string', pattern: '\\n$', description: 'A message saying what to fix, ending in a newline.' },
      SchematicId: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      Schematic: {
        type: 'object',
        additionalProperties: false,
        properties: {
          overlay: { type: 'object', additionalProperties: false, properties: { image: { type: 'string' }, name: { type: 'string' }, options: { type: 'object' } } },
          customization: {
            type: 'object',
            additionalProperties: false,
            properties: {
              embeddedMachineConfiguration: { type: 'string', description: 'Talos 1.12 and newer.' },
              extraKernelArgs: { type: 'array', items: { type: 'string' } },
              meta: { type: 'array', items: { type: 'object', properties: { key: { type: 'integer', minimum: 0, maximum: 255 }, value: { type: 'string' } } } },
              systemExtensions: { type: 'object', properties: { officialExtensions: { type: 'array', items: { type: 'string' } } } },
              bootloader: { enum: ['dual-boot', 'sd-boot', 'grub'] },
              secureboot: { type: 'object', properties: { enrollKeys: { type: 'string' }, includeWellKnownCertificates: { type: 'boolean' } } },
              diskImage: { type: 'object', properties: { sectorSize: { type: 'integer' } } },
            },
          },
        },
      },
      SchematicCreated: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'schematic'],
        properties: { id: ref('SchematicId'), schematic: { type: 'string', description: 'The canonical YAML.' } },
      },
      Versions: { type: 'array', items: { type: 'string', pattern: '^v\\d+\\.\\d+\\.\\d+' } },
      Extension: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'ref', 'digest', 'author', 'description'],
        properties: { name: { type: 'string' }, ref: { type: 'string' }, digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' }, author: { type: 'string' }, description: { type: 'string' } },
      },
      Overlay: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'image', 'ref', 'digest'],
        properties: { name: { type: 'string' }, image: { type: 'string' }, ref: { type: 'string' }, digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } },
      },
      AssetStatus: {
        type: 'object',
        required: ['key', 'state'],
        properties: {
          key: { type: 'string', description: 'The AssetKey.' },
          state: { enum: ['idle', 'queued', 'building', 'done', 'failed', 'cached'] },
          progress: { type: 'number', minimum: 0, maximum: 100 },
          stage: { type: 'string' },
          error: { type: 'string' },
          size: { type: 'integer', minimum: 0 },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        },
      },
      Checksum: { type: 'string', pattern: '^[0-9a-f]{64,128}  \\S+\\n$' },
      IpxeScript: { type: 'string', pattern: '^#!ipxe\\n' },
      RegistryErrors: {
        type: 'object',
        required: ['errors'],
        properties: { errors: { type: 'array', items: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      },
      TagList: { type: 'object', required: ['name', 'tags'], properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } } },
      OciDocument: { type: 'object', required: ['schemaVersion', 'mediaType'], properties: { schemaVersion: { const: 2 }, mediaType: { type: 'string' } } },
    },
  },
};
