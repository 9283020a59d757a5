// Every network decoder under the fuzzer (test/fuzz): FUZZ_INPUTS (default 5000) inputs per target, a
// fixed seed so a failure here reproduces with `FUZZ_SEED=1 npm run fuzz`. Plus the inputs fuzzing
// found, kept as regression cases.
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../../src/core/errors.js';
import { decodeDnsGossip } from '../../../src/dns/entries-codec.js';
import { decodeGossip, decodeUnicast } from '../../../src/ipam/messages.js';
import { decodeTopology } from '../../../src/mesh/topology-codec.js';
import { decodeControlMessage } from '../../../src/wire/control-codec.js';
import { decodeHello } from '../../../src/wire/hello.js';
import { checkMsgpackShape } from '../../../src/wire/msgpack-shape.js';
import { runTarget } from '../../fuzz/harness.js';
import { fuzzTargets } from '../../fuzz/targets.js';

const INPUTS = Number(process.env['FUZZ_INPUTS'] ?? 5000);

describe('fuzz: network decoders throw nothing but ProtocolError', () => {
  for (const target of fuzzTargets()) {
    test(target.name, () => {
      const r = runTarget(target, Math.max(1, Math.round(INPUTS / (target.cost ?? 1))), 1);
      console.log(`fuzz ${r.target}: ${r.inputs} inputs, ${r.perSecond}/s, ${r.rejected} rejected, slowest ${r.slowestMs.toFixed(1)} ms`);
      assert.deepEqual(r.failures, []);
      assert.ok(r.rejected > 0 || target.name === 'data-plane', 'the mutations reach the rejection paths');
    });
  }
});

function rejects(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  });
}

describe('fuzz regressions', () => {
  test('IPAM: a u64 where the version or kind goes is refused with a ProtocolError, not a BigInt TypeError', () => {
    // [1, <u64>, start, end]: JSON.stringify(BigInt) threw a TypeError out of the decoder.
    const input = Buffer.from('9401cf726e673fce0a200000ce0a300000', 'hex');
    rejects(() => decodeUnicast(input), /IPAM message kind is unknown: 8245/);
    rejects(() => decodeGossip(Buffer.from('9401cf726e673fce0a200000ce0a300000'.replace('9401', '94cf0000000000000001'), 'hex')), /IPAM message version/);
  });

  test('msgpack: an array count the bytes cannot hold is refused before msgpackr allocates (was ~2 s of CPU for 6 bytes)', () => {
    const lying = Buffer.from('dd0100019490', 'hex'); // array32 of 16 M elements, 1 byte of them
    const decoders: [string, (b: Uint8Array) => unknown][] = [
      ['hello', decodeHello], ['control', decodeControlMessage], ['topology', decodeTopology],
      ['dns', decodeDnsGossip], ['ipam gossip', decodeGossip], ['ipam unicast', decodeUnicast],
    ];
    for (const [name, decode] of decoders) {
      rejects(() => decode(lying), /malformed msgpack \(a declared count of 16777620/);
      assert.ok(name);
    }
    rejects(() => checkMsgpackShape(Buffer.from('ddffffffff', 'hex'), 'x'), /declared count of 4294967295/);
    rejects(() => checkMsgpackShape(Buffer.from('dfffffffff', 'hex'), 'x'), /declared count of 8589934590/);
    rejects(() => checkMsgpackShape(Buffer.from('c6ffffffff00', 'hex'), 'x'), /a length of 4294967295 runs past the end/);
    rejects(() => checkMsgpackShape(Buffer.from('92c1c0', 'hex'), 'x'), /reserved byte 0xc1/);
    rejects(() => checkMsgpackShape(Buffer.from('93010203'.slice(0, 6), 'hex'), 'x'), /declared count of 3 exceeds the 2 bytes left/);
    // Well-formed values pass and report where the first one ends.
    assert.equal(checkMsgpackShape(Buffer.from('92a162c4020102ff', 'hex'), 'x'), 7);
    assert.equal(checkMsgpackShape(Buffer.from('dc0002c0c3', 'hex'), 'x'), 5);
  });
});
