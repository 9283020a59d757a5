// Runs a router until it is stopped: by the API (/stop), SIGTERM or SIGINT. Used by the detached daemon
// (main.ts) and by `tsweave launch --foreground`.

import { createLogger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import type { LaunchConfig } from './config.js';
import { TsweaveNode } from './node.js';

/** Returns the process exit code. `onStarted` runs once the API answers. */
export async function runDaemon(cfg: LaunchConfig, onStarted?: (node: TsweaveNode) => void): Promise<number> {
  const logger = createLogger(cfg.logLevel);
  const node = new TsweaveNode(cfg, { logger });
  const onSignal = (sig: NodeJS.Signals) => void node.stop(`signal ${sig}`);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await node.start();
  } catch (err) {
    logger.error({ err }, 'router failed to start');
    process.stderr.write(`tsweave: router failed to start: ${errorMessage(err)}\n`);
    await node.stop('start failed').catch(() => {});
    return 1;
  }
  onStarted?.(node);
  await node.whenStopped();
  logger.info('router stopped');
  return 0;
}
