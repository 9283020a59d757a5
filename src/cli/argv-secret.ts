// Keeps `launch --password PW` out of the process list. /proc/PID/cmdline is readable by every user, and
// with --foreground the CLI process is the router, so the password would sit there for the router's
// life. Assigning process.title makes Node (libuv) overwrite the whole original argv area on Linux, the
// rest zeroed; process.argv inside JS keeps the real values. Only the instant before this runs remains,
// which is why help and README steer to --password-file and TSWEAVE_PASSWORD.

const MASK = '<hidden>';

/** argv (after the program name) with every --password value masked; undefined when there is none. */
export function maskPasswordArgs(argv: readonly string[]): string[] | undefined {
  const out: string[] = [];
  let found = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '--password' && i + 1 < argv.length) {
      out.push(a, MASK);
      i++;
      found = true;
    } else if (a.startsWith('--password=')) {
      out.push(`--password=${MASK}`);
      found = true;
    } else out.push(a);
  }
  return found ? out : undefined;
}

/** Overwrites this process's command line when it carries a password. Returns whether it did. */
export function hidePasswordFromProcessList(argv: readonly string[]): boolean {
  const masked = maskPasswordArgs(argv);
  if (masked === undefined) return false;
  process.title = ['tsweave', ...masked].join(' ');
  return true;
}
