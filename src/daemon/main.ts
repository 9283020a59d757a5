// Entry point of the detached router process started by `tsweave launch`. The CLI has already validated
// the configuration; it arrives as JSON on standard input so the password never appears in the process
// arguments or environment (both readable by other users through /proc).
//
// The log goes to the data dir's log file through io/log-file.ts (never blocking, rotated); stdout and
// stderr (also that file, opened by the CLI) only get what Node itself prints on a crash. The file
// descriptor named by TSWEAVE_START_RESULT_FD (a pipe the CLI passed) carries the start result: "ok" or
// "error REASON", one line, so `launch` stops waiting at once and prints the reason (issue 10.2). Only
// that variable says the descriptor is ours: unset, fd 3 may be one of libuv's own.

import { closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchConfig } from '../config/launch.js';
import { runDaemon } from './run.js';
import { LOG_FILE, START_RESULT_FD_ENV } from '../core/defaults.js';

const MAX_CONFIG_BYTES = 1024 * 1024;
const startFd = /^\d+$/.test(process.env[START_RESULT_FD_ENV] ?? '') ? Number(process.env[START_RESULT_FD_ENV]) : undefined;
delete process.env[START_RESULT_FD_ENV]; // not for the router's own children

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    size += (c as Buffer).length;
    if (size > MAX_CONFIG_BYTES) throw new Error('configuration on stdin is too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes the start result to fd 3 once and closes it; the CLI may be gone (EPIPE) or never have passed one. */
let reported = false;
function reportStart(line: string): void {
  if (reported || startFd === undefined) return;
  reported = true;
  try {
    writeSync(startFd, `${line}\n`);
  } catch {
    // no CLI listening
  }
  try {
    closeSync(startFd);
  } catch {
    // was not open
  }
}

// A write error on a full disk must not turn into an uncaught exception.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const cfg = JSON.parse(await readStdin()) as LaunchConfig;
process.exitCode = await runDaemon(cfg, () => reportStart('ok'), {
  logFile: join(cfg.dataDir, LOG_FILE),
  onFailed: (reason) => reportStart(`error ${reason}`),
});
// Timers left by a closing socket must not keep a stopped router alive.
setTimeout(() => process.exit(), 2000).unref();
