// Helpers for real-kernel tests: network namespaces, veths and an "underlay" switch namespace, each
// registered for cleanup. Everything is created inside namespaces this lab owns, with unique names
// (tsw-<tag>-<random>-<short>), so a test never touches the host's own interfaces.
//
//   const lab = new NetnsLab('hn');             // after(() => lab.cleanup())
//   const h = await lab.addNetns('h');          // { name: 'tsw-hn-1a2b3c-h', path: '/run/netns/tsw-hn-1a2b3c-h' }
//   await lab.ip(h, 'link', 'add', 'br0', 'type', 'bridge');
//   const sw = await lab.addUnderlay('10.99.0.0/24');  // a switch netns with bridge br0
//   await sw.connect(h, 'eth0', '10.99.0.1/24');       // veth h:eth0 ↔ switch:br0
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { exec, type ExecResult } from '../../src/io/exec.js';

export interface Netns {
  /** Name under /run/netns. */
  name: string;
  /** Path for nsenter --net= / netns:PATH references. */
  path: string;
}

/** Throws (the test fails loudly) unless running as root: netns tests need CAP_NET_ADMIN and CAP_SYS_ADMIN. */
export function requireRoot(what = 'this test'): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`${what} needs root (network namespaces, veths, mounts); run it via scripts/netns-test.sh or sudo`);
  }
}

/** A short random id for unique names. */
export function randomId(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

export function sh(file: string, ...args: string[]): Promise<ExecResult> {
  return exec(file, args, { timeoutMs: 30_000 });
}

type Cleanup = () => Promise<unknown> | unknown;

export class NetnsLab {
  /** Prefix of every name this lab creates: tsw-<tag>-<random>. */
  readonly prefix: string;
  private readonly cleanups: Cleanup[] = [];
  private underlays = 0;

  constructor(tag: string) {
    this.prefix = `tsw-${tag}-${randomId()}`;
  }

  /** Registers a cleanup step; steps run in reverse order in cleanup(). */
  onCleanup(fn: Cleanup): void {
    this.cleanups.push(fn);
  }

  /** Creates /run/netns/<prefix>-<short> with `lo` up. */
  async addNetns(short: string): Promise<Netns> {
    const name = `${this.prefix}-${short}`;
    await sh('ip', 'netns', 'add', name);
    // A test may have deleted it already (a container that went away): then there is nothing to do.
    this.onCleanup(() => (existsSync(`/run/netns/${name}`) ? sh('ip', 'netns', 'del', name) : undefined));
    await sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
    return { name, path: `/run/netns/${name}` };
  }

  /** `ip -n NS …` */
  ip(ns: Netns, ...args: string[]): Promise<ExecResult> {
    return sh('ip', '-n', ns.name, ...args);
  }

  /** Runs a command inside the namespace (`ip netns exec`, which also applies /etc/netns/NAME). */
  exec(ns: Netns, file: string, ...args: string[]): Promise<ExecResult> {
    return sh('ip', 'netns', 'exec', ns.name, file, ...args);
  }

  /** A veth pair a:aName ↔ b:bName (both ends up); names ≤ 15 characters. Removed with either namespace. */
  async addVeth(a: Netns, aName: string, b: Netns, bName: string, mtu?: number): Promise<void> {
    const tmp = `tswv${randomId(4)}`;
    const mtuArgs = mtu === undefined ? [] : ['mtu', String(mtu)];
    await sh('ip', '-n', a.name, 'link', 'add', aName, ...mtuArgs, 'type', 'veth', 'peer', 'name', tmp, ...mtuArgs, 'netns', b.name);
    await this.ip(b, 'link', 'set', 'dev', tmp, 'name', bName);
    await this.ip(a, 'link', 'set', 'dev', aName, 'up');
    await this.ip(b, 'link', 'set', 'dev', bName, 'up');
  }

  /**
   * An underlay "switch": a namespace with bridge br0. `connect(ns, ifname, cidr)` plugs a namespace in
   * with a veth and gives its end the address (the hosts' physical network in multi-host tests).
   */
  async addUnderlay(short = `u${this.underlays}`): Promise<Underlay> {
    this.underlays++;
    const sw = await this.addNetns(short);
    await this.ip(sw, 'link', 'add', 'br0', 'type', 'bridge');
    await this.ip(sw, 'link', 'set', 'br0', 'up');
    let port = 0;
    return {
      ns: sw,
      connect: async (ns: Netns, ifname: string, cidr: string, mtu?: number) => {
        const swPort = `p${port++}`;
        await this.addVeth(sw, swPort, ns, ifname, mtu);
        await this.ip(sw, 'link', 'set', 'dev', swPort, 'master', 'br0');
        await this.ip(ns, 'addr', 'add', cidr, 'dev', ifname);
      },
    };
  }

  /**
   * Starts `unshare --net` running sleep: a process in a fresh anonymous network namespace (for pid:N
   * tests). Resolves once the process is inside its new namespace. Killed at cleanup.
   */
  async spawnInNewNetns(): Promise<{ pid: number; child: ChildProcess }> {
    const child = spawn('unshare', ['--net', 'sh', '-c', 'echo ready; exec sleep 100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.onCleanup(() => killAndWait(child));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('ready')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`unshare exited early with ${code}`)));
    });
    return { pid: child.pid!, child };
  }

  /** Runs every cleanup step in reverse order; failures are collected and reported, never stop the rest. */
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    while (this.cleanups.length > 0) {
      const fn = this.cleanups.pop()!;
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) {
      console.error(`netns lab ${this.prefix}: ${errors.length} cleanup step(s) failed:`, errors);
    }
  }
}

export interface Underlay {
  ns: Netns;
  connect(ns: Netns, ifname: string, cidr: string, mtu?: number): Promise<void>;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function killAndWait(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}
