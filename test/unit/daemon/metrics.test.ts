// The metrics collectors over fake parts: Weave's names and label sets, tsweave's own counters, values
// read at scrape time (they move when the parts' counters move), pushed events, and no secret in the text.
import { test, vi } from 'vitest';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { RouterMetrics, type StatsView } from '../../../src/daemon/metrics.js';
import { buildTopologyView } from '../../../src/daemon/topology-view.js';
import type { Status } from '../../../src/api/status-types.js';

const SELF = 'aa:00:00:00:00:01', B = 'bb:00:00:00:00:02', C = 'cc:00:00:00:00:03';

function status(): Status {
  return {
    version: '0.1.0',
    router: {
      protocolMinVersion: 1, protocolMaxVersion: 1, name: SELF, nickname: 'one', port: 6783, encryption: true,
      peerDiscovery: true, trustedSubnets: [], targets: ['10.0.0.2:6783', '10.0.0.9:6783'], mtu: 1376,
      connections: [
        { address: '10.0.0.2:6783', outbound: true, state: 'established', remoteName: B, remoteNickname: 'two', encrypted: true, path: 'udp' },
        { address: '10.0.0.3:40000', outbound: false, state: 'established', remoteName: C, remoteNickname: 'three', encrypted: true, path: 'tcp' },
        { address: '10.0.0.9:6783', outbound: true, state: 'failed', error: 'authentication failed (password mismatch?)', retryAt: 'never' },
      ],
      peers: [
        { name: SELF, nickname: 'one', uid: '1', connections: [
          { address: '10.0.0.2:6783', outbound: true, name: B, nickname: 'two', established: true },
          { address: '10.0.0.3:40000', outbound: false, name: C, nickname: 'three', established: true }] },
        { name: B, nickname: 'two', uid: '2', connections: [{ address: '10.0.0.1:1', outbound: false, name: SELF, nickname: 'one', established: true }] },
        { name: C, nickname: 'three', uid: '3', connections: [{ address: '10.0.0.1:6783', outbound: true, name: SELF, nickname: 'one', established: true }] },
      ],
    },
    ipam: {
      status: 'ready', range: '10.32.0.0/12', defaultSubnet: '10.32.0.0/12', rangeNumIPs: 1048576,
      entries: [
        { name: SELF, nickname: 'one', ips: 524288, active: 3, reachable: true },
        { name: B, nickname: 'two', ips: 262144, reachable: true },
        { name: C, nickname: 'three', ips: 262144, reachable: false },
      ],
    },
    dns: {
      domain: 'weave.local.', upstream: [], address: '172.17.0.1:53', ttl: 1,
      entries: [
        { hostname: 'a.weave.local.', address: '10.32.0.1', containerId: 'c1', origin: SELF },
        { hostname: 'b.weave.local.', address: '10.32.0.2', containerId: 'c2', origin: SELF },
        { hostname: 'c.weave.local.', address: '10.40.0.1', containerId: 'c3', origin: B },
      ],
    },
  };
}

function stats(): StatsView {
  return {
    overlay: { droppedAuth: 2, droppedReplay: 1, droppedUnknownSession: 4, droppedTooBig: 5, framesOverTcp: 7 },
    forward: { framesFromLocal: 10, framesFromPeers: 20, droppedNoRoute: 3, framesRelayed: 6, framesFlooded: 7 },
    fastPath: { running: true, egressFramesFast: 1000, ingressFramesFast: 2000, droppedAuth: 40, droppedReplay: 0, relayFrames: 300, broadcastFrames: 9, egressBroadcastFrames: 11, egressCsumPartial: 700, ingressCsumPartial: 1500 },
    sessions: {
      [B]: { rekeys: 2, rttMs: 0.5, datagramsSent: 100, bytesSent: 150_000, datagramsReceived: 90, bytesReceived: 120_000 },
      [C]: { rekeys: 0, datagramsSent: 1, bytesSent: 10, datagramsReceived: 0, bytesReceived: 0 },
    },
    dns: { resolver: { answered: 11, nxdomain: 3, forwarded: 5 }, server: { refused: 6 } },
  };
}

/** Parses the exposition into "name{labels}" → value (labels in the order prom-client prints them). */
function parse(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

function setup() {
  let st = status();
  let sv = stats();
  const pending = { allocate: 2, claim: 1 };
  const metrics = new RouterMetrics({ status: () => st, stats: () => sv, ipamPending: () => pending }, { defaultMetrics: false });
  const scrape = async () => parse((await metrics.scrape()).text);
  return { metrics, scrape, set: (s: Status, v: StatsView) => ((st = s), (sv = v)) };
}

test("Weave's metrics: connections by state/type/encryption, IPs, DNS entries, IPAM reachability and pending requests", async () => {
  const { scrape } = setup();
  const m = await scrape();
  assert.equal(m.get('weave_connections{state="established",type="sleeve",encryption="yes"}'), 1);
  assert.equal(m.get('weave_connections{state="established",type="tcp",encryption="yes"}'), 1);
  assert.equal(m.get('weave_connections{state="failed",type="",encryption=""}'), 1);
  assert.equal(m.get('weave_connections{state="pending",type="",encryption=""}'), 0, 'every state has a series');
  assert.equal(m.get('weave_ips{state="local-used"}'), 3);
  assert.equal(m.get('weave_max_ips'), 1048576);
  assert.equal(m.get('weave_dns_entries'), 2, 'only the entries this peer originated');
  assert.equal(m.get('weave_ipam_unreachable_count'), 1);
  assert.equal(m.get('weave_ipam_unreachable_percentage'), 25);
  assert.equal(m.get('weave_ipam_pending_allocates'), 2);
  assert.equal(m.get('weave_ipam_pending_claims'), 1);
  assert.equal(m.get('weave_connection_terminations_total'), 0);
});

test("tsweave's metrics: per-connection traffic, fast vs JS frames, drops by reason (JS + fast path), DNS answers", async () => {
  const { scrape } = setup();
  const m = await scrape();
  assert.equal(m.get(`tsweave_connection_bytes_total{peer="${B}",nickname="two",direction="sent"}`), 150_000);
  assert.equal(m.get(`tsweave_connection_bytes_total{peer="${B}",nickname="two",direction="received"}`), 120_000);
  assert.equal(m.get(`tsweave_connection_datagrams_total{peer="${C}",nickname="three",direction="sent"}`), 1);
  assert.equal(m.get(`tsweave_connection_rekeys_total{peer="${B}",nickname="two"}`), 2);
  assert.equal(m.get(`tsweave_connection_rtt_seconds{peer="${B}",nickname="two"}`), 0.0005);
  assert.equal(m.get('tsweave_dataplane_frames_total{direction="egress",path="fast"}'), 1000);
  assert.equal(m.get('tsweave_dataplane_frames_total{direction="ingress",path="js"}'), 20);
  assert.equal(m.get('tsweave_dataplane_forwarded_frames_total{kind="relay",path="fast"}'), 300);
  assert.equal(m.get('tsweave_dataplane_forwarded_frames_total{kind="relay",path="js"}'), 6);
  assert.equal(m.get('tsweave_dataplane_forwarded_frames_total{kind="broadcast",path="fast"}'), 9);
  assert.equal(m.get('tsweave_dataplane_forwarded_frames_total{kind="flood",path="fast"}'), 11);
  assert.equal(m.get('tsweave_dataplane_forwarded_frames_total{kind="flood",path="js"}'), 7);
  assert.equal(m.get('tsweave_dataplane_csum_partial_frames_total{direction="sent"}'), 700);
  assert.equal(m.get('tsweave_dataplane_csum_partial_frames_total{direction="received"}'), 1500);
  assert.equal(m.get('tsweave_dataplane_dropped_total{reason="auth"}'), 42, 'JS path and fast path together');
  assert.equal(m.get('tsweave_dataplane_dropped_total{reason="too_big"}'), 5);
  assert.equal(m.get('tsweave_dataplane_dropped_total{reason="no_route"}'), 3);
  assert.equal(m.get('tsweave_dataplane_dropped_total{reason="unknown_session"}'), 4);
  assert.equal(m.get('tsweave_frames_over_tcp_total'), 7);
  assert.equal(m.get('tsweave_dns_queries_total{answer="nxdomain"}'), 3);
  assert.equal(m.get('tsweave_dns_queries_total{answer="refused"}'), 6);
  assert.equal(m.get('tsweave_peers'), 3);
});

test('values are read at scrape time: counters move with the parts, a gone connection leaves no series', async () => {
  const { scrape, set } = setup();
  await scrape();
  const s = status();
  s.router.connections = s.router.connections.filter((c) => c.remoteName !== C);
  const v = stats();
  v.overlay!.droppedReplay = 9;
  v.sessions![B]!.bytesSent = 999_999;
  delete v.sessions![C];
  set(s, v);
  await new Promise((r) => setTimeout(r, 250)); // past the per-scrape snapshot cache
  const m = await scrape();
  assert.equal(m.get('tsweave_dataplane_dropped_total{reason="replay"}'), 9);
  assert.equal(m.get(`tsweave_connection_bytes_total{peer="${B}",nickname="two",direction="sent"}`), 999_999);
  assert.equal(m.get(`tsweave_connection_datagrams_total{peer="${C}",nickname="three",direction="sent"}`), undefined);
  assert.equal(m.get('weave_connections{state="established",type="tcp",encryption="yes"}'), undefined);
});

test('pushed events: terminations, handshake failures, IPAM wait and DNS latency histograms', async () => {
  const { metrics, scrape } = setup();
  metrics.connectionTerminated();
  metrics.connectionTerminated();
  metrics.handshakeFailed('inbound');
  metrics.ipamRequestSettled('allocate', 'ok', 0.2);
  metrics.ipamRequestSettled('claim', 'error', 40);
  metrics.dnsAnswered('local', 0.0002);
  metrics.dnsAnswered('forward', 0.03);
  const m = await scrape();
  assert.equal(m.get('weave_connection_terminations_total'), 2);
  assert.equal(m.get('tsweave_handshake_failures_total{direction="inbound"}'), 1);
  assert.equal(m.get('tsweave_ipam_wait_seconds_count{kind="allocate",outcome="ok"}'), 1);
  assert.equal(m.get('tsweave_ipam_wait_seconds_bucket{le="0.5",kind="allocate",outcome="ok"}'), 1);
  assert.equal(m.get('tsweave_ipam_wait_seconds_bucket{le="30",kind="claim",outcome="error"}'), 0);
  assert.equal(m.get('tsweave_dns_query_duration_seconds_bucket{le="0.0005",answer="local"}'), 1);
  assert.equal(m.get('tsweave_dns_query_duration_seconds_sum{answer="forward"}'), 0.03);
});

test('default metrics include the event-loop delay; a router without IPAM and DNS reports neither', async () => {
  const s = status();
  delete s.ipam;
  delete s.dns;
  const metrics = new RouterMetrics({ status: () => s, stats: () => ({}) }, { ipam: false, dns: false });
  const m = parse((await metrics.scrape()).text);
  assert.ok(m.has('nodejs_eventloop_lag_seconds'), 'event-loop delay');
  assert.ok(m.has('process_cpu_seconds_total'));
  assert.equal(m.get('weave_max_ips'), undefined);
  assert.equal(m.get('weave_dns_entries'), undefined);
  assert.equal(m.get('weave_ipam_pending_allocates'), undefined);
  assert.ok(m.has('weave_connection_terminations_total'));
});

test('the topology view: peers, local connections with traffic, containers (short ids), no namespace paths', () => {
  const v = buildTopologyView(status(), stats().sessions as never, [
    { containerId: '0123456789abcdef0123', hostname: 'web', mac: '02:00:00:00:00:01', cidrs: ['10.32.0.1/12'], netnsPath: '/proc/9/ns/net' } as never,
  ], 1234);
  assert.deepEqual(v.peers.map((p) => p.nickname), ['one', 'two', 'three']);
  assert.equal(v.connections[0]!.bytesSent, 150_000);
  assert.equal(v.connections[2]!.error, 'authentication failed (password mismatch?)');
  assert.deepEqual(v.containers, [{ id: '0123456789ab', hostname: 'web', mac: '02:00:00:00:00:01', cidrs: ['10.32.0.1/12'] }]);
  assert.equal(JSON.stringify(v).includes('/proc/'), false);
  assert.equal(v.ipam!.entries.length, 3);
});

test('the event-loop delay histogram ticks at most 4 times a second (its timer wakes an idle router)', () => {
  // prom-client reaches perf_hooks through require(): the same module object as this one.
  const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as typeof import('node:perf_hooks');
  const spy = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
  try {
    new RouterMetrics({ status, stats: () => ({}) });
    assert.ok(spy.mock.calls.length >= 1, 'the histogram is made');
    for (const [opts] of spy.mock.calls) assert.ok((opts?.resolution ?? 10) >= 250, `resolution ${opts?.resolution} ms`);
  } finally {
    spy.mockRestore();
  }
});
