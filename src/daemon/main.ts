// Entry point of the detached router process started by `tsweave launch`. The CLI has already validated
// the configuration; it arrives as JSON on standard input so the password never appears in the process
// arguments or environment (both readable by other users through /proc).

import type { LaunchConfig } from './config.js';
import { runDaemon } from './run.js';

const MAX_CONFIG_BYTES = 1024 * 1024;

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

const cfg = JSON.parse(await readStdin()) as LaunchConfig;
process.exitCode = await runDaemon(cfg);
// Timers left by a closing socket must not keep a stopped router alive.
setTimeout(() => process.exit(), 2000).unref();
