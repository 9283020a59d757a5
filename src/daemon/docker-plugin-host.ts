// The router's side of the Docker network plugin (issue 13): serves containers/docker-plugin.ts on
// /run/docker/plugins/weavemesh.sock over this router's IPAM and bridge, creates the network `weave`
// (driver and IPAM driver weavemesh) as Weave did, registers plugin containers in weaveDNS when they start
// (and removes them when they die), and lists them for `ps`.
//
// DNS names of a container on a weavemesh network: its hostname when that is in the DNS domain
// (`--hostname web.weave.local`), else its container name in the domain (`--name web` → web.weave.local),
// plus its network aliases in the domain (`--network-alias db` → db.weave.local).
import type { Clock, Rng } from '../core/ports.js';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import { formatCidr, formatIPv4, networkOf, parseIPv4, type Cidr } from '../core/types.js';
import { DockerPlugin, DEFAULT_NETWORK, PLUGIN_NAME, type PluginFacade } from '../containers/docker-plugin.js';
import { weaveNetworkAction } from '../containers/weave-network.js';
import type { ContainerEvent } from '../containers/death-watch.js';
import { dockerFqdn } from '../core/container-reference.js';
import { DockerClient, DockerUnavailableError, type DockerContainerInfo } from '../io/docker-client.js';
import { servePlugin, type PluginServer } from '../io/docker-plugin-server.js';
import { createPluginVeth, deletePluginVeth } from '../io/plugin-veth.js';
import { ensureKeeper } from '../io/plugin-keeper.js';
import type { WeaveDns } from './weavedns.js';
import type { WeaveIpam } from './weaveipam.js';

/** IPAM owner ids of plugin addresses: "weavemesh:" + 16 hex digits. */
export const PLUGIN_OWNER_PREFIX = `${PLUGIN_NAME}:`;
/** Retry creating the `weave` network while dockerd is not there yet. */
const NETWORK_RETRY_MS = 10_000;

export interface PluginHostDeps {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  mtu: number;
  /** Where dockerd looks (held by the keeper process, io/plugin-keeper.ts). */
  socketPath: string;
  /** The router's own socket behind the keeper. */
  backendPath: string;
  ipam: WeaveIpam | undefined;
  dns: WeaveDns | undefined;
  docker?: DockerClient;
  /** The router's bridge address in a subnet (bridge-gateway.ts); absent: plugin containers get no way out. */
  gateway?: (subnet: Cidr) => Promise<string>;
  /** The set of egress addresses changed: forwarding on, the firewall re-applies its masquerade rules. */
  egressChanged?: () => Promise<void>;
  /** Containers attached with `tsweave attach` (their names are not the plugin's to forget). */
  attachedIds?: () => readonly string[];
}

/** A Docker container id, as the plugin registers names under. */
const DOCKER_ID = /^[0-9a-f]{64}$/;

export interface PluginContainer {
  containerId: string;
  mac: string;
  cidrs: string[];
}

export class DockerPluginHost {
  private readonly log: Logger;
  private readonly docker: DockerClient;
  private server: PluginServer | undefined;
  /** Containers registered in DNS by this plugin (so a die removes only theirs). */
  private readonly named = new Set<string>();
  private cancelRetry: (() => void) | undefined;
  private stopped = false;
  private saidDockerAway = false;
  /**
   * Addresses (/32) of plugin containers with egress, masqueraded beyond the overlay: by endpoint from
   * Join, and from Docker's view at start (containers that joined before this router started). Released
   * addresses leave it (ReleaseAddress).
   */
  private readonly egressAddrs = new Map<string, string>();

  constructor(private readonly d: PluginHostDeps) {
    this.log = d.logger.child({ component: 'docker-plugin' });
    this.docker = d.docker ?? new DockerClient();
  }

  async start(): Promise<void> {
    const plugin = new DockerPlugin(this.facade());
    this.server = await servePlugin(this.d.backendPath, (path, body) => plugin.handle(path, body), this.d.logger);
    try {
      const how = await ensureKeeper(this.d.socketPath, this.d.backendPath, this.d.logger);
      this.log.info({ socket: this.d.socketPath, keeper: how }, 'Docker plugin "weavemesh" available');
    } catch (err) {
      await this.server.close();
      this.server = undefined;
      throw err;
    }
    this.setUpDocker();
  }

  /** Feed of Docker events (from the death watch's stream). */
  event(ev: ContainerEvent): void {
    if (ev.action === 'start') void this.register(ev.id);
    else if ((ev.action === 'die' || ev.action === 'destroy') && this.named.delete(ev.id)) void this.d.dns?.removeContainer(ev.id);
  }

  /** Plugin containers as `ps` lists them; `only`: id prefixes or names. Empty when Docker cannot be asked. */
  async containers(only: readonly string[] = []): Promise<PluginContainer[]> {
    const nets = await this.docker.networksOfDriver(PLUGIN_NAME).catch(() => []);
    const out: PluginContainer[] = [];
    for (const n of nets) {
      for (const [id, c] of Object.entries(n.Containers ?? {})) {
        if (only.length && !only.some((r) => id.startsWith(r) || c.Name === r)) continue;
        out.push({ containerId: id, mac: c.MacAddress ?? '', cidrs: c.IPv4Address ? [c.IPv4Address] : [] });
      }
    }
    return out;
  }

  /** Addresses (CIDR /32) of plugin containers to masquerade beyond the overlay (host-access.ts). */
  egressAddresses(): string[] {
    return [...this.egressAddrs.values()];
  }

  stats(): object | undefined {
    return this.server?.stats;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    await this.server?.close();
  }

  private facade(): PluginFacade {
    const { ipam } = this.d;
    return {
      ipam: () => ipam && { range: ipam.config.range, defaultSubnet: ipam.config.defaultSubnet },
      newOwner: () => PLUGIN_OWNER_PREFIX + Buffer.from(this.d.rng.bytes(8)).toString('hex'),
      allocate: async (owner, subnet) => {
        const a = await ipam!.allocator.allocate(owner, { subnet });
        await this.durableOrFree(owner);
        return a.cidr;
      },
      claim: async (owner, cidr) => {
        await ipam!.allocator.claim(owner, cidr);
        await this.durableOrFree(owner);
      },
      release: async (addr) => {
        this.dropEgress((a) => a === `${addr}/32`);
        if (!ipam) return;
        const n = parseIPv4(addr);
        const holder = ipam.allocator.containersInUse().find((c) => c.containerId.startsWith(PLUGIN_OWNER_PREFIX) && c.addrs.some((a) => a.addr === n));
        if (!holder) return;
        ipam.allocator.free(holder.containerId);
        await ipam.flushed();
        this.log.info({ addr: formatIPv4(n) }, 'docker released an address');
      },
      createVeth: (endpointId) => createPluginVeth(endpointId, this.d.mtu),
      deleteVeth: (endpointId) => deletePluginVeth(endpointId),
      egress: async (endpointId, cidr) => {
        if (!this.d.gateway) return undefined;
        const gateway = await this.d.gateway(networkOf(cidr));
        this.egressAddrs.set(endpointId, `${formatIPv4(cidr.addr)}/32`);
        await this.egressChanged();
        return gateway;
      },
      endpointGone: (endpointId) => {
        if (this.egressAddrs.delete(endpointId)) void this.egressChanged();
      },
    };
  }

  /** Forwarding and the masquerade rules follow the egress set; a failure is logged (the firewall retries). */
  private async egressChanged(): Promise<void> {
    await this.d.egressChanged?.().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'plugin containers may have no way out of the overlay'));
  }

  private dropEgress(match: (addr: string) => boolean): void {
    let changed = false;
    for (const [key, addr] of this.egressAddrs) if (match(addr) && this.egressAddrs.delete(key)) changed = true;
    if (changed) void this.egressChanged();
  }

  /**
   * What Docker says now about the plugin's running containers: their addresses get egress again (a router
   * restart does not replay Join) and their DNS names are registered.
   */
  private async adoptRunning(): Promise<void> {
    const list = await this.containers();
    if (this.d.gateway && list.length > 0) {
      for (const c of list) for (const a of c.cidrs) this.egressAddrs.set(`container:${c.containerId}:${a}`, `${a.split('/')[0]}/32`);
      await this.egressChanged();
    }
    for (const c of list) await this.register(c.containerId);
    await this.forgetStoppedNames();
  }

  /**
   * Names this router registered for Docker containers that no longer run on a weavemesh network and are
   * not attached: containers that stopped or were removed while the router was down (or its event stream
   * was), whose addresses Docker released and may give to another container. Kept when Docker cannot say.
   */
  private async forgetStoppedNames(): Promise<void> {
    const dns = this.d.dns;
    if (!dns || this.stopped) return;
    let running: Set<string>;
    try {
      running = new Set((await this.docker.networksOfDriver(PLUGIN_NAME)).flatMap((n) => Object.keys(n.Containers ?? {})));
    } catch {
      return;
    }
    const attached = new Set(this.d.attachedIds?.() ?? []);
    for (const id of dns.ownContainerIds()) {
      if (!DOCKER_ID.test(id) || running.has(id) || attached.has(id)) continue;
      await dns.removeContainer(id);
      this.log.info({ container: id }, 'forgot the DNS names of a plugin container that no longer runs');
    }
  }

  /** An address Docker is told about must be claimed on disk first (issue 10.2); else it is given back. */
  private async durableOrFree(owner: string): Promise<void> {
    try {
      await this.d.ipam!.durable();
    } catch (err) {
      this.d.ipam!.allocator.free(owner);
      throw new Error(`cannot record the address claim: ${errorMessage(err)}`);
    }
  }

  /** Creates `weave` (retrying while dockerd is away), then names the plugin containers already running. */
  private setUpDocker(): void {
    if (this.stopped) return;
    const subnet = this.d.ipam && formatCidr(this.d.ipam.config.defaultSubnet);
    this.docker
      .createNetwork(this.networkSpec(subnet))
      .then(async (created) => {
        if (!created && (await this.replaceStaleNetwork(subnet))) created = true;
        this.log.info({ network: DEFAULT_NETWORK, created }, created ? 'created the Docker network "weave"' : 'the Docker network "weave" exists');
        await this.adoptRunning();
      })
      .catch((err: unknown) => {
        if (err instanceof DockerUnavailableError) {
          const f = { err: err.message };
          if (this.saidDockerAway) this.log.debug(f, 'Docker still not reachable');
          else this.log.info(f, 'Docker is not reachable; will create the network "weave" when it is (said once)');
          this.saidDockerAway = true;
          this.cancelRetry = this.d.clock.setTimer(NETWORK_RETRY_MS, () => this.setUpDocker());
        } else {
          this.log.warn({ err: errorMessage(err) }, 'cannot create the Docker network "weave"');
        }
      });
  }

  /**
   * An existing `weave` made by an earlier launch with another subnet (weave-network.ts): replaced when
   * nothing is on it, else left with a warning. True when it was created anew.
   */
  private async replaceStaleNetwork(subnet: string | undefined): Promise<boolean> {
    const net = await this.docker.inspectNetwork(DEFAULT_NETWORK);
    if (!net) return false;
    const subnets = (net.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s !== '' && !s.includes(':'));
    const action = weaveNetworkAction({ driver: net.Driver, subnets, containers: Object.keys(net.Containers ?? {}).length }, subnet);
    if (action.kind === 'keep') return false;
    if (action.kind === 'warn') {
      this.log.warn({ network: DEFAULT_NETWORK }, action.message);
      return false;
    }
    await this.docker.removeNetwork(net.Id);
    const created = await this.docker.createNetwork(this.networkSpec(subnet));
    this.log.info({ network: DEFAULT_NETWORK, from: action.from, to: subnet ?? 'none' }, 'replaced the Docker network "weave" left with another subnet');
    return created;
  }

  private networkSpec(subnet: string | undefined): object {
    // With the default subnet given, Docker accepts `--ip` on `weave` (it refuses it on a network without one).
    return { Name: DEFAULT_NETWORK, Driver: PLUGIN_NAME, IPAM: { Driver: PLUGIN_NAME, Config: subnet ? [{ Subnet: subnet }] : [] }, CheckDuplicate: true, Options: {} };
  }

  /**
   * After Docker's event stream was down (a dockerd restart), starts and deaths may have been missed: the
   * names of plugin containers are registered again from what Docker says now (addresses may have changed).
   */
  async resync(): Promise<void> {
    if (this.stopped) return;
    for (const id of [...this.named]) {
      this.named.delete(id);
      await this.d.dns?.removeContainer(id);
    }
    await this.adoptRunning();
  }

  /** Registers a started container's names for its addresses on weavemesh networks. */
  private async register(id: string): Promise<void> {
    const dns = this.d.dns;
    if (!dns || this.stopped) return;
    let info: DockerContainerInfo | undefined;
    try {
      info = await this.docker.inspectContainer(id);
    } catch (err) {
      this.log.debug({ err: errorMessage(err), container: id }, 'cannot inspect a started container');
      return;
    }
    if (!info?.State.Running) return;
    const mine = new Set((await this.docker.networksOfDriver(PLUGIN_NAME).catch(() => [])).map((n) => n.Id));
    const domain = dns.service.domain;
    const inDomain = (n: string) => dns.service.isInDomain(n);
    for (const net of Object.values(info.NetworkSettings?.Networks ?? {})) {
      if (!net.NetworkID || !mine.has(net.NetworkID) || !net.IPAddress) continue;
      const host = dockerFqdn(info.Config?.Hostname ?? '', info.Config?.Domainname ?? '');
      const names = new Set<string>();
      const name = info.Name.replace(/^\//, '');
      names.add(host && inDomain(host) ? host : `${name}.${domain}`);
      for (const a of net.Aliases ?? []) if (/^[A-Za-z0-9-]{1,63}$/.test(a) && !id.startsWith(a)) names.add(`${a}.${domain}`);
      for (const n of names) {
        try {
          await dns.add(info.Id, [net.IPAddress], n);
          this.named.add(info.Id);
        } catch (err) {
          this.log.warn({ err: errorMessage(err), container: info.Id, name: n }, 'cannot register a plugin container in weaveDNS');
        }
      }
    }
  }
}

/**
 * Starts the plugin unless `--no-plugin`. A socket another process serves (a second router on this
 * machine, or Weave) leaves the router without the plugin, with a warning: the mesh matters more.
 */
export async function startDockerPlugin(
  deps: PluginHostDeps | undefined,
  events: { onEvent(cb: (ev: ContainerEvent) => void): void; onStreamBack(cb: () => void): void },
): Promise<DockerPluginHost | undefined> {
  if (!deps) return undefined;
  const host = new DockerPluginHost(deps);
  try {
    await host.start();
  } catch (err) {
    deps.logger.warn({ err: errorMessage(err), socket: deps.socketPath }, 'not serving the Docker plugin');
    return undefined;
  }
  events.onEvent((ev) => host.event(ev));
  events.onStreamBack(() => void host.resync());
  return host;
}
