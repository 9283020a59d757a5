// Notices attached containers that are gone, so their addresses and DNS names can be released.
// Two inputs, both injected (no timers or sockets of its own):
//   - container events (Docker "die"/"destroy"): immediate, for Docker containers;
//   - a periodic liveness check through ContainerRuntime.isAlive (every checkIntervalMs on the Clock):
//     the only signal for pid:N / netns refs, and the safety net when the event stream broke.
// Each watched container is reported at most once, then forgotten.
import type { Logger } from '../core/logger.js';
import type { Clock, ContainerEvent, ContainerEventSource, ContainerRef, ContainerRuntime } from '../core/ports.js';
import { LogLimiter } from '../core/log-limiter.js';

/** Matches Weave's IPAM tick (WEAVE-FACTS §8.4). */
export const DEATH_CHECK_INTERVAL_MS = 5_000;
/** Wait before resubscribing to a failed event stream. */
export const EVENT_RESUBSCRIBE_MS = 5_000;

export type { ContainerEvent, ContainerEventSource } from '../core/ports.js';

export type DeathReason = 'event:die' | 'event:destroy' | 'check';

export interface DeathWatchComponents {
  runtime: Pick<ContainerRuntime, 'isAlive'>;
  clock: Clock;
  logger: Logger;
  /** Docker events; absent when Docker is not in use. */
  events?: ContainerEventSource;
  /** Rate limit for the liveness-check warning, which can repeat every check. @default one of its own */
  limiter?: LogLimiter;
}

export interface DeathWatchInit {
  /** @default DEATH_CHECK_INTERVAL_MS */
  checkIntervalMs?: number;
  /** @default EVENT_RESUBSCRIBE_MS */
  resubscribeMs?: number;
}

export type DeathListener = (ref: ContainerRef, reason: DeathReason) => void;
/** Every container event as it arrives, watched or not (a stopped Docker container is no longer watched). */
export type EventListener = (ev: ContainerEvent) => void;

export class DeathWatch {
  private readonly runtime: Pick<ContainerRuntime, 'isAlive'>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly events: ContainerEventSource | undefined;
  private readonly checkIntervalMs: number;
  private readonly resubscribeMs: number;
  private readonly watched = new Map<string, ContainerRef>();
  private readonly listeners: DeathListener[] = [];
  private readonly eventListeners: EventListener[] = [];
  private readonly streamBackListeners: Array<() => void> = [];
  private running = false;
  private cancelTimer: (() => void) | undefined;
  private cancelResubscribe: (() => void) | undefined;
  private subscription: { close(): void } | undefined;
  private checking: Promise<void> | undefined;
  private readonly limiter: LogLimiter;
  /** The event stream failed and that was said; the next failures are quiet until it is back (issue 11.6). */
  private eventsDown = false;

  constructor(components: DeathWatchComponents, init: DeathWatchInit = {}) {
    this.runtime = components.runtime;
    this.clock = components.clock;
    this.log = components.logger.child({ component: 'death-watch' });
    this.events = components.events;
    this.limiter = components.limiter ?? new LogLimiter(components.clock);
    this.checkIntervalMs = init.checkIntervalMs ?? DEATH_CHECK_INTERVAL_MS;
    this.resubscribeMs = init.resubscribeMs ?? EVENT_RESUBSCRIBE_MS;
  }

  /** Called once per dead container with the ref that was watched. */
  onDeath(cb: DeathListener): void {
    this.listeners.push(cb);
  }

  /** Called for every container event (start/die/destroy), after the death listeners. */
  onEvent(cb: EventListener): void {
    this.eventListeners.push(cb);
  }

  /** Called when the event stream is back after an outage (events may have been missed meanwhile). */
  onStreamBack(cb: () => void): void {
    this.streamBackListeners.push(cb);
  }

  /** Starts (or replaces) watching a container, keyed by ref.id. */
  watch(ref: ContainerRef): void {
    this.watched.set(ref.id, ref);
  }

  unwatch(id: string): void {
    this.watched.delete(id);
  }

  isWatching(id: string): boolean {
    return this.watched.has(id);
  }

  watchedIds(): string[] {
    return [...this.watched.keys()];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.subscribe();
    this.scheduleCheck();
  }

  stop(): void {
    this.running = false;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.cancelResubscribe?.();
    this.cancelResubscribe = undefined;
    this.subscription?.close();
    this.subscription = undefined;
  }

  /** Feeds one container event (also used directly by tests). */
  handleEvent(ev: ContainerEvent): void {
    if (ev.action === 'die' || ev.action === 'destroy') {
      const ref = this.watched.get(ev.id);
      if (ref) this.report(ref, ev.action === 'die' ? 'event:die' : 'event:destroy');
    }
    for (const cb of this.eventListeners) {
      try {
        cb(ev);
      } catch (err) {
        this.log.error({ err, container: ev.id }, 'event listener threw');
      }
    }
  }

  /** Checks every watched container now; resolves when done. Concurrent calls share one pass. */
  checkNow(): Promise<void> {
    this.checking ??= this.checkAll().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkAll(): Promise<void> {
    for (const ref of [...this.watched.values()]) {
      let alive: boolean;
      try {
        alive = await this.runtime.isAlive(ref);
      } catch (err) {
        const f = this.limiter.fields(`liveness:${ref.id}`, { err, container: ref.id });
        if (f) this.log.warn(f, 'liveness check failed; assuming alive');
        continue;
      }
      // Re-check it is still the same watch entry: it may have been unwatched or reported meanwhile.
      if (!alive && this.watched.get(ref.id) === ref) this.report(ref, 'check');
    }
  }

  private report(ref: ContainerRef, reason: DeathReason): void {
    this.watched.delete(ref.id);
    this.log.info({ container: ref.id, reason }, 'container died');
    for (const cb of this.listeners) {
      try {
        cb(ref, reason);
      } catch (err) {
        this.log.error({ err, container: ref.id }, 'death listener threw');
      }
    }
  }

  private scheduleCheck(): void {
    if (!this.running) return;
    this.cancelTimer = this.clock.setTimer(this.checkIntervalMs, () => {
      this.cancelTimer = undefined;
      void this.checkNow().finally(() => this.scheduleCheck());
    });
  }

  private subscribe(): void {
    if (!this.running || !this.events) return;
    let failed = false;
    this.subscription = this.events.subscribe(
      (ev) => this.handleEvent(ev),
      (err) => {
        if (failed || !this.running) return;
        failed = true;
        this.subscription = undefined;
        // Without Docker this repeats every resubscribeMs forever: say it once, and once when it is back.
        if (this.eventsDown) this.log.debug({ err }, 'container event stream still unavailable');
        else this.log.warn({ err: err.message }, 'container event stream unavailable; checking containers every few seconds instead (said once; a line follows when it is back)');
        this.eventsDown = true;
        this.cancelResubscribe = this.clock.setTimer(this.resubscribeMs, () => {
          this.cancelResubscribe = undefined;
          // Catch deaths missed while the stream was down, then listen again.
          void this.checkNow();
          this.subscribe();
        });
      },
      () => {
        if (!this.eventsDown) return;
        this.eventsDown = false;
        this.log.info('container event stream is back; following container events again');
        for (const cb of this.streamBackListeners) cb();
      },
    );
  }
}
