// The outside world as the daemon sees it: every port it needs, injected. host-adapters.ts builds the
// real ones (kernel, files, sockets, the native addon); a unit test builds fakes from test/support/ and
// starts a whole node without root (test/unit/daemon/node.test.ts).

import type { Logger } from '../core/logger.js';
import type {
  Clock, ContainerEventSource, ContainerRuntime, ControlTransport, FastPath, HostNetwork, HostRouting, PacketFilter, Rng, StateStore, TapDevice,
  UdpSocket, VxlanFdb,
} from '../core/ports.js';
import type { DataAeadEngine } from '../crypto/data-aead.js';
import type { Route } from '../io/http-server.js';
import type { StatusServer, StatusServerOptions } from '../io/status-server.js';
import type { AttachmentsComponents } from './attachments.js';
import type { DeathWatch } from '../containers/death-watch.js';
import type { DockerPluginHost, PluginHostDeps } from './docker-plugin-host.js';
import type { DnsServerFactory } from './weavedns.js';
import type { HttpLimitStats } from '../io/http-limits.js';

/** The data plane's I/O: the TAP on the bridge, the UDP socket, the AEAD engine and the fast path, if any. */
export interface DataPlaneIo {
  tap: TapDevice;
  udp: UdpSocket;
  aead: DataAeadEngine;
  fast?: FastPath;
  /** Receive lanes a session may address (wire/hello.ts sessionLanes): > 1 only when the fast path reads
   *  several sockets that the kernel steers by receiver index. @default 1 */
  receiveLanes?: number;
  /** Device counters for /stats. */
  stats(): { tap?: unknown; udp?: unknown };
  close(): void;
}

export interface DataPlaneInit {
  /** Name of the TAP device to open. */
  tapName: string;
  /** UDP port (the control port). */
  port: number;
  mtu: number;
  /** This router's peer name as a 48-bit number (the fast path stamps it on packets). */
  localPeer: number;
  /** Largest datagram the overlay may produce for this MTU. */
  maxDatagramBytes: number;
}

/** What the fast datapath's devices are built from. */
export interface VxlanInit {
  /** UDP port of the VXLAN devices (the control port + 1, as Weave). */
  port: number;
  mtu: number;
  heartbeatMac: number;
}

/**
 * The data dir: created before anything is read; the pid file and the runtime record (runtime-record.ts)
 * that say a router runs on it.
 */
export interface DataDir {
  /** The directory, for messages that name a file in it. */
  readonly path: string;
  prepare(): Promise<void>;
  writePid(): Promise<void>;
  removePid(): Promise<void>;
  /** Records which data dir and API this network namespace's router uses (so `stop`/`reset` find it). */
  writeRuntimeRecord(): Promise<void>;
}

/** What the kernel says is attached to this router's bridge (io/ethwe-scan.ts), except at the given paths. */
export type AttachedScan = NonNullable<AttachmentsComponents['scan']>;

/** The HTTP API as the node drives it (io/http-server.ts ApiServer). */
export interface ApiHandle {
  readonly address: string;
  /** Connections each door refused or cut (io/http-limits.ts). */
  limitStats?(): Record<string, HttpLimitStats>;
  close(): Promise<void>;
}

export interface NodeAdapters {
  logger: Logger;
  /** Counters of the log destination (written, dropped…) for /stats. */
  logStats?: () => object;
  clock: Clock;
  rng: Rng;
  store: StateStore;
  dataDir: DataDir;
  hostNet: HostNetwork;
  /** Resolves containers; its events (Docker's die/destroy), when it has them, feed the death watch. */
  runtime: ContainerRuntime & Partial<ContainerEventSource>;
  scanAttached: AttachedScan;
  transport: ControlTransport;
  openDataPlane(init: DataPlaneInit): Promise<DataPlaneIo>;
  openDnsServer: DnsServerFactory;
  /** Serves the HTTP API routes (TCP and the unix socket); resolves once listening. */
  serveApi(routes: Route[]): Promise<ApiHandle>;
  /** The host's addresses and routes for expose/egress; with openPacketFilter, enables host access (host-access.ts). */
  hostRouting?: HostRouting;
  /** iptables, its backend chosen (io/iptables.ts detectBackend). */
  openPacketFilter?: () => Promise<PacketFilter>;
  /** Serves /metrics and the topology page (--metrics-addr); absent: not served (unit tests). */
  serveStatus?(o: StatusServerOptions): Promise<StatusServer>;
  /** Serves the Docker plugin weavemesh (docker-plugin-host.ts); absent: never (unit tests). Undefined: could not. */
  serveDockerPlugin?(d: Omit<PluginHostDeps, 'backendPath'>, events: DeathWatch): Promise<DockerPluginHost | undefined>;
  /** The kernel fast datapath's devices (io/vxlan.ts); absent: no fast datapath (fakes). */
  openVxlan?(init: VxlanInit): VxlanFdb;
  /** Removes a fast datapath left by an earlier router (when this one runs with --no-fastdp). */
  removeVxlan?(): Promise<void>;
  /** The slow password KDF (injected so a test can use a cheap one). */
  derivePasswordKey(password: string): Promise<Uint8Array>;
}
