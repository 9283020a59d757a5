// Tells the fast datapath at once when the bridge learns or forgets a MAC on a container port
// (`bridge monitor fdb`, the kernel's netlink notifications), so a new container's MAC reaches the peers
// within a round trip instead of at the next heartbeat (dataplane/fastdp.ts announce()). The monitor is a
// hint, never the truth: the caller re-reads the forwarding table on each event, and still on a slow beat
// in case an event was lost. If `bridge monitor` exits it is started again after RESTART_MS. It is
// started bound to the router (router-bound.ts): a SIGKILLed router does not leave it behind.
// Not on any hot path (one line per forwarding-table change).

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../core/logger.js';
import { routerBound } from './router-bound.js';

const RESTART_MS = 5_000;

export interface FdbMonitorInit {
  bridge: string;
  /** The bridge's own ports (the router's TAP, the vxlan device): their entries are not containers'. */
  ownPorts: readonly string[];
  onEvent: () => void;
  logger: Logger;
}

export class FdbMonitor {
  private child: ChildProcess | undefined;
  private restart: NodeJS.Timeout | undefined;
  private stopped = false;
  private warned = false;

  constructor(private readonly init: FdbMonitorInit) {}

  /** True while `bridge monitor` runs (the caller may then re-read the table less often). */
  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    if (this.stopped || this.child) return;
    const cmd = routerBound('bridge', ['monitor', 'fdb']);
    if (!cmd.bound && !this.warned) {
      this.warned = true;
      this.init.logger.warn('setpriv (util-linux) not found: `bridge monitor fdb` would outlive a killed router');
    }
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    createInterface({ input: child.stdout! })
      .on('line', (line) => {
        if (isContainerPortEvent(line, this.init.bridge, this.init.ownPorts)) this.init.onEvent();
      })
      // readline re-emits its input's errors: unheard, one would end the router. The monitor is useless
      // without its output, so it is stopped; its exit restarts it (below).
      .on('error', () => child.kill());
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped) return;
      this.init.logger.warn({ why }, 'bridge monitor stopped; restarting it');
      this.restart = setTimeout(() => {
        this.restart = undefined;
        this.start();
      }, RESTART_MS);
      this.restart.unref();
    };
    child.on('error', (err) => gone(err.message));
    child.on('exit', (code, signal) => gone(`exit ${code ?? signal}`));
  }

  stop(): void {
    this.stopped = true;
    if (this.restart) clearTimeout(this.restart);
    const child = this.child;
    this.child = undefined;
    child?.kill();
  }
}

/**
 * Whether a `bridge monitor fdb` line ("[Deleted ]MAC dev PORT [vlan N] master BRIDGE [flags]") is about
 * a MAC learnt on one of `bridge`'s container ports: not a port of the router's own, not a permanent or
 * static entry (the bridge's own address, the router's programmed entries).
 */
export function isContainerPortEvent(line: string, bridge: string, ownPorts: readonly string[]): boolean {
  const w = line.trim().split(/\s+/);
  const dev = w.indexOf('dev');
  const master = w.indexOf('master');
  if (dev < 0 || master < 0 || w[master + 1] !== bridge) return false;
  const port = w[dev + 1];
  if (port === undefined || port === bridge || ownPorts.includes(port)) return false;
  return !w.includes('permanent') && !w.includes('static');
}
