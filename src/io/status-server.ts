// The read-only status listener (Weave's --status-addr / --metrics-addr, 127.0.0.1:6782 by default):
// GET /metrics (Prometheus), GET /ui/ (the live topology page: static files from the package's ui/ folder
// and the graph library from node_modules, nothing fetched from the internet) and GET /ui/topology.json
// (what the page polls). Nothing here changes the router, and nothing it serves holds a password or key.
// Web pages on other sites get nothing: the same Host / Origin / Sec-Fetch-Site checks as the API
// (http-server.ts browserRefusal); a Host that is an IP literal is also admitted, so Prometheus can scrape
// a listener on a non-loopback address.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import { browserRefusal } from './http-server.js';
import { createLimitedServer, type HttpLimitStats } from './http-limits.js';
import { findPackageRoot } from './native.js';

export interface StatusServerOptions {
  readonly host: string;
  readonly port: number;
  /** The Prometheus exposition. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** The JSON the topology page polls. */
  topology(): Promise<unknown>;
}

export interface StatusServer {
  /** "host:port" listened on (the port the kernel picked for 0). */
  readonly address: string;
  readonly port: number;
  /** Connections refused or cut (io/http-limits.ts): on a public --metrics-addr, a flood shows here. */
  limitStats(): HttpLimitStats;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The page's files: URL path → file. A fixed table, so no path from the request ever reaches the file system. */
function staticFiles(): Map<string, string> {
  const ui = join(findPackageRoot(), 'ui');
  const files = new Map<string, string>([
    ['/ui/', join(ui, 'index.html')],
    ['/ui/topology.js', join(ui, 'topology.js')],
    ['/ui/style.css', join(ui, 'style.css')],
  ]);
  try {
    files.set('/ui/vendor/cytoscape.min.js', createRequire(import.meta.url).resolve('cytoscape/dist/cytoscape.min.js'));
  } catch {
    // Not installed: the page says the graph library is missing; /metrics still works.
  }
  return files;
}

/** Headers every answer carries: no caching of live data, no framing, no sniffing, nothing loaded from elsewhere. */
const SAFE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean): void {
  res.writeHead(status, { ...SAFE_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

async function answer(req: IncomingMessage, res: ServerResponse, o: StatusServerOptions, files: Map<string, string>): Promise<void> {
  const refusal = browserRefusal(req.headers, true);
  if (refusal) return send(res, refusal.status, 'text/plain; charset=utf-8', `${refusal.message}\n`, false);
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', `${method.slice(0, 20)}: this listener is read-only\n`, false);
  }
  const head = method === 'HEAD';
  const path = (req.url ?? '').split('?')[0]!;
  if (path === '/metrics') {
    const m = await o.metrics();
    return send(res, 200, m.contentType, m.text, head);
  }
  if (path === '/ui/topology.json') return send(res, 200, 'application/json', JSON.stringify(await o.topology()), head);
  if (path === '/favicon.ico') return send(res, 204, 'text/plain; charset=utf-8', '', true); // browsers ask; nothing to show
  if (path === '/' || path === '/ui') {
    res.setHeader('location', '/ui/');
    return send(res, 302, 'text/plain; charset=utf-8', 'see /ui/\n', head);
  }
  const file = files.get(path);
  if (file === undefined) return send(res, 404, 'text/plain; charset=utf-8', `no such page: ${path.slice(0, 100)}\n`, head);
  const ext = file.slice(file.lastIndexOf('.'));
  return send(res, 200, TYPES[ext] ?? 'application/octet-stream', await readFile(file), head);
}

/** Listens on host:port; rejects with a clear message when the address is taken. */
export async function serveStatus(o: StatusServerOptions, logger: Logger): Promise<StatusServer> {
  const log = logger.child({ component: 'status-http' });
  const files = staticFiles();
  const server = createLimitedServer((req, res) => {
    answer(req, res, o, files).catch((err: unknown) => {
      log.warn({ err: errorMessage(err), path: req.url?.slice(0, 100) }, 'status request failed');
      if (res.headersSent) res.destroy();
      else send(res, 500, 'text/plain; charset=utf-8', `${errorMessage(err)}\n`, false);
    });
  }, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(
        err.code === 'EADDRINUSE'
          ? `metrics/status address ${o.host}:${o.port} is in use; choose another with --metrics-addr (or "" to turn it off)`
          : `cannot listen on --metrics-addr ${o.host}:${o.port}: ${err.message}`,
      )),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: `${o.host}:${port}`,
    port,
    limitStats: () => ({ ...server.limitStats }),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections?.();
      }),
  };
}
