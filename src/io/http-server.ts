// The control API's HTTP server (loopback only). Routes are plain data: method, a path pattern with
// :params, and a handler returning a status and a body. Errors map to status codes in one place:
// bad input → 400 (the CLI exits 2), not found → 404, everything else → 500 (the CLI exits 1).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.js';
import { errorMessage, isTsweaveError } from '../core/errors.js';

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

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  pattern: string;
  handler: HttpHandler;
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

function match(pattern: string, path: string): Record<string, string> | undefined {
  const pp = pattern.split('/');
  const xs = path.split('/');
  if (pp.length !== xs.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pp.length; i++) {
    const p = pp[i]!;
    if (p.startsWith(':')) {
      if (xs[i] === '') return undefined;
      params[p.slice(1)] = decodeURIComponent(xs[i]!);
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

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
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

export async function startHttpServer(host: string, port: number, routes: Route[], logger: Logger): Promise<Server> {
  const log = logger.child({ component: 'http' });
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      try {
        for (const r of routes) {
          if (r.method !== method) continue;
          const params = match(r.pattern, url.pathname);
          if (!params) continue;
          const body = await readBody(req);
          const out = await r.handler({ method, path: url.pathname, params, query: url.searchParams, body });
          send(res, out.status ?? 200, out.body);
          return;
        }
        send(res, 404, `no such endpoint: ${method} ${url.pathname}`);
      } catch (err) {
        const status = statusFor(err);
        if (status >= 500) log.warn({ err, method, path: url.pathname }, 'api request failed');
        send(res, status, errorMessage(err));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`HTTP API port ${host}:${port} is in use; is another tsweave router running in this network namespace?`)
          : err,
      );
    });
    server.listen(port, host, () => resolve());
  });
  return server;
}
