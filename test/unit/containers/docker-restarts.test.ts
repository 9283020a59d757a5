import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/core/logger.js';
import { DockerRestarts, type DockerState } from '../../../src/containers/docker-restarts.js';
import { FakeClock } from '../../support/fake-clock.js';

function setup() {
  const clock = new FakeClock();
  const states = new Map<string, DockerState>();
  const log: string[] = [];
  let failReattach = false;
  const r = new DockerRestarts({
    clock,
    logger: silentLogger(),
    state: async (id) => states.get(id) ?? 'gone',
    reattach: async (id) => {
      if (failReattach) throw new Error('netns vanished');
      log.push(`reattach ${id}`);
    },
    release: async (id) => {
      log.push(`release ${id}`);
    },
  }, 5_000);
  return { clock, states, log, r, failReattaches: (v: boolean) => (failReattach = v) };
}

test('a stopped container keeps its addresses; start re-attaches it; rm releases it', async () => {
  const { states, log, r } = setup();
  states.set('c1', 'stopped');
  r.died('c1');
  await r.settled();
  assert.deepEqual(log, [], 'a stop must neither release nor re-attach');
  assert.deepEqual(r.stoppedIds(), ['c1']);
  states.set('c1', 'running');
  r.event({ id: 'c1', action: 'start' });
  await r.settled();
  assert.deepEqual(log, ['reattach c1']);
  assert.deepEqual(r.stoppedIds(), []);
  // Stopped again, then removed: released once.
  states.set('c1', 'stopped');
  r.died('c1');
  await r.settled();
  states.delete('c1');
  r.event({ id: 'c1', action: 'destroy' });
  r.event({ id: 'c1', action: 'destroy' });
  await r.settled();
  assert.deepEqual(log, ['reattach c1', 'release c1']);
});

test('docker restart: the container is already running when its death is looked at', async () => {
  const { states, log, r } = setup();
  states.set('c1', 'running');
  r.died('c1');
  r.event({ id: 'c1', action: 'start' });
  await r.settled();
  assert.deepEqual(log, ['reattach c1'], 'one re-attach, not two');
});

test('events of containers it does not hold are ignored; Docker unreachable releases nothing', async () => {
  const { clock, states, log, r } = setup();
  r.event({ id: 'x', action: 'start' });
  r.event({ id: 'x', action: 'destroy' });
  states.set('c1', 'unknown');
  r.died('c1');
  await r.settled();
  clock.advance(5_000);
  await r.settled();
  assert.deepEqual(log, []);
  assert.deepEqual(r.stoppedIds(), ['c1']);
});

test('the sweep catches a restart or a removal whose event was missed, and retries a failed re-attach', async () => {
  const { clock, states, log, r, failReattaches } = setup();
  states.set('a', 'stopped');
  states.set('b', 'stopped');
  r.died('a');
  r.died('b');
  await r.settled();
  states.set('a', 'running');
  states.delete('b');
  failReattaches(true);
  clock.advance(5_000);
  await r.settled();
  assert.deepEqual(log, ['release b']);
  assert.deepEqual(r.stoppedIds(), ['a'], 'a failed re-attach keeps it for the next try');
  failReattaches(false);
  clock.advance(5_000);
  await r.settled();
  assert.deepEqual(log, ['release b', 'reattach a']);
  assert.equal(clock.pending(), 0, 'no sweep once nothing is stopped');
});
