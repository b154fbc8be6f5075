// Service configuration: defaults, then IF_* environment variables, then
// command-line flags. Validated once at start-up with clear messages.

import { join, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidVersionError, parseVersionTolerant } from './talos/version.js';

const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'must be HOST:PORT, for example 0.0.0.0:8080 or [::1]:8080');

const talosVersion = z.string().refine(
  (v) => {
    try {
      parseVersionTolerant(v);
      return true;
    } catch (e) {
      if (e instanceof InvalidVersionError) return false;
      throw e;
    }
  },
  { message: 'must be a Talos version such as 1.2.0 or v1.9.3' },
);

const httpUrl = z.string().refine(
  (v) => {
    try {
      const url = new URL(v);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== '';
    } catch {
      return false;
    }
  },
  { message: 'must be an http(s) URL with a host, for example https://factory.example.com/' },
);

export const configSchema = z.object({
  listen: listenAddress,
  dataDir: z.string().min(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  allowedOrigins: z.array(z.string().min(1)).min(1),
  schematicCacheCapacity: z.number().int().positive(),
  schematicNegativeTtlSeconds: z.number().nonnegative(),
  /** Registry the release images come from, and the host catalog refs are shown under. */
  releaseRegistry: z.string().regex(/^[a-zA-Z0-9.-]+(:\d{1,5})?$/, 'must be a registry host, for example ghcr.io or 127.0.0.1:5000'),
  /** Optional repository prefix in that registry (e.g. a pull-through cache project). */
  releaseNamespace: z.string().regex(/^([a-z0-9._-]+(\/[a-z0-9._-]+)*)?$/, 'must be a repository path prefix such as mirror or ghcr/proxy'),
  releaseInsecure: z.boolean(),
  releaseUsername: z.string().optional(),
  releasePassword: z.string().optional(),
  /** Read the release from OCI layout directories under this path instead of a registry (air-gapped). */
  releaseLayoutDir: z.string().min(1).optional(),
  minTalosVersion: talosVersion,
  brokenTalosVersions: z.array(talosVersion),
  versionRecheckSeconds: z.number().positive(),
  /** The URL users reach this factory at (named in built images and PXE scripts). */
  externalUrl: httpUrl,
  /** The base URL PXE scripts point at; defaults to externalUrl. */
  externalPxeUrl: httpUrl.optional(),
  /** BullMQ on this Redis instead of the in-process queue (many processes and machines). */
  redisUrl: z.string().regex(/^rediss?:\/\/.+/, 'must be a redis:// or rediss:// URL').optional(),
  /** Builds this process runs at once (0 = none: a web-only process when Redis is used). */
  workers: z.number().int().nonnegative(),
  buildTimeoutSeconds: z.number().positive(),
  /** How long a worker holds a job without renewing its lock; a dead worker's job is retried after it. */
  jobLockSeconds: z.number().positive(),
  buildAttempts: z.number().int().positive(),
  cacheDir: z.string().min(1).optional(),
  /** Least recently used assets are evicted above this size (0 = no limit). */
  cacheMaxBytes: z.number().int().nonnegative(),
  /**
   * Behind nginx: answer cache hits with `X-Accel-Redirect: <this prefix><entry path>`, an internal
   * location aliased to the cache directory, so nginx sends the bytes (unset = send them ourselves).
   */
  accelRedirect: z
    .string()
    .regex(/^\/([A-Za-z0-9._~-]+\/)+$/, 'must be an internal location path that starts and ends with /, for example /_factory_cache/')
    .optional(),
  /** A registry holding assets for every instance (host[:port]); unset = this instance's disk only. */
  cacheRegistry: z.string().regex(/^[a-zA-Z0-9.-]+(:\d{1,5})?$/, 'must be a registry host such as registry.example.com:5000').optional(),
  cacheRepository: z.string().regex(/^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/, 'must be a repository path such as image-factory/cache'),
  cacheInsecure: z.boolean(),
  cacheUsername: z.string().optional(),
  cachePassword: z.string().optional(),
  /** A registry keeping every instance's schematics (host[:port]); unset = this instance's data directory only. */
  schematicRegistry: z.string().regex(/^[a-zA-Z0-9.-]+(:\d{1,5})?$/, 'must be a registry host such as registry.example.com:5000').optional(),
  schematicRepository: z.string().regex(/^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/, 'must be a repository path such as image-factory/schematics'),
  schematicInsecure: z.boolean(),
  schematicUsername: z.string().optional(),
  schematicPassword: z.string().optional(),
  /** PEM public key (cosign's) every release image pulled must be signed with. */
  releaseSignaturePubkey: z.string().min(1).optional(),
  /** Skip release signature checks (the default when no key is given). */
  releaseSignatureDisabled: z.boolean().optional(),
  /** PEM ECDSA P-256 private key installers are signed with; default: one generated under the data directory. */
  installerSigningKey: z.string().min(1).optional(),
  /** Start building the newest version's installer when a schematic is created, so upgrades do not wait. */
  prebuildInstallers: z.boolean(),
  /** Prometheus metrics on their own address ('' = off); unauthenticated, so loopback unless said otherwise. */
  metricsListen: z.union([listenAddress, z.literal('')]),
  /** Builds this process may have queued or running at once; more are refused with 503 and Retry-After. */
  maxQueuedBuilds: z.number().int().positive(),
  /** Of those, for one client address; more are refused with 429 and Retry-After. */
  maxQueuedBuildsPerClient: z.number().int().positive(),
  /** Which proxies' X-Forwarded-For names the client (express's `trust proxy`: hop count, addresses, `loopback`); '' = none. */
  trustProxy: z.string(),
  /**
   * Processes accepting HTTP connections on the listen address (SO_REUSEPORT): this one, which owns
   * the builds, and the rest answering cache hits and passing everything else to it.
   */
  httpProcesses: z.number().int().positive().max(64),
});

export type Config = z.infer<typeof configSchema>;

export const DEFAULTS: Config = {
  listen: '0.0.0.0:8080',
  dataDir: './data',
  logLevel: 'info',
  allowedOrigins: ['*'],
  schematicCacheCapacity: 100_000,
  schematicNegativeTtlSeconds: 30,
  releaseRegistry: 'ghcr.io',
  releaseNamespace: '',
  releaseInsecure: false,
  minTalosVersion: '1.2.0',
  brokenTalosVersions: [],
  versionRecheckSeconds: 900,
  externalUrl: 'https://localhost/',
  workers: 2,
  buildTimeoutSeconds: 1800,
  jobLockSeconds: 30,
  buildAttempts: 3,
  cacheMaxBytes: 0,
  cacheRepository: 'image-factory/cache',
  cacheInsecure: false,
  schematicRepository: 'image-factory/schematics',
  schematicInsecure: false,
  prebuildInstallers: true,
  metricsListen: '127.0.0.1:2122',
  maxQueuedBuilds: 64,
  maxQueuedBuildsPerClient: 8,
  trustProxy: '',
  httpProcesses: 1,
};

type Parser = (raw: string) => unknown;
const text: Parser = (raw) => raw;
const list: Parser = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const number: Parser = (raw) => Number(raw);
const boolean: Parser = (raw) => (/^(1|true|yes)$/i.test(raw) ? true : /^(0|false|no)$/i.test(raw) ? false : raw);

/** Environment variables, the settings they set and how their text is read. */
export const ENVIRONMENT: Record<string, { key: keyof Config; parse: Parser }> = {
  IF_LISTEN: { key: 'listen', parse: text },
  IF_DATA_DIR: { key: 'dataDir', parse: text },
  IF_LOG_LEVEL: { key: 'logLevel', parse: text },
  IF_ALLOWED_ORIGINS: { key: 'allowedOrigins', parse: list },
  IF_SCHEMATIC_CACHE_CAPACITY: { key: 'schematicCacheCapacity', parse: number },
  IF_SCHEMATIC_NEGATIVE_TTL: { key: 'schematicNegativeTtlSeconds', parse: number },
  IF_RELEASE_REGISTRY: { key: 'releaseRegistry', parse: text },
  IF_RELEASE_NAMESPACE: { key: 'releaseNamespace', parse: text },
  IF_RELEASE_INSECURE: { key: 'releaseInsecure', parse: boolean },
  IF_RELEASE_USERNAME: { key: 'releaseUsername', parse: text },
  IF_RELEASE_PASSWORD: { key: 'releasePassword', parse: text },
  IF_RELEASE_LAYOUT_DIR: { key: 'releaseLayoutDir', parse: text },
  IF_MIN_TALOS_VERSION: { key: 'minTalosVersion', parse: text },
  IF_BROKEN_TALOS_VERSIONS: { key: 'brokenTalosVersions', parse: list },
  IF_VERSION_RECHECK_SECONDS: { key: 'versionRecheckSeconds', parse: number },
  IF_EXTERNAL_URL: { key: 'externalUrl', parse: text },
  IF_EXTERNAL_PXE_URL: { key: 'externalPxeUrl', parse: text },
  REDIS_URL: { key: 'redisUrl', parse: text },
  IF_REDIS_URL: { key: 'redisUrl', parse: text },
  IF_WORKERS: { key: 'workers', parse: number },
  IF_BUILD_TIMEOUT_SECONDS: { key: 'buildTimeoutSeconds', parse: number },
  IF_JOB_LOCK_SECONDS: { key: 'jobLockSeconds', parse: number },
  IF_BUILD_ATTEMPTS: { key: 'buildAttempts', parse: number },
  IF_CACHE_DIR: { key: 'cacheDir', parse: text },
  IF_CACHE_MAX_BYTES: { key: 'cacheMaxBytes', parse: number },
  IF_ACCEL_REDIRECT: { key: 'accelRedirect', parse: text },
  IF_CACHE_REGISTRY: { key: 'cacheRegistry', parse: text },
  IF_CACHE_REPOSITORY: { key: 'cacheRepository', parse: text },
  IF_CACHE_INSECURE: { key: 'cacheInsecure', parse: boolean },
  IF_CACHE_USERNAME: { key: 'cacheUsername', parse: text },
  IF_CACHE_PASSWORD: { key: 'cachePassword', parse: text },
  IF_SCHEMATIC_REGISTRY: { key: 'schematicRegistry', parse: text },
  IF_SCHEMATIC_REPOSITORY: { key: 'schematicRepository', parse: text },
  IF_SCHEMATIC_INSECURE: { key: 'schematicInsecure', parse: boolean },
  IF_SCHEMATIC_USERNAME: { key: 'schematicUsername', parse: text },
  IF_SCHEMATIC_PASSWORD: { key: 'schematicPassword', parse: text },
  IF_RELEASE_SIGNATURE_PUBKEY: { key: 'releaseSignaturePubkey', parse: text },
  IF_RELEASE_SIGNATURE_DISABLED: { key: 'releaseSignatureDisabled', parse: boolean },
  IF_INSTALLER_SIGNING_KEY: { key: 'installerSigningKey', parse: text },
  IF_PREBUILD_INSTALLERS: { key: 'prebuildInstallers', parse: boolean },
  IF_METRICS_LISTEN: { key: 'metricsListen', parse: text },
  IF_MAX_QUEUED_BUILDS: { key: 'maxQueuedBuilds', parse: number },
  IF_MAX_QUEUED_BUILDS_PER_CLIENT: { key: 'maxQueuedBuildsPerClient', parse: number },
  IF_TRUST_PROXY: { key: 'trustProxy', parse: text },
  IF_HTTP_PROCESSES: { key: 'httpProcesses', parse: number },
};

function fromEnvironment(env: NodeJS.ProcessEnv): Partial<Record<keyof Config, unknown>> {
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const [name, { key, parse }] of Object.entries(ENVIRONMENT)) {
    const raw = env[name];
    if (raw === undefined || (raw === '' && key !== 'metricsListen')) continue;
    out[key] = parse(raw);
  }
  return out;
}

export class ConfigError extends Error {}

export function loadConfig(flags: Partial<Config>, env: NodeJS.ProcessEnv = process.env): Config {
  const merged = { ...DEFAULTS, ...fromEnvironment(env), ...stripUndefined(flags) };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const names = Object.fromEntries(Object.entries(ENVIRONMENT).map(([env, { key }]) => [key, env]));
    const problems = parsed.error.issues.map((i) => {
      const key = String(i.path[0]);
      return `${key} (${names[key] ?? key}): ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = parsed.data;
  if ((config.releaseUsername === undefined) !== (config.releasePassword === undefined)) {
    throw new ConfigError('invalid configuration: set both IF_RELEASE_USERNAME and IF_RELEASE_PASSWORD, or neither');
  }
  if ((config.schematicUsername === undefined) !== (config.schematicPassword === undefined)) {
    throw new ConfigError('invalid configuration: set both IF_SCHEMATIC_USERNAME and IF_SCHEMATIC_PASSWORD, or neither');
  }
  if (config.releaseSignatureDisabled === false && config.releaseSignaturePubkey === undefined) {
    throw new ConfigError('invalid configuration: IF_RELEASE_SIGNATURE_DISABLED=false needs IF_RELEASE_SIGNATURE_PUBKEY, the key release images are signed with');
  }
  return {
    ...config,
    dataDir: resolve(config.dataDir),
    ...(config.releaseLayoutDir !== undefined && { releaseLayoutDir: resolve(config.releaseLayoutDir) }),
    ...(config.releaseSignaturePubkey !== undefined && { releaseSignaturePubkey: resolve(config.releaseSignaturePubkey) }),
    ...(config.installerSigningKey !== undefined && { installerSigningKey: resolve(config.installerSigningKey) }),
    cacheDir: resolve(config.cacheDir ?? join(config.dataDir, 'cache')),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(listen.slice(at + 1)) };
}
