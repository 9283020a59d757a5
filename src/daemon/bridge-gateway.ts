// The router's address on the weave bridge inside a subnet: the default route of containers attached with
// egress by the CNI plugin and the Docker plugin (issue 15). The bridge's first address when it lies in the
// subnet (weaveDNS's own, or `expose`'s), else the IPAM claim "weave:gateway" in that subnet, made if
// needed (durable, kept across restarts like weaveDNS's) and put on the bridge. Beyond the overlay the
// firewall masquerades egress containers' addresses (host/firewall-rules.ts TSWEAVE-NAT).
import { BRIDGE_NAME } from '../core/defaults.js';
import type { Logger } from '../core/logger.js';
import type { HostNetwork } from '../core/ports.js';
import { cidrContains, formatIPv4, parseCidr, type Cidr } from '../core/types.js';
import type { WeaveIpam } from './weaveipam.js';

/** IPAM id of the bridge address egress containers route through when nothing else put one there. */
export const GATEWAY_ID = 'weave:gateway';

export async function bridgeGatewayFor(
  hostNet: Pick<HostNetwork, 'linkAddress' | 'replaceLinkAddr'>,
  ipam: WeaveIpam,
  subnet: Cidr,
  log: Logger,
): Promise<string> {
  const present = await hostNet.linkAddress(BRIDGE_NAME);
  if (present !== undefined && cidrContains(subnet, parseCidr(`${present}/32`).addr)) return present;
  const claimed = ipam.allocator.lookup(GATEWAY_ID).map((a) => a.cidr).find((c) => cidrContains(subnet, parseCidr(c).addr))
    ?? (await ipam.resolveAddrs(GATEWAY_ID, [`net:${formatIPv4(subnet.addr)}/${subnet.prefix}`]))[0]!;
  await ipam.durable();
  await hostNet.replaceLinkAddr(BRIDGE_NAME, claimed);
  log.info({ cidr: claimed }, 'bridge address for egress containers\' default route');
  return claimed.split('/')[0]!;
}
