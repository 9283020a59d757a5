// An attacker without the password on the control port (TCP 6783) cannot keep new peers out.
//
//   underlay switch (10.200.0.0/24)
//     h1 10.200.0.1        tsweave router (password), the target
//     at 10.200.0.100..108 the attacker (test/support/accept-flood.ts):
//                          churn — 400 connections a second from .100, each a preamble and a random
//                          oversize hello length;
//                          slowloris — 8 connections from each of .101..108 (64: every pending-handshake
//                          slot), the preamble one byte a second, reopened the moment one is closed
//     h2 10.200.0.2        a new peer, launched during the attack
//
// Before: the accept rate was one bucket for everyone (20, one per 50 ms), so the churn took every token
// and h2's connections were refused while its backoff grew; and the slowloris held every handshake slot,
// refilling each one the moment the handshake timeout freed it. Now the rate is per source address and a
// newcomer from a less greedy address takes the oldest slot of the greediest. Refusals are counted in
// /stats `inbound` and in tsweave_inbound_refused_total. And the warning for a failed inbound connection
// was rate-limited by its full message, which quoted the stranger's length: one line per connection.
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAndWait, requireRoot, type Netns } from '../support/netns.js';
import { Cluster, inNs, routerStats, sleep, waitFor, type Host } from '../support/cluster.js';

requireRoot('the accept-flood test');

const FLOOD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'accept-flood.ts');
const CHURN_SRC = '10.200.0.100';
const SLOW_SRCS = Array.from({ length: 8 }, (_, i) => `10.200.0.${101 + i}`);
const PW = randomBytes(12).toString('hex');
const c = new Cluster('acf');
let h1: Host;
let h2: Host;
let at: Netns;

beforeAll(async () => {
  await c.init();
  h1 = await c.addHost(1);
  h2 = await c.addHost(2);
  at = await c.addContainer('at');
  await c.underlay.connect(at, 'eth0', `${CHURN_SRC}/24`);
  for (const a of SLOW_SRCS) await c.lab.ip(at, 'addr', 'add', `${a}/24`, 'dev', 'eth0');
  await c.ok(h1, 'launch', '--password', PW, '--nickname', 'h1', '--ipalloc-range', '');
});

afterAll(async () => {
  await c.cleanup();
});

describe('control-port flood without the password', () => {
  test('churn from one address and slowloris from eight: a new peer joins during the attack, refusals are counted', async () => {
    let child: ChildProcess | undefined = spawn('ip', ['netns', 'exec', at.name, process.execPath, '--import', 'tsx',
      FLOOD_SCRIPT, h1.ip, '6783', CHURN_SRC, '400', SLOW_SRCS.join(','), '8'], { stdio: ['ignore', 'pipe', 'inherit'] });
    c.lab.onCleanup(() => child && killAndWait(child));
    let last: Record<string, number> = {};
    child.stdout!.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) if (line.startsWith('{')) last = JSON.parse(line) as Record<string, number>;
    });
    // The attack is in full swing: every slowloris connection open and the churn running.
    await waitFor('the attacker to hold its 64 slow connections', async () => (last['slowOpen'] ?? 0) >= 60, 20_000, 250);
    await sleep(3_000);

    const t0 = Date.now();
    await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', '--ipalloc-range', '', h1.ip);
    await waitFor('h1 to hold an established connection to the new peer h2 during the attack', async () =>
      (await c.ok(h1, 'status', 'connections')).split('\n').some((l) => l.includes('(h2)') && / established /.test(l)), 30_000, 500);
    const joinedMs = Date.now() - t0;

    const inbound = (await routerStats<{ inbound: Record<string, number> }>(h1)).inbound;
    const metrics = await inNs(h1.ns.name, ['curl', '-s', 'http://127.0.0.1:6782/metrics']);
    const attack = { ...last };
    await killAndWait(child);
    child = undefined;
    console.log(`h2 joined ${joinedMs} ms after its launch; attacker ${JSON.stringify(attack)}; h1 inbound ${JSON.stringify(inbound)}`);

    assert.ok((attack['churnConnected'] ?? 0) > 1000, `the churn ran (${JSON.stringify(attack)})`);
    assert.ok((inbound['acceptRefused'] ?? 0) > 500, `the churn's excess is refused and counted: ${JSON.stringify(inbound)}`);
    assert.ok((inbound['pendingEvicted'] ?? 0) > 0, `slowloris handshakes were evicted for newcomers: ${JSON.stringify(inbound)}`);
    assert.ok((inbound['pending'] ?? 99) <= 64, `pending handshakes stay within the cap: ${JSON.stringify(inbound)}`);
    const log = await readFile(join(h1.dataDir, 'tsweave.log'), 'utf8');
    const failedLines = log.split('\n').filter((l) => l.includes('inbound connection failed')).length;
    assert.ok(failedLines <= 10, `${failedLines} "inbound connection failed" lines for ${attack['churnConnected']} hostile connections`);
    const refusedMetric = /^tsweave_inbound_refused_total\{reason="accept_rate"\} (\d+)/m.exec(metrics)?.[1];
    assert.ok(Number(refusedMetric) > 500, `tsweave_inbound_refused_total{reason="accept_rate"} is ${refusedMetric}`);
  });
});
