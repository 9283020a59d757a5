// What to do with an existing Docker network named `weave` when the router starts (no I/O here; the
// daemon's docker-plugin-host.ts asks Docker and acts). The network keeps the subnet it was created with,
// so one left by an earlier launch (or a `reset`) with another --ipalloc-range / --ipalloc-default-subnet
// would make every `docker run --net=weave` fail with an address outside the range.
import { DEFAULT_NETWORK, PLUGIN_NAME } from './docker-plugin.js';

export interface ExistingNetwork {
  driver: string;
  /** The IPv4 subnets of its IPAM configuration, as Docker reports them. */
  subnets: readonly string[];
  /** Containers on it now. */
  containers: number;
}

export type WeaveNetworkAction =
  | { kind: 'keep' }
  /** Remove and create it again with `subnet`: nothing is on it, so nothing is disturbed. */
  | { kind: 'replace'; from: string }
  /** Leave it, and say why and what to do (a line for the log). */
  | { kind: 'warn'; message: string };

/**
 * `subnet`: the subnet this router creates the network with (its default subnet), undefined with IPAM off
 * (the network is then created without one).
 */
export function weaveNetworkAction(net: ExistingNetwork, subnet: string | undefined): WeaveNetworkAction {
  if (net.driver !== PLUGIN_NAME) {
    return {
      kind: 'warn',
      message: `a Docker network "${DEFAULT_NETWORK}" exists with driver "${net.driver}", not ${PLUGIN_NAME}: ` +
        `docker run --net=${DEFAULT_NETWORK} does not use tsweave until it is removed (docker network rm ${DEFAULT_NETWORK}) ` +
        'and tsweave is launched again',
    };
  }
  const have = net.subnets.length === 0 ? undefined : net.subnets.join(',');
  if (have === subnet) return { kind: 'keep' };
  const from = have ?? 'none';
  if (net.containers === 0) return { kind: 'replace', from };
  return {
    kind: 'warn',
    message: `the Docker network "${DEFAULT_NETWORK}" has subnet ${from}, not this router's default subnet ` +
      `${subnet ?? 'none (IPAM off)'}; its ${net.containers} container(s) keep their addresses, new ones may be ` +
      `refused: remove them, then docker network rm ${DEFAULT_NETWORK} and launch again`,
  };
}
