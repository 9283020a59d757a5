// The router's Prometheus metrics (prom-client): Weave's names where Weave had them (WEAVE-FACTS.md §1.9),
// so existing dashboards and alerts keep working, and tsweave's own under `tsweave_`. Nearly everything is
// read at scrape time from counters the parts already keep (collect() callbacks over status() and stats()),
// so the data plane's hot path carries no instrumentation; only rare events (a connection ending, a failed
// handshake, an IPAM request settling, a DNS answer) are pushed in through the methods below.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS_EVENT_LOOP_RESOLUTION_MS } from '../core/defaults.js';
import type { Status } from '../api/status-types.js';

/** The parts of the node's /stats the collectors read (every field optional: a part may be off). */
export interface StatsView {
  overlay?: Partial<Record<string, number>>;
  forward?: Partial<Record<string, number>>;
  fastPath?: Partial<Record<string, number | boolean>>;
  /** Per connected peer (name): the data plane's counters for that session. */
  sessions?: Record<string, Partial<Record<string, number>>>;
  dns?: { resolver?: Partial<Record<string, number>>; server?: Partial<Record<string, number>> };
  /** The control listener's refusals before authentication (mesh/accept-limiter.ts InboundStats). */
  inbound?: Partial<Record<string, number>>;
  /** Per HTTP listener: connections refused or cut (io/http-limits.ts HttpLimitStats). */
  http?: Record<string, Partial<Record<string, number>> | undefined>;
}

export interface MetricsSource {
  status(): Status;
  stats(): StatsView;
  /** IPAM requests waiting (undefined without IPAM). */
  ipamPending?(): { allocate: number; claim: number } | undefined;
}

/** Drop reasons: label value → the counter name in the JS overlay / forwarder and in the native fast path. */
const DROPS: ReadonlyArray<{ reason: string; overlay?: string; forward?: string; fast?: string }> = [
  { reason: 'auth', overlay: 'droppedAuth', fast: 'droppedAuth' },
  { reason: 'replay', overlay: 'droppedReplay', fast: 'droppedReplay' },
  { reason: 'unknown_session', overlay: 'droppedUnknownSession', fast: 'droppedUnknownSession' },
  { reason: 'too_big', overlay: 'droppedTooBig' },
  { reason: 'short', overlay: 'droppedShort', fast: 'droppedShort' },
  { reason: 'bad_frame', overlay: 'droppedBadFrame', fast: 'droppedBadFrame' },
  { reason: 'bad_type', overlay: 'droppedBadType' },
  { reason: 'no_session', overlay: 'droppedNoSession' },
  { reason: 'runt', forward: 'droppedRunt' },
  { reason: 'loop', forward: 'droppedLoop' },
  { reason: 'no_route', forward: 'droppedNoRoute' },
  { reason: 'duplicate', forward: 'droppedDuplicate' },
];

/** Inbound connections the control listener refused or cut before authentication: label → counter. */
const INBOUND_REFUSALS: ReadonlyArray<[string, string]> = [
  ['accept_rate', 'acceptRefused'], ['accept_rate_global', 'acceptRefusedGlobal'],
  ['handshakes_full', 'pendingRefused'], ['evicted', 'pendingEvicted'],
];

/** HTTP connections refused or cut: label value → HttpLimitStats counter. */
const HTTP_REFUSALS: ReadonlyArray<[string, string]> = [
  ['full', 'refusedFull'], ['per_address', 'refusedPerAddress'], ['idle', 'idleClosed'],
];

/** DNS answer types: label value → the resolver's counter. */
const DNS_ANSWERS: ReadonlyArray<[string, string]> = [
  ['answered', 'answered'], ['nxdomain', 'nxdomain'], ['nodata', 'nodata'], ['forwarded', 'forwarded'],
  ['truncated', 'truncated'], ['formerr', 'formerr'], ['notimp', 'notimp'], ['dropped', 'dropped'],
];

/** Per-session counters: label values → the session's counter. */
const SESSION_TRAFFIC: ReadonlyArray<{ direction: 'sent' | 'received'; datagrams: string; bytes: string }> = [
  { direction: 'sent', datagrams: 'datagramsSent', bytes: 'bytesSent' },
  { direction: 'received', datagrams: 'datagramsReceived', bytes: 'bytesReceived' },
];

const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** Weave's connection type label: how frames travel ("sleeve" = UDP encapsulation, "tcp" = the fallback). */
function connType(path: 'udp' | 'tcp' | undefined): string {
  return path === 'udp' ? 'sleeve' : path === 'tcp' ? 'tcp' : '';
}

export interface MetricsOptions {
  /** Process and Node.js metrics (CPU, memory, event-loop delay). @default true */
  defaultMetrics?: boolean;
  /** IPAM is on: its metrics exist (as in Weave, a router without IPAM has none). @default true */
  ipam?: boolean;
  /** weaveDNS is on. @default true */
  dns?: boolean;
}

export class RouterMetrics {
  readonly registry = new Registry();
  private readonly terminations: Counter;
  private readonly handshakeFailures: Counter<'direction'>;
  private readonly ipamWait: Histogram<'kind' | 'outcome'>;
  private readonly dnsLatency: Histogram<'answer'>;

  constructor(
    private readonly source: MetricsSource,
    opts: MetricsOptions = {},
  ) {
    const registers = [this.registry];
    const ipamRegisters = opts.ipam === false ? [] : registers;
    const dnsRegisters = opts.dns === false ? [] : registers;
    // One status() per scrape, shared by the collectors that need it (they run in the same tick).
    let cached: { at: number; status: Status } | undefined;
    const status = (): Status => {
      const now = Date.now();
      if (!cached || now - cached.at > 200) cached = { at: now, status: this.source.status() };
      return cached.status;
    };
    let cachedStats: { at: number; stats: StatsView } | undefined;
    const stats = (): StatsView => {
      const now = Date.now();
      if (!cachedStats || now - cachedStats.at > 200) cachedStats = { at: now, stats: this.source.stats() };
      return cachedStats.stats;
    };

    // ---- Weave's names -------------------------------------------------------------------------
    new Gauge({
      name: 'weave_connections', help: 'Number of peer-to-peer connections.', labelNames: ['state', 'type', 'encryption'], registers,
      collect() {
        this.reset();
        // Every state is reported (0 when none), so alerts on e.g. failed > 0 see a series.
        for (const state of ['established', 'pending', 'retrying', 'failed', 'connecting']) this.set({ state, type: '', encryption: '' }, 0);
        for (const c of status().router.connections) {
          this.inc({ state: c.state, type: connType(c.path), encryption: c.encrypted ? 'yes' : '' });
        }
      },
    });
    this.terminations = new Counter({
      name: 'weave_connection_terminations_total', help: 'Number of peer-to-peer connections terminated.', registers,
    });
    new Gauge({
      name: 'weave_ips', help: 'Number of IP addresses.', labelNames: ['state'], registers: ipamRegisters,
      collect() {
        this.reset();
        const self = status().ipam?.entries.find((e) => e.active !== undefined); // only this peer's entry has it
        if (self) this.set({ state: 'local-used' }, self.active ?? 0);
      },
    });
    new Gauge({
      name: 'weave_max_ips', help: 'Size of IP address space used by allocator.', registers: ipamRegisters,
      collect() {
        this.reset();
        const ipam = status().ipam;
        if (ipam) this.set(ipam.rangeNumIPs);
      },
    });
    new Gauge({
      name: 'weave_dns_entries', help: 'Number of DNS entries originating at this peer.', registers: dnsRegisters,
      collect() {
        this.reset();
        const s = status();
        if (s.dns) this.set(s.dns.entries.filter((e) => e.origin === s.router.name).length);
      },
    });
    new Gauge({
      name: 'weave_ipam_unreachable_count', help: 'Number of unreachable peers that own IP address space.', registers: ipamRegisters,
      collect() {
        this.reset();
        const ipam = status().ipam;
        if (ipam) this.set(ipam.entries.filter((e) => !e.reachable).length);
      },
    });
    new Gauge({
      name: 'weave_ipam_unreachable_percentage', help: 'Percentage of IP address space owned by unreachable peers.', registers: ipamRegisters,
      collect() {
        this.reset();
        const ipam = status().ipam;
        if (!ipam) return;
        const total = ipam.entries.reduce((a, e) => a + e.ips, 0);
        const lost = ipam.entries.filter((e) => !e.reachable).reduce((a, e) => a + e.ips, 0);
        this.set(total === 0 ? 0 : (100 * lost) / total);
      },
    });
    const pending = (): { allocate: number; claim: number } | undefined => this.source.ipamPending?.();
    new Gauge({
      name: 'weave_ipam_pending_allocates', help: 'Number of pending IP address allocations.', registers: ipamRegisters,
      collect() {
        this.reset();
        const p = pending();
        if (p) this.set(p.allocate);
      },
    });
    new Gauge({
      name: 'weave_ipam_pending_claims', help: 'Number of pending IP address claims.', registers: ipamRegisters,
      collect() {
        this.reset();
        const p = pending();
        if (p) this.set(p.claim);
      },
    });

    // ---- tsweave's own -------------------------------------------------------------------------
    new Gauge({
      name: 'tsweave_peers', help: 'Peers known in the mesh, this one included.', registers,
      collect() {
        this.set(status().router.peers.length);
      },
    });
    new Counter({
      name: 'tsweave_connection_datagrams_total',
      help: 'Data-plane datagrams per connection and direction (frames packed into them, heartbeats; "sent" includes the TCP fallback).',
      labelNames: ['peer', 'nickname', 'direction'], registers,
      collect() {
        this.reset();
        sessionRows((labels, s) => {
          for (const t of SESSION_TRAFFIC) this.inc({ ...labels, direction: t.direction }, n(s[t.datagrams]));
        });
      },
    });
    new Counter({
      name: 'tsweave_connection_bytes_total', help: 'Data-plane bytes on the wire (UDP payload) per connection and direction.',
      labelNames: ['peer', 'nickname', 'direction'], registers,
      collect() {
        this.reset();
        sessionRows((labels, s) => {
          for (const t of SESSION_TRAFFIC) this.inc({ ...labels, direction: t.direction }, n(s[t.bytes]));
        });
      },
    });
    new Counter({
      name: 'tsweave_connection_rekeys_total', help: 'Completed data-plane key rotations per connection.',
      labelNames: ['peer', 'nickname'], registers,
      collect() {
        this.reset();
        sessionRows((labels, s) => this.inc(labels, n(s.rekeys)));
      },
    });
    new Gauge({
      name: 'tsweave_connection_rtt_seconds', help: 'Round-trip time of the last acknowledged UDP heartbeat per connection.',
      labelNames: ['peer', 'nickname'], registers,
      collect() {
        this.reset();
        sessionRows((labels, s) => {
          if (typeof s.rttMs === 'number') this.set(labels, s.rttMs / 1000);
        });
      },
    });
    const sessionRows = (each: (labels: { peer: string; nickname: string }, s: Partial<Record<string, number>>) => void): void => {
      const nick = new Map(status().router.peers.map((p) => [p.name, p.nickname]));
      for (const [peer, s] of Object.entries(stats().sessions ?? {})) each({ peer, nickname: nick.get(peer) ?? '' }, s);
    };
    new Counter({
      name: 'tsweave_dataplane_frames_total',
      help: 'Frames by direction and path: "fast" = handled by the native I/O threads, "js" = by the JS thread.',
      labelNames: ['direction', 'path'], registers,
      collect() {
        this.reset();
        const s = stats();
        this.inc({ direction: 'egress', path: 'fast' }, n(s.fastPath?.egressFramesFast));
        this.inc({ direction: 'ingress', path: 'fast' }, n(s.fastPath?.ingressFramesFast));
        this.inc({ direction: 'egress', path: 'js' }, n(s.forward?.framesFromLocal));
        this.inc({ direction: 'ingress', path: 'js' }, n(s.forward?.framesFromPeers));
      },
    });
    new Counter({
      name: 'tsweave_dataplane_forwarded_frames_total',
      help: 'Frames forwarded along the overlay: "relay" = unicast between two other peers, "broadcast" = from another peer along its broadcast tree (fast path: each handled once, copies to children not counted), "flood" = from this host\'s containers along our own tree (broadcast/multicast; on the JS path unknown unicast too; each counted once); "fast" = native I/O threads, "js" = JS thread.',
      labelNames: ['kind', 'path'], registers,
      collect() {
        this.reset();
        const s = stats();
        this.inc({ kind: 'relay', path: 'fast' }, n(s.fastPath?.relayFrames));
        this.inc({ kind: 'relay', path: 'js' }, n(s.forward?.framesRelayed));
        this.inc({ kind: 'broadcast', path: 'fast' }, n(s.fastPath?.broadcastFrames));
        this.inc({ kind: 'flood', path: 'fast' }, n(s.fastPath?.egressBroadcastFrames));
        this.inc({ kind: 'flood', path: 'js' }, n(s.forward?.framesFlooded));
      },
    });
    new Counter({
      name: 'tsweave_dataplane_csum_partial_frames_total',
      help: 'TCP frames that crossed the tunnel with their checksum left partial (peers that both announce csumPartial; the payload is summed by nobody, or once by the receiving kernel): "sent" by the native egress threads, "received" by the native ingress threads.',
      labelNames: ['direction'], registers,
      collect() {
        this.reset();
        const s = stats();
        this.inc({ direction: 'sent' }, n(s.fastPath?.egressCsumPartial));
        this.inc({ direction: 'received' }, n(s.fastPath?.ingressCsumPartial));
      },
    });
    new Counter({
      name: 'tsweave_dataplane_dropped_total', help: 'Data-plane packets and frames dropped, by reason.', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        const s = stats();
        for (const d of DROPS) {
          const v = (d.overlay ? n(s.overlay?.[d.overlay]) : 0) + (d.forward ? n(s.forward?.[d.forward]) : 0) + (d.fast ? n(s.fastPath?.[d.fast]) : 0);
          this.inc({ reason: d.reason }, v);
        }
      },
    });
    new Counter({
      name: 'tsweave_frames_over_tcp_total', help: 'Frames sent over a TCP control connection because UDP did not get through.', registers,
      collect() {
        this.reset();
        this.inc(n(stats().overlay?.framesOverTcp));
      },
    });
    new Counter({
      name: 'tsweave_inbound_refused_total',
      help: 'Inbound control connections refused or closed before authentication, by reason (a flood shows here).',
      labelNames: ['reason'], registers,
      collect() {
        this.reset();
        const inbound = stats().inbound;
        for (const [label, key] of INBOUND_REFUSALS) this.inc({ reason: label }, n(inbound?.[key]));
      },
    });
    new Counter({
      name: 'tsweave_http_refused_total',
      help: 'Connections to the router\'s HTTP listeners refused (too many) or closed (no request in time), by listener and reason.',
      labelNames: ['listener', 'reason'], registers,
      collect() {
        this.reset();
        for (const [listener, counters] of Object.entries(stats().http ?? {})) {
          for (const [label, key] of HTTP_REFUSALS) this.inc({ listener, reason: label }, n(counters?.[key]));
        }
      },
    });
    this.handshakeFailures = new Counter({
      name: 'tsweave_handshake_failures_total', help: 'Peer connections that failed before or during the handshake.',
      labelNames: ['direction'], registers,
    });
    new Counter({
      name: 'tsweave_dns_queries_total', help: 'weaveDNS queries by answer type ("refused": from outside the overlay).',
      labelNames: ['answer'], registers: dnsRegisters,
      collect() {
        this.reset();
        const dns = stats().dns;
        if (!dns) return;
        for (const [label, key] of DNS_ANSWERS) this.inc({ answer: label }, n(dns.resolver?.[key]));
        this.inc({ answer: 'refused' }, n(dns.server?.refused));
      },
    });
    this.dnsLatency = new Histogram({
      name: 'tsweave_dns_query_duration_seconds', help: 'Time from a DNS query to its answer: "local" from the zone, "forward" via an upstream.',
      labelNames: ['answer'], buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: dnsRegisters,
    });
    this.ipamWait = new Histogram({
      name: 'tsweave_ipam_wait_seconds', help: 'Time an IPAM allocate or claim waited until answered, by outcome.',
      labelNames: ['kind', 'outcome'], buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60], registers: ipamRegisters,
    });
    if (opts.defaultMetrics !== false) {
      // The event-loop delay histogram is a timer firing at this resolution forever, also on an idle router.
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: METRICS_EVENT_LOOP_RESOLUTION_MS });
      // Gauges named like counters (promtool flags them); nodejs_active_handles/_requests/_resources (by type) say the same.
      for (const m of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(m);
    }
  }

  /** A peer connection ended (the Router dropped it). */
  connectionTerminated(): void {
    this.terminations.inc();
  }

  handshakeFailed(direction: 'inbound' | 'outbound'): void {
    this.handshakeFailures.inc({ direction });
  }

  /** An IPAM request settled after `seconds`. */
  ipamRequestSettled(kind: 'allocate' | 'claim' | 'prime', outcome: 'ok' | 'error', seconds: number): void {
    this.ipamWait.observe({ kind, outcome }, seconds);
  }

  dnsAnswered(answer: 'local' | 'forward', seconds: number): void {
    this.dnsLatency.observe({ answer }, seconds);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
