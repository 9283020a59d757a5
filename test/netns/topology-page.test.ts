// Issue 15, the topology page, in a real browser: headless Chromium (playwright-core, TEST-ENV.md §5)
// opens http://127.0.0.1:6782/ui/ of h1 in a 3-host cluster. Chromium runs in h1's network namespace
// (a wrapper execs it through `ip netns exec`; playwright drives it over a pipe, which crosses namespaces).
// The page loads without console errors, shows every peer and connection, a container and the DNS-less
// IPAM table, and redraws when h3 stops. The screenshot is saved in test-artifacts/ (README shows one).
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireRoot, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the topology page test');

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');
const c = new Cluster('ui');
let h1: Host, h2: Host, h3: Host, c1: Netns;
let tmp: string;
let browser: Browser | undefined;
let page: Page;
const consoleErrors: string[] = [];

/** What the graph shows: node labels and edge classes, read from the page's cytoscape instance. */
async function graph(): Promise<{ nodes: string[]; edges: Array<{ between: string; cls: string; label: string }> }> {
  return page.evaluate(() => {
    // `cy` is the page script's top-level binding (ui/topology.js).
    const g = (globalThis as unknown as { eval: (s: string) => unknown }).eval('cy') as {
      nodes(): { map<T>(f: (n: { data(k: string): string }) => T): T[] };
      edges(): { map<T>(f: (e: { source(): { data(k: string): string }; target(): { data(k: string): string }; classes(): string[]; data(k: string): string }) => T): T[] };
    } | undefined;
    if (!g) return { nodes: [], edges: [] };
    const nick = (n: { data(k: string): string }) => n.data('label').split('\n')[0]!;
    return {
      nodes: g.nodes().map(nick).sort(),
      edges: g.edges().map((e) => ({ between: [nick(e.source()), nick(e.target())].sort().join('-'), cls: e.classes().join(' '), label: e.data('label') }))
        .sort((a, b) => a.between.localeCompare(b.between)),
    };
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tsw-ui-'));
  await c.init();
  [h1, h2, h3] = await Promise.all([1, 2, 3].map((n) => c.addHost(n))) as [Host, Host, Host];
  c1 = await c.addContainer('c1');
  await c.ok(h1, 'launch', '--nickname', 'h1', '--ipalloc-init', 'consensus=3');
  await c.ok(h2, 'launch', '--nickname', 'h2', '--ipalloc-init', 'consensus=3', h1.ip);
  await c.ok(h3, 'launch', '--nickname', 'h3', '--ipalloc-init', 'consensus=3', h1.ip, h2.ip);
  await c.ok(h1, 'attach', c1.name); // IPAM: consensus among the three, then an address
  await waitFor('every router sees two established connections', async () => {
    for (const h of [h1, h2, h3]) {
      const out = await c.ok(h, 'status', 'connections');
      if (out.split('\n').filter((l) => / established /.test(l)).length < 2) return false;
    }
    return true;
  }, 30_000);
  const wrapper = join(tmp, 'chromium-in-h1');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${h1.ns.name} /usr/bin/chromium "$@"\n`);
  await chmod(wrapper, 0o755);
  browser = await chromium.launch({
    executablePath: wrapper,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await c.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

test('the page loads without console errors and shows every peer, connection, container and IP share', async () => {
  await page.goto('http://127.0.0.1:6782/ui/');
  const g = await waitFor('three peers and three connections in the graph', async () => {
    const s = await graph();
    return s.nodes.length === 3 && s.edges.length === 3 ? s : undefined;
  }, 15_000, 250);
  assert.deepEqual(g.nodes, ['h1', 'h2', 'h3']);
  assert.deepEqual(g.edges.map((e) => e.between), ['h1-h2', 'h1-h3', 'h2-h3']);
  const mine = g.edges.filter((e) => e.between.includes('h1'));
  assert.ok(mine.every((e) => e.cls === 'est' || e.cls === 'tcp'), JSON.stringify(mine));
  assert.ok(mine.every((e) => /PLAINTEXT/.test(e.label)), 'no password: the page says the data is not encrypted');
  assert.equal(g.edges.find((e) => e.between === 'h2-h3')!.cls, 'other');
  await waitFor('RTT and throughput on h1\'s connections', async () =>
    (await graph()).edges.filter((e) => /ms · ↑/.test(e.label)).length === 2, 15_000, 250);
  const containers = await page.locator('#containers tbody').innerText();
  assert.match(containers, /10\.\d+\.\d+\.\d+\/12/);
  // The peers that own address space (consensus gave it to some of the three), their shares adding up.
  const ipam = await page.locator('#ipam tbody').innerText();
  assert.match(ipam, /^h1 /m, 'h1 allocated, so it owns space');
  const shares = [...ipam.matchAll(/([\d.]+) %/g)].map((m) => Number(m[1]));
  assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 100) < 0.5, ipam);
  assert.equal(await page.locator('#problems').isHidden(), true, 'no problem to show');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'topology.png') });
  assert.deepEqual(consoleErrors, []);
}, 60_000);

test('when h3 stops, the page drops it within a few seconds; a failed attempt to reach it shows in red with its reason', async () => {
  await c.killRouter(h3);
  const g = await waitFor('h3 to leave the graph', async () => {
    const s = await graph();
    return !s.nodes.includes('h3') ? s : undefined;
  }, 20_000, 250);
  // Only h1–h2 is up; h1 may already show its retries to h3's address (a failed or pending edge).
  assert.deepEqual(g.edges.filter((e) => e.cls !== 'fail' && e.cls !== 'pend').map((e) => e.between), ['h1-h2']);
  // The operator asks h1 to dial the dead host: the attempt fails, and the page says so in red, with the reason.
  await c.ok(h1, 'connect', h3.ip);
  const problem = await waitFor('a problem naming the connection to h3 and why', async () => {
    if (!(await page.locator('#problems').isVisible())) return undefined;
    const text = await page.locator('#problem-list').innerText();
    return /10\.200\.0\.3:6783 (retrying|failed): .*(refused|unreachable|timed out|no route)/i.test(text) ? text : undefined;
  }, 30_000, 250);
  assert.ok(problem);
  assert.equal(await page.locator('#problem-list li').first().evaluate((e) => getComputedStyle(e).color), 'rgb(143, 29, 34)', 'in red');
  const failedNode = await graph();
  assert.ok(failedNode.edges.some((e) => e.between.includes('10.200.0.3:6783') && (e.cls === 'fail' || e.cls === 'pend')), JSON.stringify(failedNode.edges));
  await page.screenshot({ path: join(ARTIFACTS, 'topology-after-h3-left.png') });
  assert.deepEqual(consoleErrors, []);
}, 60_000);
