// Status snapshot → the text of Weave's `status` pages, exactly (WEAVE-FACTS §1.4, from weave's
// prog/weaver/http.go templates). Pure: the CLI formats the JSON it gets from GET /snapshot, and an HTTP
// /status route can serve the same strings.
//
// Differences from Weave, on purpose: the protocol is called "tsweave"; there is no version check, so the
// first line is "Version: X"; the overlay for the UDP path is "sleeve" and the TCP fallback shows "tcp".
// Go's templates leave trailing blanks on some lines (an empty Info, an IPAM row with no note); we trim
// them, which is also how Weave's documentation shows those lines.

import type { ConnectionState, ConnectionStatus, Status } from './status-types.js';

/** Weave's order for connection counts; only non-zero states are printed. */
const CONNECTION_STATES: readonly ConnectionState[] = ['established', 'pending', 'retrying', 'failed', 'connecting'];

/** Right-aligns a label so the colons line up, as Weave's template does ("  PeerDiscovery: enabled"). */
function row(label: string, value: string | number): string {
  return `${`${label}:`.padStart(16)} ${value}\n`;
}

function printList(list: readonly string[]): string {
  return list.length === 0 ? 'none' : list.join(', ');
}

function printState(enabled: boolean): string {
  return enabled ? 'enabled' : 'disabled';
}

function printCounts(counts: Map<string, number>, keys: readonly string[]): string {
  return keys.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${k}`).join(', ');
}

function trimLines(text: string): string {
  return text.replace(/[ \t]+$/gm, '');
}

/** The plain `tsweave status` page: router, then ipam and dns when present. Ends with a newline. */
export function formatStatus(s: Status): string {
  const r = s.router;
  let out = row('Version', s.version);
  out += '\n';
  out += row('Service', 'router');
  out += row('Protocol', r.protocolMinVersion === r.protocolMaxVersion
    ? `tsweave ${r.protocolMaxVersion}`
    : `tsweave ${r.protocolMinVersion}..${r.protocolMaxVersion}`);
  out += row('Name', `${r.name}(${r.nickname})`);
  out += row('Encryption', printState(r.encryption));
  out += row('PeerDiscovery', printState(r.peerDiscovery));
  out += row('Targets', r.targets.length);

  const connCounts = new Map<string, number>();
  for (const c of r.connections) connCounts.set(c.state, (connCounts.get(c.state) ?? 0) + 1);
  const connText = printCounts(connCounts, CONNECTION_STATES);
  out += row('Connections', `${r.connections.length}${connText ? ` (${connText})` : ''}`);

  const peerCounts = new Map<string, number>();
  for (const p of r.peers) {
    for (const c of p.connections) {
      const k = c.established ? 'established' : 'pending';
      peerCounts.set(k, (peerCounts.get(k) ?? 0) + 1);
    }
  }
  const peerText = printCounts(peerCounts, ['established', 'pending']);
  out += row('Peers', `${r.peers.length}${peerText ? ` (with ${peerText} connections)` : ''}`);
  out += row('TrustedSubnets', printList(r.trustedSubnets));

  if (s.ipam) {
    out += '\n';
    out += row('Service', 'ipam');
    out += row('Status', s.ipam.status);
    out += row('Range', s.ipam.range);
    out += row('DefaultSubnet', s.ipam.defaultSubnet);
  }
  if (s.dns) {
    out += '\n';
    out += row('Service', 'dns');
    out += row('Domain', s.dns.domain);
    out += row('Upstream', printList(s.dns.upstream));
    out += row('TTL', s.dns.ttl);
    out += row('Entries', s.dns.entries.length);
  }
  return out;
}

/** `status targets`: one target per line, as given to launch/connect. */
export function formatTargets(s: Status): string {
  return s.router.targets.map((t) => `${t}\n`).join('');
}

/**
 * `status connections`, one line per connection or target:
 * `-> 10.0.0.2:6783        established encrypted   sleeve 7e:..(host2) mtu=1376`.
 */
export function formatConnections(s: Status): string {
  const lines = s.router.connections.map((c) => {
    const dir = c.outbound ? '->' : '<-';
    const line = `${dir} ${c.address.padEnd(21)} ${c.state.padEnd(11)} ${connectionInfo(c, s.router.encryption)}`;
    // NAT traversal: how the connection was made, or why punching to the peer behind a target failed.
    if (c.nat === undefined) return line;
    return `${line.trimEnd()} ${c.state === 'pending' || c.state === 'established' ? '' : '| '}${c.nat}`;
  });
  return trimLines(lines.map((l) => `${l}\n`).join(''));
}

/** Weave's Info column of a connection (also the Info field of the Weave-shaped report). */
export function connectionInfo(c: ConnectionStatus, usingPassword: boolean): string {
  switch (c.state) {
    case 'failed': {
      const retry = c.retryAt === undefined || c.retryAt === 'never' ? 'never' : formatGoTime(c.retryAt);
      // A failed NAT punch names the peer (the address is its endpoint as the introducer saw it).
      const who = c.remoteName === undefined ? '' : `${c.remoteName}(${c.remoteNickname ?? ''}) `;
      return c.error ? `${who}${c.error}, retry: ${retry}` : `${who}retry: ${retry}`;
    }
    case 'retrying':
      return c.error ?? '';
    case 'connecting':
      return '';
    case 'pending':
    case 'established': {
      // Known unicast over kernel VXLAN shows fastdp even when the rest falls back to TCP.
      const overlay = c.overlay === 'fastdp' ? 'fastdp' : c.path === 'tcp' ? 'tcp' : 'sleeve';
      const remote = c.remoteName === undefined ? '' : `${c.remoteName}(${c.remoteNickname ?? ''})`;
      let info = `${overlay.padEnd(6)} ${remote}`;
      // Weave shows encrypted/unencrypted only when this router has a password.
      if (usingPassword) info = `${(c.encrypted === false ? 'unencrypted' : 'encrypted').padEnd(11)} ${info}`;
      if (c.mtu !== undefined) info = `${info} mtu=${c.mtu}`;
      // As Weave, a connection that could use the fast datapath but does not says why.
      return c.fastdpReason === undefined ? info : `${info} (fastdp: ${c.fastdpReason})`;
    }
  }
}

/** Wall-clock ms as Go's time.Time.String() in UTC: "2015-08-06 18:55:38.246 +0000 UTC". */
export function formatGoTime(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const frac = d.getUTCMilliseconds() === 0 ? '' : `.${String(d.getUTCMilliseconds()).padStart(3, '0').replace(/0+$/, '')}`;
  return `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}${frac} +0000 UTC`;
}

/** `status peers`: every known peer, self first, each with its connections. */
export function formatPeers(s: Status): string {
  let out = '';
  for (const p of s.router.peers) {
    out += `${p.name}(${p.nickname})\n`;
    for (const c of p.connections) {
      const dir = c.outbound ? '->' : '<-';
      out += `   ${dir} ${c.address.padEnd(21)} ${`${c.name}(${c.nickname})`.padEnd(37)} ` +
        `${c.established ? 'established' : 'pending'}\n`;
    }
  }
  return out;
}

/** `status dns`: `%-12v %-15v %12.12v origin`, hostnames with ".domain" trimmed. */
export function formatDns(s: Status): string {
  if (!s.dns) return '';
  const domain = s.dns.domain.endsWith('.') ? s.dns.domain : `${s.dns.domain}.`;
  const suffixes = [`.${domain}`, `.${domain.slice(0, -1)}`];
  let out = '';
  for (const e of s.dns.entries) {
    const suffix = suffixes.find((x) => e.hostname.endsWith(x));
    const host = suffix ? e.hostname.slice(0, -suffix.length) : e.hostname;
    out += `${host.padEnd(12)} ${e.address.padEnd(15)} ${e.containerId.slice(0, 12).padStart(12)} ${e.origin}\n`;
  }
  return out;
}

/**
 * `status ipam`: `%-37v %8d IPs (%04.1f%% of total) %s`, the local peer first with "(N active)", others
 * marked "- unreachable!" when not reachable.
 */
export function formatIpam(s: Status): string {
  const ipam = s.ipam;
  if (!ipam) return '';
  const local = ipam.entries.filter((e) => e.name === s.router.name);
  const others = ipam.entries.filter((e) => e.name !== s.router.name);
  let out = '';
  for (const e of [...local, ...others]) {
    const note = e.name === s.router.name ? `(${e.active ?? 0} active)` : e.reachable ? '' : '- unreachable!';
    out += `${`${e.name}(${e.nickname})`.padEnd(37)} ${String(e.ips).padStart(8)} IPs ` +
      `(${formatPercent(e.ips, ipam.rangeNumIPs)}% of total) ${note}\n`;
  }
  return trimLines(out);
}

/**
 * Go's `%04.1f` of `float32(ips) * 100.0 / float32(total)`: float32 arithmetic, one decimal rounded half to
 * even, zero-padded to width 4 ("05.0", "33.3", "100.0").
 */
export function formatPercent(ips: number, total: number): string {
  if (total <= 0) return '00.0';
  const x = Math.fround(Math.fround(Math.fround(ips) * 100) / Math.fround(total));
  const scaled = x * 10; // exact: a float32 times 10 fits in a double's mantissa
  let tenths = Math.round(scaled);
  if (scaled - Math.floor(scaled) === 0.5 && tenths % 2 === 1) tenths -= 1; // ties to even, as Go does
  const text = (tenths / 10).toFixed(1);
  return text.padStart(4, '0');
}
