// Runs a router until it is stopped: by the API (/stop), SIGTERM or SIGINT. Used by the detached daemon
// (main.ts) and by `tsweave launch --foreground`.

import { createLogger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import { LogLimiter } from '../core/log-limiter.js';
import { systemClock } from '../core/clock.js';
import { LogFile } from '../io/log-file.js';
import type { LaunchConfig } from '../config/launch.js';
import { hostAdapters } from './host-adapters.js';
import { TsweaveNode } from './node.js';


export interface RunDaemonOptions {
  /** Log to this file (asynchronous, bounded, rotated: io/log-file.ts) instead of standard output. */
  logFile?: string;
  /** Called with the one-line reason when the router fails to start. */
  onFailed?: (reason: string) => void;
}

/** Returns the process exit code. `onStarted` runs once the API answers. */
export async function runDaemon(cfg: LaunchConfig, onStarted?: (node: TsweaveNode) => void, opts: RunDaemonOptions = {}): Promise<number> {
  const file = opts.logFile === undefined ? undefined : new LogFile(opts.logFile);
  const logger = createLogger(cfg.logLevel, file);
  const adapters = hostAdapters(logger, { config: cfg, ...(file ? { logStats: () => file.stats() } : {}) });
  const node = new TsweaveNode(cfg, adapters);
  // The last line of defence: a promise whose failure nobody handled is a bug, but it must not take the
  // host's network down with it (Node ends the process on one by default). Logged, rate-limited by kind.
  const limiter = new LogLimiter(systemClock);
  process.on('unhandledRejection', (err) => {
    const f = limiter.fields(`unhandled:${errorMessage(err)}`, { err });
    if (f) logger.error(f, 'unhandled promise rejection (a bug: please report it); the router carries on');
  });
  const onSignal = (sig: NodeJS.Signals) => void node.stop(`signal ${sig}`);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await node.start();
  } catch (err) {
    logger.error({ err }, 'router failed to start');
    const reason = errorMessage(err).replace(/\s*\n\s*/g, '; ');
    if (opts.onFailed) opts.onFailed(reason);
    else process.stderr.write(`tsweave: router failed to start: ${reason}\n`);
    await node.stop('start failed').catch(() => {});
    await file?.close();
    return 1;
  }
  onStarted?.(node);
  await node.whenStopped();
  if (node.failure) logger.error({ reason: node.failure }, 'router stopped: it cannot carry traffic any more');
  else logger.info('router stopped');
  await file?.close();
  return node.failure ? 1 : 0;
}
