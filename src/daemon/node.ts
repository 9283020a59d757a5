// The composition root: builds every part from the launch config and the injected adapters
// (adapters.ts; the real ones in host-adapters.ts), starts them in order and stops them in reverse
// (DESIGN.md §2). Nothing below this file knows how the others are wired. Handshakes and peer-link
// adoption live in peer-links.ts, what the HTTP API calls in api-facade.ts.
//
// Start order: data dir and identity → password key → bridge and TAP → UDP socket → mesh router and
// overlay → TCP listener → connection maker (targets) → HTTP API (last: `launch` waits for it, so an
// answering API means a router that is fully up).

import { BRIDGE_NAME, HANDSHAKE_TIMEOUT_MS, TAP_NAME } from '../core/defaults.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { LogLimiter, messageShape } from '../core/log-limiter.js';
import type { Clock, ContainerRef, Rng } from '../core/ports.js';
import { formatHostPort, parseHostPort, peerNameToNumber, type PeerName } from '../core/types.js';
import { nodeRekeyCrypto } from '../crypto/rekey-kdf.js';
import { Overlay } from '../dataplane/overlay.js';
import { AcceptLimiter, PendingHandshakes, type InboundStats } from '../mesh/accept-limiter.js';
import { ConnectionMaker } from '../mesh/connection-maker.js';
import { Router } from '../mesh/router.js';
import { apiRoutes } from '../api/routes.js';
import { cniRoutes } from '../api/cni-routes.js';
import { cniBackend } from './cni-attach.js';
import { DeathWatch } from '../containers/death-watch.js';
import type { ApiHandle, DataPlaneIo, NodeAdapters } from './adapters.js';
import { ApiFacade } from './api-facade.js';
import { reconcileAtStart } from './attach-flow.js';
import { Attachments, watchRefOf } from './attachments.js';
import { launchConfigForLog, type LaunchConfig } from '../config/launch.js';
import { bridgeMac, loadPeerName, randomUid } from './identity.js';
import { heartbeatMac } from '../dataplane/fastdp-wire.js';
import { FastDpLink } from './fastdp-link.js';
import type { PeerLink } from './peer-link.js';
import { PeerLinks, plainIp } from './peer-links.js';
import { NatTraversal } from './nat-traversal.js';
import { PeerMemory } from './peer-memory.js';
import { RouteAdapter } from './route-adapter.js';
import { Observability } from './observability.js';
import { WeaveDns } from './weavedns.js';
import { WeaveIpam, checkRangeAgainstRoutes } from './weaveipam.js';
import { HostAccess } from './host-access.js';
import { DockerLifecycle } from './docker-lifecycle.js';
import { bridgeGatewayFor } from './bridge-gateway.js';
import type { DockerPluginHost } from './docker-plugin-host.js';
import { PlumbingKeeper } from './plumbing-keeper.js';
import { UnderlayMtuWatch } from './underlay-mtu-watch.js';
import { hostVethName } from '../io/host-network.js';

export class TsweaveNode {
  readonly log: Logger;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private name!: PeerName;
  private router: Router | undefined;
  private maker: ConnectionMaker | undefined;
  private memory: PeerMemory | undefined;
  private overlay: Overlay | undefined;
  private dataPlane: DataPlaneIo | undefined;
  private links: PeerLinks | undefined;
  private nat: NatTraversal | undefined;
  private fastdp: FastDpLink | undefined;
  private listener: { close(): void } | undefined;
  private http: ApiHandle | undefined;
  private attachments: Attachments | undefined;
  private dns: WeaveDns | undefined;
  private ipam: WeaveIpam | undefined;
  private deathWatch: DeathWatch | undefined;
  private facade: ApiFacade | undefined;
  /** expose/hide, egress and the firewall rules (host-access.ts), when the adapters provide them. */
  private host: HostAccess | undefined;
  private observe: Observability | undefined;
  /** Docker containers: stop keeps the addresses, start re-attaches, rm releases (issue 10.6). */
  private dockerLife: DockerLifecycle | undefined;
  /** The Docker network plugin `weavemesh` (issue 13), unless --no-plugin. */
  private plugin: DockerPluginHost | undefined;
  /** Rate limit for warnings that can repeat (issue 11.6). */
  private readonly limiter: LogLimiter;
  /** The control listener's gates before authentication (listen()). */
  private readonly acceptLimiter: AcceptLimiter;
  private readonly pendingHandshakes = new PendingHandshakes();
  /** The bridge, the TAP and the containers' veths, put back when deleted or downed by hand. */
  private plumbing: PlumbingKeeper | undefined;
  private underlayMtu: UnderlayMtuWatch | undefined;
  /** Why the router stopped on its own (its data plane lost), if it did: the process exits 1. */
  failure: string | undefined;
  private stopping = false;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(
    readonly config: LaunchConfig,
    private readonly a: NodeAdapters,
  ) {
    this.log = a.logger;
    this.clock = a.clock;
    this.rng = a.rng;
    this.limiter = new LogLimiter(this.clock);
    this.acceptLimiter = new AcceptLimiter({ clock: this.clock });
    this.stopped = new Promise((r) => (this.resolveStopped = r));
  }

  get peerName(): PeerName {
    return this.name;
  }

  /** What the HTTP routes call (available once start() resolved). */
  get api(): ApiFacade {
    if (!this.facade) throw new Error('the router has not started');
    return this.facade;
  }

  /** Resolves when the node has stopped (API /stop, a signal, or a fatal error). */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const { store, hostNet, runtime } = this.a;
    this.log.info({ config: launchConfigForLog(cfg) }, 'launch configuration');
    await this.a.dataDir.prepare();
    this.name = await loadPeerName(store, this.rng, cfg.name);
    const memory = (this.memory = new PeerMemory({ store, logger: this.log }, cfg.port));
    await memory.load();
    const uid = randomUid(this.rng);
    this.log.info(
      { name: this.name, nickname: cfg.nickname, port: cfg.port, mtu: cfg.mtu, encryption: cfg.password !== undefined },
      cfg.password ? 'communication between peers is encrypted' : 'communication between peers is unencrypted',
    );
    const passwordKey = cfg.password ? await this.a.derivePasswordKey(cfg.password) : undefined;

    // IPAM's range against the host's routes first: a fatal overlap must leave nothing behind.
    if (cfg.ipam) await checkRangeAgainstRoutes(cfg.ipam.range, hostNet, this.log);
    // Bridge and TAP: frames from containers reach the router through the TAP on the bridge.
    await hostNet.ensureBridge(BRIDGE_NAME, cfg.mtu, bridgeMac(this.name));
    const localPeer = peerNameToNumber(this.name);
    const dp = (this.dataPlane = await this.a.openDataPlane({
      tapName: TAP_NAME,
      port: cfg.port,
      mtu: cfg.mtu,
      localPeer,
      maxDatagramBytes: Overlay.maxDatagramBytes(cfg.mtu),
    }));
    await hostNet.attachToBridge(TAP_NAME, BRIDGE_NAME, cfg.mtu);

    const components = { clock: this.clock, rng: this.rng, logger: this.log };
    const router = (this.router = new Router(components, {
      name: this.name,
      nickname: cfg.nickname,
      uid,
      connLimit: cfg.connLimit === 0 ? Number.MAX_SAFE_INTEGER : cfg.connLimit,
      discovery: cfg.discovery,
      checkInvariants: true,
    }));
    const overlay = (this.overlay = new Overlay(
      {
        clock: this.clock,
        logger: this.log,
        tap: dp.tap,
        udp: dp.udp,
        routes: new RouteAdapter(router),
        aead: dp.aead,
        rekeyCrypto: nodeRekeyCrypto(this.rng),
        ...(dp.fast ? { fast: dp.fast } : {}),
      },
      { localPeer, mtu: cfg.mtu, rekey: { intervalMs: cfg.settings.rekeyIntervalMs }, broadcastStart: this.rng.int(0x100000000) },
    ));
    const links = (this.links = new PeerLinks(
      { ...components, router, overlay },
      { name: this.name, nickname: cfg.nickname, uid, ...(passwordKey ? { passwordKey } : {}), port: cfg.port, trustedSubnets: cfg.trustedSubnets, sessionLanes: dp.receiveLanes ?? 1,
        csumPartial: cfg.settings.csumPartial && Overlay.csumPartialFits(cfg.mtu) },
    ));
    const nat = (this.nat = new NatTraversal({ ...components, router, overlay, links }, this.name, cfg.port));
    router.on('connection:added', (conn) => {
      const link = conn as PeerLink;
      if (link.punched) return; // its address is a NAT's, reachable only through the punch
      memory.peerSeen(formatHostPort({ host: link.remoteIp, port: link.remoteListenPort }));
    });
    router.on('message:other', (conn, msg) => {
      if (msg.kind === 'frames') overlay.onTcpFrames(peerNameToNumber(conn.remoteName), msg.payload);
      else if (msg.kind === 'rekey') overlay.onRekeyMessage(peerNameToNumber(conn.remoteName), msg);
    });
    router.start();
    overlay.start();
    nat.start();

    const attachments = (this.attachments = new Attachments(
      { logger: this.log, dataDir: this.a.dataDir.path, hostNet, runtime, store, scan: this.a.scanAttached },
      cfg.mtu,
    ));
    await attachments.load();
    await this.startPlumbing(attachments);
    if (cfg.ipam) {
      this.ipam = new WeaveIpam({ ...components, dataDir: this.a.dataDir.path, limiter: this.limiter, router, store }, cfg.ipam, cfg.peers.length + 1, cfg.settings.ipamWaitMs);
      await this.ipam.start();
    }
    if (cfg.dns) {
      const ipam = this.ipam;
      const dnsAddresses = ipam && {
        allocate: async (id: string) => (await ipam.allocator.allocate(id)).cidr,
        lookup: (id: string) => ipam.allocator.lookup(id).map((a) => a.cidr),
      };
      this.dns = new WeaveDns(
        { ...components, limiter: this.limiter, dataDir: this.a.dataDir.path, router, store, hostNet, openServer: this.a.openDnsServer, ...(dnsAddresses ? { ipam: dnsAddresses } : {}) },
        cfg.dns,
      );
      await this.dns.start();
    }
    const events = runtime.subscribe ? { subscribe: runtime.subscribe.bind(runtime) } : undefined;
    const deathWatch = (this.deathWatch = new DeathWatch({ runtime, clock: this.clock, logger: this.log, limiter: this.limiter, ...(events ? { events } : {}) }));
    deathWatch.onDeath((ref) => this.containerDied(ref));
    for (const a of attachments.list()) deathWatch.watch(watchRefOf(a));
    deathWatch.start();
    const reconciled = reconcileAtStart(attachments, this.ipam, deathWatch, this.log);
    const flow = { runtime, attachments, ipam: this.ipam, dns: this.dns, deathWatch, reconciled };
    const dockerState = runtime.dockerState?.bind(runtime);
    if (dockerState) this.dockerLife = new DockerLifecycle(flow, { ...components, dockerState });
    if (this.a.hostRouting && this.a.openPacketFilter) {
      this.host = new HostAccess({ ...components, limiter: this.limiter, store, dataDir: this.a.dataDir.path, routing: this.a.hostRouting, filter: await this.a.openPacketFilter(),
        ipam: this.ipam, attached: () => attachments.list(), reconciled: () => reconciled, bridgeMac: bridgeMac(this.name),
        moreEgress: () => this.plugin?.egressAddresses() ?? [] }, BRIDGE_NAME);
      await this.host.start();
    }
    // After host access: with a password, the VXLAN port is guarded by the firewall before it opens.
    await this.startFastdp(links, router, localPeer);
    this.watchUnderlayMtu(router, overlay, dp);
    // After host access: the plugin's containers route out through it (egress).
    if (cfg.pluginSocket && this.a.serveDockerPlugin) {
      const ipam = this.ipam;
      const host = this.host;
      this.plugin = await this.a.serveDockerPlugin({
        ...components, mtu: cfg.mtu, socketPath: cfg.pluginSocket, ipam, dns: this.dns,
        attachedIds: () => attachments.list().map((a) => a.containerId),
        // Egress (issue 15): plugin containers route out via the bridge and are masqueraded, as CNI's are.
        ...(ipam && host ? { gateway: (subnet) => bridgeGatewayFor(hostNet, ipam, subnet, this.log), egressChanged: () => host.egressReady() } : {}),
      }, deathWatch);
    }

    // Metrics (--metrics-addr) count from the first connection on; the listener starts with the API below.
    this.observe = new Observability({ status: () => this.api.status(), stats: () => this.api.stats(), listAttached: () => this.api.listAttached(), router, links, ipam: this.ipam?.allocator, dns: this.dns });
    this.listener = await this.listen(links);
    const transport = this.a.transport;
    this.maker = new ConnectionMaker(
      {
        ...components,
        router,
        dial: async (address) => {
          const hp = parseHostPort(address, cfg.port);
          const stream = await transport.dial(hp.host, hp.port, HANDSHAKE_TIMEOUT_MS);
          const link = await links.handshake(stream, true, address);
          // The peer may refuse right after the handshake (e.g. its connection limit), in the same read
          // as the handshake's end: the Router already dropped the link; don't let the maker re-add it.
          if (link.closed) throw new Error(link.closeReason ?? 'connection closed');
          return link;
        },
      },
      { port: cfg.port, discovery: cfg.discovery },
    );
    this.maker.start();
    this.maker.addTargets(memory.initialTargets(cfg.peers.map(formatHostPort)));
    memory.targetsChanged(this.maker.targets());

    this.facade = new ApiFacade({
      config: cfg,
      router,
      maker: this.maker,
      memory,
      links,
      overlay,
      dataPlane: dp,
      fastdp: this.fastdp,
      attachments,
      runtime,
      deathWatch,
      ipam: this.ipam,
      dns: this.dns,
      nat,
      reconciled,
      host: this.host,
      plugin: this.plugin,
      logStats: () => ({ ...this.a.logStats?.(), suppressed: this.limiter.suppressedTotal }),
      inboundStats: () => this.inboundStats(),
      httpStats: () => ({ ...this.http?.limitStats?.(), ...(this.observe?.limitStats() ? { status: this.observe.limitStats() } : {}) }),
      stop: (reason) => this.stop(reason),
    });
    await this.observe.listen(cfg.metricsAddr, this.a.serveStatus?.bind(this.a), this.log);
    // CNI plugin routes (issue 14), beside the CLI's; the flow takes the parts it needs (cni-attach.ts).
    const host = this.host;
    const cni = cniBackend({
      attachments, ipam: this.ipam, dns: this.dns, deathWatch, reconciled, hostNet, log: this.log, ...(host ? { egressReady: () => host.egressReady() } : {}),
    });
    this.http = await this.a.serveApi([...apiRoutes(this.facade), ...cniRoutes(cni)]);
    await this.a.dataDir.writePid();
    // So `stop`, `reset` & co. find this router's data dir in this network namespace (runtime-record.ts).
    await this.a.dataDir
      .writeRuntimeRecord()
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot write the runtime record; stop/reset will need --data-dir'));
    this.log.info({ api: this.http.address }, 'router started');
  }

  /** The kernel fast datapath (dataplane/fastdp.ts), unless --no-fastdp; a failure leaves the sleeve. */
  private async startFastdp(links: PeerLinks, router: Router, localPeer: number): Promise<void> {
    const cfg = this.config;
    const off = async (why?: string) => {
      if (why) this.log.info({ reason: why }, 'fast datapath off; every connection uses the sleeve');
      await this.a.removeVxlan?.();
    };
    if (!cfg.fastdp || !this.a.openVxlan) return off();
    // Kernel VXLAN cannot authenticate: with a password it is only for --trusted-subnets peers, and the port
    // must refuse everyone else before the device exists (host/firewall-rules.ts TSWEAVE-INPUT).
    if (cfg.password !== undefined) {
      if (cfg.trustedSubnets.length === 0) return off();
      if (!this.host) return off('a password is set and no firewall guards the VXLAN port');
      if (!(await this.host.guardVxlan(cfg.port + 1, cfg.trustedSubnets))) return off('cannot install the iptables rule that guards the VXLAN port');
    }
    // UDP port+1 for VXLAN, as Weave's fastdp (6784 by default).
    const vxlan = this.a.openVxlan({ port: cfg.port + 1, mtu: cfg.mtu, heartbeatMac: heartbeatMac(localPeer) });
    const fdp = new FastDpLink({ clock: this.clock, logger: this.log, links, routes: new RouteAdapter(router), vxlan }, { localPeer, mtu: cfg.mtu, port: cfg.port + 1 });
    try {
      await fdp.start();
      this.fastdp = fdp;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'fast datapath unavailable; every connection uses the sleeve');
      await fdp.stop();
    }
  }

  /** The plumbing check (plumbing-keeper.ts), when the host network can list links. */
  private async startPlumbing(attachments: Attachments): Promise<void> {
    const { hostLinks, setBridgePort } = this.a.hostNet;
    if (!hostLinks || !setBridgePort) return;
    const hostNet = this.a.hostNet;
    this.plumbing = new PlumbingKeeper({
      clock: this.clock, logger: this.log, limiter: this.limiter,
      hostNet: { ensureBridge: hostNet.ensureBridge.bind(hostNet), replaceLinkAddr: hostNet.replaceLinkAddr.bind(hostNet), hostLinks: hostLinks.bind(hostNet), setBridgePort: setBridgePort.bind(hostNet) },
      expectedPorts: () => new Map(attachments.list().map((a) => [hostVethName(a.containerId), { hairpin: true, isolated: false }])),
      onBridgeRecreated: async () => this.host?.bridgeRecreated(),
      onTapLost: (reason) => void this.fail(reason),
    }, { bridge: BRIDGE_NAME, mtu: this.config.mtu, mac: bridgeMac(this.name), tap: TAP_NAME });
    await this.plumbing.start();
  }

  /** Logs an underlay MTU too small for the overlay's datagrams (underlay-mtu-watch.ts). */
  private watchUnderlayMtu(router: Router, overlay: Overlay, dp: DataPlaneIo): void {
    const routeMtu = this.a.hostNet.routeMtu?.bind(this.a.hostNet);
    if (!routeMtu) return;
    const count = (v: unknown): number => (typeof v === 'number' ? v : 0);
    this.underlayMtu = new UnderlayMtuWatch({
      clock: this.clock, logger: this.log, limiter: this.limiter,
      hostNet: { routeMtu, fragmentsCreated: this.a.hostNet.fragmentsCreated?.bind(this.a.hostNet) },
      sendErrors: () => count(overlay.fastStats()?.udpSendErrors) + count((dp.stats().udp as { sendErrors?: unknown } | undefined)?.sendErrors),
      peers: () => [...new Set(router.connections().map((conn) => (conn as PeerLink).remoteIp))],
    }, { mtu: this.config.mtu, maxDatagramBytes: Overlay.maxDatagramBytes(this.config.mtu) });
    this.underlayMtu.start();
  }

  /** Stops the router because it cannot do its job any more; the process exits 1 with `reason` logged. */
  private fail(reason: string): Promise<void> {
    this.failure ??= reason;
    return this.stop(reason);
  }

  /** The TCP listener: accept-rate and pending-handshake limits, then the handshake (peer-links.ts). */
  private listen(links: PeerLinks): Promise<{ close(): void }> {
    const limiter = this.acceptLimiter;
    const pending = this.pendingHandshakes;
    return this.a.transport.listen('0.0.0.0', this.config.port, (stream) => {
      const remote = plainIp(stream.remoteAddress);
      if (!limiter.tryAccept(remote)) {
        this.log.debug({ remote }, 'accept rate exceeded, connection refused');
        stream.close();
        return;
      }
      const release = pending.tryEnter(remote, () => stream.close());
      if (!release) {
        this.log.debug({ remote }, 'too many pending handshakes, connection refused');
        stream.close();
        return;
      }
      links
        .handshake(stream, false, `${remote}:${stream.remotePort}`)
        .catch((err: unknown) => {
          // Keyed by the message's shape: the numbers and names in it are the stranger's to choose.
          const f = this.limiter.fields(`inbound:${messageShape(errorMessage(err))}`, { err: errorMessage(err), remote: stream.remoteAddress });
          if (f) this.log.warn(f, 'inbound connection failed');
        })
        .finally(release);
    });
  }

  /** What the control listener refused or cut short before authentication (/stats `inbound`, metrics). */
  private inboundStats(): InboundStats {
    const l = this.acceptLimiter;
    const p = this.pendingHandshakes;
    return { acceptRefused: l.refused, acceptRefusedGlobal: l.refusedGlobal, pendingRefused: p.refused, pendingEvicted: p.evicted, pending: p.pending };
  }

  /**
   * A watched container died: its names go at once (other hosts must stop resolving them). A Docker
   * container keeps its addresses until it is removed and is re-attached when it starts again
   * (docker-lifecycle.ts); any other goes after a grace period (a namespace re-created in time keeps them).
   */
  private containerDied(ref: ContainerRef): void {
    this.log.info({ container: ref.id }, 'container died');
    if (this.dockerLife?.died(ref)) return;
    void this.dns?.removeContainer(ref.id);
    this.clock.setTimer(this.config.settings.deadContainerGraceMs, () => {
      void (async () => {
        if (this.stopping || (await this.a.runtime.isAlive(ref).catch(() => false))) return;
        this.ipam?.free(ref.id);
        this.deathWatch?.unwatch(ref.id);
        try {
          await this.attachments?.forget(ref.id);
          this.log.info({ container: ref.id }, 'dead container released');
        } catch (err) {
          // The record stays on disk (a full disk): the next start finds the container dead and releases it.
          const f = this.limiter.fields('forget-dead', { err: errorMessage(err), container: ref.id });
          if (f) this.log.error(f, 'dead container released, but its record could not be removed from the data dir');
        }
      })();
    });
  }

  /** Stops everything in reverse order. Containers keep their interfaces. */
  async stop(reason = 'router stopping'): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    this.log.info({ reason }, 'router stopping');
    // The plugin's backend socket shares the API socket's directory: closed first, so that closing the
    // API can remove the then empty directory (else /run/tsweave/netns-INODE/ stayed after stop and reset).
    await this.plugin?.stop();
    await this.http?.close();
    await this.observe?.close();
    this.maker?.stop();
    this.plumbing?.stop();
    this.underlayMtu?.stop();
    this.listener?.close();
    this.links?.closeAll(reason);
    this.nat?.stop();
    this.deathWatch?.stop();
    this.dockerLife?.stop();
    this.host?.stop();
    await this.dns?.stop();
    this.ipam?.stop();
    await this.ipam?.flushed();
    await this.attachments?.settled();
    await this.fastdp?.stop();
    this.overlay?.stop();
    this.router?.stop();
    this.dataPlane?.close();
    await this.memory?.flushed();
    await this.a.dataDir.removePid();
    this.resolveStopped();
  }
}
