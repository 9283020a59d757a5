// Starting and stopping the router daemon. `launch` spawns the daemon detached (log and pid file in the
// data dir), hands it the validated configuration on stdin (never argv or env: the password would be
// readable by anyone through /proc), and returns once its HTTP API answers, with the peer name.

import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { access, constants, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { BRIDGE_NAME, DEFAULT_DATA_DIR } from '../core/defaults.js';
import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import type { LaunchConfig } from '../config/launch.js';
import { LOG_FILE, PID_FILE, START_RESULT_FD_ENV, STATE_FILES } from '../core/defaults.js';
import { readRuntimeRecord, removeRuntimeRecord } from '../io/runtime-record.js';
import { runDirFromEnv } from '../config/settings.js';
import { HOST_VETH_PREFIX } from '../io/host-network.js';
import { exec, isCommandError } from '../io/exec.js';
import { IptablesPacketFilter } from '../io/iptables.js';
import { removeFirewall } from '../host/firewall-rules.js';
import { removeVxlanDevice } from '../io/vxlan.js';
import type { Status } from '../api/status-types.js';
import { launchFailureMessage } from './launch-failure.js';
import { removeWeaveNetwork } from './docker-network.js';
import { ApiClient, nodeHttpTransport, resolveApiAddress, RouterNotRunningError } from './api-client.js';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function client(): ApiClient {
  return new ApiClient(nodeHttpTransport, resolveApiAddress(process.env));
}

/** The router's status if one answers in this network namespace, else undefined. */
async function runningStatus(): Promise<Status | undefined> {
  try {
    return JSON.parse(await client().text('GET', '/snapshot')) as Status;
  } catch (err) {
    if (err instanceof RouterNotRunningError) return undefined;
    throw err;
  }
}

function daemonEntry(): string[] {
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const entry = join(dirname(here), '..', 'daemon', `main${ext}`);
  return ext === '.ts' ? ['--import', 'tsx', entry] : [entry];
}

/** What the log got since byte `from` (this launch's part; the file is appended to across runs). */
function logSince(path: string, from: number): string {
  try {
    return readFileSync(path).subarray(from).toString('utf8');
  } catch {
    return '';
  }
}

const DIR_ERRORS: Record<string, string> = {
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'exists and is not a directory',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
};

/** The data dir, made before the router starts so a bad --data-dir is one line, not a daemon crash. */
async function makeDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why = DIR_ERRORS[code] ?? errorMessage(err);
    throw new ConfigError(`invalid --data-dir "${dir}": ${why}`, { cause: err });
  }
}

/**
 * Runs the router in this process until it stops (`launch --foreground`); calls `onStarted` with the peer
 * name once its API answers; resolves to the exit code. Given by the entry point (entry/tsweave.ts), so
 * cli/ never imports daemon/.
 */
export type ForegroundRunner = (cfg: LaunchConfig, onStarted: (peerName: string) => void) => Promise<number>;

/** Starts the router with `cfg`; returns the peer name to print. */
export async function launch(cfg: LaunchConfig, runForeground: ForegroundRunner): Promise<string | void> {
  if (await runningStatus()) throw new TsweaveError('ERR_ALREADY_RUNNING', 'tsweave is already running');
  await makeDataDir(cfg.dataDir);
  // The password travels in cfg only: not on to the daemon's or its commands' environment.
  delete process.env.TSWEAVE_PASSWORD;
  delete process.env.WEAVE_PASSWORD;
  if (cfg.foreground) {
    const code = await runForeground(cfg, (peerName) => process.stdout.write(`${peerName}\n`));
    if (code !== 0) throw new TsweaveError('ERR_STATE', 'router stopped with an error (see the messages above)');
    return;
  }
  const logPath = join(cfg.dataDir, LOG_FILE);
  const logFd = openSync(logPath, 'a', 0o600);
  const logStart = fstatSync(logFd).size;
  let exitCode: number | null = null;
  let exited = false;
  // The daemon reports "ok" or "error REASON" on a pipe (fd 3) as soon as it knows (daemon/main.ts).
  let result = '';
  let resultPipe: Readable | undefined;
  let resultDone: Promise<void> = Promise.resolve();
  let pipeClosed = false;
  try {
    const child = spawn(process.execPath, daemonEntry(), {
      detached: true,
      stdio: ['pipe', logFd, logFd, 'pipe'],
      env: { ...process.env, [START_RESULT_FD_ENV]: '3' },
    });
    child.on('exit', (code, signal) => {
      exited = true;
      exitCode = code ?? (signal ? 128 : 1);
    });
    resultPipe = child.stdio[3] as Readable;
    resultPipe.setEncoding('utf8');
    resultPipe.on('data', (chunk: string) => {
      if (result.length < 4096) result += chunk;
    });
    resultPipe.on('error', () => {});
    const pipe = resultPipe;
    resultDone = new Promise((r) => pipe.on('close', () => r()));
    void resultDone.then(() => (pipeClosed = true));
    child.stdin!.end(JSON.stringify(cfg));
    child.unref();
  } finally {
    closeSync(logFd);
  }
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const failed = () => /^error (.*)$/m.exec(result)?.[1];
    while (Date.now() < deadline) {
      if (exited) await Promise.race([resultDone, sleep(1_000)]); // its last words may still be in the pipe
      const reason = failed();
      if (reason !== undefined) throw new TsweaveError('ERR_STATE', `router failed to start: ${reason} (log: ${logPath})`);
      if (exited) {
        throw new TsweaveError('ERR_STATE', launchFailureMessage(logSince(logPath, logStart), logPath, exitCode));
      }
      // The API answers a moment before start is over (the pid file is written last): wait for "ok".
      if (/^ok$/m.test(result) || pipeClosed) {
        const s = await runningStatus();
        if (s) return s.router.name;
      }
      await sleep(POLL_MS);
    }
    throw new TsweaveError('ERR_STATE', `router did not answer within ${START_TIMEOUT_MS / 1000} s; see ${logPath}`);
  } finally {
    resultPipe?.destroy(); // the CLI must not wait for the router
  }
}

async function waitUntilGone(pid: number | undefined): Promise<boolean> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const apiGone = !(await runningStatus().catch(() => undefined));
    const pidGone = pid === undefined || !isAlive(pid);
    if (apiGone && pidGone) return true;
    await sleep(POLL_MS);
  }
  return false;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, PID_FILE), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * The data dir to act on: --data-dir as given, else the one the router of this network namespace
 * registered (runtime-record.ts), else TSWEAVE_DATA_DIR, else the default.
 */
async function dataDirFor(explicit: string | undefined): Promise<string> {
  if (explicit !== undefined) return explicit;
  const rec = await readRuntimeRecord(runDirFromEnv(process.env));
  const fromEnv = process.env.TSWEAVE_DATA_DIR;
  // A live router's record wins over the environment. A dead one's only fills in for no setting at all:
  // a namespace inode can be reused, so an old record may belong to another router's namespace.
  if (rec && (isAlive(rec.pid) || !fromEnv)) return rec.dataDir;
  return fromEnv || DEFAULT_DATA_DIR;
}

/** Removes the host ends of the containers' veths (their container ends go with them). */
async function removeHostVeths(): Promise<void> {
  const r = await exec('ip', ['-o', 'link', 'show', 'type', 'veth']).catch(() => undefined);
  for (const line of r?.stdout.split('\n') ?? []) {
    const name = /^\d+:\s+([^@:\s]+)/.exec(line)?.[1];
    if (name?.startsWith(HOST_VETH_PREFIX)) await exec('ip', ['link', 'del', 'dev', name]).catch(() => undefined);
  }
}

/** The router's iptables chains and the jumps to them, from both backends (the router may have used either). */
async function removeFirewallRules(): Promise<void> {
  for (const backend of ['nft', 'legacy'] as const) {
    try {
      await removeFirewall(new IptablesPacketFilter({}, backend));
    } catch (err) {
      // No such iptables on this host: nothing of ours can be there.
      if (isCommandError(err) && err.exitCode === undefined && /not found/.test(err.message)) continue;
      process.stderr.write(`tsweave: could not remove the iptables rules (${backend}): ${errorMessage(err)}\n`);
    }
  }
}

/** Stops the router; containers keep their interfaces. Idempotent. */
export async function stop(dataDirFlag?: string): Promise<string | void> {
  const pid = await readPid(await dataDirFor(dataDirFlag));
  try {
    await client().text('POST', '/stop');
  } catch (err) {
    if (!(err instanceof RouterNotRunningError)) throw err;
    process.stderr.write('tsweave is not running\n');
    return;
  }
  if (!(await waitUntilGone(pid))) {
    throw new TsweaveError('ERR_STATE', `router did not stop within ${STOP_TIMEOUT_MS / 1000} s${pid ? ` (pid ${pid})` : ''}`);
  }
}

/**
 * Stops the router, removes the containers' host veths, the bridge (the TAP goes with the router), the
 * fast datapath's vxlan devices, the router's state and the runtime record.
 */
export async function reset(force: boolean, dataDirFlag?: string): Promise<string | void> {
  const dataDir = await dataDirFor(dataDirFlag);
  const pid = await readPid(dataDir);
  const running = await runningStatus();
  if (!running && pid !== undefined && isAlive(pid) && !force) {
    throw new TsweaveError('ERR_STATE', `tsweave (pid ${pid}) is not answering; unable to remove it cleanly. Use 'tsweave reset --force'`);
  }
  if (running) {
    // As Weave: the peer first hands its IP ranges to another peer (DELETE /peer), then has half a second
    // to broadcast that before it stops. A failure here must not prevent the reset.
    try {
      await client().text('DELETE', '/peer');
      await sleep(500);
    } catch (err) {
      process.stderr.write(`tsweave: could not hand this peer's IP ranges over before the reset: ${(err as Error).message}\n`);
    }
    // While the router still answers the plugin calls Docker makes to delete it.
    const kept = await removeWeaveNetwork();
    if (kept) process.stderr.write(`tsweave: ${kept}\n`);
    await stop(dataDir);
  } else if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
  await removeHostVeths();
  await exec('ip', ['link', 'del', 'dev', BRIDGE_NAME]).catch(() => undefined);
  await removeFirewallRules();
  await removeVxlanDevice();
  for (const f of STATE_FILES) await rm(join(dataDir, f), { force: true });
  // The Docker plugin's keeper process exits when its socket file goes (io/plugin-keeper.ts).
  const plugin = (await readRuntimeRecord(runDirFromEnv(process.env)))?.pluginSocket;
  if (plugin) await rm(plugin, { force: true });
  await removeRuntimeRecord(runDirFromEnv(process.env));
}
