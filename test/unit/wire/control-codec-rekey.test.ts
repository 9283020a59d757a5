// The 'rekey' control message (wire/control-codec.ts): strict rejection (the round trip is in
// control-codec.test.ts with every other kind).
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';

import { decodeControlMessage, packValue } from '../../../src/wire/control-codec.js';

describe('rekey control message', () => {
  it('rejects a bad op, generation or key with a ProtocolError naming the field', () => {
    const bad: Array<[unknown[], RegExp]> = [
      [[10, 0, 1, new Uint8Array(32)], /op must be 1 \(init\)/],
      [[10, 4, 1, new Uint8Array(32)], /op must be/],
      [[10, 1, 0, new Uint8Array(32)], /gen must be an integer 1\.\.4294967296, got 0/],
      [[10, 1, 2 ** 32 + 1, new Uint8Array(32)], /gen must be/],
      [[10, 1, 1.5, new Uint8Array(32)], /gen must be/],
      [[10, 1, 1, new Uint8Array(31)], /pub of init must be 32 bytes, got 31/],
      [[10, 3, 1, new Uint8Array(32)], /pub of installed must be 0 bytes/],
      [[10, 2, 1, 'key'], /pub must be binary, got string/],
      [[10, 1, 1], /has 2 fields, expected 3/],
    ];
    for (const [arr, re] of bad) {
      assert.throws(() => decodeControlMessage(packValue(arr)), (e: Error & { code?: string }) => e.code === 'ERR_PROTOCOL' && re.test(e.message), JSON.stringify(arr.slice(0, 3)));
    }
  });
});
