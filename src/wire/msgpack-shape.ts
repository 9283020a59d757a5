// A linear pre-check of msgpack bytes from the network, before msgpackr decodes them.
//
// msgpackr allocates and fills an array of the *declared* length before it notices the data ran out:
// the 6 bytes `dd 01 00 01 94 90` (array32 of 16 M elements) cost it about 2 s of CPU, a declared
// 0xffffffff minutes; found by test/fuzz, and reachable before authentication through the hello. Here
// every container's declared count is checked against the bytes left (each element takes at least one
// byte) and every length-prefixed str/bin/ext against the buffer, in one pass with no allocation, so a
// lying count is refused at once. The reserved byte 0xc1 is refused too.

import { ProtocolError } from '../core/errors.js';

/** Throws ProtocolError "invalid WHAT: …" unless `buf` starts with one well-shaped msgpack value; returns its end. */
export function checkMsgpackShape(buf: Uint8Array, what: string): number {
  const len = buf.length;
  let pos = 0;
  let pending = 1; // values still to read; each needs at least one more byte
  const u = (n: number): number => {
    if (pos + n > len) fail('truncated');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[pos + i]!;
    pos += n;
    return v;
  };
  const skip = (n: number): void => {
    if (n > len - pos) fail(`a length of ${n} runs past the end`);
    pos += n;
  };
  const children = (n: number): void => {
    if (n > len - pos - pending) fail(`a declared count of ${n} exceeds the ${len - pos} bytes left`);
    pending += n;
  };
  function fail(why: string): never {
    throw new ProtocolError(`invalid ${what}: malformed msgpack (${why} at byte ${pos})`);
  }
  while (pending > 0) {
    if (pos >= len) fail('truncated');
    const t = buf[pos++]!;
    pending--;
    if (t <= 0x7f || t >= 0xe0) continue; // fixints
    if (t <= 0x8f) children(2 * (t & 0x0f));
    else if (t <= 0x9f) children(t & 0x0f);
    else if (t <= 0xbf) skip(t & 0x1f);
    else {
      switch (t) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc4: case 0xd9: skip(u(1)); break;
        case 0xc5: case 0xda: skip(u(2)); break;
        case 0xc6: case 0xdb: skip(u(4)); break;
        case 0xc7: skip(u(1) + 1); break;
        case 0xc8: skip(u(2) + 1); break;
        case 0xc9: skip(u(4) + 1); break;
        case 0xca: skip(4); break;
        case 0xcb: skip(8); break;
        case 0xcc: case 0xd0: skip(1); break;
        case 0xcd: case 0xd1: skip(2); break;
        case 0xce: case 0xd2: skip(4); break;
        case 0xcf: case 0xd3: skip(8); break;
        case 0xd4: skip(2); break;
        case 0xd5: skip(3); break;
        case 0xd6: skip(5); break;
        case 0xd7: skip(9); break;
        case 0xd8: skip(17); break;
        case 0xdc: children(u(2)); break;
        case 0xdd: children(u(4)); break;
        case 0xde: children(2 * u(2)); break;
        case 0xdf: children(2 * u(4)); break;
        default: fail(`reserved byte 0x${t.toString(16)}`); // 0xc1
      }
    }
  }
  return pos;
}
