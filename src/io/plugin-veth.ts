// The veth pair of a Docker plugin endpoint (NetworkDriver.Join): the host end on the weave bridge, the
// other end left in this namespace for dockerd to move into the container and rename to ethwe0. Names
// from the endpoint id, so DeleteEndpoint (or a later launch) finds the pair again.
import { BRIDGE_NAME } from '../core/defaults.js';
import { exec } from './exec.js';

/** Weave's plugin used vethwl…/vethwg… too; 6 + 9 = 15 characters (IFNAMSIZ - 1). */
export function pluginVethNames(endpointId: string): { host: string; guest: string } {
  const s = endpointId.slice(0, 9);
  return { host: `vethwl${s}`, guest: `vethwg${s}` };
}

function noSuchDevice(err: unknown): boolean {
  return /Cannot find device|does not exist/i.test(String((err as { stderr?: string }).stderr ?? err));
}

/** Creates the pair (replacing a stale one of the same endpoint); returns the guest end's name. */
export async function createPluginVeth(endpointId: string, mtu: number, bridge = BRIDGE_NAME): Promise<string> {
  const { host, guest } = pluginVethNames(endpointId);
  await deletePluginVeth(endpointId);
  await exec('ip', ['link', 'add', host, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', guest, 'mtu', String(mtu)]);
  try {
    await exec('ip', ['link', 'set', 'dev', host, 'master', bridge]);
    await exec('ip', ['link', 'set', 'dev', host, 'type', 'bridge_slave', 'hairpin', 'on']);
    await exec('ip', ['link', 'set', 'dev', host, 'up']);
  } catch (err) {
    await exec('ip', ['link', 'del', 'dev', host]).catch(() => undefined);
    throw err;
  }
  return guest;
}

export async function deletePluginVeth(endpointId: string): Promise<void> {
  try {
    await exec('ip', ['link', 'del', 'dev', pluginVethNames(endpointId).host]);
  } catch (err) {
    if (!noSuchDevice(err)) throw err;
  }
}
