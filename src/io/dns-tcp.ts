// DNS over TCP for the weaveDNS server (RFC 7766): 2-byte length frames in, the same decisions as UDP, replies
// framed back, pipelined. What keeps one client from starving the others (issue 11.6):
//
//   - admission (dns/tcp-admission.ts): a cap per client address and in total; when full, the longest-idle
//     connection makes room for the newcomer;
//   - an idle timer that only a complete query or a reply resets: a client trickling one byte at a time
//     (slowloris) or sitting on an open connection is closed after `idleTimeoutMs`; a connection with a
//     query still being forwarded is kept until it is answered;
//   - at most `maxPipelined` forwarded queries in flight per connection.
//
// A client that half-closes after its queries (shutdown(SHUT_WR)) still gets its answers; the connection is
// ended once they are written.

import type { Socket } from 'node:net';
import { TcpAdmission, type TcpSlot } from '../dns/tcp-admission.js';
import type { DnsTransport, ResolverDecision } from '../dns/resolver.js';

type ForwardDecision = Extract<ResolverDecision, { kind: 'forward' }>;

export interface DnsTcpHandlers {
  decide(bytes: Uint8Array, transport: DnsTransport): ResolverDecision;
  /** Resolves with the reply for the client, or undefined if dropped. Never rejects. */
  forward(d: ForwardDecision, original: Uint8Array): Promise<Uint8Array | undefined>;
}

export interface DnsTcpLimits {
  idleTimeoutMs: number;
  maxPipelined: number;
  maxConnections: number;
  maxPerClient: number;
}

export interface DnsTcpStats {
  tcpQueries: number;
  tcpConnections: number;
  /** Refused at accept: the client is at its cap, or every slot is busy. */
  tcpRejected: number;
  /** Idle connections closed to make room for a new one. */
  tcpEvicted: number;
  /** Closed after idleTimeoutMs without a complete query. */
  tcpIdleClosed: number;
  dropped: number;
}

class Conn implements TcpSlot {
  outstanding = 0;
  ended = false;
  lastActive = performance.now();
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly socket: Socket,
    readonly client: string,
  ) {}
  /** A half-received frame does not count: a slowloris client must not make its connections unevictable. */
  busy(): boolean {
    return this.outstanding > 0;
  }
  lastActiveMs(): number {
    return this.lastActive;
  }
}

export class DnsTcpConnections {
  private readonly admission: TcpAdmission<Conn>;
  private readonly conns = new Set<Conn>();

  constructor(
    private readonly handlers: DnsTcpHandlers,
    private readonly limits: DnsTcpLimits,
    private readonly stats: DnsTcpStats,
  ) {
    this.admission = new TcpAdmission(limits.maxConnections, limits.maxPerClient);
  }

  get size(): number {
    return this.conns.size;
  }

  /** Takes a freshly accepted socket from `client` (its address). */
  accept(s: Socket, client: string): void {
    s.on('error', () => {
      /* reset by peer etc.: 'close' follows */
    });
    const c = new Conn(s, client);
    const d = this.admission.admit(c);
    if (!d.admit) {
      this.stats.tcpRejected++;
      s.destroy();
      return;
    }
    if (d.evict) {
      this.stats.tcpEvicted++;
      this.close(d.evict);
    }
    this.stats.tcpConnections++;
    this.conns.add(c);
    s.setNoDelay(true);
    s.on('close', () => this.forget(c));
    c.timer = setTimeout(() => this.onIdle(c), this.limits.idleTimeoutMs);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2 && !s.destroyed) {
        const len = buf.readUInt16BE(0);
        if (len < 12) {
          // Not even a header: the stream is garbage; framing cannot be trusted any more.
          this.stats.dropped++;
          s.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        this.onQuery(c, msg);
      }
      // A frame is at most 2 + 65535 bytes; the buffer never needs to hold more than one partial frame.
      if (buf.length > 2 + 65535) s.destroy();
    });
    s.on('end', () => {
      c.ended = true;
      this.endIfDone(c);
    });
  }

  /** Closes every connection (server stop). */
  closeAll(): void {
    for (const c of [...this.conns]) this.close(c);
  }

  private onQuery(c: Conn, msg: Buffer): void {
    this.stats.tcpQueries++;
    this.touch(c);
    const d = this.handlers.decide(msg, 'tcp');
    if (d.kind === 'answer') this.reply(c, d.bytes);
    else if (d.kind === 'forward') {
      if (c.outstanding >= this.limits.maxPipelined) {
        this.stats.dropped++;
        return;
      }
      c.outstanding++;
      void this.handlers.forward(d, msg).then((r) => {
        c.outstanding--;
        if (r) this.reply(c, r);
        else this.stats.dropped++;
        this.endIfDone(c);
      });
    } else this.stats.dropped++;
  }

  private reply(c: Conn, bytes: Uint8Array): void {
    const s = c.socket;
    if (s.destroyed || !s.writable) return;
    const frame = Buffer.allocUnsafe(2 + bytes.length);
    frame.writeUInt16BE(bytes.length, 0);
    frame.set(bytes, 2);
    s.write(frame);
    this.touch(c);
  }

  private touch(c: Conn): void {
    c.lastActive = performance.now();
    c.timer?.refresh();
  }

  private onIdle(c: Conn): void {
    if (c.outstanding > 0) {
      c.timer?.refresh(); // still forwarding for it: wait for the answer
      return;
    }
    this.stats.tcpIdleClosed++;
    this.close(c);
  }

  /** After the client's FIN: end our side once every answer is written. */
  private endIfDone(c: Conn): void {
    if (c.ended && c.outstanding === 0 && !c.socket.destroyed) c.socket.end();
  }

  private close(c: Conn): void {
    this.forget(c);
    c.socket.destroy();
  }

  private forget(c: Conn): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    this.admission.remove(c);
    this.conns.delete(c);
  }
}
