// The preamble: the first bytes each side writes on a new control connection, before reading anything
// (mesh protocol.go sends "weave" + min + max; ours differs in magic so the two never confuse each other).
//
//   off  size  field
//   0    7     magic       ASCII "tsweave"
//   7    1     0x00        magic terminator (part of the magic)
//   8    1     minVersion  u8, lowest protocol version the sender speaks (≥ 1)
//   9    1     maxVersion  u8, highest protocol version the sender speaks (≥ minVersion)
//
// Negotiated version = min(both max) if that is ≥ max(both min); otherwise the handshake fails with a
// message naming both ranges (Weave's wording).

import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION } from '../core/defaults.js';
import { HandshakeError, ProtocolError } from '../core/errors.js';

export const PREAMBLE_MAGIC = Buffer.from('tsweave\0', 'ascii');
export const PREAMBLE_BYTES = PREAMBLE_MAGIC.length + 2;
export const OFF_MIN_VERSION = 8;
export const OFF_MAX_VERSION = 9;

export interface VersionRange {
  minVersion: number;
  maxVersion: number;
}

export const OUR_VERSION_RANGE: VersionRange = Object.freeze({
  minVersion: PROTOCOL_MIN_VERSION,
  maxVersion: PROTOCOL_MAX_VERSION,
});

export function encodePreamble(range: VersionRange = OUR_VERSION_RANGE): Buffer {
  const { minVersion, maxVersion } = range;
  if (!isU8(minVersion) || !isU8(maxVersion) || minVersion < 1 || minVersion > maxVersion) {
    throw new RangeError(`invalid protocol version range [${minVersion},${maxVersion}]`);
  }
  const out = Buffer.alloc(PREAMBLE_BYTES);
  PREAMBLE_MAGIC.copy(out, 0);
  out[OFF_MIN_VERSION] = minVersion;
  out[OFF_MAX_VERSION] = maxVersion;
  return out;
}

/**
 * False as soon as the bytes received so far cannot start a preamble, so a peer speaking something else
 * (an old Weave router sends only 7 bytes, an HTTP client a request line) is refused at once rather than
 * at the handshake timeout.
 */
export function couldBePreamble(prefix: Uint8Array): boolean {
  const n = Math.min(prefix.length, PREAMBLE_MAGIC.length);
  for (let i = 0; i < n; i++) if (prefix[i] !== PREAMBLE_MAGIC[i]) return false;
  return true;
}

/** Decodes exactly PREAMBLE_BYTES bytes. Throws ProtocolError (ERR_PROTOCOL) for anything else. */
export function decodePreamble(buf: Uint8Array): VersionRange {
  if (buf.length !== PREAMBLE_BYTES) {
    throw new ProtocolError(`invalid preamble: ${buf.length} bytes, expected ${PREAMBLE_BYTES}`);
  }
  for (let i = 0; i < PREAMBLE_MAGIC.length; i++) {
    if (buf[i] !== PREAMBLE_MAGIC[i]) throw new ProtocolError('not a tsweave peer (bad magic)');
  }
  const minVersion = buf[OFF_MIN_VERSION]!;
  const maxVersion = buf[OFF_MAX_VERSION]!;
  if (minVersion < 1 || minVersion > maxVersion) {
    throw new ProtocolError(`invalid preamble: version range [${minVersion},${maxVersion}] must satisfy 1 ≤ min ≤ max`);
  }
  return { minVersion, maxVersion };
}

/** Highest version both speak; HandshakeError ERR_PROTOCOL_VERSION naming both ranges if none. */
export function negotiateVersion(ours: VersionRange, remote: VersionRange): number {
  const version = Math.min(ours.maxVersion, remote.maxVersion);
  if (version < Math.max(ours.minVersion, remote.minVersion)) {
    throw new HandshakeError(
      'ERR_PROTOCOL_VERSION',
      `remote version range [${remote.minVersion},${remote.maxVersion}] is incompatible with ours [${ours.minVersion},${ours.maxVersion}]`,
      { fields: { remote, ours } },
    );
  }
  return version;
}

function isU8(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}
