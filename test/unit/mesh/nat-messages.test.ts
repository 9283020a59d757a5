// The 'nat' channel's messages (mesh/nat-messages.ts) and the tunnelled stream (mesh/punch-tunnel.ts):
// round trips, strict decoding of hostile payloads, chunking and close semantics.
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../../src/core/errors.js';
import { peerNameFromNumber } from '../../../src/core/types.js';
import { decodeNatMessage, encodeNatMessage, NAT_TUNNEL_CHUNK_BYTES, type NatMessage } from '../../../src/mesh/nat-messages.js';
import { PunchTunnelStream } from '../../../src/mesh/punch-tunnel.js';
import { packValue } from '../../../src/wire/control-codec.js';

const P = peerNameFromNumber(1);
const B = peerNameFromNumber(2);

describe('nat messages', () => {
  test('hint, data and close round-trip', () => {
    const msgs: NatMessage[] = [
      { t: 'hint', peer: B, endpoint: { addr: 0x0ac8000c, port: 6783 }, yours: { addr: 0x0ac8000b, port: 40000 }, listenPort: 6783 },
      { t: 'data', introducer: P, stream: 0xffffffff, bytes: Buffer.from([1, 2, 3]) },
      { t: 'close', introducer: P, stream: 0 },
    ];
    for (const m of msgs) assert.deepEqual(decodeNatMessage(encodeNatMessage(m)), m);
  });

  test('hostile payloads are ProtocolErrors, never anything else', () => {
    const bad: unknown[] = [
      [],
      [9],
      [1, B, '10.0.0.1', 6783, '10.0.0.2', 6783], // short
      [1, 'not-a-name', '10.0.0.1', 6783, '10.0.0.2', 6783, 6783],
      [1, B, '10.0.0.256', 6783, '10.0.0.2', 6783, 6783],
      [1, B, '10.0.0.1', 0, '10.0.0.2', 6783, 6783],
      [1, B, '10.0.0.1', 70000, '10.0.0.2', 6783, 6783],
      [2, P, 1, new Uint8Array(0)],
      [2, P, 1, new Uint8Array(NAT_TUNNEL_CHUNK_BYTES + 1)],
      [2, P, -1, new Uint8Array(1)],
      [2, P, 1, 'text'],
      [3, P, 1.5],
      { t: 'hint' },
    ];
    for (const v of bad) assert.throws(() => decodeNatMessage(packValue(v)), ProtocolError, JSON.stringify(v));
    assert.throws(() => decodeNatMessage(new Uint8Array([0xc1])), ProtocolError);
    assert.throws(() => decodeNatMessage(new Uint8Array(0)), ProtocolError);
  });
});

describe('the tunnelled stream', () => {
  test('writes are cut into chunks that fit a message; bytes before onData are kept; close is told once', () => {
    const sent: Uint8Array[] = [];
    let closes = 0;
    const s = new PunchTunnelStream('10.200.0.12', 6783, { data: (b) => sent.push(b), close: () => closes++ });
    const big = new Uint8Array(NAT_TUNNEL_CHUNK_BYTES * 2 + 5).map((_, i) => i & 255);
    s.write(big);
    assert.deepEqual(sent.map((b) => b.length), [NAT_TUNNEL_CHUNK_BYTES, NAT_TUNNEL_CHUNK_BYTES, 5]);
    assert.deepEqual(Buffer.concat(sent), Buffer.from(big));
    s.deliver(new Uint8Array([7]));
    const got: number[] = [];
    s.onData((c) => got.push(...c));
    s.deliver(new Uint8Array([8]));
    assert.deepEqual(got, [7, 8]);
    let closed = 0;
    s.onClose(() => closed++);
    s.close();
    s.close();
    s.remoteClosed();
    s.write(new Uint8Array([1]));
    assert.equal(closes, 1);
    assert.equal(closed, 1);
    assert.equal(sent.length, 3);
  });

  test('a remote close reports its error and sends nothing back', () => {
    let closes = 0;
    const s = new PunchTunnelStream('10.200.0.12', 6783, { data: () => undefined, close: () => closes++ });
    const errs: Array<Error | undefined> = [];
    s.remoteClosed(new Error('introducer gone'));
    s.onClose((e) => errs.push(e));
    assert.equal(errs[0]?.message, 'introducer gone');
    assert.equal(closes, 0);
  });
});
