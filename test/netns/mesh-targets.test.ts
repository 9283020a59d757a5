// Issue 3: targets at run time, --no-discovery, discovery from one target, and the connections a router
// must refuse (itself, a peer-name collision, the connection limit), on the real kernel through the CLI.
//
//   underlay switch ns (br0 10.200.0.0/24)
//     h1 10.200.0.1  launch --no-discovery
//     h2 10.200.0.2  launch --no-discovery h1
//     h3 10.200.0.3  launch --no-discovery h2          → knows h1 by gossip, never dials it
//     h4 10.200.0.4  launch h2                         → discovery: dials h1 and h3 itself
//     h5 10.200.0.5  launch --name <h2's name> h2      → peer name collision, retry: never
//     h6 10.200.0.6  launch --conn-limit 1 h1 h2       → one connection, refuses more
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { requireRoot } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the mesh targets test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('mtg');
const h: Host[] = [];

const launch = (n: number, ...args: string[]) =>
  c.ok(h[n]!, 'launch', '--password', PW, '--nickname', `h${n}`, '--ipalloc-range', '', ...args);

async function connLines(n: number): Promise<string[]> {
  return (await c.ok(h[n]!, 'status', 'connections')).split('\n').filter((l) => l.trim() !== '');
}

/** Nicknames of the peers host n has an established connection with, by direction. */
async function established(n: number): Promise<{ out: string[]; in: string[] }> {
  const lines = (await connLines(n)).filter((l) => / established /.test(l));
  const nick = (l: string) => /\((h\d)\)/.exec(l)?.[1] ?? '?';
  return {
    out: lines.filter((l) => l.startsWith('->')).map(nick).sort(),
    in: lines.filter((l) => l.startsWith('<-')).map(nick).sort(),
  };
}

const all = async (n: number) => {
  const e = await established(n);
  return [...e.out, ...e.in].sort();
};

beforeAll(async () => {
  await c.init();
  for (const n of [1, 2, 3, 4, 5, 6]) h[n] = await c.addHost(n);
});

afterAll(async () => {
  await c.cleanup();
});

describe('targets, discovery and refused connections', () => {
  test('--no-discovery: h3 learns h1 by gossip but only dials its own target', async () => {
    await launch(1, '--no-discovery');
    await launch(2, '--no-discovery', h[1]!.ip);
    await launch(3, '--no-discovery', h[2]!.ip);
    await waitFor('h3 to know h1 through h2', async () => /\(h1\)/.test(await c.ok(h[3]!, 'status', 'peers')), 20_000);
    await waitFor('h2–h3 established', async () => (await all(3)).join() === 'h2');
    // Give discovery every chance to (wrongly) act: several topology batches.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.deepEqual(await all(3), ['h2'], 'h3 dialled only h2');
    assert.deepEqual(await all(1), ['h2'], 'h1 did not dial h3 either');
    assert.match(await c.ok(h[3]!, 'status'), /PeerDiscovery: disabled/);
    assert.equal((await c.ok(h[3]!, 'status', 'targets')).trim(), `${h[2]!.ip}:6783`);
  });

  test('connect, forget and connect --replace change the targets at run time', async () => {
    await c.ok(h[3]!, 'connect', h[1]!.ip);
    await waitFor('h3 → h1 established after `connect`', async () => (await established(3)).out.includes('h1'));
    assert.equal((await c.ok(h[3]!, 'status', 'targets')).trim(), `${h[2]!.ip}:6783\n${h[1]!.ip}:6783`);
    assert.match(await c.ok(h[3]!, 'status'), /Targets: 2\n/);

    await c.ok(h[3]!, 'forget', h[1]!.ip);
    assert.equal((await c.ok(h[3]!, 'status', 'targets')).trim(), `${h[2]!.ip}:6783`);
    // As in Weave, forgetting a target does not drop a connection that is up.
    assert.deepEqual(await all(3), ['h1', 'h2']);

    await c.ok(h[3]!, 'connect', '--replace', `${h[1]!.ip}:6783`);
    assert.equal((await c.ok(h[3]!, 'status', 'targets')).trim(), `${h[1]!.ip}:6783`);
    assert.match(await c.ok(h[3]!, 'status'), /Targets: 1\n/);
    const bad = await c.tsweave(h[3]!, 'connect', `${h[1]!.ip}:99999`);
    assert.notEqual(bad.code, 0, 'a bad target is refused');
    assert.match(bad.stderr, /invalid peer "10\.200\.0\.1:99999": port must be a number 1\.\.65535/);
    assert.equal((await c.ok(h[3]!, 'status', 'targets')).trim(), `${h[1]!.ip}:6783`, 'and changes nothing');
  });

  test('discovery: h4, given only h2, connects to every peer by itself', async () => {
    await launch(4, h[2]!.ip);
    await waitFor('h4 connected to h1, h2 and h3', async () => (await all(4)).join() === 'h1,h2,h3', 30_000, 300);
    const e = await established(4);
    assert.deepEqual(e.out, ['h1', 'h2', 'h3'], 'h4 dialled them all itself');
    assert.equal((await c.ok(h[4]!, 'status', 'targets')).trim(), `${h[2]!.ip}:6783`);
  });

  test('a router cannot connect to itself: failed, retry: never', async () => {
    await c.ok(h[4]!, 'connect', h[4]!.ip);
    const line = await waitFor('the self-connection to fail', async () =>
      (await connLines(4)).find((l) => l.startsWith(`-> ${h[4]!.ip}:6783`) && / failed /.test(l)));
    assert.match(line, /^-> 10\.200\.0\.4:6783\s+failed\s+cannot connect to ourself, retry: never$/);
  });

  test('a peer-name collision is detected, shown with both names, and never retried', async () => {
    const h2name = /Name: (\S+)\(h2\)/.exec(await c.ok(h[2]!, 'status'))![1]!;
    await launch(5, '--name', h2name, h[2]!.ip);
    const line = await waitFor('the collision in h5\'s status', async () =>
      (await connLines(5)).find((l) => l.includes('collision')));
    assert.equal(line, `-> ${`${h[2]!.ip}:6783`.padEnd(21)} failed      local "${h2name}(h5)" and remote "${h2name}(h2)" peer names collision, retry: never`);
    assert.doesNotMatch(await c.ok(h[2]!, 'status', 'peers'), /\(h5\)/, 'the impostor never joined');
  });

  test('--conn-limit 1: one connection, further ones refused with the reason', async () => {
    await launch(6, '--conn-limit', '1', h[1]!.ip, h[2]!.ip);
    await waitFor('h6 with one established connection', async () => (await all(6)).length === 1);
    // h4 discovers h6 through gossip and dials it; h6 is full and says so.
    const line = await waitFor('h4 to be refused by h6', async () =>
      (await connLines(4)).find((l) => l.startsWith(`-> ${h[6]!.ip}:6783`) && /Connection limit reached \(1\)/.test(l)), 30_000);
    assert.match(line, /^-> 10\.200\.0\.6:6783\s+(failed|retrying)\s+Connection limit reached \(1\)/);
    assert.equal((await all(6)).length, 1);
  });
});
