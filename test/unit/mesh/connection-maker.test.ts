import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  RECONNECT_FACTOR, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS, RECONNECT_RESET_AFTER_MS,
} from '../../../src/core/defaults.js';
import { HandshakeError, PeerNameCollisionError, TsweaveError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { peerNameFromNumber } from '../../../src/core/types.js';
import { ConnectionMaker, RECONNECT_SLOW_INITIAL_MS, retryPolicyFor, type ConnectionMakerInit } from '../../../src/mesh/connection-maker.js';
import type { PeerConnection } from '../../../src/mesh/peer-connection.js';
import { Router } from '../../../src/mesh/router.js';
import { encodeTopology } from '../../../src/mesh/topology-codec.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeConn } from '../../support/fake-conn.js';
import { seededRng } from '../../support/rng.js';

interface PendingDial {
  address: string;
  resolve: (c: PeerConnection) => void;
  reject: (e: unknown) => void;
}

function setup(init: ConnectionMakerInit = { discovery: false }) {
  const clock = new FakeClock();
  const rng = seededRng(11);
  const logger = silentLogger();
  const router = new Router({ clock, rng, logger }, { name: peerNameFromNumber(1), nickname: 'me', uid: 'u1' });
  const dials: PendingDial[] = [];
  const maker = new ConnectionMaker(
    { clock, rng, logger, router, dial: (address) => new Promise((resolve, reject) => dials.push({ address, resolve, reject })) },
    init,
  );
  maker.start();
  const tick = async (ms = 0): Promise<void> => {
    clock.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  };
  const status = (address = 'h1:6783') => maker.statusOf(address)!;
  const delayOf = (address = 'h1:6783'): number => (status(address).retryAt as number) - clock.wallNow();
  return { clock, router, maker, dials, tick, status, delayOf };
}

test('backoff: grows ×1.5 from 2 s with jitter in [i/2, 3i/2), capped at 6 min; status connecting → failed → retrying', async () => {
  const { maker, dials, tick, status, delayOf } = setup();
  maker.addTargets(['h1']);
  assert.deepEqual(maker.targets(), ['h1:6783'], 'the default port is added');
  await tick();
  assert.equal(dials.length, 1, 'first attempt immediately');
  assert.equal(status().state, 'connecting');
  let interval = RECONNECT_INITIAL_MS;
  let sawCap = false;
  for (let i = 0; i < 25; i++) {
    dials.shift()!.reject(new Error('dial tcp4 h1:6783: connect: connection refused'));
    await tick();
    const s = status();
    assert.equal(s.state, 'failed');
    assert.equal(s.error, 'dial tcp4 h1:6783: connect: connection refused');
    const d = delayOf();
    assert.ok(d >= interval / 2 - 1 && d <= Math.min(1.5 * interval, RECONNECT_MAX_MS) + 1, `failure ${i}: delay ${d} for interval ${interval}`);
    if (interval === RECONNECT_MAX_MS) sawCap = true;
    // Nothing happens before the retry time; at it, one attempt, shown as retrying with the last error.
    await tick(Math.max(0, Math.floor(d) - 1));
    assert.equal(dials.length, 0);
    await tick(2);
    assert.equal(dials.length, 1, `retry ${i}`);
    assert.equal(status().state, 'retrying');
    assert.match(status().error!, /connection refused/);
    interval = Math.min(interval * RECONNECT_FACTOR, RECONNECT_MAX_MS);
  }
  assert.ok(sawCap, 'the interval reached the 6 min cap');
});

test('collision and connecting to ourself: failed, retry never', async () => {
  for (const err of [
    new PeerNameCollisionError('local "aa:bb:cc:dd:ee:ff(a)" and remote "aa:bb:cc:dd:ee:ff(b)" peer names collision'),
    new HandshakeError('ERR_CONNECT_TO_SELF', 'cannot connect to ourself'),
  ]) {
    const { maker, dials, tick, status } = setup();
    maker.addTargets(['h1:7000']);
    await tick();
    dials.shift()!.reject(err);
    await tick();
    assert.deepEqual(
      { state: status('h1:7000').state, error: status('h1:7000').error, retryAt: status('h1:7000').retryAt },
      { state: 'failed', error: err.message, retryAt: 'never' },
    );
    await tick(60 * 60_000);
    assert.equal(dials.length, 0, 'never retried');
    // `connect` again is the operator saying "try now".
    maker.addTargets(['h1:7000']);
    await tick();
    assert.equal(dials.length, 1);
  }
});

test('retry policy is one switch on err.code', () => {
  assert.deepEqual(retryPolicyFor(new PeerNameCollisionError('x')), { kind: 'never' });
  assert.deepEqual(retryPolicyFor(new TsweaveError('ERR_AUTH_FAILED', 'x')), { kind: 'backoff', minIntervalMs: RECONNECT_SLOW_INITIAL_MS });
  assert.deepEqual(retryPolicyFor(new TsweaveError('ERR_ENCRYPTION_MISMATCH', 'x')), { kind: 'backoff', minIntervalMs: RECONNECT_SLOW_INITIAL_MS });
  assert.deepEqual(retryPolicyFor(new Error('ECONNREFUSED')), { kind: 'backoff', minIntervalMs: RECONNECT_INITIAL_MS });
});

test('authentication failures back off slowly', async () => {
  const { maker, dials, tick, delayOf } = setup();
  maker.addTargets(['h1']);
  await tick();
  dials.shift()!.reject(new TsweaveError('ERR_AUTH_FAILED', 'authentication failed (password mismatch?)'));
  await tick();
  assert.ok(delayOf() >= RECONNECT_SLOW_INITIAL_MS / 2);
});

test('a long-lived connection that drops is retried at once; a short-lived one backs off', async () => {
  const { maker, router, dials, tick, status, delayOf } = setup();
  maker.addTargets(['h1']);
  await tick();
  const peer = peerNameFromNumber(2);
  const c1 = new FakeConn(peer, true, 'h1:6783');
  dials.shift()!.resolve(c1);
  await tick();
  assert.equal(status().state, 'connected');
  assert.equal(status().peer, peer);
  assert.equal(router.connectionTo(peer), c1);
  // Up for longer than RECONNECT_RESET_AFTER_MS, then lost: immediate retry.
  await tick(RECONNECT_RESET_AFTER_MS + 1);
  router.removeConnection(c1, 'connection reset by peer');
  await tick();
  assert.equal(dials.length, 1, 'retried immediately');
  assert.equal(status().state, 'retrying');
  assert.equal(status().error, 'connection reset by peer');
  const c2 = new FakeConn(peer, true, 'h1:6783');
  dials.shift()!.resolve(c2);
  await tick();
  // Up for 5 s only: the next try waits.
  await tick(5_000);
  router.removeConnection(c2, 'EOF');
  await tick();
  assert.equal(dials.length, 0);
  assert.equal(status().state, 'failed');
  assert.ok(delayOf() >= RECONNECT_INITIAL_MS / 2);
});

test('no dial to a peer we are already connected to; forget and replace', async () => {
  const { maker, router, dials, tick, status } = setup();
  // An inbound connection from the peer listening at 10.0.0.2:6783.
  router.addConnection(new FakeConn(peerNameFromNumber(2), false, '10.0.0.2:41234', 6783));
  maker.addTargets(['10.0.0.2', '10.0.0.3:6783']);
  await tick();
  assert.deepEqual(dials.map((d) => d.address), ['10.0.0.3:6783']);
  assert.equal(status('10.0.0.2').state, 'connected');
  assert.throws(() => maker.addTargets(['bad host!']), { code: 'ERR_CONFIG' });
  maker.addTargets(['10.0.0.4'], true);
  assert.deepEqual(maker.targets(), ['10.0.0.4:6783']);
  maker.forgetTargets(['10.0.0.4']);
  assert.deepEqual(maker.targets(), []);
  assert.equal(maker.statusOf('10.0.0.4'), undefined);
});

test('discovery: dials peers learnt from topology at ip:listenPort, within the discovery limit; off when disabled', async () => {
  for (const discovery of [true, false]) {
    const { maker, router, dials, tick } = setup({ discovery, discoveryLimit: 3 });
    const p2 = peerNameFromNumber(2);
    const c = new FakeConn(p2, true, '10.0.0.2:6783');
    router.addConnection(c);
    // Peer 2 says it is connected to 3 (inbound from 10.0.0.3:5555, listening on 7000), 4 and 5.
    const conn = (n: number, address: string, listenPort: number) => ({
      name: peerNameFromNumber(n), address, outbound: false, established: true, listenPort,
    });
    const e2 = {
      name: p2, nickname: 'two', uid: 'u2', version: 3,
      connections: [conn(1, '10.0.0.1:1', 6783), conn(3, '10.0.0.3:5555', 7000), conn(4, '10.0.0.4:5555', 6783), conn(5, '10.0.0.5:5555', 6783)],
    };
    router.handleMessage(c, { kind: 'gossip', channel: 'topology', payload: encodeTopology([e2]) });
    await tick(200);
    if (!discovery) {
      assert.equal(dials.length, 0);
      continue;
    }
    // Limit 3 with one connection already: two of the three are dialled.
    assert.equal(dials.length, 2);
    for (const d of dials) assert.ok(['10.0.0.3:7000', '10.0.0.4:6783', '10.0.0.5:6783'].includes(d.address), d.address);
    assert.ok(maker.snapshot().entries.every((e) => !e.direct && e.state === 'connecting'));
  }
});
