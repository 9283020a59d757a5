// Launch configuration: argv + environment → a validated LaunchConfig (pure; file reading is injected).
// The CLI parses it and hands it to the router (as JSON on stdin, or in-process with --foreground); the
// environment is read here and nowhere else, so `launch --dry-run` and the router's start log show every
// setting that is in effect.
//
// One table (LAUNCH_FLAGS) drives parsing, `tsweave launch --help` and `tsweave launch --dry-run`, so the help
// always tells the truth (STYLE.md habit 9); ENV_SETTINGS (settings.ts) does the same for the environment
// knobs. Every bad input is a ConfigError naming the flag, the value and the rule: `invalid --mtu "99": must
// be a whole number 576..65435`. The password never appears in a message.

import { ConfigError, errorMessage } from '../core/errors.js';
import {
  CONTROL_PORT, DEFAULT_CONN_LIMIT, DEFAULT_DATA_DIR, DEFAULT_DNS_DOMAIN, DEFAULT_DNS_TTL_S,
  DEFAULT_IPALLOC_RANGE, DEFAULT_MTU, DEFAULT_PLUGIN_SOCKET, MAX_MTU, METRICS_ADDR, METRICS_PORT, MIN_MTU,
} from '../core/defaults.js';
import {
  type Cidr, type HostPort, type PeerName, cidrContains, formatCidr, formatHostPort, parsePeerName, parseHostPort,
} from '../core/types.js';
import {
  type FlagSpec, flagValue, hasFlag, parseDomainName, parseFlags, parseIPv4HostPort, parseNetworkCidr, parseWholeNumber, reword,
} from './flags.js';
import { ENV_SETTINGS, parseRouterSettings, type RouterSettings } from './settings.js';

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
  /** Kernel VXLAN for peers that need no encryption (`--no-fastdp` turns it off; dataplane/fastdp.ts). */
  readonly fastdp: boolean;
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
  /** /metrics and /ui/ listener; undefined → 127.0.0.1:6782, null → off (`--metrics-addr ""`). */
  readonly metricsAddr?: HostPort | null;
  /** The Docker plugin's socket (issue 13); undefined → no plugin (`--no-plugin`). */
  readonly pluginSocket?: string;
  /** What the environment sets (settings.ts ENV_SETTINGS). */
  readonly settings: RouterSettings;
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
  { flag: '--foreground', help: 'run the router in this process instead of detaching (systemd, Docker)',
    env: ['TSWEAVE_FOREGROUND'] },
  { flag: '--no-discovery', help: 'only connect to the peers given, not to peers learnt from them' },
  { flag: '--no-fastdp',
    help: 'keep every connection on the sleeve (UDP through the router); by default, peers that need no encryption ' +
      '(no password, or both in --trusted-subnets) carry known unicast over kernel VXLAN (UDP port+1)' },
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
  { flag: '--plugin-socket', value: 'PATH', default: DEFAULT_PLUGIN_SOCKET, env: ['TSWEAVE_PLUGIN_SOCKET'],
    help: 'serve the Docker network and IPAM plugin "weavemesh" here and create the Docker network "weave"' },
  { flag: '--no-plugin', help: 'do not serve the Docker plugin' },
  { flag: '--api-group', value: 'GROUP', default: 'none (root only)', env: ['TSWEAVE_API_GROUP'],
    help: 'members of this group may change the router through the API socket (read-only routes need no group)' },
  { flag: '--api-socket', value: 'PATH', default: '/run/tsweave/netns-<namespace inode>/api.sock', env: ['TSWEAVE_API_SOCKET'],
    help: 'the unix socket of the control API; the CLI finds it through TSWEAVE_API_SOCKET' },
  { flag: '--metrics-addr', value: 'ADDR:PORT', default: `${METRICS_ADDR}:${METRICS_PORT}`, env: ['TSWEAVE_METRICS_ADDR'],
    help: 'read-only listener for Prometheus /metrics and the topology page /ui/; "" turns it off' },
  { flag: '--log-level', value: 'LEVEL', default: 'info', help: "debug | info | warn (or Weave's warning) | error" },
  { flag: '--dry-run', help: 'check the configuration, print it (password redacted) and exit' },
];

/** A switch from the environment: "1" on, unset/""/"0" off (the image sets TSWEAVE_FOREGROUND=1). */
function onFromEnv(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const text = env[name];
  if (text === undefined || text === '' || text === '0') return false;
  if (text === '1') return true;
  throw new ConfigError(`invalid ${name} "${text}": must be 1 or 0`);
}

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
      throw new ConfigError(`invalid --log-level "${lvl}": must be one of ${LOG_LEVELS.join(', ')} (or warning)`);
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
  const metricsText = get('--metrics-addr') ?? env.TSWEAVE_METRICS_ADDR;
  const metricsAddr = metricsText === undefined ? undefined : metricsText.trim() === '' ? null : parseIPv4HostPort('--metrics-addr', metricsText);

  return {
    ...(metricsAddr === undefined ? {} : { metricsAddr }),
    password, passwordSource, name, nickname, port, mtu, dataDir,
    foreground: has('--foreground') || onFromEnv(env, 'TSWEAVE_FOREGROUND'),
    discovery: !has('--no-discovery'),
    fastdp: !has('--no-fastdp'),
    connLimit, trustedSubnets, ipam, dns, logLevel,
    dryRun: has('--dry-run'),
    peers,
    settings: parseRouterSettings(env),
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
      case '--no-fastdp': return String(!cfg.fastdp);
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
      case '--api-group': return cfg.apiGroup ?? 'none (root only)';
      case '--api-socket': return cfg.apiSocket ?? '/run/tsweave/netns-<namespace inode>/api.sock';
      case '--plugin-socket': return cfg.pluginSocket ?? '-';
      case '--no-plugin': return String(cfg.pluginSocket === undefined);
      case '--metrics-addr':
        return cfg.metricsAddr === null ? '"" (off)' : cfg.metricsAddr ? formatHostPort(cfg.metricsAddr) : `${METRICS_ADDR}:${METRICS_PORT}`;
      case '--log-level': return cfg.logLevel;
      case '--dry-run': return String(cfg.dryRun);
      default: return '?';
    }
  };
  const rows = LAUNCH_FLAGS.map((f) => [f.flag, v(f.flag)] as const);
  rows.push(['peers', cfg.peers.length ? cfg.peers.map(formatHostPort).join(' ') : 'none']);
  const w = Math.max(...rows.map(([k]) => k.length));
  const envRows = ENV_SETTINGS.map((e) => [e.env, e.show(cfg.settings)] as const);
  const ew = Math.max(...envRows.map(([k]) => k.length));
  return (
    rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n') +
    '\n\nenvironment:\n' +
    envRows.map(([k, val]) => `${k.padEnd(ew)}  ${val}`).join('\n') +
    '\n'
  );
}

/** The configuration as the router logs it at start: every setting, the password only as where it came from. */
export function launchConfigForLog(cfg: LaunchConfig): Record<string, unknown> {
  const { password, ...rest } = cfg;
  return {
    ...rest,
    password: password === undefined ? 'none' : `<redacted> (from ${cfg.passwordSource})`,
    trustedSubnets: cfg.trustedSubnets.map(formatCidr),
    ...(cfg.ipam ? { ipam: { ...cfg.ipam, range: formatCidr(cfg.ipam.range), defaultSubnet: formatCidr(cfg.ipam.defaultSubnet) } } : {}),
    ...(cfg.dns ? { dns: { ...cfg.dns, allow: cfg.dns.allow.map(formatCidr) } } : {}),
    peers: cfg.peers.map(formatHostPort),
  };
}
