// Address ranges [start, end) over IPv4 addresses as numbers; end may be 2^32. Pure helpers.
import { type Cidr, cidrSize, formatIPv4, networkOf, formatCidr } from '../core/types.js';
import { ConfigError } from '../core/errors.js';
import { MIN_ALLOC_SUBNET_PREFIX } from './constants.js';

export interface AddrRange {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

export const ADDR_SPACE_END = 2 ** 32;

export function cidrRange(c: Cidr): AddrRange {
  const n = networkOf(c);
  return { start: n.addr, end: n.addr + cidrSize(c) };
}

export function rangeSize(r: AddrRange): number {
  return r.end - r.start;
}

export function intersect(a: AddrRange, b: AddrRange): AddrRange | undefined {
  const start = Math.max(a.start, b.start);
  const end = Math.min(a.end, b.end);
  return start < end ? { start, end } : undefined;
}

export function rangeContains(r: AddrRange, addr: number): boolean {
  return addr >= r.start && addr < r.end;
}

/** "10.32.0.0-10.47.255.255" (inclusive end, as Weave prints ranges). */
export function formatRange(r: AddrRange): string {
  return r.end - r.start === 1 ? formatIPv4(r.start) : `${formatIPv4(r.start)}-${formatIPv4(r.end - 1)}`;
}

/** A range as a CIDR when it is one ("10.32.0.0/12"), else as formatRange does. */
export function formatRangeAsCidr(r: AddrRange): string {
  const size = r.end - r.start;
  const bits = Math.log2(size);
  if (size >= 1 && Number.isInteger(bits) && r.start % size === 0) return `${formatIPv4(r.start)}/${32 - bits}`;
  return formatRange(r);
}

/**
 * The addresses allocation may hand out in `subnet`: everything but its network and broadcast addresses
 * (RFC 1122). Throws ConfigError for subnets too small to allocate from (/31, /32): claim those explicitly.
 */
export function allocatableRange(subnet: Cidr, what = 'subnet'): AddrRange {
  if (subnet.prefix > MIN_ALLOC_SUBNET_PREFIX) {
    throw new ConfigError(
      `invalid ${what} "${formatCidr(subnet)}": too small to allocate from (prefix must be 0..${MIN_ALLOC_SUBNET_PREFIX}, ` +
        `so that network and broadcast addresses can be kept back); claim a specific address with ip:ADDR/${subnet.prefix} instead`,
    );
  }
  const r = cidrRange(subnet);
  return { start: r.start + 1, end: r.end - 1 };
}

/** Network or broadcast address of `subnet` (never handed out, never claimable), or undefined. /31 and /32 have none. */
export function reservedRole(subnet: Cidr, addr: number): 'network' | 'broadcast' | undefined {
  if (subnet.prefix > MIN_ALLOC_SUBNET_PREFIX) return undefined;
  const r = cidrRange(subnet);
  if (addr === r.start) return 'network';
  if (addr === r.end - 1) return 'broadcast';
  return undefined;
}
