// The API façade: what the HTTP routes (api/routes.ts ApiBackend) call — status, connect/forget,
// attach/detach/ps, dns-*, the IPAM endpoints, rmpeer, stats, stop. It only coordinates the parts a
// started node hands it (node.ts builds them); it owns no state of its own.

import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION, VERSION } from '../core/defaults.js';
import { ConfigError, TsweaveError } from '../core/errors.js';
import type { ContainerRuntime } from '../core/ports.js';
import { formatCidr, formatHostPort, parseHostPort, peerNameToNumber, type PeerName } from '../core/types.js';
import type { Overlay } from '../dataplane/overlay.js';
import type { DeathWatch } from '../containers/death-watch.js';
import type { Allocator } from '../ipam/index.js';
import type { ConnectionMaker } from '../mesh/connection-maker.js';
import type { Router } from '../mesh/router.js';
import type { ApiBackend, IpamApi } from '../api/routes.js';
import { buildStatus } from '../api/status.js';
import type { NatTraversal } from './nat-traversal.js';
import type { Status } from '../api/status-types.js';
import type { DataPlaneIo } from './adapters.js';
import { attachContainer } from './attach-flow.js';
import type { Attachment, AttachRequest, Attachments } from './attachments.js';
import type { HostAccess } from './host-access.js';
import type { DockerPluginHost } from './docker-plugin-host.js';
import type { LaunchConfig } from '../config/launch.js';
import type { PeerLinks } from './peer-links.js';
import type { PeerMemory } from './peer-memory.js';
import { listForPs, withBridgeAddresses } from './ps.js';
import { GATEWAY_ID } from './bridge-gateway.js';
import { DNS_ADDRESS_ID, type WeaveDns } from './weavedns.js';
import type { WeaveIpam } from './weaveipam.js';
import type { FastDpLink } from './fastdp-link.js';
import type { InboundStats } from '../mesh/accept-limiter.js';

/** The container id of names added with `dns-add IP… -h FQDN` (Weave's weave:extern). */
const EXTERN_ID = 'weave:extern';

/** The started parts of a node the façade coordinates. */
export interface ApiFacadeParts {
  config: LaunchConfig;
  router: Router;
  maker: ConnectionMaker;
  memory: PeerMemory;
  links: PeerLinks;
  overlay: Overlay;
  dataPlane: DataPlaneIo;
  /** The kernel fast datapath, when it runs. */
  fastdp: FastDpLink | undefined;
  attachments: Attachments;
  runtime: ContainerRuntime;
  deathWatch: DeathWatch;
  ipam: WeaveIpam | undefined;
  dns: WeaveDns | undefined;
  /** NAT traversal (its punched links and failed attempts show in status). */
  nat?: NatTraversal;
  /** Settles once the start-time reconcile has claimed what attached containers hold. */
  reconciled: Promise<void>;
  /** expose/hide, egress, the firewall (undefined when the adapters provide no host routing). */
  host: HostAccess | undefined;
  /** The Docker plugin, whose containers `ps` lists too (undefined with --no-plugin). */
  plugin?: Pick<DockerPluginHost, 'containers'> | undefined;
  /** Counters of the log (the destination's, and the warnings the limiter suppressed). */
  logStats(): object;
  /** The control listener's refusals before authentication. */
  inboundStats?(): InboundStats;
  /** Per HTTP listener (apiTcp, apiUnix, status): connections refused or cut (io/http-limits.ts). */
  httpStats?(): Record<string, object>;
  stop(reason?: string): Promise<void>;
}

export class ApiFacade implements ApiBackend {
  private readonly config: LaunchConfig;
  private readonly router: Router;
  private readonly maker: ConnectionMaker;
  private readonly memory: PeerMemory;
  private readonly links: PeerLinks;
  private readonly overlay: Overlay;
  private readonly attachments: Attachments;
  private readonly runtime: ContainerRuntime;
  private readonly ipam: WeaveIpam | undefined;
  private readonly dns: WeaveDns | undefined;
  /** Connections closed since start (Weave's TerminationCount in the report). */
  private terminations = 0;

  constructor(private readonly parts: ApiFacadeParts) {
    ({
      config: this.config,
      router: this.router,
      maker: this.maker,
      memory: this.memory,
      links: this.links,
      overlay: this.overlay,
      attachments: this.attachments,
      runtime: this.runtime,
      ipam: this.ipam,
      dns: this.dns,
    } = parts);
    this.router.on('connection:removed', () => void this.terminations++);
  }

  stop(reason?: string): Promise<void> {
    return this.parts.stop(reason);
  }

  status(): Status {
    return buildStatus({
      version: VERSION,
      protocolMinVersion: PROTOCOL_MIN_VERSION,
      protocolMaxVersion: PROTOCOL_MAX_VERSION,
      port: this.config.port,
      mtu: this.config.mtu,
      encryption: this.config.password !== undefined,
      trustedSubnets: this.config.trustedSubnets.map(formatCidr),
      router: this.router.snapshot(),
      maker: this.maker.snapshot(),
      terminations: this.terminations,
      ...(this.dns ? { dns: this.dns.status() } : {}),
      ...(this.ipam ? { ipam: this.ipam.status() } : {}),
      link: (peer) => {
        const l = this.links.get(peer as PeerName);
        if (!l) return undefined;
        const n = peerNameToNumber(l.remoteName);
        const rekeys = this.overlay.sessionInfo(n)?.rekeys ?? 0;
        const nat = l.punched ? this.parts.nat?.linkText(l.remoteName) : undefined;
        const fastdp = this.parts.fastdp?.status(n);
        return { encrypted: l.dataEncrypted, path: l.path, rekeys, ...(nat ? { nat } : {}), ...(fastdp ? { fastdp } : {}) };
      },
      natFailures: this.parts.nat?.failures() ?? [],
    });
  }

  /** Targets as the connection maker keys them: "host:port", the port defaulting to ours. */
  private targetsOf(peers: string[]): string[] {
    return peers.map((p) => formatHostPort(parseHostPort(p, this.config.port)));
  }

  connect(peers: string[], replace: boolean): void {
    this.maker.addTargets(this.targetsOf(peers), replace);
    this.memory.targetsChanged(this.maker.targets());
  }

  forget(peers: string[]): void {
    this.maker.forgetTargets(this.targetsOf(peers));
    this.memory.forget(this.targetsOf(peers));
    this.memory.targetsChanged(this.maker.targets());
  }

  /**
   * attach: addresses (IPAM allocates or claims them), the interface, then the DNS name when the
   * container's hostname is in the domain (attach-flow.ts). The container is watched so its addresses
   * and names are released when it dies.
   */
  attach(req: AttachRequest): Promise<Attachment> {
    const { runtime, attachments, ipam, dns, deathWatch, reconciled, host } = this.parts;
    const attach = () => attachContainer({ runtime, attachments, ipam, dns, deathWatch, reconciled }, req);
    return req.egress && host ? host.attachWithEgress(req, attach, (rec) => this.detach(rec.containerId, rec.cidrs)) : attach();
  }

  /** expose / hide (host-access.ts): the host's addresses on the overlay. */
  expose(addrs: string[]): Promise<string[]> {
    return this.requireHost().expose(addrs);
  }

  hide(addrs: string[]): Promise<string[]> {
    return this.requireHost().hide(addrs);
  }

  private requireHost(): HostAccess {
    if (!this.parts.host) throw new TsweaveError('ERR_STATE', 'host access (expose/hide) is not available on this router');
    return this.parts.host;
  }

  async detach(container: string, addrs: string[]): Promise<string[]> {
    const { containerId, removed, all } = await this.attachments.detach(container, addrs, this.config.ipam?.defaultSubnet);
    this.ipam?.free(containerId, all ? undefined : removed);
    await this.ipam?.flushed();
    if (all) this.parts.deathWatch.unwatch(containerId);
    if (this.dns) {
      if (all) await this.dns.removeContainer(containerId);
      else for (const c of removed) await this.dns.remove({ containerId, address: c.split('/')[0]! });
    }
    return removed;
  }

  /**
   * The allocator for the IPAM HTTP API (Weave's /ip routes); a clear error when IPAM is off. Allocations
   * and claims wait for the start-time reconcile, as attach does: until the addresses found on attached
   * containers are claimed again, a free-looking address may still be in use (issue 10.3).
   */
  ipamAllocator(): IpamApi {
    const a = this.requireAllocator();
    const ready = this.parts.reconciled;
    return {
      allocate: async (id, o) => (await ready, a.allocate(id, o)),
      claim: async (id, cidr, o) => (await ready, a.claim(id, cidr, o)),
      free: (id, addr) => a.free(id, addr),
      lookup: (id) => a.lookup(id),
      prime: (o) => a.prime(o),
    };
  }

  private requireAllocator(): Allocator {
    if (!this.ipam) throw new ConfigError('IPAM is disabled on this router (launched with --ipalloc-range "")');
    return this.ipam.allocator;
  }

  /** DELETE /peer (`reset`): hands this peer's IP ranges to another peer before it goes. */
  async leaveIpam(): Promise<string> {
    return this.ipam ? this.ipam.leave() : '';
  }

  /** rmpeer: takes over a dead peer's address space. */
  rmpeer(peer: string): string {
    const n = this.requireAllocator().rmpeer(peer);
    return `${n} IPs taken over from ${peer}\n`;
  }

  /** `ps`: attached containers that still exist; `only` = the references asked for (ps.ts). */
  async listAttached(only: string[] = []): Promise<Array<Pick<Attachment, 'containerId' | 'mac' | 'cidrs'>>> {
    const inUse = this.ipam?.allocator.containersInUse() ?? [];
    const host = only.length === 0 && this.parts.host
      ? [withBridgeAddresses(this.parts.host.psEntry(), inUse, [GATEWAY_ID, DNS_ADDRESS_ID], formatCidr)] : [];
    const plugin = (await this.parts.plugin?.containers(only)) ?? [];
    return [...host, ...(await listForPs(this.attachments.list(), this.runtime, only)), ...plugin];
  }

  private requireDns(): WeaveDns {
    if (!this.dns) throw new ConfigError('weaveDNS is disabled on this router (launched with --no-dns)');
    return this.dns;
  }

  /** dns-add: a container's name (default: its hostname, its attached addresses) or an external name. */
  async dnsAdd(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<void> {
    const dns = this.requireDns();
    const target = await this.dnsTarget(container, ips, fqdn);
    await dns.add(target.id, target.ips, target.fqdn);
  }

  async dnsRemove(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<number> {
    const dns = this.requireDns();
    const id = container === undefined ? EXTERN_ID : (await this.runtime.resolve(container).catch(() => ({ id: container }))).id;
    if (ips.length === 0) return fqdn ? dns.remove({ containerId: id, hostname: fqdn }) : dns.removeContainer(id);
    let n = 0;
    for (const ip of ips) n += await dns.remove({ containerId: id, address: ip, ...(fqdn ? { hostname: fqdn } : {}) });
    return n;
  }

  private async dnsTarget(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<{ id: string; ips: string[]; fqdn: string }> {
    if (container === undefined) {
      if (!fqdn || ips.length === 0) throw new ConfigError('dns-add without a container needs IP addresses and -h FQDN');
      return { id: EXTERN_ID, ips, fqdn };
    }
    const ref = await this.runtime.resolve(container);
    const name = fqdn ?? ref.hostname;
    if (!name) throw new ConfigError(`container ${container} has no hostname; give one with -h FQDN`);
    const addrs = ips.length ? ips : (this.attachments.list().find((a) => a.containerId === ref.id)?.cidrs ?? []).map((c) => c.split('/')[0]!);
    if (addrs.length === 0) throw new ConfigError(`container ${container} has no weave addresses; give IP addresses or attach it first`);
    return { id: ref.id, ips: addrs, fqdn: name };
  }

  dnsLookup(name: string): string[] {
    return this.requireDns().service.lookup(name);
  }

  /** The DNS server's address for `docker run --dns` (claimed from IPAM on first use when there is no docker0). */
  async dnsArgs(): Promise<{ address: string; domain: string }> {
    const dns = this.requireDns();
    const address = await dns.ensureListening();
    await this.ipam?.flushed();
    return { address: address.replace(/:53$/, ''), domain: dns.config.domain };
  }

  stats(): Record<string, unknown> {
    const io = this.parts.dataPlane.stats();
    return {
      overlay: this.overlay.stats,
      forward: this.overlay.forwarder.stats,
      fastPath: this.overlay.fastStats(),
      ...(this.parts.fastdp ? { fastdp: this.parts.fastdp.stats() } : {}),
      sessions: Object.fromEntries(
        [...this.links.all()].map((l) => {
          const info = this.overlay.sessionInfo(peerNameToNumber(l.remoteName));
          if (!info) return [l.remoteName, { rekeys: 0, keyGeneration: 0 }];
          const { rekeys, keyGeneration, rttMs, datagramsSent, bytesSent, datagramsReceived, bytesReceived } = info;
          return [l.remoteName, { rekeys, keyGeneration, rttMs, datagramsSent, bytesSent, datagramsReceived, bytesReceived }];
        }),
      ),
      tap: io.tap,
      udp: io.udp,
      router: this.router.snapshot().stats,
      inbound: this.parts.inboundStats?.(),
      http: this.parts.httpStats?.(),
      dns: this.dns?.stats(),
      log: this.parts.logStats(),
      firewall: this.parts.host?.firewall.stats,
    };
  }
}
