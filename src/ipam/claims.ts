// The containers' addresses on this peer: which container holds which address, both ways. A plain book:
// it does not know about ownership (space.ts) or the ring; the allocator keeps the three in step.
import { type Cidr, formatIPv4 } from '../core/types.js';
import { cidrRange } from './addr-range.js';

export interface Allocation {
  addr: number;
  prefix: number;
  /** "10.32.0.1/12" */
  cidr: string;
}

export function allocationOf(addr: number, prefix: number): Allocation {
  return { addr, prefix, cidr: `${formatIPv4(addr)}/${prefix}` };
}

export class Claims {
  private readonly byContainer = new Map<string, Allocation[]>();
  private readonly byAddr = new Map<number, string>();

  record(containerId: string, a: Allocation): void {
    const list = this.byContainer.get(containerId);
    if (list) list.push(a);
    else this.byContainer.set(containerId, [a]);
    this.byAddr.set(a.addr, containerId);
  }

  /** The container's address in `subnet` (same prefix), if it has one. */
  findIn(containerId: string, subnet: Cidr): Allocation | undefined {
    const r = cidrRange(subnet);
    return this.byContainer.get(containerId)?.find((a) => a.prefix === subnet.prefix && a.addr >= r.start && a.addr < r.end);
  }

  /** The container holding `addr`, if any. */
  holder(addr: number): string | undefined {
    return this.byAddr.get(addr);
  }

  /** The allocation of `addr` held by `containerId`, if that container holds it. */
  held(containerId: string, addr: number): Allocation | undefined {
    return this.byContainer.get(containerId)?.find((a) => a.addr === addr);
  }

  /** A copy of the container's addresses. */
  lookup(containerId: string): Allocation[] {
    return [...(this.byContainer.get(containerId) ?? [])];
  }

  /** Forgets the container's addresses (all, or just `addr`); returns those forgotten. */
  remove(containerId: string, addr?: number): Allocation[] {
    const list = this.byContainer.get(containerId) ?? [];
    const freed = list.filter((a) => addr === undefined || a.addr === addr);
    for (const a of freed) this.byAddr.delete(a.addr);
    const left = list.filter((a) => !freed.includes(a));
    if (left.length > 0) this.byContainer.set(containerId, left);
    else this.byContainer.delete(containerId);
    return freed;
  }

  clear(): void {
    this.byContainer.clear();
    this.byAddr.clear();
  }

  /** Every container with addresses, and the addresses (copies). */
  containers(): Array<{ containerId: string; addrs: Allocation[] }> {
    return [...this.byContainer].map(([containerId, addrs]) => ({ containerId, addrs: [...addrs] }));
  }

  /** Every (address, container) pair, in the order they were recorded. */
  addrs(): IterableIterator<[number, string]> {
    return this.byAddr.entries();
  }
}
