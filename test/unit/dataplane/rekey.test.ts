// The data-plane key rotation's exchange (dataplane/rekey.ts Rekeyer) between two simulated ends with
// the real KDF (crypto/rekey-kdf.ts), and the receive-key ring's grace rules.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';

import { nodeRekeyCrypto, type GenerationKeys } from '../../../src/crypto/rekey-kdf.js';
import { RecvKeyRing, Rekeyer, type RekeyMessage } from '../../../src/dataplane/rekey.js';
import { seededRng } from '../../support/rng.js';

const SCHEDULE = { intervalMs: 2000, afterBytes: 1e12, timeoutMs: 1000 };

/** One end: its Rekeyer, the keys the data plane holds, and a log of what it was told, in order. */
class End {
  readonly outbox: RekeyMessage[] = [];
  readonly log: string[] = [];
  recv = new Map<number, Buffer>();
  pendingSend = new Map<number, Buffer>();
  sendGen = 0;
  sendKey: Buffer;
  readonly rk: Rekeyer;
  constructor(name: string, seed: number, k: { sendKey: Buffer; recvKey: Buffer }) {
    this.sendKey = k.sendKey;
    this.recv.set(0, k.recvKey);
    this.rk = new Rekeyer(nodeRekeyCrypto(seededRng(seed)), SCHEDULE, {
      send: (m) => this.outbox.push(m),
      installRecv: (gen, keys: GenerationKeys) => {
        this.log.push(`installRecv ${gen}`);
        this.recv.set(gen, Buffer.from(keys.recvKey));
        this.pendingSend.set(gen, Buffer.from(keys.sendKey));
      },
      switchSend: (gen) => {
        this.log.push(`switchSend ${gen}`);
        this.sendGen = gen;
        this.sendKey = this.pendingSend.get(gen)!;
      },
    }, k, 0);
    void name;
  }
  /** Delivers (or drops) everything queued for the peer. */
  deliver(to: End, now: number, drop = false): number {
    const msgs = this.outbox.splice(0);
    if (!drop) for (const m of msgs) to.rk.onMessage(m, now, 0);
    return msgs.length;
  }
}

function pair(): [End, End] {
  const k1 = randomBytes(32), k2 = randomBytes(32);
  return [new End('a', 1, { sendKey: k1, recvKey: k2 }), new End('b', 2, { sendKey: k2, recvKey: k1 })];
}

/** Runs message exchange until both outboxes are empty. */
function settle(a: End, b: End, now: number): void {
  while (a.outbox.length || b.outbox.length) {
    a.deliver(b, now);
    b.deliver(a, now);
  }
}

/** Each side seals with a key the other has installed as a receive key, at every moment. */
function assertCanOpen(from: End, to: End): void {
  const k = to.recv.get(from.sendGen);
  assert.ok(k, `receiver has generation ${from.sendGen}`);
  assert.deepEqual(k, from.sendKey, 'sender and receiver agree on the key');
}

describe('Rekeyer', () => {
  it('one side initiates: the initiator switches after the responder installed, the responder after the confirmation', () => {
    const [a, b] = pair();
    a.rk.tick(1999, 0);
    assert.equal(a.outbox.length, 0, 'not due yet');
    a.rk.tick(2000, 0);
    assert.deepEqual(a.outbox.map((m) => [m.op, m.gen]), [['init', 1]]);
    a.deliver(b, 2000);
    assert.deepEqual(b.log, ['installRecv 1'], 'responder installs its receive key, keeps sending the old one');
    assertCanOpen(b, a);
    b.deliver(a, 2001);
    assert.deepEqual(a.log, ['installRecv 1', 'switchSend 1']);
    assertCanOpen(a, b);
    a.deliver(b, 2002);
    assert.deepEqual(b.log, ['installRecv 1', 'switchSend 1']);
    assertCanOpen(b, a);
    assert.equal(a.rk.generation, 1);
    assert.equal(b.rk.generation, 1);
    assert.equal(a.rk.stats.rekeys, 1);
    assert.equal(b.rk.stats.rekeys, 1);
    assert.notDeepEqual(a.sendKey, b.sendKey, 'each direction has its own key');
  });

  it('both initiate at once: the two inits make one exchange, no side seals before the other can open', () => {
    const [a, b] = pair();
    a.rk.tick(2000, 0);
    b.rk.tick(2000, 0);
    const [initA] = a.outbox.splice(0);
    const [initB] = b.outbox.splice(0);
    b.rk.onMessage(initA!, 2000, 0); // the two inits cross
    a.rk.onMessage(initB!, 2000, 0);
    assert.deepEqual(a.log, ['installRecv 1']);
    assert.deepEqual(b.log, ['installRecv 1']);
    assertCanOpen(a, b);
    assertCanOpen(b, a);
    settle(a, b, 2001);
    assert.deepEqual(a.log, ['installRecv 1', 'switchSend 1']);
    assert.deepEqual(b.log, ['installRecv 1', 'switchSend 1']);
    assertCanOpen(a, b);
    assertCanOpen(b, a);
    assert.equal(a.rk.generation, 1);
    assert.equal(b.rk.generation, 1);
    assert.equal(a.rk.stats.rejected + b.rk.stats.rejected, 0);
  });

  it('a lost init or a lost resp: the initiator times out, starts over, and both still agree', () => {
    const [a, b] = pair();
    a.rk.tick(2000, 0);
    a.deliver(b, 2000, true); // init lost
    a.rk.tick(2500, 0);
    assert.equal(a.outbox.length, 0, 'still waiting');
    a.rk.tick(3000, 0);
    assert.equal(a.rk.stats.timeouts, 1);
    assert.deepEqual(a.outbox.map((m) => [m.op, m.gen]), [['init', 1]], 'started over with the same generation');
    a.deliver(b, 3000);
    b.deliver(a, 3000, true); // resp lost: b has installed 1 and waits
    assertCanOpen(b, a);
    a.rk.tick(4000, 0); // times out again, new init
    a.deliver(b, 4000); // b answers again from the same chain
    settle(a, b, 4000);
    assert.equal(a.rk.generation, 1);
    assert.equal(b.rk.generation, 1);
    assertCanOpen(a, b);
    assertCanOpen(b, a);
  });

  it('a lost installed: the first datagram the peer sealed with the new generation completes it', () => {
    const [a, b] = pair();
    a.rk.tick(2000, 0);
    a.deliver(b, 2000);
    b.deliver(a, 2000);
    a.deliver(b, 2000, true); // installed lost
    assert.equal(b.rk.phase, 'awaiting');
    b.rk.onPeerSealed(0, 2001, 0); // an old-generation datagram proves nothing
    assert.equal(b.rk.phase, 'awaiting');
    b.rk.onPeerSealed(1, 2002, 0);
    assert.equal(b.rk.generation, 1);
    assertCanOpen(b, a);
  });

  it('stale and hostile messages are counted and change nothing', () => {
    const [a, b] = pair();
    b.rk.onMessage({ op: 'installed', gen: 1 }, 0, 0);
    b.rk.onMessage({ op: 'init', gen: 5, pub: randomBytes(32) }, 0, 0);
    b.rk.onMessage({ op: 'resp', gen: 1, pub: randomBytes(32) }, 0, 0);
    b.rk.onMessage({ op: 'init', gen: 1, pub: Buffer.alloc(32) }, 0, 0); // low-order point
    assert.equal(b.rk.stats.rejected, 4);
    assert.equal(b.outbox.length, 0);
    assert.deepEqual(b.log, []);
    void a;
  });

  it('rekeys after the byte limit before the interval', () => {
    const [a] = pair();
    a.rk.tick(10, 1e12 - 1);
    assert.equal(a.outbox.length, 0);
    a.rk.tick(11, 1e12);
    assert.equal(a.outbox[0]?.op, 'init');
  });

  it('every generation has fresh keys; 300 rotations carry the generation byte through a wrap', () => {
    const [a, b] = pair();
    const seen = new Set<string>([a.sendKey.toString('hex'), b.sendKey.toString('hex')]);
    for (let g = 1; g <= 300; g++) {
      const now = g * 2000;
      (g % 2 ? a : b).rk.tick(now, 0);
      settle(a, b, now);
      assert.equal(a.rk.generation, g);
      assertCanOpen(a, b);
      assertCanOpen(b, a);
      for (const k of [a.sendKey, b.sendKey]) {
        assert.ok(!seen.has(k.toString('hex')), `generation ${g}: a key never seen before`);
        seen.add(k.toString('hex'));
      }
    }
    assert.equal(a.rk.stats.rekeys, 300);
  });
});

describe('RecvKeyRing', () => {
  it('accepts the previous generation during the grace only, then wipes it', () => {
    const disposed: string[] = [];
    const ring = new RecvKeyRing<string>('k0', (h) => disposed.push(h));
    ring.install(1, 'k1', 1000, 500);
    assert.equal(ring.lookup(1, 1000), 'k1');
    assert.equal(ring.lookup(0, 1500), 'k0', 'old key within the grace');
    assert.equal(ring.lookup(0, 1501), undefined, 'old key rejected after the grace');
    assert.deepEqual(disposed, ['k0'], 'and released');
    assert.equal(ring.lookup(0, 1000), undefined, 'for good');
    assert.equal(ring.lookup(2, 1000), undefined, 'an unknown generation');
  });

  it('a third generation drops the first at once; the byte wraps 255 → 0', () => {
    const disposed: string[] = [];
    const ring = new RecvKeyRing<string>('k0', (h) => disposed.push(h));
    ring.install(255, 'k255', 0, 10_000);
    ring.install(256, 'k256', 1, 10_000);
    assert.deepEqual(disposed, ['k0']);
    assert.equal(ring.lookup(0, 2), 'k256', 'generation 256 is byte 0');
    assert.equal(ring.lookup(255, 2), 'k255');
    ring.destroy();
    assert.deepEqual(disposed, ['k0', 'k256', 'k255']);
  });
});
