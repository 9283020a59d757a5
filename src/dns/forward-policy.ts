// Upstream forwarding policy, pure: how a forwarded query is sent, which replies are accepted, and what the
// client gets. The sockets and timers live in io/dns-upstream.ts.
//
//   - Each upstream attempt carries a fresh random id (the client's id is restored on the way back).
//   - A reply is accepted only if it is a well-formed response with our id and the same question
//     (name compared case-insensitively); anything else is ignored (spoofing, stray or late datagrams).
//   - A reply larger than the client accepts is cut to header + question with TC set.
//   - No upstream answered (timeouts, errors) → SERVFAIL.

import dnsPacket from 'dns-packet';
import { RCODE, buildResponse, messageId, withId, type ParsedQuery } from './message.js';

export type ReplyCheck = { ok: true } | { ok: false; reason: string };

/** The bytes to send upstream: the client's query with our id. */
export function upstreamQuery(original: Uint8Array, upstreamId: number): Uint8Array {
  return withId(original, upstreamId);
}

function lowerAscii(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** Checks an upstream reply against what we sent. Never throws. */
export function checkUpstreamReply(reply: Uint8Array, upstreamId: number, q: ParsedQuery): ReplyCheck {
  if (reply.length < 12) return { ok: false, reason: 'shorter than a DNS header' };
  if (messageId(reply) !== upstreamId) return { ok: false, reason: 'id does not match' };
  if ((reply[2]! & 0x80) === 0) return { ok: false, reason: 'not a response (QR bit clear)' };
  const qd = (reply[4]! << 8) | reply[5]!;
  if (qd !== 1) return { ok: false, reason: `QDCOUNT ${qd}, expected 1` };
  if (reply.length < 12 + q.question.length) return { ok: false, reason: 'question truncated' };
  for (let i = 0; i < q.question.length; i++) {
    if (lowerAscii(reply[12 + i]!) !== lowerAscii(q.question[i]!)) return { ok: false, reason: 'question does not match' };
  }
  // A truncated UDP reply may legitimately be cut anywhere after the question; otherwise it must decode.
  const truncated = (reply[2]! & 0x02) !== 0;
  if (!truncated) {
    try {
      dnsPacket.decode(Buffer.from(reply.buffer, reply.byteOffset, reply.length));
    } catch (err) {
      return { ok: false, reason: `undecodable: ${(err as Error)?.message ?? String(err)}` };
    }
  }
  return { ok: true };
}

/**
 * The upstream reply as the client should get it: the client's id, and cut to header + question with TC if
 * it is larger than the client accepts.
 */
export function replyForClient(reply: Uint8Array, q: ParsedQuery, maxReplyBytes: number): Uint8Array {
  if (reply.length <= maxReplyBytes) return withId(reply, q.id);
  const out = Buffer.alloc(12 + q.question.length);
  out.set(reply.subarray(0, 4), 0);
  out.writeUInt16BE(q.id, 0);
  out[2] = out[2]! | 0x02; // TC
  out.writeUInt16BE(1, 4);
  out.set(q.question, 12);
  return out;
}

/** SERVFAIL for a query no upstream answered. */
export function servfail(q: ParsedQuery): Uint8Array {
  return buildResponse(q, { rcode: RCODE.SERVFAIL, authoritative: false, answers: [], ttlS: 0, maxBytes: 65535 }).bytes;
}
