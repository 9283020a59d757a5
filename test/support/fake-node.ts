// NodeAdapters made of fakes (daemon/adapters.ts): a whole router starts in-process without root, the
// native addon, sockets or files. Each fake is exposed so a test can drive it (kill a container, read the
// host's links, advance the clock) and see what the node did.
import { FakeHostRouting, FakePacketFilter } from './fake-packet-filter.js';
import type { ByteStream, ControlTransport } from '../../src/core/ports.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import { nodeDataAead } from '../../src/crypto/data-aead.js';
import type { DataPlaneIo, NodeAdapters } from '../../src/daemon/adapters.js';
import type { DnsServerHandle } from '../../src/daemon/weavedns.js';
import type { Route } from '../../src/io/http-server.js';
import { FakeClock } from './fake-clock.js';
import { FakeContainerRuntime } from './fake-container-runtime.js';
import { FakeTap, FakeUdpNet } from './fake-dataplane.js';
import { FakeHostNetwork } from './fake-host-network.js';
import { MemoryStateStore } from './fake-state-store.js';
import { seededRng } from './rng.js';

/** A transport that accepts nothing from outside and refuses every dial (a router alone). */
export class LoneTransport implements ControlTransport {
  onStream: ((s: ByteStream) => void) | undefined;
  listening = false;

  async listen(_host: string, _port: number, onStream: (s: ByteStream) => void): Promise<{ close(): void }> {
    this.onStream = onStream;
    this.listening = true;
    return { close: () => (this.listening = false) };
  }

  async dial(host: string, port: number): Promise<ByteStream> {
    throw new Error(`dial tcp4 ${host}:${port}: connection refused`);
  }
}

export interface FakeNodeWorld {
  adapters: NodeAdapters;
  clock: FakeClock;
  store: MemoryStateStore;
  hostNet: FakeHostNetwork;
  /** iptables and the host's bridge addresses/routes (expose, egress). */
  filter: FakePacketFilter;
  routing: FakeHostRouting;
  runtime: FakeContainerRuntime;
  transport: LoneTransport;
  /** The API routes the node served (call their handlers as the HTTP server would). */
  routes(): Route[];
  /** DNS servers the node opened ("ADDR:PORT"), and whether each is still running. */
  dnsServers: Array<{ address: string; running: boolean }>;
  pid: { written: boolean; recorded: boolean };
}

export function fakeNodeWorld(opts: { logger?: Logger; seed?: number } = {}): FakeNodeWorld {
  const clock = new FakeClock();
  const store = new MemoryStateStore();
  const hostNet = new FakeHostNetwork();
  const filter = new FakePacketFilter();
  const routing = new FakeHostRouting();
  const runtime = new FakeContainerRuntime();
  const transport = new LoneTransport();
  const udpNet = new FakeUdpNet();
  const dnsServers: FakeNodeWorld['dnsServers'] = [];
  const pid = { written: false, recorded: false };
  let served: Route[] | undefined;
  const adapters: NodeAdapters = {
    logger: opts.logger ?? silentLogger(),
    clock,
    rng: seededRng(opts.seed ?? 1),
    store,
    dataDir: {
      path: '/fake-data-dir',
      prepare: async () => {},
      writePid: async () => void (pid.written = true),
      removePid: async () => void (pid.written = false),
      writeRuntimeRecord: async () => void (pid.recorded = true),
    },
    hostNet,
    runtime,
    scanAttached: async () => [],
    transport,
    openDataPlane: async (init): Promise<DataPlaneIo> => {
      const udp = udpNet.socket(0x0a000001, init.port);
      return { tap: new FakeTap(), udp, aead: nodeDataAead, stats: () => ({}), close: () => udp.close() };
    },
    openDnsServer: (_c, init): DnsServerHandle => {
      const rec = { address: `${init.listenAddress}:${init.port}`, running: false };
      dnsServers.push(rec);
      return {
        start: async () => void (rec.running = true),
        stop: async () => void (rec.running = false),
        info: () => ({ address: rec.address, upstream: [] }),
      };
    },
    serveApi: async (routes) => {
      served = routes;
      return { address: 'fake', close: async () => void (served = undefined) };
    },
    hostRouting: routing,
    openPacketFilter: async () => filter,
    derivePasswordKey: async (pw) => new Uint8Array(Buffer.alloc(32, pw)),
  };
  return {
    adapters,
    clock,
    store,
    hostNet,
    filter,
    routing,
    runtime,
    transport,
    routes: () => {
      if (!served) throw new Error('the node serves no API');
      return served;
    },
    dnsServers,
    pid,
  };
}
