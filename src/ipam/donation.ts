// The donation protocol. As asker: pick a reachable donor with free space in the wanted window (weighted by
// its advertised free count, skipping donors that recently said no or did not answer), send 'req', and time
// it out. As donor: give the upper half of our biggest free run there (or the one exact address asked for),
// persist, then answer 'grant' with our ring, or 'deny' with the reason (and our ring, so the asker learns the
// real free counts).
import type { PeerName } from '../core/types.js';
import { formatIPv4 } from '../core/types.js';
import { type AddrRange, formatRange, rangeSize } from './addr-range.js';
import { type IpamContext, mergeChanged } from './context.js';
import type { DenyMsg, GrantMsg, SpaceRequestMsg } from './messages.js';
import type { RingData } from './ring.js';
import { floorIndex } from './ring-data.js';
import { STATUS_UNREACHABLE, STATUS_WAITING_GRANT, STATUS_WAITING_IPS } from './status.js';

export interface DonationHooks {
  /** Merges a ring that came with a grant or a denial (it may be refused: the hook throws then). */
  mergeRing(src: PeerName, ring: RingData): void;
  /** A request timed out: waiting requests should be tried again (another donor). */
  retry(): void;
  /** The owner of `addr` refused to give it: the claims waiting for it fail with `reason`. */
  exactDenied(addr: number, reason: string): void;
}

interface Outstanding {
  id: number;
  donor: PeerName;
  key: string;
  exact: boolean;
  /** exact requests: the address asked for. */
  addr: number;
  cancel(): void;
}

export class Donations {
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly byId = new Map<number, Outstanding>();
  /** Donors not to ask again until `until`; `denied` when they said they had nothing (vs. no answer). */
  private readonly backoff = new Map<PeerName, { until: number; denied: boolean }>();
  private nextId = 1;

  constructor(
    private readonly ctx: IpamContext,
    private readonly hooks: DonationHooks,
  ) {}

  get inFlight(): number {
    return this.outstanding.size;
  }

  // ---------------------------------------------------------------------------------------------
  // Asking.

  /** Asks a donor for space in `window` (or for one exact address). Returns the reason we now wait. */
  request(window: AddrRange, exact: boolean): string {
    const ctx = this.ctx;
    const key = exact ? `x:${window.start}` : `w:${window.start}-${window.end}`;
    if (this.outstanding.has(key)) return STATUS_WAITING_GRANT;
    let donor: PeerName | undefined;
    if (exact) {
      donor = ctx.ring.owner(window.start);
    } else {
      const now = ctx.clock.now();
      const reachable = [...ctx.ring.donorsFor(window)].filter(([p]) => ctx.peers.isReachable(p) && !ctx.ring.removedRecord(p));
      const candidates = reachable.filter(([p]) => (this.backoff.get(p)?.until ?? 0) <= now);
      if (candidates.length === 0) {
        // Everyone we could ask said no recently: the subnet is full as far as we can tell.
        if (reachable.length > 0) return reachable.every(([p]) => this.backoff.get(p)!.denied) ? STATUS_WAITING_IPS : STATUS_WAITING_GRANT;
        if (ctx.ownersAllUnreachable(window)) return STATUS_UNREACHABLE;
        return STATUS_WAITING_IPS;
      }
      const total = candidates.reduce((s, [, w]) => s + w, 0);
      let pick = ctx.rng.float() * total;
      for (const [p, w] of candidates) {
        donor = p;
        pick -= w;
        if (pick < 0) break;
      }
    }
    if (!donor) return STATUS_WAITING_IPS;
    const id = this.nextId++;
    const o: Outstanding = { id, donor, key, exact, addr: window.start, cancel: () => {} };
    o.cancel = ctx.clock.setTimer(ctx.timing.requestTimeoutMs, () => {
      if (this.byId.get(id) !== o) return;
      this.clear(o);
      this.backoff.set(o.donor, { until: ctx.clock.now() + ctx.timing.donorBackoffMs, denied: false });
      ctx.log.debug({ peer: o.donor }, 'ipam space request timed out');
      this.hooks.retry();
    });
    this.outstanding.set(key, o);
    this.byId.set(id, o);
    ctx.log.debug({ peer: donor, range: formatRange(window), exact }, 'ipam asking for space');
    ctx.sendUnicast(donor, {
      kind: 'req', id, start: ctx.universe.start, end: ctx.universe.end, wantStart: window.start, wantEnd: window.end, exact,
    });
    return STATUS_WAITING_GRANT;
  }

  handleGrant(src: PeerName, m: GrantMsg): void {
    const o = this.byId.get(m.id);
    if (o && o.donor === src) this.clear(o);
    this.hooks.mergeRing(src, m.ring);
  }

  handleDeny(src: PeerName, m: DenyMsg): void {
    const o = this.byId.get(m.id);
    if (m.ring) this.hooks.mergeRing(src, m.ring);
    if (!o || o.donor !== src) return;
    this.clear(o);
    if (o.exact) this.hooks.exactDenied(o.addr, m.reason);
    else this.backoff.set(src, { until: this.ctx.clock.now() + this.ctx.timing.donorBackoffMs, denied: true });
  }

  /** Forgets requests to donors that are no longer reachable (their waiting requests will ask someone else). */
  dropUnreachable(): void {
    for (const o of [...this.outstanding.values()]) {
      if (!this.ctx.peers.isReachable(o.donor)) this.clear(o);
    }
  }

  /** Forgets every request in flight (stop, leave, removal). */
  cancelAll(): void {
    for (const o of [...this.outstanding.values()]) this.clear(o);
  }

  private clear(o: Outstanding): void {
    o.cancel();
    this.outstanding.delete(o.key);
    this.byId.delete(o.id);
  }

  // ---------------------------------------------------------------------------------------------
  // Giving.

  handleRequest(src: PeerName, m: SpaceRequestMsg): void {
    const ctx = this.ctx;
    if (ctx.ring.isEmpty) {
      this.deny(src, m, `the IP allocation ring is not initialised on ${ctx.label(ctx.self)} yet`, false);
      return;
    }
    let give: AddrRange | undefined;
    if (m.exact) {
      const a = m.wantStart;
      const owner = ctx.ring.owner(a);
      if (owner !== ctx.self) {
        this.deny(src, m, `${formatIPv4(a)} is not owned by ${ctx.label(ctx.self)} (owner: ${owner ? ctx.label(owner) : 'nobody'})`, true);
        return;
      }
      if (!ctx.space.isFree(a)) {
        const c = ctx.claims.holder(a);
        this.deny(src, m, `${formatIPv4(a)} is in use${c ? ` by container ${c}` : ''} on ${ctx.label(ctx.self)}`, true);
        return;
      }
      give = { start: a, end: a + 1 };
    } else {
      const run = ctx.space.biggestFreeIn({ start: m.wantStart, end: m.wantEnd });
      if (!run) {
        const changed = ctx.ring.reportFree((r) => ctx.space.numFree(r));
        if (changed.length > 0) ctx.dirty = true;
        this.deny(src, m, `no free addresses in ${formatRange({ start: m.wantStart, end: m.wantEnd })} on ${ctx.label(ctx.self)}`, true);
        return;
      }
      const start = run.start + Math.floor(rangeSize(run) / 2);
      give = { start, end: Math.min(run.end, this.ownEntryEnd(start)) };
    }
    const changed = ctx.ring.grant(give, src);
    ctx.afterOwnershipChange();
    const freeChanged = ctx.ring.reportFree((r) => ctx.space.numFree(r));
    ctx.persist(); // before the grant leaves: a crash must not let us hand the same range out again
    ctx.sendUnicast(src, { kind: 'grant', id: m.id, start: ctx.universe.start, end: ctx.universe.end, ring: ctx.ring.toData() });
    ctx.broadcastRing(mergeChanged(changed, freeChanged));
    ctx.log.info({ peer: ctx.label(src), range: formatRange(give) }, 'ipam range donated');
  }

  /** Refuses a space request, with our ring when it helps the asker choose better next time. */
  deny(src: PeerName, m: SpaceRequestMsg, reason: string, withRing: boolean): void {
    const ctx = this.ctx;
    ctx.log.debug({ peer: src, reason }, 'ipam space request denied');
    const msg: DenyMsg = {
      kind: 'deny', id: m.id, start: ctx.universe.start, end: ctx.universe.end, reason,
      ring: withRing && !ctx.ring.isEmpty ? ctx.ring.toData() : undefined,
    };
    ctx.sendUnicast(src, msg);
  }

  /** Where the ring entry holding `addr` ends: a grant never crosses into the next entry. */
  private ownEntryEnd(addr: number): number {
    const i = floorIndex(this.ctx.ring.entries(), addr);
    return this.ctx.ring.entryRange(i).end;
  }
}
