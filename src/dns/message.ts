// DNS message parsing and building for the resolver and the forwarder. Pure; never throws on network input.
//
// Queries are validated with dns-packet's decoder (every section, every record; its exceptions are caught
// and turned into FORMERR). The question is then read again from the raw bytes so we keep exactly what the
// client sent (case, odd bytes) and can echo it verbatim. Responses are written by hand because they are
// tiny and fixed in shape, and because dns-packet does not compress names: every answer's owner is the
// question name, so it is a 2-byte pointer to offset 12 (RFC 1035 §4.1.4) and an A record costs 16 bytes
// instead of ~31 — twice as many addresses fit in 512 bytes before TC is needed.
//
//   response = header(12) | question (copied) | answers (owner = C0 0C) | OPT (11 bytes, if the query had one)

import dnsPacket from 'dns-packet';
import { DNS_EDNS_ADVERTISED_PAYLOAD_BYTES } from './constants.js';

export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, OPT: 41, ANY: 255 } as const;
export const QCLASS_IN = 1;
export const QCLASS_ANY = 255;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export type RcodeName = keyof typeof RCODE;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const FLAG_CD = 0x0010;

export interface EdnsInfo {
  /** Client's advertised UDP payload size (raw; callers clamp). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface ParsedQuery {
  id: number;
  /** Raw header flags word. */
  flags: number;
  /** Raw question section (name, type, class), echoed verbatim in responses. */
  question: Uint8Array;
  /**
   * The name for matching: lowercase, trailing dot. Undefined when a label holds bytes that cannot be part
   * of a hostname written as text ('.', control or non-ASCII bytes): such a name never matches an entry.
   */
  name: string | undefined;
  /** Printable form for logs. */
  displayName: string;
  labels: number;
  qtype: number;
  qclass: number;
  edns: EdnsInfo | undefined;
}

export type QueryParse =
  | { kind: 'ok'; query: ParsedQuery }
  /** Reply with just a header carrying this rcode (no question). */
  | { kind: 'error'; rcode: number; id: number; flags: number; reason: string }
  | { kind: 'drop'; reason: string };

/** Parses a query. Never throws. */
export function parseQuery(buf: Uint8Array): QueryParse {
  if (buf.length < 12) return { kind: 'drop', reason: 'shorter than a DNS header' };
  const id = (buf[0]! << 8) | buf[1]!;
  const flags = (buf[2]! << 8) | buf[3]!;
  if (flags & FLAG_QR) return { kind: 'drop', reason: 'not a query (QR bit set)' };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'error', rcode: RCODE.NOTIMP, id, flags, reason: `opcode ${opcode} not implemented` };
  const qdcount = (buf[4]! << 8) | buf[5]!;
  if (qdcount !== 1) return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: `QDCOUNT ${qdcount}, must be 1` };
  // Every record takes at least 11 bytes (root name, type, class, TTL, rdlength) and the question 5. Counts
  // the bytes cannot hold are refused before the decoder sees them: dns-packet allocates and walks per
  // counted record, and a 40-byte query claiming 65535 answers cost ~10-80 ms of the router's only thread.
  const records = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!) + ((buf[10]! << 8) | buf[11]!);
  if (12 + 5 + records * 11 > buf.length) {
    return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: `${records} records counted, more than ${buf.length} bytes can hold` };
  }

  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(Buffer.from(buf.buffer, buf.byteOffset, buf.length));
  } catch (err) {
    return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: `undecodable: ${(err as Error)?.message ?? String(err)}` };
  }

  // Walk the question name ourselves: plain labels only (a compression pointer in the first name could only
  // point into the header).
  let off = 12;
  let name = '';
  let display = '';
  let labels = 0;
  let printable = true;
  for (;;) {
    if (off >= buf.length) return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: 'question name runs past the end' };
    const len = buf[off++]!;
    if (len === 0) break;
    if (len > 63) return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: 'compression pointer or bad label in question name' };
    if (off + len > buf.length) return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: 'question label runs past the end' };
    for (let i = off; i < off + len; i++) {
      let c = buf[i]!;
      if (c <= 0x20 || c >= 0x7f || c === 0x2e) {
        printable = false;
        display += '\\' + c.toString().padStart(3, '0');
        continue;
      }
      display += String.fromCharCode(c);
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      name += String.fromCharCode(c);
    }
    name += '.';
    display += '.';
    labels++;
    off += len;
  }
  if (off + 4 > buf.length) return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: 'question truncated' };
  const qtype = (buf[off]! << 8) | buf[off + 1]!;
  const qclass = (buf[off + 2]! << 8) | buf[off + 3]!;
  off += 4;

  let edns: EdnsInfo | undefined;
  for (const a of decoded.additionals ?? []) {
    if (a.type !== 'OPT') continue;
    if (edns) return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: 'more than one OPT record' };
    if (a.name !== '.') return { kind: 'error', rcode: RCODE.FORMERR, id, flags, reason: 'OPT record not owned by the root' };
    const opt = a as dnsPacket.OptAnswer;
    edns = { udpSize: opt.udpPayloadSize, version: opt.ednsVersion, dnssecOk: (opt.flags & 0x8000) !== 0 };
  }

  return {
    kind: 'ok',
    query: {
      id,
      flags,
      question: buf.subarray(12, off),
      name: printable ? (labels === 0 ? '.' : name) : undefined,
      displayName: labels === 0 ? '.' : display,
      labels,
      qtype,
      qclass,
      edns,
    },
  };
}

export type AnswerRecord = { type: typeof QTYPE.A; address: number } | { type: typeof QTYPE.PTR; target: string };

export interface ResponseSpec {
  rcode: number;
  authoritative: boolean;
  answers: readonly AnswerRecord[];
  ttlS: number;
  /** Largest message allowed (the client's UDP size, or 65535 over TCP). */
  maxBytes: number;
}

/** Encodes a PTR target (normalized text name) as uncompressed labels. */
function encodeNameInto(name: string, out: Buffer, off: number): number {
  if (name !== '.') {
    for (const label of name.slice(0, -1).split('.')) {
      out[off++] = label.length;
      off += out.write(label, off, 'latin1');
    }
  }
  out[off++] = 0;
  return off;
}

function nameWireLength(name: string): number {
  return name === '.' ? 1 : name.length + 1;
}

function recordLength(r: AnswerRecord): number {
  return 2 + 10 + (r.type === QTYPE.A ? 4 : nameWireLength(r.target));
}

/**
 * Builds the response to a parsed query. If the answers do not fit in `maxBytes`, keeps the longest prefix
 * that fits and sets TC (the client retries over TCP). Never throws.
 */
export function buildResponse(q: ParsedQuery, spec: ResponseSpec): { bytes: Uint8Array; truncated: boolean } {
  const optLen = q.edns ? 11 : 0;
  let size = 12 + q.question.length + optLen;
  let count = 0;
  for (const r of spec.answers) {
    const l = recordLength(r);
    if (size + l > spec.maxBytes) break;
    size += l;
    count++;
  }
  const truncated = count < spec.answers.length;
  const out = Buffer.allocUnsafe(size);
  let flags = FLAG_QR | (q.flags & (FLAG_RD | FLAG_CD)) | FLAG_RA | (spec.rcode & 0xf);
  if (spec.authoritative) flags |= FLAG_AA;
  if (truncated) flags |= FLAG_TC;
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(count, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  out.set(q.question, 12);
  let off = 12 + q.question.length;
  const ttl = Math.max(0, Math.min(0x7fffffff, Math.floor(spec.ttlS)));
  for (let i = 0; i < count; i++) {
    const r = spec.answers[i]!;
    out[off] = 0xc0;
    out[off + 1] = 12;
    out.writeUInt16BE(r.type, off + 2);
    out.writeUInt16BE(QCLASS_IN, off + 4);
    out.writeUInt32BE(ttl, off + 6);
    if (r.type === QTYPE.A) {
      out.writeUInt16BE(4, off + 10);
      out.writeUInt32BE(r.address >>> 0, off + 12);
      off += 16;
    } else {
      out.writeUInt16BE(nameWireLength(r.target), off + 10);
      off = encodeNameInto(r.target, out, off + 12);
    }
  }
  if (q.edns) off = writeOpt(out, off, spec.rcode, q.edns.dnssecOk);
  return { bytes: off === out.length ? out : out.subarray(0, off), truncated };
}

function writeOpt(out: Buffer, off: number, rcode: number, dnssecOk: boolean): number {
  out[off] = 0; // root owner
  out.writeUInt16BE(QTYPE.OPT, off + 1);
  out.writeUInt16BE(DNS_EDNS_ADVERTISED_PAYLOAD_BYTES, off + 3);
  out[off + 5] = (rcode >> 4) & 0xff; // extended rcode (upper 8 bits)
  out[off + 6] = 0; // EDNS version 0
  out.writeUInt16BE(dnssecOk ? 0x8000 : 0, off + 7); // RFC 3225: DO copied from the query
  out.writeUInt16BE(0, off + 9);
  return off + 11;
}

/** A header-only reply (FORMERR, NOTIMP) echoing the id and RD. */
export function buildHeaderOnly(id: number, queryFlags: number, rcode: number): Uint8Array {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(FLAG_QR | (queryFlags & (FLAG_RD | (0xf << 11))) | FLAG_RA | (rcode & 0xf), 2);
  return out;
}

/** Reads the header id of a message (undefined if shorter than 2 bytes). */
export function messageId(buf: Uint8Array): number | undefined {
  return buf.length >= 2 ? (buf[0]! << 8) | buf[1]! : undefined;
}

/** Copy of `buf` with the header id replaced. */
export function withId(buf: Uint8Array, id: number): Uint8Array {
  const out = Buffer.from(buf);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}

export function isTruncated(buf: Uint8Array): boolean {
  return buf.length >= 4 && (buf[2]! & 0x02) !== 0;
}

export function rcodeOf(buf: Uint8Array): number | undefined {
  return buf.length >= 4 ? buf[3]! & 0xf : undefined;
}

export function rcodeName(rcode: number): string {
  for (const [k, v] of Object.entries(RCODE)) if (v === rcode) return k;
  return `RCODE_${rcode}`;
}
