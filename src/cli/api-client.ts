// The CLI's client of the router's HTTP API. It talks over the router's unix socket (io/api-socket.ts: the
// one for this network namespace, or TSWEAVE_API_SOCKET), which only root and the --api-group can open, and
// falls back to 127.0.0.1:6784 (or TSWEAVE_HTTP_ADDR=host:port) where the router serves the read-only routes
// to everyone. JSON request bodies; a non-2xx answer carries a one-line text body the CLI prints as the error.
// Like Weave's `curl --connect-timeout 3`, only connecting is time-limited: an attach may legitimately wait.

import * as http from 'node:http';
import { ConfigError, TsweaveError } from '../core/errors.js';
import { HTTP_API_ADDR, HTTP_API_PORT } from '../core/defaults.js';
import { defaultApiSocketPath } from '../io/api-socket.js';

export const CONNECT_TIMEOUT_MS = 3_000;

export interface ApiAddress {
  readonly host: string;
  readonly port: number;
  /** Tried first when set; TCP host:port is the fallback. */
  readonly socketPath?: string;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  /** Path with query, e.g. "/dns-lookup?name=web". */
  readonly path: string;
  /** Sent as JSON when present. */
  readonly body?: unknown;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * Sends one request. Rejects with RouterNotRunningError when nothing accepts the connection within
 * CONNECT_TIMEOUT_MS; any other failure rejects with an Error saying what went wrong.
 */
export type HttpTransport = (addr: ApiAddress, req: HttpRequest) => Promise<HttpResponse>;

/** No router answers on the API address: exit code 1 with a hint to launch. */
export class RouterNotRunningError extends TsweaveError {
  constructor(addr: ApiAddress, opts?: { cause?: unknown }) {
    super('ERR_NOT_RUNNING',
      `tsweave is not running (no router answers on ${addr.host}:${addr.port}); start it with 'tsweave launch'`, opts);
  }
}

/** The router answered with a non-2xx status; the message is its text body. Exit code 1. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** Refused the unix socket, and the request is one TCP does not serve: exit code 1. */
export class ApiPermissionError extends TsweaveError {
  constructor(path: string, opts?: { cause?: unknown }) {
    super('ERR_NOT_ROOT',
      `permission denied on the router's API socket ${path}: changing the router needs root or its --api-group`, opts);
  }
}

function defaultSocket(): string | undefined {
  try {
    return defaultApiSocketPath();
  } catch {
    return undefined; // no /proc: TCP only
  }
}

/**
 * The API address: the unix socket from TSWEAVE_API_SOCKET, else this network namespace's default one
 * unless TSWEAVE_HTTP_ADDR ("host:port") names a TCP address explicitly; TCP 127.0.0.1:6784 by default.
 */
export function resolveApiAddress(
  env: Readonly<Record<string, string | undefined>>,
  socketFor: () => string | undefined = defaultSocket,
): ApiAddress {
  const explicit = env.TSWEAVE_API_SOCKET || undefined;
  if (explicit !== undefined && !explicit.startsWith('/')) {
    throw new ConfigError(`invalid TSWEAVE_API_SOCKET "${explicit}": must be an absolute path`);
  }
  const text = env.TSWEAVE_HTTP_ADDR;
  const socketPath = explicit ?? (text ? undefined : socketFor());
  const withSocket = socketPath === undefined ? {} : { socketPath };
  if (text === undefined || text === '') return { host: HTTP_API_ADDR, port: HTTP_API_PORT, ...withSocket };
  const colon = text.lastIndexOf(':');
  const host = colon >= 0 ? text.slice(0, colon) : '';
  const port = colon >= 0 ? text.slice(colon + 1) : '';
  if (host === '' || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new ConfigError(`invalid TSWEAVE_HTTP_ADDR "${text}": must be HOST:PORT like 127.0.0.1:6784`);
  }
  return { host, port: Number(port), ...withSocket };
}

/** Could not connect at all (so the request was never sent); `cause` says why. */
class NotConnected extends Error {}

/** The real transport over node:http: the unix socket first, then TCP (see the file comment). */
export const nodeHttpTransport: HttpTransport = async (addr, req) => {
  if (addr.socketPath !== undefined) {
    try {
      return await sendOnce({ socketPath: addr.socketPath }, `${addr.socketPath}`, req);
    } catch (err) {
      if (!(err instanceof NotConnected)) throw err;
      const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
      // Not root nor in the group: reads still work over TCP, changes would only be refused there.
      if (code === 'EACCES' && req.method !== 'GET') throw new ApiPermissionError(addr.socketPath, { cause: err.cause });
    }
  }
  try {
    return await sendOnce({ host: addr.host, port: addr.port }, `${addr.host}:${addr.port}`, req);
  } catch (err) {
    if (err instanceof NotConnected) throw new RouterNotRunningError(addr, { cause: err.cause });
    throw err;
  }
};

/** One request without keep-alive (so the CLI exits promptly). Rejects with NotConnected before connecting. */
function sendOnce(
  target: { socketPath: string } | { host: string; port: number },
  where: string,
  req: HttpRequest,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    let connected = false;
    const r = http.request({
      ...target,
      method: req.method,
      path: req.path,
      agent: false,
      headers: {
        accept: 'application/json, text/plain',
        ...(payload === undefined ? {} : {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        }),
      },
    });
    const timer = setTimeout(() => {
      r.destroy(new Error(`connect timeout after ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    r.on('socket', (sock) => {
      sock.once('connect', () => {
        connected = true;
        clearTimeout(timer);
      });
    });
    r.on('error', (err) => {
      clearTimeout(timer);
      if (!connected) reject(new NotConnected(err.message, { cause: err }));
      else reject(new Error(`lost the connection to the router at ${where}: ${err.message}`, { cause: err }));
    });
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new Error(`reading the router's answer failed: ${err.message}`, { cause: err })));
    });
    r.end(payload);
  });
}

/** Typed calls on top of a transport. */
export class ApiClient {
  constructor(
    private readonly transport: HttpTransport,
    readonly addr: ApiAddress,
  ) {}

  /** Sends the request; returns the body of a 2xx answer, throws ApiError with the body otherwise. */
  async text(method: HttpMethod, path: string, body?: unknown): Promise<string> {
    const res = await this.transport(this.addr, body === undefined ? { method, path } : { method, path, body });
    if (res.status < 200 || res.status > 299) {
      const msg = res.body.trim().replace(/\s*\n\s*/g, '; ');
      throw new ApiError(res.status, msg || `the router answered ${method} ${path} with HTTP ${res.status}`);
    }
    return res.body;
  }

  /** Like text() and parses the answer as JSON. */
  async json<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
    const text = await this.text(method, path, body);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new Error(`the router answered ${method} ${path} with something that is not JSON: ${text.slice(0, 80)}`, {
        cause: err,
      });
    }
  }
}
