// IF_HTTP_PROCESSES=2: the process `serve` started (the owner) and a forked
// one listen on the same port (SO_REUSEPORT). Every request below opens its own
// connection, so the kernel spreads them over both processes; the log lines
// (pino writes each process's pid) say which process answered what.

import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on a connection of its own (fetch would reuse one, and so reach one process). */
function fresh(url: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface LogLine {
  pid: number;
  msg: string;
  key?: string;
  req?: { method: string; url: string };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Log lines are written asynchronously: waits up to 5 s for `check` to hold, then returns what it last saw. */
async function logged<T>(read: () => T, check: (value: T) => boolean): Promise<T> {
  let value = read();
  for (let i = 0; i < 100 && !check(value); i++) {
    await new Promise((r) => setTimeout(r, 50));
    value = read();
  }
  return value;
}

describe('several HTTP processes on one port', () => {
  let svc: ServiceProcess;
  let version: string;
  let id: string;
  const lines = (): LogLine[] =>
    svc
      .logs()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  /** The pids that accepted `method url` (a request passed on to the owner is logged once, by the process that accepted it). */
  const answeredBy = (method: string, url: string): Set<number> => new Set(lines().filter((l) => l.msg === 'request completed' && l.req?.method === method && l.req.url === url).map((l) => l.pid));
  const hitProcessPids = (): number[] => [...new Set(lines().filter((l) => l.msg === 'answering cache hits').map((l) => l.pid))];

  beforeAll(async () => {
    const release = await ensureDevRelease();
    version = release.versions.at(-1)!;
    svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_HTTP_PROCESSES: '2' });
    // The owner says it listens once every hit process does.
    await logged(hitProcessPids, (p) => p.length === 1);
  }, 60_000);
  afterAll(() => svc?.stop());

  it('creates schematics, reads them, and answers /v2, versions and status through any process', async () => {
    const created = await Promise.all(Array.from({ length: 12 }, () => fresh(`${svc.url}/schematics`, 'POST', 'customization:\n  extraKernelArgs: [factory.processes=1]\n')));
    expect(created.map((a) => a.status)).toEqual(Array(12).fill(201));
    id = (JSON.parse(created[0]!.body.toString()) as { id: string }).id;
    expect(new Set(created.map((a) => (JSON.parse(a.body.toString()) as { id: string }).id))).toEqual(new Set([id]));
    // Each request is logged once, whichever process accepted it and whether or not it was passed on.
    const posts = (): LogLine[] => lines().filter((l) => l.msg === 'request completed' && l.req?.method === 'POST');
    expect((await logged(posts, (l) => l.length >= 12)).length).toBe(12);
    for (const path of [`/schematics/${id}`, '/v2/', '/versions', `/status/${id}/${version}/kernel-amd64`]) {
      const answers = await Promise.all(Array.from({ length: 12 }, () => fresh(`${svc.url}${path}`)));
      expect([path, answers.map((a) => a.status)]).toEqual([path, Array(12).fill(200)]);
      expect(new Set(answers.map((a) => a.body.toString())).size).toBe(1);
    }
  });

  it('builds a missing asset once however many processes are asked, and every process serves the hit', async () => {
    const path = `/image/${id}/${version}/initramfs-amd64.xz`;
    const cold = await Promise.all(Array.from({ length: 16 }, () => fresh(`${svc.url}${path}`)));
    expect(cold.map((a) => a.status)).toEqual(Array(16).fill(200));
    expect(new Set(cold.map((a) => sha256(a.body))).size).toBe(1);
    expect(lines().filter((l) => l.msg === 'asset build started').length).toBe(1);

    const heads = await Promise.all(Array.from({ length: 40 }, () => fresh(`${svc.url}${path}`, 'HEAD')));
    expect(new Set(heads.map((a) => `${a.status} ${String(a.headers['content-length'])} ${String(a.headers.etag)}`))).toEqual(
      new Set([`200 ${cold[0]!.body.length} "sha256:${sha256(cold[0]!.body)}"`]),
    );
    const gets = await Promise.all(Array.from({ length: 20 }, () => fresh(`${svc.url}${path}`)));
    expect(new Set(gets.map((a) => sha256(a.body)))).toEqual(new Set([sha256(cold[0]!.body)]));
    // Both processes answered hits themselves (40 HEADs all on one of two: a chance of 2^-39).
    const pids = await logged(() => answeredBy('HEAD', path), (p) => p.size === 2);
    expect(pids.size).toBe(2);
    expect(pids).toContain(hitProcessPids()[0]);

    // /metrics adds up what both processes answered: each cold GET once (built, by the owner), each HEAD and GET after once (cached).
    const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(svc.logs())![1];
    const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    const count = (name: string): number =>
      Number(new RegExp(`^image_factory_assets_${name}_total\\{[^}]*output_kind="initramfs"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect({ built: count('built'), cached: count('delivered_cached') }).toEqual({ built: 16, cached: 40 + 20 });
  }, 120_000);

  it('keeps answering when a hit process is killed, and starts another', async () => {
    const path = `/image/${id}/${version}/initramfs-amd64.xz`;
    const [victim] = hitProcessPids();
    process.kill(victim!, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(victim!, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        break; // gone
      }
    }
    const during = await Promise.all(Array.from({ length: 20 }, () => fresh(`${svc.url}${path}`, 'HEAD')));
    expect(during.map((a) => a.status)).toEqual(Array(20).fill(200));
    const replacement = (await logged(hitProcessPids, (p) => p.length === 2)).find((pid) => pid !== victim);
    expect(replacement).toBeDefined();
    const after = await Promise.all(Array.from({ length: 40 }, () => fresh(`${svc.url}${path}`, 'HEAD')));
    expect(after.map((a) => a.status)).toEqual(Array(40).fill(200));
    expect(await logged(() => answeredBy('HEAD', path), (p) => p.has(replacement!))).toContain(replacement);
  }, 60_000);
});
