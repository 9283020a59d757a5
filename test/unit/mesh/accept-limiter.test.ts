// The control listener's gates before authentication: AcceptLimiter (accept rate per source address and
// in total) and PendingHandshakes (handshakes in progress, in total and per address, with eviction).
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { AcceptLimiter, PendingHandshakes } from '../../../src/mesh/accept-limiter.js';
import { FakeClock } from '../../support/fake-clock.js';

test('accept limiter: a burst of 20, then one per 50 ms, per address', () => {
  const clock = new FakeClock();
  const l = new AcceptLimiter({ clock });
  const a = '10.0.0.1';
  for (let i = 0; i < 20; i++) assert.equal(l.tryAccept(a), true, `burst ${i}`);
  assert.equal(l.tryAccept(a), false);
  clock.advance(49);
  assert.equal(l.tryAccept(a), false);
  clock.advance(1);
  assert.equal(l.tryAccept(a), true);
  assert.equal(l.tryAccept(a), false);
  clock.advance(10_000);
  assert.equal(l.tokens(a), 20, 'never more than the burst');
  assert.equal(l.refused, 3);
});

test('accept limiter: one address flooding does not take the tokens of another (a new peer still gets in)', () => {
  const clock = new FakeClock();
  const l = new AcceptLimiter({ clock });
  // The flood: 1000 connections a second from one address for 10 s.
  let flood = 0;
  let peer = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    if (l.tryAccept('10.0.0.66')) flood++;
    if (ms % 2000 === 0 && l.tryAccept('10.0.0.2')) peer++;
    clock.advance(1);
  }
  assert.equal(peer, 5, 'every one of the peer\'s tries was accepted');
  assert.ok(flood <= 20 + 10_000 / 50 + 1, `the flooder got ${flood}, at most its own rate`);
  assert.ok(l.refused > 9000);
});

test('accept limiter: the global bucket bounds many addresses together; the tracked addresses stay bounded', () => {
  const clock = new FakeClock();
  const l = new AcceptLimiter({ clock }, { burst: 2, refillMs: 100, globalFactor: 5, maxTracked: 50 });
  let ok = 0;
  for (let i = 0; i < 1000; i++) if (l.tryAccept(`10.1.${i >> 8}.${i & 255}`)) ok++;
  assert.equal(ok, 10, 'the global burst (2 × 5) caps a burst from 1000 addresses');
  assert.equal(l.refusedGlobal, 990);
  assert.ok(l.tracked <= 50, `tracked ${l.tracked}`);
  clock.advance(20);
  assert.equal(l.tryAccept('10.2.0.1'), true, 'the global bucket refills at 5 × one address\'s rate');
});

test('pending handshakes: per-address cap, total cap, slots come back once per release', () => {
  const p = new PendingHandshakes({ max: 5, maxPerAddress: 3 });
  const a = [p.tryEnter('10.0.0.1'), p.tryEnter('10.0.0.1'), p.tryEnter('10.0.0.1')];
  assert.ok(a.every((r) => r !== undefined));
  assert.equal(p.tryEnter('10.0.0.1'), undefined, 'a fourth from the same address is refused');
  const b1 = p.tryEnter('10.0.0.2');
  const b2 = p.tryEnter('10.0.0.2');
  assert.ok(b1 && b2, 'another address still gets in while the first one is at its cap');
  assert.equal(p.tryEnter('10.0.0.3'), undefined, 'the total cap holds (nothing evictable)');
  assert.equal(p.pending, 5);
  assert.equal(p.refused, 2);
  a[0]!();
  a[0]!(); // idempotent: a double release must not free a second slot
  assert.equal(p.pending, 4);
  assert.ok(p.tryEnter('10.0.0.3'));
  assert.equal(p.tryEnter('10.0.0.4'), undefined);
  for (const r of [a[1]!, a[2]!, b1, b2]) r();
  assert.equal(p.pending, 1);
  assert.ok(p.tryEnter('10.0.0.1') && p.tryEnter('10.0.0.1') && p.tryEnter('10.0.0.1'), 'all of 10.0.0.1 slots are back');
});

test('pending handshakes: slowloris from a few addresses cannot keep a newcomer out; the greediest address\'s oldest goes', () => {
  const p = new PendingHandshakes({ max: 8, maxPerAddress: 4 });
  const closed: string[] = [];
  const from = new Map<string, string>();
  const enter = (addr: string, tag: string) => {
    from.set(tag, addr);
    return p.tryEnter(addr, () => closed.push(tag));
  };
  // Two attackers hold every slot (4 each), admitted alternately: a0 b0 a1 b1 …
  for (let i = 0; i < 4; i++) {
    assert.ok(enter('10.9.0.1', `a${i}`));
    assert.ok(enter('10.9.0.2', `b${i}`));
  }
  assert.equal(p.pending, 8);
  const peer = enter('10.0.0.2', 'peer');
  assert.ok(peer, 'the newcomer is admitted');
  assert.deepEqual(closed, ['a0'], 'the oldest handshake of the greediest address was closed');
  assert.equal(p.evicted, 1);
  assert.equal(p.pending, 8);
  // Each attacker reconnects from the address whose connection was just closed, 20 times: every time
  // one of the attackers' own handshakes makes room, never the peer's.
  for (let i = 0; i < 20; i++) assert.ok(enter(from.get(closed.at(-1)!)!, `again${i}`), `reconnection ${i}`);
  assert.ok(!closed.includes('peer'), `the peer's handshake survived: ${closed.join(' ')}`);
  assert.equal(p.evicted, 21);
  // A newcomer from an address holding as many slots as the greediest is refused, not admitted.
  const third = new PendingHandshakes({ max: 2, maxPerAddress: 2 });
  assert.ok(third.tryEnter('10.9.0.1', () => undefined));
  assert.ok(third.tryEnter('10.9.0.2', () => undefined));
  assert.equal(third.tryEnter('10.9.0.2', () => undefined), undefined);
  // Handshakes without an evict callback are never closed by others.
  const q = new PendingHandshakes({ max: 1, maxPerAddress: 1 });
  assert.ok(q.tryEnter('10.0.0.1'));
  assert.equal(q.tryEnter('10.0.0.2', () => undefined), undefined);
  peer!();
  assert.equal(p.pending, 7);
});
