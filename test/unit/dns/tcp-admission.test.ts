// TCP connection admission for weaveDNS: per-client cap, total cap, eviction of the longest-idle connection.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { TcpAdmission, type TcpSlot } from '../../../src/dns/tcp-admission.js';

class Slot implements TcpSlot {
  constructor(
    readonly client: string,
    public idleSince: number,
    public isBusy = false,
  ) {}
  busy(): boolean {
    return this.isBusy;
  }
  lastActiveMs(): number {
    return this.idleSince;
  }
}

test('a client at its cap is refused; others still get in', () => {
  const a = new TcpAdmission<Slot>(100, 3);
  for (let i = 0; i < 3; i++) assert.deepEqual(a.admit(new Slot('10.32.0.9', i)), { admit: true });
  assert.deepEqual(a.admit(new Slot('10.32.0.9', 9)), { admit: false, reason: 'per-client limit' });
  assert.deepEqual(a.admit(new Slot('10.32.0.7', 9)), { admit: true });
  assert.equal(a.size, 4);
});

test('when full, the newcomer takes the slot of the longest-idle connection of the biggest holder', () => {
  const a = new TcpAdmission<Slot>(5, 4);
  const hog = [new Slot('hog', 50), new Slot('hog', 10, true), new Slot('hog', 30), new Slot('hog', 40)];
  const other = new Slot('other', 1); // idle longest of all, but its owner holds only one
  for (const s of [...hog, other]) assert.equal(a.admit(s).admit, true);
  const d = a.admit(new Slot('new', 100));
  assert.deepEqual(d, { admit: true, evict: hog[2] }, 'the busy one (idle since 10) is skipped');
  assert.equal(a.size, 5);
  a.remove(hog[2]!); // the caller closes it; removing twice is harmless
  assert.equal(a.size, 5);
});

test('when every connection is busy the newcomer is refused; a closed one frees its slot', () => {
  const a = new TcpAdmission<Slot>(2, 2);
  const s1 = new Slot('x', 1, true);
  const s2 = new Slot('y', 2, true);
  a.admit(s1);
  a.admit(s2);
  assert.deepEqual(a.admit(new Slot('z', 3)), { admit: false, reason: 'all connections busy' });
  a.remove(s1);
  const z = new Slot('z', 3);
  assert.deepEqual(a.admit(z), { admit: true });
  assert.deepEqual(a.admit(new Slot('x', 4)), { admit: true, evict: z }, 'z is idle: it makes room');
});
