import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/core/logger.js';
import type { ContainerRef } from '../../../src/core/ports.js';
import { DeathWatch, type ContainerEvent, type ContainerEventSource, type DeathReason } from '../../../src/containers/death-watch.js';
import { FakeClock } from '../../support/fake-clock.js';

class FakeRuntime {
  alive = new Set<string>();
  checks = 0;
  failing = false;
  async isAlive(ref: ContainerRef): Promise<boolean> {
    this.checks++;
    if (this.failing) throw new Error('docker down');
    return this.alive.has(ref.id);
  }
}

class FakeEvents implements ContainerEventSource {
  subscriptions = 0;
  onEvent: ((ev: ContainerEvent) => void) | undefined;
  onError: ((err: Error) => void) | undefined;
  closed = 0;
  subscribe(onEvent: (ev: ContainerEvent) => void, onError: (err: Error) => void) {
    this.subscriptions++;
    this.onEvent = onEvent;
    this.onError = onError;
    return { close: () => this.closed++ };
  }
}

const flush = () => new Promise((r) => setImmediate(r));
const ref = (id: string): ContainerRef => ({ id, netnsPath: `/proc/1/ns/net#${id}` });

function setup() {
  const clock = new FakeClock();
  const runtime = new FakeRuntime();
  const events = new FakeEvents();
  const watch = new DeathWatch({ runtime, clock, logger: silentLogger(), events }, { checkIntervalMs: 5_000, resubscribeMs: 2_000 });
  const deaths: [string, DeathReason][] = [];
  watch.onDeath((r, reason) => deaths.push([r.id, reason]));
  return { clock, runtime, events, watch, deaths };
}

test('a Docker die event reports a watched container once; others are ignored', () => {
  const { events, watch, deaths } = setup();
  watch.watch(ref('abc'));
  watch.start();
  events.onEvent!({ id: 'other', action: 'die' });
  events.onEvent!({ id: 'abc', action: 'start' });
  assert.deepEqual(deaths, []);
  events.onEvent!({ id: 'abc', action: 'die' });
  events.onEvent!({ id: 'abc', action: 'destroy' });
  assert.deepEqual(deaths, [['abc', 'event:die']]);
  assert.equal(watch.isWatching('abc'), false);
});

test('periodic check reports namespaces that are gone', async () => {
  const { clock, runtime, watch, deaths } = setup();
  runtime.alive.add('pid:10').add('netns:a');
  watch.watch(ref('pid:10'));
  watch.watch(ref('netns:a'));
  watch.start();
  clock.advance(5_000);
  await flush();
  assert.deepEqual(deaths, []);
  runtime.alive.delete('netns:a');
  clock.advance(4_999);
  await flush();
  assert.deepEqual(deaths, []);
  clock.advance(1);
  await flush();
  assert.deepEqual(deaths, [['netns:a', 'check']]);
  assert.deepEqual(watch.watchedIds(), ['pid:10']);
});

test('unwatch stops reporting; a failing check assumes alive', async () => {
  const { clock, runtime, watch, deaths } = setup();
  watch.watch(ref('x'));
  watch.watch(ref('y'));
  watch.unwatch('x');
  runtime.failing = true;
  watch.start();
  clock.advance(5_000);
  await flush();
  assert.deepEqual(deaths, []);
  runtime.failing = false;
  clock.advance(5_000);
  await flush();
  assert.deepEqual(deaths, [['y', 'check']]);
});

test('a broken event stream is resubscribed after a pause, with a catch-up check', async () => {
  const { clock, runtime, events, watch, deaths } = setup();
  runtime.alive.add('abc');
  watch.watch(ref('abc'));
  watch.start();
  assert.equal(events.subscriptions, 1);
  events.onError!(new Error('stream ended'));
  events.onError!(new Error('again')); // reported twice: handled once
  runtime.alive.delete('abc'); // died while the stream was down
  clock.advance(1_999);
  assert.equal(events.subscriptions, 1);
  clock.advance(1);
  await flush();
  assert.equal(events.subscriptions, 2);
  assert.deepEqual(deaths, [['abc', 'check']]);
});

test('stop cancels the timer and closes the stream', async () => {
  const { clock, runtime, events, watch } = setup();
  watch.watch(ref('a'));
  watch.start();
  watch.stop();
  assert.equal(events.closed, 1);
  clock.advance(60_000);
  await flush();
  assert.equal(runtime.checks, 0);
  assert.equal(clock.pending(), 0);
});

test('without Docker the event stream failing every few seconds is said once, and once when it is back (issue 11.6)', async () => {
  const { createLogger } = await import('../../../src/core/logger.js');
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const clock = new FakeClock();
  const events = new (class extends FakeEvents {
    onOpen: (() => void) | undefined;
    override subscribe(onEvent: (ev: ContainerEvent) => void, onError: (err: Error) => void, onOpen?: () => void) {
      this.onOpen = onOpen;
      return super.subscribe(onEvent, onError);
    }
  })();
  const runtime = new FakeRuntime();
  runtime.failing = true; // every liveness check fails too
  const watch = new DeathWatch({ runtime, clock, logger, events }, { checkIntervalMs: 5_000, resubscribeMs: 5_000 });
  watch.watch(ref('abc'));
  watch.start();
  for (let i = 0; i < 100; i++) {
    events.onError!(new Error('cannot talk to Docker at unix:///var/run/docker.sock: no such socket'));
    clock.advance(5_000);
    await flush();
  }
  assert.ok(events.subscriptions >= 100, 'it keeps trying');
  const warned = (re: RegExp) => lines.filter((l) => l.level >= 40 && re.test(l.msg)).length;
  assert.equal(warned(/event stream unavailable/), 1);
  // 500 s of failing liveness checks: one line per minute, not one per check.
  assert.ok(warned(/liveness check failed/) <= 10, `${warned(/liveness check failed/)} liveness warnings`);
  events.onOpen!();
  events.onOpen!();
  assert.equal(lines.filter((l) => /event stream is back/.test(l.msg)).length, 1);
  events.onError!(new Error('ended'));
  assert.equal(warned(/event stream unavailable/), 2, 'gone again after being back: said again');
  watch.stop();
});
