// What `tsweave status ipam` shows: the one-line state of this peer's allocator (the words match Weave's) and
// the table of peers owning space. Reads the shared state; decides nothing.
import { formatCidr, formatIPv4 } from '../core/types.js';
import { rangeSize } from './addr-range.js';
import type { IpamContext } from './context.js';

/** This peer's part of the status snapshot (api/status-types.ts re-exports it). */
export interface IpamEntryStatus {
  name: string;
  nickname: string;
  ips: number;
  /** Addresses in use on this peer (only for the local peer). */
  active?: number;
  reachable: boolean;
}

/** One entry of the ring: the range from `token` up to the next entry's token (Weave's IPAM.Entries). */
export interface IpamRingEntryStatus {
  token: string;
  size: number;
  peer: string;
  nickname: string;
  version: number;
}

export interface IpamStatus {
  /** Weave's status strings: ready, awaiting consensus (quorum: Q, known: K), idle, … */
  status: string;
  /** The ring's entries in token order (for the Weave-shaped report). */
  ring?: IpamRingEntryStatus[];
  range: string;
  defaultSubnet: string;
  rangeNumIPs: number;
  entries: IpamEntryStatus[];
}

export const STATUS_READY = 'ready';
export const STATUS_IDLE = 'idle';
export const STATUS_PRIMING = 'priming';
export const STATUS_UNREACHABLE = "all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead";
export const STATUS_WAITING_GRANT = 'waiting for IP range grant from peers';
export const STATUS_WAITING_IPS = 'waiting for IP(s) to become available';
export function statusAwaitingConsensus(quorum: number, known: number): string {
  return `awaiting consensus (quorum: ${quorum}, known: ${known})`;
}

/** What status needs besides the shared state: why there is no ring yet, and the first request waiting. */
export interface StatusInputs {
  bootstrapReason(): string;
  /** The reason of the first waiting allocate/claim (not prime), if any. */
  waitingReason(): string | undefined;
}

export function statusLine(ctx: IpamContext, inputs: StatusInputs): string {
  if (ctx.removedBy) {
    return `removed from the IP allocation ring by 'rmpeer' on ${ctx.label(ctx.removedBy)} - reset this peer ('tsweave reset') and launch it again`;
  }
  if (ctx.leaving) return "left the cluster ('tsweave reset'): its ranges were given to other peers";
  if (ctx.ring.isEmpty) return inputs.bootstrapReason();
  const waiting = inputs.waitingReason();
  if (waiting !== undefined) return waiting;
  if (ctx.space.numOwned === 0 && ctx.ownersAllUnreachable(ctx.universe)) return STATUS_UNREACHABLE;
  return STATUS_READY;
}

export function statusReport(ctx: IpamContext, inputs: StatusInputs): IpamStatus {
  const ownership = ctx.ring.ownership();
  const entries: IpamEntryStatus[] = [];
  if (!ctx.ring.isEmpty) {
    entries.push({
      name: ctx.self,
      nickname: ctx.peers.localNickname,
      ips: ownership.get(ctx.self) ?? 0,
      active: activeCount(ctx),
      reachable: true,
    });
    const others = [...ownership.keys()].filter((p) => p !== ctx.self).sort();
    for (const p of others) {
      entries.push({ name: p, nickname: ctx.nicknameOf(p), ips: ownership.get(p)!, reachable: ctx.peers.isReachable(p) });
    }
  }
  return {
    status: statusLine(ctx, inputs),
    range: formatCidr(ctx.range),
    defaultSubnet: formatCidr(ctx.defaultSubnet),
    rangeNumIPs: rangeSize(ctx.universe),
    entries,
    ring: ringEntries(ctx),
  };
}

/** Each entry owns up to the next token, the last one up to the range's end (ring.ts: ranges never wrap). */
function ringEntries(ctx: IpamContext): IpamRingEntryStatus[] {
  const d = ctx.ring.toData();
  const es = d.entries;
  return es.map((e, i) => {
    const next = i + 1 < es.length ? es[i + 1]!.token : d.end;
    return { token: formatIPv4(e.token), size: next - e.token, peer: e.peer, nickname: ctx.nicknameOf(e.peer), version: e.version };
  });
}

/** Addresses in use here that are inside the allocation range (outside ones are the user's own business). */
function activeCount(ctx: IpamContext): number {
  let n = 0;
  for (const [a] of ctx.claims.addrs()) if (ctx.ring.contains(a)) n++;
  return n;
}
