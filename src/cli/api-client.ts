// The CLI's client of the router's HTTP API (127.0.0.1:6784, or TSWEAVE_HTTP_ADDR=host:port).
// JSON request bodies; a non-2xx answer carries a one-line text body that the CLI prints as the error.
// Like Weave's `curl --connect-timeout 3`, only connecting is time-limited: an attach may legitimately wait.

import * as http from 'node:http';
import { ConfigError, TsweaveError } from '../core/errors.js';
import { HTTP_API_ADDR, HTTP_API_PORT } from '../core/defaults.js';

export const CONNECT_TIMEOUT_MS = 3_000;

export interface ApiAddress {
  readonly host: string;
  readonly port: number;
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

/** The API address from TSWEAVE_HTTP_ADDR ("host:port"), else 127.0.0.1:6784. */
export function resolveApiAddress(env: Readonly<Record<string, string | undefined>>): ApiAddress {
  const text = env.TSWEAVE_HTTP_ADDR;
  if (text === undefined || text === '') return { host: HTTP_API_ADDR, port: HTTP_API_PORT };
  const colon = text.lastIndexOf(':');
  const host = colon >= 0 ? text.slice(0, colon) : '';
  const port = colon >= 0 ? text.slice(colon + 1) : '';
  if (host === '' || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new ConfigError(`invalid TSWEAVE_HTTP_ADDR "${text}": must be HOST:PORT like 127.0.0.1:6784`);
  }
  return { host, port: Number(port) };
}

/** The real transport over node:http (no keep-alive, so the CLI exits promptly). */
export const nodeHttpTransport: HttpTransport = (addr, req) =>
  new Promise<HttpResponse>((resolve, reject) => {
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    let connected = false;
    const r = http.request({
      host: addr.host,
      port: addr.port,
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
      if (!connected) reject(new RouterNotRunningError(addr, { cause: err }));
      else reject(new Error(`lost the connection to the router at ${addr.host}:${addr.port}: ${err.message}`, { cause: err }));
    });
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new Error(`reading the router's answer failed: ${err.message}`, { cause: err })));
    });
    r.end(payload);
  });

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
