// The connection maker: which addresses to dial, when, and what status shows for each
// (DESIGN.md §3, mesh connection_maker.go).
//
// Targets are direct (launch/connect, kept until forget) or discovered (discovery on: for every peer in
// the topology we are not connected to, host(address)+":"+listenPort of each connection that lists it).
// Per target:
//
//   idle ──dial──▶ attempting ──ok──▶ connected ──closed, lived ≥ RECONNECT_RESET_AFTER_MS──▶ attempting (now)
//                     │  ▲                 └────closed, short-lived──┐
//                     │  └──tryAfter due── waiting ◀──error (backoff)─┘
//                     └──collision / self──▶ suspended (retry: never)
//
// Status: attempting = "connecting" (no error yet) or "retrying" (with the last error); waiting =
// "failed" (error, retry at wall time); suspended = "failed" (retry: never); connected.
// Backoff: the delay is uniform in [interval/2, 1.5·interval) capped at RECONNECT_MAX_MS, then the
// interval grows ×RECONNECT_FACTOR up to RECONNECT_MAX_MS (mesh tryAfter). Errors branch on `code`
// in retryPolicyFor, one place.

import type { Logger } from 'pino';
import {
  CONTROL_PORT, RECONNECT_FACTOR, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS, RECONNECT_RESET_AFTER_MS,
} from '../core/defaults.js';
import { errorMessage, isTsweaveError } from '../core/errors.js';
import type { Clock, Rng } from '../core/ports.js';
import { formatHostPort, parseHostPort, type PeerName } from '../core/types.js';
import { hostOf, type PeerConnection } from './peer-connection.js';
import type { Router } from './router.js';
import type { PeerEntry } from './topology.js';

/** After an authentication or encryption mismatch the interval starts here: a human must fix it. */
export const RECONNECT_SLOW_INITIAL_MS = 30_000;
/** Topology changes are coalesced over this window before discovered targets are recomputed. */
export const DISCOVERY_CHECK_DEBOUNCE_MS = 100;

export type RetryPolicy = { kind: 'never' } | { kind: 'backoff'; minIntervalMs: number };

/** The one place that maps a failure to a retry decision (STYLE §2.2). */
export function retryPolicyFor(err: unknown): RetryPolicy {
  const code = isTsweaveError(err) ? err.code : undefined;
  switch (code) {
    case 'ERR_PEER_NAME_COLLISION':
    case 'ERR_CONNECT_TO_SELF':
      return { kind: 'never' };
    case 'ERR_AUTH_FAILED':
    case 'ERR_ENCRYPTION_MISMATCH':
    case 'ERR_PROTOCOL_VERSION':
      return { kind: 'backoff', minIntervalMs: RECONNECT_SLOW_INITIAL_MS };
    default:
      return { kind: 'backoff', minIntervalMs: RECONNECT_INITIAL_MS };
  }
}

/** Next delay and interval: delay uniform in [i/2, 3i/2) capped at max; interval ×factor up to max. */
export function backoff(intervalMs: number, rng: Rng): { delayMs: number; nextIntervalMs: number } {
  const delayMs = Math.min(RECONNECT_MAX_MS, intervalMs / 2 + rng.float() * intervalMs);
  return { delayMs, nextIntervalMs: Math.min(RECONNECT_MAX_MS, intervalMs * RECONNECT_FACTOR) };
}

export type TargetState = 'connecting' | 'retrying' | 'failed' | 'connected';

export interface TargetStatus {
  /** "host:port". */
  address: string;
  /** From launch/connect (true) or learnt from topology (false). */
  direct: boolean;
  state: TargetState;
  /** The peer behind the address, once known. */
  peer?: PeerName;
  /** Last error (retrying, failed). */
  error?: string;
  /** failed: wall-clock ms of the next attempt, or 'never'. */
  retryAt?: number | 'never';
  attempts: number;
}

export interface ConnectionMakerSnapshot {
  discovery: boolean;
  /** Direct targets, as "host:port", in the order given. */
  targets: string[];
  /** Direct targets in any state plus discovered targets that have been tried, by address. */
  entries: TargetStatus[];
}

export interface ConnectionMakerComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  router: Router;
  /** TCP connect + handshake; rejects with a TsweaveError whose code drives retryPolicyFor. */
  dial: (address: string) => Promise<PeerConnection>;
}

export interface ConnectionMakerInit {
  /** Port for targets given without one. @default CONTROL_PORT (6783) */
  port?: number;
  /** Learn addresses from topology and dial them. @default true */
  discovery?: boolean;
  /**
   * Discovered peers are dialled only while we hold fewer connections than this (direct targets are
   * always dialled, up to the Router's connLimit). @default the Router's connLimit
   */
  discoveryLimit?: number;
}

type Phase = 'idle' | 'attempting' | 'waiting' | 'suspended' | 'connected';

interface Target {
  address: string;
  direct: boolean;
  discovered: boolean;
  peer: PeerName | undefined;
  phase: Phase;
  lastError: string | undefined;
  tryAfter: number;
  intervalMs: number;
  attempts: number;
  /** Increments per attempt; a stale dial result is recognised by it. */
  token: number;
}

export class ConnectionMaker {
  readonly discovery: boolean;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private readonly router: Router;
  private readonly dial: (address: string) => Promise<PeerConnection>;
  private readonly port: number;
  private readonly discoveryLimit: number;
  private readonly targetsByAddress = new Map<string, Target>();
  private readonly direct: string[] = [];
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private readonly unsubscribe: (() => void)[] = [];
  private running = false;
  private inFlight = 0;
  private discoveredGen = -1;
  private readonly addressCache = new WeakMap<PeerEntry, string[]>();

  constructor(components: ConnectionMakerComponents, init: ConnectionMakerInit = {}) {
    this.clock = components.clock;
    this.rng = components.rng;
    this.router = components.router;
    this.dial = components.dial;
    this.log = components.logger.child({ component: 'connection-maker' });
    this.port = init.port ?? CONTROL_PORT;
    this.discovery = init.discovery ?? true;
    this.discoveryLimit = init.discoveryLimit ?? this.router.connLimit;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe.push(
      this.router.on('topology:changed', () => this.schedule(this.clock.now() + DISCOVERY_CHECK_DEBOUNCE_MS)),
      this.router.on('connection:added', () => this.schedule(this.clock.now())),
      this.router.on('connection:removed', (conn, reason, livedMs) => this.connectionClosed(conn, reason, livedMs)),
    );
    this.schedule(this.clock.now());
  }

  stop(): void {
    this.running = false;
    for (const u of this.unsubscribe.splice(0)) u();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAt = Infinity;
  }

  /** Dials in flight (the simulation waits for these). */
  get dialsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Adds direct targets ("host[:port]"); with `replace`, direct targets not in `list` are forgotten.
   * Throws ConfigError naming the bad entry before changing anything.
   */
  addTargets(list: readonly string[], replace = false): void {
    const parsed = list.map((s) => formatHostPort(parseHostPort(s, this.port, 'peer')));
    if (replace) this.forgetTargets(this.direct.filter((a) => !parsed.includes(a)));
    for (const address of parsed) {
      if (!this.direct.includes(address)) this.direct.push(address);
      const t = this.targetsByAddress.get(address);
      if (t) {
        t.direct = true;
        if (t.phase === 'suspended' || t.phase === 'waiting') this.makeDue(t); // `connect` again = retry now
      } else {
        this.targetsByAddress.set(address, newTarget(address, true));
      }
    }
    this.schedule(this.clock.now());
  }

  /** Stops dialling these direct targets (existing connections stay up, as in Weave). */
  forgetTargets(list: readonly string[]): void {
    for (const s of list) {
      const address = formatHostPort(parseHostPort(s, this.port, 'peer'));
      const i = this.direct.indexOf(address);
      if (i >= 0) this.direct.splice(i, 1);
      const t = this.targetsByAddress.get(address);
      if (!t) continue;
      t.direct = false;
      if (!t.discovered) this.targetsByAddress.delete(address);
    }
  }

  /** Direct targets as "host:port", in the order given. */
  targets(): string[] {
    return [...this.direct];
  }

  snapshot(): ConnectionMakerSnapshot {
    const entries: TargetStatus[] = [];
    for (const t of this.targetsByAddress.values()) {
      if (!t.direct && t.phase === 'idle') continue;
      entries.push(this.status(t));
    }
    entries.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    return { discovery: this.discovery, targets: this.targets(), entries };
  }

  /** Status of one target address ("host[:port]"), if we know it. */
  statusOf(address: string): TargetStatus | undefined {
    const t = this.targetsByAddress.get(formatHostPort(parseHostPort(address, this.port)));
    return t && this.status(t);
  }

  private status(t: Target): TargetStatus {
    const base = { address: t.address, direct: t.direct, attempts: t.attempts, ...(t.peer ? { peer: t.peer } : {}) };
    switch (t.phase) {
      case 'connected':
        return { ...base, state: 'connected' };
      case 'attempting':
        return t.lastError === undefined ? { ...base, state: 'connecting' } : { ...base, state: 'retrying', error: t.lastError };
      case 'suspended':
        return { ...base, state: 'failed', error: t.lastError ?? 'unknown error', retryAt: 'never' };
      case 'waiting':
        return {
          ...base, state: 'failed', error: t.lastError ?? 'unknown error',
          retryAt: Math.round(this.clock.wallNow() + (t.tryAfter - this.clock.now())),
        };
      case 'idle':
        return { ...base, state: 'connecting' };
    }
  }

  /** Re-evaluates every target now (the Router's events call this through a timer; tests may call it). */
  check(): void {
    if (!this.running) return;
    const now = this.clock.now();
    this.refreshDiscovered();
    // Connected state follows the Router: a peer may be connected through an inbound connection.
    const inboundByListenAddress = new Map<string, PeerName>();
    for (const c of this.router.connections()) inboundByListenAddress.set(`${hostOf(c.remoteAddress)}:${c.remoteListenPort}`, c.remoteName);
    const busyPeers = new Set<PeerName>();
    for (const t of this.targetsByAddress.values()) {
      if (t.phase === 'attempting') {
        if (t.peer) busyPeers.add(t.peer);
        continue;
      }
      const viaAddress = inboundByListenAddress.get(t.address);
      if (viaAddress && !t.peer) t.peer = viaAddress;
      const connected = t.peer !== undefined && this.router.connectionTo(t.peer) !== undefined;
      if (connected) {
        t.phase = 'connected';
        t.lastError = undefined;
      } else if (t.phase === 'connected') {
        this.makeDue(t); // lost without our seeing the close (should not happen): retry now
      }
    }
    // Due targets: direct first (in order given), then discovered in random order.
    const due = (t: Target): boolean =>
      (t.phase === 'idle' || (t.phase === 'waiting' && t.tryAfter <= now)) && !(t.peer && busyPeers.has(t.peer));
    let budget = this.router.connLimit - this.router.connectionCount - this.inFlight;
    for (const address of this.direct) {
      const t = this.targetsByAddress.get(address);
      if (!t || !due(t) || budget <= 0) continue;
      if (t.peer) busyPeers.add(t.peer);
      this.attempt(t);
      budget--;
    }
    if (this.discovery) {
      let discoveryBudget = Math.min(budget, this.discoveryLimit - this.router.connectionCount - this.inFlight);
      if (discoveryBudget > 0) {
        const candidates = [...this.targetsByAddress.values()].filter((t) => !t.direct && t.discovered && due(t));
        for (let i = 0; i < candidates.length && discoveryBudget > 0; i++) {
          const j = i + this.rng.int(candidates.length - i);
          const t = candidates[j]!;
          candidates[j] = candidates[i]!;
          candidates[i] = t;
          if (t.peer && busyPeers.has(t.peer)) continue;
          if (t.peer) busyPeers.add(t.peer);
          this.attempt(t);
          discoveryBudget--;
        }
      }
    }
    // Next wake-up: the earliest target still waiting for its time. Due targets we had no budget for
    // wait for an event (a connection closing, a topology change) rather than spinning.
    let next = Infinity;
    for (const t of this.targetsByAddress.values()) if (t.phase === 'waiting' && t.tryAfter > now) next = Math.min(next, t.tryAfter);
    if (next < Infinity) this.schedule(next);
  }

  // ------------------------------------------------------------------------------------------

  private refreshDiscovered(): void {
    // Our own connections are part of our topology entry, so the generation covers them too.
    const gen = this.router.topology.generation;
    if (gen === this.discoveredGen) return;
    this.discoveredGen = gen;
    const seen = new Set<string>();
    if (this.discovery) {
      const self = this.router.localName;
      for (const e of this.router.topology.asMap().values()) {
        const addresses = this.addressesOf(e);
        for (let k = 0; k < e.connections.length; k++) {
          const c = e.connections[k]!;
          if (c.name === self || this.router.connectionTo(c.name)) continue;
          const address = addresses[k]!;
          seen.add(address);
          let t = this.targetsByAddress.get(address);
          if (!t) {
            t = newTarget(address, false);
            this.targetsByAddress.set(address, t);
          }
          t.discovered = true;
          t.peer ??= c.name;
        }
      }
    }
    for (const [address, t] of this.targetsByAddress) {
      if (seen.has(address) || !t.discovered) continue;
      // Still connected peers drop out of `seen` (we skip peers we hold); keep those targets.
      if (t.phase === 'connected' || t.phase === 'attempting') continue;
      t.discovered = false;
      if (!t.direct) this.targetsByAddress.delete(address);
    }
  }

  /** Dialable address of each of an entry's connections (entries are immutable: cached per object). */
  private addressesOf(e: PeerEntry): string[] {
    let a = this.addressCache.get(e);
    if (!a) {
      a = e.connections.map((c) => `${hostOf(c.address)}:${c.listenPort || this.port}`);
      this.addressCache.set(e, a);
    }
    return a;
  }

  private attempt(t: Target): void {
    t.phase = 'attempting';
    t.attempts++;
    const token = ++t.token;
    this.inFlight++;
    this.log.debug({ address: t.address, attempt: t.attempts }, 'dialling');
    let promise: Promise<PeerConnection>;
    try {
      promise = this.dial(t.address);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (conn) => {
        this.inFlight--;
        this.dialSucceeded(t, token, conn);
      },
      (err: unknown) => {
        this.inFlight--;
        if (t.token !== token || this.targetsByAddress.get(t.address) !== t) return;
        const peer = isTsweaveError(err) ? err.fields?.['peer'] : undefined;
        if (isTsweaveError(err) && err.code === 'ERR_DUPLICATE_CONNECTION' && typeof peer === 'string') {
          // The dial already handed the connection to the Router (the daemon does) and lost the
          // tie-break: we are connected to that peer through the other connection.
          t.peer = peer as PeerName;
          t.phase = 'connected';
          t.lastError = undefined;
        } else {
          this.failed(t, err);
        }
        this.schedule(this.clock.now());
      },
    );
  }

  private dialSucceeded(t: Target, token: number, conn: PeerConnection): void {
    if (!this.running) {
      conn.close('connection maker stopped');
      return;
    }
    const current = t.token === token && this.targetsByAddress.get(t.address) === t;
    try {
      this.router.addConnection(conn);
    } catch (err) {
      if (!current) return;
      t.peer = conn.remoteName;
      if (isTsweaveError(err) && err.code === 'ERR_DUPLICATE_CONNECTION') {
        t.phase = 'connected';
        t.lastError = undefined;
      } else {
        this.failed(t, err);
      }
      this.schedule(this.clock.now());
      return;
    }
    if (!current) return;
    t.peer = conn.remoteName;
    t.phase = 'connected';
    t.lastError = undefined;
  }

  private connectionClosed(conn: PeerConnection, reason: string, livedMs: number): void {
    if (this.router.connectionTo(conn.remoteName)) return; // replaced by a duplicate: still connected
    for (const t of this.targetsByAddress.values()) {
      if (t.peer !== conn.remoteName || t.phase !== 'connected') continue;
      t.lastError = reason;
      if (livedMs >= RECONNECT_RESET_AFTER_MS) {
        // A long-lived connection dropped: start over and retry at once (mesh resetAfter).
        t.intervalMs = RECONNECT_INITIAL_MS;
        t.phase = 'waiting';
        t.tryAfter = this.clock.now();
      } else {
        this.failed(t, new Error(reason));
      }
    }
    this.schedule(this.clock.now());
  }

  private failed(t: Target, err: unknown): void {
    t.lastError = errorMessage(err);
    const policy = retryPolicyFor(err);
    if (policy.kind === 'never') {
      t.phase = 'suspended';
      this.log.warn({ address: t.address, err }, 'connection failed, not retrying');
      return;
    }
    const { delayMs, nextIntervalMs } = backoff(Math.max(t.intervalMs, policy.minIntervalMs), this.rng);
    t.intervalMs = nextIntervalMs;
    t.phase = 'waiting';
    t.tryAfter = this.clock.now() + delayMs;
    this.log.debug({ address: t.address, err: t.lastError, retryInMs: Math.round(delayMs) }, 'connection failed, will retry');
  }

  private makeDue(t: Target): void {
    t.phase = 'waiting';
    t.tryAfter = this.clock.now();
  }

  /** Ensures check() runs at `at` (or earlier if already scheduled earlier). */
  private schedule(at: number): void {
    if (!this.running || at >= this.timerAt) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      this.check();
    });
  }
}

function newTarget(address: string, direct: boolean): Target {
  return {
    address, direct, discovered: false, peer: undefined, phase: 'idle', lastError: undefined,
    tryAfter: 0, intervalMs: RECONNECT_INITIAL_MS, attempts: 0, token: 0,
  };
}
