// Entry point of the `tsweave` command (bin/tsweave imports the compiled copy): wires the real process,
// network, files and lifecycle into the CLI's run() and sets the exit code. The one place where the CLI
// meets the daemon: `launch --foreground` runs the router in this process, so the runner is handed to the
// CLI's lifecycle from here (cli/ itself never imports daemon/). Everything testable lives in cli/run.ts.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { nodeHttpTransport } from '../cli/api-client.js';
import { hidePasswordFromProcessList } from '../cli/argv-secret.js';
import type { ForegroundRunner } from '../cli/lifecycle.js';
import { run } from '../cli/run.js';

// First thing: `launch --password PW` must not stay readable in /proc/PID/cmdline (argv-secret.ts).
hidePasswordFromProcessList(process.argv.slice(2));

/** `launch --foreground`: the router in this process (loaded only then). */
const runForeground: ForegroundRunner = async (cfg, onStarted) =>
  (await import('../daemon/run.js')).runDaemon(cfg, (node) => onStarted(node.peerName));

const code = await run(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  http: nodeHttpTransport,
  isRoot: () => process.getuid?.() === 0,
  hostname: hostname(),
  readFile: (path) => readFileSync(path, 'utf8'),
  // Loaded on demand: `status` and friends never need the lifecycle (nor the daemon).
  lifecycle: {
    launch: async (cfg) => (await import('../cli/lifecycle.js')).launch(cfg, runForeground),
    stop: async (dataDir) => (await import('../cli/lifecycle.js')).stop(dataDir),
    reset: async (force, dataDir) => (await import('../cli/lifecycle.js')).reset(force, dataDir),
  },
});
process.exitCode = code;
