// The fast datapath's heartbeat frames (fastdp.ts): Ethernet frames one router writes into its heartbeat
// TAP addressed to the peer router's heartbeat MAC, so the kernel carries them over VXLAN (the heartbeat
// device: same UDP port and MTU as the data device, its own VNI and bridge, io/vxlan.ts) to the peer's
// heartbeat TAP. A ping is padded to the overlay MTU (the reply
// proves full-size frames cross); a pong answers it. Both carry the sender's local container MACs, which
// is how each end learns which MACs to program towards the other (the router never sees the frames the
// kernel carries, so it cannot learn them from traffic).
//
//   dst MAC (6) = heartbeatMac(receiver)   src MAC (6) = heartbeatMac(sender)   ethertype 0x88b5
//   magic "TSFD" (4) | version 1 (1) | kind 1 ping / 2 pong (1) | sender peer (6) | seq u32 (4)
//   | MAC count u16 (2) | MACs (6 each) | zero padding
//
// A sender with more MACs than one frame holds fills the frame and rotates the rest over beats; so a
// heartbeat with room left for another MAC lists every MAC its sender has (`complete`), and the receiver
// forgets at once the sender's MACs it no longer lists (a container that left) instead of waiting for them
// to expire. A full frame proves nothing either way.
//
// Anything from the network is checked; a bad frame decodes to undefined (the caller counts it).

import { ETH_HEADER_BYTES, isGroupMac, macAt, writeU48 } from './mac.js';

export const FASTDP_ETHERTYPE = 0x88b5;
const MAGIC = 0x54534644; // "TSFD"
const VERSION = 1;
export const HB_PING = 1;
export const HB_PONG = 2;
const BODY_FIXED_BYTES = 4 + 1 + 1 + 6 + 4 + 2;
export const HB_HEADER_BYTES = ETH_HEADER_BYTES + BODY_FIXED_BYTES;

export interface Heartbeat {
  kind: typeof HB_PING | typeof HB_PONG;
  /** Sender's peer name as a 48-bit number. */
  sender: number;
  /** The receiver's heartbeat MAC the frame was addressed to. */
  dst: number;
  seq: number;
  macs: number[];
  /** Decoded only: the frame had room for more MACs, so `macs` is all of the sender's (see above). */
  complete?: boolean;
}

/**
 * The MAC a router's heartbeats are addressed to: its peer name made locally administered and unicast,
 * with the second-lowest bit of the first byte flipped so it differs from the bridge's MAC (identity.ts).
 */
export function heartbeatMac(peer: number): number {
  const hi = Math.floor(peer / 0x10000000000);
  const rest = peer - hi * 0x10000000000;
  const first = ((hi & 0xfc) | 0x02) ^ 0x04;
  return first * 0x10000000000 + rest;
}

/** How many MACs fit in one heartbeat frame of at most `frameBytes`. */
export function macsPerFrame(frameBytes: number): number {
  return Math.max(0, Math.floor((frameBytes - HB_HEADER_BYTES) / 6));
}

/**
 * Writes a heartbeat into out[0..) and returns its length: `padTo` bytes (a ping, to test the MTU) or
 * just what it holds. `macs` beyond what fits are left out (the caller rotates them over beats).
 */
export function encodeHeartbeat(out: Uint8Array, hb: Heartbeat, padTo = 0): number {
  const room = macsPerFrame(padTo > 0 ? Math.min(padTo, out.length) : out.length);
  const n = Math.min(hb.macs.length, room, 0xffff);
  const len = Math.max(HB_HEADER_BYTES + n * 6, padTo);
  out.fill(0, 0, len);
  writeU48(out, 0, hb.dst);
  writeU48(out, 6, heartbeatMac(hb.sender));
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint16(12, FASTDP_ETHERTYPE);
  v.setUint32(14, MAGIC);
  out[18] = VERSION;
  out[19] = hb.kind;
  writeU48(out, 20, hb.sender);
  v.setUint32(26, hb.seq >>> 0);
  v.setUint16(30, n);
  for (let i = 0; i < n; i++) writeU48(out, HB_HEADER_BYTES + i * 6, hb.macs[i]!);
  return len;
}

/** Parses a frame read from the heartbeat TAP; undefined if it is not a well-formed heartbeat. */
export function decodeHeartbeat(buf: Uint8Array, off: number, len: number): Heartbeat | undefined {
  if (len < HB_HEADER_BYTES) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset + off, len);
  if (v.getUint16(12) !== FASTDP_ETHERTYPE || v.getUint32(14) !== MAGIC || buf[off + 18] !== VERSION) return undefined;
  const kind = buf[off + 19];
  if (kind !== HB_PING && kind !== HB_PONG) return undefined;
  const sender = macAt(buf, off + 20);
  // The source MAC must be the sender's own heartbeat MAC: a frame cannot claim to be another peer's
  // by its body alone.
  if (macAt(buf, off + 6) !== heartbeatMac(sender)) return undefined;
  const n = v.getUint16(30);
  if (HB_HEADER_BYTES + n * 6 > len) return undefined;
  const macs: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = off + HB_HEADER_BYTES + i * 6;
    // Group MACs are never a container's address; they would steal broadcast from the sleeve.
    if (!isGroupMac(buf, at)) macs.push(macAt(buf, at));
  }
  return { kind, sender, dst: macAt(buf, off), seq: v.getUint32(26), macs, complete: n < macsPerFrame(len) };
}
