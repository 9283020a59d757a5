// Two overlays over an in-memory UDP switch: heartbeats confirm the path, frames cross encrypted, and
// hostile datagrams are counted and dropped without disturbing the session.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Overlay } from '../../../src/dataplane/overlay.js';
import type { SessionKeys, SessionPath } from '../../../src/dataplane/session.js';
import type { RouteTable } from '../../../src/dataplane/forwarder.js';
import { nodeDataAead } from '../../../src/crypto/data-aead.js';
import { silentLogger } from '../../../src/core/logger.js';
import { UDP_CONFIRM_FALLBACK_MS } from '../../../src/core/defaults.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeTap, FakeUdpNet, ethFrame } from '../../support/fake-dataplane.js';
import { formatIPv4 } from '../../../src/core/types.js';

const A = 0xa, B = 0xb;
const ADDR_A = 0x0ac80001, ADDR_B = 0x0ac80002, PORT = 6783;
const direct = (other: number): RouteTable => ({
  unicastNextHop: (dst) => (dst === other ? other : undefined),
  broadcastNextHops: (origin) => (origin === other ? [] : [other]),
});

function pair(opts: { encrypted: boolean; lanesB?: number }) {
  const clock = new FakeClock();
  const net = new FakeUdpNet();
  const tapA = new FakeTap(), tapB = new FakeTap();
  const udpA = net.socket(ADDR_A, PORT), udpB = net.socket(ADDR_B, PORT);
  const mk = (me: number, tap: FakeTap, udp: typeof udpA, other: number) =>
    new Overlay({ clock, logger: silentLogger(), tap, udp, routes: direct(other), aead: nodeDataAead }, { localPeer: me, mtu: 1376 });
  const oa = mk(A, tapA, udpA, B), ob = mk(B, tapB, udpB, A);
  oa.start();
  ob.start();
  const k = () => ({ key: randomBytes(32), salt: randomBytes(4) });
  const ab = k(), ba = k();
  const keysA: SessionKeys | undefined = opts.encrypted ? { sendKey: ab.key, sendSalt: ab.salt, recvKey: ba.key, recvSalt: ba.salt } : undefined;
  const keysB: SessionKeys | undefined = opts.encrypted ? { sendKey: ba.key, sendSalt: ba.salt, recvKey: ab.key, recvSalt: ab.salt } : undefined;
  const paths: Record<string, Array<SessionPath | undefined>> = { a: [], b: [] };
  const tcpA: Buffer[] = [], tcpB: Buffer[] = [];
  oa.addSession(
    { peer: B, remoteAddr: ADDR_B, remotePort: PORT, localIndex: 111, remoteIndex: 222, keys: keysA },
    { sendFramesOverTcp: (b) => tcpA.push(Buffer.from(b)), onPathChange: (p) => paths.a!.push(p) },
  );
  ob.addSession(
    { peer: A, remoteAddr: ADDR_A, remotePort: PORT, localIndex: 222, remoteIndex: 111, keys: keysB, ...(opts.lanesB ? { localLanes: opts.lanesB } : {}) },
    { sendFramesOverTcp: (b) => tcpB.push(Buffer.from(b)), onPathChange: (p) => paths.b!.push(p) },
  );
  return { clock, net, tapA, tapB, oa, ob, paths, tcpA, tcpB };
}

const macA = '02:00:00:00:00:0a', macB = '02:00:00:00:00:0b';

test('heartbeats confirm UDP both ways, then frames cross encrypted and are learnt', () => {
  const t = pair({ encrypted: true });
  assert.equal(t.oa.udpEndpoint(B), undefined, 'not confirmed yet: no endpoint');
  t.net.flush();
  assert.deepEqual(t.paths.a, ['udp']);
  assert.deepEqual(t.paths.b, ['udp']);
  assert.equal(t.oa.sessionInfo(B)!.confirmed, true);
  const ep = t.oa.udpEndpoint(B)!;
  assert.equal(`${formatIPv4(ep.addr)}:${ep.port}`, t.oa.sessionInfo(B)!.remote, 'udpEndpoint: the confirmed UDP endpoint, as sessionInfo says');
  assert.equal(t.oa.udpEndpoint(0x0e0000000001), undefined, 'no session: none');

  const secret = 'SECRET-PAYLOAD-PATTERN';
  t.tapA.inject(ethFrame('ff:ff:ff:ff:ff:ff', macA, `who has? ${secret}`));
  t.net.flush();
  assert.equal(t.tapB.written.length, 1);
  assert.ok(t.tapB.written[0]!.toString().includes(secret));
  assert.ok(!t.net.wire.some((d) => d.includes(secret)), 'the pattern never appears on the wire');

  t.tapB.inject(ethFrame(macA, macB, 'reply'));
  t.net.flush();
  assert.equal(t.tapA.written.length, 1, 'the reply went unicast to A (its MAC was learnt)');
  assert.equal(t.ob.forwarder.stats.framesFlooded, 0);
});

test('without a password frames cross in plaintext', () => {
  const t = pair({ encrypted: false });
  t.net.flush();
  t.tapA.inject(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'PLAIN-PATTERN'));
  t.net.flush();
  assert.equal(t.tapB.written.length, 1);
  assert.ok(t.net.wire.some((d) => d.includes('PLAIN-PATTERN')));
});

test('several small frames share one datagram', () => {
  const t = pair({ encrypted: true });
  t.net.flush();
  const before = t.oa.stats.datagramsSent;
  t.tapA.inject(...Array.from({ length: 10 }, (_, i) => ethFrame('ff:ff:ff:ff:ff:ff', macA, `small ${i}`)));
  t.net.flush();
  assert.equal(t.oa.stats.datagramsSent - before, 1);
  assert.equal(t.tapB.written.length, 10);
  assert.deepEqual(t.tapB.written.map((f) => f.subarray(14).toString()), Array.from({ length: 10 }, (_, i) => `small ${i}`));
});

test('replayed, forged, short and unknown-session datagrams are counted and dropped', () => {
  const t = pair({ encrypted: true });
  t.net.flush();
  const captured: Buffer[] = [];
  t.net.drop = ({ data, to }) => {
    if (to.startsWith(`${ADDR_B}:`)) captured.push(Buffer.from(data));
    return false;
  };
  t.tapA.inject(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'once'));
  t.net.flush();
  assert.equal(t.tapB.written.length, 1);
  const pkt = captured.at(-1)!;
  const udpA = t.net.sockets.get(`${ADDR_A}:${PORT}`)!;
  udpA.send(pkt, 0, pkt.length, ADDR_B, PORT); // replay
  const forged = Buffer.from(pkt);
  forged[forged.length - 1] ^= 1;
  udpA.send(forged, 0, forged.length, ADDR_B, PORT);
  udpA.send(Buffer.alloc(5), 0, 5, ADDR_B, PORT);
  const unknown = Buffer.from(pkt);
  unknown.writeUInt32BE(999, 2);
  udpA.send(unknown, 0, unknown.length, ADDR_B, PORT);
  t.net.flush();
  assert.equal(t.tapB.written.length, 1, 'nothing more was delivered');
  assert.equal(t.ob.stats.droppedReplay, 1);
  assert.equal(t.ob.stats.droppedAuth, 1);
  assert.equal(t.ob.stats.droppedShort, 1);
  assert.equal(t.ob.stats.droppedUnknownSession, 1);
  t.tapA.inject(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'still works'));
  t.net.flush();
  assert.equal(t.tapB.written.length, 2);
});

test('UDP blocked: after the confirm timeout frames ride the TCP connection', () => {
  const t = pair({ encrypted: true });
  t.net.drop = () => true;
  t.net.flush();
  assert.deepEqual(t.paths.a, []);
  t.clock.advance(UDP_CONFIRM_FALLBACK_MS + 600);
  assert.deepEqual(t.paths.a, ['tcp']);
  t.tapA.inject(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'over tcp'));
  assert.equal(t.tcpA.length, 1);
  t.ob.onTcpFrames(A, t.tcpA[0]!);
  assert.equal(t.tapB.written.length, 1);
  assert.ok(t.tapB.written[0]!.toString().includes('over tcp'));
  // UDP comes back: the next heartbeat is acknowledged and the path moves to udp.
  t.net.drop = () => false;
  t.clock.advance(600);
  t.net.flush();
  assert.equal(t.paths.a.at(-1), 'udp');
});

test('a receive batch larger than the scratch arrays is taken in slices, nothing cut short', () => {
  const t = pair({ encrypted: true });
  t.net.flush();
  const big = Buffer.alloc(1000, 7);
  t.tapA.inject(...Array.from({ length: 300 }, () => ethFrame('ff:ff:ff:ff:ff:ff', macA, big)));
  t.net.flush(); // FakeUdpNet hands B all 300 datagrams in one batch
  assert.equal(t.tapB.written.length, 300);
  assert.equal(t.ob.stats.datagramsReceived >= 300, true);
});

test('a session with receive lanes is found by every index of its block, and by no other', () => {
  const t = pair({ encrypted: false, lanesB: 3 });
  t.net.flush();
  const captured: Buffer[] = [];
  t.net.drop = ({ data, to }) => {
    if (to.startsWith(`${ADDR_B}:`)) captured.push(Buffer.from(data));
    return false;
  };
  t.tapA.inject(ethFrame('ff:ff:ff:ff:ff:ff', macA, 'base'));
  t.net.flush();
  assert.equal(t.tapB.written.length, 1);
  const pkt = captured.at(-1)!;
  assert.equal(pkt.readUInt32BE(2), 222, 'the overlay itself sends the base index');
  const udpA = t.net.sockets.get(`${ADDR_A}:${PORT}`)!;
  const send = (index: number, counter: number): void => {
    const d = Buffer.from(pkt);
    d.writeUInt32BE(index, 2);
    d.writeUInt32BE(counter, 10);
    d.fill(0xff, 20, 26); // the legacy broadcast destination: no sequence, so no duplicate suppression
    udpA.send(d, 0, d.length, ADDR_B, PORT);
  };
  send(223, 1000);
  send(224, 1001);
  send(225, 1002); // past the block of 3
  send(221, 1003); // before it
  t.net.flush();
  assert.equal(t.tapB.written.length, 3, 'indexes 222..224 reach the session');
  assert.equal(t.ob.stats.droppedUnknownSession, 2);
  t.ob.removeSession(A);
  send(224, 1004);
  t.net.flush();
  assert.equal(t.ob.stats.droppedUnknownSession, 3, 'the whole block goes with the session');
});
