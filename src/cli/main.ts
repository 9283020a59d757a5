// Entry point of the `tsweave` command (bin/tsweave imports the compiled copy): wires the real process,
// network, files and lifecycle into run() and sets the exit code. Everything testable lives in run.ts.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { nodeHttpTransport } from './api-client.js';
import { hidePasswordFromProcessList } from './argv-secret.js';
import { run } from './run.js';

// First thing: `launch --password PW` must not stay readable in /proc/PID/cmdline (argv-secret.ts).
hidePasswordFromProcessList(process.argv.slice(2));

const code = await run(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  http: nodeHttpTransport,
  isRoot: () => process.getuid?.() === 0,
  hostname: hostname(),
  readFile: (path) => readFileSync(path, 'utf8'),
  // Loaded on demand: lifecycle pulls in the whole daemon, which `status` and friends never need.
  lifecycle: {
    launch: async (cfg) => (await import('./lifecycle.js')).launch(cfg),
    stop: async (dataDir) => (await import('./lifecycle.js')).stop(dataDir),
    reset: async (force, dataDir) => (await import('./lifecycle.js')).reset(force, dataDir),
  },
});
process.exitCode = code;
