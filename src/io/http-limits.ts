// Bounds on what a client can hold of the router's HTTP listeners (the API's two doors, the metrics and
// status listener, the Docker plugin socket): connections at once per listener and per client address,
// a deadline for a connection's first request, its headers and its whole request. Without them one
// local user (the read-only API on 127.0.0.1:6784 is open to all) or anyone who reaches a public
// --metrics-addr could open connections until the router ran out of file descriptors: held 19,990 idle
// connections took a router to its limit (20,000), where its API stopped answering, DNS forwards, new
// peers and iptables calls failed with EMFILE, and its RSS went from 68 to 190 MB.
// Node's own headersTimeout does not start until a first byte arrives, so a silent connection needs
// the idle deadline here; once a request has arrived Node's keepAliveTimeout governs the idle time
// between requests, and a handler may take as long as it needs (an attach may wait for IPAM).
// Errors the listening server emits later (accept failing with EMFILE when descriptors run out elsewhere)
// are logged: Node throws an 'error' event nobody listens to, which would take the router down.

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import {
  HTTP_HEADERS_TIMEOUT_MS,
  HTTP_IDLE_BEFORE_REQUEST_MS,
  HTTP_MAX_CONNECTIONS,
  HTTP_MAX_CONNECTIONS_PER_ADDRESS,
  HTTP_REQUEST_TIMEOUT_MS,
  HTTP_TIMEOUT_CHECK_MS,
} from '../core/defaults.js';

export interface HttpLimits {
  /** @default HTTP_MAX_CONNECTIONS */
  maxConnections?: number;
  /** @default HTTP_MAX_CONNECTIONS_PER_ADDRESS (a unix socket's clients have no address: only the total applies) */
  maxPerAddress?: number;
  /** @default HTTP_IDLE_BEFORE_REQUEST_MS */
  idleBeforeRequestMs?: number;
  /** @default HTTP_HEADERS_TIMEOUT_MS */
  headersTimeoutMs?: number;
  /** @default HTTP_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number;
  /** @default HTTP_TIMEOUT_CHECK_MS */
  checkIntervalMs?: number;
}

/** Connections a limited server refused or cut (for /stats). */
export interface HttpLimitStats {
  /** Refused: the listener already held maxConnections. */
  refusedFull: number;
  /** Refused: the client's address already held maxPerAddress. */
  refusedPerAddress: number;
  /** Closed: no request arrived within the idle deadline. */
  idleClosed: number;
}

export type LimitedServer = Server & { readonly limitStats: HttpLimitStats };

/** An HTTP server with the limits above; `handler` as for http.createServer. */
export function createLimitedServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  log: Logger,
  limits: HttpLimits = {},
): LimitedServer {
  const headersTimeout = limits.headersTimeoutMs ?? HTTP_HEADERS_TIMEOUT_MS;
  const server = createServer({
    headersTimeout,
    // Node requires requestTimeout ≥ headersTimeout (or 0).
    requestTimeout: Math.max(limits.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS, headersTimeout),
    connectionsCheckingInterval: limits.checkIntervalMs ?? HTTP_TIMEOUT_CHECK_MS,
  }, handler as RequestListener) as LimitedServer;
  const stats: HttpLimitStats = { refusedFull: 0, refusedPerAddress: 0, idleClosed: 0 };
  Object.defineProperty(server, 'limitStats', { value: stats });
  // Before listening, the caller's own 'error' listener reports a failed listen (EADDRINUSE…).
  server.on('error', (err) => {
    if (server.listening) log.warn({ err: errorMessage(err) }, 'http listener error');
  });
  // Beyond it Node closes a new connection at once (and emits 'drop'), before any parser exists.
  server.maxConnections = limits.maxConnections ?? HTTP_MAX_CONNECTIONS;
  server.on('drop', () => void stats.refusedFull++);
  const perAddress = limits.maxPerAddress ?? HTTP_MAX_CONNECTIONS_PER_ADDRESS;
  const idleMs = limits.idleBeforeRequestMs ?? HTTP_IDLE_BEFORE_REQUEST_MS;
  const byAddress = new Map<string, number>();
  const waitingForRequest = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => undefined); // a reset client is not the router's problem
    const address = socket.remoteAddress;
    if (address !== undefined) {
      const n = byAddress.get(address) ?? 0;
      if (n >= perAddress) {
        stats.refusedPerAddress++;
        socket.destroy();
        return;
      }
      byAddress.set(address, n + 1);
      socket.once('close', () => {
        const left = (byAddress.get(address) ?? 1) - 1;
        if (left > 0) byAddress.set(address, left);
        else byAddress.delete(address);
      });
    }
    const timer = setTimeout(() => {
      stats.idleClosed++;
      socket.destroy();
    }, idleMs);
    timer.unref();
    waitingForRequest.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req: IncomingMessage) => {
    const timer = waitingForRequest.get(req.socket);
    if (timer) clearTimeout(timer);
  });
  return server;
}
