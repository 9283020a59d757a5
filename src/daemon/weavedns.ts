// weaveDNS in the daemon: the entries CRDT on the mesh's `dns` gossip channel, the UDP/TCP server, and
// the router's own entries kept in the data dir (restored at start so a restart loses no names).
//
// Listen address: --dns-listen-address when given (a bind failure is then fatal); otherwise the Docker
// bridge's address (docker0) on port 53 when there is one, as Weave does, else 0.0.0.0:53. A default
// that cannot be bound (say a local resolver already owns port 53) is logged and DNS answers nothing,
// rather than keeping the router from starting.

import { DnsService } from '../dns/service.js';
import { DnsServer } from '../io/dns-server.js';
import { exec } from '../io/exec.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Clock, Rng, StateStore } from '../core/ports.js';
import type { Router } from '../mesh/router.js';
import type { DnsStatus } from '../api/status-types.js';
import type { DnsLaunchConfig } from './config.js';

const STATE_KEY = 'dns-entries';
const DOCKER_BRIDGE = 'docker0';

export interface WeaveDnsComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  router: Router;
  store: StateStore;
}

/** The first IPv4 address of `ifname` in this namespace, if the interface exists. */
async function interfaceAddress(ifname: string): Promise<string | undefined> {
  try {
    const out = (await exec('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname])).stdout;
    const parsed = JSON.parse(out) as Array<{ addr_info?: Array<{ local?: string }> }>;
    return parsed[0]?.addr_info?.[0]?.local;
  } catch {
    return undefined;
  }
}

export class WeaveDns {
  readonly service: DnsService;
  private server: DnsServer | undefined;
  private readonly log: Logger;

  constructor(
    private readonly c: WeaveDnsComponents,
    readonly config: DnsLaunchConfig,
  ) {
    this.log = c.logger.child({ component: 'weavedns' });
    this.service = new DnsService(
      { clock: c.clock, rng: c.rng, logger: c.logger, peers: c.router },
      { domain: config.domain, ttlS: config.ttlS },
    );
  }

  async start(): Promise<void> {
    const kept = await this.c.store.read(STATE_KEY);
    if (kept) {
      try {
        this.log.info({ entries: this.service.restoreState(kept) }, 'dns entries restored');
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'kept dns entries unreadable; starting without them');
      }
    }
    this.service.attachGossip(this.c.router.registerChannel('dns', this.service.gossiper));
    this.service.start();
    const explicit = this.config.listenAddress;
    const host = explicit?.host ?? (await interfaceAddress(DOCKER_BRIDGE)) ?? '0.0.0.0';
    const port = explicit?.port ?? 53;
    const server = new DnsServer({ handler: this.service.resolver, logger: this.c.logger, rng: this.c.rng }, { listenAddress: host, port });
    try {
      await server.start();
      this.server = server;
      this.log.info({ address: `${host}:${port}` }, 'dns listening');
    } catch (err) {
      if (explicit) throw err;
      this.log.warn({ err: errorMessage(err), address: `${host}:${port}` }, 'dns server could not listen; use --dns-listen-address');
    }
  }

  async stop(): Promise<void> {
    this.service.stop();
    await this.server?.stop();
  }

  /** Where containers should send queries ("" when the server is not listening). */
  get address(): string {
    return this.server?.info().address ?? '';
  }

  status(): DnsStatus {
    return this.service.status(this.server?.info() ?? { address: '', upstream: [] });
  }

  private async persist(): Promise<void> {
    await this.c.store.write(STATE_KEY, this.service.snapshotState());
  }

  /** Registers `fqdn` (or every hostname given) for the container's addresses. */
  async add(containerId: string, ips: string[], fqdn: string): Promise<void> {
    if (!this.service.isInDomain(fqdn)) {
      throw new ConfigError(`invalid name "${fqdn}": must be in the DNS domain ${this.config.domain}`);
    }
    for (const ip of ips) this.service.addEntry(containerId, fqdn, ip);
    await this.persist();
  }

  async remove(spec: { containerId: string; address?: string; hostname?: string }): Promise<number> {
    const n = this.service.removeEntries(spec);
    await this.persist();
    return n;
  }

  async removeContainer(containerId: string): Promise<number> {
    const n = this.service.removeContainer(containerId);
    if (n > 0) await this.persist();
    return n;
  }
}
