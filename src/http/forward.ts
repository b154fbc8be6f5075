// Passes a request on to the process that owns the builds (several HTTP
// processes, IF_HTTP_PROCESSES) over its Unix socket, and sends its answer
// back as it comes: status, headers (but hop-by-hop ones), and the body
// streamed (a build's growing body, server-sent events). The client's address
// travels in CLIENT_HEADER, which only the owner's internal listener reads, so
// per-client admission counts the real client.

import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { sendError } from './routing.js';

export const CLIENT_HEADER = 'x-image-factory-client';

/** Headers about one connection, not the message: each hop sets its own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

export type Forward = (req: IncomingMessage, res: ServerResponse, client: string) => void;

export function forwarder(socketPath: string): Forward {
  const agent = new Agent({ keepAlive: true });
  return (req, res, client) => {
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, [CLIENT_HEADER]: client, 'x-request-id': req.id };
    for (const name of HOP_BY_HOP) delete headers[name];
    const upstream = request({ socketPath, agent, method: req.method, path: req.url, headers }, (answer) => {
      const raw: string[] = [];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) {
        if (!HOP_BY_HOP.has(answer.rawHeaders[i]!.toLowerCase())) raw.push(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!);
      }
      // The owner's answer carries its own (the same request ID, the same Server).
      res.removeHeader('X-Request-ID');
      res.removeHeader('Server');
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, raw);
      res.flushHeaders(); // a stream of events must not wait for its first event
      pipeline(answer, res).catch(() => res.destroy()); // cut short upstream: cut here too, never a short body that looks complete
    });
    upstream.on('error', () => {
      if (res.headersSent) res.destroy();
      else {
        res.setHeader('Retry-After', 1);
        sendError(res, 503, 'the factory is restarting: try again in a moment');
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    pipeline(req, upstream).catch(() => upstream.destroy());
  };
}
