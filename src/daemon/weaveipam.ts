// IPAM in the daemon: the allocator on the mesh's `ipam` gossip channel, its state kept in the data dir
// (every change written crash-safely; writes coalesce while one is in flight), and the translation of
// `attach` address arguments into addresses.

import { Allocator, type Allocation, type IpamMode } from '../ipam/index.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { DurableWriter } from '../core/durable-writer.js';
import type { LogLimiter } from '../core/log-limiter.js';
import { setAsideCorrupt } from './corrupt-state.js';
import type { Logger } from '../core/logger.js';
import type { Clock, HostNetwork, Rng, StateStore } from '../core/ports.js';
import { cidrContains, cidrsOverlap, formatCidr, parseCidr, type Cidr } from '../core/types.js';
import { DEFAULT_IPALLOC_RANGE, IPAM_STATE_KEY } from '../core/defaults.js';
import type { Router } from '../mesh/router.js';
import type { IpamStatus } from '../api/status-types.js';
import { BRIDGE_NAME } from '../core/defaults.js';
import type { IpamLaunchConfig } from '../config/launch.js';

export interface WeaveIpamComponents {
  /** For messages about the state file. */
  dataDir: string;
  /** Rate limit for warnings that repeat (a failing state write). */
  limiter: LogLimiter;
  clock: Clock;
  rng: Rng;
  logger: Logger;
  router: Router;
  store: StateStore;
}

function modeOf(cfg: IpamLaunchConfig): IpamMode {
  switch (cfg.init.mode) {
    case 'consensus':
      return cfg.init.count === undefined ? { kind: 'consensus' } : { kind: 'consensus', count: cfg.init.count };
    case 'seed':
      return { kind: 'seed', peers: [...cfg.init.peers] };
    case 'observer':
      return { kind: 'observer' };
  }
}

/**
 * Weave refuses a default range that overlaps a route on the host (the containers' addresses would be
 * ambiguous) and only warns for a range the user chose.
 */
export async function checkRangeAgainstRoutes(range: Cidr, hostNet: Pick<HostNetwork, 'ipv4Routes'>, log: Logger): Promise<void> {
  const routes = await hostNet.ipv4Routes();
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || r.dev === BRIDGE_NAME) continue;
    const dst = r.dst.includes('/') ? parseCidr(r.dst) : parseCidr(`${r.dst}/32`);
    if (!cidrsOverlap(dst, range)) continue;
    if (formatCidr(range) === DEFAULT_IPALLOC_RANGE) {
      throw new ConfigError(
        `default --ipalloc-range ${DEFAULT_IPALLOC_RANGE} overlaps with the existing route ${r.dst} on this host; pick another range with --ipalloc-range and set it on all hosts`,
      );
    }
    log.warn({ range: formatCidr(range), route: r.dst }, '--ipalloc-range overlaps a route on this host');
  }
}

export class WeaveIpam {
  readonly allocator: Allocator;
  /** The allocator's state file, one write at a time; `durable()` waits for a change to be on disk. */
  private readonly writer: DurableWriter;
  private readonly log: Logger;

  constructor(
    private readonly c: WeaveIpamComponents,
    readonly config: IpamLaunchConfig,
    initialPeerCount: number,
    /** How long a request waits for consensus or a grant (TSWEAVE_IPAM_WAIT_MS); the allocator's default if absent. */
    waitMs?: number,
  ) {
    this.log = c.logger.child({ component: 'ipam' });
    this.writer = new DurableWriter(() => c.store.write(IPAM_STATE_KEY, this.allocator.persistedState()));
    this.allocator = new Allocator(
      { clock: c.clock, rng: c.rng, logger: c.logger, peers: c.router, onPersist: () => this.persist() },
      {
        range: config.range, defaultSubnet: config.defaultSubnet, mode: modeOf(config), initialPeerCount,
        ...(waitMs === undefined ? {} : { allocateTimeoutMs: waitMs }),
      },
    );
  }

  /** Loads the persisted state and joins the `ipam` channel. Check the range against routes first (node.ts). */
  async start(): Promise<void> {
    const kept = await this.c.store.read(IPAM_STATE_KEY);
    if (kept) {
      try {
        this.allocator.restore(kept);
      } catch (err) {
        // A state that is fine but belongs elsewhere (another peer, another range) says so itself.
        if (err instanceof ConfigError) throw err;
        throw await setAsideCorrupt(this.c.store, IPAM_STATE_KEY, this.c.dataDir, errorMessage(err),
          'launch again to start with empty IPAM state (addresses attached containers still have are claimed again)');
      }
    }
    this.allocator.setGossip(this.c.router.registerChannel('ipam', this.allocator));
    this.allocator.start();
  }

  stop(): void {
    this.allocator.stop();
  }

  /** Writes the allocator's state; a change during a write is written right after it. */
  private persist(): void {
    this.writer.durable(this.writer.changed()).catch((err: unknown) => {
      const f = this.c.limiter.fields('ipam-write', { err: errorMessage(err) });
      if (f) this.log.error(f, 'writing IPAM state failed');
    });
  }

  /** Resolves once everything changed so far was written or failed (never rejects). */
  async flushed(): Promise<void> {
    await this.writer.settled();
  }

  /** Resolves once every claim so far is on disk; rejects with the write's error otherwise (attach undoes). */
  durable(): Promise<void> {
    return this.writer.durable();
  }

  /**
   * Turns attach's address arguments into addresses for `containerId`: nothing or `net:default` → the
   * default subnet, `net:CIDR` → that subnet, `[ip:]CIDR` inside the range → claimed so no one else gets
   * it, outside the range → used as given. On failure, whatever was allocated here is freed again.
   */
  async resolveAddrs(containerId: string, addrs: readonly string[], timeoutMs?: number): Promise<string[]> {
    const wait = timeoutMs === undefined ? {} : { timeoutMs };
    const wanted = addrs.length ? addrs : ['net:default'];
    const got: string[] = [];
    const fresh: Allocation[] = [];
    try {
      for (const a of wanted) {
        if (a === 'net:default' || a.startsWith('net:')) {
          const subnet = a === 'net:default' ? undefined : parseCidr(a.slice(4), 'subnet');
          const before = new Set(this.allocator.lookup(containerId).map((x) => x.addr));
          const al = await this.allocator.allocate(containerId, subnet ? { subnet, ...wait } : wait);
          if (!before.has(al.addr)) fresh.push(al);
          got.push(al.cidr);
          continue;
        }
        const cidr = parseCidr(a.startsWith('ip:') ? a.slice(3) : a, 'address');
        if (cidrContains(this.config.range, cidr.addr)) {
          const had = this.allocator.lookup(containerId).some((x) => x.addr === cidr.addr);
          await this.allocator.claim(containerId, cidr, wait);
          if (!had) fresh.push(this.allocator.lookup(containerId).find((x) => x.addr === cidr.addr)!);
        }
        got.push(formatCidr(cidr));
      }
    } catch (err) {
      for (const al of fresh) this.allocator.free(containerId, al.addr);
      throw err;
    }
    return got;
  }

  /**
   * After a restart: claims again, in the background, every address in the range that an attached container
   * still has but the persisted claims lack (a crash between the interface and the state file, or state
   * lost). Never blocks the start (Weave #1083): the caller runs it in the background, and attach waits
   * for the returned promise (settles when every claim is made or failed; failures are logged).
   */
  reclaim(attached: ReadonlyArray<{ containerId: string; cidrs: readonly string[] }>): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const a of attached) {
      const have = new Set(this.allocator.lookup(a.containerId).map((x) => x.addr));
      for (const text of a.cidrs) {
        let cidr: Cidr;
        try {
          cidr = parseCidr(text);
        } catch {
          continue;
        }
        if (!cidrContains(this.config.range, cidr.addr) || have.has(cidr.addr)) continue;
        this.log.info({ container: a.containerId, addr: text }, 're-claiming an address an attached container still has');
        pending.push(this.allocator.claim(a.containerId, cidr).catch((err: unknown) =>
          this.log.error({ err, container: a.containerId, addr: text }, 're-claiming an attached address failed'),
        ));
      }
    }
    return Promise.all(pending).then(() => undefined);
  }

  /** DELETE /peer: give our ranges to another peer before `reset` removes this one. */
  async leave(): Promise<string> {
    const { heir, ips } = this.allocator.leave();
    await this.flushed();
    if (!heir) return 'no IP ranges handed over (none owned, or no other peer reachable)\n';
    return `${ips} IPs handed over to ${heir}\n`;
  }

  free(containerId: string, cidrs?: readonly string[]): void {
    if (!cidrs) {
      this.allocator.free(containerId);
      return;
    }
    for (const c of cidrs) {
      const cidr = parseCidr(c);
      if (cidrContains(this.config.range, cidr.addr)) this.allocator.free(containerId, cidr.addr);
    }
  }

  status(): IpamStatus {
    return this.allocator.status();
  }
}
