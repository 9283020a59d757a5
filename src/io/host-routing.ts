// HostRouting over iproute2 and /proc/sys: the host's addresses on the weave bridge (`expose`), IPv4
// forwarding, and a container's default route through its host (egress). One `ip` command per step, so
// an operator can replay it from the error message.
import { writeFile } from 'node:fs/promises';
import { TsweaveError, errorMessage } from '../core/errors.js';
import type { HostRouting } from '../core/ports.js';
import { formatCidr, parseCidr, parseIPv4, formatIPv4 } from '../core/types.js';
import { CommandError, exec as defaultExec, type ExecFn } from './exec.js';

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

function checkIfname(name: string): string {
  if (!IFNAME_RE.test(name)) throw new TsweaveError('ERR_HOST_NETWORK', `invalid interface name "${name}"`);
  return name;
}

export interface IprouteHostRoutingComponents {
  /** @default exec from ./exec.js */
  exec?: ExecFn;
  /** Writes a /proc/sys file (tests pass a fake). @default fs.writeFile */
  writeSysctl?: (path: string, value: string) => Promise<void>;
}

export class IprouteHostRouting implements HostRouting {
  private readonly run: ExecFn;
  private readonly writeSysctl: (path: string, value: string) => Promise<void>;

  constructor(c: IprouteHostRoutingComponents = {}) {
    this.run = c.exec ?? defaultExec;
    this.writeSysctl = c.writeSysctl ?? ((path, value) => writeFile(path, value));
  }

  async bridgeAddrs(bridge: string): Promise<string[]> {
    let out: string;
    try {
      out = (await this.run('ip', ['-j', '-4', 'addr', 'show', 'dev', checkIfname(bridge)])).stdout;
    } catch (err) {
      if (err instanceof CommandError && /does not exist|Cannot find device/.test(err.stderr)) return [];
      throw err;
    }
    const links = JSON.parse(out === '' ? '[]' : out) as Array<{ addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }> }>;
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local && a.prefixlen !== undefined).map((a) => `${a.local}/${a.prefixlen}`));
  }

  async addBridgeAddr(bridge: string, cidr: string): Promise<void> {
    await this.run('ip', ['addr', 'replace', formatCidr(parseCidr(cidr, 'address')), 'dev', checkIfname(bridge)]);
  }

  async delBridgeAddr(bridge: string, cidr: string): Promise<void> {
    try {
      await this.run('ip', ['addr', 'del', formatCidr(parseCidr(cidr, 'address')), 'dev', checkIfname(bridge)]);
    } catch (err) {
      if (err instanceof CommandError && /Cannot assign requested address|Address not found|does not exist|Cannot find device/.test(err.stderr)) return;
      throw err;
    }
  }

  async enableForwarding(bridge: string): Promise<void> {
    for (const [path, value] of [
      ['/proc/sys/net/ipv4/ip_forward', '1'],
      [`/proc/sys/net/ipv4/conf/${checkIfname(bridge)}/promote_secondaries`, '1'],
    ] as const) {
      try {
        await this.writeSysctl(path, value);
      } catch (err) {
        throw new TsweaveError('ERR_HOST_NETWORK', `cannot write ${value} to ${path}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }

  async setContainerGateway(netnsPath: string, ifname: string, gateway: string): Promise<void> {
    const gw = formatIPv4(parseIPv4(gateway, 'gateway'));
    await this.run('nsenter', [`--net=${netnsPath}`, 'ip', 'route', 'replace', 'default', 'via', gw, 'dev', checkIfname(ifname)]);
  }
}
