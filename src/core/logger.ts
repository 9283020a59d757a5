// Structured logging via pino. Secrets are redacted by path so a password or key never reaches a log.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  '*.password',
  'passwordKey',
  '*.passwordKey',
  'sessionKey',
  '*.sessionKey',
  'key',
  '*.key',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}

/** A logger that writes nothing: unit tests and simulations. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
