// `tsweave` end to end, with every outside effect injected: parse argv into a Command (commands.ts), check
// root, then run its action against the router's HTTP API. Returns the exit code:
// 0 ok, 1 runtime failure (router not running, HTTP error), 2 usage/config error (and not root).
// Errors are one line on stderr prefixed "tsweave: ". main.ts wires the real process, network and files.

import { setupCni } from '../cni/setup.js';
import { VERSION } from '../core/defaults.js';
import { TsweaveError, errorMessage } from '../core/errors.js';
import { formatLaunchConfig, type LaunchConfig } from '../config/launch.js';
import type { Status } from '../api/status-types.js';
import { parseTemplate } from '../api/go-template.js';
import { CLI_TEMPLATE_LIMITS, executeTemplate } from '../api/go-template-exec.js';
import { asWeaveReport } from '../api/weave-report.js';
import {
  formatConnections, formatDns, formatIpam, formatPeers, formatStatus, formatTargets,
} from '../api/status-format.js';
import { ApiClient, ApiError, type HttpTransport, RouterNotRunningError, resolveApiAddress } from './api-client.js';
import { type Command, findCommand, parseCommand } from './commands.js';
import { formatCommandHelp, formatUsage } from './help.js';

export interface Output {
  write(text: string): unknown;
}

/** Starting and stopping the daemon (lifecycle.ts). A returned string is printed on stdout. */
export interface Lifecycle {
  launch(cfg: LaunchConfig): Promise<string | void>;
  /** `dataDir`: --data-dir as given; absent → the router's own (lifecycle.ts finds it). */
  stop(dataDir?: string): Promise<string | void>;
  reset(force: boolean, dataDir?: string): Promise<string | void>;
}

export interface CliDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Output;
  readonly stderr: Output;
  readonly http: HttpTransport;
  readonly isRoot: () => boolean;
  readonly hostname: string;
  /** Reads a whole UTF-8 file (for --password-file); throws on failure. */
  readonly readFile: (path: string) => string;
  readonly lifecycle: Lifecycle;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Exit code for anything thrown: usage/config → 2, everything else → 1. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof TsweaveError && (err.code === 'ERR_CONFIG' || err.code === 'ERR_USAGE' || err.code === 'ERR_NOT_ROOT')) {
    return EXIT_USAGE;
  }
  // The router rejected the request as malformed (e.g. a bad address it validated): a usage error too.
  if (err instanceof ApiError && err.status === 400) return EXIT_USAGE;
  return EXIT_FAILURE;
}

export async function run(argv: readonly string[], deps: CliDeps): Promise<number> {
  if (argv.length === 0) {
    deps.stderr.write(formatUsage());
    return EXIT_USAGE;
  }
  try {
    const cmd = parseCommand(argv, deps.env, deps);
    checkRoot(cmd, deps);
    await execute(cmd, deps);
    return EXIT_OK;
  } catch (err) {
    // A programming error (TypeError, …) says so; anything else is a message meant for the user.
    const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError ||
      !(err instanceof Error);
    const msg = errorMessage(err).trim().replace(/\s*\n\s*/g, '; ');
    // "tsweave is not running" already names us; don't say it twice.
    const line = bug ? `tsweave: internal error: ${msg}` : msg.startsWith('tsweave ') ? msg : `tsweave: ${msg}`;
    deps.stderr.write(`${line}\n`);
    if (deps.env.TSWEAVE_DEBUG && err instanceof Error) deps.stderr.write(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}

function checkRoot(cmd: Command, deps: CliDeps): void {
  if (cmd.kind === 'help') return;
  if (cmd.kind === 'launch' && cmd.config.dryRun) return; // only validates and prints
  const spec = findCommand(cmd.kind);
  if (spec?.needsRoot && !deps.isRoot()) throw new TsweaveError('ERR_NOT_ROOT', 'this command must be run as root');
}

/** Runs a parsed command. Exported for tests; run() is the entry point. */
export async function execute(cmd: Command, deps: CliDeps): Promise<void> {
  const out = (text: string): void => {
    deps.stdout.write(text);
  };
  const printed = (text: string | void): void => {
    if (typeof text === 'string' && text !== '') out(text.endsWith('\n') ? text : `${text}\n`);
  };
  const api = (): ApiClient => new ApiClient(deps.http, resolveApiAddress(deps.env));
  const snapshot = async (): Promise<Status> => checkStatus(await api().json<unknown>('GET', '/snapshot'));

  switch (cmd.kind) {
    case 'help': {
      const spec = cmd.command === undefined ? undefined : findCommand(cmd.command);
      out(spec ? formatCommandHelp(spec) : formatUsage());
      return;
    }
    case 'version': {
      out(`tsweave ${VERSION}\n`);
      try {
        const v = await api().json<{ version?: unknown }>('GET', '/version');
        if (typeof v.version === 'string') out(`tsweave router ${v.version}\n`);
      } catch (err) {
        if (!(err instanceof RouterNotRunningError)) throw err;
      }
      return;
    }
    case 'launch':
      if (cmd.config.passwordSource === '--password') {
        deps.stderr.write('tsweave: warning: --password can be read by every user in the process list while launch ' +
          'starts; use --password-file FILE or the TSWEAVE_PASSWORD environment variable\n');
      }
      if (cmd.config.dryRun) {
        out(formatLaunchConfig(cmd.config));
        return;
      }
      printed(await deps.lifecycle.launch(cmd.config));
      return;
    case 'stop':
      printed(await deps.lifecycle.stop(cmd.dataDir));
      return;
    case 'setup-cni':
      printed((await setupCni(cmd)).join('\n'));
      return;
    case 'reset':
      printed(await deps.lifecycle.reset(cmd.force, cmd.dataDir));
      return;
    case 'connect':
      await api().text('POST', '/connect', { peers: cmd.peers, replace: cmd.replace });
      return;
    case 'forget':
      await api().text('POST', '/forget', { peers: cmd.peers });
      return;
    case 'attach': {
      const body = {
        container: cmd.container, addrs: cmd.addrs, withoutDns: cmd.withoutDns, ...(cmd.egress ? { egress: true } : {}),
        ...(cmd.hostname === undefined ? {} : { hostname: cmd.hostname }),
      };
      printAddrs(out, await api().json<unknown>('POST', '/attach', body));
      return;
    }
    case 'expose':
    case 'hide':
      printAddrs(out, await api().json<unknown>('POST', `/${cmd.kind}`, { addrs: cmd.addrs }));
      return;
    case 'detach':
      printAddrs(out, await api().json<unknown>('POST', '/detach', { container: cmd.container, addrs: cmd.addrs }));
      return;
    case 'status': {
      const s = await snapshot();
      switch (cmd.sub) {
        case undefined: out(`\n${formatStatus(s)}\n`); return; // Weave prints a blank line before and after
        case 'targets': out(formatTargets(s)); return;
        case 'connections': out(formatConnections(s)); return;
        case 'peers': out(formatPeers(s)); return;
        case 'dns': out(formatDns(s)); return;
        case 'ipam': out(formatIpam(s)); return;
      }
      return;
    }
    case 'report': {
      // A bad template fails before the router is asked; it runs here, not in the router (Weave ran it there).
      const tmpl = cmd.format === undefined ? undefined : parseTemplate('--format', cmd.format);
      const report = asWeaveReport(await api().json<unknown>('GET', '/report'));
      if (!report) throw unexpected('/report');
      // As Weave's: the template's output exactly, no newline added ($(tsweave report -f …) in scripts).
      out(tmpl ? executeTemplate(tmpl, report, CLI_TEMPLATE_LIMITS) : `${JSON.stringify(report, null, 4)}\n`);
      return;
    }
    case 'ps': {
      const query = cmd.containers.map((c) => `container=${encodeURIComponent(c)}`).join('&');
      const list = await api().json<unknown>('GET', query ? `/ps?${query}` : '/ps');
      if (!Array.isArray(list)) throw unexpected('/ps');
      for (const e of list as { containerId?: unknown; mac?: unknown; addrs?: unknown }[]) {
        if (typeof e?.containerId !== 'string' || typeof e.mac !== 'string' || !isStrings(e.addrs)) throw unexpected('/ps');
        const id = /^(cni:)?[0-9a-f]{64}$/.test(e.containerId) ? e.containerId.slice(0, e.containerId.length - 52) : e.containerId;
        out(`${[id, e.mac, ...e.addrs].join(' ')}\n`);
      }
      return;
    }
    case 'dns-add':
    case 'dns-remove': {
      const body = {
        ...(cmd.container === undefined ? {} : { container: cmd.container }),
        ips: cmd.ips,
        ...(cmd.fqdn === undefined ? {} : { fqdn: cmd.fqdn }),
      };
      await api().text(cmd.kind === 'dns-add' ? 'PUT' : 'DELETE', '/dns', body);
      return;
    }
    case 'dns-lookup': {
      const r = await api().json<{ addrs?: unknown }>('GET', `/dns-lookup?name=${encodeURIComponent(cmd.name)}`);
      if (!isStrings(r?.addrs)) throw unexpected('/dns-lookup');
      for (const a of r.addrs) out(`${a}\n`);
      return;
    }
    case 'dns-args': {
      const r = await api().json<{ address?: unknown; domain?: unknown }>('GET', '/dns-args');
      if (typeof r?.address !== 'string' || typeof r.domain !== 'string') throw unexpected('/dns-args');
      out(`--dns=${r.address} --dns-search=${r.domain}\n`);
      return;
    }
    case 'prime':
      await api().text('GET', '/ring');
      return;
    case 'rmpeer':
      for (const p of cmd.peers) printed(await api().text('DELETE', `/peer/${encodeURIComponent(p)}`));
      return;
  }
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function unexpected(path: string): Error {
  return new TsweaveError('ERR_STATE', `the router's answer to ${path} is not what this CLI expects (version mismatch?)`);
}

/** Weave prints the container's addresses without prefix, space-separated. */
function printAddrs(out: (s: string) => void, r: unknown): void {
  const addrs = (r as { addrs?: unknown } | null)?.addrs;
  if (!isStrings(addrs)) throw unexpected('attach/detach');
  if (addrs.length) out(`${addrs.map((a) => a.replace(/\/\d+$/, '')).join(' ')}\n`);
}

function checkStatus(v: unknown): Status {
  const s = v as Status | null;
  if (typeof s !== 'object' || s === null || typeof s.version !== 'string' || typeof s.router !== 'object' ||
      !Array.isArray(s.router?.connections) || !Array.isArray(s.router?.peers)) {
    throw unexpected('/snapshot');
  }
  return s;
}
