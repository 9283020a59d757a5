// Finds every container attached to this host's bridge by looking at the kernel alone (issue 10.3), as
// Weave's reclaim does: the records in the data dir may be lost, corrupt or behind a crash, but an
// address on a container's `ethwe` is in use whatever they say. A container is "attached here" when its
// `ethwe` is one end of a veth whose other end is a port of our bridge (matched both ways by ifindex).
// Candidates: the named namespaces in /run/netns, then every process's namespace, one per namespace.
// Interface indexes are per namespace, so on a machine with several routers (one per namespace, as the
// tests and the demo run them) another router's container can match our port's indexes by chance; when
// this router's own namespace has a name, the container's ethwe must also name it as its peer's
// namespace (link_netnsid, resolved inside the container with `ip netns list-id`).
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTAINER_IFNAME } from '../core/defaults.js';
import { exec, type ExecFn } from './exec.js';
import { DEFAULT_NETNS_DIR, netnsIdentity } from './container-runtime.js';

export interface FoundAttachment {
  /** "netns:NAME" for a named namespace, else "pid:N" (the lowest pid in it). */
  containerId: string;
  netnsPath: string;
  /** "dev:ino" of the namespace. */
  netnsId: string;
  mac: string;
  cidrs: string[];
}

export interface EthweScanInit {
  netnsDir?: string;
  procDir?: string;
  run?: ExecFn;
}

interface IpLink {
  ifindex: number;
  link_index?: number;
  link_netnsid?: number;
  address?: string;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/**
 * Containers whose ethwe hangs off `bridge`, with their addresses, leaving out the namespaces of
 * `exclude` (paths of containers already known). Never throws: a namespace that cannot be read is skipped.
 */
export async function scanAttached(bridge: string, exclude: readonly string[] = [], init: EthweScanInit = {}): Promise<FoundAttachment[]> {
  const run = init.run ?? exec;
  const netnsDir = init.netnsDir ?? DEFAULT_NETNS_DIR;
  const procDir = init.procDir ?? '/proc';
  let ports: IpLink[];
  try {
    ports = JSON.parse((await run('ip', ['-j', 'link', 'show', 'master', bridge])).stdout) as IpLink[];
  } catch {
    return [];
  }
  // Host port ifindex → its peer's ifindex. Keyed by the host side: container-side indexes repeat (ethwe
  // is often 2 in every namespace).
  const portPeer = new Map<number, number>();
  for (const p of ports) if (p.link_index !== undefined) portPeer.set(p.ifindex, p.link_index);
  if (portPeer.size === 0) return [];

  const own = await netnsIdentity(join(procDir, 'self', 'ns', 'net'));
  const seen = new Set<string>(own ? [own] : []);
  let ownName: string | undefined;
  for (const name of await readdir(netnsDir).catch(() => [] as string[])) {
    if (own !== undefined && (await netnsIdentity(join(netnsDir, name))) === own) ownName = name;
  }
  for (const p of exclude) {
    const id = await netnsIdentity(p);
    if (id) seen.add(id);
  }
  const candidates: Array<{ id: string; path: string; netnsId: string }> = [];
  const consider = async (id: string, path: string) => {
    const netnsId = await netnsIdentity(path);
    if (netnsId === undefined || seen.has(netnsId)) return;
    seen.add(netnsId);
    candidates.push({ id, path, netnsId });
  };
  for (const name of (await readdir(netnsDir).catch(() => [] as string[])).sort()) await consider(`netns:${name}`, join(netnsDir, name));
  const pids = (await readdir(procDir).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) await consider(`pid:${pid}`, join(procDir, String(pid), 'ns', 'net'));

  const found: FoundAttachment[] = [];
  for (const c of candidates) {
    let link: IpLink | undefined;
    try {
      link = (JSON.parse((await run('nsenter', [`--net=${c.path}`, 'ip', '-j', 'addr', 'show', 'dev', CONTAINER_IFNAME])).stdout) as IpLink[])[0];
    } catch {
      continue; // no ethwe there (the usual case), or the namespace went away
    }
    if (!link || link.link_index === undefined || portPeer.get(link.link_index) !== link.ifindex) continue;
    if (ownName !== undefined && !(await peerIsNamed(run, c.path, link.link_netnsid, ownName))) continue;
    const cidrs = (link.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.local !== undefined && a.prefixlen !== undefined)
      .map((a) => `${a.local}/${a.prefixlen}`);
    found.push({ containerId: c.id, netnsPath: c.path, netnsId: c.netnsId, mac: link.address ?? '', cidrs });
  }
  return found;
}

/** Whether, seen from the namespace at `path`, namespace id `nsid` is the named namespace `name`. */
async function peerIsNamed(run: ExecFn, path: string, nsid: number | undefined, name: string): Promise<boolean> {
  if (nsid === undefined) return false;
  try {
    const ids = JSON.parse((await run('nsenter', [`--net=${path}`, 'ip', '-j', 'netns', 'list-id'])).stdout || '[]') as Array<{ nsid?: number; name?: string }>;
    return ids.some((e) => e.nsid === nsid && e.name === name);
  } catch {
    return false;
  }
}
