// The real adapters a router runs on (NodeAdapters, adapters.ts): iproute2, the data dir, Docker and
// named netns, TCP, the native TAP/UDP/AEAD/fast path, the DNS and HTTP servers. Only wiring: each
// adapter is built here and nowhere else, so node.ts can be started on fakes.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { systemClock, systemRng } from '../core/clock.js';
import { BRIDGE_NAME, HTTP_API_ADDR, HTTP_API_PORT, PID_FILE, TAP_NAME } from '../core/defaults.js';
import { TsweaveError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { derivePasswordKey } from '../crypto/password-kdf.js';
import { nodeDataAead, type DataAeadEngine } from '../crypto/data-aead.js';
import { HostContainerRuntime } from '../io/container-runtime.js';
import { DnsServer } from '../io/dns-server.js';
import { scanAttached } from '../io/ethwe-scan.js';
import { NativeFastPath } from '../io/fastpath.js';
import { IprouteHostNetwork } from '../io/host-network.js';
import { IprouteHostRouting } from '../io/host-routing.js';
import { IptablesPacketFilter, detectBackend } from '../io/iptables.js';
import { nativeDataAead, tryLoadNative, type NativeAddon } from '../io/native.js';
import { FileStateStore } from '../io/state-store.js';
import { serveStatus } from '../io/status-server.js';
import { openTap, type NativeTapDevice } from '../io/tap.js';
import { TcpTransport } from '../io/tcp-transport.js';
import { NativeUdpSocket, openUdp, type UdpEndpoint } from '../io/udp.js';
import type { DataPlaneInit, DataPlaneIo, NodeAdapters } from './adapters.js';
import { startApi } from './api-server.js';
import type { LaunchConfig } from '../config/launch.js';
import { effectiveDataplaneThreads, type RouterSettings } from '../config/settings.js';
import { writeRuntimeRecord } from '../io/runtime-record.js';
import { defaultApiSocketPath } from '../io/api-socket.js';
import { startDockerPlugin } from './docker-plugin-host.js';
import { IprouteVxlan, removeVxlanDevice } from '../io/vxlan.js';

/** What the host adapters take from the launch configuration (settings: fast path, GRO, offload, run dir). */
export interface HostAdaptersInit {
  config: Pick<LaunchConfig, 'dataDir' | 'apiSocket' | 'apiGroup' | 'settings' | 'pluginSocket'>;
  /** Counters of the log destination for /stats. */
  logStats?: () => object;
}

export function hostAdapters(logger: Logger, init: HostAdaptersInit): NodeAdapters {
  const dir = init.config.dataDir;
  const store = new FileStateStore(dir);
  const pidPath = join(dir, PID_FILE);
  return {
    logger,
    ...(init.logStats ? { logStats: init.logStats } : {}),
    clock: systemClock,
    rng: systemRng,
    store,
    dataDir: {
      path: dir,
      prepare: async () => {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await store.removeTempFiles();
      },
      writePid: () =>
        writeFile(pidPath, `${process.pid}\n`).catch((err: unknown) => {
          throw new TsweaveError('ERR_STATE', `cannot write ${pidPath}: ${errorMessage(err)}; free space in ${dir} (or set TSWEAVE_DATA_DIR to another directory)`, { cause: err });
        }),
      removePid: () => rm(pidPath, { force: true }),
      writeRuntimeRecord: () => writeRuntimeRecord(init.config.settings.runDir, {
        dataDir: dir, pid: process.pid, api: `${HTTP_API_ADDR}:${HTTP_API_PORT}`,
        ...(init.config.pluginSocket ? { pluginSocket: init.config.pluginSocket } : {}),
      }),
    },
    hostNet: new IprouteHostNetwork({ logger }),
    runtime: new HostContainerRuntime({ logger }),
    scanAttached: (exclude) => scanAttached(BRIDGE_NAME, exclude),
    transport: new TcpTransport({ logger }),
    openDataPlane: (dp) => openDataPlane(logger, dp, init.config.settings),
    openDnsServer: (c, dnsInit) => new DnsServer(c, dnsInit),
    serveStatus: (o) => serveStatus(o, logger),
    openVxlan: (v) =>
      new IprouteVxlan({
        ...v,
        bridge: BRIDGE_NAME,
        sleeveTap: TAP_NAME,
        logger,
        openTap: (name) => {
          const native = tryLoadNative();
          if (!native.addon) throw new Error(`the native addon is required for the heartbeat TAP: ${native.reason}`);
          return openTap(name, { addon: native.addon, logger, offload: false });
        },
      }),
    removeVxlan: () => removeVxlanDevice(),
    serveApi: async (routes) => {
      const api = await startApi(init.config, routes, logger);
      return { address: api.address, limitStats: () => api.limitStats(), close: () => api.close() };
    },
    hostRouting: new IprouteHostRouting(),
    openPacketFilter: async () => new IptablesPacketFilter({}, await detectBackend(init.config.settings.iptablesBackend)),
    // The router's end of the plugin sits beside its API socket; the keeper forwards dockerd's calls to it.
    serveDockerPlugin: (d, events) =>
      startDockerPlugin({ ...d, backendPath: join(dirname(init.config.apiSocket ?? defaultApiSocketPath()), 'docker-plugin.sock') }, events),
    derivePasswordKey,
  };
}

/** TAP and UDP socket over the native addon, its AEAD engine, and the fast path when it can run. */
async function openDataPlane(log: Logger, init: DataPlaneInit, s: RouterSettings): Promise<DataPlaneIo> {
  const native = tryLoadNative();
  if (!native.addon) throw new Error(`the native addon is required for the TAP device: ${native.reason}`);
  // Lanes (a TAP queue and a SO_REUSEPORT socket each) only for the fast path, which reads them all.
  const lanes = s.fastPath ? effectiveDataplaneThreads(s, availableParallelism()) : 1;
  const tap = openTap(init.tapName, { addon: native.addon, logger: log, offload: s.tapOffload, queues: lanes });
  let udp: UdpEndpoint;
  try {
    udp = await openUdp(init.port, { logger: log, addon: native.addon, gro: s.udpGro, lanes });
  } catch (err) {
    tap.close();
    throw err;
  }
  let aead: DataAeadEngine = nodeDataAead;
  try {
    aead = nativeDataAead(native.addon);
  } catch (err) {
    log.warn({ err }, 'native AEAD unavailable, using node:crypto (slower)');
  }
  if (!s.fastPath) log.warn('TSWEAVE_FASTPATH=0: fast path off; every frame goes through the JS thread');
  const fast = s.fastPath ? openFastPath(log, native.addon, tap, udp, init, s) : undefined;
  // Sessions announce one receiver index per lane only when the fast path reads every steered socket.
  const steered = fast && udp instanceof NativeUdpSocket && udp.steered && tap.queueFds.length === udp.laneFds.length
    ? udp.laneFds.length
    : 0;
  return {
    tap,
    udp,
    aead,
    ...(fast ? { fast } : {}),
    ...(steered ? { receiveLanes: steered } : {}),
    stats: () => ({ tap: tap.stats(), udp: udp.stats() }),
    close: () => {
      tap.close();
      udp.close();
    },
  };
}

/**
 * The data plane's fast path (native I/O threads) unless the socket is not the addon's; without it the
 * overlay reads the TAP and the socket on the JS thread (same rules, slower).
 */
function openFastPath(log: Logger, addon: NativeAddon, tap: NativeTapDevice, udp: UdpEndpoint, init: DataPlaneInit, s: RouterSettings): NativeFastPath | undefined {
  if (!(udp instanceof NativeUdpSocket)) {
    log.warn({ udp: udp.impl }, 'fast path unavailable (no native UDP socket); every frame goes through the JS thread');
    return undefined;
  }
  log.info({ tapOffload: tap.offload, lanes: tap.queueFds.length, threadMode: s.dataplaneThreadMode }, 'data plane: native fast path (I/O threads)');
  return new NativeFastPath({
    addon,
    logger: log,
    tapFd: tap.fd,
    tapOffload: tap.offload,
    udpFd: udp.fd,
    ...(tap.queueFds.length > 1 ? { lanes: { tapFds: tap.queueFds, udpFds: udp.laneFds } } : {}),
    localPeer: init.localPeer,
    maxDatagramBytes: init.maxDatagramBytes,
    udpGro: s.udpGro,
    unified: s.dataplaneThreadMode === 'unified',
  });
}
