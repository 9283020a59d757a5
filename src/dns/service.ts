// weaveDNS as the daemon sees it: the entries CRDT (the `dns` gossip channel), the resolver, and the
// operations behind `attach`/`detach`, `dns-add`/`dns-remove`, `dns-lookup` and `status dns`.
// Pure: time, randomness and membership come in through components. User input is validated here and
// rejected with a ConfigError naming the value and the rule.
//
// Wiring (daemon):
//   const dns = new DnsService({ clock, rng, logger, peers }, { domain, ttlS });
//   mesh.registerChannel('dns', dns.gossiper)  → then dns.attachGossip(gossipForChannel)
//   dns.start();
//   const server = new DnsServer({ handler: dns.resolver, logger, rng }, { listenAddress, port: 53 });
//   await server.start();
//   status: dns.status(server.info())

import { ConfigError } from '../core/errors.js';
import type { Gossip, Gossiper, PeerDirectory } from '../core/gossip.js';
import type { Logger } from '../core/logger.js';
import type { Clock, Rng } from '../core/ports.js';
import { formatIPv4, parseIPv4 } from '../core/types.js';
import { DEFAULT_DNS_DOMAIN, DEFAULT_DNS_TTL_S, MAX_CONTAINER_ID_CHARS } from './constants.js';
import { DnsEntries, type DnsEntriesInit, type DnsEntry, type EntryFilter } from './entries.js';
import { isInDomain, parseDomain, parseHostname, tryNormalizeName } from './names.js';
import { Resolver } from './resolver.js';

/** weaveDNS's part of the status snapshot (api/status-types.ts re-exports it). */
export interface DnsEntryStatus {
  hostname: string;
  address: string;
  containerId: string;
  origin: string;
}

export interface DnsStatus {
  domain: string;
  upstream: string[];
  address: string;
  ttl: number;
  entries: DnsEntryStatus[];
}

export interface DnsServiceComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  peers: PeerDirectory;
}

export interface DnsServiceInit extends DnsEntriesInit {
  /** @default DEFAULT_DNS_DOMAIN ("weave.local.") */
  domain?: string;
  /** @default DEFAULT_DNS_TTL_S (1) */
  ttlS?: number;
}

/** What the DNS server reports for status: where it listens and which upstreams it forwards to. */
export interface DnsServerInfo {
  address: string;
  upstream: string[];
}

export interface RemoveEntriesSpec {
  containerId: string;
  /** Dotted IPv4 or u32; omitted = any. */
  address?: string | number;
  /** omitted = any. */
  hostname?: string;
}

export class DnsService {
  readonly domain: string;
  readonly ttlS: number;
  readonly entries: DnsEntries;
  readonly resolver: Resolver;

  constructor(components: DnsServiceComponents, init: DnsServiceInit = {}) {
    this.domain = parseDomain(init.domain ?? DEFAULT_DNS_DOMAIN);
    const ttl = init.ttlS ?? DEFAULT_DNS_TTL_S;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
      throw new ConfigError(`invalid --dns-ttl "${ttl}": must be a whole number of seconds 0..2147483647`);
    }
    this.ttlS = ttl;
    this.entries = new DnsEntries(components, init);
    this.resolver = new Resolver({ zone: this.entries, rng: components.rng }, { domain: this.domain, ttlS: this.ttlS });
  }

  /** The `dns` gossip channel owner. */
  get gossiper(): Gossiper {
    return this.entries;
  }

  attachGossip(gossip: Gossip): void {
    this.entries.attachGossip(gossip);
  }

  start(): void {
    this.entries.start();
  }

  stop(): void {
    this.entries.stop();
  }

  /**
   * Registers hostname → address for a container on this peer and broadcasts it. A single-label hostname is
   * put in the domain. Returns false if the entry was already live. Throws ConfigError on bad input.
   */
  addEntry(containerId: string, hostname: string, address: string | number): boolean {
    const id = checkContainerId(containerId);
    const fqdn = parseHostname(hostname, this.domain);
    const addr = toAddress(address);
    return this.entries.add(id, fqdn, addr) !== undefined;
  }

  /** Tombstones this peer's entries of a container, optionally only one address and/or hostname. */
  removeEntries(spec: RemoveEntriesSpec): number {
    return this.entries.tombstone(this.filterOf(spec));
  }

  /** This peer's live entries that removeEntries(spec) would remove. */
  ownLive(spec: RemoveEntriesSpec): DnsEntry[] {
    return this.entries.ownLive(this.filterOf(spec));
  }

  private filterOf(spec: RemoveEntriesSpec): EntryFilter {
    const filter: EntryFilter = { containerId: checkContainerId(spec.containerId) };
    if (spec.address !== undefined) filter.address = toAddress(spec.address);
    if (spec.hostname !== undefined) filter.hostname = parseHostname(spec.hostname, this.domain);
    return filter;
  }

  /** Tombstones every entry of the container on this peer (detach, container death). */
  removeContainer(containerId: string): number {
    return this.entries.tombstone({ containerId: checkContainerId(containerId) });
  }

  /** Our own entries for the data dir (StateStore key e.g. "dns-entries"). */
  snapshotState(): Uint8Array {
    return this.entries.snapshotOwn();
  }

  /** Restores what `snapshotState` saved; returns how many entries were loaded. Throws ProtocolError if corrupt. */
  restoreState(data: Uint8Array): number {
    return this.entries.restoreOwn(data);
  }

  /** Addresses (dotted) for a name, as the resolver would answer (unshuffled); [] if unknown. */
  lookup(name: string): string[] {
    const n = tryNormalizeName(name.trim());
    if (!n) return [];
    const fqdn = n.split('.').length === 2 ? n + this.domain : n;
    return this.entries.addressesOf(fqdn).map(formatIPv4);
  }

  /** True if the name (any case, with or without trailing dot) is the domain or below it. */
  isInDomain(fqdn: string): boolean {
    const n = tryNormalizeName(fqdn.trim());
    return n !== undefined && isInDomain(n, this.domain);
  }

  /** The `status dns` snapshot: live entries sorted by (hostname, origin, container, address). */
  status(server: DnsServerInfo = { address: '', upstream: [] }): DnsStatus {
    return {
      domain: this.domain,
      upstream: [...server.upstream],
      address: server.address,
      ttl: this.ttlS,
      entries: this.entries.live().map((e) => ({
        hostname: e.hostname,
        address: formatIPv4(e.address),
        containerId: e.containerId,
        origin: e.origin,
      })),
    };
  }
}

function checkContainerId(id: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CONTAINER_ID_CHARS || /[\s|]/.test(id)) {
    throw new ConfigError(
      `invalid container id "${String(id)}": must be 1..${MAX_CONTAINER_ID_CHARS} characters without spaces or "|"`,
    );
  }
  return id;
}

function toAddress(a: string | number): number {
  if (typeof a === 'number') {
    if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) throw new ConfigError(`invalid address ${a}: must be an IPv4 address`);
    return a;
  }
  return parseIPv4(a.trim(), 'address');
}
