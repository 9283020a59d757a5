// The fuzz targets: every decoder that reads bytes from the network, each with valid encodings as seeds
// (made with the real encoders) and the errors it may throw. DNS *queries* are fuzzed in test/unit/dns.
import { HandshakeError, ProtocolError } from '../../src/core/errors.js';
import { parseCidr, parsePeerName, type PeerName } from '../../src/core/types.js';
import { ControlOpener, ControlSealer } from '../../src/crypto/control-seal.js';
import { nodeDataAead } from '../../src/crypto/data-aead.js';
import { forEachFrame } from '../../src/dataplane/packer.js';
import { HB_PING, HB_PONG, decodeHeartbeat, encodeHeartbeat } from '../../src/dataplane/fastdp-wire.js';
import { decodeNatMessage, encodeNatMessage } from '../../src/mesh/nat-messages.js';
import { decodeDnsGossip, encodeDnsGossip } from '../../src/dns/entries-codec.js';
import { cidrRange } from '../../src/ipam/addr-range.js';
import { decodeGossip, decodeUnicast, encodeGossip, encodeUnicast } from '../../src/ipam/messages.js';
import { Paxos } from '../../src/ipam/paxos.js';
import { Ring } from '../../src/ipam/ring.js';
import { FIRST_MESSAGE_MAX_BYTES, Handshake, type HandshakeInit } from '../../src/mesh/handshake.js';
import { decodeTopology, encodeTopology } from '../../src/mesh/topology-codec.js';
import type { PeerEntry } from '../../src/mesh/topology.js';
import { decodeControlMessage, encodeControlMessage } from '../../src/wire/control-codec.js';
import type { ControlMessage } from '../../src/wire/control-messages.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  OFF_COUNTER,
  OFF_RECEIVER_IDX,
  PACKET_TYPE_DATA,
} from '../../src/wire/data-packet.js';
import { encodeFrame, FrameDecoder } from '../../src/wire/framing.js';
import { decodeHello, encodeHello, type Hello } from '../../src/wire/hello.js';
import { decodePreamble, encodePreamble } from '../../src/wire/preamble.js';
import { seededRng } from '../support/rng.js';
import type { FuzzTarget } from './harness.js';

const isProtocolError = (err: unknown): boolean => err instanceof ProtocolError;
/** The handshake refuses with HandshakeError (version, encryption mismatch, self, collision, auth). */
const isHandshakeRefusal = (err: unknown): boolean => err instanceof ProtocolError || err instanceof HandshakeError;

const A = 'aa:00:00:00:00:01' as PeerName;
const B = 'bb:00:00:00:00:02' as PeerName;
const KEY = Buffer.alloc(32, 7);

function heartbeatSeed(kind: typeof HB_PING | typeof HB_PONG, macs: number[]): Uint8Array {
  const out = new Uint8Array(2048);
  const n = encodeHeartbeat(out, { kind, sender: 0xaa0000000001, dst: 0x02bb00000002, seq: 9, macs });
  return out.subarray(0, n);
}

function hello(extra: Partial<Hello> = {}): Hello {
  return {
    name: B, nickname: 'host-b', uid: '18446744073709551615', connId: 42, encrypted: true,
    publicKey: Buffer.alloc(32, 9), listenPort: 6783, sessionIndex: 7, trusted: true, ...extra,
  };
}

const controlMessages: ControlMessage[] = [
  { kind: 'heartbeat' },
  { kind: 'gossip', channel: 'topology', payload: Buffer.from('abc') },
  { kind: 'gossip-unicast', channel: 'ipam', src: A, dst: B, payload: Buffer.alloc(20, 1) },
  { kind: 'gossip-broadcast', channel: 'dns', src: A, payload: Buffer.alloc(3) },
  { kind: 'overlay', payload: Buffer.alloc(9, 2) },
  { kind: 'frames', payload: Buffer.alloc(40, 3) },
  { kind: 'close', reason: 'shutting down' },
];

const topologySeed: PeerEntry[] = [
  {
    name: A, nickname: 'one', uid: '123', version: 5,
    connections: [{ name: B, address: '10.0.0.2:6783', outbound: true, established: true, listenPort: 6783 }],
  },
  { name: B, nickname: 'two', uid: '456', version: 1, connections: [] },
];

function ipamSeeds(): Uint8Array[] {
  const a = parsePeerName('::a');
  const b = parsePeerName('::b');
  const r = cidrRange(parseCidr('10.32.0.0/12'));
  const ring = new Ring(r, a);
  ring.claimForPeers([a, b]);
  ring.grant({ start: r.start + 10, end: r.start + 20 }, b);
  const p = new Paxos(a, 2);
  p.propose();
  return [
    encodeGossip({ start: r.start, end: r.end, complete: true, ring: ring.toData(), paxos: p.state() }),
    encodeGossip({ start: r.start, end: r.end, complete: false, ring: undefined, paxos: undefined }),
    encodeUnicast({ kind: 'req', id: 7, start: r.start, end: r.end, wantStart: r.start + 1, wantEnd: r.start + 100, exact: false }),
    encodeUnicast({ kind: 'grant', id: 7, start: r.start, end: r.end, ring: ring.toData() }),
    encodeUnicast({ kind: 'deny', id: 7, start: r.start, end: r.end, reason: 'no space', ring: ring.toData() }),
    encodeUnicast({ kind: 'ring?', start: r.start, end: r.end }),
    encodeUnicast({ kind: 'ring', start: r.start, end: r.end, ring: ring.toData() }),
  ];
}

/** A DATA datagram: header then frames (origin, dst, len, bytes), optionally sealed with KEY. */
function datagram(frames: number[], sealed: boolean): Uint8Array {
  const parts: Buffer[] = [];
  const hdr = Buffer.alloc(DATA_HEADER_BYTES);
  hdr[0] = PACKET_TYPE_DATA;
  hdr.writeUInt32BE(7, OFF_RECEIVER_IDX);
  hdr.writeUInt32BE(1, OFF_COUNTER + 4);
  parts.push(hdr);
  for (const len of frames) {
    const fh = Buffer.alloc(FRAME_HEADER_BYTES, 0xaa);
    fh.writeUInt16BE(len, 12);
    parts.push(fh, Buffer.alloc(len, 0x45));
  }
  if (sealed) parts.push(Buffer.alloc(AEAD_TAG_BYTES));
  const buf = Buffer.concat(parts);
  if (sealed) {
    const h = nodeDataAead.create(KEY, Buffer.alloc(4, 1), true);
    nodeDataAead.sealBatch(h, buf, Int32Array.of(0), Int32Array.of(buf.length - AEAD_TAG_BYTES), 1);
  }
  return buf;
}

const dataOpen = nodeDataAead.create(KEY, Buffer.alloc(4, 1), false);

/** The overlay's ingress on one datagram, without I/O: header, open, then the frame walk's bounds. */
function dataPlane(input: Uint8Array): void {
  const buf = Buffer.from(input);
  if (buf.length < DATA_HEADER_BYTES) return; // the overlay counts it as short
  buf.readUInt32BE(OFF_RECEIVER_IDX);
  const lengths = Int32Array.of(buf.length);
  const status = new Uint8Array(1);
  nodeDataAead.openBatch(dataOpen, buf, Int32Array.of(0), lengths, 1, status);
  // Walk the body as an unencrypted session would (the frames were not sealed, or they just opened).
  const end = buf.length;
  forEachFrame(buf, DATA_HEADER_BYTES, end - DATA_HEADER_BYTES, (_o, _d, fo, fl) => {
    if (fo < DATA_HEADER_BYTES + FRAME_HEADER_BYTES || fl <= 0 || fo + fl > end) {
      throw new Error(`frame [${fo}, +${fl}) is outside the datagram body [${DATA_HEADER_BYTES}, ${end})`);
    }
  });
}

/** The framing decoder over random chunks; no frame over the cap may come out, and nothing but ProtocolError. */
function framing(input: Uint8Array): void {
  const rng = seededRng(input.length);
  const cap = 64;
  const dec = new FrameDecoder(cap, 'fuzz frame');
  for (let off = 0; off < input.length; ) {
    const n = 1 + rng.int(16);
    dec.push(input.subarray(off, off + n));
    off += n;
    for (let f = dec.nextFrame(); f; f = dec.nextFrame()) {
      if (f.length > cap) throw new Error(`frame of ${f.length} bytes passed the cap of ${cap}`);
    }
    if (dec.buffered > cap + 4 + 16) throw new Error(`${dec.buffered} bytes buffered with a cap of ${cap}`);
  }
}

function handshakeInit(): HandshakeInit {
  return { outbound: true, localName: A, localNickname: 'host-a', localUid: '1111', connId: 1, passwordKey: KEY, listenPort: 6783, sessionIndex: 10 };
}

/** The peer's side of a handshake with us: preamble ‖ hello ‖ its sealed first message. */
function handshakeSeed(): Uint8Array {
  const us = new Handshake(seededRng(1), handshakeInit());
  const them = new Handshake(seededRng(2), { ...handshakeInit(), outbound: false, localName: B, localUid: '2222', connId: 2 });
  const dec = new FrameDecoder(0);
  dec.push(us.initialBytes);
  const step = them.advance(dec);
  return Buffer.concat([them.initialBytes, ...step.send]);
}

/** Our side of the handshake fed the fuzzed bytes in chunks; the first message's cap must hold. */
function handshake(input: Uint8Array): void {
  const hs = new Handshake(seededRng(1), handshakeInit());
  const dec = new FrameDecoder(0);
  const rng = seededRng(input.length);
  for (let off = 0; off < input.length && hs.phase !== 'done'; ) {
    const n = 1 + rng.int(64);
    dec.push(input.subarray(off, off + n));
    off += n;
    hs.advance(dec);
    if (hs.phase === 'auth' && dec.maxBodyBytes > FIRST_MESSAGE_MAX_BYTES) throw new Error('pre-auth cap not applied');
  }
}

export function fuzzTargets(): FuzzTarget[] {
  const sealer = new ControlSealer(KEY);
  const sealed = controlMessages.map((m) => sealer.seal(encodeControlMessage(m)));
  return [
    { name: 'framing', seeds: controlMessages.map((m) => encodeFrame(encodeControlMessage(m))), run: framing, allowed: isProtocolError },
    { name: 'preamble', seeds: [encodePreamble(), encodePreamble({ minVersion: 1, maxVersion: 9 })], run: (b) => decodePreamble(b), allowed: isProtocolError, maxBytes: 32 },
    {
      name: 'hello',
      seeds: [hello(), hello({ encrypted: false, publicKey: undefined, trusted: undefined } as Partial<Hello>)].map((h) => {
        const { publicKey, trusted, ...rest } = h;
        return encodeHello({ ...rest, ...(publicKey ? { publicKey } : {}), ...(trusted ? { trusted } : {}) }).subarray(4);
      }),
      run: (b) => decodeHello(b),
      allowed: isProtocolError,
    },
    { name: 'handshake', seeds: [handshakeSeed()], run: handshake, allowed: isHandshakeRefusal, cost: 20 },
    { name: 'control-codec', seeds: controlMessages.map(encodeControlMessage), run: (b) => decodeControlMessage(b), allowed: isProtocolError },
    {
      name: 'control-sealed',
      seeds: sealed,
      // A fresh opener per input, as the first message after the handshake (counter 1) would see it.
      run: (b) => {
        const opener = new ControlOpener(KEY);
        decodeControlMessage(opener.open(b));
      },
      allowed: isHandshakeRefusal,
    },
    { name: 'topology', seeds: [encodeTopology(topologySeed), encodeTopology([])], run: (b) => decodeTopology(b), allowed: isProtocolError },
    {
      name: 'ipam',
      seeds: ipamSeeds(),
      run: (b) => {
        let firstErr: unknown;
        for (const decode of [decodeGossip, decodeUnicast]) {
          try {
            decode(b);
          } catch (err) {
            if (!(err instanceof ProtocolError)) throw err;
            firstErr ??= err;
          }
        }
        if (firstErr) throw firstErr;
      },
      allowed: isProtocolError,
    },
    {
      name: 'dns-gossip',
      seeds: [
        encodeDnsGossip({ sentAt: 1_700_000_000_000, entries: [
          { origin: A, containerId: 'c0ffee', hostname: 'web.weave.local.', address: 0x0a200001, version: 3, tombstone: 0 },
          { origin: B, containerId: 'beef', hostname: 'db.weave.local.', address: 0x0a200002, version: 1, tombstone: 1_700_000_000_001 },
        ] }),
        encodeDnsGossip({ sentAt: 0, entries: [] }),
      ],
      run: (b) => decodeDnsGossip(b),
      allowed: isProtocolError,
    },
    { name: 'data-plane', seeds: [datagram([60, 1400], false), datagram([42], true), datagram([], false)], run: dataPlane, allowed: () => false, maxBytes: 2048 },
    // fastdp heartbeats arrive from the bridge (VXLAN): a bad frame decodes to undefined, never throws (the
    // wrapper turns undefined into a rejection so the harness counts them).
    {
      name: 'fastdp-heartbeat',
      seeds: [heartbeatSeed(HB_PING, [0x02aabbccddee, 0x02aabbccddef]), heartbeatSeed(HB_PONG, [])],
      run: (b) => {
        if (decodeHeartbeat(b, 0, b.length) === undefined) throw new ProtocolError('not a fastdp heartbeat');
      },
      allowed: isProtocolError,
      maxBytes: 2048,
    },
    {
      name: 'nat-message',
      seeds: [
        encodeNatMessage({ t: 'hint', peer: B, endpoint: { addr: 0x0a000002, port: 6783 }, yours: { addr: 0xc0a80001, port: 40000 }, listenPort: 6783 }),
        encodeNatMessage({ t: 'data', introducer: A, stream: 7, bytes: new Uint8Array([1, 2, 3]) }),
        encodeNatMessage({ t: 'close', introducer: A, stream: 7 }),
      ],
      run: (b) => void decodeNatMessage(b),
      allowed: isProtocolError,
    },
  ];
}
