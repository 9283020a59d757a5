// An in-memory HostNetwork: host links (bridge, TAP, veth host ends) and each container's interfaces
// with their addresses, so attach/detach and the daemon's own plumbing run without root. `calls` records
// every operation in order for assertions; `routes` is what ipv4Routes() reports.
import type { HostNetwork, HostRoute, VethSpec } from '../../src/core/ports.js';

export interface FakeLink {
  kind: 'bridge' | 'veth' | 'tap';
  mtu: number;
  mac?: string;
  master?: string;
  up: boolean;
  addrs: string[];
}

export interface FakeContainerIf {
  hostName: string;
  mtu: number;
  mac: string;
  up: boolean;
  addrs: string[];
}

export class FakeHostNetwork implements HostNetwork {
  readonly links = new Map<string, FakeLink>();
  /** netnsPath → ifname → interface. */
  readonly containers = new Map<string, Map<string, FakeContainerIf>>();
  routes: HostRoute[] = [];
  readonly calls: string[] = [];
  private macSeq = 1;

  /** Pretends the host already has `name` (e.g. docker0 with an address). */
  addHostLink(name: string, link: Partial<FakeLink> & { kind: FakeLink['kind'] }): void {
    this.links.set(name, { mtu: 1500, up: true, addrs: [], ...link });
  }

  /** The addresses on `ifname` inside `netnsPath` ([] when missing). */
  addrsIn(netnsPath: string, ifname: string): string[] {
    return [...(this.containers.get(netnsPath)?.get(ifname)?.addrs ?? [])];
  }

  async ensureBridge(name: string, mtu: number, mac: string): Promise<void> {
    this.calls.push(`ensureBridge ${name} ${mtu} ${mac}`);
    const l = this.links.get(name);
    if (l && l.kind !== 'bridge') throw new Error(`link "${name}" exists but is a ${l.kind}`);
    this.links.set(name, { ...(l ?? { addrs: [] }), kind: 'bridge', mtu, mac, up: true });
  }

  async deleteLink(name: string): Promise<void> {
    this.calls.push(`deleteLink ${name}`);
    this.links.delete(name);
  }

  async linkExists(name: string): Promise<boolean> {
    return this.links.has(name);
  }

  async ensureVeth(spec: VethSpec, bridge: string): Promise<void> {
    this.calls.push(`ensureVeth ${spec.netnsPath} ${spec.ifname} ${spec.hostName} ${bridge}`);
    if (!this.links.has(bridge)) throw new Error(`bridge ${bridge} does not exist`);
    let ifs = this.containers.get(spec.netnsPath);
    if (!ifs) this.containers.set(spec.netnsPath, (ifs = new Map()));
    const have = ifs.get(spec.ifname);
    if (have) {
      have.mtu = spec.mtu;
    } else {
      const mac = `02:00:00:00:00:${(this.macSeq++).toString(16).padStart(2, '0')}`;
      ifs.set(spec.ifname, { hostName: spec.hostName, mtu: spec.mtu, mac, up: false, addrs: [] });
    }
    this.links.set(spec.hostName, { kind: 'veth', mtu: spec.mtu, master: bridge, up: true, addrs: [] });
  }

  async containerAddrs(netnsPath: string, ifname: string): Promise<string[]> {
    return this.addrsIn(netnsPath, ifname);
  }

  async containerMac(netnsPath: string, ifname: string): Promise<string | undefined> {
    return this.containers.get(netnsPath)?.get(ifname)?.mac;
  }

  async addContainerAddr(netnsPath: string, ifname: string, cidr: string): Promise<void> {
    this.calls.push(`addContainerAddr ${netnsPath} ${ifname} ${cidr}`);
    const i = this.iface(netnsPath, ifname);
    if (!i.addrs.includes(cidr)) i.addrs.push(cidr);
  }

  async delContainerAddr(netnsPath: string, ifname: string, cidr: string): Promise<void> {
    this.calls.push(`delContainerAddr ${netnsPath} ${ifname} ${cidr}`);
    const i = this.containers.get(netnsPath)?.get(ifname);
    if (i) i.addrs = i.addrs.filter((a) => a !== cidr);
  }

  async finishAttach(netnsPath: string, ifname: string, cidrs: string[]): Promise<void> {
    this.calls.push(`finishAttach ${netnsPath} ${ifname} ${cidrs.join(',')}`);
    this.iface(netnsPath, ifname).up = true;
  }

  async deleteContainerLink(netnsPath: string, ifname: string): Promise<void> {
    this.calls.push(`deleteContainerLink ${netnsPath} ${ifname}`);
    const i = this.containers.get(netnsPath)?.get(ifname);
    if (!i) return;
    this.containers.get(netnsPath)!.delete(ifname);
    this.links.delete(i.hostName);
  }

  async attachToBridge(name: string, bridge: string, mtu: number): Promise<void> {
    this.calls.push(`attachToBridge ${name} ${bridge} ${mtu}`);
    if (!this.links.has(bridge)) throw new Error(`bridge ${bridge} does not exist`);
    const l = this.links.get(name);
    this.links.set(name, { ...(l ?? { kind: 'tap', addrs: [] }), mtu, master: bridge, up: true });
  }

  async replaceLinkAddr(name: string, cidr: string): Promise<void> {
    this.calls.push(`replaceLinkAddr ${name} ${cidr}`);
    const l = this.links.get(name);
    if (!l) throw new Error(`Cannot find device "${name}"`);
    if (!l.addrs.includes(cidr)) l.addrs.push(cidr);
  }

  async linkAddress(name: string): Promise<string | undefined> {
    return this.links.get(name)?.addrs[0]?.split('/')[0];
  }

  async ipv4Routes(): Promise<HostRoute[]> {
    return [...this.routes];
  }

  private iface(netnsPath: string, ifname: string): FakeContainerIf {
    const i = this.containers.get(netnsPath)?.get(ifname);
    if (!i) throw new Error(`Cannot find device "${ifname}" in ${netnsPath}`);
    return i;
  }
}
