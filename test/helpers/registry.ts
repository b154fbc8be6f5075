// Starts a real registry for tests: Debian's `docker-registry` (CNCF distribution
// 2.8) as a child process on 127.0.0.1, a free port and a temporary storage
// directory, removed again by stop().
//
//   const registry = await startRegistry();                  // anonymous push and pull
//   const registry = await startRegistry({ auth: 'basic' }); // htpasswd; registry.credentials
//   const registry = await startRegistry({ auth: 'token' }); // Bearer tokens from registry.tokenServer
//   new RegistryClient({ registry: registry.host, insecure: true, credentials: registry.credentials });
//   afterAll(() => registry.stop());
//
// Token mode runs a small token server (node:http) that signs JWTs the way
// distribution 2.8 verifies them: RS256, the signing certificate in the `x5c`
// header (verified against `rootcertbundle`), `iss` = the configured issuer and
// `aud` = the service as a plain string (2.8 rejects an array). It grants what
// a user with the right password asks for; anonymous callers get `pull` only.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { RegistryCredentials } from '../../src/oci/registry/client.js';

const run = promisify(execFile);

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export type { RegistryCredentials };

export interface StartRegistryOptions {
  /** How clients must authenticate (default: not at all). */
  auth?: 'none' | 'basic' | 'token';
}

export interface TokenRequest {
  /** Requested scopes, e.g. `repository:foo:pull,push`. */
  scopes: string[];
  /** The user who authenticated, if any. */
  user?: string;
  /** What was granted, `type:name:actions` (empty when refused). */
  granted: string[];
  status: number;
}

export interface TokenServer {
  url: string;
  /** Every request it has answered, in order. */
  readonly requests: TokenRequest[];
  /** The field the token is returned in: `token` (Docker's spec), `access_token` (OAuth2) or both. Default `token`. */
  tokenField: 'token' | 'access_token' | 'both';
  /** `expires_in` of issued tokens, in seconds (default 300; undefined omits the field). */
  expiresIn: number | undefined;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, what RegistryClient's `registry` option and skopeo's `docker://` take. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Set for `basic` and `token` auth. */
  credentials?: RegistryCredentials;
  /** Set for `token` auth. */
  tokenServer?: TokenServer;
  storageDir: string;
  /** What the registry has logged so far (first MiB). */
  logs(): string;
  stop(): Promise<void>;
}

const SERVICE = 'test-registry';
const ISSUER = 'test-token-issuer';

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const dir = await mkdtemp(join(tmpdir(), 'if-registry-'));
  const credentials = auth === 'none' ? undefined : { username: 'factory', password: randomBytes(12).toString('hex') };
  let token: { server: Server; state: TokenServer } | undefined;
  try {
    let authConfig = '';
    if (auth === 'basic') {
      const { stdout } = await run('htpasswd', ['-Bbn', credentials!.username, credentials!.password]);
      await writeFile(join(dir, 'htpasswd'), stdout);
      authConfig = `auth:\n  htpasswd:\n    realm: ${SERVICE}\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (auth === 'token') {
      token = await startTokenServer(dir, credentials!);
      authConfig =
        `auth:\n  token:\n    realm: ${token.state.url}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n` +
        `    rootcertbundle: ${join(dir, 'token-cert.pem')}\n`;
    }
    // A port found free can be taken before the registry binds it: try a few.
    for (let tries = 1; ; tries++) {
      const port = await freePort();
      const config =
        `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n` +
        `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
        `http:\n  addr: 127.0.0.1:${port}\n  secret: ${randomUUID()}\n` +
        authConfig;
      await writeFile(join(dir, 'config.yml'), config);
      try {
        const { child, logs } = await spawnRegistry(join(dir, 'config.yml'), port);
        const host = `127.0.0.1:${port}`;
        return {
          host,
          url: `http://${host}`,
          ...(credentials && { credentials }),
          ...(token && { tokenServer: token.state }),
          storageDir: join(dir, 'data'),
          logs,
          stop: async () => {
            await stopChild(child);
            if (token) await closeServer(token.server);
            await rm(dir, { recursive: true, force: true });
          },
        };
      } catch (error) {
        if (tries >= 3 || !/address already in use/.test(String(error))) throw error;
      }
    }
  } catch (error) {
    if (token) await closeServer(token.server);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function spawnRegistry(configPath: string, port: number): Promise<{ child: ChildProcess; logs: () => string }> {
  // Its log goes to a file, not a pipe: tests run skopeo and others synchronously, and a
  // pipe nobody drains meanwhile fills up and stalls the registry (and the test) for good.
  const logPath = join(dirname(configPath), 'registry.log');
  const log = openSync(logPath, 'a');
  const child = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', log, log] });
  closeSync(log);
  const readLog = (): string => {
    try {
      return readFileSync(logPath, 'utf8').slice(-1024 * 1024);
    } catch {
      return '';
    }
  };
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`docker-registry exited with ${code}:\n${readLog()}`)));
  });
  exited.catch(() => undefined);
  const deadline = Date.now() + 15_000;
  // Ready when /v2/ answers at all (401 included).
  for (;;) {
    const ready = await Promise.race([
      fetch(`http://127.0.0.1:${port}/v2/`).then(
        async (r) => (await r.arrayBuffer(), true),
        () => false,
      ),
      exited,
    ]);
    if (ready) return { child, logs: readLog };
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`docker-registry did not answer on port ${port}:\n${readLog()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

async function startTokenServer(dir: string, credentials: RegistryCredentials): Promise<{ server: Server; state: TokenServer }> {
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath,
    '-days', '2', '-subj', `/CN=${ISSUER}`,
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString('base64');

  const state: TokenServer = { url: '', requests: [], tokenField: 'token', expiresIn: 300 };
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const scopes = url.searchParams.getAll('scope');
    const authorization = req.headers.authorization;
    if (authorization !== undefined && authorization !== expected) {
      state.requests.push({ scopes, granted: [], status: 401 });
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'invalid username or password' }));
      return;
    }
    const user = authorization === undefined ? undefined : credentials.username;
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (type !== 'repository' || !name || !actions) return [];
      const allowed = actions.split(',').filter((a) => user !== undefined || a === 'pull');
      return allowed.length > 0 ? [{ type, name, actions: allowed }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = {
      iss: ISSUER,
      sub: user ?? '',
      aud: SERVICE,
      exp: now + (state.expiresIn ?? 60),
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const jwt = `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), key))}`;
    state.requests.push({
      scopes,
      ...(user !== undefined && { user }),
      granted: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`),
      status: 200,
    });
    const body: Record<string, unknown> = { issued_at: new Date().toISOString() };
    if (state.tokenField !== 'access_token') body.token = jwt;
    if (state.tokenField !== 'token') body.access_token = jwt;
    if (state.expiresIn !== undefined) body.expires_in = state.expiresIn;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return { server, state };
}
