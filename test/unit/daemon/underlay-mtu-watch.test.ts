// The underlay MTU watch: looks up routes only when UDP send errors or the host's IPv4 fragments grow, and
// names the peer, its MTU and the --mtu that fits when the route is too small for a full datagram.
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { LogLimiter } from '../../../src/core/log-limiter.js';
import { UnderlayMtuWatch } from '../../../src/daemon/underlay-mtu-watch.js';
import { parseFragCreates } from '../../../src/io/host-network.js';
import { FakeClock } from '../../support/fake-clock.js';

function setup(routeMtu: number) {
  const clock = new FakeClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const state = { errors: 0, fragments: 100, lookups: 0 };
  const watch = new UnderlayMtuWatch({
    clock, logger, limiter: new LogLimiter(clock),
    hostNet: {
      routeMtu: async () => {
        state.lookups++;
        return routeMtu;
      },
      fragmentsCreated: async () => state.fragments,
    },
    sendErrors: () => state.errors,
    peers: () => ['10.0.0.2'],
  }, { mtu: 1376, maxDatagramBytes: 1442 });
  const errors = () => lines.filter((l) => l['level'] === 50).map((l) => String(l['msg']));
  return { watch, state, errors };
}

describe('UnderlayMtuWatch', () => {
  test('nothing grew: no route lookup, nothing logged', async () => {
    const { watch, state, errors } = setup(1200);
    watch.start();
    await new Promise((r) => setImmediate(r));
    await watch.check();
    expect(state.lookups).toBe(0);
    expect(errors()).toEqual([]);
  });

  test('fragments grew (datagrams fragmented, none refused): the peer, its MTU and the --mtu that fits', async () => {
    const { watch, state, errors } = setup(1200);
    watch.start();
    await new Promise((r) => setImmediate(r));
    state.fragments += 50;
    await watch.check();
    expect(state.lookups).toBe(1);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toContain('the underlay MTU to 10.0.0.2 is 1200');
    expect(errors()[0]).toContain('--mtu 1106');
  });

  test('send errors grew but the route is big enough: nothing logged', async () => {
    const { watch, state, errors } = setup(1500);
    watch.start();
    await new Promise((r) => setImmediate(r));
    state.errors++;
    await watch.check();
    expect(state.lookups).toBe(1);
    expect(errors()).toEqual([]);
  });
});

describe('parseFragCreates', () => {
  test('reads FragCreates from the Ip lines', () => {
    const snmp = 'Ip: Forwarding DefaultTTL InReceives FragOKs FragFails FragCreates OutTransmits\n' +
      'Ip: 1 64 123 4 0 77 999\nIcmp: InMsgs\nIcmp: 3\n';
    expect(parseFragCreates(snmp)).toBe(77);
  });
  test('absent or garbled: undefined', () => {
    expect(parseFragCreates('')).toBeUndefined();
    expect(parseFragCreates('Ip: Forwarding\nIp: 1\n')).toBeUndefined();
    expect(parseFragCreates('Ip: FragCreates\nIp: x\n')).toBeUndefined();
  });
});
