// Issue 10.7 on the real kernel, through the real CLI: two routers launched with different --ipalloc-range.
// Weave drops their connection and `weave status connections` says why; so must we, on both hosts, instead of
// keeping an established connection and saying only "awaiting consensus".
//
//   underlay switch ns (br0 10.200.0.0/24)
//     ├── h1 10.200.0.1  router --ipalloc-range 10.2.0.0/16 (target h2)  c1: attach without address → proposes
//     └── h2 10.200.0.2  router --ipalloc-range 10.3.0.0/16 (target h1)
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the IPAM range mismatch real-kernel test');

const PW = randomBytes(12).toString('hex');
const c = new Cluster('iprm');
let h1: Host, h2: Host;
let c1: Netns;

const launch = (h: Host, range: string, target: Host) =>
  c.ok(h, 'launch', '--password', PW, '--nickname', `h${h.n}`, '--ipalloc-range', range, target.ip);

/** The `status connections` line of `from`'s outbound connection (or target) to `to`, in state `state`. */
const connectionLine = async (from: Host, to: Host, state: RegExp): Promise<string | undefined> =>
  (await c.ok(from, 'status', 'connections')).split('\n').find((l) => l.startsWith(`-> ${to.ip}:`) && state.test(l));

beforeAll(async () => {
  await c.init();
  [h1, h2] = await Promise.all([1, 2].map((n) => c.addHost(n))) as [Host, Host];
  h1.env.TSWEAVE_IPAM_WAIT_MS = '3000';
  c1 = await c.addContainer('c1');
});

afterAll(async () => {
  await c.cleanup();
});

describe('IPAM range mismatch', () => {
  test('the connection fails and status connections shows the reason on both hosts', async () => {
    await launch(h1, '10.2.0.0/16', h2);
    await launch(h2, '10.3.0.0/16', h1);
    // Either may have dialled the connection that won; only that one is listed as connected.
    await waitFor('h1 and h2 connected', async () => / established /.test(await c.ok(h1, 'status', 'connections')));

    // The first allocation on h1 proposes over the mesh; h2 sees h1's range and closes the connection.
    const r = await c.tsweave(h1, 'attach', c1.name);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // h2 detects it (h1 never merges anything from h2: an idle peer says nothing); h1 gets the reason with the close.
    const fromH2 = /IPAM range mismatch: [0-9a-f:]{17}\(h2\) has --ipalloc-range 10\.3\.0\.0\/16, [0-9a-f:]{17}\(h1\) has 10\.2\.0\.0\/16/;
    for (const [from, to] of [[h2, h1], [h1, h2]] as const) {
      // Polled: between retries a new connection is briefly up before the same gossip closes it again.
      const line = await waitFor(`h${from.n}'s connection to h${to.n} failing with the reason`, async () => {
        const l = await connectionLine(from, to, / (retrying|failed) /);
        return l !== undefined && fromH2.test(l) && l;
      }, 30_000);
      assert.match(line, new RegExp(`^-> ${to.ip.replace(/\./g, '\\.')}:6783\\s+(retrying|failed)\\s+IPAM range mismatch`));
    }
    assert.match(await c.ok(h1, 'status'), /Status: awaiting consensus \(quorum: 2, known: 1\)/);
  });
});
