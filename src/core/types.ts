// Value types shared by every part: peer names, IPv4 addresses and CIDRs.
// Parsers throw ConfigError naming the input, the value and the rule; callers pass `what` (e.g. "--name").

import { ConfigError } from './errors.js';

/** A peer's 48-bit name, canonical form "aa:bb:cc:dd:ee:ff" (lowercase, two digits per byte). */
export type PeerName = string & { readonly __peerName: unique symbol };

const PEER_NAME_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Parses a peer name as Weave accepts it: a MAC "aa:bb:cc:dd:ee:ff", or a shorthand with "::" standing
 * for zero bytes ("::1" → 00:00:00:00:00:01), with one- or two-digit hex groups.
 */
export function parsePeerName(text: string, what = 'peer name'): PeerName {
  const s = text.trim().toLowerCase();
  let groups: string[];
  if (s.includes('::')) {
    const [head, tail, ...rest] = s.split('::');
    if (rest.length > 0) throw new ConfigError(`invalid ${what} "${text}": "::" may appear only once`);
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const missing = 6 - h.length - t.length;
    if (missing < 1) throw new ConfigError(`invalid ${what} "${text}": too many groups for a 48-bit name`);
    groups = [...h, ...Array<string>(missing).fill('0'), ...t];
  } else {
    groups = s.split(':');
  }
  if (groups.length !== 6 || !groups.every((g) => /^[0-9a-f]{1,2}$/.test(g))) {
    throw new ConfigError(`invalid ${what} "${text}": must be 6 hex bytes like aa:bb:cc:dd:ee:ff (or ::1 shorthand)`);
  }
  return groups.map((g) => g.padStart(2, '0')).join(':') as PeerName;
}

export function isPeerName(s: string): s is PeerName {
  return PEER_NAME_RE.test(s);
}

/** 48-bit peer name as a JS number (exact: < 2^53). Used on the data path. */
export function peerNameToNumber(name: PeerName): number {
  return parseInt(name.replaceAll(':', ''), 16);
}

export function peerNameFromNumber(n: number): PeerName {
  const hex = n.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':') as PeerName;
}

export function peerNameToBytes(name: PeerName): Uint8Array {
  return Uint8Array.from(name.split(':').map((h) => parseInt(h, 16)));
}

export function peerNameFromBytes(b: Uint8Array, offset = 0): PeerName {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[offset + i]!.toString(16).padStart(2, '0');
  return s as PeerName;
}

/** "name(nickname)" as Weave prints peers. */
export function peerLabel(name: PeerName, nickname: string): string {
  return `${name}(${nickname})`;
}

// ---------------------------------------------------------------------------------------------
// IPv4 addresses are unsigned 32-bit numbers.

export function parseIPv4(text: string, what = 'address'): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new ConfigError(`invalid ${what} "${text}": must be a dotted IPv4 address like 10.32.0.1`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) {
      throw new ConfigError(`invalid ${what} "${text}": each of the 4 parts must be a number 0..255`);
    }
    n = n * 256 + Number(p);
  }
  return n;
}

export function tryParseIPv4(text: string): number | undefined {
  try {
    return parseIPv4(text);
  } catch {
    return undefined;
  }
}

export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** An address with a prefix length, e.g. 10.32.0.5/12 (the address need not be the network address). */
export interface Cidr {
  readonly addr: number;
  readonly prefix: number;
}

export function parseCidr(text: string, what = 'CIDR'): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new ConfigError(`invalid ${what} "${text}": must be ADDRESS/PREFIX like 10.32.0.0/12`);
  const addr = parseIPv4(text.slice(0, slash), what);
  const p = text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(p) || Number(p) > 32) {
    throw new ConfigError(`invalid ${what} "${text}": prefix length must be 0..32`);
  }
  return { addr, prefix: Number(p) };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.addr)}/${c.prefix}`;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(c: Cidr): Cidr {
  return { addr: (c.addr & prefixMask(c.prefix)) >>> 0, prefix: c.prefix };
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, addr: number): boolean {
  const m = prefixMask(c.prefix);
  return ((addr & m) >>> 0) === ((c.addr & m) >>> 0);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = prefixMask(p);
  return ((a.addr & m) >>> 0) === ((b.addr & m) >>> 0);
}

/** Broadcast address of the CIDR's network. */
export function broadcastOf(c: Cidr): number {
  return (networkOf(c).addr + cidrSize(c) - 1) >>> 0;
}

/** "host:port" with port defaulting; accepts IPv4 or a hostname. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseHostPort(text: string, defaultPort: number, what = 'peer'): HostPort {
  const s = text.trim();
  if (s === '') throw new ConfigError(`invalid ${what} "${text}": must not be empty`);
  const colon = s.lastIndexOf(':');
  let host = s;
  let port = defaultPort;
  if (colon >= 0) {
    host = s.slice(0, colon);
    const p = s.slice(colon + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
      throw new ConfigError(`invalid ${what} "${text}": port must be a number 1..65535`);
    }
    port = Number(p);
  }
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(host)) {
    throw new ConfigError(`invalid ${what} "${text}": must be an IPv4 address or host name, optionally with :port`);
  }
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return `${hp.host}:${hp.port}`;
}
