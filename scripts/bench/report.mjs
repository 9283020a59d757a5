// Turns scripts/bench.sh's results (TSV: overlay, metric, value) into the table with ratios to the
// references and a JSON file in bench-results/. Usage: report.mjs RESULTS.tsv OUT_DIR SECONDS RUNS ENC_MTU
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';

const [file, outDir, seconds, runs, encMtu] = process.argv.slice(2);
const rows = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
const order = ['none', 'vxlan', 'tinc', 'tsweave-enc', 'tsweave-plain', 'tsweave-fastdp'];
const metrics = ['tcp1_gbps', 'tcp4_gbps', 'rtt_ms', 'udp_rr', 'cpu_s_per_gb_tcp1', 'cpu_s_per_gb_tcp4'];
const median = (xs) => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const data = {};
const errors = {};
for (const [o, m, v] of rows) {
  data[o] ??= {};
  if (m === 'error') (errors[o] ??= []).push(v);
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
  plainTcp1VsVxlan: ratio(get('tsweave-plain', 'tcp1_gbps'), get('vxlan', 'tcp1_gbps')),
  plainTcp4VsVxlan: ratio(get('tsweave-plain', 'tcp4_gbps'), get('vxlan', 'tcp4_gbps')),
  fastdpTcp1VsVxlan: ratio(get('tsweave-fastdp', 'tcp1_gbps'), get('vxlan', 'tcp1_gbps')),
  fastdpTcp4VsVxlan: ratio(get('tsweave-fastdp', 'tcp4_gbps'), get('vxlan', 'tcp4_gbps')),
  fastdpRttVsVxlan: ratio(get('tsweave-fastdp', 'rtt_ms'), get('vxlan', 'rtt_ms')),
};
const goals = {
  'throughput ≥ 5× tinc (1 stream)': ratios.encTcp1VsTinc !== undefined ? ratios.encTcp1VsTinc >= 5 : undefined,
  'CPU per GB ≤ ⅕ of tinc': ratios.encCpuPerGbVsTinc !== undefined ? ratios.encCpuPerGbVsTinc <= 0.2 : undefined,
  'ping RTT ≤ tinc': ratios.encRttVsTinc !== undefined ? ratios.encRttVsTinc <= 1 : undefined,
  'unencrypted ≥ 25 % of VXLAN (1 stream)': ratios.plainTcp1VsVxlan !== undefined ? ratios.plainTcp1VsVxlan >= 0.25 : undefined,
  'fastdp ≥ 90 % of VXLAN (1 and 4 streams)':
    ratios.fastdpTcp1VsVxlan !== undefined && ratios.fastdpTcp4VsVxlan !== undefined ? ratios.fastdpTcp1VsVxlan >= 0.9 && ratios.fastdpTcp4VsVxlan >= 0.9 : undefined,
  'fastdp ping RTT ≤ 2× VXLAN': ratios.fastdpRttVsVxlan !== undefined ? ratios.fastdpRttVsVxlan <= 2 : undefined,
};

const f = (v, d = 2) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
const x = (v) => (v === undefined ? 'n/a' : `${v.toFixed(2)}×`);
const head = ['overlay', 'TCP 1 stream Gbit/s', 'TCP 4 streams Gbit/s', 'ping RTT ms', 'UDP 64 B req/resp /s', 'CPU-s/GB (1 stream)', 'vs tinc (1 stream)', 'vs VXLAN (1 stream)'];
const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
for (const o of order) {
  if (!med[o]) continue;
  const t1 = get(o, 'tcp1_gbps');
  lines.push(
    `| ${o} | ${f(t1)} | ${f(get(o, 'tcp4_gbps'))} | ${f(get(o, 'rtt_ms'), 3)} | ${f(get(o, 'udp_rr'), 0)} | ${o === 'none' || o === 'vxlan' ? 'n/a (kernel)' : f(get(o, 'cpu_s_per_gb_tcp1'), 1)} | ${x(ratio(t1, get('tinc', 'tcp1_gbps')))} | ${f((ratio(t1, get('vxlan', 'tcp1_gbps')) ?? NaN) * 100, 0)} % |`,
  );
}
const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}`;
const date = new Date().toISOString();
console.log(`\n${date}  ${machine}  (iperf3 ${runs} × ${seconds} s, median; encrypted overlays' container MTU ${encMtu})\n`);
console.log(lines.join('\n'));
console.log('\nratios:', Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v === undefined ? null : Number(v.toFixed(3))])));
console.log('goals:', goals);
if (Object.keys(errors).length) console.log('errors:', errors);
const out = join(outDir, `bench-${date.replace(/[:.]/g, '-')}.json`);
writeFileSync(
  out,
  `${JSON.stringify({ date, machine, loadavgAtEnd: loadavg(), seconds: Number(seconds), runs: Number(runs), encMtu: Number(encMtu), raw: data, median: med, ratios, goals, errors, table: lines.join('\n') }, null, 2)}\n`,
);
console.log(`\nwritten: ${out}`);
