import { test } from 'vitest';
import assert from 'node:assert/strict';
import { DurableWriter } from '../../../src/core/durable-writer.js';

/** A store whose writes finish when the test says so, in any order it likes. */
function slowStore() {
  const state = { value: 0 };
  let disk = -1;
  let inFlight = 0;
  let maxInFlight = 0;
  const pending: Array<{ snapshot: number; done: (err?: Error) => void }> = [];
  const fail = { next: false };
  const writer = new DurableWriter(
    () =>
      new Promise<void>((resolve, reject) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const snapshot = state.value;
        pending.push({
          snapshot,
          done: (err) => {
            inFlight--;
            if (err) reject(err);
            else {
              disk = snapshot;
              resolve();
            }
          },
        });
      }),
  );
  return { state, writer, pending, fail, disk: () => disk, maxInFlight: () => maxInFlight };
}

const tick = () => new Promise((r) => setImmediate(r));

test('one write at a time; every change ends up on disk and durable() waits for its own', async () => {
  const s = slowStore();
  const waits: Promise<void>[] = [];
  const resolved: number[] = [];
  for (let i = 1; i <= 5; i++) {
    s.state.value = i;
    const g = s.writer.changed();
    waits.push(s.writer.durable(g).then(() => void resolved.push(i)));
  }
  await tick();
  assert.equal(s.pending.length, 1, 'a single write in flight');
  s.pending.shift()!.done(); // wrote snapshot 1
  await tick();
  assert.deepEqual(resolved, [1]);
  assert.equal(s.pending.length, 1);
  assert.equal(s.pending[0]!.snapshot, 5, 'the next write covers every change made meanwhile');
  s.pending.shift()!.done();
  await Promise.all(waits);
  assert.deepEqual(resolved.sort(), [1, 2, 3, 4, 5]);
  assert.equal(s.disk(), 5);
  assert.equal(s.maxInFlight(), 1);
});

test('a failed write rejects the changes it covered; the next change retries', async () => {
  const s = slowStore();
  s.state.value = 1;
  const first = s.writer.durable(s.writer.changed());
  await tick();
  s.pending.shift()!.done(new Error('ENOSPC'));
  await assert.rejects(first, /ENOSPC/);
  await assert.rejects(s.writer.durable(1), /ENOSPC/);
  s.state.value = 2;
  const second = s.writer.durable(s.writer.changed());
  await tick();
  s.pending.shift()!.done();
  await second;
  await s.writer.durable(1); // covered by the later successful write
  assert.equal(s.disk(), 2);
});
