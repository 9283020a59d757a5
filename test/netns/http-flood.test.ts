// Holding connections to the router's HTTP listeners cannot take its file descriptors.
//
//   underlay switch (10.200.0.0/24)
//     h1 10.200.0.1        tsweave router, open-files limit 1024, metrics on 0.0.0.0:6782
//       + a local unprivileged user (uid 65534) holding 1200 connections to the read-only API 127.0.0.1:6784
//     at 10.200.0.100      a remote client holding 1200 connections to the metrics listener 10.200.0.1:6782
//     h2 10.200.0.2        a new peer, launched during the hold
//
// Before: nothing capped the HTTP listeners and a silent connection was never closed, so the holders took
// every descriptor the router had: its CLI socket stopped answering, new peers, DNS forwards and iptables
// calls failed with EMFILE. Now each listener holds at most 64 connections (16 per address), silent ones
// are closed after 10 s, and what was refused is counted (/stats http, tsweave_http_refused_total).
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../../src/io/exec.js';
import { killAndWait, requireRoot, type Netns } from '../support/netns.js';
import { Cluster, TSWEAVE_BIN, inNs, routerStats, waitFor, type Host } from '../support/cluster.js';

requireRoot('the HTTP flood test');

const HOLD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'conn-hold.mjs');
const HOLD = 1200;
const FD_LIMIT = 1024;
const PW = randomBytes(12).toString('hex');
const c = new Cluster('htf');
let h1: Host;
let h2: Host;
let at: Netns;
let pid: number;

beforeAll(async () => {
  await c.init();
  h1 = await c.addHost(1);
  h2 = await c.addHost(2);
  at = await c.addContainer('at');
  await c.underlay.connect(at, 'eth0', '10.200.0.100/24');
  // The daemon inherits the launching CLI's limits: 1024 open files, a common default.
  await exec('ip', ['netns', 'exec', h1.ns.name, 'prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`, process.execPath, TSWEAVE_BIN,
    'launch', '--password', PW, '--nickname', 'h1', '--ipalloc-range', '', '--metrics-addr', '0.0.0.0:6782'], { timeoutMs: 90_000, env: c.envFor(h1) });
  pid = (await c.routerPid(h1))!;
  assert.match(await readFile(`/proc/${pid}/limits`, 'utf8'), new RegExp(`Max open files\\s+${FD_LIMIT}\\s`));
});

afterAll(async () => {
  await c.cleanup();
});

function hold(ns: string, host: string, port: number, asUser: boolean): { child: ChildProcess; last: () => Record<string, number> } {
  const user = asUser ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'] : [];
  const child = spawn('ip', ['netns', 'exec', ns, ...user, '/usr/bin/node', HOLD_SCRIPT, host, String(port), String(HOLD)], { stdio: ['ignore', 'pipe', 'inherit'] });
  c.lab.onCleanup(() => killAndWait(child));
  let last: Record<string, number> = {};
  child.stdout!.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line.startsWith('{')) last = JSON.parse(line) as Record<string, number>;
  });
  return { child, last: () => last };
}

describe('HTTP listener flood', () => {
  test('a local user on the API and a remote client on the metrics port hold 1200 connections each: descriptors stay bounded, the CLI answers, a new peer joins', async () => {
    const local = hold(h1.ns.name, '127.0.0.1', 6784, true);
    const remote = hold(at.name, h1.ip, 6782, false);
    await waitFor('both holders to have tried all their connections', async () =>
      local.last()['tried'] === HOLD && remote.last()['tried'] === HOLD, 60_000, 500);

    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    const status = await c.tsweave(h1, 'status');
    await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', '--ipalloc-range', '', h1.ip);
    await waitFor('h1 to hold an established connection to h2 during the hold', async () =>
      (await c.ok(h1, 'status', 'connections')).split('\n').some((l) => l.includes('(h2)') && / established /.test(l)), 30_000, 500);
    const during = { local: local.last(), remote: remote.last() };
    await Promise.all([killAndWait(local.child), killAndWait(remote.child)]);
    // The TCP API was full during the hold (by design: the CLI's socket is the door that must answer);
    // the holders' admitted connections were silent, and are closed after the idle deadline at the latest.
    await waitFor('the TCP API to answer again', async () =>
      /Service: router/.test(await inNs(h1.ns.name, ['curl', '-s', '-m', '2', 'http://127.0.0.1:6784/status'])), 20_000, 500);
    const http = (await routerStats<{ http: Record<string, Record<string, number>> }>(h1)).http;
    const metrics = await inNs(h1.ns.name, ['curl', '-s', '-m', '5', 'http://127.0.0.1:6782/metrics']);
    console.log(`router fds ${fds} (limit ${FD_LIMIT}); holders ${JSON.stringify(during)}; http ${JSON.stringify(http)}`);

    assert.ok(fds < 400, `the router holds ${fds} descriptors during the hold`);
    assert.equal(status.code, 0, `tsweave status over the unix socket during the hold: ${status.stderr}`);
    const refused = (l: string) => (http[l]?.['refusedFull'] ?? 0) + (http[l]?.['refusedPerAddress'] ?? 0);
    assert.ok(refused('apiTcp') > 1000, `API refusals counted: ${JSON.stringify(http)}`);
    assert.ok(refused('status') > 1000, `metrics refusals counted: ${JSON.stringify(http)}`);
    assert.match(metrics, /^tsweave_http_refused_total\{listener="apiTcp",reason="per_address"\} [1-9]/m);
  });
});
