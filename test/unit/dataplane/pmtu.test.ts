// Oversize frames from the bridge: the overlay never drops them silently (pmtu.ts). Byte-level checks of
// the ICMP / ICMPv6 / fragment builders, then the behaviour through two overlays on an in-memory switch.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Overlay } from '../../../src/dataplane/overlay.js';
import type { RouteTable } from '../../../src/dataplane/forwarder.js';
import { buildFragNeeded, buildPacketTooBig6, classifyTooBig, fragmentIPv4 } from '../../../src/dataplane/pmtu.js';
import { nodeDataAead } from '../../../src/crypto/data-aead.js';
import { silentLogger } from '../../../src/core/logger.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeTap, FakeUdpNet } from '../../support/fake-dataplane.js';

const MAC_SRC = Buffer.from('020000000001', 'hex');
const MAC_DST = Buffer.from('020000000002', 'hex');
const IP_SRC = [10, 32, 0, 1];
const IP_DST = [10, 32, 0, 2];

/** Ones'-complement sum over a range: 0xffff when the checksum inside it is right. */
function csum(b: Buffer, off: number, len: number, start = 0): number {
  let s = start;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** An Ethernet + IPv4 frame carrying `payloadLen` bytes of UDP-ish payload. */
function ipv4Frame(payloadLen: number, opts: { df: boolean; dst?: Buffer; id?: number }): Buffer {
  const total = 20 + payloadLen;
  const f = Buffer.alloc(14 + total);
  (opts.dst ?? MAC_DST).copy(f, 0);
  MAC_SRC.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(total, 16);
  f.writeUInt16BE(opts.id ?? 0x1234, 18);
  f.writeUInt16BE(opts.df ? 0x4000 : 0, 20);
  f[22] = 64;
  f[23] = 17;
  Buffer.from(IP_SRC).copy(f, 26);
  Buffer.from(IP_DST).copy(f, 30);
  f.writeUInt16BE(~csum(f, 14, 20) & 0xffff, 24);
  for (let i = 0; i < payloadLen; i++) f[34 + i] = i & 255;
  return f;
}

function ipv6Frame(payloadLen: number): Buffer {
  const f = Buffer.alloc(14 + 40 + payloadLen);
  MAC_DST.copy(f, 0);
  MAC_SRC.copy(f, 6);
  f.writeUInt16BE(0x86dd, 12);
  f[14] = 0x60;
  f.writeUInt16BE(payloadLen, 18);
  f[20] = 17;
  f[21] = 64;
  Buffer.from('fe800000000000000000000000000001', 'hex').copy(f, 22);
  Buffer.from('fe800000000000000000000000000002', 'hex').copy(f, 38);
  return f;
}

test('pmtu: classification by ethertype, DF and destination', () => {
  const big = ipv4Frame(1500, { df: true });
  assert.equal(classifyTooBig(big, 0, big.length, false), 'icmp4');
  assert.equal(classifyTooBig(big, 0, big.length, true), 'drop', 'no ICMP errors for group destinations');
  const noDf = ipv4Frame(1500, { df: false });
  assert.equal(classifyTooBig(noDf, 0, noDf.length, false), 'fragment4');
  assert.equal(classifyTooBig(noDf, 0, noDf.length, true), 'fragment4', 'broadcast/multicast without DF is fragmented too');
  const v6 = ipv6Frame(1500);
  assert.equal(classifyTooBig(v6, 0, v6.length, false), 'icmp6');
  const other = Buffer.from(big);
  other.writeUInt16BE(0x88b5, 12);
  assert.equal(classifyTooBig(other, 0, other.length, false), 'drop');
  const lying = Buffer.from(big);
  lying.writeUInt16BE(9000, 16); // total length past the frame
  assert.equal(classifyTooBig(lying, 0, lying.length, false), 'drop');
  assert.equal(classifyTooBig(big, 0, 20, false), 'drop', 'runt');
});

test('pmtu: ICMP fragmentation needed swaps addresses, carries the MTU and quotes header + 8 bytes', () => {
  const big = ipv4Frame(1500, { df: true });
  const out = Buffer.alloc(1400);
  const n = buildFragNeeded(big, 0, big.length, 1376, out);
  assert.equal(n, 14 + 20 + 8 + 28);
  assert.ok(out.subarray(0, 6).equals(MAC_SRC), 'to the sender');
  assert.ok(out.subarray(6, 12).equals(MAC_DST), 'from the destination');
  assert.equal(out.readUInt16BE(12), 0x0800);
  assert.equal(out[14], 0x45);
  assert.equal(out.readUInt16BE(16), n - 14);
  assert.equal(out[23], 1, 'ICMP');
  assert.deepEqual([...out.subarray(26, 30)], IP_DST);
  assert.deepEqual([...out.subarray(30, 34)], IP_SRC);
  assert.equal(csum(out, 14, 20), 0xffff, 'IP header checksum');
  assert.equal(out[34], 3);
  assert.equal(out[35], 4);
  assert.equal(out.readUInt16BE(40), 1376, 'next-hop MTU');
  assert.equal(csum(out, 34, n - 34), 0xffff, 'ICMP checksum');
  assert.ok(out.subarray(42, n).equals(big.subarray(14, 14 + 28)), 'quotes the IP header and 8 bytes');
});

test('pmtu: ICMPv6 packet too big has a valid pseudo-header checksum and fits 1280 bytes', () => {
  const big = ipv6Frame(1500);
  const out = Buffer.alloc(14 + 1280);
  const n = buildPacketTooBig6(big, 0, big.length, 1376, out);
  assert.equal(n, 14 + 1280, 'quotes as much as fits the minimum MTU');
  assert.ok(out.subarray(0, 6).equals(MAC_SRC));
  assert.equal(out[20], 58);
  assert.ok(out.subarray(22, 38).equals(big.subarray(38, 54)), 'src = the original destination');
  assert.ok(out.subarray(38, 54).equals(big.subarray(22, 38)), 'dst = the original source');
  assert.equal(out[54], 2);
  assert.equal(out.readUInt32BE(58), 1376);
  const payloadLen = out.readUInt16BE(18);
  let pseudo = csum(out, 22, 32);
  pseudo = csum(Buffer.from([0, 0, payloadLen >> 8, payloadLen & 255, 0, 0, 0, 58]), 0, 8, pseudo);
  assert.equal(csum(out, 54, payloadLen, pseudo), 0xffff, 'ICMPv6 checksum');
});

test('pmtu: IPv4 without DF is split into 8-byte-aligned fragments that reassemble to the original', () => {
  const big = ipv4Frame(3000, { df: false, id: 0xbeef });
  const out = Buffer.alloc(14 + 1376);
  const frags: Buffer[] = [];
  const n = fragmentIPv4(big, 0, big.length, 1376, out, (b, o, l) => frags.push(Buffer.from(b.subarray(o, o + l))));
  assert.equal(n, 3);
  const payload: Buffer[] = [];
  frags.forEach((f, i) => {
    assert.ok(f.length - 14 <= 1376);
    assert.equal(f.readUInt16BE(18), 0xbeef, 'same id');
    assert.equal(csum(f, 14, 20), 0xffff, 'header checksum');
    const fo = f.readUInt16BE(20);
    assert.equal((fo & 0x2000) !== 0, i < 2, 'MF on all but the last');
    assert.equal((fo & 0x1fff) * 8, payload.reduce((a, p) => a + p.length, 0), 'offset');
    if (i < 2) assert.equal((f.length - 34) % 8, 0);
    payload.push(f.subarray(34));
  });
  assert.ok(Buffer.concat(payload).equals(big.subarray(34)));
});

// ---------------------------------------------------------------------------------------------
// Through the overlay.

function pair() {
  const clock = new FakeClock();
  const net = new FakeUdpNet();
  const tapA = new FakeTap(), tapB = new FakeTap();
  const A = 0xa, B = 0xb, ADDR_A = 0x0ac80001, ADDR_B = 0x0ac80002, PORT = 6783;
  const routes = (other: number): RouteTable => ({
    unicastNextHop: (dst) => (dst === other ? other : undefined),
    broadcastNextHops: (origin) => (origin === other ? [] : [other]),
  });
  const mk = (me: number, tap: FakeTap, addr: number, other: number) =>
    new Overlay({ clock, logger: silentLogger(), tap, udp: net.socket(addr, PORT), routes: routes(other), aead: nodeDataAead }, { localPeer: me, mtu: 1376 });
  const oa = mk(A, tapA, ADDR_A, B), ob = mk(B, tapB, ADDR_B, A);
  oa.start();
  ob.start();
  const ab = { key: randomBytes(32), salt: randomBytes(4) }, ba = { key: randomBytes(32), salt: randomBytes(4) };
  const hooks = { sendFramesOverTcp: () => undefined, onPathChange: () => undefined };
  oa.addSession({ peer: B, remoteAddr: ADDR_B, remotePort: PORT, localIndex: 1, remoteIndex: 2, keys: { sendKey: ab.key, sendSalt: ab.salt, recvKey: ba.key, recvSalt: ba.salt } }, hooks);
  ob.addSession({ peer: A, remoteAddr: ADDR_A, remotePort: PORT, localIndex: 2, remoteIndex: 1, keys: { sendKey: ba.key, sendSalt: ba.salt, recvKey: ab.key, recvSalt: ab.salt } }, hooks);
  net.flush();
  return { net, tapA, tapB, oa, ob };
}

test('overlay: a DF frame too big for a datagram gets ICMP back on the bridge, nothing crosses, it is counted', () => {
  const t = pair();
  const sent = t.oa.stats.datagramsSent;
  assert.equal(t.oa.ipMtu, 1376);
  t.tapA.inject(ipv4Frame(1480, { df: true }));
  t.net.flush();
  assert.equal(t.tapB.written.length, 0);
  assert.equal(t.oa.stats.datagramsSent, sent, 'nothing sent');
  assert.equal(t.oa.stats.icmpTooBigSent, 1);
  assert.equal(t.tapA.written.length, 1);
  const icmp = t.tapA.written[0]!;
  assert.equal(icmp[34], 3);
  assert.equal(icmp[35], 4);
  assert.equal(icmp.readUInt16BE(40), 1376);
});

test('overlay: a frame that still fits one datagram is carried, even above the configured MTU', () => {
  const t = pair();
  // 1376 configured, but a 1500-byte underlay datagram holds a 1428-byte frame: no reason to refuse it.
  t.tapA.inject(ipv4Frame(1400 - 20, { df: true }));
  t.net.flush();
  assert.equal(t.tapB.written.length, 1);
  assert.equal(t.oa.stats.icmpTooBigSent, 0);
});

test('overlay: IPv4 without DF is fragmented and every fragment arrives; group DF frames are counted drops', () => {
  const t = pair();
  t.tapA.inject(ipv4Frame(4000, { df: false }));
  t.net.flush();
  assert.equal(t.oa.stats.framesFragmented, 1);
  assert.equal(t.oa.stats.fragmentsSent, 3);
  assert.equal(t.tapB.written.length, 3);
  assert.equal(t.tapB.written.reduce((n, f) => n + f.length - 34, 0), 4000);
  t.tapA.inject(ipv4Frame(4000, { df: true, dst: Buffer.from('01005e010101', 'hex') }));
  t.net.flush();
  assert.equal(t.oa.stats.droppedTooBig, 1);
  assert.equal(t.tapA.written.length, 0, 'no ICMP for a multicast destination');
});

test('overlay: an oversize frame for a MAC known to be local is left to the bridge', () => {
  const t = pair();
  // Learn MAC_DST as local (a frame from it came through the TAP).
  const fromDst = ipv4Frame(10, { df: true, dst: MAC_SRC });
  MAC_DST.copy(fromDst, 6);
  t.tapA.inject(fromDst);
  t.net.flush();
  t.tapA.inject(ipv4Frame(1480, { df: true }));
  t.net.flush();
  assert.equal(t.tapA.written.length, 0);
  assert.equal(t.oa.stats.icmpTooBigSent, 0);
});
