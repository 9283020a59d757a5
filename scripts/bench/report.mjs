// Turns scripts/bench.sh's results (TSV: overlay, metric, value) into the table with ratios to the
// references and a JSON file in bench-results/ (the input of readme-table.mjs).
// Usage: report.mjs RESULTS.tsv OUT_DIR SECONDS RUNS ENC_MTU FASTDP_MTU   (env BENCH_LOAD_START: load at start, BENCH_COMMIT)
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { benchTable } from './table.mjs';

const [file, outDir, seconds, runs, encMtu, fastdpMtu] = process.argv.slice(2);
const rows = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
// ctxsw_per_mb: the overlay processes' context switches (thread wake-ups) per MB carried (JSON only)
const metrics = ['tcp1_gbps', 'tcp4_gbps', 'rtt_ms', 'udp_rr', 'cpu_s_per_gb_tcp1', 'cpu_s_per_gb_tcp4', 'ctxsw_per_mb_tcp1', 'ctxsw_per_mb_tcp4'];
const median = (xs) => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const data = {};
const errors = {};
const info = {}; // info_* rows: text about an overlay (version, load when measured, relay proof)
for (const [o, m, v] of rows) {
  data[o] ??= {};
  if (m === 'error') (errors[o] ??= []).push(v);
  else if (m.startsWith('info_')) (info[o] ??= {})[m.slice(5)] = v;
  else (data[o][m] ??= []).push(Number(v));
}
const med = {};
for (const o of Object.keys(data)) {
  med[o] = {};
  for (const m of metrics) med[o][m] = median(data[o][m] ?? []);
}
const ratio = (a, b) => (a !== undefined && b !== undefined && b !== 0 ? a / b : undefined);
const get = (o, m) => med[o]?.[m];
const ratios = {
  encTcp1VsTinc: ratio(get('tsweave-enc', 'tcp1_gbps'), get('tinc', 'tcp1_gbps')),
  encTcp4VsTinc: ratio(get('tsweave-enc', 'tcp4_gbps'), get('tinc', 'tcp4_gbps')),
  encCpuPerGbVsTinc: ratio(get('tsweave-enc', 'cpu_s_per_gb_tcp1'), get('tinc', 'cpu_s_per_gb_tcp1')),
  encRttVsTinc: ratio(get('tsweave-enc', 'rtt_ms'), get('tinc', 'rtt_ms')),
  encUdpRrVsTinc: ratio(get('tsweave-enc', 'udp_rr'), get('tinc', 'udp_rr')),
  encTcp1VsNebula: ratio(get('tsweave-enc', 'tcp1_gbps'), get('nebula', 'tcp1_gbps')),
  encTcp1VsWireguardGo: ratio(get('tsweave-enc', 'tcp1_gbps'), get('wireguard-go', 'tcp1_gbps')),
  encTcp1VsVxlan: ratio(get('tsweave-enc', 'tcp1_gbps'), get('vxlan', 'tcp1_gbps')),
  encTcp4VsVxlan: ratio(get('tsweave-enc', 'tcp4_gbps'), get('vxlan', 'tcp4_gbps')),
  encUdpRrVsVxlan: ratio(get('tsweave-enc', 'udp_rr'), get('vxlan', 'udp_rr')),
  relayTcp1VsDirect: ratio(get('tsweave-relay', 'tcp1_gbps'), get('tsweave-enc', 'tcp1_gbps')),
  relayTcp4VsDirect: ratio(get('tsweave-relay', 'tcp4_gbps'), get('tsweave-enc', 'tcp4_gbps')),
  plainTcp1VsVxlan: ratio(get('tsweave-plain', 'tcp1_gbps'), get('vxlan', 'tcp1_gbps')),
  plainTcp4VsVxlan: ratio(get('tsweave-plain', 'tcp4_gbps'), get('vxlan', 'tcp4_gbps')),
  fastdpTcp1VsVxlan: ratio(get('tsweave-fastdp', 'tcp1_gbps'), get('vxlan', 'tcp1_gbps')),
  fastdpTcp4VsVxlan: ratio(get('tsweave-fastdp', 'tcp4_gbps'), get('vxlan', 'tcp4_gbps')),
  fastdpRttVsVxlan: ratio(get('tsweave-fastdp', 'rtt_ms'), get('vxlan', 'rtt_ms')),
};
const goal = (v, ok) => (v === undefined ? undefined : ok(v));
const both = (a, b, ok) => (a === undefined || b === undefined ? undefined : ok(a) && ok(b));
// issue 16's goals
const goals = {
  'fastdp ≥ 90 % of VXLAN (1 and 4 streams)': both(ratios.fastdpTcp1VsVxlan, ratios.fastdpTcp4VsVxlan, (r) => r >= 0.9),
  'fastdp ping RTT ≤ 2× VXLAN': goal(ratios.fastdpRttVsVxlan, (r) => r <= 2),
  'encrypted ≥ 50 % of VXLAN (1 stream)': goal(ratios.encTcp1VsVxlan, (r) => r >= 0.5),
  'encrypted ≥ 40 % of VXLAN (4 streams)': goal(ratios.encTcp4VsVxlan, (r) => r >= 0.4),
  'encrypted CPU ≤ 1.2 CPU-s/GB': goal(get('tsweave-enc', 'cpu_s_per_gb_tcp1'), (v) => v <= 1.2),
  'encrypted ping RTT ≤ 0.2 ms': goal(get('tsweave-enc', 'rtt_ms'), (v) => v <= 0.2),
  'encrypted UDP req/resp ≥ 90 % of VXLAN': goal(ratios.encUdpRrVsVxlan, (r) => r >= 0.9),
  'relayed ≥ 60 % of direct (encrypted, 1 stream)': goal(ratios.relayTcp1VsDirect, (r) => r >= 0.6),
};

const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}`;
const date = new Date().toISOString();
const loadStart = (process.env.BENCH_LOAD_START ?? '').split(' ').filter(Boolean).map(Number);
const result = {
  date, commit: process.env.BENCH_COMMIT || undefined, machine, loadavgAtStart: loadStart, loadavgAtEnd: loadavg(), seconds: Number(seconds), runs: Number(runs),
  encMtu: Number(encMtu), fastdpMtu: Number(fastdpMtu), raw: data, median: med, info, ratios, goals, errors,
};
const lines = benchTable(result);
result.table = lines.join('\n');
console.log(`\n${date}  ${machine}  (iperf3 ${runs} × ${seconds} s, median; container MTU ${encMtu} encrypted, ${fastdpMtu} VXLAN/fastdp)`);
console.log(`load average at start ${loadStart.join(' ')}, at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}\n`);
console.log(lines.join('\n'));
const pct = (v) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(0)} %`);
console.log(`\nrelayed / direct (encrypted): ${pct(ratios.relayTcp1VsDirect)} with 1 stream, ${pct(ratios.relayTcp4VsDirect)} with 4 (goal ≥ 60 %)`);
console.log('ratios:', Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v === undefined ? null : Number(v.toFixed(3))])));
console.log('goals:', goals);
if (Object.keys(info).length) console.log('info:', info);
if (Object.keys(errors).length) console.log('errors:', errors);
const out = join(outDir, `bench-${date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwritten: ${out}`);
