// Metrics and the topology page, wired to the node's parts: builds the RouterMetrics over status() and
// stats(), hooks the few pushed events (a connection ending, an IPAM request settling, a DNS answer), and
// serves /metrics and /ui/ on --metrics-addr (default 127.0.0.1:6782; "" serves nothing) through the
// node's serveStatus adapter.

import type { Status } from '../api/status-types.js';
import { METRICS_ADDR, METRICS_PORT } from '../core/defaults.js';
import type { Logger } from '../core/logger.js';
import type { HostPort } from '../core/types.js';
import type { Allocator } from '../ipam/index.js';
import type { StatusServer, StatusServerOptions } from '../io/status-server.js';
import type { Router } from '../mesh/router.js';
import type { Attachment } from './attachments.js';
import type { PeerLinks } from './peer-links.js';
import { RouterMetrics, type StatsView } from './metrics.js';
import { buildTopologyView, type SessionCounters } from './topology-view.js';
import type { WeaveDns } from './weavedns.js';
import type { HttpLimitStats } from '../io/http-limits.js';

export interface ObservedParts {
  status(): Status;
  stats(): Record<string, unknown>;
  /** Attached containers that still exist (`ps`). */
  listAttached(): Promise<Array<Pick<Attachment, 'containerId' | 'mac' | 'cidrs'>>>;
  router: Router;
  links: PeerLinks;
  ipam: Allocator | undefined;
  dns: WeaveDns | undefined;
}

export class Observability {
  readonly metrics: RouterMetrics;
  private server: StatusServer | undefined;

  constructor(private readonly parts: ObservedParts) {
    const { ipam, dns, router, links } = parts;
    this.metrics = new RouterMetrics({
      status: () => parts.status(),
      stats: () => parts.stats() as StatsView,
      ipamPending: () => ipam?.pendingCounts(),
    }, { ipam: ipam !== undefined, dns: dns !== undefined });
    router.on('connection:removed', () => this.metrics.connectionTerminated());
    links.onHandshakeFailed = (outbound) => this.metrics.handshakeFailed(outbound ? 'outbound' : 'inbound');
    if (ipam) ipam.onRequestSettled = (kind, ok, ms) => this.metrics.ipamRequestSettled(kind, ok ? 'ok' : 'error', ms / 1000);
    if (dns) dns.onAnswered = (answer, seconds) => this.metrics.dnsAnswered(answer, seconds);
  }

  /** Starts the listener unless `addr` is null (--metrics-addr ""); undefined means the default. */
  async listen(addr: HostPort | null | undefined, serve: ((o: StatusServerOptions) => Promise<StatusServer>) | undefined, logger: Logger): Promise<void> {
    if (addr === null || !serve) return;
    const { host, port } = addr ?? { host: METRICS_ADDR, port: METRICS_PORT };
    this.server = await serve(
      {
        host,
        port,
        metrics: () => this.metrics.scrape(),
        topology: async () => {
          const stats = this.parts.stats() as StatsView;
          const sessions = (stats.sessions ?? {}) as Record<string, SessionCounters>;
          return buildTopologyView(this.parts.status(), sessions, await this.parts.listAttached(), Date.now());
        },
      },
    );
    logger.info({ metrics: `http://${this.server.address}/metrics`, ui: `http://${this.server.address}/ui/` }, 'metrics and topology page listening');
  }

  /** Connections the metrics/status listener refused or cut (undefined when it does not run). */
  limitStats(): HttpLimitStats | undefined {
    return this.server?.limitStats();
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
