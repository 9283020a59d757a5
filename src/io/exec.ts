// Runs host commands (ip, nsenter, arping) without a shell and turns failures into TsweaveError
// ERR_HOST_NETWORK whose message names the command and the first line of its stderr, e.g.
//   command "ip link add weave type bridge" failed (exit 2): RTNETLINK answers: Operation not permitted
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { TsweaveError } from '../core/errors.js';

/** Default limit for one host command. Not on any hot path; a hung `ip` must not hang attach forever. */
export const DEFAULT_EXEC_TIMEOUT_MS = 10_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long. @default DEFAULT_EXEC_TIMEOUT_MS */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is then closed (e.g. iptables-restore's rules). */
  input?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** Runs one command; the shape the host-network adapter depends on (tests can pass a fake). */
export type ExecFn = (file: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

/** A command that failed, timed out or could not be started. `code` is always ERR_HOST_NETWORK. */
export class CommandError extends TsweaveError {
  /** The command line as shown in the message. */
  readonly command: string;
  /** Exit status, or undefined if the command never ran to completion (not found, timeout, signal). */
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    message: string,
    init: { command: string; exitCode: number | undefined; stdout: string; stderr: string; cause?: unknown },
  ) {
    super('ERR_HOST_NETWORK', message, {
      cause: init.cause,
      fields: { command: init.command, exitCode: init.exitCode, stderr: firstLine(init.stderr) },
    });
    this.command = init.command;
    this.exitCode = init.exitCode;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
  }
}

export function isCommandError(err: unknown): err is CommandError {
  return err instanceof CommandError;
}

/** First non-empty line of a command's output, trimmed ("" if none). */
export function firstLine(text: string): string {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t !== '') return t;
  }
  return '';
}

/** The command line for messages: arguments with spaces or quotes are JSON-quoted. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (a === '' || /[\s"'\\]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/**
 * Runs `file` with `args` (no shell), returns its output. Rejects with CommandError when the command
 * is missing, exits non-zero, is killed by a signal or exceeds the timeout.
 */
export const exec: ExecFn = (file, args, opts = {}) => {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const command = formatCommand(file, args);
  return new Promise<ExecResult>((resolve, reject) => {
    const child = execFile(
      file,
      args as string[],
      {
        encoding: 'utf8',
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_OUTPUT_BYTES,
        env: opts.env ?? process.env,
        windowsHide: true,
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null; code?: unknown };
        const out = typeof stdout === 'string' ? stdout : '';
        const errText = typeof stderr === 'string' ? stderr : '';
        let message: string;
        let exitCode: number | undefined;
        if (e.code === 'ENOENT') {
          message = `command "${file}" not found in PATH (is it installed?)`;
        } else if (e.code === 'EACCES') {
          message = `command "${file}" is not executable: permission denied`;
        } else if (e.killed && e.signal === 'SIGKILL') {
          message = `command "${command}" timed out after ${timeoutMs} ms`;
        } else if (typeof e.code === 'number') {
          exitCode = e.code;
          const detail = firstLine(errText) || firstLine(out) || 'no error output';
          message = `command "${command}" failed (exit ${exitCode}): ${detail}`;
        } else if (e.signal) {
          message = `command "${command}" was killed by ${e.signal}`;
        } else {
          message = `command "${command}" failed: ${e.message}`;
        }
        reject(new CommandError(message, { command, exitCode, stdout: out, stderr: errText, cause: err }));
      },
    );
    if (opts.input !== undefined) {
      // A command that exits before reading all of it gets EPIPE here; its exit status says what went wrong.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
  });
};

/** Absolute path of an executable found in PATH (or the given search path), or undefined. */
export async function findExecutable(name: string, searchPath = process.env.PATH ?? ''): Promise<string | undefined> {
  if (name.includes('/')) {
    return (await isExecutable(name)) ? name : undefined;
  }
  const dirs = [...searchPath.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const p = join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
