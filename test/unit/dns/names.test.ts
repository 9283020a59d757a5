import { test } from 'vitest';
import assert from 'node:assert/strict';
import { isInDomain, labelCount, parseDomain, parseHostname, parseReverseName, reverseName, tryNormalizeName } from '../../../src/dns/names.js';
import { parseIPv4 } from '../../../src/core/types.js';

test('names: normalize, domain membership, reverse names', () => {
  assert.equal(tryNormalizeName('Web.Weave.Local'), 'web.weave.local.');
  assert.equal(tryNormalizeName('web.weave.local.'), 'web.weave.local.');
  for (const bad of ['', '.', 'a..b', '-a.b', 'a b', 'a'.repeat(64) + '.x', 'x.'.repeat(130)]) assert.equal(tryNormalizeName(bad), undefined, bad);
  assert.equal(parseDomain('weave.local'), 'weave.local.');
  assert.equal(parseHostname('web', 'weave.local.'), 'web.weave.local.');
  assert.equal(parseHostname('web.example.com', 'weave.local.'), 'web.example.com.');
  assert.throws(() => parseHostname('we b', 'weave.local.', 'dns-add -h'), /invalid dns-add -h "we b"/);
  assert.ok(isInDomain('a.weave.local.', 'weave.local.'));
  assert.ok(isInDomain('weave.local.', 'weave.local.'));
  assert.ok(!isInDomain('aweave.local.', 'weave.local.'));
  assert.equal(labelCount('.'), 0);
  assert.equal(labelCount('web.'), 1);
  assert.equal(labelCount('a.b.c.'), 3);
  assert.equal(parseReverseName('4.3.2.1.in-addr.arpa.'), parseIPv4('1.2.3.4'));
  assert.equal(reverseName(parseIPv4('10.32.0.1')), '1.0.32.10.in-addr.arpa.');
  for (const bad of ['3.2.1.in-addr.arpa.', '256.3.2.1.in-addr.arpa.', '01.3.2.1.in-addr.arpa.', 'a.3.2.1.in-addr.arpa.']) {
    assert.equal(parseReverseName(bad), undefined, bad);
  }
});
