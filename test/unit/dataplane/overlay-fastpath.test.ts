// The overlay with a fast path (components.fast): it must keep the fast path's tables in step (sessions
// with their keys, every learnt MAC, eligibility = UDP confirmed both ways + direct route), take every
// send counter from it, and handle what it hands back (authenticated heartbeats, frames to forward,
// source MACs of broadcasts it forwarded itself); it publishes the routes and broadcast trees the native
// relay uses, and shares the fast path's broadcast dedup (exactly once whichever path saw it first).
//
// FakeFastPath plays the native threads with the reference rules but carries nothing itself: it hands
// every TAP frame and every authenticated datagram back, the way the real one does for traffic its
// tables do not cover. B on the other end is a plain overlay (the reference path).
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Overlay } from '../../../src/dataplane/overlay.js';
import type { RouteTable } from '../../../src/dataplane/forwarder.js';
import { forEachFrame } from '../../../src/dataplane/packer.js';
import { ReplayWindow } from '../../../src/crypto/replay-window.js';
import { BroadcastDedup, broadcastDst } from '../../../src/dataplane/broadcast-dedup.js';
import { nodeDataAead, type AeadHandle } from '../../../src/crypto/data-aead.js';
import { silentLogger } from '../../../src/core/logger.js';
import {
  FAST_KIND_CONTROL,
  FAST_KIND_FRAME,
  FAST_KIND_LEARN,
  type Batch,
  type FastRoutes,
  type FastIngressBatch,
  type FastPath,
  type FastSessionInit,
} from '../../../src/core/ports.js';
import { DATA_HEADER_BYTES, OFF_COUNTER, OFF_RECEIVER_IDX, PACKET_TYPE_DATA } from '../../../src/wire/data-packet.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeTap, FakeUdp, FakeUdpNet, ethFrame } from '../../support/fake-dataplane.js';

const A = 0xa, B = 0xb;
const ADDR_A = 0x0ac80001, ADDR_B = 0x0ac80002, PORT = 6783;

class FakeFastPath implements FastPath {
  readonly calls: string[] = [];
  readonly learnt = new Map<number, number>();
  readonly eligible = new Map<number, boolean>();
  counter = 0;
  /** What this fake "carried" itself (it only receives), as the native fast path reports it. */
  readonly traffic = { datagramsSent: 0, bytesSent: 0, datagramsReceived: 0, bytesReceived: 0 };
  /** Every routes publication, in order. */
  readonly routes: FastRoutes[] = [];
  /** The dedup table "the threads" use. */
  readonly seen = new BroadcastDedup();
  private onLocal: ((b: Batch) => void) | undefined;
  private onIngress: ((b: FastIngressBatch) => void) | undefined;
  private session: { init: FastSessionInit; open: AeadHandle; replay: ReplayWindow } | undefined;

  constructor(private readonly udp: FakeUdp) {}

  start(onLocalFrames: (b: Batch) => void, onIngress: (b: FastIngressBatch) => void): void {
    this.onLocal = onLocalFrames;
    this.onIngress = onIngress;
    this.udp.onDatagrams((b) => {
      const s = this.session;
      if (!s) return;
      const out = { buf: b.buf, offsets: new Int32Array(64), lengths: new Int32Array(64), kinds: new Uint8Array(64),
        peers: new Float64Array(64), dsts: new Float64Array(64), addrs: new Uint32Array(64), ports: new Uint16Array(64), count: 0 };
      const put = (kind: number, off: number, len: number, peer: number, dst: number, i: number): void => {
        const n = out.count++;
        out.kinds[n] = kind; out.offsets[n] = off; out.lengths[n] = len; out.peers[n] = peer; out.dsts[n] = dst;
        out.addrs[n] = b.addrs[i]!; out.ports[n] = b.ports[i]!;
      };
      for (let i = 0; i < b.count; i++) {
        const off = b.offsets[i]!;
        if (b.buf.readUInt32BE(off + OFF_RECEIVER_IDX) !== s.init.localIndex) continue;
        const lens = Int32Array.of(b.lengths[i]!);
        assert.equal(nodeDataAead.openBatch(s.open, b.buf, Int32Array.of(off), lens, 1, new Uint8Array(1)), 1);
        assert.ok(s.replay.accept(b.buf.readUInt32BE(off + OFF_COUNTER + 4)));
        this.traffic.datagramsReceived++;
        this.traffic.bytesReceived += b.lengths[i]!;
        if (b.buf[off] !== PACKET_TYPE_DATA) put(FAST_KIND_CONTROL, off, lens[0]!, s.init.peer, 0, i);
        else forEachFrame(b.buf, off + DATA_HEADER_BYTES, lens[0]! - DATA_HEADER_BYTES, (o, d, fo, fl) => put(FAST_KIND_FRAME, fo, fl, o, d, i));
      }
      onIngress(out);
    });
  }

  injectLocal(...frames: Buffer[]): void {
    const buf = Buffer.concat(frames);
    let at = 0;
    const lengths = Int32Array.from(frames.map((f) => f.length));
    const offsets = Int32Array.from(frames.map((f) => ((at += f.length), at - f.length)));
    this.onLocal!({ buf, offsets, lengths, count: frames.length });
  }

  /** One entry as the native ingress lane hands it over. */
  injectIngress(kind: number, origin: number, dst: number, frame: Buffer): void {
    const one = { buf: frame, offsets: Int32Array.of(0), lengths: Int32Array.of(frame.length), kinds: Uint8Array.of(kind),
      peers: Float64Array.of(origin), dsts: Float64Array.of(dst), addrs: new Uint32Array(1), ports: new Uint16Array(1), count: 1 };
    this.onIngress!(one);
  }

  sessionStats(peer: number): typeof this.traffic | undefined {
    return this.session?.init.peer === peer ? { ...this.traffic } : undefined;
  }

  addSession(init: FastSessionInit): void {
    this.calls.push(`add ${init.peer} last=${init.lastCounter} keys=${init.keys ? 'yes' : 'no'}`);
    this.counter = init.lastCounter;
    this.session = { init, open: nodeDataAead.create(init.keys!.recvKey, init.keys!.recvSalt, false), replay: new ReplayWindow() };
  }
  removeSession(peer: number): void {
    this.calls.push(`remove ${peer}`);
  }
  setEligible(peer: number, eligible: boolean): void {
    this.eligible.set(peer, eligible);
  }
  nextCounter(): number {
    return ++this.counter;
  }
  learn(mac: number, peer: number): void {
    this.learnt.set(mac, peer);
  }
  setRoutes(r: FastRoutes): void {
    this.routes.push(r);
  }
  broadcastDuplicate(origin: number, dst: number): boolean {
    return this.seen.duplicate(origin, dst);
  }
  /** The broadcast numbering "the threads" share (undefined until the overlay sets its start). */
  lastBroadcast: number | undefined;
  setBroadcastStart(last: number): void {
    this.lastBroadcast = last;
  }
  nextBroadcast(): number {
    this.lastBroadcast = (this.lastBroadcast! + 1) >>> 0;
    return broadcastDst(this.lastBroadcast);
  }
  setRecvKey(peer: number, gen: number): void {
    this.calls.push(`setRecvKey ${peer} ${gen}`);
  }
  setSendKey(peer: number, gen: number): void {
    this.calls.push(`setSendKey ${peer} ${gen}`);
  }
  stats(): Record<string, number | boolean> {
    return { running: true };
  }
  stop(): void {
    this.calls.push('stop');
  }
}

function setup() {
  const clock = new FakeClock();
  const net = new FakeUdpNet();
  const tapA = new FakeTap(), tapB = new FakeTap();
  const udpA = net.socket(ADDR_A, PORT), udpB = net.socket(ADDR_B, PORT);
  const fast = new FakeFastPath(udpA);
  const listeners: Array<() => void> = [];
  let directToB = true;
  const routesA: RouteTable = {
    unicastNextHop: (dst) => (dst === B ? (directToB ? B : 0xc) : undefined),
    broadcastNextHops: (origin) => (origin === B ? [] : [B]),
    onChange: (l) => listeners.push(l),
    peers: () => [B],
  };
  const routesB: RouteTable = { unicastNextHop: (d) => (d === A ? A : undefined), broadcastNextHops: (o) => (o === A ? [] : [A]) };
  const oa = new Overlay({ clock, logger: silentLogger(), tap: tapA, udp: udpA, routes: routesA, aead: nodeDataAead, fast }, { localPeer: A, mtu: 1376 });
  const ob = new Overlay({ clock, logger: silentLogger(), tap: tapB, udp: udpB, routes: routesB, aead: nodeDataAead }, { localPeer: B, mtu: 1376 });
  oa.start();
  ob.start();
  const ab = { key: randomBytes(32), salt: randomBytes(4) }, ba = { key: randomBytes(32), salt: randomBytes(4) };
  const hooks = { sendFramesOverTcp: () => {}, onPathChange: () => {} };
  oa.addSession({ peer: B, remoteAddr: ADDR_B, remotePort: PORT, localIndex: 111, remoteIndex: 222,
    keys: { sendKey: ab.key, sendSalt: ab.salt, recvKey: ba.key, recvSalt: ba.salt } }, hooks);
  ob.addSession({ peer: A, remoteAddr: ADDR_A, remotePort: PORT, localIndex: 222, remoteIndex: 111,
    keys: { sendKey: ba.key, sendSalt: ba.salt, recvKey: ab.key, recvSalt: ab.salt } }, hooks);
  const routesChanged = (direct: boolean): void => {
    directToB = direct;
    for (const l of listeners) l();
  };
  return { net, tapA, tapB, oa, ob, fast, routesChanged };
}

const macA = '02:00:00:00:00:0a', macB = '02:00:00:00:00:0b';
const macNum = (m: string): number => parseInt(m.replace(/:/g, ''), 16);

test('fast path: the session is registered with its keys, and every counter the overlay sends comes from it', () => {
  const t = setup();
  assert.deepEqual(t.fast.calls, ['add 11 last=0 keys=yes']);
  t.fast.counter = 1000; // the egress thread sent 1000 datagrams meanwhile
  t.net.flush();
  assert.equal(t.ob.sessionInfo(A)!.confirmed, true, 'B accepted A heartbeats');
  const fromA = t.net.wire.filter((d) => d.readUInt32BE(OFF_RECEIVER_IDX) === 222);
  assert.ok(fromA.length > 0);
  assert.ok(fromA.slice(1).every((d) => d.readUInt32BE(OFF_COUNTER + 4) > 1000), 'counters continue the shared one');
});

test('fast path: eligible once UDP is confirmed both ways over a direct route, not otherwise', () => {
  const t = setup();
  assert.equal(t.fast.eligible.get(B), undefined, 'not before confirmation');
  t.net.flush(); // heartbeats and ACKs: the ACK reaches A as a control entry from the fast path
  assert.equal(t.oa.sessionInfo(B)!.path, 'udp');
  assert.equal(t.fast.eligible.get(B), true);
  t.routesChanged(false);
  assert.equal(t.fast.eligible.get(B), false, 'the route to B goes through another peer now');
  t.routesChanged(true);
  assert.equal(t.fast.eligible.get(B), true);
  t.oa.removeSession(B);
  assert.ok(t.fast.calls.includes('remove 11'));
  t.oa.stop();
  assert.equal(t.fast.calls.at(-1), 'stop');
});

test('fast path: what it hands back is forwarded by the reference rules, and every learnt MAC is mirrored', () => {
  const t = setup();
  t.net.flush();
  t.fast.injectLocal(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'who has B?'));
  t.net.flush();
  assert.equal(t.tapB.written.length, 1, 'the broadcast crossed');
  assert.equal(t.fast.learnt.get(macNum(macA)), A, 'A local MAC mirrored');
  t.tapB.inject(ethFrame(macA, macB, 'B answers'));
  t.net.flush();
  assert.deepEqual(t.tapA.written.map((f) => f.subarray(14).toString()), ['B answers'], 'a frame entry reached the bridge');
  assert.equal(t.fast.learnt.get(macNum(macB)), B, 'B MAC learnt behind B and mirrored');
});

test('per-session traffic: the JS path counts what it sends and opens itself, the fast path adds its own, nothing twice', () => {
  const t = setup();
  t.net.flush();
  t.fast.injectLocal(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'who has B?'));
  t.net.flush();
  t.tapB.inject(ethFrame(macA, macB, 'B answers'));
  t.net.flush();
  const sentByA = t.net.wire.filter((d) => d.readUInt32BE(OFF_RECEIVER_IDX) === 222);
  const sentByB = t.net.wire.filter((d) => d.readUInt32BE(OFF_RECEIVER_IDX) === 111);
  const a = t.oa.sessionInfo(B)!;
  const b = t.ob.sessionInfo(A)!;
  // A's JS path sent everything A sent; A's receiving was done by the fake fast path and counted there once.
  assert.equal(a.datagramsSent, sentByA.length);
  assert.equal(a.bytesSent, sentByA.reduce((n, d) => n + d.length, 0));
  assert.equal(a.datagramsReceived, t.fast.traffic.datagramsReceived);
  assert.equal(a.datagramsReceived, sentByB.length);
  assert.equal(a.bytesReceived, sentByB.reduce((n, d) => n + d.length, 0));
  // B has no fast path: its JS path counted both directions.
  assert.equal(b.datagramsSent, sentByB.length);
  assert.equal(b.datagramsReceived, sentByA.length);
  assert.equal(b.bytesReceived, a.bytesSent);
});

test('native relay tables: published at start and again on every routes change, as the Forwarder would route', () => {
  const t = setup();
  const plain = (r: FastRoutes) => ({ dsts: [...r.dsts], hops: [...r.hops], origins: [...r.origins], first: [...r.first], kids: [...r.kids] });
  assert.equal(t.fast.routes.length, 1, 'published once at start');
  assert.deepEqual(plain(t.fast.routes[0]!), { dsts: [B], hops: [B], origins: [A, B], first: [0, 1, 1], kids: [B] });
  t.routesChanged(false);
  assert.equal(t.fast.routes.length, 2, 'republished on the change');
  assert.deepEqual(plain(t.fast.routes[1]!).hops, [0xc], 'B now through C');
});

test('broadcast dedup: the overlay drops what the fast path saw already (one table), and delivers the rest once', () => {
  const t = setup();
  t.net.flush();
  t.fast.seen.duplicate(B, broadcastDst(1)); // the native lane delivered B's first broadcast itself
  t.tapB.inject(ethFrame('ff:ff:ff:ff:ff:ff', macB, 'first'));
  t.net.flush();
  assert.equal(t.tapA.written.length, 0, 'not delivered a second time');
  assert.equal(t.oa.forwarder.stats.droppedDuplicate, 1);
  t.tapB.inject(ethFrame('ff:ff:ff:ff:ff:ff', macB, 'second'));
  t.net.flush();
  assert.deepEqual(t.tapA.written.map((f) => f.subarray(14).toString()), ['second']);
  assert.equal(t.fast.seen.duplicate(B, broadcastDst(2)), true, 'the overlay recorded it in the shared table');
});

test('local broadcasts the overlay floods take their numbers from the fast path, which continues the start', () => {
  const t = setup();
  t.net.flush();
  assert.equal(t.fast.lastBroadcast, 0, 'the numbering starts where the overlay would have');
  t.fast.lastBroadcast = 41; // the egress threads sent 41 broadcasts of ours themselves
  t.fast.injectLocal(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'hello'));
  t.net.flush();
  assert.equal(t.fast.lastBroadcast, 42, 'the overlay took the next number from the shared sequence');
  assert.deepEqual(t.tapB.written.map((f) => f.subarray(14).toString()), ['hello'], 'flooded to B once');
});

test('a learn entry (broadcast the fast path forwarded itself) teaches its source MAC and nothing else', () => {
  const t = setup();
  t.net.flush();
  const before = t.net.wire.length;
  t.fast.injectIngress(FAST_KIND_LEARN, B, broadcastDst(7), ethFrame('ff:ff:ff:ff:ff:ff', macB, '').subarray(0, 14));
  t.net.flush();
  assert.equal(t.fast.learnt.get(macNum(macB)), B, 'learnt behind B and mirrored to the fast path');
  assert.equal(t.tapA.written.length, 0, 'not delivered by the overlay');
  assert.equal(t.net.wire.length, before, 'not forwarded by the overlay');
  assert.equal(t.fast.seen.duplicate(B, broadcastDst(7)), false, 'nor recorded as seen by it');
});
