// The control API's HTTP servers: one handler, two doors. The unix socket (io/api-socket.ts: root and the
// --api-group only) serves every route; 127.0.0.1:6784 serves what Weave's scripts use there: the read-only
// routes to anyone on the machine, Weave's IPAM routes only to root (the caller's uid, io/tcp-peer-uid.ts).
// Web pages get nothing from either: a foreign Host (DNS rebinding), an Origin or a cross-site fetch
// marker, or a body that is not application/json is refused before any route runs.
// Routes are plain data: method, a path pattern with :params, and a handler returning a status and a body.
// Errors map to status codes in one place: bad input → 400 (the CLI exits 2), not found → 404, else 500.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';
import { errorMessage, isTsweaveError } from '../core/errors.js';
import { LogLimiter, messageShape } from '../core/log-limiter.js';
import { listenApiSocket } from './api-socket.js';
import { createLimitedServer, type HttpLimitStats } from './http-limits.js';
import { HTTP_MAX_SOCKET_CONNECTIONS } from '../core/defaults.js';
import type { Endpoint } from './tcp-peer-uid.js';

const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body ({} when empty). */
  body: unknown;
}

export interface HttpResponse {
  status?: number;
  /** A string is sent as text/plain; anything else as JSON. */
  body?: unknown;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse> | HttpResponse;

/** Who may call a route over TCP: 'anyone' local (read-only), 'root' (Weave's IPAM scripts). */
export type TcpAccess = 'anyone' | 'root';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  pattern: string;
  handler: HttpHandler;
  /** Absent: only over the unix socket. */
  tcp?: TcpAccess;
}

/** Thrown by handlers for a specific status with a message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The pattern's params for `path`, or undefined. A malformed %-escape is the client's error (400). */
function match(pattern: string, path: string): Record<string, string> | undefined {
  const pp = pattern.split('/');
  const xs = path.split('/');
  if (pp.length !== xs.length) return undefined;
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < pp.length; i++) {
    const p = pp[i]!;
    if (p.startsWith(':')) {
      if (xs[i] === '') return undefined;
      try {
        params[p.slice(1)] = decodeURIComponent(xs[i]!);
      } catch {
        throw new HttpError(400, `invalid path "${path}": malformed %-escape`);
      }
    } else if (p !== xs[i]) return undefined;
  }
  return params;
}

function statusFor(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (isTsweaveError(err)) {
    switch (err.code) {
      case 'ERR_CONFIG':
      case 'ERR_USAGE':
        return 400;
      case 'ERR_CONTAINER_NOT_FOUND':
        return 404;
      case 'ERR_IPAM_CONFLICT':
        return 409;
      case 'ERR_IPAM':
        return 503;
      default:
        return 500;
    }
  }
  return 500;
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);
const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** An IP literal Host ("10.0.0.1:6782", "[fe80::1]"): no DNS name, so no DNS rebinding. */
function isIpLiteralHost(host: string): boolean {
  const h = host.replace(/:\d{1,5}$/, '');
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || /^\[[0-9a-f:.]+\]$/i.test(h);
}

/**
 * Why a browser might have sent this request (and so it is refused), or undefined. `ipHosts`: also admit
 * a Host that is an IP literal (a listener on a non-loopback address, e.g. --metrics-addr 0.0.0.0:6782).
 */
export function browserRefusal(headers: IncomingMessage['headers'], ipHosts = false): HttpError | undefined {
  const host = headers.host;
  if (host !== undefined && !LOOPBACK_NAMES.has(host.toLowerCase().replace(/:\d{1,5}$/, '')) && !(ipHosts && isIpLiteralHost(host))) {
    return new HttpError(403, `Host "${host.slice(0, 100)}" refused: the API answers only to 127.0.0.1, localhost or [::1]`);
  }
  if (headers.origin !== undefined) return new HttpError(403, 'requests from web pages (with an Origin header) are refused');
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'none' && site !== 'same-origin') {
    return new HttpError(403, `cross-site requests (Sec-Fetch-Site: ${String(site).slice(0, 30)}) are refused`);
  }
  const type = headers['content-type'];
  if (type !== undefined && !JSON_TYPE.test(type)) {
    return new HttpError(415, `Content-Type "${type.slice(0, 100)}" refused: request bodies must be application/json`);
  }
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  if (req.headers['content-type'] === undefined) throw new HttpError(415, 'a request body needs Content-Type: application/json');
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (body === undefined || body === null) {
    res.writeHead(status).end();
  } else if (typeof body === 'string') {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
  } else {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}

export interface ApiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly socket: { readonly path: string; readonly gid: number | undefined; readonly ownsDir: boolean };
  /** The uid of the local process that opened a TCP connection (io/tcp-peer-uid.ts). */
  readonly peerUid: (client: Endpoint, server: Endpoint) => Promise<number | undefined>;
}

type Door = 'tcp' | 'unix';

/** Refuses a TCP caller the route does not admit. */
async function checkTcpAccess(r: Route, req: IncomingMessage, o: ApiServerOptions): Promise<void> {
  const what = `${r.method} ${r.pattern}`;
  if (r.tcp === 'anyone') return;
  if (r.tcp === undefined) {
    throw new HttpError(403, `${what} is served only on the router's unix socket ${o.socket.path} (root or the --api-group; the tsweave CLI uses it)`);
  }
  const s = req.socket;
  const uid = await o.peerUid({ address: s.remoteAddress ?? '', port: s.remotePort ?? 0 }, { address: s.localAddress ?? '', port: s.localPort ?? 0 });
  if (uid !== 0) {
    throw new HttpError(403, `${what} over TCP is allowed only to root (caller uid ${uid ?? 'unknown'}); others with access use the unix socket ${o.socket.path}`);
  }
}

function handler(routes: Route[], door: Door, o: ApiServerOptions, log: Logger) {
  // Refusals are what a web page or a local user can cause at will: one line per kind a minute.
  const refusals = new LogLimiter({ now: Date.now });
  return (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      const method = req.method ?? 'GET';
      let path = '?';
      try {
        const refusal = browserRefusal(req.headers);
        if (refusal) throw refusal;
        // Only origin-form targets ("/path?query"); anything else would make URL() guess or throw.
        if (!req.url?.startsWith('/') || req.url.startsWith('//')) throw new HttpError(400, 'request target must be a path');
        const url = new URL(req.url, 'http://localhost');
        path = url.pathname;
        for (const r of routes) {
          if (r.method !== method) continue;
          const params = match(r.pattern, url.pathname);
          if (!params) continue;
          if (door === 'tcp') await checkTcpAccess(r, req, o);
          const body = await readBody(req);
          const out = await r.handler({ method, path: url.pathname, params, query: url.searchParams, body });
          send(res, out.status ?? 200, out.body);
          return;
        }
        send(res, 404, `no such endpoint: ${method} ${url.pathname}`);
      } catch (err) {
        const status = statusFor(err);
        // A TsweaveError is an expected failure with its reason (a full disk fails every attach): the reason,
        // not a stack trace per request. Anything else is a bug: its stack is what is needed.
        if (status >= 500) log.warn({ err: isTsweaveError(err) ? errorMessage(err) : err, method, path, door }, 'api request failed');
        else if (status === 403 || status === 415) {
          const f = refusals.fields(`${status}:${messageShape(errorMessage(err))}`, { method, path: path.slice(0, 100), door, reason: errorMessage(err) });
          if (f) log.info(f, 'api request refused');
        }
        try {
          send(res, status, errorMessage(err));
        } catch {
          res.destroy(); // headers already gone: nothing better to say
        }
      }
    })();
  };
}

export interface ApiServer {
  readonly address: string;
  /** The TCP port listened on (o.port, or the one the kernel picked for 0). */
  readonly port: number;
  /** What each door refused or cut (connection caps, idle deadline: io/http-limits.ts). */
  limitStats(): { apiTcp: HttpLimitStats; apiUnix: HttpLimitStats };
  close(): Promise<void>;
}

function closeServer(s: Server): Promise<void> {
  return new Promise<void>((r) => {
    s.close(() => r());
    s.closeIdleConnections?.();
  });
}

/** Serves `routes` on TCP host:port and on the unix socket; resolves once both listen. */
export async function serveApi(routes: Route[], o: ApiServerOptions, logger: Logger): Promise<ApiServer> {
  const log = logger.child({ component: 'http' });
  const tcp = createLimitedServer(handler(routes, 'tcp', o, log), log);
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`HTTP API port ${o.host}:${o.port} is in use; is another tsweave router running in this network namespace?`)
          : err,
      );
    });
    tcp.listen(o.port, o.host, () => resolve());
  });
  // The TCP port is bound first: it is what proves no other router runs in this namespace.
  // Its own connection budget: a flood of the open TCP door leaves the CLI's socket answering.
  // Only root or the --api-group reach it (CNI calls may come many at once): a larger budget.
  const unix = createLimitedServer(handler(routes, 'unix', o, log), log, { maxConnections: HTTP_MAX_SOCKET_CONNECTIONS });
  let removeSocket: () => Promise<void>;
  try {
    removeSocket = await listenApiSocket(unix, o.socket);
  } catch (err) {
    await closeServer(tcp);
    throw err;
  }
  const port = (tcp.address() as AddressInfo).port;
  return {
    address: `${o.host}:${port} and ${o.socket.path}`,
    port,
    limitStats: () => ({ apiTcp: { ...tcp.limitStats }, apiUnix: { ...unix.limitStats } }),
    close: async () => {
      await Promise.all([closeServer(tcp), closeServer(unix)]);
      await removeSocket();
    },
  };
}
