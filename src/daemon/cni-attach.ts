// The router's side of the CNI plugin (issue 14): ADD, DEL and CHECK for a network namespace a container
// runtime names by path, with the interface name the runtime chose. ADD goes through the same all-or-
// nothing attach as `tsweave attach` (attach-flow.ts: IPAM claim → record → interface → DNS name), so CNI
// containers share one address space, one DNS and `tsweave ps` with every other container.
//
// Ids: a CNI container is "cni:<CNI_CONTAINERID>" in IPAM, DNS and the attachments record; the runtime
// treats such an id as alive while its namespace exists (io/container-runtime.ts kindOfId), so the death
// watch also releases containers whose runtime never calls DEL (`ctr task rm` does not).
//
// The default route goes via this router's address on the weave bridge in the container's subnet: one
// already there (weaveDNS's own, or `expose`'s), else one claimed from IPAM as "weave:gateway" (kept across
// restarts, like weaveDNS's). The container is attached with egress (issue 15): the firewall masquerades
// its address beyond the overlay (host/firewall-rules.ts TSWEAVE-NAT), so the default route reaches the
// outside world through this host; traffic between weave addresses is never masqueraded.

import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DeathWatch } from '../containers/death-watch.js';
import { netnsIdentity, type ResolvedContainer } from '../io/container-runtime.js';
import { hostVethName } from '../io/host-network.js';
import type { HostNetwork } from '../core/ports.js';
import { attachContainer } from './attach-flow.js';
import { bridgeGatewayFor } from './bridge-gateway.js';
import { ifnameOf, type Attachments } from './attachments.js';
import type { WeaveDns } from './weavedns.js';
import type { WeaveIpam } from './weaveipam.js';
import type { CniAddAnswer, CniBackend, CniRequest } from '../api/cni-routes.js';

const CNI_ID_PREFIX = 'cni:';

export interface CniFlow {
  attachments: Attachments;
  ipam: WeaveIpam | undefined;
  dns: WeaveDns | undefined;
  deathWatch: DeathWatch;
  reconciled: Promise<void>;
  hostNet: Pick<HostNetwork, 'deleteLink' | 'containerAddrs' | 'linkAddress' | 'replaceLinkAddr'>;
  log: Logger;
  /** Forwarding on and the egress masquerade applied now (host-access.ts); absent: no host access. */
  egressReady?: () => Promise<void>;
}

export function cniId(containerId: string): string {
  return CNI_ID_PREFIX + containerId;
}

/** weaveDNS's address for the container's resolv.conf; none (and a warning) when it has no address. */
async function dnsFor(f: CniFlow): Promise<{ address: string; domain: string } | undefined> {
  if (!f.dns) return undefined;
  try {
    const address = (await f.dns.ensureListening()).replace(/:53$/, '');
    return { address, domain: f.dns.config.domain };
  } catch (err) {
    f.log.warn({ err: errorMessage(err) }, 'CNI ADD: weaveDNS has no address; the container gets no nameserver');
    return undefined;
  }
}

export async function cniAdd(f: CniFlow, req: CniRequest): Promise<CniAddAnswer> {
  const ipam = f.ipam;
  if (!ipam) throw new ConfigError('IPAM is disabled on this router (launched with --ipalloc-range ""): CNI containers need it');
  const netnsId = await netnsIdentity(req.netns);
  if (netnsId === undefined) {
    throw new TsweaveError('ERR_CONTAINER_NOT_FOUND', `CNI_NETNS ${req.netns} is not a network namespace (container gone?)`);
  }
  const id = cniId(req.containerId);
  const ref: ResolvedContainer = { kind: 'cni', id, netnsPath: req.netns, netnsId };
  const known = f.attachments.list().find((a) => a.containerId === id);
  if (known && known.netnsPath !== req.netns) {
    throw new ConfigError(`container ${req.containerId} is already attached in namespace ${known.netnsPath}; DEL it first`);
  }
  await f.reconciled;
  const dns = await dnsFor(f);
  // The gateway first: the container's address comes from the same default subnet.
  const defaultSubnet = ipam.config.defaultSubnet;
  const gateway = await bridgeGatewayFor(f.hostNet, ipam, defaultSubnet, f.log);
  const fqdn = req.dnsName && f.dns ? `${req.dnsName}.${f.dns.config.domain}` : undefined;
  const rec = await attachContainer(
    { runtime: { resolve: async () => ref }, attachments: f.attachments, ipam, dns: f.dns, deathWatch: f.deathWatch, reconciled: f.reconciled },
    { container: id, addrs: [], withoutDns: fqdn === undefined, ...(fqdn ? { hostname: fqdn } : {}), iface: { ifname: req.ifname, gateway, egress: true } },
  );
  await f.egressReady?.().catch((err: unknown) => f.log.warn({ err: errorMessage(err) }, 'CNI ADD: the container has no way out of the overlay'));
  const full = f.attachments.list().find((a) => a.containerId === id);
  return { cidr: rec.cidrs[0]!, gateway, mac: full?.mac ?? rec.mac, ...(dns ? { dns } : {}) };
}

/**
 * Releases everything ADD gave, idempotently: the interface (by deleting our host end of the veth, which
 * takes the container end with it — never by entering a namespace path whose process may be another one
 * by now), the record, the addresses and the DNS names. Unknown containers and repeated calls succeed.
 */
export async function cniDel(f: CniFlow, req: Pick<CniRequest, 'containerId'>): Promise<void> {
  const id = cniId(req.containerId);
  await f.reconciled;
  await f.hostNet.deleteLink(hostVethName(id));
  await f.attachments.forget(id);
  f.deathWatch.unwatch(id);
  f.ipam?.free(id);
  await f.ipam?.flushed();
  await f.dns?.removeContainer(id);
}

/** CHECK: the container is attached here, in that namespace, as that interface, with its addresses. */
export async function cniCheck(f: CniFlow, req: CniRequest): Promise<void> {
  const id = cniId(req.containerId);
  const rec = f.attachments.list().find((a) => a.containerId === id);
  if (!rec) throw new TsweaveError('ERR_CONTAINER_NOT_FOUND', `container ${req.containerId} is not attached to tsweave on this host`);
  if (rec.netnsPath !== req.netns) throw new TsweaveError('ERR_STATE', `container ${req.containerId} was attached in ${rec.netnsPath}, not ${req.netns}`);
  if (ifnameOf(rec) !== req.ifname) throw new TsweaveError('ERR_STATE', `container ${req.containerId} was attached as ${ifnameOf(rec)}, not ${req.ifname}`);
  const present = await f.hostNet.containerAddrs(req.netns, req.ifname);
  const missing = rec.cidrs.filter((c) => !present.includes(c));
  if (present.length === 0 || missing.length) {
    throw new TsweaveError('ERR_STATE', `container ${req.containerId}: ${req.ifname} lacks ${missing.length ? missing.join(', ') : 'its addresses'}`);
  }
}

/** The API's view of the flow (api/cni-routes.ts). */
export function cniBackend(f: CniFlow): CniBackend {
  return { cniAdd: (r) => cniAdd(f, r), cniDel: (r) => cniDel(f, r), cniCheck: (r) => cniCheck(f, r) };
}
