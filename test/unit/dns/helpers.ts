// Shared fixtures for the DNS unit tests: a fake PeerDirectory, query builders and a decoder.
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { ResolverDecision } from '../../../src/dns/resolver.js';
import type { PeerDirectory } from '../../../src/core/gossip.js';
import type { PeerName } from '../../../src/core/types.js';

export class FakePeers implements PeerDirectory {
  readonly localNickname: string;
  private readonly reachable: Set<PeerName>;
  private readonly listeners = new Set<() => void>();
  constructor(
    readonly localName: PeerName,
    others: PeerName[] = [],
  ) {
    this.localNickname = `nick-${localName.slice(-2)}`;
    this.reachable = new Set([localName, ...others]);
  }
  reachablePeers(): PeerName[] {
    return [...this.reachable];
  }
  isReachable(name: PeerName): boolean {
    return this.reachable.has(name);
  }
  nicknameOf(name: PeerName): string | undefined {
    return this.reachable.has(name) ? `nick-${name.slice(-2)}` : undefined;
  }
  onPeersChanged(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  set(name: PeerName, isReachable: boolean): void {
    if (isReachable) this.reachable.add(name);
    else this.reachable.delete(name);
    for (const cb of this.listeners) cb();
  }
}

export const P1 = '00:00:00:00:00:01' as PeerName;
export const P2 = '00:00:00:00:00:02' as PeerName;
export const P3 = '00:00:00:00:00:03' as PeerName;

export function query(name: string, type: dnsPacket.RecordType = 'A', opts: { id?: number; udpSize?: number; rd?: boolean; ednsVersion?: number; klass?: dnsPacket.RecordClass } = {}): Buffer {
  const packet: dnsPacket.Packet = {
    type: 'query',
    id: opts.id ?? 0x1234,
    flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: opts.klass ?? 'IN' }],
  };
  if (opts.udpSize !== undefined) {
    packet.additionals = [
      { type: 'OPT', name: '.', udpPayloadSize: opts.udpSize, extendedRcode: 0, ednsVersion: opts.ednsVersion ?? 0, flags: 0, flag_do: false, options: [] } as dnsPacket.OptAnswer,
    ];
  }
  return dnsPacket.encode(packet);
}

export interface Decoded {
  id: number;
  rcode: string;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  answers: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
  questions: dnsPacket.Question[];
}

export function decode(bytes: Uint8Array): Decoded {
  const p = dnsPacket.decode(Buffer.from(bytes)) as dnsPacket.DecodedPacket & { rcode: string };
  return {
    id: p.id!,
    rcode: p.rcode,
    aa: p.flag_aa,
    tc: p.flag_tc,
    rd: p.flag_rd,
    ra: p.flag_ra,
    answers: p.answers ?? [],
    additionals: p.additionals ?? [],
    questions: p.questions ?? [],
  };
}

/** Every decision must be well-formed: an answer is a response carrying the query's id; no internal error. */
export function checkDecision(d: ResolverDecision, input: Uint8Array, what: string): void {
  assert.ok(d && (d.kind === 'answer' || d.kind === 'forward' || d.kind === 'drop'), what);
  if (d.kind === 'drop') assert.ok(!d.reason.startsWith('internal error'), `${what}: ${d.reason}`);
  if (d.kind === 'answer') {
    assert.ok(d.bytes.length >= 12, what);
    assert.equal((d.bytes[0]! << 8) | d.bytes[1]!, (input[0]! << 8) | input[1]!, `${what}: id echoed`);
    assert.ok(d.bytes[2]! & 0x80, `${what}: QR set`);
    assert.ok(d.bytes.length <= 4096, what);
  }
}
