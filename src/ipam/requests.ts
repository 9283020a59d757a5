// One attempt at a waiting request (allocate / claim / prime), and the checks on a request's input. An
// attempt answers the request from what this peer has, or starts what is missing (bootstrap a ring, ask a
// donor) and records why it waits. Called by the pending queue whenever something may have changed.
import { ConfigError, IpamConflictError } from '../core/errors.js';
import { type Cidr, cidrsOverlap, formatCidr, formatIPv4 } from '../core/types.js';
import { type AddrRange, allocatableRange, intersect } from './addr-range.js';
import { type Allocation, allocationOf } from './claims.js';
import { MAX_CONTAINER_ID_CHARS } from './constants.js';
import type { IpamContext } from './context.js';
import { IpamError } from './errors.js';
import type { Pending } from './pending.js';
import { STATUS_WAITING_GRANT } from './status.js';

export interface AttemptDeps {
  finish(p: Pending, result: Error | Allocation | undefined): void;
  /** Starts or continues getting a ring; returns the reason we wait (bootstrap.ts). */
  bootstrap(): string;
  /** Asks a donor for space; returns the reason we wait (donation.ts). */
  requestSpace(window: AddrRange, exact: boolean): string;
  /** The error for a peer removed by rmpeer (departure.ts). */
  removedError(): Error;
}

/** Answers `p` if it can (through deps.finish) or sets `p.reason`; 'done' when it changed our state. */
export function attempt(ctx: IpamContext, p: Pending, deps: AttemptDeps): 'done' | 'wait' {
  if (ctx.removedBy) {
    deps.finish(p, deps.removedError());
    return 'wait';
  }
  if (ctx.leaving) {
    deps.finish(p, new IpamError(`peer ${ctx.label(ctx.self)} has left the cluster ('tsweave reset'); launch it again`));
    return 'wait';
  }
  if (p.kind === 'prime') {
    if (ctx.ring.isEmpty) p.reason = deps.bootstrap();
    if (!ctx.ring.isEmpty) deps.finish(p, undefined);
    return 'wait';
  }
  if (p.kind === 'allocate') return attemptAllocate(ctx, p, deps);
  return attemptClaim(ctx, p, deps);
}

function attemptAllocate(ctx: IpamContext, p: Pending, deps: AttemptDeps): 'done' | 'wait' {
  const existing = ctx.claims.findIn(p.containerId, p.subnet);
  if (existing) {
    deps.finish(p, existing);
    return 'wait';
  }
  if (ctx.ring.isEmpty) {
    p.reason = deps.bootstrap();
    if (ctx.ring.isEmpty) return 'wait';
  }
  const addr = ctx.space.allocate(p.window!);
  if (addr !== undefined) return answer(ctx, p, addr, deps, 'ipam allocated');
  p.reason = deps.requestSpace(p.window!, false);
  return 'wait';
}

function attemptClaim(ctx: IpamContext, p: Pending, deps: AttemptDeps): 'done' | 'wait' {
  const addr = p.addr;
  const holder = ctx.claims.holder(addr);
  if (holder === p.containerId) {
    deps.finish(p, ctx.claims.held(holder, addr)!);
    return 'wait';
  }
  if (holder !== undefined) {
    deps.finish(p, new IpamConflictError(`address ${formatCidr(p.subnet)} is already owned by ${holder}`));
    return 'wait';
  }
  if (!ctx.ring.contains(addr)) {
    ctx.log.info({ container: p.containerId, addr: formatCidr(p.subnet) }, 'ipam claim outside the allocation range; not coordinated');
    const a = allocationOf(addr, p.subnet.prefix);
    ctx.claims.record(p.containerId, a);
    ctx.dirty = true;
    deps.finish(p, a);
    return 'done';
  }
  if (ctx.ring.isEmpty) {
    p.reason = deps.bootstrap();
    if (ctx.ring.isEmpty) return 'wait';
  }
  const owner = ctx.ring.owner(addr)!;
  if (owner === ctx.self) {
    if (!ctx.space.take(addr)) throw new IpamConflictError(`address ${formatCidr(p.subnet)} is not free on ${ctx.label(ctx.self)}`);
    return answer(ctx, p, addr, deps, 'ipam claimed');
  }
  if (!ctx.peers.isReachable(owner)) {
    throw new IpamConflictError(
      `cannot claim ${formatCidr(p.subnet)} for ${p.containerId}: it is in a range owned by ${ctx.label(owner)}, ` +
        `which is unreachable; claim it where that peer can be reached, or use 'rmpeer' if it is dead`,
    );
  }
  p.reason = `${STATUS_WAITING_GRANT} (asking ${ctx.label(owner)} for ${formatIPv4(addr)})`;
  deps.requestSpace({ start: addr, end: addr + 1 }, true);
  return 'wait';
}

/** Records `addr` (already taken from our space) for the request's container and answers the request with it. */
function answer(ctx: IpamContext, p: Pending, addr: number, deps: AttemptDeps, logMsg: string): 'done' {
  const a = allocationOf(addr, p.subnet.prefix);
  ctx.claims.record(p.containerId, a);
  ctx.dirty = true;
  ctx.log.debug({ container: p.containerId, addr: a.cidr }, logMsg);
  deps.finish(p, a);
  return 'done';
}

/** The addresses of `subnet` this allocator may hand out; ConfigError if none. */
export function allocationWindow(ctx: IpamContext, subnet: Cidr): AddrRange {
  if (!cidrsOverlap(subnet, ctx.range)) {
    throw new ConfigError(`invalid subnet "${formatCidr(subnet)}": outside the allocation range ${formatCidr(ctx.range)}`);
  }
  const w = intersect(allocatableRange(subnet), ctx.universe);
  if (!w) throw new ConfigError(`invalid subnet "${formatCidr(subnet)}": has no allocatable addresses inside ${formatCidr(ctx.range)}`);
  return w;
}

export function checkContainerId(id: string): void {
  if (typeof id !== 'string' || id === '' || id.length > MAX_CONTAINER_ID_CHARS) {
    throw new ConfigError(`invalid container id "${String(id).slice(0, 40)}": must be 1..${MAX_CONTAINER_ID_CHARS} characters`);
  }
}
