// Service configuration: defaults, then IF_* environment variables, then
// command-line flags. Validated once at start-up with clear messages.

import { resolve } from 'node:path';
import { z } from 'zod';

const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'must be HOST:PORT, for example 0.0.0.0:8080 or [::1]:8080');

export const configSchema = z.object({
  listen: listenAddress,
  dataDir: z.string().min(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  allowedOrigins: z.array(z.string().min(1)).min(1),
  schematicCacheCapacity: z.number().int().positive(),
  schematicNegativeTtlSeconds: z.number().nonnegative(),
});

export type Config = z.infer<typeof configSchema>;

export const DEFAULTS: Config = {
  listen: '0.0.0.0:8080',
  dataDir: './data',
  logLevel: 'info',
  allowedOrigins: ['*'],
  schematicCacheCapacity: 100_000,
  schematicNegativeTtlSeconds: 30,
};

/** Environment variables and the settings they set. */
export const ENVIRONMENT: Record<string, keyof Config> = {
  IF_LISTEN: 'listen',
  IF_DATA_DIR: 'dataDir',
  IF_LOG_LEVEL: 'logLevel',
  IF_ALLOWED_ORIGINS: 'allowedOrigins',
  IF_SCHEMATIC_CACHE_CAPACITY: 'schematicCacheCapacity',
  IF_SCHEMATIC_NEGATIVE_TTL: 'schematicNegativeTtlSeconds',
};

function fromEnvironment(env: NodeJS.ProcessEnv): Partial<Record<keyof Config, unknown>> {
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const [name, key] of Object.entries(ENVIRONMENT)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (key === 'allowedOrigins') out[key] = raw.split(',').map((s) => s.trim());
    else if (key === 'schematicCacheCapacity' || key === 'schematicNegativeTtlSeconds') out[key] = Number(raw);
    else out[key] = raw;
  }
  return out;
}

export class ConfigError extends Error {}

export function loadConfig(flags: Partial<Config>, env: NodeJS.ProcessEnv = process.env): Config {
  const merged = { ...DEFAULTS, ...fromEnvironment(env), ...stripUndefined(flags) };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const names = Object.fromEntries(Object.entries(ENVIRONMENT).map(([env, key]) => [key, env]));
    const problems = parsed.error.issues.map((i) => {
      const key = String(i.path[0]);
      return `${key} (${names[key] ?? key}): ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(listen.slice(at + 1)) };
}
