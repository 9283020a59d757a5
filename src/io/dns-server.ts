// The weaveDNS sockets: UDP and TCP listeners on ADDR:53 feeding the pure resolver, and the forwarder for
// everything outside our domain (DESIGN.md §6).
//
//   UDP datagram ─▶ resolver.resolve(bytes,'udp') ─▶ answer → send
//                                                  ├▶ forward → DnsForwarder → send (or drop on overload)
//                                                  └▶ drop
//   TCP stream ─▶ 2-byte length frames (≤ 65535) ─▶ same, replies framed back (pipelined, RFC 7766)
//
// Hostile input never stops the server: every handler catches, counts and drops. Caps: TCP connections per
// client and in total, per-connection outstanding queries, idle TCP timeout (io/dns-tcp.ts), pending
// forwards. Only clients on the overlay (or allowed with --dns-allow) are answered (io/dns-client-filter.ts);
// queries from anywhere else are dropped without a reply and counted in `refused`.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { BRIDGE_NAME } from '../core/defaults.js';
import { TsweaveError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Rng } from '../core/ports.js';
import {
  DNS_MAX_PENDING_FORWARDS,
  DNS_MAX_TCP_CONNECTIONS,
  DNS_MAX_TCP_CONNECTIONS_PER_CLIENT,
  DNS_RESOLV_CONF_RECHECK_MS,
  DNS_TCP_IDLE_TIMEOUT_MS,
  DNS_UDP_RECV_BUFFER_BYTES,
  DNS_UPSTREAM_TIMEOUT_MS,
} from '../dns/constants.js';
import type { DnsTransport, ResolverDecision } from '../dns/resolver.js';
import type { DnsServerInfo } from '../dns/service.js';
import { LogLimiter } from '../core/log-limiter.js';
import { DOCKER_NETWORK_BRIDGE_RE, DnsClientFilter } from './dns-client-filter.js';
import { DnsTcpConnections, type DnsTcpStats } from './dns-tcp.js';
import { DnsForwarder, type UpstreamSource } from './dns-upstream.js';
import { ResolvConfWatcher, formatUpstream, parseUpstream, type Upstream } from './resolv-conf.js';

/** What the server asks for each query (the pure Resolver implements it). */
export interface DnsQueryHandler {
  resolve(bytes: Uint8Array, transport: DnsTransport): ResolverDecision;
}

export interface DnsServerComponents {
  handler: DnsQueryHandler;
  logger: Logger;
  /** Upstream query ids. */
  rng: Rng;
  /** Told how long each UDP query took to answer: from the zone ("local") or via an upstream ("forward"). */
  onAnswered?: (answer: 'local' | 'forward', seconds: number) => void;
}

export interface DnsServerInit {
  /** IPv4/IPv6 address to listen on (e.g. the docker0 address). */
  listenAddress: string;
  /** @default 53 */
  port?: number;
  /** Fixed upstreams ("ip" or "ip:port"); when given, resolv.conf is not read. */
  upstreams?: string[];
  /** @default /etc/resolv.conf */
  resolvConfPath?: string;
  /** @default DNS_RESOLV_CONF_RECHECK_MS */
  resolvConfRecheckMs?: number;
  /** @default DNS_UPSTREAM_TIMEOUT_MS */
  upstreamTimeoutMs?: number;
  /** @default DNS_MAX_PENDING_FORWARDS */
  maxPendingForwards?: number;
  /** @default DNS_MAX_TCP_CONNECTIONS */
  maxTcpConnections?: number;
  /** @default DNS_MAX_TCP_CONNECTIONS_PER_CLIENT */
  maxTcpConnectionsPerClient?: number;
  /** @default DNS_TCP_IDLE_TIMEOUT_MS */
  tcpIdleTimeoutMs?: number;
  /** Outstanding (forwarded) queries per TCP connection before further ones are dropped. @default 32 */
  maxTcpPipelined?: number;
  /** Interfaces whose subnets are clients (names or patterns). @default the weave, docker0 and Docker network bridges */
  clientInterfaces?: readonly (string | RegExp)[];
  /** More client networks (--dns-allow), "CIDR". */
  allowClients?: readonly string[];
}

export interface DnsServerStats extends DnsTcpStats {
  udpQueries: number;
  /** Queries (UDP) and connections (TCP) from sources that are not clients: dropped unanswered. */
  refused: number;
  sendErrors: number;
  handlerErrors: number;
}

/** One "refused a client" log line per this interval. */
const REFUSED_LOG_INTERVAL_MS = 60_000;

/** Turns a bind failure into a message that says what to do. */
export function bindErrorMessage(err: NodeJS.ErrnoException, addr: string, port: number, proto: 'udp' | 'tcp'): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${port} on ${addr} is in use; is another DNS server running? (${proto})`;
    case 'EADDRNOTAVAIL':
      return `cannot listen for DNS on ${addr}:${port} (${proto}): address not available; it is not assigned to any interface in this network namespace`;
    case 'EACCES':
    case 'EPERM':
      return `cannot listen for DNS on ${addr}:${port} (${proto}): permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE`;
    default:
      return `cannot listen for DNS on ${addr}:${port} (${proto}): ${err.message}`;
  }
}

export class DnsServer {
  private readonly handler: DnsQueryHandler;
  private readonly onAnswered: DnsServerComponents['onAnswered'];
  private readonly log: Logger;
  private readonly addr: string;
  private readonly port: number;
  private readonly init: DnsServerInit;
  private readonly upstreamSource: UpstreamSource;
  private readonly watcher: ResolvConfWatcher | undefined;
  private readonly forwarder: DnsForwarder;
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly tcpConns: DnsTcpConnections;
  private readonly clients: DnsClientFilter;
  private readonly refusedLog = new LogLimiter({ now: Date.now }, REFUSED_LOG_INTERVAL_MS);
  private running = false;
  readonly stats: DnsServerStats = {
    udpQueries: 0, tcpQueries: 0, tcpConnections: 0, tcpRejected: 0, tcpEvicted: 0, tcpIdleClosed: 0,
    refused: 0, dropped: 0, sendErrors: 0, handlerErrors: 0,
  };

  constructor(components: DnsServerComponents, init: DnsServerInit) {
    this.handler = components.handler;
    this.onAnswered = components.onAnswered;
    this.init = init;
    this.addr = init.listenAddress;
    this.port = init.port ?? 53;
    if (isIP(this.addr) === 0) throw new TsweaveError('ERR_CONFIG', `invalid --dns-listen-address "${this.addr}": must be an IP address`);
    this.log = components.logger.child({ component: 'dns-server', listen: `${this.addr}:${this.port}` });
    const isSelf = (u: Upstream): boolean =>
      u.port === this.port && (u.host === this.addr || (this.addr === '0.0.0.0' && u.host.startsWith('127.')));
    if (init.upstreams) {
      const fixed = init.upstreams.map((s) => parseUpstream(s)).filter((u) => !isSelf(u));
      this.upstreamSource = { current: () => fixed };
    } else {
      this.watcher = new ResolvConfWatcher(
        { logger: components.logger },
        { path: init.resolvConfPath, recheckMs: init.resolvConfRecheckMs ?? DNS_RESOLV_CONF_RECHECK_MS, exclude: isSelf },
      );
      this.upstreamSource = this.watcher;
    }
    this.forwarder = new DnsForwarder(
      { logger: components.logger, rng: components.rng, upstreams: this.upstreamSource },
      { timeoutMs: init.upstreamTimeoutMs ?? DNS_UPSTREAM_TIMEOUT_MS, maxPending: init.maxPendingForwards ?? DNS_MAX_PENDING_FORWARDS },
    );
    this.clients = new DnsClientFilter({ interfaces: init.clientInterfaces ?? [BRIDGE_NAME, 'docker0', DOCKER_NETWORK_BRIDGE_RE], allow: init.allowClients ?? [] });
    this.tcpConns = new DnsTcpConnections(
      {
        decide: (bytes, transport) => this.decide(bytes, transport),
        forward: (d, original) => this.forwarder.forward(d.query, original, 'tcp', d.maxReplyBytes),
      },
      {
        idleTimeoutMs: init.tcpIdleTimeoutMs ?? DNS_TCP_IDLE_TIMEOUT_MS,
        maxPipelined: init.maxTcpPipelined ?? 32,
        maxConnections: init.maxTcpConnections ?? DNS_MAX_TCP_CONNECTIONS,
        maxPerClient: init.maxTcpConnectionsPerClient ?? DNS_MAX_TCP_CONNECTIONS_PER_CLIENT,
      },
      this.stats,
    );
  }

  /** Where we listen and where we forward, for `status`. */
  info(): DnsServerInfo {
    return { address: `${this.addr}:${this.port}`, upstream: this.upstreamSource.current().map(formatUpstream) };
  }

  get forwarderStats(): DnsForwarder['stats'] {
    return this.forwarder.stats;
  }

  /** Binds UDP and TCP. Rejects with TsweaveError ERR_DNS and a precise message on bind failure. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.watcher?.start();
    try {
      this.udp = await this.bindUdp();
      this.tcp = await this.bindTcp();
    } catch (err) {
      this.closeSockets();
      this.watcher?.stop();
      throw err;
    }
    this.running = true;
    this.log.info({ upstream: this.info().upstream }, 'dns server listening');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.watcher?.stop();
    this.forwarder.close();
    this.tcpConns.closeAll();
    await new Promise<void>((resolve) => {
      let n = 0;
      const done = (): void => {
        if (--n <= 0) resolve();
      };
      if (this.udp) {
        n++;
        try {
          this.udp.close(done);
        } catch {
          done(); // already closed
        }
      }
      if (this.tcp) {
        n++;
        this.tcp.close(() => done());
      }
      if (n === 0) resolve();
    });
    this.udp = undefined;
    this.tcp = undefined;
    this.log.info('dns server stopped');
  }

  private closeSockets(): void {
    try {
      this.udp?.close();
    } catch {
      /* not bound */
    }
    this.tcp?.close();
    this.udp = undefined;
    this.tcp = undefined;
  }

  private bindUdp(): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({ type: isIP(this.addr) === 6 ? 'udp6' : 'udp4' });
      const onError = (err: NodeJS.ErrnoException): void => {
        sock.close();
        reject(new TsweaveError('ERR_DNS', bindErrorMessage(err, this.addr, this.port, 'udp'), { cause: err }));
      };
      sock.once('error', onError);
      sock.bind({ address: this.addr, port: this.port, exclusive: true }, () => {
        sock.off('error', onError);
        try {
          // Absorb query bursts; the kernel caps this at net.core.rmem_max.
          sock.setRecvBufferSize(DNS_UDP_RECV_BUFFER_BYTES);
        } catch {
          /* keep the default */
        }
        sock.on('error', (err) => this.log.warn({ err }, 'dns udp socket error'));
        sock.on('message', (msg, rinfo) => this.onUdp(sock, msg, rinfo.address, rinfo.port));
        resolve(sock);
      });
    });
  }

  private bindTcp(): Promise<Server> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a client may shut down its side after sending; it still gets its answers.
      // No server.maxConnections: admission (io/dns-tcp.ts) makes room by closing idle connections instead.
      const server = createServer({ pauseOnConnect: false, noDelay: true, allowHalfOpen: true }, (s) => this.onTcpConnection(s));
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        reject(new TsweaveError('ERR_DNS', bindErrorMessage(err, this.addr, this.port, 'tcp'), { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: this.addr, port: this.port, exclusive: true, backlog: 128 }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.warn({ err }, 'dns tcp server error'));
        resolve(server);
      });
    });
  }

  private decide(bytes: Uint8Array, transport: DnsTransport): ResolverDecision {
    try {
      return this.handler.resolve(bytes, transport);
    } catch (err) {
      this.stats.handlerErrors++;
      this.log.debug({ err }, 'dns handler threw');
      return { kind: 'drop', reason: 'handler error' };
    }
  }

  /** False (counted, logged rate-limited) for a source that is not one of our clients. */
  private isClient(host: string, transport: DnsTransport): boolean {
    if (this.clients.allows(host)) return true;
    this.stats.refused++;
    const suppressed = this.refusedLog.allow('refused');
    if (suppressed !== undefined) {
      this.log.warn({ client: host, transport, suppressed }, 'dns query from outside the overlay ignored (allow its network with --dns-allow)');
    }
    return false;
  }

  private onUdp(sock: UdpSocket, msg: Buffer, host: string, port: number): void {
    if (!this.isClient(host, 'udp')) return;
    this.stats.udpQueries++;
    const t0 = performance.now();
    const d = this.decide(msg, 'udp');
    const send = (bytes: Uint8Array): void => {
      if (!this.running) return;
      try {
        sock.send(bytes, port, host, (err) => {
          if (err) this.stats.sendErrors++;
        });
      } catch {
        this.stats.sendErrors++;
      }
    };
    if (d.kind === 'answer') {
      send(d.bytes);
      this.onAnswered?.('local', (performance.now() - t0) / 1000);
    } else if (d.kind === 'forward') {
      void this.forwarder.forward(d.query, msg, 'udp', d.maxReplyBytes).then((r) => {
        if (r) {
          send(r);
          this.onAnswered?.('forward', (performance.now() - t0) / 1000);
        } else this.stats.dropped++;
      });
    } else this.stats.dropped++;
  }

  private onTcpConnection(s: Socket): void {
    const host = s.remoteAddress ?? '';
    if (!this.isClient(host, 'tcp')) {
      s.on('error', () => {});
      s.destroy();
      return;
    }
    this.tcpConns.accept(s, host);
  }
}
