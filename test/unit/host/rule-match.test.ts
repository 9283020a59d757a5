// sameRule: a rule as firewall-rules.ts writes it matches its iptables-save listing (forms captured from
// iptables 1.8.9, nft and legacy), and differs from every other rule.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { canonicalRule, sameRule } from '../../../src/host/rule-match.js';
import { splitArgs } from '../../../src/io/iptables-save.js';

const w = (s: string) => s.split(' ');

test('our rules match their listed forms', () => {
  const pairs: Array<[string, string]> = [
    ['-j TSWEAVE', '-j TSWEAVE'],
    ['-p udp --dport 6784 -s 10.200.0.4/30 -j RETURN', '-s 10.200.0.4/30 -p udp -m udp --dport 6784 -j RETURN'],
    ['-p udp --dport 6784 -j DROP', '-p udp -m udp --dport 6784 -j DROP'],
    ['-s 10.32.0.5 ! -o weave -j MASQUERADE', '-s 10.32.0.5/32 ! -o weave -j MASQUERADE'],
    ['-o weave -d 10.32.0.0/12 -j MASQUERADE', '-d 10.32.0.0/12 -o weave -j MASQUERADE'],
    ['--protocol TCP --match tcp --dport 80 --jump DROP', '-p tcp -m tcp --dport 80 -j DROP'],
    ['-i weave -o weave -m physdev --physdev-is-bridged -j ACCEPT', '-i weave -o weave -m physdev --physdev-is-bridged -j ACCEPT'],
  ];
  for (const [ours, listed] of pairs) assert.ok(sameRule(w(ours), splitArgs(listed)), `${ours} ≡ ${listed}`);
});

test('different rules do not match', () => {
  const pairs: Array<[string, string]> = [
    ['-j TSWEAVE', '-j TSWEAVE-INPUT'],
    ['-j TSWEAVE', '-j TSWEAVE -m comment --comment x'],
    ['-i weave ! -o weave -j ACCEPT', '-i weave -o weave -j ACCEPT'],
    ['-s 10.32.0.5 -j RETURN', '-d 10.32.0.5/32 -j RETURN'],
    ['-p udp --dport 6784 -j DROP', '-p tcp -m tcp --dport 6784 -j DROP'],
    ['-p udp --dport 6784 -j DROP', '-p udp -m udp --dport 6785 -j DROP'],
    ['-j X', ''],
  ];
  for (const [ours, listed] of pairs) assert.equal(sameRule(w(ours), splitArgs(listed)), false, `${ours} ≢ ${listed}`);
});

test('canonicalRule: base matches first in iptables order, never throws on odd arguments', () => {
  assert.deepEqual(canonicalRule(w('-j X ! -o weave -s 1.2.3.4')), w('-s 1.2.3.4/32 ! -o weave -j X'));
  for (const odd of [[], ['!'], ['-s'], ['!', '-p'], ['-p', 'udp', '-m'], ['-m', 'udp', '-p']]) assert.doesNotThrow(() => canonicalRule(odd));
});
