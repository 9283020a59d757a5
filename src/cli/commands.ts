// The `tsweave` commands: one table entry per verb (flags, synopsis, whether it needs root) and a pure parse
// from argv to a typed Command. The same tables drive the help text (help.ts), so help lists the real flags.
// Verbs and argument forms follow Weave Net's (WEAVE-FACTS §1.2–1.3).

import { ConfigError } from '../core/errors.js';
import { CONTROL_PORT } from '../core/defaults.js';
import { formatCidr, networkOf, parseCidr, parseHostPort, parseIPv4 } from '../core/types.js';
import {
  type FlagSpec, type ParsedFlags, flagValue, hasFlag, isNetworkOrBroadcast, parseDomainName, parseFlags, suggest,
} from '../config/flags.js';
import { type LaunchConfig, type LaunchDeps, LAUNCH_FLAGS, parseLaunchArgs } from '../config/launch.js';
import { weaveOnlyCommand, weaveOnlyFlag } from './weave-compat.js';

export const STATUS_SUBCOMMANDS = ['targets', 'connections', 'peers', 'dns', 'ipam'] as const;
export type StatusSub = (typeof STATUS_SUBCOMMANDS)[number];

/** What the user asked for, validated. */
export type Command =
  | { kind: 'help'; command?: string }
  | { kind: 'version' }
  | { kind: 'launch'; config: LaunchConfig }
  | { kind: 'connect'; peers: string[]; replace: boolean }
  | { kind: 'forget'; peers: string[] }
  | { kind: 'attach'; container: string; addrs: string[]; withoutDns: boolean; egress?: boolean; hostname?: string }
  | { kind: 'detach'; container: string; addrs: string[] }
  | { kind: 'status'; sub?: StatusSub }
  | { kind: 'report'; format?: string }
  | { kind: 'ps'; containers: string[] }
  | { kind: 'dns-add' | 'dns-remove'; container?: string; ips: string[]; fqdn?: string }
  | { kind: 'dns-lookup'; name: string }
  | { kind: 'dns-args' }
  | { kind: 'prime' }
  | { kind: 'rmpeer'; peers: string[] }
  | { kind: 'stop'; dataDir?: string }
  | { kind: 'reset'; force: boolean; dataDir?: string }
  | { kind: 'setup-cni'; binDirs: string[]; confDir: string; apiSocket?: string; runtimeDir?: string }
  | { kind: 'expose' | 'hide'; addrs: string[] };

export type CommandKind = Command['kind'];

export interface CommandSpec {
  readonly name: string;
  /** Positional part of the synopsis, e.g. "[ADDR...] CONTAINER". */
  readonly args: string;
  /** Full synopsis lines when the generated one would not say it right (dns-add's two forms). */
  readonly synopsis?: readonly string[];
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** Changes the host network: refused unless run as root. */
  readonly needsRoot: boolean;
  /** Extra help paragraph. */
  readonly details?: string;
}

const HOSTNAME_FLAG: FlagSpec = { flag: '--hostname', value: 'FQDN', help: 'register this DNS name for the container' };

/**
 * stop and reset act on a data dir: --data-dir, else the one the router of this network namespace
 * registered (lifecycle.ts). The other verbs reach the router by its API; they accept --data-dir too
 * (scripts pass it to every verb, as with Weave's env) and ignore it, without listing it in their help.
 */
const DATA_DIR_FLAG: FlagSpec = {
  flag: '--data-dir', value: 'DIR', default: "the running router's",
  help: 'the data dir the router was launched with (found by itself when a router ran in this network namespace)',
};

const SETUP_CNI_SPEC: CommandSpec = {
  name: 'setup-cni', args: '', needsRoot: true,
  summary: 'install the CNI plugin tsweave-net and the network "tsweave" (containerd, podman, Kubernetes)',
  details: 'Writes the plugin executable tsweave-net into each --bin-dir and 10-tsweave.conflist\n' +
    '(network "tsweave": tsweave-net, then portmap) into --conf-dir. Files already right are left\n' +
    'alone, so running it again changes nothing.',
  flags: [
    { flag: '--bin-dir', value: 'DIR', repeatable: true, default: '/opt/cni/bin and /usr/lib/cni', help: 'where to put tsweave-net (repeat for several)' },
    { flag: '--conf-dir', value: 'DIR', default: '/etc/cni/net.d', help: 'where to put 10-tsweave.conflist' },
    { flag: '--api-socket', value: 'PATH', help: "the router's API socket for the plugin (default: the one of the runtime's network namespace)" },
    { flag: '--runtime-dir', value: 'DIR', help: 'copy node and tsweave into DIR and run the plugin from there (a host without node, e.g. from a Kubernetes init container)' },
  ],
};

export const COMMANDS: readonly CommandSpec[] = [
  { name: 'launch', args: '[PEER...]', flags: LAUNCH_FLAGS, needsRoot: true,
    summary: 'start the router on this host and connect to the given peers',
    details: 'Creates the weave bridge, starts the router daemon (detached unless --foreground) and weaveDNS.' },
  { name: 'connect', args: '[PEER...]', needsRoot: false, summary: 'add peers to connect to',
    flags: [{ flag: '--replace', help: 'forget all current targets first' }] },
  { name: 'forget', args: 'PEER...', needsRoot: false, flags: [], summary: 'stop connecting to these peers' },
  { name: 'attach', args: '[ADDR...] CONTAINER', needsRoot: true,
    summary: 'give a container an interface on the weave network (IPAM picks the address if none given)',
    flags: [{ flag: '--without-dns', help: "don't register the container's hostname in weaveDNS" }, HOSTNAME_FLAG,
      { flag: '--egress', help: "let the container reach addresses outside the weave network through this host (default route via the host's exposed address, masqueraded)" }] },
  { name: 'detach', args: '[ADDR...] CONTAINER', needsRoot: true, flags: [],
    summary: 'remove addresses (all if none given) from a container' },
  { name: 'expose', args: '[ADDR...]', needsRoot: true, flags: [],
    summary: 'give the host an address on the weave network (IPAM picks one in the default subnet if none given)',
    details: 'The host then reaches containers on every host and they reach it; other machines can route\n' +
      'to the subnet through this host. Kept across router restarts; `tsweave hide` removes it.' },
  { name: 'hide', args: '[ADDR...]', needsRoot: true, flags: [],
    summary: "remove the host's addresses (all if none given) from the weave network" },
  { name: 'dns-add', args: '', needsRoot: false,
    synopsis: ['[IP...] CONTAINER [-h FQDN]', 'IP... -h FQDN'],
    summary: "add DNS names: the container's addresses, or the given IPs",
    flags: [{ flag: '--hostname', short: '-h', value: 'FQDN', help: "the name (default: the container's hostname)" }] },
  { name: 'dns-remove', args: '', needsRoot: false,
    synopsis: ['[IP...] CONTAINER [-h FQDN]', 'IP... -h FQDN'],
    summary: 'remove DNS names',
    flags: [{ flag: '--hostname', short: '-h', value: 'FQDN', help: 'only entries with this name' }] },
  { name: 'dns-lookup', args: 'NAME', needsRoot: false, flags: [], summary: 'look up a name in weaveDNS' },
  { name: 'dns-args', args: '', needsRoot: false, flags: [],
    summary: 'print the docker run flags that make a container use weaveDNS' },
  { name: 'prime', args: '', needsRoot: false, flags: [],
    summary: 'wait until this peer has joined the IP address ring (IPAM), as Weave\'s prime',
    details: 'Returns once attach and docker run --net=weave can get addresses without waiting; fails\n' +
      'with the reason (e.g. "awaiting consensus (quorum: 2, known: 1)") if that takes longer than 30 s.' },
  { name: 'status', args: `[${STATUS_SUBCOMMANDS.join(' | ')}]`, needsRoot: false, flags: [],
    summary: "show the router's status",
    details: 'Without a page: the router, IPAM and DNS summary. targets: the peers given to launch and\n' +
      'connect. connections: each connection with its state and path. peers: every peer known and its\n' +
      'connections. dns: every weaveDNS entry. ipam: the peers owning address space. Weave\'s formats.' },
  { name: 'report', args: '', needsRoot: false, summary: "print the full status as JSON (Weave's field names)",
    flags: [{ flag: '--format', short: '-f', value: 'TEMPLATE',
      help: 'print this Go template over the report instead, e.g. \'{{.Router.Name}}\' or \'{{json .DNS}}\'' }],
    details: 'The template is Go text/template, as in Weave: field paths, range/if/with/else/end, variables,\n' +
      'printf, len, index, eq/ne/lt/le/gt/ge, and/or/not, json. Its output is printed as is; write {{"\\n"}}\n' +
      'for a newline, e.g. tsweave report -f \'{{range .Router.Peers}}{{.NickName}}{{"\\n"}}{{end}}\'' },
  { name: 'ps', args: '[CONTAINER...]', needsRoot: false, flags: [],
    summary: 'list attached containers with their MAC and addresses' },
  { name: 'rmpeer', args: 'PEER_ID...', needsRoot: false, flags: [],
    summary: "take over a dead peer's IP space" },
  { name: 'stop', args: '', needsRoot: true, flags: [DATA_DIR_FLAG], summary: 'stop the router (containers keep their interfaces)' },
  { name: 'reset', args: '', needsRoot: true, summary: 'leave the network and delete all local state',
    flags: [{ flag: '--force', help: 'proceed even if the router is not running' }, DATA_DIR_FLAG] },
  SETUP_CNI_SPEC,
  { name: 'version', args: '', needsRoot: false, flags: [], summary: 'print the versions of this CLI and the router' },
  { name: 'help', args: '[COMMAND]', needsRoot: false, flags: [], summary: 'show this help, or a command\'s' },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** "unknown command" with a usage hint, exit code 2. */
export function unknownCommand(name: string): ConfigError {
  const guess = suggest(name, COMMANDS.map((c) => c.name));
  return new ConfigError(`unknown command "${name}"${guess ? ` (did you mean ${guess}?)` : ''}; see 'tsweave --help'`);
}

/** True when argv (before any "--") asks for help: --help anywhere, or -h where -h means nothing else. */
export function wantsHelp(argv: readonly string[], spec: CommandSpec | undefined): boolean {
  const end = argv.indexOf('--');
  const args = end >= 0 ? argv.slice(0, end) : argv;
  const hUsed = spec?.flags.some((f) => f.short === '-h') ?? false;
  return args.some((a) => a === '--help' || (a === '-h' && !hUsed));
}

export interface ParseDeps extends LaunchDeps {}

/**
 * argv (without the program name) → Command. Throws ConfigError (exit 2) for anything malformed.
 * `launch` reads the environment and, for --password-file, a file through `deps.readFile`.
 */
export function parseCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  deps: ParseDeps,
): Command {
  const [verb, ...rest] = argv;
  if (verb === undefined) return { kind: 'help' };
  if (verb === '--help' || verb === '-h') return { kind: 'help' };
  if (verb === '--version') return { kind: 'version' };
  if (verb === 'help') {
    if (rest[0] === '--help' || rest[0] === '-h') return { kind: 'help', command: 'help' };
    if (rest.length > 1) throw new ConfigError(`help takes at most one COMMAND (got ${rest.length})`);
    if (rest[0] !== undefined && !findCommand(rest[0])) throw unknownCommand(rest[0]);
    return rest[0] === undefined ? { kind: 'help' } : { kind: 'help', command: rest[0] };
  }
  const spec = findCommand(verb);
  if (!spec) {
    const hint = weaveOnlyCommand(verb);
    if (hint !== undefined) throw new ConfigError(`"${verb}" is a Weave command that tsweave does not have: ${hint}`);
    throw unknownCommand(verb);
  }
  // Before the help check: Weave's `expose -h FQDN` must not print help and succeed with nothing exposed.
  const weaveFlag = weaveOnlyFlag(verb, rest);
  if (weaveFlag) throw new ConfigError(`${verb} ${weaveFlag.flag} is Weave's, not tsweave's: ${weaveFlag.hint}`);
  if (wantsHelp(rest, spec)) return { kind: 'help', command: verb };

  if (verb === 'launch') return { kind: 'launch', config: parseLaunchArgs(rest, env, deps) };

  const p = parseFlags(spec.flags.includes(DATA_DIR_FLAG) ? rest : withoutDataDir(rest), spec.flags, verb);
  const pos = p.positionals;
  switch (verb) {
    case 'connect': {
      const replace = hasFlag(p, '--replace');
      if (pos.length === 0 && !replace) throw new ConfigError('connect needs at least one PEER (or --replace to forget all)');
      return { kind: 'connect', peers: pos.map(checkPeer), replace };
    }
    case 'forget':
      needAtLeastOne(verb, pos, 'PEER');
      return { kind: 'forget', peers: pos.map(checkPeer) };
    case 'attach': {
      const { addrs, container } = splitAddrsAndContainer(verb, pos);
      const hostname = flagValue(p, '--hostname');
      if (hasFlag(p, '--without-dns') && hostname !== undefined) {
        throw new ConfigError('--without-dns and --hostname are mutually exclusive');
      }
      return {
        kind: 'attach', container, addrs, withoutDns: hasFlag(p, '--without-dns'),
        ...(hasFlag(p, '--egress') ? { egress: true } : {}),
        ...(hostname === undefined ? {} : { hostname: checkFqdn('--hostname', hostname) }),
      };
    }
    case 'detach': {
      const { addrs, container } = splitAddrsAndContainer(verb, pos);
      return { kind: 'detach', container, addrs };
    }
    case 'expose':
    case 'hide':
      return { kind: verb, addrs: pos.map(checkAddrArg) };
    case 'dns-add':
    case 'dns-remove':
      return parseDnsEdit(verb, p);
    case 'dns-lookup':
      if (pos.length !== 1) throw new ConfigError(`dns-lookup needs exactly one NAME (got ${pos.length})`);
      return { kind: 'dns-lookup', name: checkLookupName(pos[0]!) };
    case 'status': {
      if (pos.length > 1) throw new ConfigError(`status takes at most one sub-command (got ${pos.length})`);
      const sub = pos[0];
      if (sub === undefined) return { kind: 'status' };
      if (!(STATUS_SUBCOMMANDS as readonly string[]).includes(sub)) {
        throw new ConfigError(`invalid status sub-command "${sub}": must be one of ${STATUS_SUBCOMMANDS.join(', ')}`);
      }
      return { kind: 'status', sub: sub as StatusSub };
    }
    case 'ps':
      return { kind: 'ps', containers: pos.map(checkContainer) };
    case 'rmpeer':
      needAtLeastOne(verb, pos, 'PEER_ID');
      return { kind: 'rmpeer', peers: pos.map(checkPeerId) };
    case 'reset':
      noPositionals(verb, pos);
      return { kind: 'reset', force: hasFlag(p, '--force'), ...dataDirOf(p) };
    case 'stop':
      noPositionals(verb, pos);
      return { kind: 'stop', ...dataDirOf(p) };
    case 'setup-cni':
      noPositionals(verb, pos);
      return parseSetupCni(p);
    case 'report': {
      noPositionals(verb, pos);
      const format = flagValue(p, '--format');
      return format === undefined ? { kind: 'report' } : { kind: 'report', format };
    }
    case 'dns-args': case 'version': case 'prime':
      noPositionals(verb, pos);
      return { kind: verb };
    default:
      throw unknownCommand(verb);
  }
}

/** argv without `--data-dir DIR` / `--data-dir=DIR` (before any "--"), for the verbs that ignore it. */
function withoutDataDir(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [...out, ...argv.slice(i)];
    if (a === '--data-dir') {
      if (argv[i + 1] === undefined || argv[i + 1] === '') throw new ConfigError('--data-dir needs a DIR');
      i++;
    } else if (a.startsWith('--data-dir=')) {
      if (a === '--data-dir=') throw new ConfigError('--data-dir needs a DIR');
    } else out.push(a);
  }
  return out;
}

function dataDirOf(p: ParsedFlags): { dataDir?: string } {
  const d = flagValue(p, '--data-dir');
  if (d === '') throw new ConfigError('invalid --data-dir "": must be a directory path');
  return d === undefined ? {} : { dataDir: d };
}

function absolutePath(flag: string, v: string): string {
  if (!v.startsWith('/') || v.includes('\0')) throw new ConfigError(`invalid ${flag} "${v}": must be an absolute path`);
  return v;
}

function parseSetupCni(p: ParsedFlags): Command {
  const bins = (p.flags.get('--bin-dir') ?? []).map((d) => absolutePath('--bin-dir', d));
  const sock = flagValue(p, '--api-socket');
  const rt = flagValue(p, '--runtime-dir');
  if (sock !== undefined && (absolutePath('--api-socket', sock).length > 107)) throw new ConfigError(`invalid --api-socket "${sock}": at most 107 characters`);
  return {
    kind: 'setup-cni',
    binDirs: bins.length ? bins : ['/opt/cni/bin', '/usr/lib/cni'],
    confDir: absolutePath('--conf-dir', flagValue(p, '--conf-dir') ?? '/etc/cni/net.d'),
    ...(sock === undefined ? {} : { apiSocket: sock }),
    ...(rt === undefined ? {} : { runtimeDir: absolutePath('--runtime-dir', rt) }),
  };
}

function needAtLeastOne(verb: string, pos: readonly string[], what: string): void {
  if (pos.length === 0) throw new ConfigError(`${verb} needs at least one ${what}`);
}

function noPositionals(verb: string, pos: readonly string[]): void {
  if (pos.length > 0) throw new ConfigError(`${verb} takes no arguments (got "${pos[0]}")`);
}

function checkPeer(text: string): string {
  parseHostPort(text, CONTROL_PORT, 'peer');
  return text;
}

/** A peer's name (MAC form) or nickname, as `rmpeer` takes. */
function checkPeerId(text: string): string {
  if (text === '' || /[\s/()]/.test(text)) {
    throw new ConfigError(`invalid peer id "${text}": must be a nickname or a peer name like aa:bb:cc:dd:ee:ff`);
  }
  return text;
}

const CONTAINER_RULE = 'must be a Docker container name or ID, a network namespace name, pid:N or netns:/path';

/** A container reference: Docker name/ID, netns name, pid:N or netns:/path (DESIGN.md §1). */
export function checkContainer(text: string): string {
  if (text.startsWith('pid:')) {
    if (!/^[1-9]\d{0,9}$/.test(text.slice(4))) throw new ConfigError(`invalid container "${text}": pid:N needs a process id`);
    return text;
  }
  if (text.startsWith('netns:')) {
    if (!text.slice(6).startsWith('/')) throw new ConfigError(`invalid container "${text}": netns: needs an absolute path`);
    return text;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(text)) throw new ConfigError(`invalid container "${text}": ${CONTAINER_RULE}`);
  return text;
}

const ADDR_RULE = 'must be [ip:]CIDR, net:CIDR or net:default';
const CIDR_LIKE = /^\d+\.\d+\.\d+\.\d+\/\d+$/;

function looksLikeAddr(text: string): boolean {
  return text.startsWith('ip:') || text.startsWith('net:') || CIDR_LIKE.test(text);
}

/** Validates one attach/detach address and returns it in canonical form ("ip:" kept only if given). */
export function checkAddr(text: string): string {
  if (text === 'net:default') return text;
  const [kind, body] = text.startsWith('net:') ? ['net:', text.slice(4)]
    : text.startsWith('ip:') ? ['ip:', text.slice(3)] : ['', text];
  let c;
  try {
    c = parseCidr(body);
  } catch (err) {
    const rule = err instanceof ConfigError && body.includes('/') ? err.message.replace(/^invalid .*?": /, '') : ADDR_RULE;
    throw new ConfigError(`invalid address "${text}": ${rule}`, { cause: err });
  }
  if (kind === 'net:') {
    const net = networkOf(c);
    if (net.addr !== c.addr) {
      throw new ConfigError(`invalid address "${text}": host bits are set (did you mean net:${formatCidr(net)}?)`);
    }
  } else if (isNetworkOrBroadcast(c)) {
    throw new ConfigError(`invalid address "${text}": is the network or broadcast address of its subnet; pick a host address`);
  }
  return text;
}

/** An ADDR positional (expose/hide): anything else is named with the rule. */
function checkAddrArg(text: string): string {
  if (!looksLikeAddr(text)) throw new ConfigError(`invalid address "${text}": ${ADDR_RULE}`);
  return checkAddr(text);
}

function splitAddrsAndContainer(verb: string, pos: readonly string[]): { addrs: string[]; container: string } {
  if (pos.length === 0) throw new ConfigError(`${verb} needs a CONTAINER`);
  const container = pos[pos.length - 1]!;
  if (looksLikeAddr(container)) throw new ConfigError(`${verb} needs a CONTAINER after the addresses`);
  const addrs = pos.slice(0, -1).map((a) => {
    if (!looksLikeAddr(a)) {
      throw new ConfigError(`invalid address "${a}": ${ADDR_RULE} (only one CONTAINER, and it comes last)`);
    }
    return checkAddr(a);
  });
  return { addrs, container: checkContainer(container) };
}

function checkFqdn(what: string, text: string): string {
  // Keep the user's spelling (a trailing dot is optional); the daemon decides whether it is in the domain.
  parseDomainName(what, text);
  return text;
}

function checkLookupName(text: string): string {
  parseDomainName('name', text);
  return text;
}

function isIPv4(text: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(text);
}

/** dns-add / dns-remove: `[IP...] CONTAINER [-h FQDN]` or `IP... -h FQDN`. */
function parseDnsEdit(verb: 'dns-add' | 'dns-remove', p: ParsedFlags): Command {
  const pos = p.positionals;
  let i = 0;
  const ips: string[] = [];
  for (; i < pos.length && isIPv4(pos[i]!); i++) {
    parseIPv4(pos[i]!, 'IP address');
    ips.push(pos[i]!);
  }
  const rest = pos.slice(i);
  if (rest.length > 1) {
    throw new ConfigError(`${verb} takes at most one CONTAINER, after the IPs (got "${rest[0]}" and "${rest[1]}")`);
  }
  const fqdnText = flagValue(p, '--hostname');
  const fqdn = fqdnText === undefined ? undefined : checkFqdn('-h', fqdnText);
  const container = rest[0] === undefined ? undefined : checkContainer(rest[0]);
  if (container === undefined) {
    if (ips.length === 0) throw new ConfigError(`${verb} needs a CONTAINER, or IP... -h FQDN`);
    if (fqdn === undefined) throw new ConfigError(`${verb} without a CONTAINER needs -h FQDN`);
  }
  return {
    kind: verb, ips,
    ...(container === undefined ? {} : { container }),
    ...(fqdn === undefined ? {} : { fqdn }),
  };
}
