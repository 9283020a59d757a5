// The composition root: builds every part from the launch config, starts them in order and stops them
// in reverse (DESIGN.md §2). Nothing below this file knows how the others are wired.
//
// Start order: data dir and identity → password key → bridge and TAP → UDP socket → mesh router and
// overlay → TCP listener → connection maker (targets) → HTTP API (last: `launch` waits for it, so an
// answering API means a router that is fully up).

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultApiSocketPath } from '../io/api-socket.js';
import { systemClock, systemRng } from '../core/clock.js';
import {
  BRIDGE_NAME,
  HANDSHAKE_TIMEOUT_MS,
  IPAM_DEAD_CONTAINER_GRACE_MS,
  PROTOCOL_MAX_VERSION,
  PROTOCOL_MIN_VERSION,
  TAP_NAME,
  VERSION,
  HTTP_API_ADDR,
  HTTP_API_PORT,
} from '../core/defaults.js';
import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ByteStream, Clock, ContainerRef, Rng } from '../core/ports.js';
import { cidrContains, formatCidr, formatHostPort, parseHostPort, peerNameToNumber, tryParseIPv4, type PeerName } from '../core/types.js';
import { derivePasswordKey } from '../crypto/password-kdf.js';
import { nodeDataAead, type DataAeadEngine } from '../crypto/data-aead.js';
import { nodeRekeyCrypto } from '../crypto/rekey-kdf.js';
import { Overlay } from '../dataplane/overlay.js';
import { exec } from '../io/exec.js';
import { IprouteHostNetwork } from '../io/host-network.js';
import { HostContainerRuntime } from '../io/container-runtime.js';
import type { ApiServer } from '../io/http-server.js';
import { startApi } from './api-server.js';
import { NativeFastPath } from '../io/fastpath.js';
import { nativeDataAead, tryLoadNative, type NativeAddon } from '../io/native.js';
import { FileStateStore } from '../io/state-store.js';
import { scanAttached } from '../io/ethwe-scan.js';
import { openTap } from '../io/tap.js';
import { TcpTransport } from '../io/tcp-transport.js';
import { ipv4ToU32, NativeUdpSocket, openUdp, type UdpEndpoint } from '../io/udp.js';
import type { NativeTapDevice } from '../io/tap.js';
import { AcceptLimiter, PendingHandshakes } from '../mesh/accept-limiter.js';
import { ConnectionMaker } from '../mesh/connection-maker.js';
import { ProtocolConnection } from '../mesh/protocol-connection.js';
import { Router } from '../mesh/router.js';
import { buildStatus } from '../api/status.js';
import type { Status } from '../api/status-types.js';
import { apiRoutes } from '../api/routes.js';
import { ATTACHMENTS_STATE_KEY, Attachments, type Attachment, type AttachRequest } from './attachments.js';
import { attachContainer, reconcileAtStart, type AttachFlow } from './attach-flow.js';
import { DockerLifecycle } from './docker-lifecycle.js';
import { startDockerPlugin, type DockerPluginHost } from './docker-plugin-host.js';
import { LogLimiter } from '../core/log-limiter.js';
import { IPAM_STATE_KEY, WeaveIpam, checkRangeAgainstRoutes, msFromEnv } from './weaveipam.js';
import type { Allocator } from '../ipam/index.js';
import { DeathWatch } from '../containers/death-watch.js';
import { DNS_STATE_KEY, WeaveDns } from './weavedns.js';
import type { LaunchConfig } from './config.js';
import { bridgeMac, loadPeerName, PEER_NAME_KEY, randomUid } from './identity.js';
import { PeerLink } from './peer-link.js';
import { PEERS_STATE_KEY, PeerMemory } from './peer-memory.js';
import { writeRuntimeRecord } from './runtime-record.js';
import { listForPs } from './ps.js';
import { RouteAdapter } from './route-adapter.js';

export const PID_FILE = 'tsweave.pid';
export const LOG_FILE = 'tsweave.log';
/** Every file the router keeps in its data dir: `reset` removes exactly these. */
export const STATE_FILES = [PEER_NAME_KEY, ATTACHMENTS_STATE_KEY, IPAM_STATE_KEY, DNS_STATE_KEY, PEERS_STATE_KEY, PID_FILE, LOG_FILE];
/** The container id of names added with `dns-add IP… -h FQDN` (Weave's weave:extern). */
const EXTERN_ID = 'weave:extern';
/** Environment override of the dead-container grace period, in ms (tests use a few seconds). */
export const DEAD_CONTAINER_GRACE_ENV = 'TSWEAVE_DEAD_CONTAINER_GRACE_MS';
/** TSWEAVE_FASTPATH=0 keeps the data plane on the JS thread (the reference path). */
export const FASTPATH_ENV = 'TSWEAVE_FASTPATH';
/** Data-plane rekey interval in whole seconds (default REKEY_AFTER_MS; tests use a few seconds). */
export const REKEY_INTERVAL_ENV = 'TSWEAVE_REKEY_INTERVAL_S';

/** TSWEAVE_REKEY_INTERVAL_S as ms, or undefined when unset. */
export function rekeyIntervalFromEnv(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const text = env[REKEY_INTERVAL_ENV];
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 86_400) {
    throw new ConfigError(`invalid ${REKEY_INTERVAL_ENV} "${text}": must be a whole number of seconds 1..86400`);
  }
  return Number(text) * 1000;
}

export interface NodeComponents {
  logger: Logger;
  /** Counters of the log destination (written, dropped…) for /stats. */
  logStats?: () => object;
  clock?: Clock;
  rng?: Rng;
}

export class TsweaveNode {
  readonly log: Logger;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private name!: PeerName;
  private uid!: string;
  private passwordKey: Uint8Array | undefined;
  private router!: Router;
  private maker!: ConnectionMaker;
  private memory: PeerMemory | undefined;
  private overlay!: Overlay;
  private tap: NativeTapDevice | undefined;
  private udp: UdpEndpoint | undefined;
  private listener: { close(): void } | undefined;
  private http: ApiServer | undefined;
  private attachments!: Attachments;
  private dns: WeaveDns | undefined;
  private ipam: WeaveIpam | undefined;
  private deathWatch!: DeathWatch;
  /** Docker containers: stop keeps the addresses, start re-attaches, rm releases (issue 10.6). */
  private dockerLife: DockerLifecycle | undefined;
  /** The Docker network plugin `weavemesh` (issue 13), unless --no-plugin. */
  private plugin: DockerPluginHost | undefined;
  /** How long a dead container keeps its addresses (TSWEAVE_DEAD_CONTAINER_GRACE_MS, default as Weave's 30 s). */
  private deadGraceMs = IPAM_DEAD_CONTAINER_GRACE_MS;
  private runtime!: HostContainerRuntime;
  private readonly links = new Map<PeerName, PeerLink>();
  private readonly usedIndexes = new Set<number>();
  /** Settles once the start-time reconcile has claimed what attached containers hold. */
  private reconciled: Promise<void> = Promise.resolve();
  /** Rate limit for warnings that can repeat (issue 11.6). */
  private limiter!: LogLimiter;
  private readonly logStats: (() => object) | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private resolveStopped!: () => void;

  constructor(
    readonly config: LaunchConfig,
    components: NodeComponents,
  ) {
    this.log = components.logger;
    this.clock = components.clock ?? systemClock;
    this.rng = components.rng ?? systemRng;
    this.logStats = components.logStats;
    this.limiter = new LogLimiter(this.clock);
    this.stopped = new Promise((r) => (this.resolveStopped = r));
  }

  get peerName(): PeerName {
    return this.name;
  }

  /** Resolves when the node has stopped (API /stop, a signal, or a fatal error). */
  whenStopped(): Promise<void> {
    return this.stopped!;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 });
    const store = new FileStateStore(cfg.dataDir);
    await store.removeTempFiles();
    this.name = await loadPeerName(store, this.rng, cfg.name);
    this.memory = new PeerMemory({ store, logger: this.log }, cfg.port);
    await this.memory.load();
    this.uid = randomUid(this.rng);
    this.log.info(
      { name: this.name, nickname: cfg.nickname, port: cfg.port, mtu: cfg.mtu, encryption: cfg.password !== undefined },
      cfg.password ? 'communication between peers is encrypted' : 'communication between peers is unencrypted',
    );
    if (cfg.password) this.passwordKey = await derivePasswordKey(cfg.password);

    // Bridge and TAP: frames from containers reach the router through the TAP on the bridge.
    const hostNet = new IprouteHostNetwork({ logger: this.log });
    // IPAM's range against the host's routes first: a fatal overlap must leave nothing behind.
    if (cfg.ipam) await checkRangeAgainstRoutes(cfg.ipam.range, this.log);
    this.deadGraceMs = msFromEnv(process.env, DEAD_CONTAINER_GRACE_ENV) ?? IPAM_DEAD_CONTAINER_GRACE_MS;
    const rekeyIntervalMs = rekeyIntervalFromEnv(process.env);
    await hostNet.ensureBridge(BRIDGE_NAME, cfg.mtu, bridgeMac(this.name));
    const native = tryLoadNative();
    if (!native.addon) throw new Error(`the native addon is required for the TAP device: ${native.reason}`);
    this.tap = openTap(TAP_NAME, { addon: native.addon, logger: this.log });
    await exec('ip', ['link', 'set', 'dev', TAP_NAME, 'mtu', String(cfg.mtu), 'master', BRIDGE_NAME, 'up']);

    this.udp = await openUdp(cfg.port, { logger: this.log, addon: native.addon });
    let aead: DataAeadEngine = nodeDataAead;
    try {
      aead = nativeDataAead(native.addon);
    } catch (err) {
      this.log.warn({ err }, 'native AEAD unavailable, using node:crypto (slower)');
    }

    const fast = this.openFastPath(native.addon, cfg.mtu);

    const components = { clock: this.clock, rng: this.rng, logger: this.log };
    this.router = new Router(components, {
      name: this.name,
      nickname: cfg.nickname,
      uid: this.uid,
      connLimit: cfg.connLimit === 0 ? Number.MAX_SAFE_INTEGER : cfg.connLimit,
      discovery: cfg.discovery,
      checkInvariants: true,
    });
    this.overlay = new Overlay(
      {
        clock: this.clock,
        logger: this.log,
        tap: this.tap,
        udp: this.udp,
        routes: new RouteAdapter(this.router),
        aead,
        rekeyCrypto: nodeRekeyCrypto(this.rng),
        ...(fast ? { fast } : {}),
      },
      { localPeer: peerNameToNumber(this.name), mtu: cfg.mtu, ...(rekeyIntervalMs ? { rekey: { intervalMs: rekeyIntervalMs } } : {}), broadcastStart: this.rng.int(0x100000000) },
    );
    this.router.on('connection:removed', (conn) => {
      const link = conn as PeerLink;
      if (this.links.get(link.remoteName) === link) {
        this.links.delete(link.remoteName);
        this.overlay.removeSession(peerNameToNumber(link.remoteName));
      }
      this.usedIndexes.delete(link.localIndex);
    });
    this.router.on('connection:added', (conn) => {
      const link = conn as PeerLink;
      this.memory?.peerSeen(formatHostPort({ host: link.remoteIp, port: link.remoteListenPort }));
    });
    this.router.on('message:other', (conn, msg) => {
      if (msg.kind === 'frames') this.overlay.onTcpFrames(peerNameToNumber(conn.remoteName), msg.payload);
      else if (msg.kind === 'rekey') this.overlay.onRekeyMessage(peerNameToNumber(conn.remoteName), msg);
    });
    this.router.start();
    this.overlay.start();

    this.runtime = new HostContainerRuntime({ logger: this.log });
    const scan = (exclude: string[]) => scanAttached(BRIDGE_NAME, exclude);
    this.attachments = new Attachments({ logger: this.log, dataDir: cfg.dataDir, hostNet, runtime: this.runtime, store, scan }, cfg.mtu);
    await this.attachments.load();
    if (cfg.ipam) {
      this.ipam = new WeaveIpam({ ...components, dataDir: cfg.dataDir, limiter: this.limiter, router: this.router, store }, cfg.ipam, cfg.peers.length + 1, process.env);
      await this.ipam.start();
    }
    if (cfg.dns) {
      const ipam = this.ipam;
      const dnsAddresses = ipam && {
        allocate: async (id: string) => (await ipam.allocator.allocate(id)).cidr,
        lookup: (id: string) => ipam.allocator.lookup(id).map((a) => a.cidr),
      };
      this.dns = new WeaveDns({ ...components, router: this.router, store, ...(dnsAddresses ? { ipam: dnsAddresses } : {}) }, cfg.dns);
      await this.dns.start();
    }
    this.deathWatch = new DeathWatch({ runtime: this.runtime, clock: this.clock, logger: this.log, events: this.runtime, limiter: this.limiter });
    this.deathWatch.onDeath((ref) => this.containerDied(ref));
    for (const a of this.attachments.list()) this.deathWatch.watch({ id: a.containerId, netnsPath: a.netnsPath });
    this.deathWatch.start();
    this.reconciled = reconcileAtStart(this.attachments, this.ipam, this.deathWatch, this.log);
    const pluginDeps = cfg.pluginSocket
      ? { ...components, mtu: cfg.mtu, socketPath: cfg.pluginSocket, backendPath: join(dirname(cfg.apiSocket ?? defaultApiSocketPath()), 'docker-plugin.sock'), ipam: this.ipam, dns: this.dns }
      : undefined;
    this.plugin = await startDockerPlugin(pluginDeps, this.deathWatch);
    this.dockerLife = new DockerLifecycle(this.attachFlow(), { clock: this.clock, logger: this.log, dockerState: (id) => this.runtime.dockerState(id) });

    const transport = new TcpTransport({ logger: this.log });
    const limiter = new AcceptLimiter({ clock: this.clock });
    const pending = new PendingHandshakes();
    this.listener = await transport.listen('0.0.0.0', cfg.port, (stream) => {
      if (!limiter.tryAccept()) {
        this.log.debug({ remote: stream.remoteAddress }, 'accept rate exceeded, connection refused');
        stream.close();
        return;
      }
      const release = pending.tryEnter(plainIp(stream.remoteAddress));
      if (!release) {
        this.log.debug({ remote: stream.remoteAddress }, 'too many pending handshakes, connection refused');
        stream.close();
        return;
      }
      this.handshake(stream, false, `${plainIp(stream.remoteAddress)}:${stream.remotePort}`)
        .catch((err: unknown) => {
          const f = this.limiter.fields(`inbound:${errorMessage(err)}`, { err: errorMessage(err), remote: stream.remoteAddress });
          if (f) this.log.warn(f, 'inbound connection failed');
        })
        .finally(release);
    });
    this.maker = new ConnectionMaker(
      {
        ...components,
        router: this.router,
        dial: async (address) => {
          const hp = parseHostPort(address, cfg.port);
          const stream = await transport.dial(hp.host, hp.port, HANDSHAKE_TIMEOUT_MS);
          const link = await this.handshake(stream, true, address);
          // The peer may refuse right after the handshake (e.g. its connection limit), in the same read
          // as the handshake's end: the Router already dropped the link; don't let the maker re-add it.
          if (link.closed) throw new Error(link.closeReason ?? 'connection closed');
          return link;
        },
      },
      { port: cfg.port, discovery: cfg.discovery },
    );
    this.maker.start();
    this.maker.addTargets(this.memory.initialTargets(cfg.peers.map(formatHostPort)));
    this.memory.targetsChanged(this.maker.targets());

    this.http = await startApi(cfg, apiRoutes(this), this.log);
    const pidFile = join(cfg.dataDir, PID_FILE);
    await writeFile(pidFile, `${process.pid}\n`).catch((err: unknown) => {
      throw new TsweaveError('ERR_STATE', `cannot write ${pidFile}: ${errorMessage(err)}; free space in ${cfg.dataDir} (or set TSWEAVE_DATA_DIR to another directory)`, { cause: err });
    });
    // So `stop`, `reset` & co. find this router's data dir in this network namespace (runtime-record.ts).
    await writeRuntimeRecord(process.env, { dataDir: cfg.dataDir, pid: process.pid, api: `${HTTP_API_ADDR}:${HTTP_API_PORT}` })
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot write the runtime record; stop/reset will need --data-dir'));
    this.log.info({ api: this.http.address }, 'router started');
  }

  /** Runs the handshake on a new TCP stream; resolves once the mesh adopted the connection. */
  private handshake(stream: ByteStream, outbound: boolean, address: string): Promise<PeerLink> {
    const localIndex = this.newSessionIndex();
    const pc = new ProtocolConnection(
      { clock: this.clock, rng: this.rng, logger: this.log },
      {
        stream,
        outbound,
        localName: this.name,
        localNickname: this.config.nickname,
        localUid: this.uid,
        ...(this.passwordKey ? { passwordKey: this.passwordKey } : {}),
        listenPort: this.config.port,
        sessionIndex: localIndex,
        trustsRemote: this.trusts(plainIp(stream.remoteAddress)),
      },
    );
    return new Promise<PeerLink>((resolve, reject) => {
      let link: PeerLink | undefined;
      let adopting = false;
      let closedWhileAdopting: Error | undefined;
      pc.onReady((info) => {
        const candidate = new PeerLink(pc, info, outbound, address, plainIp(stream.remoteAddress), localIndex);
        adopting = true; // a refusal closes pc inside addConnection; its error (not "closed") is the reason
        try {
          this.router.addConnection(candidate);
        } catch (err) {
          this.usedIndexes.delete(localIndex);
          reject(err);
          return;
        }
        if (closedWhileAdopting) {
          // It failed while the Router adopted it (e.g. a write error sending the initial gossip).
          candidate.closed = true;
          candidate.closeReason = errorMessage(closedWhileAdopting);
          this.router.removeConnection(candidate, candidate.closeReason);
          reject(closedWhileAdopting);
          return;
        }
        link = candidate;
        this.links.set(link.remoteName, link);
        this.startSession(link);
        resolve(link);
      });
      pc.onMessage((msg) => {
        if (link) this.router.handleMessage(link, msg);
      });
      pc.onClose((err) => {
        if (!link) {
          if (adopting) {
            closedWhileAdopting = err ?? new Error('connection closed');
            return;
          }
          this.usedIndexes.delete(localIndex);
          reject(err ?? new Error('connection closed during handshake'));
          return;
        }
        link.closed = true;
        link.closeReason = err ? errorMessage(err) : 'connection closed';
        this.router.removeConnection(link, link.closeReason);
      });
    });
  }

  /**
   * The data plane's fast path (native I/O threads) unless TSWEAVE_FASTPATH=0 or the socket is not the
   * addon's; without it the overlay reads the TAP and the socket on the JS thread (same rules, slower).
   */
  private openFastPath(addon: NativeAddon, mtu: number): NativeFastPath | undefined {
    if (process.env[FASTPATH_ENV] === '0') {
      this.log.warn(`${FASTPATH_ENV}=0: fast path off; every frame goes through the JS thread`);
      return undefined;
    }
    if (!(this.udp instanceof NativeUdpSocket) || !this.tap) {
      this.log.warn({ udp: this.udp?.impl }, 'fast path unavailable (no native UDP socket); every frame goes through the JS thread');
      return undefined;
    }
    this.log.info({ tapOffload: this.tap.offload }, 'data plane: native fast path (I/O threads)');
    return new NativeFastPath({
      addon,
      logger: this.log,
      tapFd: this.tap.fd,
      tapOffload: this.tap.offload,
      udpFd: this.udp.fd,
      localPeer: peerNameToNumber(this.name),
      maxDatagramBytes: Overlay.maxDatagramBytes(mtu),
    });
  }

  /** --trusted-subnets: is this remote address one we trust (data plane may go unencrypted)? */
  private trusts(ip: string): boolean {
    const addr = tryParseIPv4(ip);
    return addr !== undefined && this.config.trustedSubnets.some((c) => cidrContains(c, addr));
  }

  private startSession(link: PeerLink): void {
    // Both ends trust each other's address: the data plane goes unencrypted (the TCP control plane stays
    // sealed). Both ends compute the same answer from the two hellos, so they agree without a message.
    const k = link.dataEncrypted ? link.info.udpKeys : undefined;
    this.overlay.addSession(
      {
        peer: peerNameToNumber(link.remoteName),
        remoteAddr: ipv4ToU32(link.remoteIp),
        remotePort: link.remoteListenPort,
        localIndex: link.localIndex,
        remoteIndex: link.info.remoteSessionIndex,
        ...(k ? { keys: { sendKey: k.udpSendKey, recvKey: k.udpRecvKey, sendSalt: k.udpSendSalt, recvSalt: k.udpRecvSalt } } : {}),
      },
      {
        sendFramesOverTcp: (body) => link.send({ kind: 'frames', payload: body }),
        sendRekey: (m) => link.send({ kind: 'rekey', ...m }),
        onPathChange: (path) => {
          link.path = path;
          this.router.setConnectionEstablished(link, path !== undefined);
        },
      },
    );
  }

  private newSessionIndex(): number {
    for (;;) {
      const i = (this.rng.int(0xfffffffe) + 1) >>> 0;
      if (!this.usedIndexes.has(i)) {
        this.usedIndexes.add(i);
        return i;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the API calls.

  status(): Status {
    return buildStatus({
      version: VERSION,
      protocolMinVersion: PROTOCOL_MIN_VERSION,
      protocolMaxVersion: PROTOCOL_MAX_VERSION,
      port: this.config.port,
      mtu: this.config.mtu,
      encryption: this.config.password !== undefined,
      trustedSubnets: this.config.trustedSubnets.map(formatCidr),
      router: this.router.snapshot(),
      maker: this.maker.snapshot(),
      ...(this.dns ? { dns: this.dns.status() } : {}),
      ...(this.ipam ? { ipam: this.ipam.status() } : {}),
      link: (peer) => {
        const l = this.links.get(peer as PeerName);
        if (!l) return undefined;
        return { encrypted: l.dataEncrypted, path: l.path, rekeys: this.overlay.sessionInfo(peerNameToNumber(l.remoteName))?.rekeys ?? 0 };
      },
    });
  }

  /** Targets as the connection maker keys them: "host:port", the port defaulting to ours. */
  private targetsOf(peers: string[]): string[] {
    return peers.map((p) => formatHostPort(parseHostPort(p, this.config.port)));
  }

  connect(peers: string[], replace: boolean): void {
    this.maker.addTargets(this.targetsOf(peers), replace);
    this.memory?.targetsChanged(this.maker.targets());
  }

  forget(peers: string[]): void {
    this.maker.forgetTargets(this.targetsOf(peers));
    this.memory?.forget(this.targetsOf(peers));
    this.memory?.targetsChanged(this.maker.targets());
  }

  /**
   * attach: addresses (IPAM allocates or claims them), the interface, then the DNS name when the
   * container's hostname is in the domain. The container is watched so its addresses and names are
   * released when it dies.
   */
  async attach(req: AttachRequest): Promise<Attachment> {
    return attachContainer(this.attachFlow(), req);
  }

  private attachFlow(): AttachFlow {
    const { runtime, attachments, ipam, dns, deathWatch, reconciled } = this;
    return { runtime, attachments, ipam, dns, deathWatch, reconciled };
  }

  async detach(container: string, addrs: string[]): Promise<string[]> {
    const { containerId, removed, all } = await this.attachments.detach(container, addrs, this.config.ipam?.defaultSubnet);
    this.ipam?.free(containerId, all ? undefined : removed);
    await this.ipam?.flushed();
    if (all) this.deathWatch.unwatch(containerId);
    if (this.dns) {
      if (all) await this.dns.removeContainer(containerId);
      else for (const c of removed) await this.dns.remove({ containerId, address: c.split('/')[0]! });
    }
    return removed;
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
    this.clock.setTimer(this.deadGraceMs, () => {
      void (async () => {
        if (this.stopping || (await this.runtime.isAlive(ref).catch(() => false))) return;
        this.ipam?.free(ref.id);
        await this.attachments.forget(ref.id);
        this.deathWatch.unwatch(ref.id);
        this.log.info({ container: ref.id }, 'dead container released');
      })();
    });
  }

  /** The allocator, for the IPAM HTTP API; a clear error when IPAM is off. */
  ipamAllocator(): Allocator {
    if (!this.ipam) throw new ConfigError('IPAM is disabled on this router (launched with --ipalloc-range "")');
    return this.ipam.allocator;
  }

  /** DELETE /peer (`reset`): hands this peer's IP ranges to another peer before it goes. */
  async leaveIpam(): Promise<string> {
    return this.ipam ? this.ipam.leave() : '';
  }

  /** rmpeer: takes over a dead peer's address space. */
  rmpeer(peer: string): string {
    const n = this.ipamAllocator().rmpeer(peer);
    return `${n} IPs taken over from ${peer}\n`;
  }

  /** `ps`: attached containers that still exist; `only` = the references asked for (ps.ts). */
  async listAttached(only: string[] = []): Promise<Array<Pick<Attachment, 'containerId' | 'mac' | 'cidrs'>>> {
    return [...await listForPs(this.attachments.list(), this.runtime, only), ...await this.plugin?.containers(only) ?? []];
  }

  private requireDns(): WeaveDns {
    if (!this.dns) throw new ConfigError('weaveDNS is disabled on this router (launched with --no-dns)');
    return this.dns;
  }

  /** dns-add: a container's name (default: its hostname, its attached addresses) or an external name. */
  async dnsAdd(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<void> {
    const dns = this.requireDns();
    const target = await this.dnsTarget(container, ips, fqdn);
    await dns.add(target.id, target.ips, target.fqdn);
  }

  async dnsRemove(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<number> {
    const dns = this.requireDns();
    const id = container === undefined ? EXTERN_ID : (await this.runtime.resolve(container).catch(() => ({ id: container }))).id;
    if (ips.length === 0) return fqdn ? dns.remove({ containerId: id, hostname: fqdn }) : dns.removeContainer(id);
    let n = 0;
    for (const ip of ips) n += await dns.remove({ containerId: id, address: ip, ...(fqdn ? { hostname: fqdn } : {}) });
    return n;
  }

  private async dnsTarget(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<{ id: string; ips: string[]; fqdn: string }> {
    if (container === undefined) {
      if (!fqdn || ips.length === 0) throw new ConfigError('dns-add without a container needs IP addresses and -h FQDN');
      return { id: EXTERN_ID, ips, fqdn };
    }
    const ref = await this.runtime.resolve(container);
    const name = fqdn ?? ref.hostname;
    if (!name) throw new ConfigError(`container ${container} has no hostname; give one with -h FQDN`);
    const addrs = ips.length ? ips : (this.attachments.list().find((a) => a.containerId === ref.id)?.cidrs ?? []).map((c) => c.split('/')[0]!);
    if (addrs.length === 0) throw new ConfigError(`container ${container} has no weave addresses; give IP addresses or attach it first`);
    return { id: ref.id, ips: addrs, fqdn: name };
  }

  dnsLookup(name: string): string[] {
    return this.requireDns().service.lookup(name);
  }

  /** The DNS server's address for `docker run --dns` (claimed from IPAM on first use when there is no docker0). */
  async dnsArgs(): Promise<{ address: string; domain: string }> {
    const dns = this.requireDns();
    const address = await dns.ensureListening();
    await this.ipam?.flushed();
    return { address: address.replace(/:53$/, ''), domain: dns.config.domain };
  }

  stats(): Record<string, unknown> {
    return {
      overlay: this.overlay.stats,
      forward: this.overlay.forwarder.stats,
      fastPath: this.overlay.fastStats(),
      sessions: Object.fromEntries(
        [...this.links.values()].map((l) => {
          const info = this.overlay.sessionInfo(peerNameToNumber(l.remoteName));
          return [l.remoteName, { rekeys: info?.rekeys ?? 0, keyGeneration: info?.keyGeneration ?? 0 }];
        }),
      ),
      tap: this.tap?.stats(),
      udp: this.udp?.stats(),
      router: this.router.snapshot().stats,
      dns: this.dns?.stats(),
      log: { ...this.logStats?.(), suppressed: this.limiter.suppressedTotal },
    };
  }

  /** Stops everything in reverse order. Containers keep their interfaces. */
  async stop(reason = 'router stopping'): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    this.log.info({ reason }, 'router stopping');
    await this.http?.close();
    this.maker?.stop();
    this.listener?.close();
    for (const link of this.links.values()) link.close(reason);
    this.deathWatch?.stop();
    await this.plugin?.stop();
    this.dockerLife?.stop();
    await this.dns?.stop();
    this.ipam?.stop();
    await this.ipam?.flushed();
    await this.attachments?.settled();
    this.overlay?.stop();
    this.router?.stop();
    this.tap?.close();
    this.udp?.close();
    await this.memory?.flushed();
    await rm(join(this.config.dataDir, PID_FILE), { force: true });
    this.resolveStopped();
  }
}

/** "::ffff:10.0.0.1" (an IPv4-mapped address from a dual-stack socket) → "10.0.0.1". */
function plainIp(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
