// A private dockerd per test (TEST-ENV.md §1): own --data-root/--exec-root/socket/pidfile under a
// fresh /tmp/tsw-dk-XXXXXX, no iptables, no docker0, so it never collides with another test's dockerd
// or touches the host's firewall. Plus the busybox image built offline with `docker import`.
//
//   await ensureDockerInstalled();
//   const d = await startDockerd();                 // after(() => d.stop())
//   await importBusyboxImage(d);
//   await d.docker('run', '-d', '--name', 'web', '--net=none', TEST_IMAGE, 'sleep', '100000');
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerClient } from '../../src/io/docker-client.js';
import { exec, findExecutable, type ExecResult } from '../../src/io/exec.js';

export const TEST_IMAGE = 'tsweave-test/busybox';
const READY_TIMEOUT_MS = 60_000;
const APT_TIMEOUT_MS = 600_000;

/** Installs docker.io and busybox-static with apt if dockerd or busybox is missing. */
export async function ensureDockerInstalled(): Promise<void> {
  const dockerd = await findExecutable('dockerd');
  const busybox = await findExecutable('busybox');
  if (dockerd && busybox) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await exec('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-qq'], { timeoutMs: APT_TIMEOUT_MS, env });
  await exec(
    'apt-get',
    ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'docker.io', 'busybox-static'],
    { timeoutMs: APT_TIMEOUT_MS, env },
  );
  if (!(await findExecutable('dockerd'))) throw new Error('apt-get installed docker.io but dockerd is still not in PATH');
}

export interface TestDockerd {
  /** Private directory holding everything of this dockerd. */
  dir: string;
  socketPath: string;
  /** "unix://<socketPath>", for DOCKER_HOST. */
  dockerHost: string;
  pid: number;
  logFile: string;
  /** Runs the docker CLI against this daemon. */
  docker(...args: string[]): Promise<ExecResult>;
  /** Removes all containers, stops dockerd (by pid), kills leftovers of this instance, unmounts and deletes `dir`. */
  stop(): Promise<void>;
  /** Stops dockerd (SIGTERM: its containers stop, as on a real dockerd restart) and starts it again on the same state. */
  restart(): Promise<void>;
}

export interface StartDockerdOptions {
  /** Run dockerd inside this network namespace (nsenter --net=PATH): one dockerd per simulated host. */
  netnsPath?: string;
  /**
   * Docker plugin directory of this dockerd: bind-mounted on /run/docker/plugins in a mount namespace of
   * its own (unshare -m), since every dockerd on a machine looks there (TEST-ENV §6).
   */
  pluginDir?: string;
}

export async function startDockerd(opts: StartDockerdOptions = {}): Promise<TestDockerd> {
  const dir = await mkdtemp('/tmp/tsw-dk-');
  const socketPath = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const args = [
    '--iptables=false', '--bridge=none', '--ip-forward=false', '--ip-masq=false',
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '-H', `unix://${socketPath}`,
    '--pidfile', join(dir, 'docker.pid'),
    '--shutdown-timeout', '2',
  ];
  let child!: ChildProcess;
  let exited!: Promise<void>;
  const launch = async () => {
    const logFd = openSync(logFile, 'a');
    try {
      const cmd = opts.netnsPath ? ['nsenter', `--net=${opts.netnsPath}`, 'dockerd', ...args] : ['dockerd', ...args];
      if (opts.pluginDir) {
        await mkdir('/run/docker/plugins', { recursive: true });
        await mkdir(opts.pluginDir, { recursive: true });
        cmd.unshift('unshare', '-m', '--propagation', 'private', 'sh', '-c',
          'mount --bind "$0" /run/docker/plugins && exec "$@"', opts.pluginDir);
      }
      child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    const c = child;
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    child.once('error', () => undefined);
  };
  await launch();
  const dockerHost = `unix://${socketPath}`;
  const docker = (...a: string[]) => exec('docker', ['-H', dockerHost, ...a], { timeoutMs: 60_000 });

  const terminate = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const c = child;
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      try {
        const ids = (await docker('ps', '-aq')).stdout.split('\n').filter((s) => s !== '');
        if (ids.length > 0) await docker('rm', '-f', ...ids);
      } catch {
        // dockerd may already be unhealthy; the kill below still stops it
      }
      await terminate();
    }
    await killProcessesMentioning(dir);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };

  const client = new DockerClient({ socketPath, timeoutMs: 2_000 });
  const waitReady = async () => {
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
        await stop();
        throw new Error(`dockerd exited during startup (code ${child.exitCode}, signal ${child.signalCode}); log tail:\n${log}`);
      }
      try {
        await client.version();
        return;
      } catch {
        if (Date.now() - started > READY_TIMEOUT_MS) {
          await stop();
          throw new Error(`dockerd did not answer on ${socketPath} within ${READY_TIMEOUT_MS} ms`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await waitReady();
  const restart = async () => {
    await terminate();
    await launch();
    await waitReady();
  };
  return { dir, socketPath, dockerHost, get pid() { return child.pid!; }, logFile, docker, stop, restart };
}

/** Builds the busybox rootfs (TEST-ENV.md §1) and `docker import`s it as `name`. Returns the name. */
export async function importBusyboxImage(d: TestDockerd, name = TEST_IMAGE): Promise<string> {
  const busybox = await findExecutable('busybox');
  if (!busybox) throw new Error('busybox not found; install busybox-static');
  const root = join(d.dir, 'bbroot');
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var/www', 'usr']) await mkdir(join(root, sub), { recursive: true });
  await copyFile(busybox, join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  const applets = (await exec(busybox, ['--list'])).stdout.split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(root, 'bin', a));
  await symlink('bin', join(root, 'sbin'));
  await symlink('../bin', join(root, 'usr/bin'));
  await symlink('../bin', join(root, 'usr/sbin'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(root, 'var/www/index.html'), 'hello\n');
  await exec('bash', [
    '-c',
    'set -o pipefail; tar -C "$1" -c . | docker -H "$2" import -c \'CMD ["/bin/sh"]\' -c \'ENV PATH=/bin\' - "$3"',
    'import-busybox', root, d.dockerHost, name,
  ], { timeoutMs: 60_000 });
  await rm(root, { recursive: true, force: true });
  return name;
}

/** SIGKILLs processes whose command line mentions `marker` (containerd shims of this dockerd), by pid. */
async function killProcessesMentioning(marker: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(marker)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Lazily unmounts everything mounted below `dir` (overlay layers, netns files), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await exec('umount', ['-l', m]).catch(() => undefined);
}

/** Pid of a running container's init process, as the docker CLI reports it. */
export async function containerPid(d: TestDockerd, name: string): Promise<number> {
  return Number((await d.docker('inspect', '-f', '{{.State.Pid}}', name)).stdout.trim());
}
