// Two overlays rotating their data keys (dataplane/session-rekey.ts) while frames cross: every frame
// arrives, also those sealed with the old key still in flight at the switch; the header's generation
// byte follows the rotations; a datagram of an old generation is refused once its grace is over.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Overlay } from '../../../src/dataplane/overlay.js';
import type { RekeyMessage } from '../../../src/dataplane/rekey.js';
import type { RouteTable } from '../../../src/dataplane/forwarder.js';
import { nodeDataAead } from '../../../src/crypto/data-aead.js';
import { nodeRekeyCrypto } from '../../../src/crypto/rekey-kdf.js';
import { silentLogger } from '../../../src/core/logger.js';
import { OFF_KEYGEN } from '../../../src/wire/data-packet.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeTap, FakeUdpNet, ethFrame } from '../../support/fake-dataplane.js';
import { seededRng } from '../../support/rng.js';

const A = 0xa, B = 0xb;
const ADDR_A = 0x0ac80001, ADDR_B = 0x0ac80002, PORT = 6783;
const INTERVAL = 2000;
const macA = '02:00:00:00:00:0a', macB = '02:00:00:00:00:0b';
const direct = (other: number): RouteTable => ({
  unicastNextHop: (dst) => (dst === other ? other : undefined),
  broadcastNextHops: (origin) => (origin === other ? [] : [other]),
});

function pair() {
  const clock = new FakeClock();
  const net = new FakeUdpNet();
  const tapA = new FakeTap(), tapB = new FakeTap();
  const udpA = net.socket(ADDR_A, PORT), udpB = net.socket(ADDR_B, PORT);
  const mk = (me: number, tap: FakeTap, udp: typeof udpA, other: number, seed: number) =>
    new Overlay(
      { clock, logger: silentLogger(), tap, udp, routes: direct(other), aead: nodeDataAead, rekeyCrypto: nodeRekeyCrypto(seededRng(seed)) },
      { localPeer: me, mtu: 1376, rekey: { intervalMs: INTERVAL } },
    );
  const oa = mk(A, tapA, udpA, B, 1), ob = mk(B, tapB, udpB, A, 2);
  oa.start();
  ob.start();
  const ab = { key: randomBytes(32), salt: randomBytes(4) }, ba = { key: randomBytes(32), salt: randomBytes(4) };
  // The TCP control channel: ordered, delivered when the test says so.
  const tcp: Array<{ to: Overlay; from: number; msg: RekeyMessage }> = [];
  oa.addSession(
    { peer: B, remoteAddr: ADDR_B, remotePort: PORT, localIndex: 111, remoteIndex: 222, keys: { sendKey: ab.key, sendSalt: ab.salt, recvKey: ba.key, recvSalt: ba.salt } },
    { sendFramesOverTcp: () => {}, onPathChange: () => {}, sendRekey: (msg) => tcp.push({ to: ob, from: A, msg }) },
  );
  ob.addSession(
    { peer: A, remoteAddr: ADDR_A, remotePort: PORT, localIndex: 222, remoteIndex: 111, keys: { sendKey: ba.key, sendSalt: ba.salt, recvKey: ab.key, recvSalt: ab.salt } },
    { sendFramesOverTcp: () => {}, onPathChange: () => {}, sendRekey: (msg) => tcp.push({ to: oa, from: B, msg }) },
  );
  const deliverTcp = (): void => {
    while (tcp.length) {
      const m = tcp.shift()!;
      m.to.onRekeyMessage(m.from, m.msg);
    }
  };
  net.flush();
  return { clock, net, tapA, tapB, oa, ob, deliverTcp, tcp };
}

test('frames in flight across rotations all arrive; the generation byte follows; both ends count the rekeys', () => {
  const t = pair();
  let sent = 0;
  const send = (): void => {
    t.tapA.inject(ethFrame(macB, macA, `a${sent}`));
    t.tapB.inject(ethFrame(macA, macB, `b${sent}`));
    sent++;
  };
  send();
  t.net.flush();
  for (let step = 0; step < 40; step++) {
    t.clock.advance(250); // rekey checks fire; a due side sends init
    send(); // sealed with the current key, still on the wire while the exchange runs
    t.deliverTcp();
    send();
    t.net.flush();
  }
  const got = (tap: FakeTap): number => tap.written.length;
  assert.equal(got(t.tapB), sent, 'every frame from A arrived');
  assert.equal(got(t.tapA), sent, 'every frame from B arrived');
  assert.equal(t.oa.stats.droppedAuth + t.ob.stats.droppedAuth, 0);
  const a = t.oa.sessionInfo(B)!, b = t.ob.sessionInfo(A)!;
  assert.ok(a.rekeys >= 4, `A rekeyed ${a.rekeys} times in 10 s`);
  assert.equal(a.keyGeneration, b.keyGeneration);
  const gens = new Set(t.net.wire.map((d) => d[OFF_KEYGEN]));
  assert.ok(gens.size >= 4, `generation bytes on the wire: ${[...gens].join(',')}`);
});

test('a datagram of the previous generation opens during the grace and is refused after it', () => {
  const t = pair();
  t.tapA.inject(ethFrame(macB, macA, 'learn'));
  t.tapB.inject(ethFrame(macA, macB, 'learn'));
  t.net.flush();
  // Two datagrams sealed with generation 0 are captured on the wire and lost on the way.
  t.net.drop = () => true;
  t.tapA.inject(ethFrame(macB, macA, 'late-1'));
  t.tapA.inject(ethFrame(macB, macA, 'late-2'));
  t.net.drop = () => false;
  const wireBefore = t.net.wire.length;
  t.clock.advance(INTERVAL);
  t.deliverTcp();
  t.net.flush();
  assert.equal(t.oa.sessionInfo(B)!.keyGeneration, 1);
  assert.equal(t.ob.sessionInfo(A)!.keyGeneration, 1);
  // The two frames A sent under generation 0, as captured on the wire.
  const old = t.net.wire.slice(0, wireBefore).filter((d) => d[OFF_KEYGEN] === 0 && d.length > 60).slice(-2);
  assert.equal(old.length, 2);
  const sockB = t.net.sockets.get(`${ADDR_B}:${PORT}`)!;
  const inject = (d: Buffer): void =>
    sockB.deliver({ buf: Buffer.from(d), offsets: Int32Array.of(0), lengths: Int32Array.of(d.length), count: 1, addrs: Uint32Array.of(ADDR_A), ports: Uint16Array.of(PORT) });
  const written = t.tapB.written.length;
  inject(old[0]!); // within the grace (INTERVAL / 2 after B installed generation 1)
  assert.equal(t.tapB.written.length, written + 1, 'old generation accepted during the grace');
  t.clock.advance(INTERVAL / 2 + 1);
  const authBefore = t.ob.stats.droppedAuth;
  inject(old[1]!);
  assert.equal(t.tapB.written.length, written + 1, 'old generation refused after the grace');
  assert.equal(t.ob.stats.droppedAuth, authBefore + 1);
});
