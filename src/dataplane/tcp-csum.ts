// Completing a checksum-partial IPv4 TCP frame (wire/data-packet.ts, frame length bit 15) on the JS path:
// the fast path completes these natively (native/src/offload.c tsw_tcp4_partial_ok/tsw_tcp4_complete);
// this is the same rule for the frames JS reads itself (TSWEAVE_FASTPATH=0, a fast path that stopped).
// Pure: bytes in, bytes changed in place.

import { sum16 } from './pmtu.js';

const ETH = 14;

/**
 * Completes the TCP checksum of the frame buf[off, off+len) whose checksum field holds only the
 * pseudo-header sum. false (nothing changed): it is no IPv4 TCP frame with both headers inside it and an
 * IP total length equal to the rest of the frame, so it cannot have been sent flagged by a correct peer.
 */
export function completeTcp4Partial(buf: Uint8Array, off: number, len: number): boolean {
  if (len < ETH + 40 || len > 65535 + ETH || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) return false;
  const ip = off + ETH;
  const ihl = (buf[ip]! & 15) * 4;
  if (buf[ip]! >> 4 !== 4 || ihl < 20 || buf[ip + 9] !== 6 || (((buf[ip + 6]! << 8) | buf[ip + 7]!) & 0x3fff) !== 0) return false;
  if (((buf[ip + 2]! << 8) | buf[ip + 3]!) !== len - ETH || len < ETH + ihl + 20) return false;
  const tcp = ip + ihl;
  const thl = (buf[tcp + 12]! >> 4) * 4;
  if (thl < 20 || len < ETH + ihl + thl) return false;
  // The field already holds the pseudo-header sum: summing the segment with it in gives the checksum.
  const c = ~sum16(buf, tcp, off + len - tcp) & 0xffff;
  buf[tcp + 16] = c >>> 8;
  buf[tcp + 17] = c & 255;
  return true;
}
