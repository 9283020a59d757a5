// Fakes of the PacketFilter and HostRouting ports: iptables tables as maps of chains to rule lists (with the
// built-in chains, so a jump and a flush behave as in the kernel), and a bridge's address list.
import type { ChainRef, FilterRule, HostRouting, PacketFilter, RuleListing } from '../../src/core/ports.js';

const BUILTIN: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
};

const key = (r: FilterRule) => r.join(' ');

export class FakePacketFilter implements PacketFilter {
  readonly backend = 'fake';
  readonly tables = new Map<string, Map<string, string[]>>();
  /** Calls that changed something (setChains, ensureFirst inserting, deleteRule removing…). */
  writes = 0;
  /** When set, every call fails with this message (iptables missing, lock held…). */
  failWith: string | undefined;
  /** When set, listRules fails with this message (iptables-save missing or broken); the rest works. */
  listFailsWith: string | undefined;
  /** Listing form of a rule (iptables-save's canonical text differs from ours); identity by default. */
  listedAs: (rule: string) => string = (r) => r;
  /** Calls of listRules and hasRule (the commands a check costs). */
  reads = { list: 0, has: 0 };

  constructor() {
    for (const [t, chains] of Object.entries(BUILTIN)) this.tables.set(t, new Map(chains.map((c) => [c, []])));
  }

  private table(t: string): Map<string, string[]> {
    if (this.failWith) throw new Error(this.failWith);
    const m = this.tables.get(t);
    if (!m) throw new Error(`no table ${t}`);
    return m;
  }

  /** The rules of a chain as text lines (undefined: no such chain). */
  rules(t: string, chain: string): string[] | undefined {
    return this.tables.get(t)?.get(chain);
  }

  /** `iptables -t T -F`: every chain emptied, none deleted. */
  flush(t: string): void {
    for (const rules of this.table(t).values()) rules.length = 0;
  }

  async setChains(t: string, chains: ReadonlyArray<{ chain: string; rules: readonly FilterRule[] }>): Promise<void> {
    const m = this.table(t);
    for (const c of chains) m.set(c.chain, c.rules.map(key));
    this.writes++;
  }

  async listRules(only?: readonly ChainRef[]): Promise<RuleListing> {
    this.reads.list++;
    if (this.listFailsWith) throw new Error(this.listFailsWith);
    const asked = (t: string, c: string) => !only || only.some((x) => x.table === t && x.chain === c);
    const out = new Map<string, Map<string, string[][]>>();
    for (const t of this.tables.keys()) {
      out.set(t, new Map([...this.table(t)].map(([c, rules]) => [c, asked(t, c) ? rules.map((r) => this.listedAs(r).split(' ')) : []])));
    }
    return out;
  }

  async hasRule(t: string, chain: string, rule: FilterRule): Promise<boolean> {
    this.reads.has++;
    return this.table(t).get(chain)?.includes(key(rule)) ?? false;
  }

  async ensureFirst(t: string, chain: string, rule: FilterRule): Promise<void> {
    const rules = this.table(t).get(chain);
    if (!rules) throw new Error(`no chain ${chain}`);
    if (rules.includes(key(rule))) return;
    rules.unshift(key(rule));
    this.writes++;
  }

  async deleteRule(t: string, chain: string, rule: FilterRule): Promise<void> {
    const rules = this.table(t).get(chain);
    if (!rules) return;
    const kept = rules.filter((r) => r !== key(rule));
    if (kept.length !== rules.length) this.writes++;
    rules.splice(0, rules.length, ...kept);
  }

  async listChains(t: string, prefix: string): Promise<string[]> {
    return [...this.table(t).keys()].filter((c) => !BUILTIN[t]!.includes(c) && c.startsWith(prefix));
  }

  async deleteChains(t: string, chains: readonly string[]): Promise<void> {
    for (const c of chains) this.table(t).delete(c);
    this.writes++;
  }
}

export class FakeHostRouting implements HostRouting {
  readonly bridge: string[] = [];
  readonly gateways = new Map<string, string>();
  forwarding = false;
  /** Method names that fail. */
  readonly failing = new Set<string>();

  private maybeFail(op: string): void {
    if (this.failing.has(op)) throw new Error(`${op} failed`);
  }

  async bridgeAddrs(): Promise<string[]> {
    return [...this.bridge];
  }

  async addBridgeAddr(_bridge: string, cidr: string): Promise<void> {
    this.maybeFail('addBridgeAddr');
    if (!this.bridge.includes(cidr)) this.bridge.push(cidr);
  }

  async delBridgeAddr(_bridge: string, cidr: string): Promise<void> {
    this.maybeFail('delBridgeAddr');
    const i = this.bridge.indexOf(cidr);
    if (i >= 0) this.bridge.splice(i, 1);
  }

  async enableForwarding(): Promise<void> {
    this.maybeFail('enableForwarding');
    this.forwarding = true;
  }

  async setContainerGateway(netnsPath: string, _ifname: string, gateway: string): Promise<void> {
    this.maybeFail('setContainerGateway');
    this.gateways.set(netnsPath, gateway);
  }
}
