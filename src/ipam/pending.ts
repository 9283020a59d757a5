// The queue of requests (allocate / claim / prime) that could not be answered at once. Each waits with the
// reason it waits (status shows the first one); its timeout or abort rejects with an IpamError quoting that
// reason. What one attempt does is not decided here: the allocator passes `attempt` (requests.ts).
import type { Clock } from '../core/ports.js';
import type { Cidr } from '../core/types.js';
import type { AddrRange } from './addr-range.js';
import type { Allocation } from './claims.js';
import { IpamError } from './errors.js';

export interface WaitOptions {
  signal?: AbortSignal;
  /** @default AllocatorInit.allocateTimeoutMs */
  timeoutMs?: number;
}

export interface Pending {
  kind: 'allocate' | 'claim' | 'prime';
  containerId: string;
  /** allocate: the subnet; claim: the claimed CIDR. */
  subnet: Cidr;
  window: AddrRange | undefined;
  addr: number;
  reason: string;
  resolve(v: Allocation | undefined): void;
  reject(err: Error): void;
}

export type PendingSpec = Omit<Pending, 'reason' | 'resolve' | 'reject'>;

export interface PendingHooks {
  /** Tries to answer `p` now (finishing it through the queue) or updates `p.reason`; 'done' if state changed. */
  attempt(p: Pending): 'done' | 'wait';
  /** What the user can do about a wait that timed out with this reason ('' if nothing to add). */
  hint(reason: string): string;
  /** After a round of attempts: `changed` when some attempt changed state (the allocator persists then). */
  afterAttempts(changed: boolean): void;
  /** A request left the queue after `waitedMs` (for the IPAM wait-time metric). */
  settled?(kind: Pending['kind'], ok: boolean, waitedMs: number): void;
}

export class PendingQueue {
  private list: Pending[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly defaultTimeoutMs: number,
    private readonly hooks: PendingHooks,
  ) {}

  get size(): number {
    return this.list.length;
  }

  /** How many requests of `kind` wait. */
  count(kind: Pending['kind']): number {
    let n = 0;
    for (const p of this.list) if (p.kind === kind) n++;
    return n;
  }

  /** The first waiting request that matches, if any. */
  find(pred: (p: Pending) => boolean): Pending | undefined {
    return this.list.find(pred);
  }

  /** Queues a request and tries it at once; settles when an attempt finishes it, or on timeout/abort. */
  wait(spec: PendingSpec, opts: WaitOptions, what: string): Promise<Allocation | undefined> {
    return new Promise<Allocation | undefined>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new IpamError(`${what}: cancelled before it started`));
        return;
      }
      let cancelTimer = (): void => {};
      const startedAt = this.clock.now();
      const onAbort = (): void => this.finish(p, new IpamError(`${what}: cancelled while ${p.reason}`));
      const cleanup = (): void => {
        cancelTimer();
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const p: Pending = {
        ...spec,
        reason: 'starting',
        resolve: (v) => {
          cleanup();
          this.hooks.settled?.(spec.kind, true, this.clock.now() - startedAt);
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          this.hooks.settled?.(spec.kind, false, this.clock.now() - startedAt);
          reject(e);
        },
      };
      const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
      if (Number.isFinite(timeoutMs)) {
        cancelTimer = this.clock.setTimer(timeoutMs, () =>
          this.finish(p, new IpamError(`${what}: timed out after ${timeoutMs / 1000}s while ${p.reason}${this.hooks.hint(p.reason)}`)),
        );
      }
      opts.signal?.addEventListener('abort', onAbort);
      this.list.push(p);
      this.tryAll();
    });
  }

  /** Settles `p` (an Error rejects) and drops it from the queue; nothing if it already left. */
  finish(p: Pending, result: Error | Allocation | undefined): void {
    const i = this.list.indexOf(p);
    if (i < 0) return;
    this.list.splice(i, 1);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  /** Rejects every waiting request that matches (all if no predicate) with `err`. */
  failAll(err: Error | ((p: Pending) => Error), pred: (p: Pending) => boolean = () => true): void {
    for (const p of this.list.filter(pred)) this.finish(p, typeof err === 'function' ? err(p) : err);
  }

  /** Attempts every waiting request once; an attempt that throws rejects its request with the error. */
  tryAll(): void {
    if (this.list.length === 0) return;
    let changed = false;
    for (const p of [...this.list]) {
      if (!this.list.includes(p)) continue;
      try {
        if (this.hooks.attempt(p) === 'done') changed = true;
      } catch (err) {
        this.finish(p, err as Error);
      }
    }
    this.hooks.afterAttempts(changed);
  }
}
