// Which source addresses weaveDNS answers (issue 11.3). Linux accepts a packet for any local address on any
// interface, so listening on the weave (or docker0) bridge address alone does not keep hosts on the underlay
// out: a machine there that routes the overlay range to this host would get our names, PTRs and a recursive
// resolver. Node's dgram gives us neither the arrival interface (IP_PKTINFO) nor SO_BINDTODEVICE, so we check
// the source address instead. Allowed are:
//
//   - the connected subnets of the container bridges (`weave`, `docker0`, Docker's user-defined networks
//     `br-<12 hex>`, whose embedded DNS at 127.0.0.11 forwards from the container's address): exactly the
//     sources our reply is routed back to through the bridge. A host on the underlay that forges such a
//     source never sees the answer (it goes to the bridge), and cannot complete a TCP handshake at all.
//     Not every bridge: a host's own uplink is often a bridge too (br0 for VMs), and that is the underlay;
//   - this host's own addresses and loopback: the kernel drops packets from outside that claim a local
//     source (martians), so only local processes can use them;
//   - the CIDRs the admin allows with --dns-allow.
//
// Not the IPAM range as such: a range address the host has no bridge route for would get its reply over the
// default route, i.e. onto the underlay. The interface table is re-read when a source is refused (at most
// every `refreshMs`, so a flood of refused queries costs one getifaddrs per interval) and every 30 s, so a
// bridge address that appears after start is honoured at once.

import { networkInterfaces } from 'node:os';
import { BlockList, isIP } from 'node:net';

/** Re-read the interface table at least this often even when nothing is refused. */
const MAX_TABLE_AGE_MS = 30_000;

/** Docker names the bridge of a user-defined network "br-" + the first 12 hex digits of the network id. */
export const DOCKER_NETWORK_BRIDGE_RE = /^br-[0-9a-f]{12}$/;

export interface DnsClientFilterInit {
  /** Interfaces whose connected subnets are allowed (the container bridges): names or patterns. */
  interfaces: readonly (string | RegExp)[];
  /** Extra allowed networks ("10.1.0.0/16", "fd00::/8"). */
  allow?: readonly string[];
  /** Least time between two re-reads of the interface table. @default 1000 */
  refreshMs?: number;
  /** Injected for tests. @default os.networkInterfaces */
  readInterfaces?: typeof networkInterfaces;
  /** @default Date.now */
  now?: () => number;
}

export class DnsClientFilter {
  private readonly interfaces: readonly (string | RegExp)[];
  private readonly allow: ReadonlyArray<{ net: string; prefix: number; family: 'ipv4' | 'ipv6' }>;
  private readonly refreshMs: number;
  private readonly readInterfaces: typeof networkInterfaces;
  private readonly now: () => number;
  private table = new BlockList();
  private readAt = Number.NEGATIVE_INFINITY;
  /** Sources found allowed since the last re-read: a Map lookup is ~20× cheaper than BlockList.check. */
  private readonly known = new Set<string>();

  constructor(init: DnsClientFilterInit) {
    this.interfaces = init.interfaces;
    this.allow = (init.allow ?? []).map(parseCidr);
    this.refreshMs = init.refreshMs ?? 1000;
    this.readInterfaces = init.readInterfaces ?? networkInterfaces;
    this.now = init.now ?? Date.now;
  }

  /** True if a query from `address` may be answered. Never throws. */
  allows(address: string): boolean {
    const addr = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(addr) === 6 ? 'ipv6' : isIP(addr) === 4 ? 'ipv4' : undefined;
    if (!family) return false;
    const now = this.now();
    if (now - this.readAt >= MAX_TABLE_AGE_MS) this.rebuild(now);
    if (this.known.has(addr)) return true;
    if (!this.table.check(addr, family)) {
      if (now - this.readAt < this.refreshMs) return false;
      this.rebuild(now);
      if (!this.table.check(addr, family)) return false;
    }
    if (this.known.size >= 4096) this.known.clear();
    this.known.add(addr);
    return true;
  }

  private isClientInterface(name: string): boolean {
    return this.interfaces.some((i) => (typeof i === 'string' ? i === name : i.test(name)));
  }

  private rebuild(now: number): void {
    this.readAt = now;
    const t = new BlockList();
    for (const a of this.allow) t.addSubnet(a.net, a.prefix, a.family);
    let ifaces: ReturnType<typeof networkInterfaces> = {};
    try {
      ifaces = this.readInterfaces();
    } catch {
      /* keep the admin's networks only */
    }
    for (const [name, addrs] of Object.entries(ifaces)) {
      for (const a of addrs ?? []) {
        const family = a.family === 'IPv6' ? 'ipv6' : 'ipv4';
        const host = a.address.replace(/%.*$/, '');
        if (isIP(host) === 0) continue;
        t.addAddress(host, family);
        if ((a.internal || this.isClientInterface(name)) && a.cidr) {
          const prefix = Number(a.cidr.slice(a.cidr.lastIndexOf('/') + 1));
          if (Number.isInteger(prefix)) t.addSubnet(host, prefix, family);
        }
      }
    }
    this.table = t;
    this.known.clear();
  }
}

/** "10.1.0.0/16" → parts for BlockList. The config parser has validated it; a bad value throws. */
function parseCidr(text: string): { net: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = text.lastIndexOf('/');
  const net = slash < 0 ? text : text.slice(0, slash);
  const v = isIP(net);
  const prefix = slash < 0 ? (v === 6 ? 128 : 32) : Number(text.slice(slash + 1));
  if (v === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (v === 6 ? 128 : 32)) {
    throw new RangeError(`invalid client network "${text}": must be ADDRESS/PREFIX`);
  }
  return { net, prefix, family: v === 6 ? 'ipv6' : 'ipv4' };
}
