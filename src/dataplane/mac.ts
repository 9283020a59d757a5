// Ethernet MAC helpers on raw frame bytes. MACs are 48-bit numbers so they can key a Map without
// allocating a string per frame.

export const ETH_HEADER_BYTES = 14;

/** Reads the 48-bit MAC at buf[off..off+6) as a number. */
export function macAt(buf: Uint8Array, off: number): number {
  return (
    buf[off]! * 0x10000000000 +
    buf[off + 1]! * 0x100000000 +
    ((buf[off + 2]! << 24) >>> 0) +
    (buf[off + 3]! << 16) +
    (buf[off + 4]! << 8) +
    buf[off + 5]!
  );
}

/** Destination MAC of the frame starting at off. */
export function dstMac(buf: Uint8Array, off: number): number {
  return macAt(buf, off);
}

/** Source MAC of the frame starting at off. */
export function srcMac(buf: Uint8Array, off: number): number {
  return macAt(buf, off + 6);
}

/** Group (broadcast or multicast) addresses have the low bit of the first byte set. */
export function isGroupMac(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 1) === 1;
}

export function formatMac(mac: number): string {
  const hex = mac.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

/** Writes a 48-bit number big-endian at buf[off..off+6). */
export function writeU48(buf: Uint8Array, off: number, v: number): void {
  const hi = Math.floor(v / 0x100000000);
  const lo = v >>> 0;
  buf[off] = (hi >>> 8) & 255;
  buf[off + 1] = hi & 255;
  buf[off + 2] = (lo >>> 24) & 255;
  buf[off + 3] = (lo >>> 16) & 255;
  buf[off + 4] = (lo >>> 8) & 255;
  buf[off + 5] = lo & 255;
}
