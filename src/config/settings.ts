// The router settings only the environment sets (TSWEAVE_FASTPATH, _REKEY_INTERVAL_S, …): read once, here,
// into LaunchConfig.settings, so nothing below the CLI reads process.env and `launch --dry-run` and the
// router's start log show what is in effect. One table (ENV_SETTINGS) drives parsing and display.

import { ConfigError } from '../core/errors.js';
import { IPAM_ALLOCATE_TIMEOUT_MS, IPAM_DEAD_CONTAINER_GRACE_MS, REKEY_AFTER_MS } from '../core/defaults.js';

export interface RouterSettings {
  /** TSWEAVE_FASTPATH=0: the data plane stays on the JS thread (the reference path). */
  readonly fastPath: boolean;
  /**
   * TSWEAVE_DATAPLANE_THREADS: the fast path's lanes (an egress and an ingress thread each, on a TAP
   * queue and a SO_REUSEPORT socket); undefined = auto, min(cores, DATAPLANE_THREADS_AUTO_MAX).
   */
  readonly dataplaneThreads: number | undefined;
  /**
   * TSWEAVE_DATAPLANE_THREAD_MODE: split = an egress and an ingress thread per lane; unified = one thread
   * per lane waiting on both its TAP queue and its socket (native/src/fastpath_unified.c).
   */
  readonly dataplaneThreadMode: DataplaneThreadMode;
  /** TSWEAVE_UDP_GRO=0: no UDP GRO on the data-plane socket. */
  readonly udpGro: boolean;
  /** TSWEAVE_TAP_OFFLOAD=0: no TSO/GRO offload (IFF_VNET_HDR) on the TAP. */
  readonly tapOffload: boolean;
  /**
   * TSWEAVE_CSUM_PARTIAL=0: do not announce csumPartial in the hello (wire/hello.ts), so every session
   * carries fully checksummed frames both ways, as with a peer that predates it.
   */
  readonly csumPartial: boolean;
  /** TSWEAVE_DEAD_CONTAINER_GRACE_MS: how long a dead container keeps its addresses (a restarting one keeps them). */
  readonly deadContainerGraceMs: number;
  /**
   * TSWEAVE_IPAM_WAIT_MS: how long an IPAM request (attach without an address, `ip:` claims, the /ip API,
   * /ring) waits for consensus or a grant before it fails with the reason. The /ip and /ring routes also
   * take `?timeout=SECONDS`.
   */
  readonly ipamWaitMs: number;
  /** TSWEAVE_REKEY_INTERVAL_S: a data-plane session's keys are replaced this often (tests use a few seconds). */
  readonly rekeyIntervalMs: number;
  /** TSWEAVE_RUN_DIR: where the per-network-namespace runtime record is kept (daemon/runtime-record.ts). */
  readonly runDir: string;
  /** IPTABLES_BACKEND=nft|legacy (Weave's variable): which iptables holds tsweave's chains; unset: detected. */
  readonly iptablesBackend?: 'nft' | 'legacy';
}

export type DataplaneThreadMode = 'split' | 'unified';

type Env = Readonly<Record<string, string | undefined>>;

/** One environment knob: the single source for --dry-run and the router's start log. */
export interface EnvSetting {
  readonly env: string;
  readonly help: string;
  show(s: RouterSettings): string;
}

export const DEFAULT_RUN_DIR = '/run/tsweave';
/** Auto thread count: one lane per core, at most this many (native/src/fastpath.h FP_MAX_LANES is 16). */
export const DATAPLANE_THREADS_AUTO_MAX = 4;
export const DATAPLANE_THREADS_MAX = 16;
/** TSWEAVE_DATAPLANE_THREAD_MODE when unset (docs/DESIGN.md §4 has the measurements behind it). */
export const DATAPLANE_THREAD_MODE_DEFAULT: DataplaneThreadMode = 'split';

const onOff = (on: boolean): string => (on ? 'on' : 'off (=0)');

export const ENV_SETTINGS: readonly EnvSetting[] = [
  { env: 'TSWEAVE_FASTPATH', help: '0 keeps every frame on the JS thread (no native fast path)', show: (s) => onOff(s.fastPath) },
  {
    env: 'TSWEAVE_DATAPLANE_THREADS',
    help: `fast-path lanes (I/O threads per direction), 1..${DATAPLANE_THREADS_MAX}`,
    show: (s) => (s.dataplaneThreads === undefined ? `auto (min(cores, ${DATAPLANE_THREADS_AUTO_MAX}))` : String(s.dataplaneThreads)),
  },
  {
    env: 'TSWEAVE_DATAPLANE_THREAD_MODE',
    help: 'split (an egress and an ingress thread per lane) or unified (one thread per lane for both)',
    show: (s) => s.dataplaneThreadMode,
  },
  { env: 'TSWEAVE_UDP_GRO', help: '0 turns off UDP GRO on the data-plane socket', show: (s) => onOff(s.udpGro) },
  { env: 'TSWEAVE_TAP_OFFLOAD', help: '0 turns off TSO/GRO offload on the TAP', show: (s) => onOff(s.tapOffload) },
  { env: 'TSWEAVE_CSUM_PARTIAL', help: '0: peers always get fully checksummed TCP frames through the tunnel', show: (s) => onOff(s.csumPartial) },
  { env: 'TSWEAVE_DEAD_CONTAINER_GRACE_MS', help: 'how long a dead container keeps its addresses', show: (s) => `${s.deadContainerGraceMs} ms` },
  { env: 'TSWEAVE_IPAM_WAIT_MS', help: 'how long an IPAM request waits for consensus or a grant', show: (s) => `${s.ipamWaitMs} ms` },
  { env: 'TSWEAVE_REKEY_INTERVAL_S', help: 'data-plane keys are replaced this often', show: (s) => `${s.rekeyIntervalMs / 1000} s` },
  { env: 'TSWEAVE_RUN_DIR', help: 'where the runtime record of each network namespace is kept', show: (s) => s.runDir },
  { env: 'IPTABLES_BACKEND', help: 'nft or legacy: the iptables that holds the firewall chains', show: (s) => s.iptablesBackend ?? 'detected' },
];

/** A whole number of milliseconds from the environment, or undefined; ConfigError names the variable. */
export function msFromEnv(env: Env, name: string, max = 3_600_000): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) > max) {
    throw new ConfigError(`invalid ${name} "${text}": must be a whole number of milliseconds 0..${max}`);
  }
  return Number(text);
}

/** TSWEAVE_REKEY_INTERVAL_S as ms, or undefined when unset. */
export function rekeyIntervalFromEnv(env: Env): number | undefined {
  const name = 'TSWEAVE_REKEY_INTERVAL_S';
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 86_400) {
    throw new ConfigError(`invalid ${name} "${text}": must be a whole number of seconds 1..86400`);
  }
  return Number(text) * 1000;
}

/** TSWEAVE_DATAPLANE_THREADS, or undefined (auto) when unset or "auto". */
export function dataplaneThreadsFromEnv(env: Env): number | undefined {
  const name = 'TSWEAVE_DATAPLANE_THREADS';
  const text = env[name];
  if (text === undefined || text === '' || text === 'auto') return undefined;
  if (!/^\d{1,2}$/.test(text) || Number(text) < 1 || Number(text) > DATAPLANE_THREADS_MAX) {
    throw new ConfigError(`invalid ${name} "${text}": must be "auto" or a whole number 1..${DATAPLANE_THREADS_MAX}`);
  }
  return Number(text);
}

/** TSWEAVE_DATAPLANE_THREAD_MODE, or the default when unset. */
export function dataplaneThreadModeFromEnv(env: Env): DataplaneThreadMode {
  const name = 'TSWEAVE_DATAPLANE_THREAD_MODE';
  const text = env[name];
  if (text === undefined || text === '') return DATAPLANE_THREAD_MODE_DEFAULT;
  if (text !== 'split' && text !== 'unified') throw new ConfigError(`invalid ${name} "${text}": must be split or unified`);
  return text;
}

/** The lane count in effect: the setting, else one per core up to DATAPLANE_THREADS_AUTO_MAX. */
export function effectiveDataplaneThreads(s: RouterSettings, cores: number): number {
  return s.dataplaneThreads ?? Math.max(1, Math.min(cores, DATAPLANE_THREADS_AUTO_MAX));
}

/** TSWEAVE_RUN_DIR, else /run/tsweave (the CLI's stop/reset read the runtime record from it too). */
export function runDirFromEnv(env: Env): string {
  const runDir = env.TSWEAVE_RUN_DIR || DEFAULT_RUN_DIR;
  if (!runDir.startsWith('/')) throw new ConfigError(`invalid TSWEAVE_RUN_DIR "${runDir}": must be an absolute path`);
  return runDir;
}

/** IPTABLES_BACKEND: nft, legacy, or unset (detected from the rules already installed, io/iptables.ts). */
export function iptablesBackendFromEnv(env: Env): 'nft' | 'legacy' | undefined {
  const asked = env.IPTABLES_BACKEND;
  if (asked === undefined || asked === '') return undefined;
  if (asked !== 'nft' && asked !== 'legacy') throw new ConfigError(`invalid IPTABLES_BACKEND "${asked}": must be nft or legacy`);
  return asked;
}

/** The environment knobs (ENV_SETTINGS); a switch is on unless set to "0". */
export function parseRouterSettings(env: Env): RouterSettings {
  const runDir = runDirFromEnv(env);
  return {
    fastPath: env.TSWEAVE_FASTPATH !== '0',
    dataplaneThreads: dataplaneThreadsFromEnv(env),
    dataplaneThreadMode: dataplaneThreadModeFromEnv(env),
    udpGro: env.TSWEAVE_UDP_GRO !== '0',
    csumPartial: env.TSWEAVE_CSUM_PARTIAL !== '0',
    tapOffload: env.TSWEAVE_TAP_OFFLOAD !== '0',
    deadContainerGraceMs: msFromEnv(env, 'TSWEAVE_DEAD_CONTAINER_GRACE_MS') ?? IPAM_DEAD_CONTAINER_GRACE_MS,
    ipamWaitMs: msFromEnv(env, 'TSWEAVE_IPAM_WAIT_MS') ?? IPAM_ALLOCATE_TIMEOUT_MS,
    rekeyIntervalMs: rekeyIntervalFromEnv(env) ?? REKEY_AFTER_MS,
    runDir,
    ...(iptablesBackendFromEnv(env) ? { iptablesBackend: iptablesBackendFromEnv(env) } : {}),
  };
}
