// A loopback HTTP proxy in front of a registry (or any HTTP server) that
// misbehaves on request, to prove retries, timeouts and error messages:
//
//   const proxy = await startFlakyProxy(registry.host);
//   proxy.inject({ type: 'status', status: 503 }, { times: 2, match: /GET .*\/manifests\// });
//   new RegistryClient({ registry: proxy.host, insecure: true, ... });
//
// Requests pass through with their Host header unchanged, so the Location and
// Link URLs the registry writes point back at the proxy. Faults apply to the
// first matching requests, `times` each, in the order they were injected.
//
// `paginateTags` makes tag lists page the way the distribution spec says
// (sorted, `?n=` and `last=`, `Link: <…>; rel="next"`): distribution 2.8 ignores
// `n` and returns every tag, unsorted, in one answer.

import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** Answer with this status instead of forwarding (body: a registry-style JSON error unless given). */
  | { type: 'status'; status: number; retryAfter?: string; body?: string }
  /** Drop the connection: before answering, or after sending the headers and `afterBytes` of the body. */
  | { type: 'reset'; afterBytes?: number }
  /** Never answer at all (no headers). */
  | { type: 'hang' }
  /** Forward, let upstream act on it, but never answer: the server did it, the client never hears (crash windows). */
  | { type: 'withhold' }
  /** Send the headers and `afterBytes` of the body (default 0), then go silent with the connection open. */
  | { type: 'stall'; afterBytes?: number }
  /** Forward, but flip the bits of one body byte. */
  | { type: 'corrupt'; atByte?: number }
  /** Answer 307 with this Location (a function gets the request path). */
  | { type: 'redirect'; location: string | ((path: string) => string) };

export interface ProxiedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The fault applied, if any. */
  fault?: Fault['type'];
}

export interface FlakyProxy {
  /** `127.0.0.1:PORT`. */
  host: string;
  url: string;
  /** Every request seen, in order. */
  readonly requests: ProxiedRequest[];
  /** Applies `fault` to the next `times` (default 1) requests whose `METHOD path` matches. */
  inject(fault: Fault, options?: { times?: number; match?: RegExp }): void;
  /** Forgets faults not yet used up, and the request log. */
  reset(): void;
  stop(): Promise<void>;
}

interface Rule {
  fault: Fault;
  remaining: number;
  match: RegExp | undefined;
}

export interface FlakyProxyOptions {
  /** Serve `GET /v2/<name>/tags/list?n=…` in pages (see above). */
  paginateTags?: boolean;
}

export async function startFlakyProxy(upstream: string, options: FlakyProxyOptions = {}): Promise<FlakyProxy> {
  const [upstreamHost, upstreamPort] = splitHost(upstream);
  const rules: Rule[] = [];
  const requests: ProxiedRequest[] = [];

  const takeFault = (key: string): Fault | undefined => {
    const rule = rules.find((r) => r.remaining > 0 && (r.match === undefined || r.match.test(key)));
    if (!rule) return undefined;
    rule.remaining--;
    return rule.fault;
  };

  const server = createServer((req, res) => {
    const fault = takeFault(`${req.method} ${req.url}`);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, ...(fault && { fault: fault.type }) });
    if (fault?.type === 'status') {
      req.resume();
      const body = fault.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected failure' }] });
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(fault.retryAfter !== undefined && { 'retry-after': fault.retryAfter }),
      });
      res.end(body);
      return;
    }
    if (fault?.type === 'redirect') {
      req.resume();
      const location = typeof fault.location === 'string' ? fault.location : fault.location(req.url ?? '/');
      res.writeHead(307, { location, 'content-length': 0 });
      res.end();
      return;
    }
    if (fault?.type === 'reset' && fault.afterBytes === undefined) {
      req.socket.destroy();
      return;
    }
    if (fault?.type === 'hang') {
      req.resume();
      return; // the socket stays open until the client gives up or the proxy stops
    }
    const tagPage = options.paginateTags ? /^\/v2\/(.+)\/tags\/list\?(.*n=.*)$/.exec(req.url ?? '') : null;
    if (tagPage && req.method === 'GET' && fault === undefined) paginate(req, res, tagPage[1]!, new URLSearchParams(tagPage[2]));
    else forward(req, res, fault);
  });

  /** Asks upstream for all tags and answers one page of them. */
  const paginate = (req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams): void => {
    const path = `/v2/${name}/tags/list`;
    const upstreamReq = request({ host: upstreamHost, port: upstreamPort, path, headers: req.headers }, (upstreamRes) => {
      const chunks: Buffer[] = [];
      upstreamRes.on('data', (c: Buffer) => chunks.push(c));
      upstreamRes.on('end', () => {
        const body = Buffer.concat(chunks);
        if (upstreamRes.statusCode !== 200) {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          res.end(body);
          return;
        }
        const all = ((JSON.parse(body.toString()) as { tags: string[] | null }).tags ?? []).sort();
        const n = Number(query.get('n'));
        const last = query.get('last');
        const rest = last === null ? all : all.filter((t) => t > last);
        const page = rest.slice(0, n);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (rest.length > n) headers.link = `<${path}?last=${encodeURIComponent(page.at(-1)!)}&n=${n}>; rel="next"`;
        res.writeHead(200, headers);
        res.end(JSON.stringify({ name, tags: page }));
      });
    });
    upstreamReq.on('error', () => res.socket?.destroy());
    upstreamReq.end();
    req.resume();
  };

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void => {
    const upstreamReq = request(
      { host: upstreamHost, port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        if (fault?.type === 'withhold') return void upstreamRes.resume();
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.headers);
        if (fault === undefined) {
          upstreamRes.pipe(res);
          return;
        }
        let sent = 0;
        const cut = fault.type === 'stall' || fault.type === 'reset' ? (fault.afterBytes ?? 0) : Infinity;
        const corruptAt = fault.type === 'corrupt' ? (fault.atByte ?? 0) : -1;
        if (cut === 0) res.flushHeaders();
        upstreamRes.on('data', (chunk: Buffer) => {
          if (sent >= cut) return;
          let part = chunk.subarray(0, Math.min(chunk.length, cut - sent));
          if (corruptAt >= sent && corruptAt < sent + part.length) {
            part = Buffer.from(part);
            part[corruptAt - sent] = part[corruptAt - sent]! ^ 0xff;
          }
          sent += part.length;
          res.write(part);
          if (sent >= cut && fault.type === 'reset') setImmediate(() => res.socket?.destroy());
        });
        upstreamRes.on('end', () => {
          if (sent < cut) res.end();
          else if (fault.type === 'reset') res.socket?.destroy();
          // a stall keeps the response open: the client must notice the silence
        });
      },
    );
    upstreamReq.on('error', () => res.socket?.destroy());
    req.pipe(upstreamReq);
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    inject(fault, options = {}) {
      rules.push({ fault, remaining: options.times ?? 1, match: options.match });
    },
    reset() {
      rules.length = 0;
      requests.length = 0;
    },
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // stalled and hanging responses included
      await closed;
    },
  };
}

function splitHost(hostPort: string): [string, number] {
  const colon = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, colon), Number(hostPort.slice(colon + 1))];
}
