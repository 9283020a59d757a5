// attach / detach / ps: put a container on the weave bridge with addresses, take it off again, and list
// what is attached. The addresses on `ethwe` inside the container are the truth; the record kept in the
// data dir only remembers which containers we attached, so `ps` and `detach` work after a restart.

import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import { DurableWriter } from '../core/durable-writer.js';
import type { Logger } from '../core/logger.js';
import type { ContainerRef, ContainerRuntime, HostNetwork, StateStore } from '../core/ports.js';
import { cidrContains, formatCidr, parseCidr, type Cidr } from '../core/types.js';
import { ATTACHMENTS_STATE_KEY, BRIDGE_NAME, CONTAINER_IFNAME } from '../core/defaults.js';
import { hostVethName } from '../io/host-network.js';
import { setAsideCorrupt } from './corrupt-state.js';

export interface AttachRequest {
  container: string;
  addrs: string[];
  withoutDns?: boolean;
  hostname?: string;
  /** Interface name and default route, for CNI's ADD (daemon/cni-attach.ts). */
  iface?: AttachOptions;
  /** Default route via this host, masqueraded beyond the overlay (host-access.ts). */
  egress?: boolean;
}

export interface Attachment {
  containerId: string;
  netnsPath: string;
  hostname?: string;
  /** MAC of ethwe in the container (shown by `ps`). */
  mac: string;
  cidrs: string[];
  /** The interface in the container when it is not `ethwe` (a CNI runtime's CNI_IFNAME). */
  ifname?: string;
  /** Attached with egress: its addresses are masqueraded beyond the overlay (firewall-rules.ts). */
  egress?: boolean;
  /** Attached with --without-dns: a re-attach after a restart registers no name either. */
  withoutDns?: true;
}

/** What attach() does beyond `ethwe` with addresses (the CNI plugin's ADD, daemon/cni-attach.ts). */
export interface AttachOptions {
  /** Interface name in the container. @default "ethwe" */
  ifname?: string;
  /** Default route via this address (on the weave bridge). */
  gateway?: string;
  /** Masquerade its addresses beyond the overlay (host-access.ts, firewall-rules.ts). */
  egress?: boolean;
  /** Register no DNS name, now and on a re-attach after a restart. */
  withoutDns?: boolean;
}

/** The record's interface in the container. */
/**
 * What the death watch follows for a recorded attachment. A Docker container was reached through
 * /proc/PID/ns/net: with that PID, one restarted while the router was down (new process, new namespace,
 * no ethwe) counts as gone from the attached namespace and is re-attached (docker-restarts.ts); without
 * it, a running container passed for the attached one and stayed without ethwe.
 */
export function watchRefOf(a: Pick<Attachment, 'containerId' | 'netnsPath'>): ContainerRef {
  const pid = /\/(\d+)\/ns\/net$/.exec(a.netnsPath)?.[1];
  const ref: ContainerRef = { id: a.containerId, netnsPath: a.netnsPath };
  return pid === undefined ? ref : { ...ref, pid: Number(pid) };
}

export function ifnameOf(rec: Pick<Attachment, 'ifname'>): string {
  return rec.ifname ?? CONTAINER_IFNAME;
}

export interface AttachmentsComponents {
  logger: Logger;
  /** For messages about the state file. */
  dataDir: string;
  hostNet: HostNetwork;
  runtime: ContainerRuntime;
  store: StateStore;
  /** Containers on this host's bridge according to the kernel, except those at the given paths (io/ethwe-scan.ts). */
  scan?: (exclude: string[]) => Promise<Array<{ containerId: string; netnsPath: string; mac: string; cidrs: string[] }>>;
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

/** attachments.json as written by Attachments; throws with what is wrong otherwise. */
export function parseAttachments(text: string): Attachment[] {
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new Error('not a JSON array');
  return list.map((a: Partial<Attachment>, i) => {
    const ok = typeof a === 'object' && a !== null && typeof a.containerId === 'string' && typeof a.netnsPath === 'string' &&
      Array.isArray(a.cidrs) && a.cidrs.every((c) => typeof c === 'string');
    if (!ok) throw new Error(`entry ${i} lacks containerId, netnsPath or cidrs`);
    const rec: Attachment = { containerId: a.containerId!, netnsPath: a.netnsPath!, mac: typeof a.mac === 'string' ? a.mac : '', cidrs: a.cidrs! };
    if (typeof a.hostname === 'string') rec.hostname = a.hostname;
    if (typeof a.ifname === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(a.ifname)) rec.ifname = a.ifname;
    if (a.egress === true) rec.egress = true;
    if (a.withoutDns === true) rec.withoutDns = true;
    return rec;
  });
}

/** An attach that failed and was undone: the reason, and that nothing was kept. */
function undone(container: string, what: string, err: unknown): TsweaveError {
  return new TsweaveError('ERR_STATE', `attach of ${container} undone: ${what}: ${errorMessage(err)}`, { cause: err });
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
  /** One write of attachments.json at a time, each a snapshot of byId (records never lost to a race). */
  private readonly writer = new DurableWriter(() => this.c.store.write(ATTACHMENTS_STATE_KEY, Buffer.from(JSON.stringify([...this.byId.values()]))));

  constructor(
    private readonly c: AttachmentsComponents,
    private readonly mtu: number,
  ) {
    this.log = c.logger.child({ component: 'attach' });
  }

  /**
   * Reads the records. A file that is not what we write is set aside (renamed with a timestamp, never
   * overwritten) and start fails with one line saying so (StateCorruptError).
   */
  async load(): Promise<void> {
    const raw = await this.c.store.read(ATTACHMENTS_STATE_KEY);
    if (!raw) return;
    let list: Attachment[];
    try {
      list = parseAttachments(Buffer.from(raw).toString('utf8'));
    } catch (err) {
      throw await setAsideCorrupt(this.c.store, ATTACHMENTS_STATE_KEY, this.c.dataDir, errorMessage(err),
        'launch again to start without it (the containers on the bridge are found again from their interfaces)');
    }
    for (const a of list) this.byId.set(a.containerId, a);
  }

  /**
   * Makes the records agree with the kernel after a restart (issue 10.3): each recorded container that
   * still exists gets the addresses its `ethwe` really has (an attach cut short by a crash may have
   * written its record before touching the kernel); one without `ethwe` any more is forgotten. A
   * container whose namespace is gone keeps its record: the death watch releases it. Then a container on
   * our bridge that has no record at all (records lost or set aside) is adopted, so its addresses are
   * claimed rather than given again. Returns the records.
   *
   * `released` is told the addresses a record had that its container does not hold (an attach cut short
   * after its claims and record were written): their claims must go too, or they stay taken for good, held
   * by nobody. An interface left without any address (cut short before the first one) is removed.
   */
  async reconcile(released: (containerId: string, cidrs: string[]) => void = () => {}): Promise<Attachment[]> {
    let changed = false;
    for (const rec of [...this.byId.values()]) {
      let present: string[];
      let mac: string | undefined;
      try {
        present = await this.c.hostNet.containerAddrs(rec.netnsPath, ifnameOf(rec));
        mac = await this.c.hostNet.containerMac(rec.netnsPath, ifnameOf(rec));
      } catch (err) {
        this.log.debug({ err, container: rec.containerId }, 'cannot look at an attached container; keeping its record');
        continue;
      }
      const missing = rec.cidrs.filter((c) => !present.includes(c));
      if (missing.length) released(rec.containerId, missing);
      if (mac !== undefined && present.length === 0) {
        this.log.warn({ container: rec.containerId }, 'an attach cut short left an interface without addresses; removing it');
        await this.c.hostNet.deleteContainerLink(rec.netnsPath, ifnameOf(rec)).catch(() => undefined);
        mac = undefined;
      }
      if (mac === undefined) {
        this.byId.delete(rec.containerId);
        changed = true;
        continue;
      }
      if (rec.mac !== mac || rec.cidrs.length !== present.length || rec.cidrs.some((c) => !present.includes(c))) {
        this.byId.set(rec.containerId, { ...rec, mac, cidrs: present });
        changed = true;
      }
    }
    for (const f of (await this.c.scan?.(this.list().map((r) => r.netnsPath))) ?? []) {
      if (f.cidrs.length === 0 || this.byId.has(f.containerId)) continue;
      this.log.warn({ container: f.containerId, cidrs: f.cidrs }, 'a container on the bridge has no record; adopting it so its addresses are not given again');
      this.byId.set(f.containerId, { containerId: f.containerId, netnsPath: f.netnsPath, mac: f.mac, cidrs: f.cidrs });
      changed = true;
    }
    if (changed) await this.writer.durable(this.writer.changed());
    return this.list();
  }

  /**
   * Puts `ethwe` into the resolved container with `cidrs` (idempotent), all or nothing: the record is on
   * disk (fsync'd) before the kernel is touched, so a crash at any point leaves a record that reconcile()
   * corrects; a failure undoes what this call did (interface or addresses, and the record) and says why.
   */
  async attach(ref: ContainerRef, cidrs: readonly string[], hostname?: string, opts: AttachOptions = {}): Promise<Attachment> {
    const prev = this.byId.get(ref.id);
    const name = hostname ?? ref.hostname ?? prev?.hostname;
    const ifname = opts.ifname ?? CONTAINER_IFNAME;
    if (prev && ifnameOf(prev) !== ifname) {
      throw new TsweaveError('ERR_USAGE', `container ${ref.id} is already attached as ${ifnameOf(prev)}; one interface per container`);
    }
    const rec: Attachment = { containerId: ref.id, netnsPath: ref.netnsPath, mac: prev?.mac ?? '', cidrs: [...new Set([...(prev?.cidrs ?? []), ...cidrs])] };
    if (name) rec.hostname = name;
    if (ifname !== CONTAINER_IFNAME) rec.ifname = ifname;
    if (opts.egress || prev?.egress) rec.egress = true;
    if (opts.withoutDns ?? prev?.withoutDns) rec.withoutDns = true;
    this.byId.set(ref.id, rec);
    try {
      await this.writer.durable(this.writer.changed());
    } catch (err) {
      this.restore(ref.id, prev);
      throw undone(ref.id, 'cannot record the attachment', err);
    }
    const hadLink = (await this.c.hostNet.containerMac(ref.netnsPath, ifname).catch(() => undefined)) !== undefined;
    const before = hadLink ? await this.c.hostNet.containerAddrs(ref.netnsPath, ifname).catch(() => [] as string[]) : [];
    try {
      const hostName = hostVethName(ref.id);
      await this.c.hostNet.ensureVeth({ netnsPath: ref.netnsPath, ifname, hostName, mtu: this.mtu }, BRIDGE_NAME);
      for (const cidr of cidrs) {
        if (!before.includes(cidr)) await this.c.hostNet.addContainerAddr(ref.netnsPath, ifname, cidr);
      }
      await this.c.hostNet.finishAttach(ref.netnsPath, ifname, [...cidrs], opts.gateway);
      rec.mac = (await this.c.hostNet.containerMac(ref.netnsPath, ifname)) ?? '';
    } catch (err) {
      await this.undoKernel(ref, hadLink, before, cidrs, ifname);
      this.restore(ref.id, prev);
      throw err;
    }
    // The MAC only feeds `ps`; reconcile() refreshes it after a restart, so this write need not be waited for.
    this.saveInBackground();
    this.log.info({ container: ref.id, cidrs }, 'container attached');
    return { ...rec, cidrs: [...cidrs] };
  }

  /** The kernel as it was before a failed attach: no interface if there was none, else no new addresses. */
  async undoKernel(ref: ContainerRef, hadLink: boolean, before: readonly string[], cidrs: readonly string[], ifname = CONTAINER_IFNAME): Promise<void> {
    try {
      if (!hadLink) await this.c.hostNet.deleteContainerLink(ref.netnsPath, ifname);
      else for (const c of cidrs) if (!before.includes(c)) await this.c.hostNet.delContainerAddr(ref.netnsPath, ifname, c);
    } catch (err) {
      this.log.error({ err, container: ref.id }, 'undoing a failed attach failed; the container may keep an address that is not recorded');
    }
  }

  /** Puts the record back as it was before a failed attach (and writes that, best effort). */
  private restore(id: string, prev: Attachment | undefined): void {
    if (prev) this.byId.set(id, prev);
    else this.byId.delete(id);
    this.saveInBackground();
  }

  private saveInBackground(): void {
    this.writer.durable(this.writer.changed()).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'writing the attachments record failed'));
  }

  /** Resolves when every change so far has been written or has failed. */
  settled(): Promise<void> {
    return this.writer.settled();
  }

  /** Forgets a container that is gone (its namespace and interfaces went with it). */
  async forget(containerId: string): Promise<void> {
    if (this.byId.delete(containerId)) await this.writer.durable(this.writer.changed());
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
    const ifname = ifnameOf(this.byId.get(ref.id) ?? {});
    const present = await this.c.hostNet.containerAddrs(ref.netnsPath, ifname).catch(() => [] as string[]);
    const wanted = addrs.length ? detachCidrs(addrs, present, defaultSubnet) : present;
    const missing = wanted.filter((c) => !present.includes(c));
    if (addrs.length && missing.length) {
      throw new TsweaveError('ERR_USAGE', `container ${container} does not have ${missing.join(', ')} on ${ifname}`);
    }
    const all = !addrs.length || wanted.length === present.length;
    if (all) {
      await this.c.hostNet.deleteContainerLink(ref.netnsPath, ifname);
    } else {
      for (const cidr of wanted) await this.c.hostNet.delContainerAddr(ref.netnsPath, ifname, cidr);
    }
    const rec = this.byId.get(ref.id);
    if (rec) {
      rec.cidrs = rec.cidrs.filter((c) => !wanted.includes(c));
      if (all) this.byId.delete(ref.id);
      await this.writer.durable(this.writer.changed());
    }
    this.log.info({ container: ref.id, cidrs: wanted }, 'container detached');
    return { containerId: ref.id, removed: wanted, all };
  }

  list(): Attachment[] {
    return [...this.byId.values()];
  }
}
