// What a user may call a container (DESIGN.md §1), parsed without touching the system:
//   pid:N           a process; its network namespace is /proc/N/ns/net
//   netns:/path     any network-namespace file (/proc/N/ns/net, /run/netns/NAME, a bind mount)
//   NAME            a named netns in /run/netns, else a Docker container name or (prefix of an) id
// The resolver (src/io/container-runtime.ts) does the lookups in that order.
import { ConfigError, TsweaveError } from './errors.js';

export type ContainerReference =
  | { kind: 'pid'; pid: number; text: string }
  | { kind: 'path'; path: string; text: string }
  | { kind: 'name'; name: string; text: string };

/** Largest pid Linux allows (PID_MAX_LIMIT). */
const PID_MAX = 4_194_304;
/** Docker names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ ; netns names: anything without "/" — we accept the union, safely. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** Parses a container reference. Malformed `pid:`/`netns:` forms and unsafe names are ConfigError (exit 2). */
export function parseContainerReference(text: string): ContainerReference {
  const s = text.trim();
  if (s.startsWith('pid:')) {
    const p = s.slice(4);
    if (!/^\d{1,7}$/.test(p) || Number(p) < 1 || Number(p) > PID_MAX) {
      throw new ConfigError(`invalid container "${text}": pid:N needs a process id 1..${PID_MAX}`);
    }
    return { kind: 'pid', pid: Number(p), text: s };
  }
  if (s.startsWith('netns:')) {
    const p = s.slice(6);
    if (!p.startsWith('/')) {
      throw new ConfigError(`invalid container "${text}": netns:PATH needs an absolute path like netns:/run/netns/NAME`);
    }
    if (p.split('/').includes('..') || p.includes('\0')) {
      throw new ConfigError(`invalid container "${text}": netns path must not contain ".." or NUL`);
    }
    return { kind: 'path', path: p, text: s };
  }
  if (!NAME_RE.test(s)) {
    throw new ConfigError(
      `invalid container "${text}": must be a container name or id, a network namespace name, pid:N or netns:/path`,
    );
  }
  return { kind: 'name', name: s, text: s };
}

/** Hostname as Weave registers it: Hostname, plus "." + Domainname when Docker has one. */
export function dockerFqdn(hostname: string, domainname: string): string | undefined {
  const h = hostname.trim();
  const d = domainname.trim().replace(/^\.+|\.+$/g, '');
  if (h === '') return undefined;
  return d === '' ? h : `${h}.${d}`;
}

export function containerNotFound(text: string, detail?: string, cause?: unknown): TsweaveError {
  const base =
    `container "${text}" not found ` +
    '(not a Docker container, not a named network namespace in /run/netns, not pid:N or netns:/path)';
  return new TsweaveError('ERR_CONTAINER_NOT_FOUND', detail ? `${base}; ${detail}` : base, {
    cause,
    fields: { container: text },
  });
}

/** A pid:N or netns:/path reference that names nothing: the message says what was looked for. */
export function containerGone(text: string, detail: string): TsweaveError {
  return new TsweaveError('ERR_CONTAINER_NOT_FOUND', `container "${text}" not found: ${detail}`, {
    fields: { container: text },
  });
}

/** A Docker container that exists but is stopped. Same code as not-found: attach cannot proceed. */
export function containerNotRunning(text: string): TsweaveError {
  return new TsweaveError('ERR_CONTAINER_NOT_FOUND', `container ${text} is not running`, {
    fields: { container: text, reason: 'not-running' },
  });
}
