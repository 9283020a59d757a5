// weaveDNS in the daemon: the entries CRDT on the mesh's `dns` gossip channel, the UDP/TCP server, and
// the router's own entries kept in the data dir (restored at start so a restart loses no names).
//
// Where the server listens (the address `tsweave dns-args` prints), first that applies:
//   1. --dns-listen-address ADDR:PORT. A bind failure is fatal.
//   2. The Docker bridge's address (docker0), port 53, as Weave does. Containers with a leg on docker0
//      reach it; so do containers on the weave network (the address is the host's own).
//   3. With IPAM (the default) and no docker0: an address of the weave network claimed from IPAM under the
//      container id "weave:dns" (a claim like any container's, so it is unique across the mesh and kept
//      across restarts), put on the `weave` bridge with the default subnet's prefix, port 53. Every host
//      has its own; a container's queries go to its own host's bridge (any host's would answer the same).
//      The address is claimed the first time something needs it — `tsweave dns-args` — not at launch,
//      so launching never starts IPAM consensus nor takes an address someone is about to give by hand.
//      Once claimed it is re-used at every launch (listening starts at once).
//   4. Otherwise (no docker0, IPAM disabled): not listening; `dns-args` says to give --dns-listen-address.
// Listening only on an address containers reach (never 0.0.0.0) is not enough to keep the forwarder from
// being an open resolver on the host's other networks (Linux accepts packets for a local address on any
// interface): the server answers only sources on the weave, docker0 and Docker-network bridges, this host,
// and --dns-allow.

import { DnsService, type DnsServerInfo } from '../dns/service.js';
import type { Resolver } from '../dns/resolver.js';
import { BRIDGE_NAME, DNS_PERSIST_RETRY_MS, DNS_STATE_KEY } from '../core/defaults.js';
import { DurableWriter } from '../core/durable-writer.js';
import type { LogLimiter } from '../core/log-limiter.js';
import { setAsideCorrupt } from './corrupt-state.js';
import { formatCidr } from '../core/types.js';
import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Clock, HostNetwork, Rng, StateStore } from '../core/ports.js';
import type { Router } from '../mesh/router.js';
import type { DnsStatus } from '../api/status-types.js';
import type { DnsLaunchConfig } from '../config/launch.js';

const DOCKER_BRIDGE = 'docker0';
const DNS_PORT = 53;
/** The IPAM container id under which a router claims its DNS address on the weave network. */
export const DNS_ADDRESS_ID = 'weave:dns';

/** The part of IPAM weaveDNS uses to get an address on the weave network. */
export interface DnsAddressSource {
  /** An address ("10.32.0.5/12") for `id` in the default subnet; the existing one if it has one. May wait. */
  allocate(id: string): Promise<string>;
  /** Addresses `id` already holds. */
  lookup(id: string): string[];
}

export interface WeaveDnsComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  router: Router;
  store: StateStore;
  /** For messages about the state file. */
  dataDir: string;
  limiter: LogLimiter;
  /** IPAM, when enabled: the source of the DNS address when there is no Docker bridge. */
  ipam?: DnsAddressSource;
  /** Finds the Docker bridge's address and puts the claimed DNS address on the weave bridge. */
  hostNet: Pick<HostNetwork, 'linkAddress' | 'replaceLinkAddr'>;
  /** Makes the UDP/TCP server (io/dns-server.ts in the daemon, a fake in unit tests). */
  openServer: DnsServerFactory;
}

/** The DNS server socket pair as weaveDNS drives it (io/dns-server.ts DnsServer). */
export interface DnsServerHandle {
  start(): Promise<void>;
  stop(): Promise<void>;
  info(): DnsServerInfo;
  /** Counters for /stats. */
  readonly stats?: unknown;
  readonly forwarderStats?: unknown;
}

/**
 * Opens the server on `listenAddress:port`, answering only clients on the container bridges, this host
 * and `allowClients` (--dns-allow, "CIDR"): io/dns-client-filter.ts.
 */
export type DnsServerFactory = (
  c: { handler: Resolver; logger: Logger; rng: Rng; onAnswered?: (answer: 'local' | 'forward', seconds: number) => void },
  init: { listenAddress: string; port: number; allowClients: readonly string[] },
) => DnsServerHandle;

/** How the listen address is chosen (see the header). */
export type DnsListenMode = 'explicit' | 'docker-bridge' | 'weave-bridge' | 'none';

export class WeaveDns {
  readonly service: DnsService;
  private server: DnsServerHandle | undefined;
  /** Told each answer's latency (metrics). */
  onAnswered: ((answer: 'local' | 'forward', seconds: number) => void) | undefined;
  private readonly log: Logger;
  private mode: DnsListenMode = 'none';
  /** Why we are not listening (shown by dns-args). */
  private notListening = 'weaveDNS is not started';
  private claiming: Promise<void> | undefined;
  private stopped = false;
  private readonly writer: DurableWriter;
  private cancelRetry: (() => void) | undefined;

  constructor(
    private readonly c: WeaveDnsComponents,
    readonly config: DnsLaunchConfig,
  ) {
    this.log = c.logger.child({ component: 'weavedns' });
    this.service = new DnsService(
      { clock: c.clock, rng: c.rng, logger: c.logger, peers: c.router },
      { domain: config.domain, ttlS: config.ttlS },
    );
    this.writer = new DurableWriter(() => this.c.store.write(DNS_STATE_KEY, this.service.snapshotState()));
  }

  async start(): Promise<void> {
    const kept = await this.c.store.read(DNS_STATE_KEY);
    if (kept) {
      try {
        this.log.info({ entries: this.service.restoreState(kept) }, 'dns entries restored');
      } catch (err) {
        // Kept aside, not overwritten by the next name added (issue 10.4): the names are records.
        throw await setAsideCorrupt(this.c.store, DNS_STATE_KEY, this.c.dataDir, errorMessage(err),
          "launch again to start without the kept names (add them again with 'tsweave dns-add')");
      }
    }
    this.service.attachGossip(this.c.router.registerChannel('dns', this.service.gossiper));
    this.service.start();

    const explicit = this.config.listenAddress;
    if (explicit) {
      this.mode = 'explicit';
      await this.listen(explicit.host, explicit.port); // fatal on failure: the user asked for this address
      return;
    }
    const docker = await this.c.hostNet.linkAddress(DOCKER_BRIDGE);
    if (docker) {
      this.mode = 'docker-bridge';
      await this.listen(docker, DNS_PORT).catch((err: unknown) => this.cannotListen(err, `${docker}:${DNS_PORT}`));
      return;
    }
    if (this.c.ipam) {
      this.mode = 'weave-bridge';
      this.notListening = 'weaveDNS has not claimed its address yet';
      const claimed = this.c.ipam.lookup(DNS_ADDRESS_ID)[0];
      if (claimed) {
        await this.listenOnWeaveBridge(claimed).catch((err: unknown) => this.cannotListen(err, claimed));
      }
      return;
    }
    this.mode = 'none';
    this.notListening =
      `weaveDNS has no address containers can reach: there is no Docker bridge (${DOCKER_BRIDGE}) and IPAM is disabled; ` +
      `relaunch with --dns-listen-address ADDR:${DNS_PORT} (an address on the ${BRIDGE_NAME} bridge)`;
    this.log.warn(this.notListening);
  }

  private cannotListen(err: unknown, where: string): void {
    this.notListening = `weaveDNS could not listen on ${where}: ${errorMessage(err)}; relaunch with --dns-listen-address`;
    this.log.warn({ err: errorMessage(err), address: where }, 'dns server could not listen; use --dns-listen-address');
  }

  private async listen(host: string, port: number): Promise<void> {
    const onAnswered = (answer: 'local' | 'forward', seconds: number): void => this.onAnswered?.(answer, seconds);
    const server = this.c.openServer({ handler: this.service.resolver, logger: this.c.logger, rng: this.c.rng, onAnswered }, {
      listenAddress: host,
      port,
      allowClients: this.config.allow.map(formatCidr),
    });
    await server.start();
    if (this.stopped) {
      await server.stop();
      throw new TsweaveError('ERR_DNS', 'weaveDNS is stopping');
    }
    this.server = server;
    this.log.info({ address: `${host}:${port}`, mode: this.mode }, 'dns listening');
  }

  /** Puts `cidr` on the weave bridge (idempotent) and listens on its address, port 53. */
  private async listenOnWeaveBridge(cidr: string): Promise<void> {
    await this.c.hostNet.replaceLinkAddr(BRIDGE_NAME, cidr);
    await this.listen(cidr.split('/')[0]!, DNS_PORT);
  }

  /**
   * The address containers should use ("ADDR:PORT"), claiming it from IPAM first if this router has none
   * yet (that may wait for IPAM consensus). Throws a precise error when weaveDNS has no usable address.
   */
  async ensureListening(): Promise<string> {
    if (this.server) return this.server.info().address;
    if (this.mode !== 'weave-bridge' || !this.c.ipam || this.stopped) throw new ConfigError(this.notListening);
    const ipam = this.c.ipam;
    this.claiming ??= (async () => {
      try {
        const cidr = await ipam.allocate(DNS_ADDRESS_ID);
        this.log.info({ cidr }, 'dns address claimed from IPAM');
        await this.listenOnWeaveBridge(cidr);
      } finally {
        this.claiming = undefined;
      }
    })();
    try {
      await this.claiming;
    } catch (err) {
      throw new TsweaveError('ERR_DNS', `weaveDNS could not get an address on the weave network: ${errorMessage(err)}`, { cause: err });
    }
    return this.server!.info().address;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    this.service.stop();
    await this.server?.stop();
  }

  /** How the listen address was chosen. */
  get listenMode(): DnsListenMode {
    return this.mode;
  }

  /** Where containers should send queries ("" when the server is not listening). */
  get address(): string {
    return this.server?.info().address ?? '';
  }

  /** Counters for /stats: the server (refused clients, TCP limits), the forwarder (unreachable upstreams), the resolver. */
  stats(): Record<string, unknown> {
    return { server: this.server?.stats, upstream: this.server?.forwarderStats, resolver: this.service.resolver.stats };
  }

  status(): DnsStatus {
    return this.service.status(this.server?.info() ?? { address: '', upstream: [] });
  }

  /** Writes our entries (one write at a time: a late older snapshot must not replace a newer one). */
  private persist(): Promise<void> {
    return this.writer.durable(this.writer.changed());
  }

  /**
   * A change that has happened whatever the disk says (a container died): written now, and while the
   * write fails, again every DNS_PERSIST_RETRY_MS, so a restart does not bring back names of the dead.
   * Never rejects: it runs unawaited on container death, where a rejection would end the router.
   */
  private async persistEventually(): Promise<void> {
    try {
      await this.persist();
    } catch (err) {
      const f = this.c.limiter.fields('dns-persist', { err: errorMessage(err) });
      if (f) this.log.error(f, 'writing the dns entries failed; trying again');
      if (this.cancelRetry || this.stopped) return;
      this.cancelRetry = this.c.clock.setTimer(DNS_PERSIST_RETRY_MS, () => {
        this.cancelRetry = undefined;
        void this.persistEventually();
      });
    }
  }

  /**
   * Registers `fqdn` (or every hostname given) for the container's addresses. All or nothing: when the
   * entries cannot be written, the ones this call added are taken back and the error is thrown.
   */
  async add(containerId: string, ips: string[], fqdn: string): Promise<void> {
    if (!this.service.isInDomain(fqdn)) {
      throw new ConfigError(`invalid name "${fqdn}": must be in the DNS domain ${this.config.domain}`);
    }
    const added = ips.filter((ip) => this.service.addEntry(containerId, fqdn, ip));
    try {
      await this.persist();
    } catch (err) {
      for (const address of added) this.service.removeEntries({ containerId, address, hostname: fqdn });
      throw err;
    }
  }

  /** Removes entries; all or nothing, as add(): when that cannot be written, they are put back. */
  async remove(spec: { containerId: string; address?: string; hostname?: string }): Promise<number> {
    const before = this.service.ownLive(spec);
    const n = this.service.removeEntries(spec);
    try {
      await this.persist();
    } catch (err) {
      for (const e of before) this.service.addEntry(e.containerId, e.hostname, e.address);
      throw err;
    }
    return n;
  }

  /** Container ids with live names this peer registered. */
  ownContainerIds(): string[] {
    const me = this.service.entries.localName;
    return [...new Set(this.service.entries.live().filter((e) => e.origin === me).map((e) => e.containerId))];
  }

  /** A container went away: its names go at once; the file follows (persistEventually). Never rejects. */
  async removeContainer(containerId: string): Promise<number> {
    const n = this.service.removeContainer(containerId);
    if (n > 0) await this.persistEventually();
    return n;
  }
}
