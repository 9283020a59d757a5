import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  parsePeerName, peerNameToNumber, peerNameFromNumber, parseCidr, formatCidr, parseIPv4, formatIPv4,
  cidrContains, parseHostPort, networkOf, cidrsOverlap,
} from '../../../src/core/types.js';

test('peer names: canonical form, shorthand and numbers', () => {
  assert.equal(parsePeerName('AA:bb:0c:dd:ee:ff'), 'aa:bb:0c:dd:ee:ff');
  assert.equal(parsePeerName('::1'), '00:00:00:00:00:01');
  assert.equal(parsePeerName('a::b'), '0a:00:00:00:00:0b');
  const n = parsePeerName('ff:ff:ff:ff:ff:fe');
  assert.equal(peerNameFromNumber(peerNameToNumber(n)), n);
  assert.throws(() => parsePeerName('aa:bb', '--name'), /invalid --name "aa:bb": must be 6 hex bytes/);
  assert.throws(() => parsePeerName('1::2::3'), /"::" may appear only once/);
  assert.throws(() => parsePeerName('gg:00:00:00:00:00'), { code: 'ERR_CONFIG' });
});

test('CIDRs and addresses', () => {
  const c = parseCidr('10.32.0.5/12');
  assert.equal(formatCidr(c), '10.32.0.5/12');
  assert.equal(formatCidr(networkOf(c)), '10.32.0.0/12');
  assert.equal(formatIPv4(parseIPv4('255.0.10.1')), '255.0.10.1');
  assert.ok(cidrContains(c, parseIPv4('10.47.255.255')));
  assert.ok(!cidrContains(c, parseIPv4('10.48.0.0')));
  assert.ok(cidrsOverlap(parseCidr('10.0.0.0/8'), parseCidr('10.32.0.0/12')));
  assert.throws(() => parseCidr('10.32.0.0/33', '--ipalloc-range'), /invalid --ipalloc-range "10.32.0.0\/33": prefix length must be 0..32/);
  assert.throws(() => parseCidr('10.32.0.0'), /must be ADDRESS\/PREFIX/);
  assert.throws(() => parseIPv4('1.2.3.256'), /0..255/);
});

test('host:port', () => {
  assert.deepEqual(parseHostPort('10.0.0.1', 6783), { host: '10.0.0.1', port: 6783 });
  assert.deepEqual(parseHostPort('host2:7000', 6783), { host: 'host2', port: 7000 });
  assert.throws(() => parseHostPort('h:0', 6783), /port must be a number 1..65535/);
  assert.throws(() => parseHostPort('a b', 6783), /IPv4 address or host name/);
});
