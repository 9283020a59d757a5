// The iptables rules tsweave needs, as data (pure; applied by daemon/firewall.ts through the PacketFilter port,
// removed by `reset` through removeFirewall below, which the CLI calls with the router stopped).
// They live in chains of our own, jumped to from the built-in chains, so they can be replaced whole,
// checked, and removed by `reset` without touching anyone else's rules (WEAVE-FACTS §8.3, Weave's WEAVE /
// WEAVE-EXPOSE chains):
//
// filter  FORWARD → TSWEAVE
//   -i weave -o weave -m physdev --physdev-is-bridged -j ACCEPT
//                                          container ↔ container on the bridge (br_netfilter sends bridged
//                                          frames through FORWARD; Docker's policy DROP would cut them)
//   -i weave -o weave -j DROP              routed from the bridge back onto it: between two subnets through
//                                          this host's addresses (egress gateways, expose). Subnets are
//                                          isolated (Weave's net: semantics), whatever routes the host has
//   -i weave ! -o weave -j ACCEPT          overlay → the host's other networks (egress)
//   -o weave -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT      their answers
//   -o weave -j TSWEAVE-EXPOSE             other networks → an exposed subnet (routed through this host)
//   -j TSWEAVE-CANARY                      the canary: gone after a flush (see firewall.ts)
// TSWEAVE-EXPOSE: -d EXPOSED -j ACCEPT per exposed subnet
//
// nat  POSTROUTING → TSWEAVE-NAT
//   -d OVERLAY -j TSWEAVE-NAT-EXPOSE       per overlay subnet: towards the overlay …
//   -d OVERLAY -j RETURN                   … and nothing else for it (egress masquerade never applies)
//   -s EGRESS/32 ! -o weave -j MASQUERADE  per address of a container with egress
//   -j TSWEAVE-CANARY
// TSWEAVE-NAT-EXPOSE
//   -s OVERLAY -j RETURN                   overlay → overlay is never masqueraded
//   -o weave -d EXPOSED -j MASQUERADE      other networks → exposed subnet: answers come back through here
import type { FilterRule, PacketFilter } from '../core/ports.js';
import { formatCidr, formatIPv4, networkOf, type Cidr } from '../core/types.js';

export const FILTER_CHAIN = 'TSWEAVE';
export const EXPOSE_CHAIN = 'TSWEAVE-EXPOSE';
export const NAT_CHAIN = 'TSWEAVE-NAT';
export const NAT_EXPOSE_CHAIN = 'TSWEAVE-NAT-EXPOSE';
export const CANARY_CHAIN = 'TSWEAVE-CANARY';
export const INPUT_CHAIN = 'TSWEAVE-INPUT';
/** Every chain tsweave makes starts with this (reset removes them all, also ones an older version made). */
export const CHAIN_PREFIX = 'TSWEAVE';

export interface FirewallInputs {
  bridge: string;
  /** Subnets of the overlay: IPAM's range, and the subnets of every attached and exposed address. */
  overlay: readonly Cidr[];
  /** Subnets the host is exposed on (its addresses on the bridge, as networks). */
  exposed: readonly Cidr[];
  /** Addresses (IPv4 as numbers) of containers attached with egress. */
  egress: readonly number[];
  /**
   * With a password, the kernel VXLAN port (fastdp) takes frames only from the trusted subnets: VXLAN
   * cannot authenticate, and the device would put a stranger's frames on the bridge.
   */
  vxlanGuard?: { port: number; allowed: readonly Cidr[] };
}

export interface TableRules {
  table: 'filter' | 'nat';
  chains: Array<{ chain: string; rules: FilterRule[] }>;
  /** Jumps from built-in chains into ours; first in the built-in chain. */
  jumps: Array<{ from: string; rule: FilterRule }>;
  /** A rule whose absence means the table was flushed: `chain` holds `rule` while our rules are in place. */
  canary: { chain: string; rule: FilterRule };
}

/** Distinct networks, in a stable order (so the same inputs give the same rules). */
export function distinctNetworks(cidrs: readonly Cidr[]): Cidr[] {
  const byText = new Map<string, Cidr>();
  for (const c of cidrs) {
    const n = networkOf(c);
    byText.set(formatCidr(n), n);
  }
  return [...byText.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, n]) => n);
}

/** INPUT: UDP to the VXLAN port accepted from the allowed subnets only (none: nothing is accepted). */
function vxlanGuard(g: FirewallInputs['vxlanGuard']): FilterRule[] {
  if (!g) return [];
  const port = String(g.port);
  return [
    ...distinctNetworks(g.allowed).map((c) => ['-p', 'udp', '--dport', port, '-s', formatCidr(c), '-j', 'RETURN']),
    ['-p', 'udp', '--dport', port, '-j', 'DROP'],
  ];
}

export function firewallRules(i: FirewallInputs): TableRules[] {
  const br = i.bridge;
  const overlay = distinctNetworks(i.overlay).map(formatCidr);
  const exposed = distinctNetworks(i.exposed).map(formatCidr);
  const egress = [...new Set(i.egress)].sort((a, b) => a - b).map((a) => `${formatIPv4(a)}/32`);
  const canary = ['-j', CANARY_CHAIN];
  return [
    {
      table: 'filter',
      chains: [
        { chain: CANARY_CHAIN, rules: [] },
        { chain: EXPOSE_CHAIN, rules: exposed.map((c) => ['-d', c, '-j', 'ACCEPT']) },
        { chain: INPUT_CHAIN, rules: [...vxlanGuard(i.vxlanGuard), canary] },
        {
          chain: FILTER_CHAIN,
          rules: [
            ['-i', br, '-o', br, '-m', 'physdev', '--physdev-is-bridged', '-j', 'ACCEPT'],
            ['-i', br, '-o', br, '-j', 'DROP'],
            ['-i', br, '!', '-o', br, '-j', 'ACCEPT'],
            ['-o', br, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
            ['-o', br, '-j', EXPOSE_CHAIN],
            canary,
          ],
        },
      ],
      jumps: [{ from: 'FORWARD', rule: ['-j', FILTER_CHAIN] }, { from: 'INPUT', rule: ['-j', INPUT_CHAIN] }],
      canary: { chain: FILTER_CHAIN, rule: canary },
    },
    {
      table: 'nat',
      chains: [
        { chain: CANARY_CHAIN, rules: [] },
        {
          chain: NAT_EXPOSE_CHAIN,
          rules: [
            ...overlay.map((c) => ['-s', c, '-j', 'RETURN']),
            ...exposed.map((c) => ['-o', br, '-d', c, '-j', 'MASQUERADE']),
          ],
        },
        {
          chain: NAT_CHAIN,
          rules: [
            ...overlay.map((c) => ['-d', c, '-j', NAT_EXPOSE_CHAIN]),
            ...overlay.map((c) => ['-d', c, '-j', 'RETURN']),
            ...egress.map((a) => ['-s', a, '!', '-o', br, '-j', 'MASQUERADE']),
            canary,
          ],
        },
      ],
      jumps: [{ from: 'POSTROUTING', rule: ['-j', NAT_CHAIN] }],
      canary: { chain: NAT_CHAIN, rule: canary },
    },
  ];
}

/** The tables and jumps `reset` undoes (whatever the inputs were). */
export const TABLE_JUMPS: ReadonlyArray<{ table: 'filter' | 'nat'; from: string; rule: FilterRule }> = [
  { table: 'filter', from: 'FORWARD', rule: ['-j', FILTER_CHAIN] },
  { table: 'filter', from: 'INPUT', rule: ['-j', INPUT_CHAIN] },
  { table: 'nat', from: 'POSTROUTING', rule: ['-j', NAT_CHAIN] },
];

/** `reset`: the jumps to our chains and every chain named TSWEAVE…, in both tables. Errors are thrown. */
export async function removeFirewall(filter: PacketFilter): Promise<void> {
  for (const j of TABLE_JUMPS) await filter.deleteRule(j.table, j.from, j.rule);
  for (const table of new Set(TABLE_JUMPS.map((j) => j.table))) {
    await filter.deleteChains(table, await filter.listChains(table, CHAIN_PREFIX));
  }
}
