// Docker's remote network driver and IPAM driver (libnetwork plugin protocol v1), as Weave's `weavemesh`
// plugin: what each call means for tsweave, over a façade of the router's IPAM and host network (no I/O
// here). The HTTP side is io/docker-plugin-server.ts; the façade is daemon/docker-plugin-host.ts.
//
// Addresses: Docker's IPAM calls carry no container id, so each address handed out is owned in tsweave's
// IPAM by a fresh id "weavemesh:<token>" and found again by address when Docker releases it. Pools are
// CIDRs inside --ipalloc-range: the default subnet for `weave` (and any network created without
// --subnet), or the network's own --subnet (an isolated subnet, Weave's `net:` semantics).
// Every body from Docker is checked here (shape, types, lengths); the server caps its size.
import { DOCKER_DEFAULT_NETWORK, DOCKER_PLUGIN_NAME } from '../core/defaults.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { cidrContains, formatCidr, formatIPv4, networkOf, parseCidr, tryParseIPv4, type Cidr } from '../core/types.js';

export const PLUGIN_NAME = DOCKER_PLUGIN_NAME;
/** Where dockerd looks for it (TEST-ENV §1: plugins are found by name in /run/docker/plugins). */
export { DEFAULT_PLUGIN_SOCKET } from '../core/defaults.js';
/** The network `launch` creates, as Weave did. */
export const DEFAULT_NETWORK = DOCKER_DEFAULT_NETWORK;
/** Docker names the interface DstPrefix + a number: ethwe0. */
export const PLUGIN_IFNAME_PREFIX = 'ethwe';
const GATEWAY_TYPE = 'com.docker.network.gateway';
const MAX_ID = 128;

/** What the plugin needs from the router. */
export interface PluginFacade {
  /** IPAM's range and default subnet; undefined when IPAM is disabled. */
  ipam(): { range: Cidr; defaultSubnet: Cidr } | undefined;
  /** A fresh IPAM owner id for one address. */
  newOwner(): string;
  allocate(owner: string, subnet: Cidr): Promise<string>;
  claim(owner: string, cidr: Cidr): Promise<void>;
  /** Frees the plugin-owned address (no-op when it is not one). */
  release(addr: string): Promise<void>;
  /** Creates the veth pair for an endpoint on the weave bridge; returns the end Docker moves in. */
  createVeth(endpointId: string): Promise<string>;
  deleteVeth(endpointId: string): Promise<void>;
  /**
   * Egress (issue 15): the router's address on the bridge in `subnet`, the container's default route; its
   * address `addr` is masqueraded beyond the overlay until endpointGone. Undefined: no way out (no IPAM).
   */
  egress(endpointId: string, addr: Cidr): Promise<string | undefined>;
  endpointGone(endpointId: string): void;
}

/** A call Docker made that tsweave refuses: its message goes back to the user through Docker. */
export class PluginRefusal extends Error {}

type Body = Record<string, unknown>;
type Handler = (body: Body) => Promise<object> | object;

function obj(v: unknown, what: string): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PluginRefusal(`${what}: not a JSON object`);
  return v as Body;
}

function str(b: Body, key: string, required: boolean, max = MAX_ID): string {
  const v = b[key];
  if (v === undefined || v === null || v === '') {
    if (required) throw new PluginRefusal(`missing ${key}`);
    return '';
  }
  if (typeof v !== 'string' || v.length > max) throw new PluginRefusal(`invalid ${key}: must be a string of at most ${max} characters`);
  return v;
}

function endpointId(b: Body): string {
  const id = str(b, 'EndpointID', true);
  if (!/^[0-9a-f]{1,128}$/.test(id)) throw new PluginRefusal('invalid EndpointID: must be hexadecimal');
  return id;
}

function pool(text: string): Cidr {
  try {
    return parseCidr(text, 'subnet');
  } catch {
    throw new PluginRefusal(`invalid pool "${text.slice(0, 50)}": must be an IPv4 CIDR`);
  }
}

/** A locally administered unicast MAC from an IPv4 address: 02:57:a:b:c:d ("W"). */
export function macOfAddress(addr: number): string {
  const b = [0x02, 0x57, (addr >>> 24) & 255, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export class DockerPlugin {
  private readonly handlers: Record<string, Handler>;
  /** Endpoint → its address (CreateEndpoint), for Join's gateway. Docker creates endpoints anew at each start. */
  private readonly endpoints = new Map<string, Cidr>();

  constructor(private readonly f: PluginFacade) {
    this.handlers = {
      '/Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
      '/NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'local' }),
      '/NetworkDriver.CreateNetwork': (b) => this.createNetwork(b),
      '/NetworkDriver.DeleteNetwork': () => ({}),
      '/NetworkDriver.CreateEndpoint': (b) => {
        // Docker puts the address IPAM gave into the interface itself. The MAC follows the address, so a
        // restarted container (same address, new veth) is still reached through the other containers' ARP
        // caches; Docker's own bridge driver does the same.
        const id = endpointId(b);
        const itf = b.Interface === undefined || b.Interface === null ? {} : obj(b.Interface, 'Interface');
        const text = str(itf, 'Address', false, 64);
        const addr = tryParseIPv4(text.split('/')[0]!);
        if (addr !== undefined) this.endpoints.set(id, pool(text)); // for Join's gateway (egress)
        if (str(itf, 'MacAddress', false, 32) !== '') return { Interface: {} };
        return { Interface: addr === undefined ? {} : { MacAddress: macOfAddress(addr) } };
      },
      '/NetworkDriver.DeleteEndpoint': async (b) => {
        const id = endpointId(b);
        this.endpoints.delete(id);
        this.f.endpointGone(id);
        await this.f.deleteVeth(id);
        return {};
      },
      '/NetworkDriver.EndpointOperInfo': (b) => (endpointId(b), { Value: {} }),
      '/NetworkDriver.Join': async (b) => {
        const id = endpointId(b);
        str(b, 'SandboxKey', true, 4096);
        const src = await this.f.createVeth(id);
        // Egress: the default route goes via this host's bridge address in the container's subnet, and the
        // host masquerades beyond the overlay (as for CNI containers), instead of Docker's docker_gwbridge.
        const cidr = this.endpoints.get(id);
        const gateway = cidr && (await this.f.egress(id, cidr));
        return {
          InterfaceName: { SrcName: src, DstPrefix: PLUGIN_IFNAME_PREFIX }, StaticRoutes: [], DisableGatewayService: true,
          ...(gateway ? { Gateway: gateway } : {}),
        };
      },
      '/NetworkDriver.Leave': (b) => (endpointId(b), {}),
      '/NetworkDriver.DiscoverNew': () => ({}),
      '/NetworkDriver.DiscoverDelete': () => ({}),
      '/NetworkDriver.ProgramExternalConnectivity': () => ({}),
      '/NetworkDriver.RevokeExternalConnectivity': () => ({}),
      '/IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false }),
      '/IpamDriver.GetDefaultAddressSpaces': () => ({ LocalDefaultAddressSpace: 'weavelocal', GlobalDefaultAddressSpace: 'weaveglobal' }),
      '/IpamDriver.RequestPool': (b) => this.requestPool(b),
      '/IpamDriver.ReleasePool': () => ({}),
      '/IpamDriver.RequestAddress': (b) => this.requestAddress(b),
      '/IpamDriver.ReleaseAddress': async (b) => {
        const addr = str(b, 'Address', true, 64);
        if (tryParseIPv4(addr) === undefined) throw new PluginRefusal(`invalid Address "${addr}"`);
        await this.f.release(addr);
        return {};
      },
    };
  }

  /** Handles one call: the answer body, or { Err } (Docker shows Err to the user). Never throws. */
  async handle(path: string, body: unknown): Promise<{ ok: boolean; body: object }> {
    const h = Object.prototype.hasOwnProperty.call(this.handlers, path) ? this.handlers[path] : undefined;
    if (!h) return { ok: false, body: { Err: `tsweave: unsupported plugin call ${path.slice(0, 80)}` } };
    try {
      return { ok: true, body: await h(path === '/Plugin.Activate' ? {} : obj(body, path)) };
    } catch (err) {
      return { ok: false, body: { Err: `tsweave: ${errorMessage(err)}` } };
    }
  }

  private requireIpam(): { range: Cidr; defaultSubnet: Cidr } {
    const ipam = this.f.ipam();
    if (!ipam) throw new PluginRefusal('IPAM is disabled on this router (--ipalloc-range ""): the weavemesh IPAM driver has no addresses');
    return ipam;
  }

  private createNetwork(b: Body): object {
    str(b, 'NetworkID', true);
    const v6 = b.IPv6Data;
    if (Array.isArray(v6) && v6.length > 0) throw new PluginRefusal('IPv6 is not supported by the weavemesh driver');
    const ipam = this.f.ipam();
    const v4 = Array.isArray(b.IPv4Data) ? b.IPv4Data.slice(0, 16) : [];
    for (const d of v4) {
      // Without --ipam-driver weavemesh Docker's own IPAM picks a pool (172.18.0.0/16, ...) that is the same on
      // every host: refused here, not at the first docker run's Join.
      const text = str(obj(d, 'IPv4Data'), 'Pool', false, 64);
      if (!ipam || text === '') continue;
      const p = pool(text);
      if (!cidrContains(ipam.range, p.addr) || p.prefix < ipam.range.prefix) {
        throw new PluginRefusal(`subnet ${formatCidr(p)} is outside tsweave's --ipalloc-range ${formatCidr(ipam.range)}; ` +
          `a weavemesh network needs tsweave's addresses: add --ipam-driver ${PLUGIN_NAME}`);
      }
    }
    return {};
  }

  private requestPool(b: Body): object {
    const { range, defaultSubnet } = this.requireIpam();
    if (b.V6 === true) throw new PluginRefusal('IPv6 is not supported by the weavemesh IPAM driver');
    const text = str(b, 'Pool', false, 64);
    const sub = str(b, 'SubPool', false, 64);
    const p = text === '' ? defaultSubnet : pool(text);
    if (text !== '' && networkOf(p).addr !== p.addr) throw new PluginRefusal(`invalid pool "${text}": not a network address (did you mean ${formatCidr(networkOf(p))}?)`);
    const inRange = cidrContains(range, p.addr) && p.prefix >= range.prefix;
    if (!inRange) throw new PluginRefusal(`subnet ${formatCidr(p)} is outside tsweave's --ipalloc-range ${formatCidr(range)}`);
    if (sub !== '' && sub !== formatCidr(p)) throw new PluginRefusal('--ip-range is not supported by the weavemesh IPAM driver');
    return { PoolID: formatCidr(p), Pool: formatCidr(p), Data: {} };
  }

  private async requestAddress(b: Body): Promise<object> {
    const { range } = this.requireIpam();
    const p = pool(str(b, 'PoolID', true, 64));
    if (!cidrContains(range, p.addr) || p.prefix < range.prefix) {
      // A network created under an earlier launch with another range keeps its old subnet.
      throw new PluginRefusal(`the network's subnet ${formatCidr(p)} is outside tsweave's --ipalloc-range ${formatCidr(range)} ` +
        '(created when tsweave ran with another range?): remove its containers, then docker network rm it and create it again');
    }
    const addrText = str(b, 'Address', false, 64);
    const options = b.Options === undefined || b.Options === null ? {} : obj(b.Options, 'Options');
    const addr = addrText === '' ? undefined : tryParseIPv4(addrText);
    if (addrText !== '' && addr === undefined) throw new PluginRefusal(`invalid Address "${addrText}"`);
    if (addr !== undefined && !cidrContains(p, addr)) throw new PluginRefusal(`address ${addrText} is not in the network's subnet ${formatCidr(p)}`);
    if (options.RequestAddressType === GATEWAY_TYPE) {
      // Docker wants a gateway; the weavemesh network has none (DisableGatewayService). Nothing is
      // claimed, so the address stays free for containers (Weave's plugin did the same).
      return { Address: `${formatIPv4(addr ?? p.addr + 1)}/${p.prefix}` };
    }
    const owner = this.f.newOwner();
    try {
      if (addr !== undefined) {
        const cidr: Cidr = { addr, prefix: p.prefix };
        await this.f.claim(owner, cidr);
        return { Address: formatCidr(cidr) };
      }
      return { Address: await this.f.allocate(owner, p) };
    } catch (err) {
      if (err instanceof ConfigError) throw new PluginRefusal(err.message);
      throw err;
    }
  }
}
