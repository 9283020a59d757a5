// attach / detach / ps: put a container on the weave bridge with addresses, take it off again, and list
// what is attached. The addresses on `ethwe` inside the container are the truth; the record kept in the
// data dir only remembers which containers we attached, so `ps` and `detach` work after a restart.

import { ConfigError, TsweaveError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ContainerRef, ContainerRuntime, HostNetwork, StateStore } from '../core/ports.js';
import { cidrContains, formatCidr, parseCidr, type Cidr } from '../core/types.js';
import { BRIDGE_NAME, CONTAINER_IFNAME } from '../core/defaults.js';
import { hostVethName } from '../io/host-network.js';

export const ATTACHMENTS_STATE_KEY = 'attachments.json';

export interface AttachRequest {
  container: string;
  addrs: string[];
  withoutDns?: boolean;
  hostname?: string;
}

export interface Attachment {
  containerId: string;
  netnsPath: string;
  hostname?: string;
  /** MAC of ethwe in the container (shown by `ps`). */
  mac: string;
  cidrs: string[];
}

export interface AttachmentsComponents {
  logger: Logger;
  hostNet: HostNetwork;
  runtime: ContainerRuntime;
  store: StateStore;
}

/** `[ip:]CIDR` arguments as CIDRs; `net:` forms need IPAM, which allocates them (weaveipam.ts). */
export function explicitCidrs(addrs: readonly string[]): string[] {
  return addrs.map((a) => {
    if (a.startsWith('net:')) {
      throw new ConfigError(`cannot use "${a}": automatic allocation needs IPAM, which is disabled on this router (--ipalloc-range "")`);
    }
    return formatCidr(parseCidr(a.startsWith('ip:') ? a.slice(3) : a, 'address'));
  });
}

/**
 * detach's addresses: `[ip:]CIDR` as given; `net:CIDR` (and `net:default`, the IPAM default subnet) mean
 * every address the container has inside that subnet, as in Weave.
 */
export function detachCidrs(addrs: readonly string[], present: readonly string[], defaultSubnet: Cidr | undefined): string[] {
  const out: string[] = [];
  for (const a of addrs) {
    if (!a.startsWith('net:')) {
      out.push(...explicitCidrs([a]));
      continue;
    }
    const subnet = a === 'net:default' ? defaultSubnet : parseCidr(a.slice(4), 'subnet');
    if (!subnet) throw new ConfigError(`cannot use "${a}": there is no default subnet, IPAM is disabled on this router (--ipalloc-range "")`);
    out.push(...present.filter((c) => cidrContains(subnet, parseCidr(c).addr)));
  }
  return [...new Set(out)];
}

export class Attachments {
  private readonly log: Logger;
  private readonly byId = new Map<string, Attachment>();

  constructor(
    private readonly c: AttachmentsComponents,
    private readonly mtu: number,
  ) {
    this.log = c.logger.child({ component: 'attach' });
  }

  async load(): Promise<void> {
    const raw = await this.c.store.read(ATTACHMENTS_STATE_KEY);
    if (!raw) return;
    try {
      const list = JSON.parse(Buffer.from(raw).toString('utf8')) as Attachment[];
      for (const a of list) {
        if (typeof a.containerId === 'string' && Array.isArray(a.cidrs)) this.byId.set(a.containerId, { ...a, mac: typeof a.mac === 'string' ? a.mac : '' });
      }
    } catch (err) {
      this.log.warn({ err }, 'attachments record unreadable; starting without it');
    }
  }

  private async save(): Promise<void> {
    await this.c.store.write(ATTACHMENTS_STATE_KEY, Buffer.from(JSON.stringify([...this.byId.values()])));
  }

  /** Puts `ethwe` into the resolved container with `cidrs` (idempotent). */
  async attach(ref: ContainerRef, cidrs: readonly string[], hostname?: string): Promise<Attachment> {
    const hostName = hostVethName(ref.id);
    await this.c.hostNet.ensureVeth({ netnsPath: ref.netnsPath, ifname: CONTAINER_IFNAME, hostName, mtu: this.mtu }, BRIDGE_NAME);
    const present = await this.c.hostNet.containerAddrs(ref.netnsPath, CONTAINER_IFNAME);
    for (const cidr of cidrs) {
      if (!present.includes(cidr)) await this.c.hostNet.addContainerAddr(ref.netnsPath, CONTAINER_IFNAME, cidr);
    }
    await this.c.hostNet.finishAttach(ref.netnsPath, CONTAINER_IFNAME, [...cidrs]);
    const prev = this.byId.get(ref.id);
    const all = [...new Set([...(prev?.cidrs ?? []), ...cidrs])];
    const mac = (await this.c.hostNet.containerMac(ref.netnsPath, CONTAINER_IFNAME)) ?? '';
    const rec: Attachment = { containerId: ref.id, netnsPath: ref.netnsPath, mac, cidrs: all };
    const name = hostname ?? ref.hostname;
    if (name) rec.hostname = name;
    this.byId.set(ref.id, rec);
    await this.save();
    this.log.info({ container: ref.id, cidrs }, 'container attached');
    return { ...rec, cidrs: [...cidrs] };
  }

  /** Forgets a container that is gone (its namespace and interfaces went with it). */
  async forget(containerId: string): Promise<void> {
    if (this.byId.delete(containerId)) await this.save();
  }

  /**
   * Removes the given addresses (all when none given; then the interface goes too). Returns the
   * container's id, what was removed, and whether that was everything.
   */
  async detach(container: string, addrs: string[], defaultSubnet?: Cidr): Promise<{ containerId: string; removed: string[]; all: boolean }> {
    const ref: ContainerRef = await this.c.runtime.resolve(container).catch((err: unknown) => {
      // A container that is gone can still be detached from our records.
      const known = [...this.byId.values()].find((a) => a.containerId === container);
      if (!known) throw err;
      return { id: known.containerId, netnsPath: known.netnsPath };
    });
    const present = await this.c.hostNet.containerAddrs(ref.netnsPath, CONTAINER_IFNAME).catch(() => [] as string[]);
    const wanted = addrs.length ? detachCidrs(addrs, present, defaultSubnet) : present;
    const missing = wanted.filter((c) => !present.includes(c));
    if (addrs.length && missing.length) {
      throw new TsweaveError('ERR_USAGE', `container ${container} does not have ${missing.join(', ')} on ${CONTAINER_IFNAME}`);
    }
    const all = !addrs.length || wanted.length === present.length;
    if (all) {
      await this.c.hostNet.deleteContainerLink(ref.netnsPath, CONTAINER_IFNAME);
    } else {
      for (const cidr of wanted) await this.c.hostNet.delContainerAddr(ref.netnsPath, CONTAINER_IFNAME, cidr);
    }
    const rec = this.byId.get(ref.id);
    if (rec) {
      rec.cidrs = rec.cidrs.filter((c) => !wanted.includes(c));
      if (all) this.byId.delete(ref.id);
      await this.save();
    }
    this.log.info({ container: ref.id, cidrs: wanted }, 'container detached');
    return { containerId: ref.id, removed: wanted, all };
  }

  list(): Attachment[] {
    return [...this.byId.values()];
  }
}
