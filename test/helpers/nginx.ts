// Debian's nginx (nginx-light) on a free loopback port, for the tests and the
// download bench: either serving a directory as it is, or in front of the
// factory with the X-Accel-Redirect location README.md documents.
//
//   const nginx = await startNginx({ root: dir });                             // static files
//   const nginx = await startNginx({ factory: svc.url, cacheDir, prefix: '/_factory_cache/' });
//   await nginx.stop();

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './registry.js';

export const NGINX = '/usr/sbin/nginx';

export type NginxSite = { root: string } | { factory: string; cacheDir: string; prefix: string };

export interface TestNginx {
  url: string;
  stop(): Promise<void>;
}

/** Why a test that needs nginx cannot run, or undefined. */
export function nginxSkipReason(): string | undefined {
  if (spawnSync(NGINX, ['-v'], { stdio: 'ignore' }).error === undefined) return undefined;
  return 'nginx is not installed (apt-get install nginx-light)';
}

/** The factory as an upstream whose connections nginx keeps open between requests (README.md's snippet). */
export function factoryUpstream(factory: string): string {
  return `upstream image_factory {
    server ${new URL(factory).host};
    keepalive 32;
  }`;
}

/**
 * The server block's locations for the factory: every request proxied to it
 * (over kept-alive HTTP/1.1 connections), and the internal location its
 * X-Accel-Redirect answers point into. The same text as README.md's snippet.
 */
export function factoryLocations(cacheDir: string, prefix: string): string {
  return `location / {
    proxy_pass http://image_factory;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_buffering off;
  }
  location ${prefix} {
    internal;
    alias ${cacheDir}/;
    types { } default_type application/octet-stream;
    etag off;
    add_header ETag $upstream_http_etag always;
    add_header X-Request-ID $upstream_http_x_request_id always;
  }`;
}

export async function startNginx(site: NginxSite): Promise<TestNginx> {
  const work = mkdtempSync(join(tmpdir(), 'nginx-'));
  const port = await freePort();
  const locations = 'root' in site ? `root ${site.root};` : factoryLocations(site.cacheDir, site.prefix);
  const upstream = 'root' in site ? '' : factoryUpstream(site.factory);
  const conf = join(work, 'nginx.conf');
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root; ' : ''}daemon off; worker_processes auto; pid ${work}/nginx.pid; error_log ${work}/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; types { } default_type application/octet-stream;
  client_body_temp_path ${work}; proxy_temp_path ${work}; fastcgi_temp_path ${work}; uwsgi_temp_path ${work}; scgi_temp_path ${work};
  ${upstream}
  server { listen 127.0.0.1:${port};
  ${locations}
  } }\n`,
  );
  const child: ChildProcess = spawn(NGINX, ['-c', conf, '-e', `${work}/error.log`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${readFileSync(`${work}/error.log`, 'utf8')}`);
    if (await fetch(`${url}/nginx-probe`).then(() => true, () => false)) break;
    if (Date.now() > deadline) throw new Error('nginx did not start within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(work, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGQUIT'); // graceful: finish the responses under way
      }),
  };
}
