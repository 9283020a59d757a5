// The handshake, first as a pure state machine (two Handshakes wired through FrameDecoders), then end to
// end through ProtocolConnection over an in-memory stream pair, where both ends must report the failure.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { MAX_CONTROL_MSG_BYTES } from '../../../src/core/defaults.js';
import { HandshakeError, ProtocolError, type TsweaveError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Rng } from '../../../src/core/ports.js';
import type { PeerName } from '../../../src/core/types.js';
import { CONTROL_TAG_BYTES } from '../../../src/crypto/control-seal.js';
import { derivePasswordKey } from '../../../src/crypto/password-kdf.js';
import { FIRST_MESSAGE_MAX_BYTES, Handshake, type HandshakeInit, type HandshakeResult } from '../../../src/mesh/handshake.js';
import { ProtocolConnection, type ConnectionReadyInfo, type ProtocolConnectionInit } from '../../../src/mesh/protocol-connection.js';
import { encodeFrame, FrameDecoder } from '../../../src/wire/framing.js';
import { encodePreamble } from '../../../src/wire/preamble.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { createStreamPair, type StreamPair } from '../../support/stream-pair.js';

const NAME_A = 'aa:00:00:00:00:01' as PeerName;
const NAME_B = 'bb:00:00:00:00:02' as PeerName;
const PW = Buffer.alloc(32, 0x11); // stands in for derivePasswordKey(...) (slow on purpose)
const PW_OTHER = Buffer.alloc(32, 0x22);
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

function hsInit(side: 'a' | 'b', extra: Partial<HandshakeInit> = {}): HandshakeInit {
  return side === 'a'
    ? { outbound: true, localName: NAME_A, localNickname: 'host-a', localUid: '1111', connId: 1, listenPort: 6783, sessionIndex: 10, ...extra }
    : { outbound: false, localName: NAME_B, localNickname: 'host-b', localUid: '2222', connId: 2, listenPort: 7000, sessionIndex: 20, ...extra };
}

type Outcome = { result?: HandshakeResult; err?: unknown };

/** Runs two pure Handshakes against each other, delivering bytes in random chunks. */
function drive(a: Handshake, b: Handshake, chunkRng?: Rng, maxChunk = 3): { a: Outcome; b: Outcome } {
  const sides = [
    { hs: a, dec: new FrameDecoder(0), inbox: [b.initialBytes] as Buffer[], out: {} as Outcome },
    { hs: b, dec: new FrameDecoder(0), inbox: [a.initialBytes] as Buffer[], out: {} as Outcome },
  ];
  for (let round = 0; round < 100; round++) {
    let moved = false;
    for (const [i, s] of sides.entries()) {
      const other = sides[1 - i]!;
      while (s.inbox.length > 0 && !s.out.err && !s.out.result) {
        const bytes = s.inbox.shift()!;
        for (let off = 0; off < bytes.length && !s.out.err; ) {
          const n = chunkRng ? Math.min(bytes.length - off, 1 + chunkRng.int(maxChunk)) : bytes.length;
          s.dec.push(bytes.subarray(off, off + n));
          off += n;
          moved = true;
          try {
            const step = s.hs.advance(s.dec);
            other.inbox.push(...step.send);
            if (step.result) s.out.result = step.result;
          } catch (err) {
            s.out.err = err;
          }
        }
      }
    }
    if (!moved) break;
  }
  return { a: sides[0]!.out, b: sides[1]!.out };
}

function assertOppositeKeys(ra: HandshakeResult, rb: HandshakeResult): void {
  const ka = ra.keys!;
  const kb = rb.keys!;
  assert.equal(hex(ka.tcpSendKey), hex(kb.tcpRecvKey));
  assert.equal(hex(ka.tcpRecvKey), hex(kb.tcpSendKey));
  assert.equal(hex(ka.udp.udpSendKey), hex(kb.udp.udpRecvKey));
  assert.equal(hex(ka.udp.udpRecvKey), hex(kb.udp.udpSendKey));
  assert.equal(hex(ka.udp.udpSendSalt), hex(kb.udp.udpRecvSalt));
  assert.equal(hex(ka.udp.udpRecvSalt), hex(kb.udp.udpSendSalt));
  assert.notEqual(hex(ka.tcpSendKey), hex(ka.tcpRecvKey));
  assert.notEqual(hex(ka.udp.udpSendKey), hex(ka.udp.udpRecvKey));
}

test('handshake (pure): both encrypted → each side learns the other and derives opposite keys', () => {
  const rng = seededRng(1);
  const { a, b } = drive(new Handshake(rng, hsInit('a', { passwordKey: PW })), new Handshake(rng, hsInit('b', { passwordKey: PW })));
  assert.equal(a.err, undefined);
  assert.equal(b.err, undefined);
  const ra = a.result!;
  const rb = b.result!;
  assert.equal(ra.encrypted, true);
  assert.equal(ra.protocolVersion, 1);
  assert.deepEqual(
    { name: ra.remote.name, nick: ra.remote.nickname, uid: ra.remote.uid, port: ra.remote.listenPort, idx: ra.remote.sessionIndex, conn: ra.remote.connId },
    { name: NAME_B, nick: 'host-b', uid: '2222', port: 7000, idx: 20, conn: 2 },
  );
  assert.equal(rb.remote.name, NAME_A);
  assert.equal(rb.remote.sessionIndex, 10);
  assertOppositeKeys(ra, rb);
  // The sealer/opener continue after the first (auth) message.
  assert.equal(ra.sealer!.sent, 1);
  assert.equal(rb.opener!.received, 1);
  assert.equal(rb.opener!.open(ra.sealer!.seal(Buffer.from('next'))).toString(), 'next');
});

test('handshake (pure): both plain → no keys', () => {
  const rng = seededRng(2);
  const { a, b } = drive(new Handshake(rng, hsInit('a')), new Handshake(rng, hsInit('b')));
  assert.equal(a.result?.encrypted, false);
  assert.equal(b.result?.encrypted, false);
  assert.equal(a.result?.keys, undefined);
  assert.equal(b.result?.remote.nickname, 'host-a');
});

test('handshake (pure): random chunking, 1..3 bytes at a time, many seeds', () => {
  for (let seed = 0; seed < 40; seed++) {
    const rng = seededRng(seed);
    const pw = seed % 2 === 0 ? { passwordKey: PW } : {};
    const { a, b } = drive(new Handshake(rng, hsInit('a', pw)), new Handshake(rng, hsInit('b', pw)), rng, 1 + (seed % 3));
    assert.ok(a.result && b.result, `seed ${seed}: ${String(a.err ?? b.err)}`);
    if (seed % 2 === 0) assertOppositeKeys(a.result, b.result);
  }
});

test('handshake (pure): the version range may overlap partially; highest common wins', () => {
  const rng = seededRng(3);
  const { a, b } = drive(
    new Handshake(rng, hsInit('a', { versionRange: { minVersion: 1, maxVersion: 3 } })),
    new Handshake(rng, hsInit('b', { versionRange: { minVersion: 2, maxVersion: 5 } })),
  );
  assert.equal(a.result?.protocolVersion, 3);
  assert.equal(b.result?.protocolVersion, 3);
});

// ---------------------------------------------------------------------------------------------
// End to end over ProtocolConnection: both ends report.

interface Side {
  conn: ProtocolConnection;
  ready?: ConnectionReadyInfo;
  closed: boolean;
  err?: Error;
}

function connectPair(
  aExtra: Partial<ProtocolConnectionInit> = {},
  bExtra: Partial<ProtocolConnectionInit> = {},
  opts: { chunkSeed?: number; setup?: (pair: StreamPair) => void } = {},
): { pair: StreamPair; a: Side; b: Side; clock: FakeClock } {
  const clock = new FakeClock();
  const rng = seededRng(99);
  const pair = createStreamPair(opts.chunkSeed === undefined ? {} : { rng: seededRng(opts.chunkSeed), maxChunk: 3 });
  opts.setup?.(pair);
  const components = { clock, rng, logger: silentLogger() };
  const mk = (init: ProtocolConnectionInit): Side => {
    const s = { closed: false } as Side;
    s.conn = new ProtocolConnection(components, init);
    s.conn.onReady((info) => (s.ready = info));
    s.conn.onClose((err) => {
      assert.equal(s.closed, false, 'onClose called once');
      s.closed = true;
      s.err = err;
    });
    return s;
  };
  const a = mk({ stream: pair.a, outbound: true, localName: NAME_A, localNickname: 'host-a', localUid: '1111', listenPort: 6783, sessionIndex: 10, ...aExtra });
  const b = mk({ stream: pair.b, outbound: false, localName: NAME_B, localNickname: 'host-b', localUid: '2222', listenPort: 7000, sessionIndex: 20, ...bExtra });
  return { pair, a, b, clock };
}

function assertFailed(s: Side, code: string, message: string | RegExp, cls: new (...args: never[]) => Error = HandshakeError): void {
  assert.ok(s.closed, 'closed');
  assert.ok(s.err instanceof cls, `expected ${cls.name}, got ${String(s.err)}`);
  assert.equal((s.err as TsweaveError).code, code);
  if (typeof message === 'string') assert.equal(s.err.message, message);
  else assert.match(s.err.message, message);
  assert.equal(s.ready, undefined, 'never ready');
}

test('handshake: good, encrypted, over a real connection; UDP keys match crosswise', async () => {
  const { pair, a, b } = connectPair({ passwordKey: PW }, { passwordKey: PW });
  await pair.flush();
  assert.ok(a.ready && b.ready);
  assert.equal(a.ready.encrypted, true);
  assert.equal(a.ready.remoteName, NAME_B);
  assert.equal(a.ready.remoteListenPort, 7000);
  assert.equal(a.ready.remoteSessionIndex, 20);
  assert.equal(b.ready.remoteUid, '1111');
  assert.equal(b.ready.remoteConnId, a.ready.localConnId);
  const ka = a.ready.udpKeys!;
  const kb = b.ready.udpKeys!;
  assert.equal(hex(ka.udpSendKey), hex(kb.udpRecvKey));
  assert.equal(hex(ka.udpRecvKey), hex(kb.udpSendKey));
  assert.equal(hex(ka.udpSendSalt), hex(kb.udpRecvSalt));
  assert.equal(hex(ka.udpRecvSalt), hex(kb.udpSendSalt));
  assert.equal(a.closed || b.closed, false);
});

test('handshake: --trusted-subnets is mutual: only both ends trusting each other makes the pair trusted', async () => {
  for (const [ta, tb, want] of [[true, true, true], [true, false, false], [false, true, false], [false, false, false]] as const) {
    const { pair, a, b } = connectPair({ passwordKey: PW, trustsRemote: ta }, { passwordKey: PW, trustsRemote: tb });
    await pair.flush();
    assert.equal(a.ready?.mutuallyTrusted, want, `a trusts ${ta}, b trusts ${tb}`);
    assert.equal(b.ready?.mutuallyTrusted, want, `a trusts ${ta}, b trusts ${tb}`);
    // The control plane stays encrypted either way, with data keys derived as usual.
    assert.equal(a.ready?.encrypted, true);
    assert.ok(a.ready?.udpKeys);
  }
});

test('handshake: csumPartial holds for a session only when both ends announce it (an older peer announces nothing)', async () => {
  for (const [ca, cb, want] of [[true, true, true], [true, undefined, false], [undefined, true, false], [false, true, false], [undefined, undefined, false]] as const) {
    const opt = (c: boolean | undefined): Partial<ProtocolConnectionInit> => (c === undefined ? {} : { csumPartial: c });
    const { pair, a, b } = connectPair({ passwordKey: PW, ...opt(ca) }, { passwordKey: PW, ...opt(cb) });
    await pair.flush();
    assert.equal(a.ready?.csumPartial, want, `a ${ca}, b ${cb}`);
    assert.equal(b.ready?.csumPartial, want, `a ${ca}, b ${cb}`);
  }
});

test('handshake: receive lanes are announced and learned; a peer announcing none (older version) counts as 1', async () => {
  for (const [la, lb] of [[4, 2], [undefined, 3], [1, undefined], [undefined, undefined]] as const) {
    const lanes = (n: number | undefined): Partial<ProtocolConnectionInit> => (n === undefined ? {} : { sessionLanes: n });
    const { pair, a, b } = connectPair({ passwordKey: PW, ...lanes(la) }, { passwordKey: PW, ...lanes(lb) });
    await pair.flush();
    assert.equal(a.ready?.remoteSessionLanes, lb ?? 1, `a learns b's lanes (${lb})`);
    assert.equal(b.ready?.remoteSessionLanes, la ?? 1, `b learns a's lanes (${la})`);
  }
});

test('handshake: good, plain, with random 1..3-byte chunks', async () => {
  const { pair, a, b } = connectPair({}, {}, { chunkSeed: 5 });
  await pair.flush();
  assert.equal(a.ready?.encrypted, false);
  assert.equal(b.ready?.encrypted, false);
  assert.equal(a.ready?.udpKeys, undefined);
});

test('handshake: wrong password → both ends report ERR_AUTH_FAILED, nothing decrypted', async () => {
  const { pair, a, b } = connectPair({ passwordKey: PW }, { passwordKey: PW_OTHER });
  await pair.flush();
  assertFailed(a, 'ERR_AUTH_FAILED', 'authentication failed (password mismatch?)');
  assertFailed(b, 'ERR_AUTH_FAILED', 'authentication failed (password mismatch?)');
});

test('handshake: password on one side only → each side gives its own reason', async () => {
  const { pair, a, b } = connectPair({ passwordKey: PW }, {});
  await pair.flush();
  assertFailed(a, 'ERR_ENCRYPTION_MISMATCH', 'password specified, but peer requested an unencrypted connection');
  assertFailed(b, 'ERR_ENCRYPTION_MISMATCH', 'no password specified, but peer requested an encrypted connection');
});

test('handshake: incompatible versions → both ranges named, on both sides', async () => {
  const { pair, a, b } = connectPair({ versionRange: { minVersion: 1, maxVersion: 1 } }, { versionRange: { minVersion: 2, maxVersion: 3 } });
  await pair.flush();
  assertFailed(a, 'ERR_PROTOCOL_VERSION', 'remote version range [2,3] is incompatible with ours [1,1]');
  assertFailed(b, 'ERR_PROTOCOL_VERSION', 'remote version range [1,1] is incompatible with ours [2,3]');
});

test('handshake: connecting to ourself (same name, same uid)', async () => {
  const me = { localName: NAME_A, localNickname: 'host-a', localUid: '1111' };
  const { pair, a, b } = connectPair({ ...me, passwordKey: PW }, { ...me, passwordKey: PW });
  await pair.flush();
  assertFailed(a, 'ERR_CONNECT_TO_SELF', 'cannot connect to ourself');
  assertFailed(b, 'ERR_CONNECT_TO_SELF', 'cannot connect to ourself');
});

test('handshake: peer name collision (same name, different uid) states both sides', async () => {
  const { pair, a, b } = connectPair({ localNickname: 'clone1' }, { localName: NAME_A, localNickname: 'clone2' });
  await pair.flush();
  assertFailed(a, 'ERR_PEER_NAME_COLLISION', `local "${NAME_A}(clone1)" and remote "${NAME_A}(clone2)" peer names collision`);
  assertFailed(b, 'ERR_PEER_NAME_COLLISION', `local "${NAME_A}(clone2)" and remote "${NAME_A}(clone1)" peer names collision`);
});

test('handshake: a hello altered in flight breaks the keys → auth fails on both sides', async () => {
  // Rewrite B's advertised listenPort 7000 (msgpack cd 1b 58) → 7001 in its hello as it passes.
  const setup = (pair: StreamPair): void => {
    pair.b.tamper = (data, offset) => {
      if (offset === 0) {
        const i = Buffer.from(data).indexOf(Buffer.from([0xcd, 0x1b, 0x58]));
        assert.ok(i > 0);
        data[i + 2] = 0x59;
      }
      return data;
    };
  };
  const { pair, a, b } = connectPair({ passwordKey: PW }, { passwordKey: PW }, { setup });
  await pair.flush();
  assertFailed(a, 'ERR_AUTH_FAILED', 'authentication failed (password mismatch?)');
  assertFailed(b, 'ERR_AUTH_FAILED', 'authentication failed (password mismatch?)');
});

// Hostile or broken peers: only side A runs a ProtocolConnection; the test plays B by hand on pair.b.

function lonePeer(extra: Partial<ProtocolConnectionInit> = {}): { pair: StreamPair; a: Side; clock: FakeClock } {
  const clock = new FakeClock();
  const pair = createStreamPair();
  const s = { closed: false } as Side;
  s.conn = new ProtocolConnection(
    { clock, rng: seededRng(7), logger: silentLogger() },
    { stream: pair.a, outbound: true, localName: NAME_A, localNickname: 'host-a', localUid: '1111', listenPort: 6783, sessionIndex: 1, ...extra },
  );
  s.conn.onReady((info) => (s.ready = info));
  s.conn.onClose((err) => {
    assert.equal(s.closed, false, 'onClose called once');
    s.closed = true;
    s.err = err;
  });
  pair.b.onData(() => {});
  pair.b.onClose(() => {});
  return { pair, a: s, clock };
}

/** A correct preamble and hello from B, as raw bytes. */
function bHello(extra: Partial<HandshakeInit> = {}): { hs: Handshake; bytes: Buffer } {
  const hs = new Handshake(seededRng(8), { ...hsInit('b'), ...extra });
  return { hs, bytes: hs.initialBytes };
}

test('handshake: input truncated in each phase, then the peer closes', async () => {
  const hello = bHello().bytes;
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), 'waiting for the preamble (0 of 10 bytes)'],
    [hello.subarray(0, 5), 'waiting for the preamble (5 of 10 bytes)'],
    [hello.subarray(0, 12), 'waiting for the hello (2 of 4 length bytes)'],
    [hello.subarray(0, hello.length - 1), `waiting for the hello (${hello.length - 15} of ${hello.length - 14} body bytes)`],
    [hello, 'waiting for the first message (0 of 4 length bytes)'],
  ];
  for (const [bytes, where] of cases) {
    const { pair, a } = lonePeer();
    pair.a.inject(bytes);
    await pair.flush();
    assert.equal(a.closed, false, 'still waiting');
    pair.b.close();
    await pair.flush();
    assertFailed(a, 'ERR_HANDSHAKE', `connection closed during handshake, ${where}`);
  }
});

test('handshake: oversized hello length is refused before the body arrives', async () => {
  const { pair, a } = lonePeer();
  pair.a.inject(Buffer.concat([encodePreamble(), Buffer.from([0x00, 0x00, 0x10, 0x01])]));
  await pair.flush();
  assertFailed(a, 'ERR_PROTOCOL', 'hello length 4097 exceeds the limit of 4096 bytes', ProtocolError);
  assert.ok(pair.a.closed, 'stream closed');
});

test('handshake: before authentication a frame over FIRST_MESSAGE_MAX_BYTES is refused before buffering (issue 11.1)', async () => {
  // A plausible hello, then a first frame announcing 10 MiB: refused on its 4 length bytes, encrypted or not.
  for (const passwordKey of [PW, undefined]) {
    const extra = passwordKey ? { passwordKey } : {};
    const { hs, bytes } = bHello(extra);
    const { pair, a } = lonePeer(extra);
    const dec = new FrameDecoder(0);
    dec.push(Buffer.concat(pair.a.writes)); // A's preamble+hello, so B can derive keys
    hs.advance(dec);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(10 * 1024 * 1024);
    pair.a.inject(Buffer.concat([bytes, len]));
    await pair.flush();
    assertFailed(a, 'ERR_PROTOCOL', `first message length ${10 * 1024 * 1024} exceeds the limit of ${FIRST_MESSAGE_MAX_BYTES} bytes`, ProtocolError);
    assert.ok(pair.a.closed, 'stream closed');
  }
});

test('handshake (pure): the cap is FIRST_MESSAGE_MAX_BYTES until the first message opens, then the message cap', () => {
  const a = new Handshake(seededRng(1), hsInit('a', { passwordKey: PW }));
  const b = new Handshake(seededRng(2), hsInit('b', { passwordKey: PW }));
  const dec = new FrameDecoder(0);
  dec.push(b.initialBytes);
  const step = a.advance(dec);
  assert.equal(a.phase, 'auth');
  assert.equal(dec.maxBodyBytes, FIRST_MESSAGE_MAX_BYTES);
  // B's side, to get its sealed first message.
  const decB = new FrameDecoder(0);
  decB.push(a.initialBytes);
  const stepB = b.advance(decB);
  assert.equal(step.send.length, 1);
  dec.push(Buffer.concat(stepB.send));
  const done = a.advance(dec);
  assert.ok(done.result);
  assert.equal(dec.maxBodyBytes, MAX_CONTROL_MSG_BYTES + CONTROL_TAG_BYTES);
});

test('handshake: garbage instead of a preamble', async () => {
  for (const junk of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from('weave\x01\x02'.padEnd(10, '\0')), seededRng(3).bytes(64)]) {
    const { pair, a } = lonePeer();
    pair.a.inject(junk);
    await pair.flush();
    assertFailed(a, 'ERR_PROTOCOL', 'not a tsweave peer (bad magic)', ProtocolError);
  }
});

test('handshake: garbage hello body, and a plain first message that is not a heartbeat', async () => {
  {
    const { pair, a } = lonePeer();
    pair.a.inject(Buffer.concat([encodePreamble(), encodeFrame(Buffer.from([0xc1, 0xff, 0x00]))]));
    await pair.flush();
    assertFailed(a, 'ERR_PROTOCOL', /^invalid hello: /, ProtocolError);
  }
  {
    const { pair, a } = lonePeer();
    pair.a.inject(Buffer.concat([bHello().bytes, encodeFrame(Buffer.from([0x92, 0x09, 0xa1, 0x78]))])); // [9, "x"]
    await pair.flush();
    assertFailed(a, 'ERR_PROTOCOL', 'expected a heartbeat as the first message, got close', ProtocolError);
  }
  {
    const { pair, a } = lonePeer();
    pair.a.inject(Buffer.concat([bHello().bytes, encodeFrame(seededRng(4).bytes(20))]));
    await pair.flush();
    assertFailed(a, 'ERR_PROTOCOL', /^invalid control message/, ProtocolError);
  }
});

test('handshake: a peer that is not tsweave is refused on its first wrong byte, not at the timeout', async () => {
  const { pair, a } = lonePeer();
  pair.a.inject(Buffer.from('weave\x01\x02')); // an old Weave router's 7-byte header, then it waits for ours
  await pair.flush();
  assertFailed(a, 'ERR_PROTOCOL', 'not a tsweave peer (bad magic)', ProtocolError);
  const { pair: p2, a: a2 } = lonePeer();
  p2.a.inject(Buffer.from('tswe')); // a correct prefix waits for more
  await p2.flush();
  assert.equal(a2.closed, false);
});

test('handshake: real password keys (scrypt) — same password connects, different ones fail on both ends', async () => {
  const [k1, k1again, k2] = await Promise.all([derivePasswordKey('s3cret'), derivePasswordKey('s3cret'), derivePasswordKey('s3cret!')]);
  const good = connectPair({ passwordKey: k1 }, { passwordKey: k1again });
  await good.pair.flush();
  assert.ok(good.a.ready && good.b.ready);
  const bad = connectPair({ passwordKey: k1 }, { passwordKey: k2 });
  await bad.pair.flush();
  assertFailed(bad.a, 'ERR_AUTH_FAILED', 'authentication failed (password mismatch?)');
  assertFailed(bad.b, 'ERR_AUTH_FAILED', 'authentication failed (password mismatch?)');
});
