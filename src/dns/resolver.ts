// The weaveDNS resolver: query bytes → decision (answer | forward | drop). Pure and total: whatever the
// bytes, it returns a decision and never throws (DESIGN.md §6, WEAVE-FACTS.md §4).
//
// Rules, in order:
//   1. Shorter than a header, or a response (QR set)            → drop
//   2. opcode ≠ QUERY                                            → NOTIMP
//   3. QDCOUNT ≠ 1, undecodable message, two OPT records          → FORMERR (header only)
//   4. EDNS version ≠ 0                                           → BADVERS (RFC 6891 §6.1.3)
//   5. PTR for x.x.x.x.in-addr.arpa of a known address            → PTR records (authoritative)
//   6. name in the domain (or a single label, tried in the domain):
//        known name: A/ANY → every address, shuffled per answer; other types → NOERROR, no records (NODATA)
//        unknown, in the domain                                    → NXDOMAIN (authoritative)
//        unknown single label                                      → forwarded (as Weave does)
//        class other than IN/ANY                                   → REFUSED
//   7. everything else                                            → forward upstream
// Size: UDP answers fit the client's EDNS0 size (512 without EDNS, capped at DNS_UDP_MAX_PAYLOAD_BYTES);
// TCP answers fit 65535. Answers that do not fit keep what fits and carry TC so the client retries over TCP.

import type { Rng } from '../core/ports.js';
import {
  DEFAULT_DNS_DOMAIN,
  DEFAULT_DNS_TTL_S,
  DNS_TCP_MAX_MESSAGE_BYTES,
  DNS_UDP_DEFAULT_PAYLOAD_BYTES,
  DNS_UDP_MAX_PAYLOAD_BYTES,
} from './constants.js';
import type { DnsZone } from './entries.js';
import {
  QCLASS_ANY,
  QCLASS_IN,
  QTYPE,
  RCODE,
  buildHeaderOnly,
  buildResponse,
  parseQuery,
  rcodeName,
  type AnswerRecord,
  type ParsedQuery,
} from './message.js';
import { isInDomain, parseReverseName } from './names.js';

export type DnsTransport = 'udp' | 'tcp';

export type ResolverDecision =
  | {
      kind: 'answer';
      bytes: Uint8Array;
      /** For logs and stats: NOERROR, NXDOMAIN, FORMERR, … */
      rcode: string;
      truncated: boolean;
    }
  | {
      kind: 'forward';
      query: ParsedQuery;
      /** Largest reply the client accepts on this transport. */
      maxReplyBytes: number;
    }
  | { kind: 'drop'; reason: string };

export interface ResolverComponents {
  zone: DnsZone;
  rng: Rng;
}

export interface ResolverInit {
  /** @default DEFAULT_DNS_DOMAIN ("weave.local.") — must be normalized (names.parseDomain). */
  domain?: string;
  /** @default DEFAULT_DNS_TTL_S (1) */
  ttlS?: number;
  /** @default DNS_UDP_MAX_PAYLOAD_BYTES */
  maxUdpPayloadBytes?: number;
}

export interface ResolverStats {
  queries: number;
  answered: number;
  nxdomain: number;
  nodata: number;
  forwarded: number;
  truncated: number;
  formerr: number;
  notimp: number;
  dropped: number;
}

export class Resolver {
  readonly domain: string;
  readonly ttlS: number;
  private readonly zone: DnsZone;
  private readonly rng: Rng;
  private readonly maxUdp: number;
  readonly stats: ResolverStats = {
    queries: 0, answered: 0, nxdomain: 0, nodata: 0, forwarded: 0, truncated: 0, formerr: 0, notimp: 0, dropped: 0,
  };

  constructor(components: ResolverComponents, init: ResolverInit = {}) {
    this.zone = components.zone;
    this.rng = components.rng;
    this.domain = init.domain ?? DEFAULT_DNS_DOMAIN;
    this.ttlS = init.ttlS ?? DEFAULT_DNS_TTL_S;
    this.maxUdp = init.maxUdpPayloadBytes ?? DNS_UDP_MAX_PAYLOAD_BYTES;
  }

  /** Decides what to do with a query. Never throws. */
  resolve(bytes: Uint8Array, transport: DnsTransport): ResolverDecision {
    this.stats.queries++;
    try {
      return this.decide(bytes, transport);
    } catch (err) {
      // Defence in depth: the code below is written not to throw; if it ever does, the query is dropped.
      this.stats.dropped++;
      return { kind: 'drop', reason: `internal error: ${(err as Error)?.message ?? String(err)}` };
    }
  }

  private decide(bytes: Uint8Array, transport: DnsTransport): ResolverDecision {
    const parsed = parseQuery(bytes);
    if (parsed.kind === 'drop') {
      this.stats.dropped++;
      return parsed;
    }
    if (parsed.kind === 'error') {
      if (parsed.rcode === RCODE.NOTIMP) this.stats.notimp++;
      else this.stats.formerr++;
      return { kind: 'answer', bytes: buildHeaderOnly(parsed.id, parsed.flags, parsed.rcode), rcode: rcodeName(parsed.rcode), truncated: false };
    }
    const q = parsed.query;
    const maxBytes =
      transport === 'tcp'
        ? DNS_TCP_MAX_MESSAGE_BYTES
        : Math.min(this.maxUdp, Math.max(DNS_UDP_DEFAULT_PAYLOAD_BYTES, q.edns?.udpSize ?? 0));

    if (q.edns && q.edns.version !== 0) return this.reply(q, RCODE.BADVERS, false, [], maxBytes);

    const name = q.name;
    if (name === undefined) {
      // Not representable as a hostname: never ours unless it sits in our domain.
      return q.displayName.toLowerCase().endsWith('.' + this.domain)
        ? this.reply(q, RCODE.NXDOMAIN, true, [], maxBytes)
        : this.forward(q, maxBytes);
    }
    const isClassOk = q.qclass === QCLASS_IN || q.qclass === QCLASS_ANY;

    // Reverse lookups of addresses we know.
    if (q.qtype === QTYPE.PTR && isClassOk) {
      const addr = parseReverseName(name);
      if (addr !== undefined) {
        const names = this.zone.namesOf(addr);
        if (names.length > 0) {
          return this.reply(q, RCODE.NOERROR, true, names.map((target) => ({ type: QTYPE.PTR, target })), maxBytes);
        }
        return this.forward(q, maxBytes);
      }
    }

    const inDomain = isInDomain(name, this.domain);
    const singleLabel = q.labels === 1;
    if (!inDomain && !singleLabel) return this.forward(q, maxBytes);
    if (!isClassOk) return inDomain ? this.reply(q, RCODE.REFUSED, false, [], maxBytes) : this.forward(q, maxBytes);

    const fqdn = inDomain ? name : name + this.domain;
    const addrs = this.zone.addressesOf(fqdn);
    if (addrs.length === 0) {
      if (!inDomain) return this.forward(q, maxBytes); // unknown single label: let upstream decide
      if (name === this.domain) return this.reply(q, RCODE.NOERROR, true, [], maxBytes); // the apex exists
      this.stats.nxdomain++;
      return this.reply(q, RCODE.NXDOMAIN, true, [], maxBytes);
    }
    if (q.qtype !== QTYPE.A && q.qtype !== QTYPE.ANY) {
      this.stats.nodata++;
      return this.reply(q, RCODE.NOERROR, true, [], maxBytes);
    }
    return this.reply(q, RCODE.NOERROR, true, this.shuffled(addrs), maxBytes);
  }

  /** Fisher–Yates over a copy, with the injected Rng. */
  private shuffled(addrs: readonly number[]): AnswerRecord[] {
    const out: AnswerRecord[] = addrs.map((address) => ({ type: QTYPE.A, address }));
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }

  private reply(q: ParsedQuery, rcode: number, authoritative: boolean, answers: AnswerRecord[], maxBytes: number): ResolverDecision {
    const { bytes, truncated } = buildResponse(q, { rcode, authoritative, answers, ttlS: this.ttlS, maxBytes });
    this.stats.answered++;
    if (truncated) this.stats.truncated++;
    return { kind: 'answer', bytes, rcode: rcodeName(rcode), truncated };
  }

  private forward(q: ParsedQuery, maxBytes: number): ResolverDecision {
    this.stats.forwarded++;
    return { kind: 'forward', query: q, maxReplyBytes: maxBytes };
  }

  /** True if the normalized FQDN is in our domain. */
  isInDomain(fqdn: string): boolean {
    return isInDomain(fqdn, this.domain);
  }
}
