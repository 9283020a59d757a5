// A small fuzzer for the decoders that read bytes from the network (test/fuzz/targets.ts): seeded, so a
// failure is reproducible from (target, seed, index), and mutation-based: each input is a valid encoding
// (a target's seeds) with a few random mutations, some msgpack-aware, or now and then random bytes.
//
// A target fails when its decoder throws anything but what it is allowed to (the project's ProtocolError,
// plus HandshakeError where the handshake reports a refusal), or when its own `check` finds an invariant
// broken (e.g. a frame that reaches past its datagram). The runner reports inputs/s and the failing inputs.
import { Packr } from 'msgpackr';
import type { Rng } from '../../src/core/ports.js';
import { seededRng } from '../support/rng.js';

export interface FuzzTarget {
  name: string;
  /** Valid encodings to mutate (at least one). */
  seeds: readonly Uint8Array[];
  /** Decodes one input; throws only what `allowed` accepts. */
  run(input: Uint8Array): void;
  /** True for an error the decoder is meant to throw for bad input. */
  allowed(err: unknown): boolean;
  /** Relative cost of one input (key agreement per input…): short runs give it inputs / cost. @default 1 */
  cost?: number;
  /** Largest input generated. @default 4096 */
  maxBytes?: number;
}

export interface FuzzFailure {
  target: string;
  index: number;
  input: string; // hex
  error: string;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  rejected: number;
  /** Inputs that failed (the first 20 are in `failures`). */
  failed: number;
  ms: number;
  perSecond: number;
  /** The slowest single input, in ms (a decoder that is slow on a short input is a DoS). */
  slowestMs: number;
  failures: FuzzFailure[];
}

// Bytes that change a msgpack value's type or length: nil/false/true, fixext/ext, bin/str/array/map with
// 8/16/32-bit lengths, 64-bit ints, floats, the reserved 0xc1, negative fixints.
const MSGPACK_MARKERS = [
  0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1,
  0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x90, 0x9f, 0x80, 0x8f,
  0xa0, 0xbf, 0x00, 0x7f, 0xe0, 0xff,
];
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

const packr = new Packr({ useRecords: false });

/** A random msgpack-able value: nested arrays/maps of ints, floats, strings, binaries, nil, booleans. */
export function randomValue(rng: Rng, depth = 0): unknown {
  const k = rng.int(depth > 3 ? 7 : 9);
  switch (k) {
    case 0: return null;
    case 1: return rng.int(2) === 1;
    case 2: return INTERESTING_U32[rng.int(INTERESTING_U32.length)]! * (rng.int(4) === 0 ? -1 : 1);
    case 3: return [Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, -0, NaN, Infinity, 1.5, 2 ** 64][rng.int(7)];
    case 4: return String.fromCharCode(...Array.from({ length: rng.int(20) }, () => 32 + rng.int(95)));
    case 5: return Buffer.from(rng.bytes(rng.int(40)));
    case 6: return ['aa:bb:cc:dd:ee:ff', '10.32.0.1:6783', 'g', 'req', 'topology', 'x.weave.local.', ''][rng.int(7)];
    case 7: return Array.from({ length: rng.int(6) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) o[String(randomValue(rng, 4))] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

/** One to four mutations of `base` (never longer than maxBytes). */
export function mutate(rng: Rng, base: Uint8Array, others: readonly Uint8Array[], maxBytes: number): Uint8Array {
  let b = Buffer.from(base);
  for (let m = 1 + rng.int(4); m > 0; m--) {
    const pos = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(11)) {
      case 0: // flip a bit
        if (b.length) b[pos]! ^= 1 << rng.int(8);
        break;
      case 1: // a random byte
        if (b.length) b[pos] = rng.int(256);
        break;
      case 2: // a msgpack type/length marker
        if (b.length) b[pos] = MSGPACK_MARKERS[rng.int(MSGPACK_MARKERS.length)]!;
        break;
      case 3: // an interesting big-endian u32 (length prefixes, counts, indexes)
        if (b.length >= 4) b.writeUInt32BE(INTERESTING_U32[rng.int(INTERESTING_U32.length)]!, rng.int(b.length - 3));
        break;
      case 4: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 5: // delete a range
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + rng.int(16))]);
        break;
      case 6: // insert random bytes
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(rng.bytes(1 + rng.int(16))), b.subarray(pos)]);
        break;
      case 7: { // duplicate a range
        const len = 1 + rng.int(Math.max(1, Math.min(64, b.length - pos)));
        b = Buffer.concat([b.subarray(0, pos + len), b.subarray(pos, pos + len), b.subarray(pos + len)]);
        break;
      }
      case 8: { // splice with another seed
        const o = others[rng.int(others.length)]!;
        b = Buffer.concat([b.subarray(0, pos), o.subarray(rng.int(o.length + 1))]);
        break;
      }
      case 9: // a random msgpack value inserted (a plausible field of the wrong type or shape)
        b = Buffer.concat([b.subarray(0, pos), packr.pack(randomValue(rng)), b.subarray(pos + rng.int(8))]);
        break;
      default: // append
        b = Buffer.concat([b, Buffer.from(rng.bytes(1 + rng.int(8)))]);
    }
  }
  return b.length > maxBytes ? b.subarray(0, maxBytes) : b;
}

/** The input number `index` of a run with `seed`: reproducible on its own. */
export function generate(target: FuzzTarget, seed: number, index: number): Uint8Array {
  const rng = seededRng((seed * 0x9e3779b1 + index * 0x85ebca77) >>> 0);
  const maxBytes = target.maxBytes ?? 4096;
  const r = rng.int(20);
  if (r === 0) return rng.bytes(rng.int(Math.min(maxBytes, 256)));
  if (r === 1) return packr.pack(randomValue(rng));
  const base = target.seeds[rng.int(target.seeds.length)]!;
  return mutate(rng, base, target.seeds, maxBytes);
}

export function runTarget(target: FuzzTarget, inputs: number, seed = 1): FuzzReport {
  const failures: FuzzFailure[] = [];
  let rejected = 0;
  let failed = 0;
  const t0 = performance.now();
  let slowestMs = 0;
  for (let i = 0; i < inputs; i++) {
    const input = generate(target, seed, i);
    const started = performance.now();
    try {
      target.run(input);
    } catch (err) {
      if (target.allowed(err)) {
        rejected++;
        continue;
      }
      failed++;
      if (failures.length < 20) {
        failures.push({
          target: target.name,
          index: i,
          input: Buffer.from(input).toString('hex'),
          error: err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : String(err),
        });
      }
    } finally {
      slowestMs = Math.max(slowestMs, performance.now() - started);
    }
  }
  const ms = performance.now() - t0;
  return { target: target.name, inputs, rejected, failed, ms, perSecond: Math.round(inputs / (ms / 1000)), slowestMs, failures };
}
