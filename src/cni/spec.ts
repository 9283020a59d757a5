// The CNI plugin's pure part (spec 1.0.0, and the older versions runtimes still send): the environment
// and the network configuration on stdin checked into a typed request, and results and errors formatted
// as the runtime's cniVersion wants them. No I/O here (plugin.ts does it), so every hostile input can be
// tested: a runtime is trusted, but a config file is written by people and CNI_ARGS comes from pod specs.
//
// Spec facts used (CNI SPEC.md v1.0.0): errors are {cniVersion, code, msg, details} on stdout with exit
// code 1; well-known codes 1 incompatible version, 2 unsupported config field, 3 unknown container,
// 4 invalid environment variables, 5 I/O failure, 6 cannot decode, 7 invalid network config, 11 try again
// later; CHECK exists from 0.4.0; results before 0.3.0 are the `ip4` form, 0.3.x/0.4.0 give `version`
// on each IP, 1.0.0 does not; CNI_NETNS may be empty on DEL, and DEL of something unknown succeeds.

export const CNI_VERSION = '1.0.0';
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** Largest network configuration read from stdin (with a prevResult it is a few KiB). */
export const MAX_STDIN_BYTES = 256 * 1024;
/** Caps on what an error carries back to the runtime (it logs and shows them in events). */
export const MAX_MSG_CHARS = 512;
export const MAX_DETAILS_CHARS = 2048;
const MAX_ARGS_CHARS = 4096;
const MAX_PATH_CHARS = 4096;

export const ErrorCode = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  /** Plugin-specific (100+): the router refused or failed the request for a reason of its own. */
  ROUTER_FAILED: 100,
  /** Plugin-specific: CHECK found the container's interface not as ADD left it. */
  CHECK_FAILED: 101,
} as const;

/** An error the plugin reports to the runtime (code and message as the spec wants them). */
export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'CniError';
  }
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** '' when the runtime gave none (allowed on DEL). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as key → value (unknown keys are ignored, as IgnoreUnknown would allow). */
  args: Map<string, string>;
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** The router's API socket; default: the one of the namespace the plugin runs in. */
  apiSocket?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,251}$/; // "cni:" + it fits IPAM's and DNS's 256
const NETWORK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// Linux IFNAMSIZ - 1; no '/', ':' or whitespace (the kernel's dev_valid_name), and not "." or "..".
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** `text` cut to `max` characters with a marker, so nothing unbounded reaches the runtime's logs. */
export function cap(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 15)}… (truncated)`;
}

/** A value quoted for a message: bounded and without control characters. */
function shown(v: string): string {
  return JSON.stringify(cap(v, 80));
}

function invalidEnv(msg: string): CniError {
  return new CniError(ErrorCode.INVALID_ENV, msg);
}

/** The command alone: VERSION needs nothing else, and an unknown command is an error of its own. */
export function parseCommand(env: Env): CniCommand {
  const c = env.CNI_COMMAND;
  if (c === 'ADD' || c === 'DEL' || c === 'CHECK' || c === 'VERSION') return c;
  throw invalidEnv(c === undefined || c === '' ? 'CNI_COMMAND is not set' : `invalid CNI_COMMAND ${shown(c)}: must be ADD, DEL, CHECK or VERSION`);
}

/** CNI_ARGS "K1=V1;K2=V2" → map; malformed pairs are an error, as libcni's parser makes them. */
export function parseCniArgs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  if (text === '') return out;
  if (text.length > MAX_ARGS_CHARS) throw invalidEnv(`CNI_ARGS is ${text.length} characters: at most ${MAX_ARGS_CHARS}`);
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv(`invalid CNI_ARGS pair ${shown(pair)}: must be KEY=VALUE`);
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

/** The environment of ADD, DEL and CHECK, checked. */
export function parseEnv(env: Env): CniEnv {
  const command = parseCommand(env);
  const containerId = env.CNI_CONTAINERID ?? '';
  if (!CONTAINER_ID_RE.test(containerId)) {
    throw invalidEnv(containerId === '' ? 'CNI_CONTAINERID is not set'
      : `invalid CNI_CONTAINERID ${shown(containerId)}: letters, digits, _ . - (starting with a letter or digit), at most 252`);
  }
  const netns = env.CNI_NETNS ?? '';
  if (netns === '' && command !== 'DEL') throw invalidEnv(`CNI_NETNS is not set (required for ${command})`);
  if (netns !== '' && (!netns.startsWith('/') || netns.length > MAX_PATH_CHARS || netns.includes('\0'))) {
    throw invalidEnv(`invalid CNI_NETNS ${shown(netns)}: must be an absolute path`);
  }
  const ifname = env.CNI_IFNAME ?? '';
  if (!IFNAME_RE.test(ifname) || ifname === '.' || ifname === '..') {
    throw invalidEnv(ifname === '' ? 'CNI_IFNAME is not set' : `invalid CNI_IFNAME ${shown(ifname)}: 1..15 of A-Z a-z 0-9 _ . -`);
  }
  return { command, containerId, netns, ifname, args: parseCniArgs(env.CNI_ARGS ?? '') };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Just the cniVersion of a config, for answering in the runtime's version even when the rest is bad. */
export function peekVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v.length <= 16 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The network configuration from stdin. */
export function parseNetConf(stdin: string): NetConf {
  if (stdin.length > MAX_STDIN_BYTES) {
    throw new CniError(ErrorCode.INVALID_CONFIG, `network configuration is ${stdin.length} bytes: at most ${MAX_STDIN_BYTES}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(ErrorCode.DECODE, `network configuration on stdin is not JSON: ${cap((err as Error).message, 200)}`);
  }
  if (!isObject(doc)) throw new CniError(ErrorCode.INVALID_CONFIG, 'network configuration must be a JSON object');
  const version = doc.cniVersion;
  if (typeof version !== 'string') throw new CniError(ErrorCode.INVALID_CONFIG, 'network configuration has no "cniVersion" string');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(ErrorCode.INCOMPATIBLE_VERSION, `incompatible CNI version ${shown(version)}: this plugin supports ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const name = doc.name;
  if (typeof name !== 'string' || !NETWORK_NAME_RE.test(name)) {
    throw new CniError(ErrorCode.INVALID_CONFIG, `invalid network "name" ${typeof name === 'string' ? shown(name) : '(missing)'}: letters, digits, _ . -`);
  }
  const type = doc.type;
  if (typeof type !== 'string' || type === '' || type.length > 128) throw new CniError(ErrorCode.INVALID_CONFIG, 'network configuration has no "type" string');
  const conf: NetConf = { cniVersion: version as CniVersion, name, type };
  if (doc.apiSocket !== undefined) {
    const s = doc.apiSocket;
    if (typeof s !== 'string' || !s.startsWith('/') || s.length > 107 || s.includes('\0')) {
      throw new CniError(ErrorCode.INVALID_CONFIG, `invalid "apiSocket" ${typeof s === 'string' ? shown(s) : `(${typeof s})`}: must be an absolute path of at most 107 characters`);
    }
    conf.apiSocket = s;
  }
  if (doc.ipam !== undefined) {
    throw new CniError(ErrorCode.UNSUPPORTED_FIELD, 'the "ipam" field is not supported: tsweave-net takes addresses from the tsweave router\'s own IPAM');
  }
  return conf;
}

/** Whether the CHECK command exists in this config's version (from 0.4.0). */
export function supportsCheck(v: CniVersion): boolean {
  return v === '0.4.0' || v === '1.0.0';
}

const DNS_LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The weaveDNS name a pod gets, relative to the domain: "POD.NAMESPACE" from K8S_POD_NAME and
 * K8S_POD_NAMESPACE (podman sends only the name: then "POD"). Undefined when there is no pod name or it
 * is not a DNS name (a container name with "_"); the address is still given, only the name is not.
 */
export function podDnsName(args: ReadonlyMap<string, string>): string | undefined {
  const pod = args.get('K8S_POD_NAME')?.toLowerCase();
  if (!pod) return undefined;
  const ns = args.get('K8S_POD_NAMESPACE')?.toLowerCase();
  const name = ns ? `${pod}.${ns}` : pod;
  if (name.length > 200 || !name.split('.').every((l) => DNS_LABEL_RE.test(l))) return undefined;
  return name;
}

/** What the router answered an ADD with (api/cni-routes.ts). */
export interface AddAnswer {
  /** "10.32.0.5/12" */
  cidr: string;
  gateway: string;
  mac: string;
  /** weaveDNS, when the router runs it: its address and domain ("weave.local."). */
  dns?: { address: string; domain: string };
}

/** The ADD result in the runtime's version (the request's cniVersion). */
export function formatAddResult(version: CniVersion, env: Pick<CniEnv, 'ifname' | 'netns'>, a: AddAnswer): Record<string, unknown> {
  const search = a.dns ? [a.dns.domain.replace(/\.$/, '')] : [];
  const dns = a.dns ? { nameservers: [a.dns.address], search } : {};
  const route = { dst: '0.0.0.0/0', gw: a.gateway };
  if (version === '0.1.0' || version === '0.2.0') {
    return { cniVersion: version, ip4: { ip: a.cidr, gateway: a.gateway, routes: [route] }, dns };
  }
  const ip: Record<string, unknown> = { address: a.cidr, gateway: a.gateway, interface: 0 };
  if (version !== '1.0.0') ip.version = '4';
  return {
    cniVersion: version,
    interfaces: [{ name: env.ifname, mac: a.mac, sandbox: env.netns }],
    ips: [ip],
    routes: [route],
    dns,
  };
}

/** The VERSION answer. */
export function formatVersionResult(): Record<string, unknown> {
  return { cniVersion: CNI_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** An error as the spec's JSON object, in the runtime's version when it is one we know. */
export function formatError(err: CniError, version: string | undefined): Record<string, unknown> {
  const v = version !== undefined && (SUPPORTED_VERSIONS as readonly string[]).includes(version) ? version : CNI_VERSION;
  const out: Record<string, unknown> = { cniVersion: v, code: err.code, msg: cap(err.message, MAX_MSG_CHARS) };
  if (err.details) out.details = cap(err.details, MAX_DETAILS_CHARS);
  return out;
}
