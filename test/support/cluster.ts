// A multi-host tsweave lab for real-kernel tests: an underlay switch namespace, host namespaces each
// running a real router through the real CLI (bin/tsweave, compiled), and container namespaces.
//
//   underlay switch (br0, 10.200.0.0/24)
//     ├── h1: eth0 10.200.0.1  — tsweave router, bridge `weave`, TAP
//     ├── h2: eth0 10.200.0.2  — …
//   containers: empty namespaces attached with `tsweave attach` on their host
//
// Routers are stopped by the PID they wrote to their data dir, never by name.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, type ExecResult } from '../../src/io/exec.js';
import { NetnsLab, sh, type Netns, type Underlay } from './netns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TSWEAVE_BIN = join(ROOT, 'bin', 'tsweave');

export interface Host {
  n: number;
  ns: Netns;
  ip: string;
  dataDir: string;
  /** Extra environment for the CLI (e.g. DOCKER_HOST). */
  env: Record<string, string>;
}

export interface RunResult extends ExecResult {
  code: number;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export class Cluster {
  readonly lab: NetnsLab;
  underlay!: Underlay;
  readonly hosts: Host[] = [];
  private tmp!: string;

  /** `bin`: the tsweave CLI the routers run (another build's, for side-by-side benchmarks). */
  constructor(tag: string, readonly bin: string = TSWEAVE_BIN) {
    this.lab = new NetnsLab(tag);
  }

  async init(): Promise<void> {
    this.tmp = await mkdtemp('/tmp/tsw-cluster-');
    this.lab.onCleanup(() => rm(this.tmp, { recursive: true, force: true }));
    this.underlay = await this.lab.addUnderlay('ul');
  }

  async addHost(n: number): Promise<Host> {
    const ns = await this.lab.addNetns(`h${n}`);
    const ip = `10.200.0.${n}`;
    await this.underlay.connect(ns, 'eth0', `${ip}/24`);
    const host: Host = { n, ns, ip, dataDir: join(this.tmp, `h${n}`), env: {} };
    this.hosts.push(host);
    // Cleanups run in reverse: the router dies before its namespace is deleted.
    this.lab.onCleanup(() => this.killRouter(host));
    return host;
  }

  /** Isolates the underlay switch port the host is plugged into (isolated ports cannot talk to each other). */
  async isolateSwitchPort(host: Host): Promise<void> {
    const link = await this.lab.ip(host.ns, '-o', 'link', 'show', 'dev', 'eth0');
    const peerIndex = /eth0@if(\d+)/.exec(link.stdout)?.[1];
    if (!peerIndex) throw new Error(`no veth peer index in ${link.stdout}`);
    const ports = await this.lab.ip(this.underlay.ns, '-o', 'link', 'show');
    const port = new RegExp(`^${peerIndex}: ([^@:]+)`, 'm').exec(ports.stdout)?.[1];
    if (!port) throw new Error(`switch port with index ${peerIndex} not found`);
    await sh('bridge', '-n', this.underlay.ns.name, 'link', 'set', 'dev', port, 'isolated', 'on');
  }

  /** Where the host's router serves the Docker plugin (a test's dockerd mounts it on /run/docker/plugins). */
  pluginDir(host: Host): string {
    return join(this.tmp, `h${host.n}-plugins`);
  }

  async addContainer(short: string): Promise<Netns> {
    return this.lab.addNetns(short);
  }

  /**
   * The environment of the host's tsweave commands: its data dir, and the runtime record and Docker plugin
   * socket in the cluster's own directory, so tests leave nothing in /run/tsweave or /run/docker/plugins
   * (a router launched with the defaults would start a plugin keeper on the machine's real plugin socket).
   */
  envFor(host: Host): NodeJS.ProcessEnv {
    return {
      ...process.env, TSWEAVE_DATA_DIR: host.dataDir, TSWEAVE_RUN_DIR: join(this.tmp, 'run'),
      TSWEAVE_PLUGIN_SOCKET: join(this.pluginDir(host), 'weavemesh.sock'), ...host.env,
    };
  }

  /** Runs `tsweave ARGS` inside the host's namespace; never throws, returns code and output. */
  async tsweave(host: Host, ...args: string[]): Promise<RunResult> {
    try {
      const r = await exec('ip', ['netns', 'exec', host.ns.name, process.execPath, this.bin, ...args], { timeoutMs: 90_000, env: this.envFor(host) });
      return { ...r, code: 0 };
    } catch (err) {
      const e = err as { exitCode?: number; stdout?: string; stderr?: string; message: string };
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? e.message, code: e.exitCode ?? 1 };
    }
  }

  /** Like tsweave() but fails the test on a non-zero exit. */
  async ok(host: Host, ...args: string[]): Promise<string> {
    const r = await this.tsweave(host, ...args);
    if (r.code !== 0) throw new Error(`tsweave ${args.join(' ')} on h${host.n} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Runs a command in a namespace; never throws. */
  async run(ns: Netns, file: string, ...args: string[]): Promise<RunResult> {
    try {
      const r = await exec('ip', ['netns', 'exec', ns.name, file, ...args], { timeoutMs: 60_000 });
      return { ...r, code: 0 };
    } catch (err) {
      const e = err as { exitCode?: number; stdout?: string; stderr?: string; message: string };
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? e.message, code: e.exitCode ?? 1 };
    }
  }

  async routerPid(host: Host): Promise<number | undefined> {
    const text = await readFile(join(host.dataDir, 'tsweave.pid'), 'utf8').catch(() => '');
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  async killRouter(host: Host, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const pid = await this.routerPid(host);
    if (pid === undefined) return;
    // A killed router cannot remove its API socket directory (/run/tsweave/netns-<inode>): we do.
    const ns = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
    const socketDir = /^net:\[(\d+)\]$/.exec(ns)?.[1];
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    await waitFor(`router pid ${pid} to exit`, async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 10_000, 50).catch(() => undefined);
    if (socketDir) await rm(`/run/tsweave/netns-${socketDir}`, { recursive: true, force: true });
  }

  /**
   * Two routers with one password (h2 dials h1), container c1 10.32.0.1/12 on h1 and c2 10.32.0.2/12
   * on h2, connected and reaching each other. env: the routers' extra environment (envH2: h2's, when
   * it differs).
   */
  async encryptedPair(password: string, env: Record<string, string> = {}, envH2 = env): Promise<{ h1: Host; h2: Host; c1: Netns; c2: Netns }> {
    await this.init();
    const [h1, h2] = await Promise.all([1, 2].map((n) => this.addHost(n)));
    h1!.env = { ...env };
    h2!.env = { ...envH2 };
    const [c1, c2] = await Promise.all(['c1', 'c2'].map((n) => this.addContainer(n)));
    await this.ok(h1!, 'launch', '--password', password, '--nickname', 'h1');
    await this.ok(h2!, 'launch', '--password', password, '--nickname', 'h2', h1!.ip);
    await this.ok(h1!, 'attach', '10.32.0.1/12', c1!.name);
    await this.ok(h2!, 'attach', '10.32.0.2/12', c2!.name);
    await waitFor('h1 and h2 established', async () => / established /.test(await this.ok(h1!, 'status', 'connections')));
    await waitFor('c1 reaches c2', async () => (await this.run(c1!, 'ping', '-c', '1', '-W', '1', '10.32.0.2')).code === 0, 30_000);
    return { h1: h1!, h2: h2!, c1: c1!, c2: c2! };
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
  }
}

/** Runs a command in a namespace with a long timeout (iperf3, tcpdump); resolves with stdout, rejects on failure. */
export function inNs(ns: string, args: string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out.trim());
      else reject(new Error(`${args.join(' ')} in ${ns} exited ${code}: ${err.trim()}`));
    });
  });
}

/** The router's GET /stats on its host (parsed JSON). */
export async function routerStats<T>(h: Host): Promise<T> {
  const text = await inNs(h.ns.name, [process.execPath, '-e', "fetch('http://127.0.0.1:6784/stats').then(r => r.text()).then(t => process.stdout.write(t))"]);
  return JSON.parse(text) as T;
}

/** The router's fast-path counters (GET /stats → fastPath: native/src/fastpath_js.c fastpathStats). */
export async function fastPathStats(h: Host): Promise<Record<string, number>> {
  return (await routerStats<{ fastPath: Record<string, number> }>(h)).fastPath;
}
