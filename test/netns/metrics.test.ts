// Issue 15, metrics, on the real kernel with the real clients: two encrypted routers (h1 with the default
// --metrics-addr 127.0.0.1:6782, h2 with 10.200.0.2:6782 on the underlay); `promtool check metrics`
// accepts what /metrics serves; counters move when containers talk and when hostile datagrams arrive;
// a real Prometheus server (in h1's namespace) scrapes both routers and answers a query for
// weave_connections through /api/v1/query.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { killAndWait, requireRoot, type Netns } from '../support/netns.js';
import { Cluster, inNs, waitFor, type Host } from '../support/cluster.js';

requireRoot('the metrics test');

const PW = randomBytes(12).toString('hex');
const STREAM = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'bench', 'stream.py');
const c = new Cluster('met');
let h1: Host, h2: Host, c1: Netns, c2: Netns;
let tmp: string;
let prom: ChildProcess | undefined;

/** GET a URL from inside a host's namespace (node's fetch), the body as text. */
async function fetchIn(h: Host, url: string): Promise<string> {
  return inNs(h.ns.name, [process.execPath, '-e', `fetch(${JSON.stringify(url)}).then(async r => { if (!r.ok) { console.error(r.status, await r.text()); process.exit(1); } process.stdout.write(await r.text()); })`], 30_000);
}

/** One sample's value: `name{labels}` exactly as the exposition prints it. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Sum of every sample of a metric whose labels contain all of `having`. */
function total(text: string, name: string, ...having: string[]): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (having.every((h) => line.includes(h))) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tsw-metrics-'));
  await c.init();
  [h1, h2] = await Promise.all([1, 2].map((n) => c.addHost(n))) as [Host, Host];
  [c1, c2] = await Promise.all(['c1', 'c2'].map((n) => c.addContainer(n))) as [Netns, Netns];
  await c.ok(h1, 'launch', '--password', PW, '--nickname', 'h1');
  await c.ok(h2, 'launch', '--password', PW, '--nickname', 'h2', '--metrics-addr', `${h2.ip}:6782`, h1.ip);
  await c.ok(h1, 'attach', '10.32.0.1/12', c1.name);
  await c.ok(h2, 'attach', '10.32.0.2/12', c2.name);
  await waitFor('h1 and h2 established', async () => / established /.test(await c.ok(h1, 'status', 'connections')));
  await waitFor('c1 reaches c2', async () => (await c.run(c1, 'ping', '-c', '1', '-W', '1', '10.32.0.2')).code === 0, 30_000);
}, 120_000);

afterAll(async () => {
  if (prom) await killAndWait(prom);
  await c.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

test('promtool check metrics accepts the exposition, which has Weave\'s names and no secret', async () => {
  const text = await fetchIn(h1, 'http://127.0.0.1:6782/metrics');
  for (const name of ['weave_connections', 'weave_connection_terminations_total', 'weave_ips', 'weave_max_ips', 'weave_dns_entries',
    'weave_ipam_unreachable_count', 'weave_ipam_unreachable_percentage', 'weave_ipam_pending_allocates', 'weave_ipam_pending_claims',
    'tsweave_connection_bytes_total', 'tsweave_dataplane_dropped_total', 'tsweave_dataplane_frames_total',
    'tsweave_dataplane_csum_partial_frames_total', 'nodejs_eventloop_lag_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.equal(total(text, 'weave_connections', 'state="established"', 'encryption="yes"'), 1);
  assert.equal(sample(text, 'weave_max_ips'), 1 << 20);
  assert.equal(text.includes(PW), false, 'the password is nowhere in it');
  const file = join(tmp, 'metrics.txt');
  await writeFile(file, text + '\n'); // inNs trims the last newline the format needs
  const r = await c.run({ name: h1.ns.name } as Netns, '/bin/sh', '-c', `promtool check metrics < ${file}`);
  // Exit 1 would be a format error; 3 means lint findings. The one finding allowed is Weave's own name,
  // kept so existing dashboards and alerts work (Weave's weaver served the same).
  const findings = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  assert.deepEqual(findings, ['weave_ipam_unreachable_count non-histogram and non-summary metrics should not have "_count" suffix'],
    `promtool exited ${r.code}: ${r.stdout}${r.stderr}`);
  assert.equal(r.code, 3);
});

test('counters move with traffic between containers and with hostile datagrams', async () => {
  const before = await fetchIn(h1, 'http://127.0.0.1:6782/metrics');
  const ping = await c.run(c1, 'ping', '-c', '20', '-i', '0.05', '-s', '1000', '-W', '2', '10.32.0.2');
  assert.equal(ping.code, 0, ping.stderr);
  // A little TCP (c1 → c2): its segments cross with partial checksums (csumPartial), the ACKs too.
  const recv = inNs(c2.name, ['python3', STREAM, 'recv', '10.32.0.2', '7301']);
  await new Promise((r) => setTimeout(r, 300));
  await inNs(c1.name, ['python3', STREAM, 'send', '10.32.0.2', '7301', String(1 << 20), '1']);
  await recv;
  // Hostile: from h2's namespace, 5-byte datagrams (shorter than a header) and 64-byte ones naming no session.
  const send = `const s=require('dgram').createSocket('udp4');const b=[Buffer.alloc(5),Buffer.alloc(64,0xee)];let n=0;` +
    `for(let i=0;i<10;i++)for(const x of b)s.send(x,6783,'${h1.ip}',()=>{if(++n===20)s.close()});`;
  await inNs(h2.ns.name, [process.execPath, '-e', send]);
  const after = await waitFor('the drops to be counted', async () => {
    const t = await fetchIn(h1, 'http://127.0.0.1:6782/metrics');
    return total(t, 'tsweave_dataplane_dropped_total', 'reason="unknown_session"') - total(before, 'tsweave_dataplane_dropped_total', 'reason="unknown_session"') >= 10 ? t : undefined;
  }, 10_000);
  const grew = (name: string, ...having: string[]) => total(after, name, ...having) - total(before, name, ...having);
  assert.ok(grew('tsweave_dataplane_dropped_total', 'reason="short"') >= 10, 'short datagrams');
  assert.ok(grew('tsweave_connection_bytes_total', 'nickname="h2"', 'direction="sent"') >= 20 * 1000, 'bytes sent to h2');
  assert.ok(grew('tsweave_connection_bytes_total', 'nickname="h2"', 'direction="received"') >= 20 * 1000, 'bytes received from h2');
  assert.ok(grew('tsweave_connection_datagrams_total', 'nickname="h2"', 'direction="sent"') >= 20);
  assert.ok(grew('tsweave_dataplane_frames_total') >= 40, 'frames on the fast or the JS path');
  assert.ok(grew('tsweave_dataplane_csum_partial_frames_total', 'direction="sent"') >= 500, 'TCP segments sent checksum-partial');
  assert.ok(grew('tsweave_dataplane_csum_partial_frames_total', 'direction="received"') >= 10, 'ACKs received checksum-partial');
});

test('a real Prometheus scrapes both routers and answers a query for weave_connections', async () => {
  const cfg = join(tmp, 'prometheus.yml');
  await writeFile(cfg, [
    'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s',
    'scrape_configs:', '  - job_name: tsweave', '    static_configs:', `      - targets: ['127.0.0.1:6782', '${h2.ip}:6782']`, '',
  ].join('\n'));
  prom = spawn('ip', ['netns', 'exec', h1.ns.name, 'prometheus', `--config.file=${cfg}`, `--storage.tsdb.path=${join(tmp, 'tsdb')}`,
    '--web.listen-address=127.0.0.1:19090'], { stdio: 'ignore' });
  const query = encodeURIComponent('sum by (instance) (weave_connections{state="established",encryption="yes"})');
  const result = await waitFor('Prometheus to have both routers', async () => {
    const body = JSON.parse(await fetchIn(h1, `http://127.0.0.1:19090/api/v1/query?query=${query}`)) as {
      status: string; data: { result: Array<{ metric: { instance: string }; value: [number, string] }> };
    };
    return body.status === 'success' && body.data.result.length === 2 ? body.data.result : undefined;
  }, 60_000, 1000);
  const byInstance = Object.fromEntries(result.map((r) => [r.metric.instance, Number(r.value[1])]));
  assert.deepEqual(byInstance, { '127.0.0.1:6782': 1, [`${h2.ip}:6782`]: 1 });
  const up = JSON.parse(await fetchIn(h1, `http://127.0.0.1:19090/api/v1/query?query=${encodeURIComponent('sum(up)')}`)) as { data: { result: Array<{ value: [number, string] }> } };
  assert.equal(Number(up.data.result[0]!.value[1]), 2, 'both targets up');
}, 90_000);
