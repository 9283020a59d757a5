// The pending queue (src/ipam/pending.ts) alone, with a scripted attempt: waiting, reasons in the timeout
// and abort errors, settling, cancelling by predicate, and the after-attempts hook.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../src/core/types.js';
import { allocationOf } from '../../../src/ipam/claims.js';
import { type Pending, PendingQueue, type PendingSpec } from '../../../src/ipam/pending.js';
import { FakeClock } from '../../support/fake-clock.js';

const SPEC: PendingSpec = { kind: 'allocate', containerId: 'c1', subnet: parseCidr('10.32.0.0/12'), window: undefined, addr: 0 };

function queue(attempt: (p: Pending) => 'done' | 'wait' = (p) => ((p.reason = 'waiting for Godot'), 'wait')) {
  const clock = new FakeClock();
  const rounds: boolean[] = [];
  const q: PendingQueue = new PendingQueue(clock, 5_000, {
    attempt,
    hint: (reason) => (reason === 'waiting for Godot' ? ' - he is not coming' : ''),
    afterAttempts: (changed) => rounds.push(changed),
  });
  return { clock, q, rounds };
}

test('a request answered by its first attempt settles at once', async () => {
  const a = allocationOf(0x0a200001, 12);
  let q: PendingQueue | undefined;
  const t = queue((p) => (q!.finish(p, a), 'done'));
  q = t.q;
  assert.equal(await t.q.wait(SPEC, {}, 'allocating'), a);
  assert.equal(t.q.size, 0);
  assert.deepEqual(t.rounds, [true]);
});

test('a waiting request times out with its reason and the hint for it', async () => {
  const { clock, q, rounds } = queue();
  const p = q.wait(SPEC, {}, 'allocating for c1');
  assert.equal(q.size, 1);
  assert.equal(q.find((x) => x.containerId === 'c1')?.reason, 'waiting for Godot');
  assert.deepEqual(rounds, [false]);
  clock.advance(4_999);
  q.tryAll();
  clock.advance(1);
  await assert.rejects(p, { code: 'ERR_IPAM', message: 'allocating for c1: timed out after 5s while waiting for Godot - he is not coming' });
  assert.equal(q.size, 0);
  assert.equal(clock.pending(), 0, 'no timer left behind');
});

test('abort before and while waiting; an own timeout overrides the default; Infinity waits for ever', async () => {
  const { clock, q } = queue();
  const early = new AbortController();
  early.abort();
  await assert.rejects(q.wait(SPEC, { signal: early.signal }, 'x'), { code: 'ERR_IPAM', message: 'x: cancelled before it started' });
  const ac = new AbortController();
  const p = q.wait(SPEC, { signal: ac.signal, timeoutMs: Infinity }, 'y');
  assert.equal(clock.pending(), 0);
  ac.abort();
  await assert.rejects(p, { message: 'y: cancelled while waiting for Godot' });
  const short = q.wait(SPEC, { timeoutMs: 1_000 }, 'z');
  clock.advance(1_000);
  await assert.rejects(short, { message: /^z: timed out after 1s/ });
});

test('an attempt that throws rejects only its own request', async () => {
  const { q } = queue((p) => {
    if (p.containerId === 'bad') throw new Error('boom');
    p.reason = 'waiting';
    return 'wait';
  });
  const good = q.wait(SPEC, { timeoutMs: Infinity }, 'good');
  await assert.rejects(q.wait({ ...SPEC, containerId: 'bad' }, {}, 'bad'), /boom/);
  assert.equal(q.size, 1);
  q.failAll(new Error('stopped'));
  await assert.rejects(good, /stopped/);
});

test('failAll with a predicate rejects the matching requests only, each with its own error', async () => {
  const { q } = queue();
  const c1 = q.wait(SPEC, { timeoutMs: Infinity }, 'a');
  const c2 = q.wait({ ...SPEC, containerId: 'c2' }, { timeoutMs: Infinity }, 'b');
  q.failAll((p) => new Error(`freed ${p.containerId}`), (p) => p.containerId === 'c2');
  await assert.rejects(c2, /freed c2/);
  assert.equal(q.size, 1);
  q.finish(q.find(() => true)!, undefined);
  assert.equal(await c1, undefined);
  q.finish({ ...SPEC, reason: '', resolve: () => assert.fail(), reject: () => assert.fail() }, undefined); // not queued: ignored
});
