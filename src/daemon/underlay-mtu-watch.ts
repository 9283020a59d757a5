// Says so when the underlay's MTU drops below what the overlay's datagrams need (a link's MTU lowered
// mid-stream, a tunnel or VPN added under the host). The kernel then refuses every full-size datagram
// (EMSGSIZE) and, since no ICMP reaches the containers, their TCP streams stall with nothing in the log:
// measured on a 3-host mesh, an iperf3 stream at 0 bytes/s for good while `status` said all was well.
// Adapting (a per-peer path MTU with ICMP "fragmentation needed" to the senders, as Weave's sleeve does)
// belongs to the data plane; this watch makes the fault visible: when UDP send errors grow, it looks up
// the MTU of the route to each connected peer and logs (rate-limited) which peer, which MTU, and the
// --mtu that would fit. Never throws.
import { PLUMBING_CHECK_MS } from '../core/defaults.js';
import { errorMessage } from '../core/errors.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import type { Clock, HostNetwork } from '../core/ports.js';

/** IPv4 + UDP headers around each overlay datagram. */
const IP_UDP_BYTES = 28;

export interface UnderlayMtuWatchComponents {
  clock: Clock;
  logger: Logger;
  limiter: LogLimiter;
  hostNet: Required<Pick<HostNetwork, 'routeMtu'>>;
  /** UDP sends refused so far (fast path and JS socket together). */
  sendErrors: () => number;
  /** Underlay addresses of the peers connected now. */
  peers: () => string[];
}

export interface UnderlayMtuWatchInit {
  /** The overlay MTU (--mtu). */
  mtu: number;
  /** Largest datagram the overlay sends (Overlay.maxDatagramBytes(mtu)). */
  maxDatagramBytes: number;
  checkMs?: number;
}

export class UnderlayMtuWatch {
  private readonly log: Logger;
  private lastErrors = 0;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly c: UnderlayMtuWatchComponents, private readonly init: UnderlayMtuWatchInit) {
    this.log = c.logger.child({ component: 'underlay-mtu' });
  }

  start(): void {
    this.lastErrors = this.c.sendErrors();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  /** Looks at the routes to the peers when sends failed since the last check. Never rejects. */
  async check(): Promise<void> {
    const errors = this.c.sendErrors();
    const grew = errors > this.lastErrors;
    this.lastErrors = errors;
    if (!grew) return;
    const needed = this.init.maxDatagramBytes + IP_UDP_BYTES;
    for (const peer of this.c.peers()) {
      try {
        const mtu = await this.c.hostNet.routeMtu(peer);
        if (mtu === undefined || mtu >= needed) continue;
        const fits = Math.max(576, this.init.mtu - (needed - mtu));
        const f = this.c.limiter.fields(`underlay-mtu:${peer}:${mtu}`, { peer, underlayMtu: mtu, needed, fitsMtu: fits });
        if (f) {
          this.log.error(f, `the underlay MTU to ${peer} is ${mtu}, below the ${needed} bytes a full overlay datagram needs: ` +
            `frames above ${fits} bytes to that peer are lost; raise the underlay MTU or launch with --mtu ${fits}`);
        }
      } catch (err) {
        this.log.debug({ peer, err: errorMessage(err) }, 'cannot look up the route MTU');
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.c.clock.setTimer(this.init.checkMs ?? PLUMBING_CHECK_MS, () => {
      void this.check().finally(() => this.schedule());
    });
  }
}
