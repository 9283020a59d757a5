// The benchmark table in markdown from a bench-results JSON (shared by report.mjs, which prints it after
// a run, and readme-table.mjs, which puts it in the README). Rows in the bench's order; a row whose
// overlay failed says "failed: reason"; the last column is the 1-stream throughput as % of kernel VXLAN.

export const ORDER = ['none', 'vxlan', 'tinc', 'nebula', 'wireguard-go', 'tsweave-enc', 'tsweave-relay', 'tsweave-plain', 'tsweave-fastdp'];

const LABELS = {
  none: 'no overlay (one bridge)',
  vxlan: 'kernel VXLAN (unencrypted)',
  tinc: 'tinc 1.0, encrypted',
  nebula: 'Nebula 1.6, encrypted (AES-256-GCM)',
  'wireguard-go': "wireguard-go (Debian's), encrypted",
  'tsweave-enc': '**tsweave, encrypted**',
  'tsweave-relay': 'tsweave, encrypted, relayed through a third host',
  'tsweave-plain': 'tsweave, unencrypted sleeve (`--no-fastdp`)',
  'tsweave-fastdp': '**tsweave, fastdp** (no password)',
};
const KERNEL = new Set(['none', 'vxlan']);

const fmt = (v, digits) => (v === undefined || v === null || Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

/** rows of the table (markdown lines, header first) for a bench JSON ({ median, errors }) */
export function benchTable(j) {
  const med = j.median ?? {};
  const errors = j.errors ?? {};
  const vx = med.vxlan?.tcp1_gbps;
  const head = ['overlay', 'TCP 1 stream Gbit/s', 'TCP 4 streams Gbit/s', 'ping ms', 'UDP 64 B req/resp /s', 'overlay CPU-s/GB', '% of VXLAN (1 stream)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  // rows the bench ran under another name (NAME+MODE: a tsweave row with a thread mode) after the known ones
  const extra = [...new Set([...Object.keys(med), ...Object.keys(errors)])].filter((o) => !ORDER.includes(o)).sort();
  for (const o of [...ORDER, ...extra]) {
    const m = med[o];
    if (!m && !errors[o]) continue;
    const label = LABELS[o] ?? o;
    const t1 = m?.tcp1_gbps;
    if (t1 === undefined && errors[o]) {
      lines.push(`| ${label} | failed: ${errors[o][0].replace(/\|/g, '\\|')} |  |  |  |  |  |`);
      continue;
    }
    const cpu = KERNEL.has(o) ? 'kernel' : fmt(m?.cpu_s_per_gb_tcp1, 1);
    const pct = t1 !== undefined && vx ? `${Math.round((t1 / vx) * 100)} %` : 'n/a';
    lines.push(`| ${label} | ${fmt(t1, 2)} | ${fmt(m?.tcp4_gbps, 2)} | ${fmt(m?.rtt_ms, 2)} | ${fmt(m?.udp_rr, 0)} | ${cpu} | ${pct} |`);
  }
  return lines;
}
