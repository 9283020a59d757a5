// The seams between the pure cores and the outside world (DESIGN.md §2). `src/io/` implements these
// against the kernel; `test/support/` has a fake for each so hundreds of routers can run in one process.
// Pure modules (mesh, ipam, dns, dataplane) depend only on these interfaces, never on node:net/dgram/fs.

/** Time. `now()` is milliseconds on a monotonic-ish scale; timers fire once. */
export interface Clock {
  now(): number;
  /** Wall-clock milliseconds since the epoch (for persisted or displayed times). */
  wallNow(): number;
  /** Runs `fn` once after `ms`; returns a function that cancels it (safe to call twice). */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Randomness. Real: crypto-strong. Tests: seeded (test/support/rng.ts). */
export interface Rng {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  bytes(n: number): Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Control plane transport (TCP).

/**
 * A reliable, ordered byte stream (a TCP connection). After `close()` or the 'close' callback, no more
 * data callbacks happen and `write` is a no-op.
 */
export interface ByteStream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  write(data: Uint8Array): void;
  /** Called with each chunk as it arrives (chunks are arbitrary slices of the stream). */
  onData(cb: (chunk: Uint8Array) => void): void;
  /** Called once when the stream ends for any reason. */
  onClose(cb: (err?: Error) => void): void;
  close(): void;
}

export interface ControlTransport {
  /** Accepts inbound streams until `close()` of the returned listener. Rejects on bind failure. */
  listen(host: string, port: number, onStream: (s: ByteStream) => void): Promise<{ close(): void }>;
  /** Connects; rejects with the OS error (message like "dial tcp4 1.2.3.4:6783: connection refused"). */
  dial(host: string, port: number, timeoutMs: number): Promise<ByteStream>;
}

// ---------------------------------------------------------------------------------------------
// Data plane: frames and datagrams move in batches. A batch is a view into a buffer owned by the
// producer; it is valid only during the callback (copy what you keep).

/** A batch of Ethernet frames or datagrams: frame i is buf[offsets[i] .. offsets[i]+lengths[i]). */
export interface Batch {
  readonly buf: Buffer;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly count: number;
}

/** A batch of received datagrams with the sender of each (IPv4 as u32, port). */
export interface DatagramBatch extends Batch {
  readonly addrs: Uint32Array;
  readonly ports: Uint16Array;
}

/** A TAP device: Ethernet frames in and out of the host's `weave` bridge. */
export interface TapDevice {
  readonly name: string;
  /** Starts delivering frames read from the device, one callback per wake-up. */
  onFrames(cb: (batch: Batch) => void): void;
  /** Writes frames to the device (towards the bridge). Frames that the kernel refuses are counted and dropped. */
  writeFrames(batch: Batch): void;
  writeFrame(buf: Uint8Array, offset: number, length: number): void;
  close(): void;
}

/** The data-plane UDP socket, bound to the control port. */
export interface UdpSocket {
  readonly port: number;
  onDatagrams(cb: (batch: DatagramBatch) => void): void;
  /** Sends datagram i of the batch to (addrs[i], ports[i]). Errors (e.g. EHOSTUNREACH) are counted, never thrown. */
  sendBatch(batch: Batch, addrs: Uint32Array, ports: Uint16Array): void;
  send(buf: Uint8Array, offset: number, length: number, addr: number, port: number): void;
  close(): void;
}

/**
 * What the fast path hands to the overlay from the network (native/src/fastpath.h). Entry i is
 * buf[offsets[i], +lengths[i]); kinds[i] FAST_KIND_CONTROL: an authenticated, replay-checked,
 * decrypted non-DATA datagram (header + body) of session peers[i], sent from addrs[i]:ports[i];
 * FAST_KIND_FRAME: an authenticated frame from origin peers[i] to dsts[i] the overlay must forward;
 * FAST_KIND_LEARN: the Ethernet header of a broadcast from origin peers[i] that the fast path delivered
 * and forwarded itself; the overlay only learns its source MAC.
 */
export interface FastIngressBatch extends DatagramBatch {
  readonly kinds: Uint8Array;
  readonly peers: Float64Array;
  readonly dsts: Float64Array;
}
export const FAST_KIND_CONTROL = 0;
export const FAST_KIND_FRAME = 1;
export const FAST_KIND_LEARN = 2;

/**
 * Where a fast path forwards frames for others (dataplane/fast-routes.ts builds it from the mesh's
 * routes): destination peer dsts[i] → next hop hops[i] (dsts ascending); the children of origin
 * origins[i]'s broadcast tree are kids[first[i] .. first[i + 1]) (origins ascending).
 */
export interface FastRoutes {
  dsts: Float64Array;
  hops: Float64Array;
  origins: Float64Array;
  first: Uint32Array;
  kids: Float64Array;
}

export interface FastSessionInit {
  peer: number;
  localIndex: number;
  remoteIndex: number;
  /** Receive lanes of each end (dataplane/session.ts SessionInit). @default 1 each */
  localLanes?: number;
  remoteLanes?: number;
  /** Both ends announced csumPartial (dataplane/session.ts SessionInit). @default false */
  csumPartial?: boolean;
  remoteAddr: number;
  remotePort: number;
  /** Last send counter used so far (the next datagram uses lastCounter + 1). */
  lastCounter: number;
  keys?: { sendKey: Uint8Array; sendSalt: Uint8Array; recvKey: Uint8Array; recvSalt: Uint8Array };
}

/**
 * The data plane's fast path: I/O threads that read the TAP and the UDP socket themselves and carry the
 * common case (known unicast MACs over eligible sessions) without the overlay; everything else comes
 * back to the overlay through the callbacks. The overlay keeps its tables in step (sessions, MACs,
 * eligibility); the session's send counter and replay window live in the fast path.
 */
export interface FastPath {
  start(onLocalFrames: (batch: Batch) => void, onIngress: (batch: FastIngressBatch) => void): void;
  addSession(init: FastSessionInit): void;
  removeSession(peer: number): void;
  /** May the fast path send this session's frames itself (UDP confirmed both ways, direct route)? */
  setEligible(peer: number, eligible: boolean): void;
  /** Takes the session's next send counter (every datagram the overlay sends on it must use one). */
  nextCounter(peer: number): number;
  learn(mac: number, peer: number): void;
  /** Replaces the routes and broadcast trees the fast path relays by (republished when routes change). */
  setRoutes(routes: FastRoutes): void;
  /**
   * The broadcast dedup the fast path's threads use (broadcast-dedup.ts rules): true when seen already,
   * else recorded; undefined when the fast path is not running (the caller keeps its own).
   */
  broadcastDuplicate(origin: number, dst: number): boolean | undefined;
  /**
   * This router's broadcast numbering (broadcast-dedup.ts): the threads number the local broadcasts they
   * send along our own tree themselves, so the overlay takes its numbers from the same sequence.
   * setBroadcastStart: continue after `last` (once, after start); nextBroadcast: the next broadcast
   * destination, undefined when the fast path is not running (the caller numbers its own).
   */
  setBroadcastStart(last: number): void;
  nextBroadcast(): number | undefined;
  /** Rekeying: the receive key of generation byte gen becomes current; the current one stays valid graceMs. */
  setRecvKey(peer: number, gen: number, key: Uint8Array, salt: Uint8Array, graceMs: number): void;
  /** Rekeying: seal with this key (generation byte gen) from now on. */
  setSendKey(peer: number, gen: number, key: Uint8Array, salt: Uint8Array): void;
  stats(): Record<string, number | boolean>;
  /** The traffic the fast path carried on this session (undefined: no such session). */
  sessionStats(peer: number): FastSessionStats | undefined;
  stop(): void;
}

export interface FastSessionStats {
  datagramsSent: number;
  bytesSent: number;
  datagramsReceived: number;
  bytesReceived: number;
}

export interface VxlanFdbEntry {
  device: 'data' | 'heartbeat';
  mac: number;
  underlay: number;
}

/**
 * The kernel fast datapath's plumbing (io/vxlan.ts): the vxlan device on the bridge, its forwarding
 * entries (MAC → a peer's underlay IPv4, as 48-bit and 32-bit numbers) and the heartbeat TAP.
 */
export interface VxlanFdb {
  /** Creates the vxlan device and sets the bridge ports up so each frame takes one path (dataplane/fastdp.ts). */
  setup(): Promise<void>;
  /** Adds (or moves) and removes forwarding entries, on the data or the heartbeat vxlan device. */
  program(add: readonly VxlanFdbEntry[], del: readonly VxlanFdbEntry[]): Promise<void>;
  /** MACs the bridge has learnt on container ports (this host's containers). */
  localMacs(): Promise<number[]>;
  /**
   * Calls `onChange` soon after the bridge learns or forgets a MAC on a container port (then re-read
   * localMacs). Returns whether the watch runs now (if not, poll localMacs). Stops at teardown.
   */
  watchLocalMacs?(onChange: () => void): () => boolean;
  /** The TAP the router writes heartbeats into and reads them from. */
  readonly heartbeatTap: TapDevice;
  /** Removes the vxlan device (its entries go with it) and closes the heartbeat TAP. */
  teardown(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Host plumbing (iproute2 / netlink). Not on any hot path.

export interface VethSpec {
  /** Network namespace of the container, as a path (/proc/PID/ns/net, /run/netns/NAME, …). */
  netnsPath: string;
  /** Name of the interface inside the container (ethwe). */
  ifname: string;
  /** Host-side name, attached to the bridge. */
  hostName: string;
  mtu: number;
}

export interface HostNetwork {
  ensureBridge(name: string, mtu: number, mac: string): Promise<void>;
  deleteLink(name: string): Promise<void>;
  linkExists(name: string): Promise<boolean>;
  /** Creates the veth pair, moves one end into the container and attaches the other to the bridge. */
  ensureVeth(spec: VethSpec, bridge: string): Promise<void>;
  /** Addresses (CIDR strings) currently on ifname inside netnsPath; [] if the interface is missing. */
  containerAddrs(netnsPath: string, ifname: string): Promise<string[]>;
  /** MAC address of ifname inside netnsPath; undefined if the interface is missing. */
  containerMac(netnsPath: string, ifname: string): Promise<string | undefined>;
  addContainerAddr(netnsPath: string, ifname: string, cidr: string): Promise<void>;
  delContainerAddr(netnsPath: string, ifname: string, cidr: string): Promise<void>;
  /**
   * Brings ifname up, adds the 224.0.0.0/4 route (and a default route via `gateway` when given) and sends
   * a gratuitous ARP for each address.
   */
  finishAttach(netnsPath: string, ifname: string, cidrs: string[], gateway?: string): Promise<void>;
  deleteContainerLink(netnsPath: string, ifname: string): Promise<void>;
  /** Sets a host link's MTU, enslaves it to `bridge` and brings it up (the router's TAP). */
  attachToBridge(name: string, bridge: string, mtu: number): Promise<void>;
  /** Puts `cidr` on the host link `name` (idempotent: `ip addr replace`). */
  replaceLinkAddr(name: string, cidr: string): Promise<void>;
  /** The first IPv4 address of the host link `name`, or undefined when it has none or does not exist. */
  linkAddress(name: string): Promise<string | undefined>;
  /** The host's IPv4 routes (destination "default" or a CIDR/address, and the device); [] when unreadable. */
  ipv4Routes(): Promise<HostRoute[]>;
  /** Every host link with its bridge, state and IPv4 addresses, in one read (host/bridge-plumbing.ts). */
  hostLinks?(): Promise<LinkView[]>;
  /** The MTU of the path to `ip`: the route's (or a learnt path MTU) when it has one, else its device's. */
  routeMtu?(ip: string): Promise<number | undefined>;
  /** IPv4 fragments this host's stack has made so far (/proc/net/snmp Ip FragCreates), if readable. */
  fragmentsCreated?(): Promise<number | undefined>;
  /** Puts the host link `name` on `bridge` with the port settings and brings it up. */
  setBridgePort?(name: string, bridge: string, settings: PortSettings): Promise<void>;
}

/** One host link as the plumbing check sees it (host/bridge-plumbing.ts). */
export interface LinkView {
  name: string;
  /** The bridge it is a port of, if any. */
  master?: string;
  /** Administratively up (the UP flag). */
  up: boolean;
  /** Its IPv4 addresses as CIDRs. */
  addrs: string[];
  /** Bridge-port settings, when it is a port. */
  hairpin?: boolean;
  isolated?: boolean;
}

/** A bridge port's settings, put back with it. */
export interface PortSettings {
  hairpin: boolean;
  isolated: boolean;
}

export interface HostRoute {
  dst?: string;
  dev?: string;
}

/** A rule as iptables arguments after the chain name, e.g. ["-o", "weave", "-j", "ACCEPT"]. */
export type FilterRule = readonly string[];

/** Every table's rules as iptables lists them: table → chain → rules (a chain without rules: []). */
export type RuleListing = ReadonlyMap<string, ReadonlyMap<string, readonly FilterRule[]>>;

export interface ChainRef {
  table: string;
  chain: string;
}

/**
 * The host's packet filter (iptables, nft or legacy backend): tsweave's own chains and the jumps to them
 * from the built-in chains (src/io/iptables.ts; the rules themselves in daemon/firewall-rules.ts).
 */
export interface PacketFilter {
  /** Which iptables this is ("nft" or "legacy"), for logs. */
  readonly backend: string;
  /** Makes each chain of `table` hold exactly its rules (created when missing), in one atomic step. */
  setChains(table: string, chains: ReadonlyArray<{ chain: string; rules: readonly FilterRule[] }>): Promise<void>;
  /**
   * Every table's rules in one read (one command), in iptables' own listing form, which may differ from
   * how a rule was written (host/rule-match.ts). `only`: just these chains' rules are returned (every
   * chain is still listed, without rules), all when omitted.
   */
  listRules(only?: readonly ChainRef[]): Promise<RuleListing>;
  /** True when `chain` of `table` holds `rule`; false when it does not or the chain is missing. */
  hasRule(table: string, chain: string, rule: FilterRule): Promise<boolean>;
  /** Puts `rule` first in `chain` of `table` unless it is there already. */
  ensureFirst(table: string, chain: string, rule: FilterRule): Promise<void>;
  /** Removes every copy of `rule` from `chain` (none there: nothing to do). */
  deleteRule(table: string, chain: string, rule: FilterRule): Promise<void>;
  /** The user-defined chains of `table` whose names start with `prefix`. */
  listChains(table: string, prefix: string): Promise<string[]>;
  /** Empties and deletes the chains (missing ones skipped). */
  deleteChains(table: string, chains: readonly string[]): Promise<void>;
}

/** The host's own addresses and routes on the overlay: `expose`/`hide` and containers' egress. */
export interface HostRouting {
  /** The IPv4 addresses (CIDRs) on `bridge`. */
  bridgeAddrs(bridge: string): Promise<string[]>;
  /** Adds `cidr` to `bridge` (idempotent). */
  addBridgeAddr(bridge: string, cidr: string): Promise<void>;
  /** Removes `cidr` from `bridge` (not there: nothing to do). */
  delBridgeAddr(bridge: string, cidr: string): Promise<void>;
  /**
   * IPv4 forwarding on (the host routes between the overlay and its other networks) and, on `bridge`,
   * promote_secondaries (removing one address of a subnet must not take the others with it).
   */
  enableForwarding(bridge: string): Promise<void>;
  /** The container's default route: via `gateway` on `ifname` (replaces an existing default). */
  setContainerGateway(netnsPath: string, ifname: string, gateway: string): Promise<void>;
}

/** Resolves what a user calls a container to its network namespace. */
export interface ContainerRef {
  /** Stable id: Docker container id, "netns:NAME", "pid:N" or "netns:/path". */
  id: string;
  /** Hostname (Docker: the container's hostname/FQDN). */
  hostname?: string;
  netnsPath: string;
  pid?: number;
}

/** A container runtime event (Docker's /events). */
export interface ContainerEvent {
  /** Full container id (matches ContainerRef.id for Docker containers). */
  id: string;
  /** "die", "destroy", "start", … */
  action: string;
}

/**
 * A stream of container events (Docker's /events). `onError` means the stream is over; `onOpen`, when the
 * source can tell, that the stream is connected.
 */
export interface ContainerEventSource {
  subscribe(onEvent: (ev: ContainerEvent) => void, onError: (err: Error) => void, onOpen?: () => void): { close(): void };
}

/** Docker's view of a container (containers/docker-restarts.ts): running, stopped, removed, or cannot tell. */
export type DockerState = 'running' | 'stopped' | 'gone' | 'unknown';

export interface ContainerRuntime {
  /** Throws TsweaveError ERR_CONTAINER_NOT_FOUND naming the reference if it cannot be resolved. */
  resolve(ref: string): Promise<ContainerRef>;
  /** True while the container (or namespace) still exists. */
  isAlive(ref: ContainerRef): Promise<boolean>;
  /** Docker's view of a Docker container; absent without Docker support (fakes). */
  dockerState?(id: string): Promise<DockerState>;
}

/** Small crash-safe state files in the data dir (write to temp, fsync, rename). */
export interface StateStore {
  read(key: string): Promise<Uint8Array | undefined>;
  write(key: string, data: Uint8Array): Promise<void>;
  remove(key: string): Promise<void>;
  /** Renames KEY to KEY.corrupt-<UTC timestamp> (kept for the user, never overwritten); returns the new path. */
  setAside(key: string): Promise<string>;
}
