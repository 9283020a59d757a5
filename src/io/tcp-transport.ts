// ControlTransport over node:net: the TCP 6783 control plane. Errors read like Weave's (Go's net
// package): "dial tcp4 1.2.3.4:6783: connection refused", and a busy port gets a hint.
import { createServer, connect, isIPv4, isIPv6, type Socket, type Server } from 'node:net';
import { TsweaveError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ByteStream, ControlTransport } from '../core/ports.js';

/** TCP keepalive: first probe after this much idle time (the mesh heartbeat is the real liveness check). */
export const TCP_KEEPALIVE_INITIAL_DELAY_MS = 30_000;
/** How long a closing stream waits for queued writes to drain before it is destroyed. */
const CLOSE_GRACE_MS = 2_000;

/** Go-style text for socket errno values, as Weave users see them. */
const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  ETIMEDOUT: 'i/o timeout',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EPIPE: 'broken pipe',
  EINVAL: 'invalid argument',
  ERR_SOCKET_BAD_PORT: 'invalid port',
  ERR_INVALID_IP_ADDRESS: 'invalid address',
};

function errnoText(err: NodeJS.ErrnoException): string {
  return (err.code && ERRNO_TEXT[err.code]) ?? err.message;
}

function netName(host: string): string {
  return isIPv4(host) ? 'tcp4' : 'tcp';
}

/** Strips the IPv4-mapped prefix that dual-stack sockets report ("::ffff:1.2.3.4" → "1.2.3.4"). */
function plainAddress(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}

/** The message for a failed listen, with a hint for the common causes. */
export function listenErrorMessage(host: string, port: number, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${port} is in use; is another tsweave or weave router running?`;
    case 'EACCES':
      return `listen tcp ${host}:${port}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
    case 'EADDRNOTAVAIL':
      return `listen tcp ${host}:${port}: cannot assign requested address (is ${host} an address of this host?)`;
    default:
      return `listen tcp ${host}:${port}: ${errnoText(err)}`;
  }
}

/** The message for a failed dial, Go style: "dial tcp4 1.2.3.4:6783: connection refused". */
export function dialErrorMessage(host: string, port: number, err: NodeJS.ErrnoException): string {
  // Go brackets an IPv6 host: "dial tcp [2001:db8::1]:6783".
  const prefix = `dial ${netName(host)} ${isIPv6(host) ? `[${host}]` : host}:${port}`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `${prefix}: lookup ${host}: no such host`;
  return `${prefix}: ${errnoText(err)}`;
}

export interface TcpTransportComponents {
  logger: Logger;
}

export class TcpTransport implements ControlTransport {
  private readonly log: Logger;

  constructor(components: TcpTransportComponents) {
    this.log = components.logger.child({ component: 'tcp' });
  }

  listen(host: string, port: number, onStream: (s: ByteStream) => void): Promise<{ close(): void }> {
    return new Promise((resolve, reject) => {
      const server: Server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_INITIAL_DELAY_MS });
      let listening = false;
      server.on('error', (err: NodeJS.ErrnoException) => {
        if (!listening) {
          reject(new TsweaveError('ERR_HOST_NETWORK', listenErrorMessage(host, port, err), {
            cause: err,
            fields: { host, port, errno: err.code },
          }));
          return;
        }
        this.log.warn({ err, host, port }, 'tcp listener error');
      });
      server.on('connection', (socket: Socket) => {
        const stream = new SocketStream(socket);
        try {
          onStream(stream);
        } catch (err) {
          this.log.error({ err }, 'inbound stream handler threw');
          stream.close();
        }
      });
      server.listen({ host, port, exclusive: true }, () => {
        listening = true;
        this.log.info({ host, port }, 'listening for control connections');
        let closed = false;
        resolve({
          close: () => {
            if (closed) return;
            closed = true;
            server.close();
          },
        });
      });
    });
  }

  dial(host: string, port: number, timeoutMs: number): Promise<ByteStream> {
    return new Promise((resolve, reject) => {
      let socket: Socket;
      try {
        // Throws synchronously for a port outside 0..65535 (ERR_SOCKET_BAD_PORT) and similar bad arguments.
        socket = connect({ host, port, family: 4, noDelay: true, keepAlive: true, keepAliveInitialDelay: TCP_KEEPALIVE_INITIAL_DELAY_MS });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        reject(new TsweaveError('ERR_HOST_NETWORK', dialErrorMessage(host, port, e), { cause: e, fields: { host, port, errno: e.code } }));
        return;
      }
      let settled = false;
      const fail = (err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new TsweaveError('ERR_HOST_NETWORK', dialErrorMessage(host, port, err), {
          cause: err,
          fields: { host, port, errno: err.code },
        }));
      };
      const timer = setTimeout(() => {
        const err: NodeJS.ErrnoException = new Error(`connect ETIMEDOUT ${host}:${port}`);
        err.code = 'ETIMEDOUT';
        fail(err);
      }, timeoutMs);
      socket.once('error', fail);
      socket.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(new SocketStream(socket));
      });
    });
  }
}

/**
 * A ByteStream over a connected socket. Data is not read from the socket until `onData` is called
 * (the socket stays paused), so nothing is lost between accept and the handler's registration.
 * `onClose` callbacks run exactly once, also when registered after the stream has closed.
 */
export class SocketStream implements ByteStream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  private closed = false;
  private finished = false;
  private closeErr: Error | undefined;
  private closeCbs: ((err?: Error) => void)[] = [];
  private dataCb: ((chunk: Uint8Array) => void) | undefined;

  constructor(private readonly socket: Socket) {
    this.remoteAddress = plainAddress(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = plainAddress(socket.localAddress);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_INITIAL_DELAY_MS);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.closeErr === undefined && !this.closed) {
        this.closeErr = new TsweaveError('ERR_HOST_NETWORK', `tcp ${this.remoteAddress}:${this.remotePort}: ${errnoText(err)}`, {
          cause: err,
          fields: { errno: err.code },
        });
      }
    });
    socket.on('close', () => this.finish());
    // A peer's FIN: we have nothing more to read; close our side too (the control protocol is not half-duplex).
    socket.on('end', () => socket.end());
  }

  write(data: Uint8Array): void {
    if (this.closed || this.socket.destroyed) return;
    // Copy: the caller may reuse its buffer while the kernel send queue is full.
    this.socket.write(Buffer.from(data));
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    const first = this.dataCb === undefined;
    this.dataCb = cb;
    if (first) {
      this.socket.on('data', (chunk: Buffer) => {
        if (!this.closed) this.dataCb?.(chunk);
      });
    }
  }

  onClose(cb: (err?: Error) => void): void {
    if (this.finished) {
      const err = this.closeErr;
      queueMicrotask(() => cb(err));
      return;
    }
    this.closeCbs.push(cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Nothing more is read: a hostile peer still pushing (e.g. the body of a frame we refused) would
    // otherwise have us read and drop its bytes, allocating for each chunk, until the grace period ends.
    this.socket.pause();
    // end() flushes what is queued (e.g. a `close` message with its reason) before the FIN; a peer that
    // never finishes its side is cut off after a grace period.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    const cbs = this.closeCbs;
    this.closeCbs = [];
    for (const cb of cbs) cb(this.closeErr);
  }
}
