// Launch configuration: argv + environment → a validated LaunchConfig (pure; file reading is injected).
//
// One table (LAUNCH_FLAGS) drives parsing, `tsweave launch --help` and `tsweave launch --dry-run`, so the help
// always tells the truth (STYLE.md habit 9). Every bad input is a ConfigError naming the flag, the value and
// the rule: `invalid --mtu "99": must be a whole number 576..65435`. The password never appears in a message.
//
// The small flag engine (FlagSpec, parseFlags) lives here too so the daemon can parse its own argv without
// importing the CLI; the CLI builds its per-command tables on the same engine.

import { ConfigError, errorMessage } from '../core/errors.js';
import { DEFAULT_PLUGIN_SOCKET } from '../containers/docker-plugin.js';
import {
  CONTROL_PORT, DEFAULT_CONN_LIMIT, DEFAULT_DATA_DIR, DEFAULT_DNS_DOMAIN, DEFAULT_DNS_TTL_S,
  DEFAULT_IPALLOC_RANGE, DEFAULT_MTU, MAX_MTU, MIN_MTU,
} from '../core/defaults.js';
import {
  type Cidr, type HostPort, type PeerName, cidrContains, broadcastOf, formatCidr, formatHostPort, networkOf,
  parseCidr, parseIPv4, parsePeerName, parseHostPort,
} from '../core/types.js';

// ---------------------------------------------------------------------------------------------
// Flag engine.

/** One command-line flag: the single source for parsing and for help text. */
export interface FlagSpec {
  /** Long form with dashes, e.g. "--mtu". */
  readonly flag: string;
  /** Optional short alias, e.g. "-h". */
  readonly short?: string;
  /** Placeholder for the value ("N", "CIDR"); absent for a switch that takes no value. */
  readonly value?: string;
  /** The default as shown in help; absent when there is none. */
  readonly default?: string;
  readonly help: string;
  /** Environment variables consulted when the flag is absent, highest precedence first. */
  readonly env?: readonly string[];
  /** May be given more than once; values are collected in order. */
  readonly repeatable?: boolean;
}

export interface ParsedFlags {
  /** Flag (long form) → values in order; a switch has the value "". */
  readonly flags: Map<string, string[]>;
  readonly positionals: string[];
}

/**
 * Parses `argv` against `specs`. Accepts `--flag value`, `--flag=value`, `-s value`, flags and positionals in
 * any order, and `--` to end flags. `context` names the command in messages ("for launch").
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], context: string): ParsedFlags {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.flag, s);
    if (s.short) byName.set(s.short, s);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(name);
    if (!spec) throw unknownFlag(name, specs, context);
    let value: string;
    if (spec.value === undefined) {
      if (eq >= 0) throw new ConfigError(`${spec.flag} takes no value (got "${arg}")`);
      value = '';
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new ConfigError(
          `${name} needs a value (${name} ${spec.value})` +
            (next === undefined ? '' : `; write ${name}=VALUE if the value starts with "--"`),
        );
      }
      value = next;
      i++;
    }
    const seen = flags.get(spec.flag);
    if (seen && !spec.repeatable) throw new ConfigError(`${spec.flag} may be given only once`);
    if (seen) seen.push(value);
    else flags.set(spec.flag, [value]);
  }
  return { flags, positionals };
}

function unknownFlag(name: string, specs: readonly FlagSpec[], context: string): ConfigError {
  const guess = suggest(name, specs.flatMap((s) => (s.short ? [s.flag, s.short] : [s.flag])));
  return new ConfigError(`unknown flag "${name}" for ${context}${guess ? ` (did you mean ${guess}?)` : ''}`);
}

/** The known word closest to `word` (edit distance ≤ 2, or a unique prefix), if any. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(word, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3))) return best;
  const prefixed = known.filter((k) => word.length >= 3 && k.startsWith(word));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The last value of a flag, or undefined when absent. */
export function flagValue(p: ParsedFlags, flag: string): string | undefined {
  const v = p.flags.get(flag);
  return v === undefined ? undefined : v[v.length - 1];
}

export function hasFlag(p: ParsedFlags, flag: string): boolean {
  return p.flags.has(flag);
}

// ---------------------------------------------------------------------------------------------
// Value validators shared by launch and the CLI commands. Each names the flag, the value and the rule.

export function parseWholeNumber(flag: string, text: string, min: number, max: number, note = ''): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`invalid ${flag} "${text}": must be a whole number ${min}..${max}${note}`);
  }
  return Number(text);
}

/** Rewords a core parser's error so the message names `what` and the full text the user typed. */
function reword<T>(what: string, text: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const rule = err.message.replace(/^invalid .*?": /, '');
    throw new ConfigError(`invalid ${what} "${text}": ${rule}`, { cause: err });
  }
}

/** A CIDR that must be a network address (no host bits), e.g. an allocation range or trusted subnet. */
export function parseNetworkCidr(what: string, text: string, maxPrefix = 32): Cidr {
  const c = reword(what, text, () => parseCidr(text.trim()));
  const net = networkOf(c);
  if (net.addr !== c.addr) {
    throw new ConfigError(`invalid ${what} "${text}": host bits are set (did you mean ${formatCidr(net)}?)`);
  }
  if (c.prefix > maxPrefix) {
    throw new ConfigError(`invalid ${what} "${text}": prefix length must be 0..${maxPrefix} to leave room for addresses`);
  }
  return c;
}

const DNS_LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A domain name, lowercased, with a trailing dot ("weave.local" → "weave.local."). */
export function parseDomainName(what: string, text: string): string {
  const s = text.trim().toLowerCase().replace(/\.$/, '');
  const labels = s.split('.');
  if (s === '' || s.length > 253 || !labels.every((l) => DNS_LABEL_RE.test(l))) {
    throw new ConfigError(
      `invalid ${what} "${text}": must be a domain name like weave.local. (labels of letters, digits and "-")`,
    );
  }
  return `${s}.`;
}

/** IPv4:port, e.g. the DNS listen address. */
export function parseIPv4HostPort(what: string, text: string): HostPort {
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new ConfigError(`invalid ${what} "${text}": must be ADDRESS:PORT like 172.17.0.1:53`);
  const host = text.slice(0, colon);
  reword(what, text, () => parseIPv4(host));
  const p = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
    throw new ConfigError(`invalid ${what} "${text}": port must be a number 1..65535`);
  }
  return { host, port: Number(p) };
}

// ---------------------------------------------------------------------------------------------
// The launch configuration.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** How IPAM bootstraps (DESIGN.md §5, WEAVE-FACTS §3.2). */
export type IpallocInit =
  /** Paxos among the first peers; `count` = number of peers expected (quorum count/2+1); absent → from targets. */
  | { readonly mode: 'consensus'; readonly count?: number }
  /** Deterministic split among these peers, no communication. */
  | { readonly mode: 'seed'; readonly peers: readonly PeerName[] }
  /** Never seeds; asks others for space. */
  | { readonly mode: 'observer' };

export interface IpamLaunchConfig {
  readonly range: Cidr;
  /** Lies within `range`; `net:default` on attach means this subnet. */
  readonly defaultSubnet: Cidr;
  readonly init: IpallocInit;
}

export interface DnsLaunchConfig {
  /** Lowercase with a trailing dot, e.g. "weave.local.". */
  readonly domain: string;
  /**
   * undefined → the daemon picks: the Docker bridge address:53 when there is one, else an address claimed
   * from IPAM (id "weave:dns") and put on the weave bridge, :53 (daemon/weavedns.ts).
   */
  readonly listenAddress: HostPort | undefined;
  readonly ttlS: number;
  /** Networks answered besides the overlay (--dns-allow); [] = overlay and this host only. */
  readonly allow: readonly Cidr[];
}

export type PasswordSource = '--password' | '--password-file' | 'TSWEAVE_PASSWORD' | 'WEAVE_PASSWORD';

export interface LaunchConfig {
  /** undefined → unencrypted. Never log or print it (formatLaunchConfig redacts it). */
  readonly password: string | undefined;
  /** Where the password came from (for --dry-run and startup logs). */
  readonly passwordSource: PasswordSource | undefined;
  /** undefined → the name kept in the data dir, or a new random one. */
  readonly name: PeerName | undefined;
  readonly nickname: string;
  readonly port: number;
  readonly mtu: number;
  readonly dataDir: string;
  readonly foreground: boolean;
  readonly discovery: boolean;
  /** 0 = unlimited. */
  readonly connLimit: number;
  readonly trustedSubnets: readonly Cidr[];
  /** undefined → IPAM disabled (`--ipalloc-range ""`). */
  readonly ipam: IpamLaunchConfig | undefined;
  /** undefined → DNS disabled (`--no-dns`). */
  readonly dns: DnsLaunchConfig | undefined;
  readonly logLevel: LogLevel;
  readonly dryRun: boolean;
  /** Initial targets; a peer without a port uses `port`. */
  readonly peers: readonly HostPort[];
  /** The API's unix socket; undefined → /run/tsweave/netns-<inode>/api.sock (io/api-socket.ts). */
  readonly apiSocket?: string;
  /** Group (name or gid) that may use the API socket besides root; undefined → root only. */
  readonly apiGroup?: string;
  /** The Docker plugin's socket (issue 13); undefined → no plugin (`--no-plugin`). */
  readonly pluginSocket?: string;
}

export interface LaunchDeps {
  /** This machine's host name: the default nickname. */
  readonly hostname: string;
  /** Reads a whole file as UTF-8 (used for --password-file); throws on failure. */
  readonly readFile: (path: string) => string;
}

export const DNS_LISTEN_DEFAULT_TEXT =
  'the Docker bridge (docker0) address:53; without docker0, an IPAM address of the weave network put on the weave bridge, :53';

/** Every `tsweave launch` flag, in help order. */
export const LAUNCH_FLAGS: readonly FlagSpec[] = [
  { flag: '--password', value: 'PW',
    help: 'encrypt all traffic between peers with this password; every user can read it in the process list, ' +
      'so prefer --password-file or TSWEAVE_PASSWORD',
    env: ['TSWEAVE_PASSWORD', 'WEAVE_PASSWORD'] },
  { flag: '--password-file', value: 'FILE', help: 'read the password from FILE (a trailing newline is ignored)' },
  { flag: '--name', value: 'MAC', default: 'kept in the data dir, else random',
    help: 'peer name, 6 hex bytes like aa:bb:cc:dd:ee:ff (or ::1 shorthand)' },
  { flag: '--nickname', value: 'NAME', default: 'host name', help: 'human-friendly peer name shown in status' },
  { flag: '--port', value: 'N', default: String(CONTROL_PORT), help: 'TCP control and UDP data port' },
  { flag: '--mtu', value: 'N', default: String(DEFAULT_MTU), help: `overlay MTU, ${MIN_MTU}..${MAX_MTU}` },
  { flag: '--data-dir', value: 'DIR', default: DEFAULT_DATA_DIR, env: ['TSWEAVE_DATA_DIR'],
    help: 'where the peer name, IPAM, DNS and targets are kept' },
  { flag: '--foreground', help: 'run the router in this process instead of detaching (systemd, Docker)' },
  { flag: '--no-discovery', help: 'only connect to the peers given, not to peers learnt from them' },
  { flag: '--conn-limit', value: 'N', default: String(DEFAULT_CONN_LIMIT), help: 'most connections, 0 = unlimited' },
  { flag: '--trusted-subnets', value: 'CIDR,...', default: 'none',
    help: 'peers at addresses in these subnets are trusted: when both ends trust each other, their data plane is unencrypted (the control plane stays encrypted)' },
  { flag: '--ipalloc-range', value: 'CIDR', default: DEFAULT_IPALLOC_RANGE,
    help: 'range IPAM allocates container addresses from; "" disables IPAM' },
  { flag: '--ipalloc-default-subnet', value: 'CIDR', default: 'the whole range',
    help: 'subnet for attach without net:CIDR; must lie within the range' },
  { flag: '--ipalloc-init', value: 'MODE', default: 'consensus',
    help: 'IPAM bootstrap: consensus[=COUNT] | seed=MAC,... | observer' },
  { flag: '--dns-domain', value: 'DOMAIN', default: DEFAULT_DNS_DOMAIN,
    help: 'domain weaveDNS answers for; other names go to the upstream servers in /etc/resolv.conf' },
  { flag: '--dns-listen-address', value: 'ADDR:PORT', default: DNS_LISTEN_DEFAULT_TEXT,
    help: 'where weaveDNS listens (UDP and TCP). The weave-bridge address is claimed by the first ' +
      '`tsweave dns-args` and kept; with IPAM off and no docker0 there is no default. dns-args prints the address' },
  { flag: '--dns-ttl', value: 'N', default: String(DEFAULT_DNS_TTL_S), help: 'TTL in seconds of DNS answers' },
  { flag: '--dns-allow', value: 'CIDR,...', default: 'none',
    help: 'also answer DNS queries from these networks; by default only containers on the weave and docker0 ' +
      'bridges and this host are answered, never other machines on the hosts\' network' },
  { flag: '--no-dns', help: 'disable weaveDNS' },
  { flag: '--plugin-socket', value: 'PATH', default: '/run/docker/plugins/weavemesh.sock', env: ['TSWEAVE_PLUGIN_SOCKET'],
    help: 'serve the Docker network and IPAM plugin "weavemesh" here and create the Docker network "weave"' },
  { flag: '--no-plugin', help: 'do not serve the Docker plugin' },
  { flag: '--api-group', value: 'GROUP', default: 'none (root only)', env: ['TSWEAVE_API_GROUP'],
    help: 'members of this group may change the router through the API socket (read-only routes need no group)' },
  { flag: '--api-socket', value: 'PATH', default: '/run/tsweave/netns-<namespace inode>/api.sock', env: ['TSWEAVE_API_SOCKET'],
    help: 'the unix socket of the control API; the CLI finds it through TSWEAVE_API_SOCKET' },
  { flag: '--log-level', value: 'LEVEL', default: 'info', help: 'debug | info | warn | error' },
  { flag: '--dry-run', help: 'check the configuration, print it (password redacted) and exit' },
];

/**
 * Builds the launch configuration from `argv` (the arguments after "launch") and the environment.
 * Precedence: flag, then environment, then default.
 */
export function parseLaunchArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  deps: LaunchDeps,
): LaunchConfig {
  const p = parseFlags(argv, LAUNCH_FLAGS, 'launch');
  const get = (f: string): string | undefined => flagValue(p, f);
  const has = (f: string): boolean => hasFlag(p, f);

  // Password: --password / --password-file, then TSWEAVE_PASSWORD, then WEAVE_PASSWORD. An empty flag or file
  // is an error; an empty environment variable counts as unset (the shell idiom).
  let password: string | undefined;
  let passwordSource: PasswordSource | undefined;
  if (has('--password') && has('--password-file')) {
    throw new ConfigError('--password-file and --password are mutually exclusive');
  }
  if (has('--password')) {
    password = get('--password')!;
    passwordSource = '--password';
    if (password === '') throw new ConfigError('invalid --password "": must not be empty');
  } else if (has('--password-file')) {
    const file = get('--password-file')!;
    if (file === '') throw new ConfigError('invalid --password-file "": must be a file name');
    let text: string;
    try {
      text = deps.readFile(file);
    } catch (err) {
      throw new ConfigError(`cannot read --password-file "${file}": ${errorMessage(err)}`, { cause: err });
    }
    password = text.replace(/[\r\n]+$/, '');
    passwordSource = '--password-file';
    if (password === '') throw new ConfigError(`invalid --password-file "${file}": the file holds no password`);
  } else if (env.TSWEAVE_PASSWORD) {
    password = env.TSWEAVE_PASSWORD;
    passwordSource = 'TSWEAVE_PASSWORD';
  } else if (env.WEAVE_PASSWORD) {
    password = env.WEAVE_PASSWORD;
    passwordSource = 'WEAVE_PASSWORD';
  }

  const nameText = get('--name');
  const name = nameText === undefined ? undefined : parsePeerName(nameText, '--name');

  const nickname = get('--nickname') ?? deps.hostname;
  if (nickname === '' || nickname.length > 255 || /[\s()]/.test(nickname) || /\p{Cc}/u.test(nickname)) {
    throw new ConfigError(
      `invalid --nickname "${nickname}": must be 1..255 characters without spaces or parentheses` +
        (get('--nickname') === undefined ? ' (it defaults to the host name; pass --nickname)' : ''),
    );
  }

  const num = (flag: string, dflt: number, min: number, max: number, note = ''): number => {
    const t = get(flag);
    return t === undefined ? dflt : parseWholeNumber(flag, t, min, max, note);
  };
  const port = num('--port', CONTROL_PORT, 1, 65535);
  const mtu = num('--mtu', DEFAULT_MTU, MIN_MTU, MAX_MTU);
  const connLimit = num('--conn-limit', DEFAULT_CONN_LIMIT, 0, 1_000_000, ' (0 = unlimited)');

  const dataDir = get('--data-dir') ?? (env.TSWEAVE_DATA_DIR || DEFAULT_DATA_DIR);
  if (dataDir === '') throw new ConfigError('invalid --data-dir "": must be a directory path');

  const trustedText = get('--trusted-subnets') ?? '';
  const trustedSubnets = trustedText.trim() === ''
    ? []
    : trustedText.split(',').map((t) => parseNetworkCidr('--trusted-subnets entry', t.trim()));

  const ipam = parseIpam(get('--ipalloc-range'), get('--ipalloc-default-subnet'), get('--ipalloc-init'));

  let dns: DnsLaunchConfig | undefined;
  if (has('--no-dns')) {
    for (const f of ['--dns-domain', '--dns-listen-address', '--dns-ttl', '--dns-allow']) {
      if (has(f)) throw new ConfigError(`--no-dns and ${f} are mutually exclusive`);
    }
  } else {
    const listen = get('--dns-listen-address');
    dns = {
      domain: parseDomainName('--dns-domain', get('--dns-domain') ?? DEFAULT_DNS_DOMAIN),
      listenAddress: listen === undefined ? undefined : parseIPv4HostPort('--dns-listen-address', listen),
      ttlS: num('--dns-ttl', DEFAULT_DNS_TTL_S, 0, 2_147_483_647),
      allow: (get('--dns-allow') ?? '').split(',').filter((t) => t.trim() !== '').map((t) => parseNetworkCidr('--dns-allow entry', t.trim())),
    };
  }

  let logLevel: LogLevel = 'info';
  const lvl = get('--log-level');
  if (lvl !== undefined) {
    const l = lvl.toLowerCase() === 'warning' ? 'warn' : lvl.toLowerCase(); // Weave spells it "warning"
    if (!(LOG_LEVELS as readonly string[]).includes(l)) {
      throw new ConfigError(`invalid --log-level "${lvl}": must be one of ${LOG_LEVELS.join(', ')}`);
    }
    logLevel = l as LogLevel;
  }

  const peers = p.positionals.map((t) => parseHostPort(t, port, 'peer'));

  const apiSocket = get('--api-socket') ?? (env.TSWEAVE_API_SOCKET || undefined);
  if (apiSocket !== undefined && !apiSocket.startsWith('/')) {
    throw new ConfigError(`invalid --api-socket "${apiSocket}": must be an absolute path`);
  }
  const apiGroup = get('--api-group') ?? (env.TSWEAVE_API_GROUP || undefined);
  if (apiGroup !== undefined && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$|^\d{1,10}$/.test(apiGroup)) {
    throw new ConfigError(`invalid --api-group "${apiGroup}": must be a group name or a numeric gid`);
  }

  const pluginSocket = has('--no-plugin') ? undefined : get('--plugin-socket') ?? (env.TSWEAVE_PLUGIN_SOCKET || DEFAULT_PLUGIN_SOCKET);
  if (pluginSocket !== undefined && !pluginSocket.startsWith('/')) {
    throw new ConfigError(`invalid --plugin-socket "${pluginSocket}": must be an absolute path`);
  }

  return {
    password, passwordSource, name, nickname, port, mtu, dataDir,
    foreground: has('--foreground'),
    discovery: !has('--no-discovery'),
    connLimit, trustedSubnets, ipam, dns, logLevel,
    dryRun: has('--dry-run'),
    peers,
    ...(apiSocket === undefined ? {} : { apiSocket }),
    ...(apiGroup === undefined ? {} : { apiGroup }),
    ...(pluginSocket === undefined ? {} : { pluginSocket }),
  };
}

function parseIpam(
  rangeText: string | undefined,
  subnetText: string | undefined,
  initText: string | undefined,
): IpamLaunchConfig | undefined {
  if (rangeText !== undefined && rangeText.trim() === '') {
    if (subnetText !== undefined) {
      throw new ConfigError('--ipalloc-default-subnet needs IPAM, but --ipalloc-range "" disables it');
    }
    if (initText !== undefined) throw new ConfigError('--ipalloc-init needs IPAM, but --ipalloc-range "" disables it');
    return undefined;
  }
  const range = parseNetworkCidr('--ipalloc-range', rangeText ?? DEFAULT_IPALLOC_RANGE, 30);
  let defaultSubnet = range;
  if (subnetText !== undefined) {
    defaultSubnet = parseNetworkCidr('--ipalloc-default-subnet', subnetText, 30);
    if (defaultSubnet.prefix < range.prefix || !cidrContains(range, defaultSubnet.addr)) {
      throw new ConfigError(
        `invalid --ipalloc-default-subnet "${subnetText}": must lie within --ipalloc-range ${formatCidr(range)}`,
      );
    }
  }
  return { range, defaultSubnet, init: parseIpallocInit(initText) };
}

const INIT_RULE = 'must be consensus, consensus=COUNT, seed=MAC,... or observer';

export function parseIpallocInit(text: string | undefined): IpallocInit {
  if (text === undefined || text === 'consensus') return { mode: 'consensus' };
  if (text === 'observer') return { mode: 'observer' };
  if (text.startsWith('consensus=')) {
    const n = text.slice('consensus='.length);
    if (!/^\d{1,6}$/.test(n) || Number(n) < 1) {
      throw new ConfigError(`invalid --ipalloc-init "${text}": COUNT must be a whole number >= 1`);
    }
    return { mode: 'consensus', count: Number(n) };
  }
  if (text.startsWith('seed=')) {
    const list = text.slice('seed='.length).split(',').filter((s) => s !== '');
    if (list.length === 0) throw new ConfigError(`invalid --ipalloc-init "${text}": seed= needs at least one peer name`);
    const peers = list.map((s) => reword('--ipalloc-init seed', s, () => parsePeerName(s)));
    const dup = peers.find((n, i) => peers.indexOf(n) !== i);
    if (dup) throw new ConfigError(`invalid --ipalloc-init "${text}": peer ${dup} is listed twice`);
    return { mode: 'seed', peers };
  }
  throw new ConfigError(`invalid --ipalloc-init "${text}": ${INIT_RULE}`);
}

export function formatIpallocInit(init: IpallocInit): string {
  switch (init.mode) {
    case 'consensus':
      return init.count === undefined ? 'consensus' : `consensus=${init.count}`;
    case 'seed':
      return `seed=${init.peers.join(',')}`;
    case 'observer':
      return 'observer';
  }
}

/**
 * The resolved configuration, one `--flag value` row per LAUNCH_FLAGS entry plus the peers, as
 * `launch --dry-run` prints it. The password is never shown, only where it came from.
 */
export function formatLaunchConfig(cfg: LaunchConfig): string {
  const v = (flag: string): string => {
    switch (flag) {
      case '--password':
        return cfg.password === undefined ? 'none (unencrypted)' : `<redacted> (from ${cfg.passwordSource})`;
      case '--password-file':
        return cfg.passwordSource === '--password-file' ? '(used)' : '-';
      case '--name': return cfg.name ?? '(kept in the data dir, else random)';
      case '--nickname': return cfg.nickname;
      case '--port': return String(cfg.port);
      case '--mtu': return String(cfg.mtu);
      case '--data-dir': return cfg.dataDir;
      case '--foreground': return String(cfg.foreground);
      case '--no-discovery': return String(!cfg.discovery);
      case '--conn-limit': return cfg.connLimit === 0 ? '0 (unlimited)' : String(cfg.connLimit);
      case '--trusted-subnets':
        return cfg.trustedSubnets.length ? cfg.trustedSubnets.map(formatCidr).join(',') : 'none';
      case '--ipalloc-range': return cfg.ipam ? formatCidr(cfg.ipam.range) : '"" (IPAM disabled)';
      case '--ipalloc-default-subnet': return cfg.ipam ? formatCidr(cfg.ipam.defaultSubnet) : '-';
      case '--ipalloc-init': return cfg.ipam ? formatIpallocInit(cfg.ipam.init) : '-';
      case '--dns-domain': return cfg.dns ? cfg.dns.domain : '-';
      case '--dns-listen-address':
        return cfg.dns ? (cfg.dns.listenAddress ? formatHostPort(cfg.dns.listenAddress) : DNS_LISTEN_DEFAULT_TEXT) : '-';
      case '--dns-ttl': return cfg.dns ? String(cfg.dns.ttlS) : '-';
      case '--dns-allow': return cfg.dns ? (cfg.dns.allow.length ? cfg.dns.allow.map(formatCidr).join(',') : 'none') : '-';
      case '--no-dns': return String(cfg.dns === undefined);
      case '--plugin-socket': return cfg.pluginSocket ?? '-';
      case '--no-plugin': return String(cfg.pluginSocket === undefined);
      case '--api-group': return cfg.apiGroup ?? 'none (root only)';
      case '--api-socket': return cfg.apiSocket ?? '/run/tsweave/netns-<namespace inode>/api.sock';
      case '--log-level': return cfg.logLevel;
      case '--dry-run': return String(cfg.dryRun);
      default: return '?';
    }
  };
  const rows = LAUNCH_FLAGS.map((f) => [f.flag, v(f.flag)] as const);
  rows.push(['peers', cfg.peers.length ? cfg.peers.map(formatHostPort).join(' ') : 'none']);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n') + '\n';
}

/**
 * argv that parseLaunchArgs turns back into an equal configuration, without the password (pass that to a
 * child process in the TSWEAVE_PASSWORD environment variable so it never shows in `ps`) and without --dry-run.
 */
export function launchConfigToArgs(cfg: LaunchConfig): string[] {
  const a: string[] = [];
  if (cfg.name) a.push(`--name=${cfg.name}`);
  a.push(`--nickname=${cfg.nickname}`, `--port=${cfg.port}`, `--mtu=${cfg.mtu}`, `--data-dir=${cfg.dataDir}`);
  if (cfg.foreground) a.push('--foreground');
  if (!cfg.discovery) a.push('--no-discovery');
  a.push(`--conn-limit=${cfg.connLimit}`);
  if (cfg.trustedSubnets.length) a.push(`--trusted-subnets=${cfg.trustedSubnets.map(formatCidr).join(',')}`);
  if (cfg.ipam) {
    a.push(`--ipalloc-range=${formatCidr(cfg.ipam.range)}`, `--ipalloc-default-subnet=${formatCidr(cfg.ipam.defaultSubnet)}`,
      `--ipalloc-init=${formatIpallocInit(cfg.ipam.init)}`);
  } else {
    a.push('--ipalloc-range=');
  }
  if (cfg.dns) {
    a.push(`--dns-domain=${cfg.dns.domain}`, `--dns-ttl=${cfg.dns.ttlS}`);
    if (cfg.dns.listenAddress) a.push(`--dns-listen-address=${formatHostPort(cfg.dns.listenAddress)}`);
    if (cfg.dns.allow.length) a.push(`--dns-allow=${cfg.dns.allow.map(formatCidr).join(',')}`);
  } else {
    a.push('--no-dns');
  }
  if (cfg.apiGroup !== undefined) a.push(`--api-group=${cfg.apiGroup}`);
  if (cfg.apiSocket !== undefined) a.push(`--api-socket=${cfg.apiSocket}`);
  a.push(cfg.pluginSocket === undefined ? '--no-plugin' : `--plugin-socket=${cfg.pluginSocket}`);
  a.push(`--log-level=${cfg.logLevel}`, '--', ...cfg.peers.map(formatHostPort));
  return a;
}

/** True when `addr` is the network or broadcast address of `c` (unusable for a host when prefix < 31). */
export function isNetworkOrBroadcast(c: Cidr): boolean {
  return c.prefix < 31 && (networkOf(c).addr === c.addr || broadcastOf(c) === c.addr);
}
