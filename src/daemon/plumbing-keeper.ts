// Keeps the weave bridge, the router's TAP and the containers' veths in place (host/bridge-plumbing.ts
// says what to put back): checks at start — a bridge deleted while the router was down leaves the veths
// off the bridge, which a relaunch did not undo — and every PLUMBING_CHECK_MS, with one `ip` command.
// A deleted TAP cannot be put back in place (the data plane holds its file descriptors): the router is
// told to stop with the reason, so a supervisor (systemd's Restart=always) relaunches it whole instead of
// leaving a router that answers its API but carries no frame. Addresses on a re-created bridge: those
// seen at the last check, and the exposed ones from their owner (host-access.ts). Never throws; failures are logged
// (rate-limited) and tried again at the next check.
import { PLUMBING_CHECK_MS } from '../core/defaults.js';
import { errorMessage } from '../core/errors.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import type { Clock, HostNetwork, PortSettings } from '../core/ports.js';
import { Repeater } from '../core/repeater.js';
import { plumbingRepairs, rememberPlumbing, type PlumbingMemory, type PlumbingRepair } from '../host/bridge-plumbing.js';

export interface PlumbingKeeperComponents {
  clock: Clock;
  logger: Logger;
  limiter: LogLimiter;
  hostNet: Pick<HostNetwork, 'ensureBridge' | 'replaceLinkAddr'> & Required<Pick<HostNetwork, 'hostLinks' | 'setBridgePort'>>;
  /** Ports that belong on the bridge besides those seen on it: the attached containers' host veths. */
  expectedPorts: () => ReadonlyMap<string, PortSettings>;
  /** The bridge was created again: owners of what lived on it put it back (exposed addresses, forwarding). */
  onBridgeRecreated?: () => Promise<void>;
  /** The TAP is gone: the router cannot carry frames any more and must stop (called once). */
  onTapLost: (reason: string) => void;
}

export interface PlumbingKeeperInit {
  bridge: string;
  mtu: number;
  mac: string;
  tap: string;
  checkMs?: number;
}

export interface PlumbingStats {
  checks: number;
  repairs: number;
  failures: number;
}

export class PlumbingKeeper {
  private readonly log: Logger;
  private memory: PlumbingMemory = { addrs: [], ports: new Map() };
  private readonly repeater: Repeater;
  private tapLost = false;
  readonly stats: PlumbingStats = { checks: 0, repairs: 0, failures: 0 };

  constructor(private readonly c: PlumbingKeeperComponents, private readonly init: PlumbingKeeperInit) {
    this.log = c.logger.child({ component: 'plumbing', bridge: init.bridge });
    this.repeater = new Repeater(c.clock, init.checkMs ?? PLUMBING_CHECK_MS, () => this.check());
  }

  /** One check now (waited for), then one every checkMs. */
  async start(): Promise<void> {
    await this.check();
    this.repeater.start();
  }

  stop(): void {
    this.repeater.stop();
  }

  /** Looks at the host's links and puts back what is missing. Never rejects. */
  async check(): Promise<void> {
    this.stats.checks++;
    try {
      const expected = new Map([[this.init.tap, { hairpin: false, isolated: false }], ...this.c.expectedPorts()]);
      let links = await this.c.hostNet.hostLinks();
      if (!links.some((l) => l.name === this.init.tap)) return this.lostTap();
      const memory = rememberPlumbing(links, this.init.bridge, this.memory, expected);
      const repairs = plumbingRepairs(links, this.init.bridge, memory);
      for (const r of repairs) await this.repair(r);
      if (repairs.length > 0) links = await this.c.hostNet.hostLinks();
      this.memory = rememberPlumbing(links, this.init.bridge, memory, expected);
    } catch (err) {
      this.stats.failures++;
      const f = this.c.limiter.fields('plumbing', { err: errorMessage(err) });
      if (f) this.log.error(f, 'checking or repairing the bridge failed; trying again at the next check');
    }
  }

  private async repair(r: PlumbingRepair): Promise<void> {
    const { bridge, mtu, mac } = this.init;
    const what = r.kind === 'port' ? `${r.name} ${r.why}` : r.kind === 'bridge-addr' ? `address ${r.cidr}` : r.kind;
    const f = this.c.limiter.fields(`plumbing:${what}`, {});
    if (f) this.log.warn(f, `${r.kind === 'bridge-create' ? 'bridge missing (deleted by hand?)' : r.kind === 'bridge-up' ? 'bridge down' : what}; putting it back`);
    if (r.kind === 'bridge-create') {
      await this.c.hostNet.ensureBridge(bridge, mtu, mac);
      await this.c.onBridgeRecreated?.();
    } else if (r.kind === 'bridge-up') await this.c.hostNet.ensureBridge(bridge, mtu, mac);
    else if (r.kind === 'bridge-addr') await this.c.hostNet.replaceLinkAddr(bridge, r.cidr);
    else await this.c.hostNet.setBridgePort(r.name, bridge, r.settings);
    this.stats.repairs++;
  }

  private lostTap(): void {
    if (this.tapLost) return;
    this.tapLost = true;
    const reason = `the router's TAP ${this.init.tap} was deleted (by hand?): the data plane cannot run without it; launch again`;
    this.log.error({ tap: this.init.tap }, reason);
    this.c.onTapLost(reason);
  }
}
