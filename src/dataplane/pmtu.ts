// Frames too big for one overlay datagram (DESIGN.md §4 "MTU"). The overlay never drops them silently:
//
//   IPv4, DF set, unicast dst MAC   → ICMP "fragmentation needed" (type 3 code 4, next-hop MTU = the
//                                     overlay MTU) written back to the bridge, addressed to the sender,
//                                     so its kernel lowers the path MTU (ping shows "Frag needed and DF
//                                     set (mtu = 1376)", `ip route get` shows "mtu 1376").
//   IPv4, DF clear                  → fragmented here into pieces of at most the overlay MTU, each sent
//                                     on as its own frame (the receiver's kernel reassembles).
//   IPv6, unicast dst MAC           → ICMPv6 "packet too big" (type 2, MTU = max(overlay MTU, 1280)).
//   anything else (ARP is never this big; DF multicast/broadcast, IPv6 multicast, other ethertypes)
//                                   → dropped and counted (no ICMP errors for group destinations,
//                                     RFC 1812 §4.3.2.7 / RFC 4443 §2.4).
//
// Mirrors Weave's sleeve (router/ethernet_decoder.go makeICMPFragNeeded): the ICMP frame swaps the
// Ethernet and IP addresses of the offending frame, so it looks as if the destination answered.
// Pure functions over caller-provided buffers; nothing here allocates except the tiny checksum loop.

import { ETH_HEADER_BYTES } from './mac.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const ICMP_HEADER = 8;
const IPV6_MIN_MTU = 1280;
/** The ICMPv6 error (IPv6 header + ICMPv6 + quoted packet) must not exceed the IPv6 minimum MTU. */
const ICMPV6_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HEADER - ICMP_HEADER;

/** Largest ICMP(v6) error frame these functions write. */
export const TOO_BIG_REPLY_MAX_BYTES = ETH_HEADER_BYTES + IPV6_MIN_MTU;

export type TooBigKind = 'icmp4' | 'fragment4' | 'icmp6' | 'drop';

/** What to do with an oversize frame buf[off, off+len). */
export function classifyTooBig(buf: Uint8Array, off: number, len: number, isGroupDst: boolean): TooBigKind {
  if (len < ETH_HEADER_BYTES + IPV4_MIN_HEADER) return 'drop';
  const etherType = (buf[off + 12]! << 8) | buf[off + 13]!;
  const ip = off + ETH_HEADER_BYTES;
  if (etherType === ETHERTYPE_IPV4) {
    if (buf[ip]! >> 4 !== 4) return 'drop';
    const ihl = (buf[ip]! & 0x0f) * 4;
    const total = (buf[ip + 2]! << 8) | buf[ip + 3]!;
    if (ihl < IPV4_MIN_HEADER || total < ihl || ETH_HEADER_BYTES + total > len) return 'drop';
    const df = (buf[ip + 6]! & 0x40) !== 0;
    if (!df) return 'fragment4';
    return isGroupDst ? 'drop' : 'icmp4';
  }
  if (etherType === ETHERTYPE_IPV6) {
    if (len < ETH_HEADER_BYTES + IPV6_HEADER || buf[ip]! >> 4 !== 6 || isGroupDst) return 'drop';
    return 'icmp6';
  }
  return 'drop';
}

/** Internet checksum (RFC 1071) of buf[off, off+len), folded, not complemented, starting from `sum`. */
export function sum16(buf: Uint8Array, off: number, len: number, sum = 0): number {
  let i = 0;
  for (; i + 1 < len; i += 2) sum += (buf[off + i]! << 8) | buf[off + i + 1]!;
  if (i < len) sum += buf[off + i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 255;
  buf[off + 1] = v & 255;
}

/** Ethernet header of the reply: the offending frame's addresses swapped. */
function swapEthernet(frame: Uint8Array, off: number, out: Uint8Array, etherType: number): void {
  out.set(frame.subarray(off + 6, off + 12), 0);
  out.set(frame.subarray(off, off + 6), 6);
  writeU16(out, 12, etherType);
}

/**
 * Writes an ICMP "fragmentation needed" frame for the IPv4 frame buf[off, off+len) into `out` (at 0) and
 * returns its length. Quotes the offending IP header plus 8 bytes of its payload (RFC 792).
 */
export function buildFragNeeded(buf: Uint8Array, off: number, len: number, mtu: number, out: Uint8Array): number {
  const ip = off + ETH_HEADER_BYTES;
  const ihl = (buf[ip]! & 0x0f) * 4;
  const quote = Math.min(ihl + 8, len - ETH_HEADER_BYTES);
  const ipLen = IPV4_MIN_HEADER + ICMP_HEADER + quote;
  swapEthernet(buf, off, out, ETHERTYPE_IPV4);
  const o = ETH_HEADER_BYTES;
  out[o] = 0x45;
  out[o + 1] = 0xc0; // internetwork control, as kernels send ICMP errors
  writeU16(out, o + 2, ipLen);
  writeU16(out, o + 4, 0); // id
  writeU16(out, o + 6, 0); // flags/fragment offset
  out[o + 8] = 64; // TTL
  out[o + 9] = 1; // ICMP
  writeU16(out, o + 10, 0);
  out.set(buf.subarray(ip + 16, ip + 20), o + 12); // src = the original destination
  out.set(buf.subarray(ip + 12, ip + 16), o + 16); // dst = the original source
  writeU16(out, o + 10, ~sum16(out, o, IPV4_MIN_HEADER) & 0xffff);
  const icmp = o + IPV4_MIN_HEADER;
  out[icmp] = 3; // destination unreachable
  out[icmp + 1] = 4; // fragmentation needed and DF set
  writeU16(out, icmp + 2, 0);
  writeU16(out, icmp + 4, 0); // unused
  writeU16(out, icmp + 6, mtu); // next-hop MTU (RFC 1191)
  out.set(buf.subarray(ip, ip + quote), icmp + ICMP_HEADER);
  writeU16(out, icmp + 2, ~sum16(out, icmp, ICMP_HEADER + quote) & 0xffff);
  return ETH_HEADER_BYTES + ipLen;
}

/**
 * Writes an ICMPv6 "packet too big" frame for the IPv6 frame buf[off, off+len) into `out` (at 0) and
 * returns its length. Quotes as much of the packet as fits the IPv6 minimum MTU (RFC 4443 §3.2).
 */
export function buildPacketTooBig6(buf: Uint8Array, off: number, len: number, mtu: number, out: Uint8Array): number {
  const ip = off + ETH_HEADER_BYTES;
  const quote = Math.min(ICMPV6_MAX_QUOTE, len - ETH_HEADER_BYTES);
  const payloadLen = ICMP_HEADER + quote;
  swapEthernet(buf, off, out, ETHERTYPE_IPV6);
  const o = ETH_HEADER_BYTES;
  out[o] = 0x60;
  out[o + 1] = 0;
  out[o + 2] = 0;
  out[o + 3] = 0;
  writeU16(out, o + 4, payloadLen);
  out[o + 6] = 58; // ICMPv6
  out[o + 7] = 255; // hop limit
  out.set(buf.subarray(ip + 24, ip + 40), o + 8); // src = the original destination
  out.set(buf.subarray(ip + 8, ip + 24), o + 24); // dst = the original source
  const icmp = o + IPV6_HEADER;
  out[icmp] = 2; // packet too big
  out[icmp + 1] = 0;
  writeU16(out, icmp + 2, 0);
  const m = Math.max(mtu, IPV6_MIN_MTU);
  writeU16(out, icmp + 4, Math.floor(m / 0x10000));
  writeU16(out, icmp + 6, m & 0xffff);
  out.set(buf.subarray(ip, ip + quote), icmp + ICMP_HEADER);
  // Pseudo-header: src, dst, upper-layer length (32 bits), next header (32 bits).
  let sum = sum16(out, o + 8, 32);
  sum += payloadLen;
  sum += 58;
  sum = sum16(out, icmp, payloadLen, sum);
  writeU16(out, icmp + 2, ~sum & 0xffff);
  return ETH_HEADER_BYTES + IPV6_HEADER + payloadLen;
}

/**
 * Splits the IPv4 frame buf[off, off+len) (DF clear) into fragments whose IP packets are at most `mtu`
 * bytes, calling `emit(out, 0, frameLen)` for each; `out` (≥ ETH_HEADER_BYTES + mtu bytes) is reused, so
 * `emit` must copy. The whole header, options included, is repeated in every fragment (receivers accept
 * it; RFC 791 only asks that non-copied options be left out). Returns the number of fragments, or 0 when
 * the packet cannot be split (header too big for the MTU).
 */
export function fragmentIPv4(
  buf: Uint8Array,
  off: number,
  len: number,
  mtu: number,
  out: Uint8Array,
  emit: (out: Uint8Array, off: number, len: number) => void,
): number {
  const ip = off + ETH_HEADER_BYTES;
  const ihl = (buf[ip]! & 0x0f) * 4;
  const total = (buf[ip + 2]! << 8) | buf[ip + 3]!;
  const per = Math.floor((mtu - ihl) / 8) * 8;
  if (per < 8) return 0;
  const flagsOff = (buf[ip + 6]! << 8) | buf[ip + 7]!;
  const baseOffset = flagsOff & 0x1fff; // this may already be a fragment
  const hadMore = (flagsOff & 0x2000) !== 0;
  const dataLen = total - ihl;
  let n = 0;
  for (let at = 0; at < dataLen; at += per) {
    const chunk = Math.min(per, dataLen - at);
    const last = at + chunk >= dataLen;
    out.set(buf.subarray(off, ip + ihl), 0);
    const o = ETH_HEADER_BYTES;
    writeU16(out, o + 2, ihl + chunk);
    writeU16(out, o + 6, (last && !hadMore ? 0 : 0x2000) | (baseOffset + at / 8));
    writeU16(out, o + 10, 0);
    writeU16(out, o + 10, ~sum16(out, o, ihl) & 0xffff);
    out.set(buf.subarray(ip + ihl + at, ip + ihl + at + chunk), o + ihl);
    emit(out, 0, ETH_HEADER_BYTES + ihl + chunk);
    n++;
  }
  return n;
}
