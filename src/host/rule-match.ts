// Whether a rule as we wrote it (firewall-rules.ts) and one as iptables lists it (iptables-save) are the
// same rule. iptables lists rules in a canonical form of its own: long options as short ones (`--jump` →
// `-j`), a single address with its prefix (`-s 10.0.0.1` → `-s 10.0.0.1/32`), the base matches first in a
// fixed order (`-s`, `-d`, `-i`, `-o`, `-p`, each with its `!`), and the protocol's match module named
// before its options (`-p udp --dport 53` → `-p udp -m udp --dport 53`). Both sides are brought to one
// form (short options, addresses with prefix, base matches first in that order, the protocol's module
// left out) and compared argument by argument. A difference we do not know of only makes the comparison
// fail; daemon/firewall.ts then asks iptables itself (`-C`) for that rule, so an unknown form costs a
// command, never a missed flush or a restore loop. Pure.
import type { FilterRule } from '../core/ports.js';

const SHORT: Readonly<Record<string, string>> = {
  '--jump': '-j', '--goto': '-g', '--source': '-s', '--src': '-s', '--destination': '-d', '--dst': '-d',
  '--in-interface': '-i', '--out-interface': '-o', '--protocol': '-p', '--match': '-m',
};
/** The base matches, in the order iptables lists them. */
const BASE = ['-s', '-d', '-i', '-o', '-p'];
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** `rule` in the form both sides are compared in (see above). */
export function canonicalRule(rule: FilterRule): string[] {
  const base = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < rule.length; i++) {
    const negated = rule[i] === '!' && i + 1 < rule.length;
    const opt = SHORT[rule[negated ? i + 1 : i]!] ?? rule[negated ? i + 1 : i]!;
    const value = rule[negated ? i + 2 : i + 1];
    if (BASE.includes(opt) && value !== undefined && !base.has(opt)) {
      const v = opt === '-p' ? value.toLowerCase() : (opt === '-s' || opt === '-d') && IPV4.test(value) ? `${value}/32` : value;
      base.set(opt, negated ? ['!', opt, v] : [opt, v]);
      i += negated ? 2 : 1;
    } else rest.push(SHORT[rule[i]!] ?? rule[i]!);
  }
  const proto = base.get('-p')?.at(-1);
  const out = BASE.flatMap((o) => base.get(o) ?? []);
  for (let i = 0; i < rest.length; i++) {
    // The protocol's own match module is implied by -p: left out wherever iptables names it.
    if (rest[i] === '-m' && proto !== undefined && rest[i + 1]?.toLowerCase() === proto) i++;
    else out.push(rest[i]!);
  }
  return out;
}

/** True when `listed` (from iptables-save) is `wanted` (as we wrote it). */
export function sameRule(wanted: FilterRule, listed: FilterRule): boolean {
  const a = canonicalRule(wanted), b = canonicalRule(listed);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
