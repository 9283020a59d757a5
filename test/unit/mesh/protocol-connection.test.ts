// ProtocolConnection after the handshake: message flow, tampering, replays, timers and close semantics,
// over an in-memory stream pair with a FakeClock.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { HANDSHAKE_TIMEOUT_MS, MAX_CONTROL_MSG_BYTES, TCP_HEARTBEAT_INTERVAL_MS, TCP_READ_TIMEOUT_MS } from '../../../src/core/defaults.js';
import { HandshakeError, ProtocolError, type TsweaveError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { PeerName } from '../../../src/core/types.js';
import { ProtocolConnection, type ConnectionReadyInfo, type ProtocolConnectionInit } from '../../../src/mesh/protocol-connection.js';
import type { ControlMessage } from '../../../src/wire/control-messages.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { createStreamPair, type StreamPair } from '../../support/stream-pair.js';

const NAME_A = 'aa:00:00:00:00:01' as PeerName;
const NAME_B = 'bb:00:00:00:00:02' as PeerName;
const PW = Buffer.alloc(32, 0x11);

interface Side {
  conn: ProtocolConnection;
  ready?: ConnectionReadyInfo;
  messages: ControlMessage[];
  closed: number;
  err?: Error;
}

function setup(
  opts: { password?: boolean; chunkSeed?: number; a?: Partial<ProtocolConnectionInit>; b?: Partial<ProtocolConnectionInit> } = {},
): { pair: StreamPair; clock: FakeClock; a: Side; b: Side } {
  const clock = new FakeClock();
  const pair = createStreamPair(opts.chunkSeed === undefined ? {} : { rng: seededRng(opts.chunkSeed), maxChunk: 50 });
  const components = { clock, rng: seededRng(1), logger: silentLogger() };
  const pw = opts.password === false ? {} : { passwordKey: PW };
  const mk = (init: ProtocolConnectionInit): Side => {
    const s: Side = { conn: new ProtocolConnection(components, init), messages: [], closed: 0 };
    s.conn.onReady((info) => (s.ready = info));
    s.conn.onMessage((m) => s.messages.push(m));
    s.conn.onClose((err) => {
      s.closed++;
      s.err = err;
    });
    return s;
  };
  const a = mk({ stream: pair.a, outbound: true, localName: NAME_A, localNickname: 'host-a', localUid: 1111n, listenPort: 6783, sessionIndex: 1, ...pw, ...opts.a });
  const b = mk({ stream: pair.b, outbound: false, localName: NAME_B, localNickname: 'host-b', localUid: '2222', listenPort: 6783, sessionIndex: 2, ...pw, ...opts.b });
  return { pair, clock, a, b };
}

async function ready(opts: Parameters<typeof setup>[0] = {}): Promise<ReturnType<typeof setup>> {
  const env = setup(opts);
  await env.pair.flush();
  assert.ok(env.a.ready && env.b.ready, 'both ready');
  assert.equal(env.a.conn.state, 'ready');
  return env;
}

function assertErr(s: Side, cls: new (...args: never[]) => Error, code: string, message: string | RegExp): void {
  assert.equal(s.closed, 1, 'onClose exactly once');
  assert.ok(s.err instanceof cls, `expected ${cls.name}, got ${String(s.err)}`);
  assert.equal((s.err as TsweaveError).code, code);
  if (typeof message === 'string') assert.equal(s.err.message, message);
  else assert.match(s.err.message, message);
}

const payload = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const sample: ControlMessage[] = [
  { kind: 'gossip', channel: 'topology', payload: payload(10, 1) },
  { kind: 'gossip-unicast', channel: 'ipam', src: NAME_A, dst: NAME_B, payload: payload(3, 2) },
  { kind: 'gossip-broadcast', channel: 'dns', src: NAME_A, payload: payload(0, 0) },
  { kind: 'overlay', payload: payload(8, 3) },
  { kind: 'frames', payload: payload(70_000, 4) },
];
const summary = (ms: ControlMessage[]): unknown[] =>
  ms.map((m) => ('payload' in m ? { ...m, payload: `${m.payload.length}x${m.payload[0] ?? '-'}` } : m));

for (const password of [true, false]) {
  test(`protocol connection (${password ? 'encrypted' : 'plain'}): messages flow both ways, in order, in random chunks`, async () => {
    const { pair, a, b } = await ready({ password, chunkSeed: 3 });
    for (const m of sample) assert.equal(a.conn.send(m), true);
    for (const m of [...sample].reverse()) b.conn.send(m);
    await pair.flush();
    assert.deepEqual(summary(b.messages), summary(sample));
    assert.deepEqual(summary(a.messages), summary([...sample].reverse()));
    assert.equal(a.conn.stats.messagesIn, sample.length + 1, 'plus the first heartbeat, which is not passed on');
    assert.equal(a.closed + b.closed, 0);
  });
}

test('protocol connection: a tampered ciphertext byte closes the connection with a ProtocolError', async () => {
  const { pair, a, b } = await ready();
  a.conn.send(sample[0]!);
  await pair.flush();
  pair.a.tamper = (data) => {
    data[data.length - 20]! ^= 0x01; // inside the ciphertext of this frame
    return data;
  };
  a.conn.send(sample[1]!);
  await pair.flush();
  assertErr(b, ProtocolError, 'ERR_PROTOCOL', /^control message #2 failed authentication/);
  assert.equal(b.messages.length, 1, 'the tampered message was not delivered');
  assertErr(a, ProtocolError, 'ERR_PROTOCOL', 'connection closed by peer');
});

test('protocol connection: a replayed frame is fatal', async () => {
  const { pair, a, b } = await ready();
  a.conn.send(sample[0]!);
  await pair.flush();
  const lastFrame = pair.a.writes.at(-1)!;
  pair.b.inject(lastFrame);
  await pair.flush();
  assertErr(b, ProtocolError, 'ERR_PROTOCOL', /^control message #2 failed authentication/);
  assert.equal(b.messages.length, 1);
});

test('protocol connection: an oversized frame length after the handshake is fatal', async () => {
  const { pair, b } = await ready({ password: false });
  pair.b.inject(Buffer.from([0x00, 0xa0, 0x00, 0x01])); // 10 MiB + 1
  await pair.flush();
  assertErr(b, ProtocolError, 'ERR_PROTOCOL', `control message length ${MAX_CONTROL_MSG_BYTES + 1} exceeds the limit of ${MAX_CONTROL_MSG_BYTES} bytes`);
});

test('protocol connection: handshake timeout (FakeClock)', async () => {
  const clock = new FakeClock();
  const pair = createStreamPair();
  pair.b.onData(() => {});
  pair.b.onClose(() => {});
  const conn = new ProtocolConnection(
    { clock, rng: seededRng(2), logger: silentLogger() },
    { stream: pair.a, outbound: true, localName: NAME_A, localNickname: 'host-a', localUid: '1', listenPort: 6783, sessionIndex: 1 },
  );
  const s: Side = { conn, messages: [], closed: 0 };
  conn.onClose((err) => {
    s.closed++;
    s.err = err;
  });
  await pair.flush();
  clock.advance(HANDSHAKE_TIMEOUT_MS - 1);
  assert.equal(s.closed, 0);
  clock.advance(1);
  assertErr(s, HandshakeError, 'ERR_HANDSHAKE', 'handshake timed out after 10000 ms (waiting for the preamble (0 of 10 bytes))');
  assert.equal(conn.state, 'closed');
  assert.ok(pair.a.closed, 'stream closed');
  assert.equal(clock.pending(), 0, 'no timers left behind');
});

test('protocol connection: no handshake timeout once ready; heartbeats keep an idle connection alive', async () => {
  const { pair, clock, a, b } = await ready();
  for (let i = 0; i < 10; i++) {
    clock.advance(TCP_HEARTBEAT_INTERVAL_MS);
    await pair.flush();
  }
  assert.equal(a.closed + b.closed, 0);
  assert.equal(b.conn.stats.messagesIn, 1 + 10, 'first heartbeat + one per interval');
  assert.equal(b.messages.length, 0, 'heartbeats are not passed on');
});

test('protocol connection: read timeout when the peer goes silent', async () => {
  // B never sends heartbeats (huge interval): A gives up after TCP_READ_TIMEOUT_MS of silence.
  const { pair, clock, a, b } = await ready({ b: { heartbeatIntervalMs: 1e12 } });
  clock.advance(TCP_READ_TIMEOUT_MS / 2);
  await pair.flush();
  b.conn.send(sample[0]!); // any message resets the deadline
  await pair.flush();
  clock.advance(TCP_READ_TIMEOUT_MS / 2);
  await pair.flush();
  assert.equal(a.closed, 0, 'the deadline moved with the message');
  clock.advance(TCP_READ_TIMEOUT_MS / 2);
  await pair.flush();
  assertErr(a, ProtocolError, 'ERR_PROTOCOL', `no message from peer for ${TCP_READ_TIMEOUT_MS} ms (read timeout)`);
  assertErr(b, ProtocolError, 'ERR_PROTOCOL', 'connection closed by peer');
});

test('protocol connection: close(reason) reaches the peer as its error message', async () => {
  const { pair, clock, a, b } = await ready();
  a.conn.send(sample[0]!);
  a.conn.close('Multiple connections to bb:00:00:00:00:02 added to aa:00:00:00:00:01');
  assert.equal(a.conn.send(sample[0]!), false, 'send after close is ignored');
  a.conn.close('again'); // no-op
  await pair.flush();
  assert.equal(a.closed, 1);
  assert.equal(a.err, undefined, 'a local close reports no error');
  assert.equal(b.messages.length, 1, 'messages before the close are delivered');
  assertErr(b, ProtocolError, 'ERR_PROTOCOL', 'Multiple connections to bb:00:00:00:00:02 added to aa:00:00:00:00:01');
  assert.equal((b.err as TsweaveError).fields?.['closedBy'], 'remote');
  assert.equal(clock.pending(), 0, 'timers cancelled on both sides');
});

test('protocol connection: close during the handshake sends nothing; the peer sees a handshake failure', async () => {
  const { pair, a, b } = setup();
  a.conn.close('shutting down');
  await pair.flush();
  assert.equal(a.closed, 1);
  assert.equal(a.err, undefined);
  assertErr(b, HandshakeError, 'ERR_HANDSHAKE', /^connection closed during handshake/);
});

test('protocol connection: an I/O error after ready is reported as is; a bare close names the truncation', async () => {
  {
    const { pair, a } = await ready();
    const ioErr = new Error('read ECONNRESET');
    pair.a.fail(ioErr);
    await pair.flush();
    assert.equal(a.closed, 1);
    assert.equal(a.err, ioErr);
  }
  {
    const { pair, b } = await ready({ password: false });
    pair.b.inject(Buffer.from([0, 0, 0, 9, 1, 2]));
    pair.a.close();
    await pair.flush();
    assertErr(b, ProtocolError, 'ERR_PROTOCOL', 'connection closed by peer with a truncated message (2 of 9 body bytes)');
  }
});

test('protocol connection: a throwing handler does not break the connection; callbacks registered late still fire', async () => {
  const { pair, a, b } = await ready();
  let calls = 0;
  b.conn.onMessage(() => {
    calls++;
    throw new Error('bad gossip payload');
  });
  a.conn.send(sample[0]!);
  a.conn.send(sample[1]!);
  await pair.flush();
  assert.equal(calls, 2);
  assert.equal(b.conn.stats.handlerErrors, 2);
  assert.equal(b.closed, 0);
  let lateReady: ConnectionReadyInfo | undefined;
  b.conn.onReady((info) => (lateReady = info));
  assert.equal(lateReady?.remoteName, NAME_A);
  b.conn.close('bye');
  let lateClose = 0;
  b.conn.onClose(() => lateClose++);
  assert.equal(lateClose, 0, 'close was already reported to the first callback');
});

test('protocol connection: send before ready is refused; invalid messages throw at the caller', async () => {
  const { pair, a } = setup();
  assert.equal(a.conn.send(sample[0]!), false);
  await pair.flush();
  assert.throws(() => a.conn.send({ kind: 'gossip', channel: 'nope' as 'dns', payload: new Uint8Array(1) }), { code: 'ERR_PROTOCOL' });
  assert.equal(a.closed, 0, 'a local bug does not kill the connection');
});

test('protocol connection: the stream sees exactly preamble ‖ hello first, then length-prefixed frames', async () => {
  const { pair, a } = await ready({ password: false });
  const first = Buffer.from(pair.a.writes[0]!);
  assert.equal(first.subarray(0, 8).toString('latin1'), 'tsweave\0');
  const helloLen = first.readUInt32BE(10);
  assert.equal(first.length, 10 + 4 + helloLen);
  assert.equal(Buffer.from(pair.a.writes[1]!).toString('hex'), '000000029100', 'plain heartbeat frame');
  assert.equal(a.ready?.protocolVersion, 1);
});
