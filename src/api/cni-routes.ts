// The CNI plugin's routes (issue 14): ADD, DEL and CHECK of a network namespace by path. Only on the
// router's unix socket (no `tcp` access): the plugin runs as root, and nothing else may attach by path.
// Bodies are checked here with the same rules the plugin applies to its environment (cni/spec.ts), so a
// hostile local client gets a 400 with the rule, never a half-done attach.

import { ConfigError } from '../core/errors.js';
import type { Route } from '../io/http-server.js';

export interface CniRequest {
  /** CNI_CONTAINERID (checked by the route). */
  containerId: string;
  /** CNI_NETNS; '' on a DEL after the namespace is gone. */
  netns: string;
  ifname: string;
  /** Name relative to the DNS domain ("pod.namespace"), from the pod's CNI_ARGS. */
  dnsName?: string;
}

export interface CniAddAnswer {
  cidr: string;
  gateway: string;
  mac: string;
  dns?: { address: string; domain: string };
}

export interface CniBackend {
  cniAdd(req: CniRequest): Promise<CniAddAnswer>;
  cniDel(req: Pick<CniRequest, 'containerId'>): Promise<void>;
  cniCheck(req: CniRequest): Promise<void>;
}

const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,251}$/; // "cni:" + it fits IPAM's and DNS's 256
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const DNS_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function field(body: unknown, name: string): unknown {
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
}

function matching(body: unknown, name: string, re: RegExp, rule: string): string {
  const v = field(body, name);
  if (typeof v !== 'string' || v.length > 4096 || !re.test(v)) throw new ConfigError(`request field "${name}" must be ${rule}`);
  return v;
}

function request(body: unknown, netnsRequired: boolean): CniRequest {
  const containerId = matching(body, 'containerId', CONTAINER_ID_RE, 'a CNI container id (letters, digits, _ . -)');
  const ifname = matching(body, 'ifname', IFNAME_RE, 'an interface name of 1..15 of A-Z a-z 0-9 _ . -');
  const netnsRaw = field(body, 'netns') ?? '';
  const netns = netnsRequired || netnsRaw !== ''
    ? matching(body, 'netns', /^\/[^\0]{0,4095}$/, 'an absolute path')
    : '';
  const req: CniRequest = { containerId, netns, ifname };
  if (field(body, 'dnsName') !== undefined) {
    req.dnsName = matching(body, 'dnsName', DNS_NAME_RE, 'DNS labels like pod.namespace');
    if (req.dnsName.length > 200) throw new ConfigError('request field "dnsName" must be at most 200 characters');
  }
  return req;
}

export function cniRoutes(b: CniBackend): Route[] {
  return [
    { method: 'POST', pattern: '/cni/add', handler: async (req) => ({ body: await b.cniAdd(request(req.body, true)) }) },
    {
      method: 'POST',
      pattern: '/cni/del',
      handler: async (req) => {
        await b.cniDel(request(req.body, false));
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      pattern: '/cni/check',
      handler: async (req) => {
        await b.cniCheck(request(req.body, true));
        return { status: 204 };
      },
    },
  ];
}
