// The HTTP control API (127.0.0.1:6784): thin handlers that validate the request body, call the router
// and return data. The CLI is a client of exactly these routes.

import { ConfigError } from '../core/errors.js';
import { parseCidr, parseIPv4, type Cidr } from '../core/types.js';
import type { Route, TcpAccess } from '../io/http-server.js';
import { formatConnections, formatDns, formatIpam, formatPeers, formatStatus, formatTargets } from './status-format.js';
import type { Status } from './status-types.js';
import { renderTemplate } from './go-template-exec.js';
import { weaveReport } from './weave-report.js';

/** The part of the IPAM allocator the HTTP API uses (Weave's /ip endpoints). */
export interface IpamApi {
  allocate(id: string, o?: { subnet?: Cidr; timeoutMs?: number }): Promise<{ cidr: string }>;
  claim(id: string, cidr: Cidr, o?: { timeoutMs?: number }): Promise<void>;
  free(id: string, addr?: number): unknown;
  lookup(id: string): Array<{ cidr: string }>;
  prime(o?: { timeoutMs?: number }): Promise<void>;
}

/** `?timeout=SECONDS` on the IPAM routes: how long to wait for consensus or a grant (default: the router's). */
function ipamWait(query: URLSearchParams): { timeoutMs?: number } {
  const t = query.get('timeout');
  if (t === null) return {};
  if (!/^\d{1,6}(\.\d{1,3})?$/.test(t)) throw new ConfigError(`invalid query parameter timeout "${t}": must be seconds, e.g. 5 or 0.5`);
  return { timeoutMs: Math.round(Number(t) * 1000) };
}

/** What the API needs from the router (daemon/api-facade.ts implements it). */
export interface ApiBackend {
  status(): Status;
  connect(peers: string[], replace: boolean): void;
  forget(peers: string[]): void;
  attach(req: { container: string; addrs: string[]; withoutDns?: boolean; hostname?: string; egress?: boolean }): Promise<{ cidrs: string[] }>;
  /** expose / hide: the host's addresses on the overlay (CIDRs added / removed). */
  expose(addrs: string[]): Promise<string[]>;
  hide(addrs: string[]): Promise<string[]>;
  detach(container: string, addrs: string[]): Promise<string[]>;
  listAttached(only?: string[]): Promise<Array<{ containerId: string; mac: string; cidrs: string[] }>>;
  dnsAdd(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<void>;
  dnsRemove(container: string | undefined, ips: string[], fqdn: string | undefined): Promise<number>;
  dnsLookup(name: string): string[];
  dnsArgs(): Promise<{ address: string; domain: string }>;
  stats(): Record<string, unknown>;
  ipamAllocator(): IpamApi;
  rmpeer(peer: string): string;
  /** DELETE /peer: give this peer's IP ranges away before it leaves (`reset`). */
  leaveIpam(): Promise<string>;
  stop(reason?: string): Promise<void>;
}

const MAX_LIST = 1000;

function field(body: unknown, name: string): unknown {
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
}

function stringList(body: unknown, name: string, required: boolean): string[] {
  const v = field(body, name);
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || v.length > MAX_LIST || !v.every((x) => typeof x === 'string' && x.length <= 256)) {
    throw new ConfigError(`request field "${name}" must be a list of at most ${MAX_LIST} strings`);
  }
  return v as string[];
}

function str(body: unknown, name: string): string {
  const v = field(body, name);
  if (typeof v !== 'string' || v === '' || v.length > 1024) throw new ConfigError(`request field "${name}" must be a non-empty string`);
  return v;
}

function optStr(body: unknown, name: string): string | undefined {
  const v = field(body, name);
  return v === undefined ? undefined : str(body, name);
}

// A Map, not an object literal: a page named "constructor" or "__proto__" must not reach Object.prototype.
const STATUS_PAGES = new Map<string, (s: Status) => string>([
  ['targets', formatTargets],
  ['connections', formatConnections],
  ['peers', formatPeers],
  ['dns', (s) => (s.dns ? formatDns(s) : '')],
  ['ipam', (s) => (s.ipam ? formatIpam(s) : '')],
]);

/**
 * What TCP 127.0.0.1:6784 serves (io/http-server.ts), keyed "METHOD pattern": the read-only routes to anyone
 * on the machine, Weave's IPAM routes to root (scripts such as a CNI plugin call them there). Everything
 * else only on the unix socket, open to root and the --api-group.
 */
const TCP_ACCESS = new Map<string, TcpAccess>([
  ['GET /report', 'anyone'], ['GET /snapshot', 'anyone'], ['GET /status', 'anyone'], ['GET /status/:page', 'anyone'], ['GET /ps', 'anyone'],
  ['GET /dns-lookup', 'anyone'], ['GET /version', 'anyone'], ['GET /stats', 'anyone'], ['GET /ip/:id', 'anyone'],
  ['POST /ip/:id', 'root'], ['POST /ip/:id/:ip/:prefix', 'root'], ['PUT /ip/:id/:ip/:prefix', 'root'],
  ['DELETE /ip/:id', 'root'], ['DELETE /ip/:id/:ip', 'root'],
  // Both may change state: prime starts the ring's consensus, dns-args claims the DNS address the first time.
  ['GET /ring', 'root'], ['GET /dns-args', 'root'],
]);

export function apiRoutes(node: ApiBackend): Route[] {
  return routeTable(node).map((r) => {
    const tcp = TCP_ACCESS.get(`${r.method} ${r.pattern}`);
    return tcp === undefined ? r : { ...r, tcp };
  });
}

function routeTable(node: ApiBackend): Route[] {
  return [
    // Weave's report: its field names, or with ?format= a Go template over it (bounded: go-template-exec.ts).
    {
      method: 'GET',
      pattern: '/report',
      handler: (req) => {
        const report = weaveReport(node.status());
        const format = req.query.get('format');
        return { body: format === null ? report : renderTemplate('format', format, report) };
      },
    },
    // tsweave's own snapshot (status-types.ts), which the CLI formats the status pages from.
    { method: 'GET', pattern: '/snapshot', handler: () => ({ body: node.status() }) },
    { method: 'GET', pattern: '/status', handler: () => ({ body: formatStatus(node.status()) }) },
    {
      method: 'GET',
      pattern: '/status/:page',
      handler: (req) => {
        const page = STATUS_PAGES.get(req.params.page!);
        if (!page) throw new ConfigError(`invalid status page "${req.params.page}": one of ${[...STATUS_PAGES.keys()].join(', ')}`);
        return { body: page(node.status()) };
      },
    },
    {
      method: 'POST',
      pattern: '/connect',
      handler: (req) => {
        node.connect(stringList(req.body, 'peers', true), field(req.body, 'replace') === true);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      pattern: '/forget',
      handler: (req) => {
        node.forget(stringList(req.body, 'peers', true));
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      pattern: '/attach',
      handler: async (req) => {
        const hostname = optStr(req.body, 'hostname');
        const res = await node.attach({
          container: str(req.body, 'container'),
          addrs: stringList(req.body, 'addrs', false),
          withoutDns: field(req.body, 'withoutDns') === true,
          egress: field(req.body, 'egress') === true,
          ...(hostname ? { hostname } : {}),
        });
        return { body: { addrs: res.cidrs } };
      },
    },
    {
      method: 'POST',
      pattern: '/detach',
      handler: async (req) => {
        const addrs = await node.detach(str(req.body, 'container'), stringList(req.body, 'addrs', false));
        return { body: { addrs } };
      },
    },
    { method: 'POST', pattern: '/expose', handler: async (req) => ({ body: { addrs: await node.expose(stringList(req.body, 'addrs', false)) } }) },
    { method: 'POST', pattern: '/hide', handler: async (req) => ({ body: { addrs: await node.hide(stringList(req.body, 'addrs', false)) } }) },
    {
      method: 'GET',
      pattern: '/ps',
      handler: async (req) => {
        const list = await node.listAttached(req.query.getAll('container'));
        return { body: list.map((a) => ({ containerId: a.containerId, mac: a.mac, addrs: a.cidrs })) };
      },
    },
    {
      method: 'PUT',
      pattern: '/dns',
      handler: async (req) => {
        await node.dnsAdd(optStr(req.body, 'container'), stringList(req.body, 'ips', false), optStr(req.body, 'fqdn'));
        return { status: 204 };
      },
    },
    {
      method: 'DELETE',
      pattern: '/dns',
      handler: async (req) => {
        const n = await node.dnsRemove(optStr(req.body, 'container'), stringList(req.body, 'ips', false), optStr(req.body, 'fqdn'));
        return { body: { removed: n } };
      },
    },
    {
      method: 'GET',
      pattern: '/dns-lookup',
      handler: (req) => {
        const name = req.query.get('name');
        if (!name) throw new ConfigError('query parameter "name" is required');
        return { body: { addrs: node.dnsLookup(name) } };
      },
    },
    { method: 'GET', pattern: '/dns-args', handler: async () => ({ body: await node.dnsArgs() }) },
    // IPAM, as Weave's HTTP API: the body of an allocation is the CIDR as text.
    {
      method: 'POST',
      pattern: '/ip/:id',
      handler: async (req) => ({ body: (await node.ipamAllocator().allocate(req.params.id!, ipamWait(req.query))).cidr }),
    },
    {
      method: 'POST',
      pattern: '/ip/:id/:ip/:prefix',
      handler: async (req) => {
        const subnet = parseCidr(`${req.params.ip}/${req.params.prefix}`, 'subnet');
        return { body: (await node.ipamAllocator().allocate(req.params.id!, { subnet, ...ipamWait(req.query) })).cidr };
      },
    },
    {
      method: 'PUT',
      pattern: '/ip/:id/:ip/:prefix',
      handler: async (req) => {
        await node.ipamAllocator().claim(req.params.id!, parseCidr(`${req.params.ip}/${req.params.prefix}`, 'address'), ipamWait(req.query));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: '/ip/:id',
      handler: (req) => {
        const found = node.ipamAllocator().lookup(req.params.id!);
        if (found.length === 0) return { status: 404, body: `no addresses for ${req.params.id}` };
        return { body: found.map((a) => a.cidr).join(' ') };
      },
    },
    {
      method: 'DELETE',
      pattern: '/ip/:id',
      handler: (req) => {
        node.ipamAllocator().free(req.params.id!);
        return { status: 204 };
      },
    },
    {
      method: 'DELETE',
      pattern: '/ip/:id/:ip',
      handler: (req) => {
        node.ipamAllocator().free(req.params.id!, parseIPv4(req.params.ip!, 'address'));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: '/ring',
      handler: async (req) => {
        await node.ipamAllocator().prime(ipamWait(req.query));
        return { status: 204 };
      },
    },
    { method: 'DELETE', pattern: '/peer/:name', handler: (req) => ({ body: node.rmpeer(req.params.name!) }) },
    { method: 'DELETE', pattern: '/peer', handler: async () => ({ body: await node.leaveIpam() }) },
    { method: 'GET', pattern: '/version', handler: () => ({ body: { version: node.status().version } }) },
    { method: 'GET', pattern: '/stats', handler: () => ({ body: node.stats() }) },
    {
      method: 'POST',
      pattern: '/stop',
      handler: () => {
        // Answer first; the server closes as part of stopping.
        setImmediate(() => void node.stop('stopped by tsweave stop'));
        return { status: 202, body: 'stopping' };
      },
    },
  ];
}
