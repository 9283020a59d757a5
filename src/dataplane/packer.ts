// Packs frames for the same next hop into datagrams (DESIGN.md §4 "Packets"): a datagram is the 14-byte
// header, then frames each prefixed by origin peer, destination peer and length, then room for the tag.
// Several small frames share one header, one seal and one send. Headers are filled in later by the
// session that seals them, since only it knows the counter and receiver index.

import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_LEN_CSUM_PARTIAL,
} from '../wire/data-packet.js';
import { macAt, writeU48 } from './mac.js';
import { completeTcp4Partial } from './tcp-csum.js';

export interface PackerInit {
  /** Largest datagram (header + frames + tag). */
  maxDatagramBytes: number;
  /** How many datagrams one flush can hold. @default 256 */
  capacity?: number;
}

/** A slab of datagrams grouped by next hop, produced by a flush. */
export class Packer {
  readonly buf: Buffer;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  /** Next-hop peer of datagram i. */
  readonly peers: Float64Array;
  count = 0;
  private readonly stride: number;
  private readonly capacity: number;
  /** Open datagram index per next hop during a fill. */
  private readonly open = new Map<number, number>();

  constructor(init: PackerInit) {
    this.stride = init.maxDatagramBytes;
    this.capacity = init.capacity ?? 256;
    this.buf = Buffer.allocUnsafe(this.stride * this.capacity);
    this.offsets = new Int32Array(this.capacity);
    this.lengths = new Int32Array(this.capacity);
    this.peers = new Float64Array(this.capacity);
  }

  /** Largest frame that fits in one datagram. */
  get maxFrameBytes(): number {
    return this.stride - DATA_HEADER_BYTES - FRAME_HEADER_BYTES - AEAD_TAG_BYTES;
  }

  get isFull(): boolean {
    return this.count >= this.capacity;
  }

  /**
   * Appends a frame for `nextHop`. Returns false when the frame can never fit (too big) or the slab is
   * full (flush, then add again).
   */
  add(nextHop: number, origin: number, dst: number, frame: Uint8Array, off: number, len: number): boolean {
    if (len > this.maxFrameBytes) return false;
    const need = FRAME_HEADER_BYTES + len;
    let i = this.open.get(nextHop);
    if (i === undefined || this.lengths[i]! + need + AEAD_TAG_BYTES > this.stride) {
      if (this.count >= this.capacity) return false;
      i = this.count++;
      this.offsets[i] = i * this.stride;
      this.lengths[i] = DATA_HEADER_BYTES;
      this.peers[i] = nextHop;
      this.open.set(nextHop, i);
    }
    const at = this.offsets[i]! + this.lengths[i]!;
    writeU48(this.buf, at, origin);
    writeU48(this.buf, at + 6, dst);
    this.buf[at + 12] = (len >>> 8) & 255;
    this.buf[at + 13] = len & 255;
    this.buf.set(frame.subarray(off, off + len), at + FRAME_HEADER_BYTES);
    this.lengths[i] = this.lengths[i]! + need;
    return true;
  }

  /** Forgets the packed datagrams (after they were sent). */
  reset(): void {
    this.count = 0;
    this.open.clear();
  }
}

/**
 * Walks the frames in a DATA body buf[off, off+len). Returns false (and stops) at the first malformed
 * frame header: a lying length must never make us read past the datagram. csumPartial (the session's
 * ends both announced it, wire/hello.ts): bit 15 of a length flags a checksum-partial TCP frame, which is
 * completed in place (and its flag cleared) before fn sees it, so JS only ever handles complete frames;
 * one that cannot be such a frame is malformed.
 */
export function forEachFrame(
  buf: Uint8Array,
  off: number,
  len: number,
  fn: (origin: number, dst: number, frameOff: number, frameLen: number) => void,
  csumPartial = false,
): boolean {
  const end = off + len;
  let p = off;
  while (p < end) {
    if (end - p < FRAME_HEADER_BYTES) return false;
    const origin = macAt(buf, p);
    const dst = macAt(buf, p + 6);
    let flen = (buf[p + 12]! << 8) | buf[p + 13]!;
    const start = p + FRAME_HEADER_BYTES;
    const partial = csumPartial && (flen & FRAME_LEN_CSUM_PARTIAL) !== 0;
    if (partial) flen &= ~FRAME_LEN_CSUM_PARTIAL;
    if (flen === 0 || start + flen > end) return false;
    if (partial) {
      if (!completeTcp4Partial(buf, start, flen)) return false;
      buf[p + 12] = buf[p + 12]! & 0x7f;
    }
    fn(origin, dst, start, flen);
    p = start + flen;
  }
  return true;
}
