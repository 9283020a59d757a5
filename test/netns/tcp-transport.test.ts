// Dial failures that loopback cannot produce, inside a namespace this test creates:
//   netns N: eth0 10.99.0.1/24 ── (veth) ── netns P (no address)
//   10.99.0.2 has a permanent neighbour entry with a MAC nobody owns → SYNs vanish → i/o timeout
//   10.99.0.3 has no neighbour and nobody answers ARP → no route to host
// The transport runs in a child `node` inside N (ip netns exec), printing the error message.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { NetnsLab, requireRoot, sh, type Netns } from '../support/netns.js';

const transportModule = fileURLToPath(new URL('../../src/io/tcp-transport.ts', import.meta.url));
const loggerModule = fileURLToPath(new URL('../../src/core/logger.ts', import.meta.url));

describe('tcp transport dial failures in a network namespace', () => {
  requireRoot('test/netns/tcp-transport.test.ts');
  const lab = new NetnsLab('tcp');
  let n: Netns;

  async function dialIn(host: string, port: number, timeoutMs: number): Promise<string> {
    const script = `
      const { TcpTransport } = await import(${JSON.stringify(transportModule)});
      const { silentLogger } = await import(${JSON.stringify(loggerModule)});
      const t = new TcpTransport({ logger: silentLogger() });
      const started = Date.now();
      try { const s = await t.dial(${JSON.stringify(host)}, ${port}, ${timeoutMs}); s.close(); console.log('connected'); }
      catch (err) { console.log(JSON.stringify({ message: err.message, code: err.code, ms: Date.now() - started })); }`;
    const { stdout } = await lab.exec(n, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script);
    return stdout.trim();
  }

  beforeAll(async () => {
    n = await lab.addNetns('n');
    const p = await lab.addNetns('p');
    await lab.addVeth(n, 'eth0', p, 'eth0');
    await lab.ip(n, 'addr', 'add', '10.99.0.1/24', 'dev', 'eth0');
    await lab.ip(n, 'neigh', 'add', '10.99.0.2', 'lladdr', '02:00:00:00:de:ad', 'dev', 'eth0', 'nud', 'permanent');
  });
  afterAll(() => lab.cleanup());

  test('unanswered SYN: "i/o timeout" after the timeout', async () => {
    const r = JSON.parse(await dialIn('10.99.0.2', 6783, 300)) as { message: string; code: string; ms: number };
    assert.equal(r.message, 'dial tcp4 10.99.0.2:6783: i/o timeout');
    assert.equal(r.code, 'ERR_HOST_NETWORK');
    assert.ok(r.ms >= 250 && r.ms < 3000, `took ${r.ms} ms`);
  });

  test('no ARP answer: "no route to host"', async () => {
    const r = JSON.parse(await dialIn('10.99.0.3', 6783, 10_000)) as { message: string };
    assert.equal(r.message, 'dial tcp4 10.99.0.3:6783: no route to host');
  });

  test('no route at all: "network is unreachable"', async () => {
    const r = JSON.parse(await dialIn('192.0.2.1', 6783, 2_000)) as { message: string };
    assert.equal(r.message, 'dial tcp4 192.0.2.1:6783: network is unreachable');
  });
});
