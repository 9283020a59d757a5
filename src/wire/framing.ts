// Length-prefixed framing on the control connection. The hello and every later control message use it:
//
//   off  size  field
//   0    4     length  u32 BE, bytes of body that follow (0 allowed by the framing; the layers above
//                      reject what they cannot use)
//   4    n     body    hello: msgpack map; messages: sealed (control-seal.ts) or plain control-codec bytes
//
// `FrameDecoder` is an incremental reader over arbitrary chunks (one byte at a time, many frames per
// chunk). It checks a frame's length against the current cap as soon as the 4 length bytes are there,
// before buffering the body, so a hostile length never makes us allocate. It also hands out raw
// fixed-size reads for the preamble, which precedes the first frame.

import { ProtocolError } from '../core/errors.js';

export const FRAME_LENGTH_BYTES = 4;
const MIN_CAPACITY = 4096;
const SHRINK_ABOVE_BYTES = 1024 * 1024;

/** `u32 BE length ‖ body` as one new buffer. */
export function encodeFrame(body: Uint8Array): Buffer {
  if (body.length > 0xffffffff) throw new RangeError(`frame body of ${body.length} bytes exceeds u32`);
  const out = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, FRAME_LENGTH_BYTES);
  return out;
}

export class FrameDecoder {
  /** Largest body accepted by `nextFrame()`; may be changed between reads (hello vs messages). */
  maxBodyBytes: number;
  /** Used in error messages: "hello", "control message". */
  what: string;
  private buf: Buffer;
  private start = 0;
  private end = 0;

  constructor(maxBodyBytes: number, what = 'frame') {
    this.maxBodyBytes = maxBodyBytes;
    this.what = what;
    this.buf = Buffer.allocUnsafe(MIN_CAPACITY);
  }

  /** Bytes received but not yet consumed. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Appends a chunk (copied). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) this.makeRoom(chunk.length);
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Up to `n` buffered bytes without consuming them (a view, valid until the next push). */
  peek(n: number): Buffer {
    return this.buf.subarray(this.start, this.start + Math.min(n, this.buffered));
  }

  /** Exactly `n` raw bytes (a copy), or undefined if fewer are buffered. */
  takeBytes(n: number): Buffer | undefined {
    if (this.buffered < n) return undefined;
    const out = Buffer.from(this.buf.subarray(this.start, this.start + n));
    this.consume(n);
    return out;
  }

  /**
   * The next complete frame body (a copy), or undefined if it has not fully arrived. Throws ProtocolError
   * as soon as the length prefix is over `maxBodyBytes`.
   */
  nextFrame(): Buffer | undefined {
    if (this.buffered < FRAME_LENGTH_BYTES) return undefined;
    const len = this.buf.readUInt32BE(this.start);
    if (len > this.maxBodyBytes) {
      throw new ProtocolError(`${this.what} length ${len} exceeds the limit of ${this.maxBodyBytes} bytes`, {
        fields: { length: len, limit: this.maxBodyBytes },
      });
    }
    if (this.buffered < FRAME_LENGTH_BYTES + len) return undefined;
    const from = this.start + FRAME_LENGTH_BYTES;
    const out = Buffer.from(this.buf.subarray(from, from + len));
    this.consume(FRAME_LENGTH_BYTES + len);
    return out;
  }

  /** Bytes of the partial frame or read waiting for more data (for "truncated" error messages). */
  describePending(): string {
    const n = this.buffered;
    if (n < FRAME_LENGTH_BYTES) return `${n} of ${FRAME_LENGTH_BYTES} length bytes`;
    return `${n - FRAME_LENGTH_BYTES} of ${this.buf.readUInt32BE(this.start)} body bytes`;
  }

  private consume(n: number): void {
    this.start += n;
    if (this.start === this.end) {
      this.start = this.end = 0;
      // Give back the memory of a huge message once it has been consumed.
      if (this.buf.length > SHRINK_ABOVE_BYTES) this.buf = Buffer.allocUnsafe(MIN_CAPACITY);
    }
  }

  private makeRoom(extra: number): void {
    const live = this.end - this.start;
    const need = live + extra;
    if (need <= this.buf.length && this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
    } else {
      let cap = this.buf.length;
      while (cap < need) cap *= 2;
      const next = Buffer.allocUnsafe(cap);
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
    }
    this.start = 0;
    this.end = live;
  }
}
