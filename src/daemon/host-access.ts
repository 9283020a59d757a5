// The host on the overlay (Weave's `expose` / `hide`) and containers' egress through their host.
//
// expose: addresses claimed in IPAM for `weave:expose` (default subnet, `net:CIDR`, or the given CIDRs),
// recorded in the data dir (expose.json), put on the weave bridge; the host then reaches containers on
// every host and they reach it, and other networks can route to those subnets through this host (the
// firewall's TSWEAVE-EXPOSE / TSWEAVE-NAT-EXPOSE rules). All or nothing, in attach's order: claims in
// memory → claims on disk → record on disk → kernel; a failed step undoes the ones before it. At start the
// recorded addresses go back on the bridge. hide: bridge → record → claims freed.
//
// egress: a container attached with egress gets a default route via this host's exposed address in its
// subnet (the host is exposed there first if it is not: Weave's plugin also used the exposed address as
// the containers' gateway), and its addresses are masqueraded towards everything outside the overlay.
import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import { DurableWriter } from '../core/durable-writer.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import type { Clock, HostRouting, PacketFilter, StateStore } from '../core/ports.js';
import { cidrContains, formatCidr, networkOf, parseCidr, type Cidr } from '../core/types.js';
import { CONTAINER_IFNAME, EXPOSE_STATE_KEY } from '../core/defaults.js';
import { detachCidrs, explicitCidrs, type Attachment, type AttachRequest } from './attachments.js';
import { setAsideCorrupt } from './corrupt-state.js';
import { Firewall } from './firewall.js';
import type { FirewallInputs } from '../host/firewall-rules.js';
import type { WeaveIpam } from './weaveipam.js';

/** The IPAM id of the host's own addresses (Weave's). */
export const EXPOSE_ID = 'weave:expose';

export interface HostAccessComponents {
  logger: Logger;
  clock: Clock;
  limiter: LogLimiter;
  store: StateStore;
  /** For messages about the state file. */
  dataDir: string;
  routing: HostRouting;
  filter: PacketFilter;
  ipam: WeaveIpam | undefined;
  /** The attached containers (their subnets are overlay, their egress flag chooses masquerade). */
  attached: () => readonly Attachment[];
  /** Settles once the start-time reconcile has claimed what containers hold (attach-flow.ts). */
  reconciled?: () => Promise<void>;
  /** The bridge's MAC, for `ps`. */
  bridgeMac?: string;
  /** More addresses (CIDRs) to masquerade beyond the overlay: the Docker plugin's containers. */
  moreEgress?: () => readonly string[];
}

/** expose.json: the list of exposed CIDRs; throws saying what is wrong otherwise. */
export function parseExposed(text: string): string[] {
  const v = JSON.parse(text) as unknown;
  if (!Array.isArray(v)) throw new Error('not a JSON array');
  return v.map((c, i) => {
    if (typeof c !== 'string') throw new Error(`entry ${i} is not a string`);
    return formatCidr(parseCidr(c, `entry ${i}`));
  });
}

export class HostAccess {
  readonly firewall: Firewall;
  /** Set once fastdp runs with a password (guardVxlan). */
  private vxlanGuard: FirewallInputs['vxlanGuard'];
  private readonly log: Logger;
  private exposed: string[] = [];
  private readonly writer: DurableWriter;
  /** One expose/hide at a time: each reads and replaces the list. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly c: HostAccessComponents,
    private readonly bridge: string,
    firewallCheckMs?: number,
  ) {
    this.log = c.logger.child({ component: 'host-access' });
    this.writer = new DurableWriter(() => c.store.write(EXPOSE_STATE_KEY, Buffer.from(JSON.stringify(this.exposed))));
    this.firewall = new Firewall({ filter: c.filter, clock: c.clock, logger: c.logger, limiter: c.limiter, inputs: () => this.firewallInputs() }, firewallCheckMs);
  }

  /** Loads the record, puts the exposed addresses back on the bridge, installs the firewall rules. */
  async start(): Promise<void> {
    const raw = await this.c.store.read(EXPOSE_STATE_KEY);
    if (raw) {
      try {
        this.exposed = parseExposed(Buffer.from(raw).toString('utf8'));
      } catch (err) {
        throw await setAsideCorrupt(this.c.store, EXPOSE_STATE_KEY, this.c.dataDir, errorMessage(err),
          "launch again to start with the host not exposed ('tsweave expose' again)");
      }
    }
    if (this.exposed.length) {
      try {
        for (const c of this.exposed) await this.c.routing.addBridgeAddr(this.bridge, c);
        await this.c.routing.enableForwarding(this.bridge);
        this.log.info({ cidrs: this.exposed }, 'host exposed again');
      } catch (err) {
        this.log.error({ err: errorMessage(err), cidrs: this.exposed }, 'putting the exposed addresses back on the bridge failed');
      }
      // The claims were persisted with IPAM's state; claim again only what is missing (never blocks start).
      void this.c.ipam?.reclaim([{ containerId: EXPOSE_ID, cidrs: this.exposed }]);
    }
    await this.firewall.start();
  }

  stop(): void {
    this.firewall.stop();
  }

  /** The exposed CIDRs. */
  list(): string[] {
    return [...this.exposed];
  }

  /** `ps`'s first line: the host as Weave showed it. */
  psEntry(): Attachment {
    return { containerId: EXPOSE_ID, netnsPath: '', mac: this.c.bridgeMac ?? '', cidrs: this.list() };
  }

  /** expose: returns the host's addresses for `addrs` (none: one in the default subnet). */
  expose(addrs: readonly string[]): Promise<string[]> {
    return this.locked(() => this.exposeNow(addrs));
  }

  /** hide: removes the given exposed addresses (`net:` forms: those in the subnet; none: all). */
  hide(addrs: readonly string[]): Promise<string[]> {
    return this.locked(() => this.hideNow(addrs));
  }

  /**
   * attach with egress: the gateway first (exposing the host in the container's subnet if needed), then
   * `attach`, then the container's default route; a failure of the route undoes the attach.
   */
  async attachWithEgress(req: AttachRequest, attach: () => Promise<Attachment>, undo: (rec: Attachment) => Promise<unknown>): Promise<Attachment> {
    const gateway = await this.gatewayFor(req.addrs);
    const rec = await attach();
    try {
      await this.c.routing.setContainerGateway(rec.netnsPath, CONTAINER_IFNAME, gateway);
    } catch (err) {
      await undo(rec).catch((e: unknown) => this.log.error({ err: errorMessage(e), container: rec.containerId }, 'undoing an attach with egress failed'));
      throw new TsweaveError('ERR_HOST_NETWORK', `attach of ${req.container} undone: cannot route it via ${gateway}: ${errorMessage(err)}`, { cause: err });
    }
    await this.firewall.refresh();
    return rec;
  }

  /**
   * The bridge was deleted by hand and created again (plumbing-keeper.ts): its exposed addresses and the
   * per-bridge forwarding settings went with it. Errors are thrown (the keeper logs them and checks again).
   */
  async bridgeRecreated(): Promise<void> {
    for (const c of this.exposed) await this.c.routing.addBridgeAddr(this.bridge, c);
    const inputs = this.firewallInputs();
    if (inputs.exposed.length > 0 || inputs.egress.length > 0) await this.c.routing.enableForwarding(this.bridge);
  }

  /**
   * A container of a plugin (CNI, Docker) was given egress: the host must forward for it and masquerade
   * its address now (the firewall would also see it at its next check). Errors are thrown.
   */
  async egressReady(): Promise<void> {
    await this.c.routing.enableForwarding(this.bridge);
    await this.firewall.refresh();
  }

  /** Everything the firewall rules depend on, now. */
  firewallInputs(): FirewallInputs {
    const attached = this.c.attached();
    const parse = (text: string): Cidr[] => {
      try {
        return [parseCidr(text)];
      } catch {
        return [];
      }
    };
    const exposed = this.exposed.flatMap(parse);
    return {
      bridge: this.bridge,
      overlay: [...(this.c.ipam ? [this.c.ipam.config.range] : []), ...exposed, ...attached.flatMap((a) => a.cidrs.flatMap(parse))],
      exposed,
      egress: [...attached.filter((a) => a.egress).flatMap((a) => a.cidrs), ...(this.c.moreEgress?.() ?? [])].flatMap(parse).map((c) => c.addr),
      ...(this.vxlanGuard ? { vxlanGuard: this.vxlanGuard } : {}),
    };
  }

  /**
   * Lets UDP `port` (kernel VXLAN, fastdp) in only from `allowed`; resolves true once the rule is in place
   * (then kept like the others: restored after a flush), false if iptables failed (the caller must then not
   * open the port).
   */
  async guardVxlan(port: number, allowed: readonly Cidr[]): Promise<boolean> {
    this.vxlanGuard = { port, allowed };
    await this.firewall.refresh();
    return this.firewall.isApplied();
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async exposeNow(addrs: readonly string[]): Promise<string[]> {
    await this.c.reconciled?.();
    const ipam = this.c.ipam;
    const claimedBefore = new Set(ipam?.allocator.lookup(EXPOSE_ID).map((a) => a.cidr) ?? []);
    let cidrs: string[];
    if (ipam) cidrs = await ipam.resolveAddrs(EXPOSE_ID, addrs);
    else if (addrs.length === 0) throw new ConfigError('expose needs ADDRESS/PREFIX: IPAM is disabled on this router (--ipalloc-range "")');
    else cidrs = explicitCidrs(addrs);
    const prev = this.exposed;
    const added: string[] = [];
    try {
      try {
        await ipam?.durable();
      } catch (err) {
        throw new TsweaveError('ERR_STATE', `expose undone: cannot record the address claim: ${errorMessage(err)}`, { cause: err });
      }
      this.exposed = [...new Set([...prev, ...cidrs])];
      try {
        await this.writer.durable(this.writer.changed());
      } catch (err) {
        throw new TsweaveError('ERR_STATE', `expose undone: cannot record the exposed addresses: ${errorMessage(err)}`, { cause: err });
      }
      const onBridge = await this.c.routing.bridgeAddrs(this.bridge);
      for (const c of cidrs) {
        if (onBridge.includes(c)) continue;
        await this.c.routing.addBridgeAddr(this.bridge, c);
        added.push(c);
      }
      await this.c.routing.enableForwarding(this.bridge);
    } catch (err) {
      for (const c of added) await this.c.routing.delBridgeAddr(this.bridge, c).catch(() => undefined);
      if (this.exposed !== prev) {
        this.exposed = prev;
        this.writer.durable(this.writer.changed()).catch((e: unknown) => this.log.warn({ err: errorMessage(e) }, 'writing the expose record failed'));
      }
      ipam?.free(EXPOSE_ID, cidrs.filter((c) => !claimedBefore.has(c)));
      throw err;
    }
    await this.firewall.refresh();
    this.log.info({ cidrs }, 'host exposed');
    return cidrs;
  }

  private async hideNow(addrs: readonly string[]): Promise<string[]> {
    const wanted = addrs.length ? detachCidrs(addrs, this.exposed, this.c.ipam?.config.defaultSubnet) : [...this.exposed];
    const missing = wanted.filter((c) => !this.exposed.includes(c));
    if (missing.length) {
      throw new TsweaveError('ERR_USAGE', `the host does not have ${missing.join(', ')} exposed (exposed: ${this.exposed.join(', ') || 'none'})`);
    }
    if (wanted.length === 0) return [];
    const removed: string[] = [];
    const prev = this.exposed;
    try {
      for (const c of wanted) {
        await this.c.routing.delBridgeAddr(this.bridge, c);
        removed.push(c);
      }
      this.exposed = prev.filter((c) => !wanted.includes(c));
      await this.writer.durable(this.writer.changed());
    } catch (err) {
      for (const c of removed) await this.c.routing.addBridgeAddr(this.bridge, c).catch(() => undefined);
      if (this.exposed !== prev) {
        this.exposed = prev;
        this.writer.durable(this.writer.changed()).catch(() => undefined);
      }
      throw new TsweaveError('ERR_STATE', `hide undone: ${errorMessage(err)}`, { cause: err });
    }
    this.c.ipam?.free(EXPOSE_ID, wanted);
    await this.c.ipam?.flushed();
    await this.firewall.refresh();
    this.log.info({ cidrs: wanted }, 'host hidden');
    return wanted;
  }

  /** This host's address in the subnet a container attached with `addrs` gets (exposing it there if needed). */
  private async gatewayFor(addrs: readonly string[]): Promise<string> {
    const first = addrs[0] ?? 'net:default';
    const defaultSubnet = this.c.ipam?.config.defaultSubnet;
    const subnet = first === 'net:default' ? defaultSubnet
      : first.startsWith('net:') ? parseCidr(first.slice(4), 'subnet')
        : networkOf(parseCidr(first.startsWith('ip:') ? first.slice(3) : first, 'address'));
    if (!subnet) throw new ConfigError('attach needs ADDRESS/PREFIX: IPAM is disabled on this router (--ipalloc-range "")');
    const net = formatCidr(networkOf(subnet));
    const own = (): string | undefined => this.exposed.find((c) => formatCidr(networkOf(parseCidr(c))) === net);
    let gw = own();
    if (!gw) {
      const range = this.c.ipam?.config.range;
      if (!range || !cidrContains(range, subnet.addr) || subnet.prefix < range.prefix) {
        throw new ConfigError(`egress for a container in ${net} needs this host to have an address there, and IPAM cannot give one ` +
          `(${range ? `outside its range ${formatCidr(range)}` : 'IPAM is disabled'}); run 'tsweave expose ADDRESS/${subnet.prefix}' with a free address in ${net} first`);
      }
      await this.expose([`net:${net}`]);
      gw = own()!;
    }
    return gw.split('/')[0]!;
  }
}
