import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { Gossiper } from '../../../src/core/gossip.js';
import { silentLogger } from '../../../src/core/logger.js';
import { peerNameFromNumber, type PeerName } from '../../../src/core/types.js';
import { Router, keepNewConnection } from '../../../src/mesh/router.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeConn } from '../../support/fake-conn.js';
import { seededRng } from '../../support/rng.js';
import { SimNetwork, type SimPeer } from '../../support/sim-network.js';

/** Records what a channel owner receives; onGossip returns the payload as "new" the first time only. */
class RecordingGossiper implements Gossiper {
  readonly unicasts: [PeerName, string][] = [];
  readonly broadcasts: [PeerName, string][] = [];
  readonly gossips: [PeerName, string][] = [];
  private readonly known = new Set<string>();
  gossip(): Uint8Array | undefined {
    return undefined;
  }
  onGossip(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    const s = Buffer.from(data).toString();
    this.gossips.push([src, s]);
    if (this.known.has(s)) return undefined;
    this.known.add(s);
    return data;
  }
  onGossipBroadcast(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    this.broadcasts.push([src, Buffer.from(data).toString()]);
    return undefined;
  }
  onGossipUnicast(src: PeerName, data: Uint8Array): void {
    this.unicasts.push([src, Buffer.from(data).toString()]);
  }
}

const bytes = (s: string): Uint8Array => Buffer.from(s);

test('partial connectivity: A↔B↔C, A↮C — gossip unicast and broadcast go through B, exactly once', async () => {
  const net = new SimNetwork({ seed: 3, checkInvariants: true });
  const a = net.addPeer();
  const b = net.addPeer({ targets: [a.address] });
  const c = net.addPeer();
  net.block(a, c); // A and C cannot reach each other directly; discovery will try and fail
  c.maker.addTargets([b.address]);
  await net.flush();

  // Everyone knows everyone; A's route to C is via B, for data and for gossip.
  for (const p of [a, b, c]) assert.equal(p.router.topology.size, 3, `${p.nickname} knows 3 peers`);
  assert.equal(a.router.unicastNextHop(c.name), b.name);
  assert.equal(c.router.unicastNextHop(a.name), b.name);
  assert.deepEqual(a.router.broadcastNextHops(a.name), [b.name]);
  assert.deepEqual(b.router.broadcastNextHops(a.name), [c.name]);
  assert.deepEqual(c.router.broadcastNextHops(a.name), []);
  // A's attempts to reach C show up as failed with a retry time.
  const toC = a.router.connectionTo(c.name);
  assert.equal(toC, undefined);
  const st = a.maker.snapshot().entries.find((e) => e.peer === c.name);
  assert.equal(st?.state, 'failed');
  assert.match(st?.error ?? '', /i\/o timeout/);
  assert.equal(typeof st?.retryAt, 'number');

  const g = new Map<SimPeer, RecordingGossiper>();
  const gossip = new Map([a, b, c].map((p) => {
    const rec = new RecordingGossiper();
    g.set(p, rec);
    return [p, p.router.registerChannel('dns', rec)];
  }));

  gossip.get(a)!.gossipUnicast(c.name, bytes('hello C'));
  gossip.get(a)!.gossipBroadcast(bytes('to all'));
  await net.flush();
  assert.deepEqual(g.get(c)!.unicasts, [[a.name, 'hello C']]);
  assert.deepEqual(g.get(b)!.unicasts, [], 'B only relays');
  assert.deepEqual(g.get(b)!.broadcasts, [[a.name, 'to all']]);
  assert.deepEqual(g.get(c)!.broadcasts, [[a.name, 'to all']]);
  assert.deepEqual(g.get(a)!.broadcasts, [], 'no delivery to the origin');

  // Neighbour gossip: A → B; B learns something new and re-gossips the delta to C (never back to A).
  gossip.get(a)!.gossipToNeighbours(bytes('delta'));
  await net.flush();
  assert.deepEqual(g.get(b)!.gossips, [[a.name, 'delta']]);
  assert.deepEqual(g.get(c)!.gossips, [[b.name, 'delta']]);
  assert.deepEqual(g.get(a)!.gossips, []);

  // B dies: A and C are cut off from each other and forget B and each other.
  net.kill(b);
  await net.flush();
  assert.deepEqual(a.router.reachablePeers(), [a.name]);
  assert.equal(a.router.topology.size, 1);
  assert.equal(a.router.unicastNextHop(c.name), undefined);

  // B is relaunched (same target A, new uid, same address); C's retries reach it; all re-learn each other.
  const b2 = net.restart(b, [a.address]);
  await net.flush({ maxMs: 10 * 60_000 });
  assert.notEqual(b2.uid, b.uid);
  assert.equal(a.router.topology.get(b.name)?.uid, b2.uid, 'the new incarnation replaced the old');
  assert.equal(a.router.unicastNextHop(c.name), b.name);
  for (const p of [a, b2, c]) assert.equal(p.router.topology.checkInvariants(), undefined);
});

test('hostile payloads are caught, counted and dropped; unknown channels are relayed', async () => {
  const net = new SimNetwork({ seed: 5 });
  const a = net.addPeer();
  const b = net.addPeer({ targets: [a.address] });
  const c = net.addPeer({ targets: [b.address] });
  net.block(a, c);
  await net.flush();
  const throwing: Gossiper = {
    gossip: () => undefined,
    onGossip: () => { throw new Error('bad'); },
    onGossipBroadcast: () => { throw new Error('bad'); },
    onGossipUnicast: () => { throw new Error('bad'); },
  };
  b.router.registerChannel('ipam', throwing);
  const recC = new RecordingGossiper();
  c.router.registerChannel('ipam', recC);
  const sendA = a.router.registerChannel('ipam', new RecordingGossiper());
  // A garbage topology payload straight onto B's connection from A.
  const conn = b.router.connectionTo(a.name)!;
  b.router.handleMessage(conn, { kind: 'gossip', channel: 'topology', payload: Uint8Array.from([1, 2, 3]) });
  b.router.handleMessage(conn, { kind: 'gossip-broadcast', channel: 'topology', src: 'nonsense' as PeerName, payload: new Uint8Array() });
  sendA.gossipBroadcast(bytes('x')); // B's handler throws, but B still relays to C
  await net.flush();
  assert.equal(b.router.stats.badPayloads.topology, 1);
  assert.equal(b.router.stats.badPayloads.ipam, 1);
  assert.equal(b.router.stats.malformed, 1);
  assert.deepEqual(recC.broadcasts, [[a.name, 'x']]);
  assert.equal(b.router.topology.checkInvariants(), undefined);

  // A channel C has and B lacks: B relays the broadcast and forwards the unicast anyway.
  const dnsA = a.router.registerChannel('dns', new RecordingGossiper());
  const dnsC = new RecordingGossiper();
  c.router.registerChannel('dns', dnsC);
  dnsA.gossipBroadcast(bytes('b'));
  dnsA.gossipUnicast(c.name, bytes('u'));
  await net.flush();
  assert.deepEqual(dnsC.broadcasts, [[a.name, 'b']]);
  assert.deepEqual(dnsC.unicasts, [[a.name, 'u']]);
  assert.equal(b.router.stats.unknownChannelRelayed, 2);
});

function router(name: number, connLimit?: number) {
  const clock = new FakeClock();
  const r = new Router(
    { clock, rng: seededRng(1), logger: silentLogger() },
    { name: peerNameFromNumber(name), nickname: `h${name}`, uid: `u${name}`, ...(connLimit ? { connLimit } : {}) },
  );
  return { r, clock };
}

test('duplicate connections: both ends keep the one initiated by the smaller name', () => {
  const small = peerNameFromNumber(1);
  const big = peerNameFromNumber(2);
  // At the smaller peer: its outbound connection wins, whichever arrives first.
  for (const order of ['outbound-first', 'inbound-first'] as const) {
    const { r } = router(1);
    const out = new FakeConn(big, true);
    const inb = new FakeConn(big, false);
    const [first, second] = order === 'outbound-first' ? [out, inb] : [inb, out];
    r.addConnection(first);
    if (order === 'outbound-first') {
      assert.throws(() => r.addConnection(second), { code: 'ERR_DUPLICATE_CONNECTION', message: /Multiple connections to 00:00:00:00:00:02\(far\) added to 00:00:00:00:00:01\(h1\)/ });
    } else {
      r.addConnection(second);
    }
    assert.equal(r.connectionTo(big), out, order);
    assert.ok(inb.closed, 'the loser is closed');
    assert.equal(out.closed, undefined);
  }
  // At the bigger peer the same physical connection (inbound there) wins.
  const { r } = router(2);
  const inb = new FakeConn(small, false);
  const out = new FakeConn(small, true);
  r.addConnection(out);
  r.addConnection(inb);
  assert.equal(r.connectionTo(small), inb);
  assert.equal(keepNewConnection(big, out, inb), true);
  // Same direction twice: the existing one stays.
  assert.throws(() => r.addConnection(new FakeConn(small, false)), { code: 'ERR_DUPLICATE_CONNECTION' });
  assert.equal(r.connectionTo(small), inb);
});

test('connection limit and connecting to ourself', () => {
  const { r } = router(1, 2);
  r.addConnection(new FakeConn(peerNameFromNumber(2), true));
  r.addConnection(new FakeConn(peerNameFromNumber(3), false));
  const third = new FakeConn(peerNameFromNumber(4), false);
  assert.throws(() => r.addConnection(third), { code: 'ERR_CONNECTION_LIMIT', message: 'Connection limit reached (2)' });
  assert.equal(third.closed, 'Connection limit reached (2)');
  assert.throws(() => r.addConnection(new FakeConn(peerNameFromNumber(1), true)), { code: 'ERR_CONNECT_TO_SELF' });
});

test('a new connection gets our full topology; established changes routes; snapshot is plain data', () => {
  const { r, clock } = router(1);
  const events: string[] = [];
  r.on('routes:changed', () => events.push('routes'));
  r.onPeersChanged(() => events.push('peers'));
  const c = new FakeConn(peerNameFromNumber(2), true);
  r.addConnection(c);
  assert.deepEqual(c.sent.map((m) => m.kind + ':' + ('channel' in m ? m.channel : '')), ['gossip:topology']);
  // The far end's entry arrives, listing us as established; ours is not established yet → no data route.
  r.handleMessage(c, c.sent[0]!); // (echo: our own entry only bumps nothing)
  assert.equal(r.stats.badPayloads.topology, undefined);
  r.setConnectionEstablished(c, true);
  clock.advance(150);
  assert.equal(r.unicastNextHop(peerNameFromNumber(2)), undefined, 'the far end has not confirmed');
  assert.deepEqual(r.reachablePeers(), [r.localName], 'its entry is unknown, so it is not a peer yet');
  const snap = r.snapshot();
  assert.equal(snap.peers[0]!.name, r.localName);
  assert.deepEqual(snap.peers[0]!.connections, [
    { address: '10.0.0.9:6783', outbound: true, name: peerNameFromNumber(2), nickname: '', established: true },
  ]);
  assert.equal(snap.connections[0]!.established, true);
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap, 'JSON-safe');
  // The batched broadcast of our entry goes out after TOPOLOGY_BATCH_MS.
  clock.advance(1_000);
  assert.ok(c.sent.some((m) => m.kind === 'gossip-broadcast' && m.channel === 'topology'));
  r.removeConnection(c, 'bye');
  assert.equal(r.removeConnection(c, 'bye'), false, 'idempotent');
  assert.equal(r.connectionCount, 0);
  assert.ok(events.length >= 0);
});

test('a payload from a peer that can never be reconciled closes the connection it came on, with the reason, and is not relayed', async () => {
  const net = new SimNetwork({ seed: 6 });
  const a = net.addPeer();
  const b = net.addPeer({ targets: [a.address] });
  const c = net.addPeer({ targets: [b.address] });
  net.block(a, c);
  await net.flush();
  const fatal = Object.assign(new Error('incompatible'), { connectionReason: 'range mismatch: a has X, b has Y' });
  b.router.registerChannel('ipam', {
    gossip: () => undefined,
    onGossip: () => undefined,
    onGossipBroadcast: () => { throw fatal; },
    onGossipUnicast: () => {},
  });
  const recC = new RecordingGossiper();
  c.router.registerChannel('ipam', recC);
  const sendA = a.router.registerChannel('ipam', new RecordingGossiper());
  // A short flush: long enough for the close to reach A, too short for B's maker to redial.
  sendA.gossipBroadcast(bytes('x'));
  await net.flush({ maxMs: 100, quietMs: 50 });
  assert.equal(b.router.connectionTo(a.name), undefined, 'B closed the connection the broadcast came on');
  assert.equal(a.router.connectionTo(b.name), undefined, 'A saw it close');
  assert.equal(b.maker.snapshot().entries.find((e) => e.address === a.address)!.error, 'range mismatch: a has X, b has Y');
  assert.deepEqual(recC.broadcasts, [], 'B did not pass on what it refused');
  assert.ok(b.router.connectionTo(c.name), "B's other connections stay");
});
