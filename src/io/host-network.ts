// HostNetwork over iproute2: the `weave` bridge, the veth pair per container, the container's
// addresses, its multicast route and gratuitous ARP. Not on any hot path; every step is one `ip`
// command so an operator can replay it by hand from the error message.
//
// Attach, as commands (C = container netns path, H = this process's netns, or `hostNetns`):
//   nsenter --net=C ip link add vethwepg<s> mtu M type veth peer name vethwepl<s> mtu M netns H
//   nsenter --net=C ip link set dev vethwepg<s> name ethwe
//   ip link set dev vethwepl<s> master weave ; ip link set dev vethwepl<s> type bridge_slave hairpin on
//   ip link set dev vethwepl<s> up
//   nsenter --net=C ip addr replace 10.32.0.5/12 dev ethwe
//   nsenter --net=C ip link set dev ethwe up ; ip route replace 224.0.0.0/4 dev ethwe ; arping -U …
// The container end is created *inside* the container netns (so its temporary name can never clash
// with the host's links) and the host end lands directly in ours. `nsenter --net` switches only the
// network namespace (`ip netns exec` would also switch the mount namespace and /sys).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { TsweaveError } from '../core/errors.js';
import { formatCidr, formatIPv4, parseCidr, parseIPv4 } from '../core/types.js';
import type { Logger } from '../core/logger.js';
import type { HostNetwork, HostRoute, LinkView, PortSettings, VethSpec } from '../core/ports.js';
import { CommandError, exec as defaultExec, findExecutable, type ExecFn } from './exec.js';

/** Multicast route added in every attached container (WEAVE-FACTS §8.3). */
export const MULTICAST_ROUTE = '224.0.0.0/4';
/** Host-side veth prefix (Weave: vethwepl<pid>) and container-side temporary prefix (vethwepg<pid>). */
export const HOST_VETH_PREFIX = 'vethwepl';
export const CONTAINER_TMP_VETH_PREFIX = 'vethwepg';
/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME_LEN = 15;
const ARPING_TIMEOUT_MS = 3_000;

/** Deterministic 7-character suffix for a container id (so a restarted daemon finds its own veths). */
export function vethSuffix(containerId: string): string {
  const h = createHash('sha256').update(containerId).digest();
  // 7 base-36 characters (~36 bits) of the hash: plenty to keep one host's containers apart.
  const n = h.readUInt32BE(0) * 256 + h[4]!;
  return n.toString(36).padStart(8, '0').slice(-7);
}

/** Host-side veth name for a container: "vethwepl" + 7 characters (15 in all). */
export function hostVethName(containerId: string): string {
  return HOST_VETH_PREFIX + vethSuffix(containerId);
}

/** Temporary name of the container end before it is renamed to ethwe. */
export function containerTmpVethName(hostName: string): string {
  const suffix = hostName.startsWith(HOST_VETH_PREFIX) ? hostName.slice(HOST_VETH_PREFIX.length) : vethSuffix(hostName);
  return (CONTAINER_TMP_VETH_PREFIX + suffix).slice(0, MAX_IFNAME_LEN);
}

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

function checkIfname(name: string, what: string): void {
  if (!IFNAME_RE.test(name)) {
    throw new TsweaveError('ERR_HOST_NETWORK', `invalid ${what} "${name}": must be 1..15 of A-Z a-z 0-9 _ . -`);
  }
}

/** True when an `ip` failure means "that link (or address) is not there". */
function isNoSuchDevice(err: unknown): boolean {
  return err instanceof CommandError && /does not exist|Cannot find device|No such device/.test(err.stderr);
}

export interface IprouteHostNetworkComponents {
  logger: Logger;
  /** Command runner (tests may pass a recording fake). @default exec from ./exec.js */
  exec?: ExecFn;
}

export interface IprouteHostNetworkInit {
  /**
   * Network namespace (path) that holds the bridge and the host ends of the veths. Undefined means the
   * namespace this process runs in. Tests use this to run the adapter against a "host" netns.
   * @default undefined
   */
  hostNetns?: string;
  /** @default "ip" */
  ipPath?: string;
  /** @default "nsenter" */
  nsenterPath?: string;
  /** Send gratuitous ARP after attach when arping (iputils or busybox) is available. @default true */
  gratuitousArp?: boolean;
}

interface IpLinkJson {
  ifname: string;
  mtu?: number;
  address?: string;
  flags?: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean; isolated?: boolean } };
  addr_info?: IpAddrJson['addr_info'];
}

interface IpAddrJson {
  ifname: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

export class IprouteHostNetwork implements HostNetwork {
  private readonly log: Logger;
  private readonly run: ExecFn;
  private readonly hostNetns: string | undefined;
  private readonly ip: string;
  private readonly nsenter: string;
  private readonly gratuitousArp: boolean;
  private arping: Promise<string[] | undefined> | undefined;

  constructor(components: IprouteHostNetworkComponents, init: IprouteHostNetworkInit = {}) {
    this.log = components.logger.child({ component: 'host-network' });
    this.run = components.exec ?? defaultExec;
    this.hostNetns = init.hostNetns;
    this.ip = init.ipPath ?? 'ip';
    this.nsenter = init.nsenterPath ?? 'nsenter';
    this.gratuitousArp = init.gratuitousArp ?? true;
  }

  // -------------------------------------------------------------------------------------------
  // Host side

  async ensureBridge(name: string, mtu: number, mac: string): Promise<void> {
    checkIfname(name, 'bridge name');
    const link = await this.hostLink(name);
    if (!link) {
      await this.hostIp(['link', 'add', 'name', name, 'type', 'bridge']);
      this.log.info({ bridge: name }, 'bridge created');
    } else if (link.linkinfo?.info_kind !== 'bridge') {
      throw new TsweaveError(
        'ERR_HOST_NETWORK',
        `link "${name}" exists but is ${link.linkinfo?.info_kind ? `a ${link.linkinfo.info_kind}` : 'not a bridge'}; ` +
          `remove it (ip link del ${name}) or choose another bridge name`,
        { fields: { link: name, kind: link.linkinfo?.info_kind } },
      );
    }
    await this.hostIp(['link', 'set', 'dev', name, 'mtu', String(mtu), 'address', mac.toLowerCase(), 'up']);
  }

  async deleteLink(name: string): Promise<void> {
    checkIfname(name, 'link name');
    try {
      await this.hostIp(['link', 'del', 'dev', name]);
    } catch (err) {
      if (!isNoSuchDevice(err)) throw err;
    }
  }

  async linkExists(name: string): Promise<boolean> {
    checkIfname(name, 'link name');
    return (await this.hostLink(name)) !== undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Container side

  async ensureVeth(spec: VethSpec, bridge: string): Promise<void> {
    checkIfname(spec.ifname, 'container interface name');
    checkIfname(spec.hostName, 'host veth name');
    checkIfname(bridge, 'bridge name');
    const { netnsPath, ifname, hostName, mtu } = spec;
    const log = this.log.child({ netns: netnsPath, ifname, hostName });

    const inside = await this.containerLink(netnsPath, ifname);
    const hostEnd = await this.hostLink(hostName);
    if (inside) {
      if (!hostEnd) {
        throw new TsweaveError(
          'ERR_HOST_NETWORK',
          `container ${netnsPath} already has an interface "${ifname}" whose peer is not "${hostName}" on this host; ` +
            `detach it first (or delete it: nsenter --net=${netnsPath} ip link del ${ifname})`,
          { fields: { netns: netnsPath, ifname, hostName } },
        );
      }
      log.debug('veth already present; re-applying settings');
      await this.containerIp(netnsPath, ['link', 'set', 'dev', ifname, 'mtu', String(mtu)]);
    } else {
      if (hostEnd) {
        // Stale host end (its container end is gone or elsewhere): a veth's two ends live and die together,
        // so this one belongs to an old attachment.
        log.warn('removing stale host veth');
        await this.deleteLink(hostName);
      }
      const tmp = containerTmpVethName(hostName);
      if (await this.containerLink(netnsPath, tmp)) {
        await this.containerIp(netnsPath, ['link', 'del', 'dev', tmp]); // leftover of an interrupted attach
      }
      const hostRef = this.hostNetns ?? String(process.pid);
      await this.containerIp(netnsPath, [
        'link', 'add', tmp, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', hostName, 'mtu', String(mtu), 'netns', hostRef,
      ]);
      try {
        await this.containerIp(netnsPath, ['link', 'set', 'dev', tmp, 'name', ifname]);
      } catch (err) {
        await this.containerIp(netnsPath, ['link', 'del', 'dev', tmp]).catch(() => undefined);
        throw err;
      }
      log.info('veth created');
    }
    await this.hostIp(['link', 'set', 'dev', hostName, 'mtu', String(mtu), 'master', bridge]);
    await this.hostIp(['link', 'set', 'dev', hostName, 'type', 'bridge_slave', 'hairpin', 'on']);
    await this.hostIp(['link', 'set', 'dev', hostName, 'up']);
  }

  async containerAddrs(netnsPath: string, ifname: string): Promise<string[]> {
    checkIfname(ifname, 'container interface name');
    let out: string;
    try {
      out = (await this.containerIp(netnsPath, ['-j', '-4', 'addr', 'show', 'dev', ifname])).stdout;
    } catch (err) {
      if (isNoSuchDevice(err)) return [];
      throw err;
    }
    const parsed = parseJson<IpAddrJson[]>(out, 'ip -j addr show');
    const cidrs: string[] = [];
    for (const l of parsed) {
      for (const a of l.addr_info ?? []) {
        if (a.family === 'inet' && a.local !== undefined && a.prefixlen !== undefined) cidrs.push(`${a.local}/${a.prefixlen}`);
      }
    }
    return cidrs;
  }

  async containerMac(netnsPath: string, ifname: string): Promise<string | undefined> {
    checkIfname(ifname, 'container interface name');
    let out: string;
    try {
      out = (await this.containerIp(netnsPath, ['-j', 'link', 'show', 'dev', ifname])).stdout;
    } catch (err) {
      if (isNoSuchDevice(err)) return undefined;
      throw err;
    }
    return parseJson<IpLinkJson[]>(out, 'ip -j link show')[0]?.address;
  }

  async addContainerAddr(netnsPath: string, ifname: string, cidr: string): Promise<void> {
    checkIfname(ifname, 'container interface name');
    const c = formatCidr(parseCidr(cidr, 'container address'));
    // `replace` is idempotent: adding an address that is already there succeeds.
    await this.containerIp(netnsPath, ['addr', 'replace', c, 'dev', ifname]);
  }

  async delContainerAddr(netnsPath: string, ifname: string, cidr: string): Promise<void> {
    checkIfname(ifname, 'container interface name');
    const c = formatCidr(parseCidr(cidr, 'container address'));
    try {
      await this.containerIp(netnsPath, ['addr', 'del', c, 'dev', ifname]);
    } catch (err) {
      if (isNoSuchDevice(err)) return;
      if (err instanceof CommandError && /Address not found|Cannot assign requested address/.test(err.stderr)) return;
      throw err;
    }
  }

  async finishAttach(netnsPath: string, ifname: string, cidrs: string[], gateway?: string): Promise<void> {
    checkIfname(ifname, 'container interface name');
    const addrs = cidrs.map((c) => formatCidr(parseCidr(c, 'container address')).split('/')[0]!);
    await this.containerIp(netnsPath, ['link', 'set', 'dev', ifname, 'up']);
    await this.containerIp(netnsPath, ['route', 'replace', MULTICAST_ROUTE, 'dev', ifname]);
    if (gateway !== undefined) {
      const gw = formatCidr(parseCidr(`${gateway}/32`, 'gateway')).split('/')[0]!;
      await this.containerIp(netnsPath, ['route', 'replace', 'default', 'via', gw, 'dev', ifname]);
    }
    if (!this.gratuitousArp) return;
    const arping = await this.arpingCommand();
    if (!arping) {
      this.log.debug('no arping found (iputils-arping or busybox); skipping gratuitous ARP');
      return;
    }
    // Fire and forget: the ARP goes out at once, but iputils arping then waits ~1 s for replies that
    // never come in -U mode; attach should not wait for that. Best effort: a missed gratuitous ARP only
    // delays peers noticing a reused address.
    for (const addr of addrs) {
      this.inNetns(netnsPath, arping[0]!, [...arping.slice(1), '-U', '-c', '1', '-I', ifname, addr], ARPING_TIMEOUT_MS).then(
        () => this.log.debug({ addr, ifname }, 'gratuitous arp sent'),
        (err: unknown) => this.log.debug({ err, addr, ifname }, 'gratuitous arp failed'),
      );
    }
  }

  async deleteContainerLink(netnsPath: string, ifname: string): Promise<void> {
    checkIfname(ifname, 'container interface name');
    try {
      await this.containerIp(netnsPath, ['link', 'del', 'dev', ifname]);
    } catch (err) {
      if (!isNoSuchDevice(err)) throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Host links the router itself owns (its TAP, the DNS address on the bridge) and the route table

  async attachToBridge(name: string, bridge: string, mtu: number): Promise<void> {
    checkIfname(name, 'link name');
    checkIfname(bridge, 'bridge name');
    await this.hostIp(['link', 'set', 'dev', name, 'mtu', String(mtu), 'master', bridge, 'up']);
  }

  async replaceLinkAddr(name: string, cidr: string): Promise<void> {
    checkIfname(name, 'link name');
    await this.hostIp(['addr', 'replace', formatCidr(parseCidr(cidr, 'address')), 'dev', name]);
  }

  async linkAddress(name: string): Promise<string | undefined> {
    checkIfname(name, 'link name');
    try {
      const out = (await this.hostIp(['-j', '-4', 'addr', 'show', 'dev', name])).stdout;
      return parseJson<IpAddrJson[]>(out, 'ip -j addr show')[0]?.addr_info?.[0]?.local;
    } catch {
      return undefined;
    }
  }

  async ipv4Routes(): Promise<HostRoute[]> {
    try {
      return parseJson<HostRoute[]>((await this.hostIp(['-j', '-4', 'route', 'show'])).stdout, 'ip -j route show');
    } catch {
      return [];
    }
  }

  async hostLinks(): Promise<LinkView[]> {
    const out = (await this.hostIp(['-j', '-d', 'addr', 'show'])).stdout;
    return parseJson<IpLinkJson[]>(out, 'ip -j addr show').map((l) => {
      const slave = l.linkinfo?.info_slave_data;
      const view: LinkView = {
        name: l.ifname,
        up: (l.flags ?? []).includes('UP'),
        addrs: (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local).map((a) => `${a.local}/${a.prefixlen ?? 32}`),
      };
      if (l.master !== undefined) view.master = l.master;
      if (slave?.hairpin !== undefined) view.hairpin = slave.hairpin;
      if (slave?.isolated !== undefined) view.isolated = slave.isolated;
      return view;
    });
  }

  async routeMtu(ip: string): Promise<number | undefined> {
    const route = parseJson<Array<{ dev?: string; metrics?: Array<{ mtu?: number }> }>>(
      (await this.hostIp(['-j', 'route', 'get', formatIPv4(parseIPv4(ip))])).stdout, 'ip -j route get')[0];
    const routeMtu = route?.metrics?.find((m) => m.mtu !== undefined)?.mtu;
    if (routeMtu !== undefined) return routeMtu;
    return route?.dev ? (await this.hostLink(route.dev))?.mtu : undefined;
  }

  async fragmentsCreated(): Promise<number | undefined> {
    try {
      return parseFragCreates(await readFile('/proc/net/snmp', 'utf8'));
    } catch {
      return undefined;
    }
  }

  async setBridgePort(name: string, bridge: string, settings: PortSettings): Promise<void> {
    checkIfname(name, 'link name');
    checkIfname(bridge, 'bridge name');
    const onOff = (b: boolean) => (b ? 'on' : 'off');
    await this.hostIp(['link', 'set', 'dev', name, 'master', bridge]);
    await this.hostIp(['link', 'set', 'dev', name, 'type', 'bridge_slave', 'hairpin', onOff(settings.hairpin), 'isolated', onOff(settings.isolated)]);
    await this.hostIp(['link', 'set', 'dev', name, 'up']);
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private async hostLink(name: string): Promise<IpLinkJson | undefined> {
    try {
      const { stdout } = await this.hostIp(['-j', '-d', 'link', 'show', 'dev', name]);
      return parseJson<IpLinkJson[]>(stdout, 'ip -j link show')[0];
    } catch (err) {
      if (isNoSuchDevice(err)) return undefined;
      throw err;
    }
  }

  private async containerLink(netnsPath: string, name: string): Promise<IpLinkJson | undefined> {
    try {
      const { stdout } = await this.containerIp(netnsPath, ['-j', '-d', 'link', 'show', 'dev', name]);
      return parseJson<IpLinkJson[]>(stdout, 'ip -j link show')[0];
    } catch (err) {
      if (isNoSuchDevice(err)) return undefined;
      throw err;
    }
  }

  private hostIp(args: string[]) {
    return this.hostNetns === undefined ? this.run(this.ip, args) : this.inNetns(this.hostNetns, this.ip, args);
  }

  private containerIp(netnsPath: string, args: string[]) {
    return this.inNetns(netnsPath, this.ip, args);
  }

  /** Runs a command inside a network namespace (only the net namespace is switched). */
  private async inNetns(netnsPath: string, file: string, args: string[], timeoutMs?: number) {
    try {
      return await this.run(this.nsenter, [`--net=${netnsPath}`, file, ...args], timeoutMs ? { timeoutMs } : undefined);
    } catch (err) {
      if (err instanceof CommandError && /^nsenter: /m.test(err.stderr) && !existsSync(netnsPath)) {
        throw new TsweaveError('ERR_CONTAINER_NOT_FOUND', `network namespace ${netnsPath} does not exist (container gone?)`, {
          cause: err,
          fields: { netns: netnsPath },
        });
      }
      throw err;
    }
  }

  private arpingCommand(): Promise<string[] | undefined> {
    this.arping ??= (async () => {
      const arping = await findExecutable('arping');
      if (arping) return [arping];
      const busybox = await findExecutable('busybox');
      return busybox ? [busybox, 'arping'] : undefined;
    })();
    return this.arping;
  }
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text === '' ? '[]' : text) as T;
  } catch (err) {
    throw new TsweaveError('ERR_HOST_NETWORK', `cannot parse output of ${what}: ${text.slice(0, 200)}`, { cause: err });
  }
}

/** FragCreates from /proc/net/snmp's two "Ip:" lines (names, then values); undefined if absent. */
export function parseFragCreates(snmp: string): number | undefined {
  const ip = snmp.split('\n').filter((l) => l.startsWith('Ip: '));
  if (ip.length < 2) return undefined;
  const names = ip[0]!.split(/\s+/);
  const values = ip[1]!.split(/\s+/);
  const i = names.indexOf('FragCreates');
  const v = i > 0 ? Number(values[i]) : NaN;
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
