// Turns the end of a router log into the one line a user needs when `launch` fails: the reason the
// router gave (the message of its last error-level pino line, or its plain "tsweave: …" stderr line)
// and where the full log is. Raw JSON and stack traces stay in the log.

/** pino levels: 50 = error, 60 = fatal. */
const ERROR_LEVEL = 50;

interface PinoLine {
  level?: unknown;
  msg?: unknown;
  err?: unknown;
}

function errText(err: unknown): string | undefined {
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return undefined;
}

/** The reason in one line, or undefined when the log says nothing usable. */
export function failureReason(logText: string): string | undefined {
  const lines = logText.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let plain: string | undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith('{')) {
      // The daemon's own stderr line ("tsweave: router failed to start: …") is already the reason.
      if (plain === undefined && line.startsWith('tsweave: ')) plain = line.slice('tsweave: '.length);
      continue;
    }
    let rec: PinoLine;
    try {
      rec = JSON.parse(line) as PinoLine;
    } catch {
      continue;
    }
    if (typeof rec.level !== 'number' || rec.level < ERROR_LEVEL) continue;
    const msg = typeof rec.msg === 'string' ? rec.msg : undefined;
    const err = errText(rec.err);
    if (msg && err) return `${msg}: ${err}`.split('\n')[0];
    if (msg || err) return (msg ?? err)!.split('\n')[0];
  }
  return plain?.split('\n')[0];
}

/** "router failed to start: <reason> (log: <path>)". */
export function launchFailureMessage(logText: string, logPath: string, exitCode: number | null): string {
  const reason = failureReason(logText) ?? `router exited during start (code ${exitCode})`;
  return `${reason.startsWith('router ') ? reason : `router failed to start: ${reason}`} (log: ${logPath})`;
}
