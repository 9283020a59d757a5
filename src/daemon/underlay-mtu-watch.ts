// Says so when the underlay's MTU drops below what the overlay's datagrams need (a link's MTU lowered
// mid-stream, a tunnel or VPN added under the host). The data plane keeps carrying them: the kernel
// refuses UDP GSO segments above the path MTU (EMSGSIZE), so native/src/udp.c resends such a run
// datagram by datagram and the kernel fragments each (before that fix, measured on a 3-host mesh, an
// iperf3 stream stalled at 0 bytes/s for good while `status` said all was well). Fragments cost
// throughput and are lost whole on any link that drops fragments, so the user should fix the MTU: when
// UDP send errors or the host's IPv4 fragment count grow, this watch looks up the MTU of the route to each
// connected peer and logs (rate-limited) which peer, which MTU, and the --mtu that would fit. Reading
// the counters costs no command; the route lookups run only then. Never throws.
import { PLUMBING_CHECK_MS } from '../core/defaults.js';
import { errorMessage } from '../core/errors.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import type { Clock, HostNetwork } from '../core/ports.js';
import { Repeater } from '../core/repeater.js';

/** IPv4 + UDP headers around each overlay datagram. */
const IP_UDP_BYTES = 28;

export interface UnderlayMtuWatchComponents {
  clock: Clock;
  logger: Logger;
  limiter: LogLimiter;
  hostNet: Required<Pick<HostNetwork, 'routeMtu'>> & Pick<HostNetwork, 'fragmentsCreated'>;
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
  private lastFragments: number | undefined;
  private readonly repeater: Repeater;

  constructor(private readonly c: UnderlayMtuWatchComponents, private readonly init: UnderlayMtuWatchInit) {
    this.log = c.logger.child({ component: 'underlay-mtu' });
    this.repeater = new Repeater(c.clock, init.checkMs ?? PLUMBING_CHECK_MS, () => this.check());
  }

  start(): void {
    this.lastErrors = this.c.sendErrors();
    void this.fragments().then((n) => {
      this.lastFragments = n;
      this.repeater.start();
    });
  }

  private async fragments(): Promise<number | undefined> {
    try {
      return await this.c.hostNet.fragmentsCreated?.();
    } catch {
      return undefined;
    }
  }

  stop(): void {
    this.repeater.stop();
  }

  /** Looks at the routes to the peers when sends failed since the last check. Never rejects. */
  async check(): Promise<void> {
    const errors = this.c.sendErrors();
    const fragments = await this.fragments();
    const grew = errors > this.lastErrors || (fragments !== undefined && this.lastFragments !== undefined && fragments > this.lastFragments);
    this.lastErrors = errors;
    this.lastFragments = fragments;
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
            `datagrams to that peer leave fragmented (slower, and lost where fragments are dropped); raise the underlay MTU or launch with --mtu ${fits}`);
        }
      } catch (err) {
        this.log.debug({ peer, err: errorMessage(err) }, 'cannot look up the route MTU');
      }
    }
  }
}
