// The bench's reporting tells the truth: scripts/bench/report.mjs turns the bench's TSV into medians,
// the relayed/direct ratio and a "failed: reason" row, and scripts/bench/readme-table.mjs puts that table
// into a README between its markers, keeping the older table below as history and replacing (not
// repeating) its own section on the next run.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPORT = join(process.cwd(), 'scripts', 'bench', 'report.mjs');
const README_TABLE = join(process.cwd(), 'scripts', 'bench', 'readme-table.mjs');
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsweave-bench-report-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout + r.stderr };
}

const TSV = [
  ['vxlan', 'info_load', '2.5'],
  ['vxlan', 'tcp1_gbps', '10'], ['vxlan', 'tcp1_gbps', '12'], ['vxlan', 'tcp1_gbps', '8'],
  ['vxlan', 'tcp4_gbps', '20'], ['vxlan', 'rtt_ms', '0.1'], ['vxlan', 'udp_rr', '20000'],
  ['nebula', 'info_version', '1.6.1 (cipher aes: AES-256-GCM)'], ['nebula', 'info_load', '3.5'], ['nebula', 'info_udp_drops', '21614'],
  ['vxlan', 'info_udp_drops', '0'],
  ['nebula', 'tcp1_gbps', '0.9'], ['nebula', 'tcp4_gbps', '0.95'], ['nebula', 'rtt_ms', '0.33'],
  ['nebula', 'udp_rr', '6037'], ['nebula', 'cpu_s_per_gb_tcp1', '12'],
  ['wireguard-go', 'error', 'wireguard-go made no tb1g-w1 on h1: no /dev/net/tun'],
  ['tsweave-enc', 'tcp1_gbps', '5'], ['tsweave-enc', 'tcp4_gbps', '5.5'], ['tsweave-enc', 'cpu_s_per_gb_tcp1', '2.2'],
  ['tsweave-relay', 'tcp1_gbps', '3.5'], ['tsweave-relay', 'tcp4_gbps', '2.75'],
].map((r) => r.join('\t')).join('\n');

const OLD_README = `# x\n\n## Performance\n\nHow to run it.\n\n2026-11-22 (second session), a VM.\n\n| overlay | old |\n|---|---:|\n| tinc | 0.84 |\n\n## How it is built\n`;

test('report.mjs: medians, relay ratio, failed rows; readme-table.mjs inserts once, then replaces', () => {
  const out = join(tmp, 'out');
  const tsv = join(tmp, 'results.tsv');
  writeFileSync(tsv, `${TSV}\n`);
  spawnSync('mkdir', ['-p', out]);
  const r = run(REPORT, [tsv, out, '5', '3', '1376', '1450'], { BENCH_LOAD_START: '1.5 1.2 1.0', BENCH_COMMIT: 'abc1234' });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /relayed \/ direct \(encrypted\): 70 % with 1 stream, 50 % with 4/);
  const files = readdirSync(out);
  assert.equal(files.length, 1);
  const json = join(out, files[0]!);
  const j = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(j.median.vxlan.tcp1_gbps, 10); // median of 10, 12, 8
  assert.equal(j.ratios.relayTcp1VsDirect, 0.7);
  assert.equal(j.goals['relayed ≥ 60 % of direct (encrypted, 1 stream)'], true);
  assert.deepEqual(j.loadavgAtStart, [1.5, 1.2, 1]);
  assert.equal(j.commit, 'abc1234');

  const readme = join(tmp, 'README.md');
  writeFileSync(readme, OLD_README);
  const w1 = run(README_TABLE, [json, '--readme', readme]);
  assert.equal(w1.code, 0, w1.out);
  const once = readFileSync(readme, 'utf8');
  assert.match(once, /\| kernel VXLAN \(unencrypted\) \| 10\.00 \| 20\.00 \| 0\.10 \| 20,000 \| kernel \| 100 % \|/);
  assert.match(once, /\| Nebula 1\.6, encrypted \(AES-256-GCM\) \| 0\.90 \| 0\.95 \| 0\.33 \| 6,037 \| 12\.0 \| 9 % \|/);
  assert.match(once, /\| wireguard-go \(Debian's\), encrypted \| failed: wireguard-go made no tb1g-w1 on h1: no \/dev\/net\/tun \|/);
  // the prose above the table, wrapped to the README's width: compare with its line breaks as spaces
  const prose = once.slice(once.indexOf('<!-- bench-table:begin'), once.indexOf('| overlay')).replace(/\s+/g, ' ');
  assert.ok(once.slice(0, once.indexOf('| overlay')).split('\n').every((l) => l.length <= 110 || l.startsWith('<!--')));
  assert.match(prose, /load average 2\.5–3\.5 while the rows were measured \(1\.5 at the start/);
  assert.match(prose, /carried 70 % of its direct encrypted throughput with 1 stream and 50 % with 4/);
  assert.match(prose, /tsweave abc1234/);
  assert.match(prose, /CPU per GB\): nebula 21,614\./); // rows without drops are not listed
  // the new section sits above the old table, which stays as history, inside the Performance section
  const begin = once.indexOf('<!-- bench-table:begin');
  const end = once.indexOf('<!-- bench-table:end -->');
  assert.ok(once.indexOf('How to run it.') < begin && begin < end && end < once.indexOf('2026-11-22 (second session)'));
  assert.ok(once.includes('| tinc | 0.84 |') && once.indexOf('## How it is built') > end);

  // a second run (another result) replaces the section: one block, new figures, history untouched
  j.median.vxlan.tcp1_gbps = 11;
  const json2 = join(tmp, 'second.json');
  writeFileSync(json2, JSON.stringify(j));
  assert.equal(run(README_TABLE, [json2, '--readme', readme]).code, 0);
  const twice = readFileSync(readme, 'utf8');
  assert.equal(twice.split('<!-- bench-table:begin').length, 2);
  assert.equal(twice.split('Earlier runs, kept as history').length, 2);
  assert.match(twice, /\| kernel VXLAN \(unencrypted\) \| 11\.00 \|/);
  assert.doesNotMatch(twice, /\| kernel VXLAN \(unencrypted\) \| 10\.00 \|/);
  assert.ok(twice.includes('| tinc | 0.84 |'));
});

test('readme-table.mjs: a file that is not a bench result is one precise line, exit 2', () => {
  const bad = join(tmp, 'bad.json');
  writeFileSync(bad, '{"hello": 1}');
  const r = run(README_TABLE, [bad, '--print']);
  assert.equal(r.code, 2);
  assert.match(r.out, /bad\.json is not a bench result/);
});
