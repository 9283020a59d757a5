// Forwarding of queries outside our domain to the upstream resolvers (policy in dns/forward-policy.ts).
//
//   for each upstream, in order (DNS_UPSTREAM_TIMEOUT_MS each):
//     UDP query (fresh connected socket = random source port, fresh random id), or TCP if the client came
//     over TCP; an ICMP port unreachable moves on to the next server at once
//     UDP reply with TC → same server over TCP
//     SERVFAIL / REFUSED / NOTIMP → remember it, try the next server
//   none answered → the remembered reply, else SERVFAIL
// Replies whose source, id or question do not match are ignored. At most maxPending forwards are in flight;
// beyond that new ones are dropped (the client retries), so a flood cannot exhaust sockets.
// An upstream we cannot reach at all (no route, an IPv6 server on an IPv4-only host, socket errors) is
// counted in `unreachable`, logged at most once a minute per server, and skipped: the client gets the next
// server's answer or SERVFAIL, and nothing a socket does can throw out of here.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, isIP, type Socket } from 'node:net';
import type { Logger } from '../core/logger.js';
import type { Rng } from '../core/ports.js';
import { DNS_MAX_PENDING_FORWARDS, DNS_TCP_MAX_MESSAGE_BYTES, DNS_UPSTREAM_TIMEOUT_MS } from '../dns/constants.js';
import { checkUpstreamReply, replyForClient, servfail, upstreamQuery } from '../dns/forward-policy.js';
import { RCODE, isTruncated, rcodeOf, type ParsedQuery } from '../dns/message.js';
import type { DnsTransport } from '../dns/resolver.js';
import { LogLimiter } from '../core/log-limiter.js';
import { formatUpstream, type Upstream } from './resolv-conf.js';

/** One "upstream unreachable" line per server per this interval. */
const UNREACHABLE_LOG_INTERVAL_MS = 60_000;

export interface UpstreamSource {
  current(): Upstream[];
}

export interface DnsForwarderInit {
  /** @default DNS_UPSTREAM_TIMEOUT_MS (5 s) */
  timeoutMs?: number;
  /** @default DNS_MAX_PENDING_FORWARDS */
  maxPending?: number;
}

export class DnsForwarder {
  private readonly log: Logger;
  private readonly rng: Rng;
  private readonly upstreams: UpstreamSource;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private pending = 0;
  private closed = false;
  private readonly inFlight = new Set<() => void>();
  private readonly logLimiter = new LogLimiter({ now: Date.now }, UNREACHABLE_LOG_INTERVAL_MS);
  readonly stats = { forwarded: 0, servfail: 0, overload: 0, timeouts: 0, errors: 0, unreachable: 0, mismatched: 0, tcpRetries: 0 };

  constructor(components: { logger: Logger; rng: Rng; upstreams: UpstreamSource }, init: DnsForwarderInit = {}) {
    this.log = components.logger.child({ component: 'dns-upstream' });
    this.rng = components.rng;
    this.upstreams = components.upstreams;
    this.timeoutMs = init.timeoutMs ?? DNS_UPSTREAM_TIMEOUT_MS;
    this.maxPending = init.maxPending ?? DNS_MAX_PENDING_FORWARDS;
  }

  /**
   * Forwards a query; resolves with the reply for the client, or undefined if dropped (overload, closed).
   * Never rejects.
   */
  async forward(q: ParsedQuery, original: Uint8Array, transport: DnsTransport, maxReplyBytes: number): Promise<Uint8Array | undefined> {
    if (this.closed) return undefined;
    if (this.pending >= this.maxPending) {
      this.stats.overload++;
      return undefined;
    }
    this.pending++;
    this.stats.forwarded++;
    try {
      let fallback: Uint8Array | undefined;
      for (const u of this.upstreams.current()) {
        if (this.closed) return undefined;
        let reply = transport === 'tcp' ? await this.viaTcp(u, q, original) : await this.viaUdp(u, q, original);
        if (reply && transport === 'udp' && isTruncated(reply)) {
          this.stats.tcpRetries++;
          const full = await this.viaTcp(u, q, original);
          if (full && full.length <= maxReplyBytes) reply = full;
        }
        if (!reply) continue;
        const rc = rcodeOf(reply);
        if (rc === RCODE.SERVFAIL || rc === RCODE.REFUSED || rc === RCODE.NOTIMP) {
          fallback = reply;
          continue;
        }
        return replyForClient(reply, q, maxReplyBytes);
      }
      if (fallback) return replyForClient(fallback, q, maxReplyBytes);
      this.stats.servfail++;
      return servfail(q);
    } catch (err) {
      // Not expected; never let a forward take the server down.
      this.stats.errors++;
      this.log.warn({ err }, 'dns forward failed');
      return servfail(q);
    } finally {
      this.pending--;
    }
  }

  get pendingCount(): number {
    return this.pending;
  }

  close(): void {
    this.closed = true;
    for (const cancel of [...this.inFlight]) cancel();
  }

  /** Counts a server we cannot reach and logs it, rate-limited per server. */
  private unreachable(u: Upstream, transport: DnsTransport, err: unknown): void {
    this.stats.unreachable++;
    const upstream = formatUpstream(u);
    const suppressed = this.logLimiter.allow(upstream);
    if (suppressed === undefined) return;
    const e = err as NodeJS.ErrnoException | undefined;
    this.log.warn(
      { upstream, transport, code: e?.code, error: e?.message ?? String(err), suppressed },
      'dns upstream unreachable; skipping it (check the nameservers in resolv.conf)',
    );
  }

  private newId(): number {
    return this.rng.int(0x10000);
  }

  private viaUdp(u: Upstream, q: ParsedQuery, original: Uint8Array): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const id = this.newId();
      let sock: UdpSocket;
      try {
        sock = createSocket(isIP(u.host) === 6 ? 'udp6' : 'udp4');
      } catch (err) {
        this.unreachable(u, 'udp', err);
        resolve(undefined);
        return;
      }
      let done = false;
      const finish = (r: Uint8Array | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inFlight.delete(cancel);
        try {
          sock.close();
        } catch {
          /* already closed */
        }
        resolve(r);
      };
      const cancel = (): void => finish(undefined);
      this.inFlight.add(cancel);
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        this.log.debug({ upstream: formatUpstream(u), name: q.displayName }, 'dns upstream timed out');
        finish(undefined);
      }, this.timeoutMs);
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (done) return; // late errors of a finished query: the socket is closed, nothing to do
        // ECONNREFUSED is the ICMP port unreachable of a live host (next server at once); anything else
        // (bind failure, EAFNOSUPPORT, …) means we cannot talk to this server at all.
        if (err.code === 'ECONNREFUSED') {
          this.stats.errors++;
          this.log.debug({ err, upstream: formatUpstream(u) }, 'dns upstream udp port unreachable');
        } else this.unreachable(u, 'udp', err);
        finish(undefined);
      });
      sock.on('message', (msg, rinfo) => {
        if (rinfo.address !== u.host || rinfo.port !== u.port) return;
        const check = checkUpstreamReply(msg, id, q);
        if (!check.ok) {
          this.stats.mismatched++;
          this.log.debug({ upstream: formatUpstream(u), reason: check.reason }, 'dns upstream reply ignored');
          return;
        }
        finish(msg);
      });
      // A connected socket hears ICMP "port unreachable" (ECONNREFUSED on 'error'), so a dead upstream is
      // skipped at once instead of after the timeout.
      // connect() fails (ENETUNREACH, EADDRNOTAVAIL, …) through this callback, not through 'error'; the
      // socket is then unconnected and a send without a port would throw ERR_SOCKET_BAD_PORT.
      sock.connect(u.port, u.host, (err?: Error) => {
        if (done) return;
        if (err) {
          this.unreachable(u, 'udp', err);
          finish(undefined);
          return;
        }
        try {
          sock.send(upstreamQuery(original, id), (sendErr) => {
            if (sendErr) {
              this.unreachable(u, 'udp', sendErr);
              finish(undefined);
            }
          });
        } catch (sendErr) {
          this.unreachable(u, 'udp', sendErr);
          finish(undefined);
        }
      });
    });
  }

  private viaTcp(u: Upstream, q: ParsedQuery, original: Uint8Array): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const id = this.newId();
      let done = false;
      let sock: Socket | undefined;
      const finish = (r: Uint8Array | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inFlight.delete(cancel);
        sock?.destroy();
        resolve(r);
      };
      const cancel = (): void => finish(undefined);
      this.inFlight.add(cancel);
      const timer = setTimeout(() => {
        this.stats.timeouts++;
        finish(undefined);
      }, this.timeoutMs);
      let buf: Buffer = Buffer.alloc(0);
      try {
        sock = connect({ host: u.host, port: u.port });
      } catch (err) {
        this.unreachable(u, 'tcp', err);
        finish(undefined);
        return;
      }
      // Stays attached after finish(): a reset or timeout of a connection whose query is over lands here.
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (done) return;
        if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE') {
          this.stats.errors++;
          this.log.debug({ err, upstream: formatUpstream(u) }, 'dns upstream tcp error');
        } else this.unreachable(u, 'tcp', err);
        finish(undefined);
      });
      sock.on('close', () => finish(undefined));
      sock.on('connect', () => {
        const body = upstreamQuery(original, id);
        const frame = Buffer.allocUnsafe(2 + body.length);
        frame.writeUInt16BE(body.length, 0);
        frame.set(body, 2);
        sock!.write(frame);
      });
      sock.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        if (buf.length > 2 + DNS_TCP_MAX_MESSAGE_BYTES) return finish(undefined);
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) return;
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          const check = checkUpstreamReply(msg, id, q);
          if (check.ok) return finish(Buffer.from(msg));
          this.stats.mismatched++;
        }
      });
    });
  }
}
