// DNS names as weaveDNS stores and compares them: lowercase FQDNs with a trailing dot ("web.weave.local.").
// User input (dns-add, attach) is validated here with a precise ConfigError; names from the wire go through
// `tryNormalizeName`, which never throws.

import { ConfigError } from '../core/errors.js';
import { formatIPv4 } from '../core/types.js';

/** RFC 1035 limits (text form, without the trailing dot). */
export const MAX_NAME_CHARS = 253;
export const MAX_LABEL_CHARS = 63;

// Letters, digits, hyphen; underscore too (service-style names and Docker names use it). No leading hyphen.
const LABEL_RE = /^[a-z0-9_]([a-z0-9_-]*)$/;

/** Lowercase with exactly one trailing dot; undefined if it is not a valid hostname. Never throws. */
export function tryNormalizeName(name: string): string | undefined {
  let s = name.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s === '' || s.length > MAX_NAME_CHARS) return undefined;
  for (const label of s.split('.')) {
    if (label.length === 0 || label.length > MAX_LABEL_CHARS || !LABEL_RE.test(label)) return undefined;
  }
  return s + '.';
}

/** Normalizes a domain option such as --dns-domain ("weave.local" → "weave.local."). */
export function parseDomain(text: string, what = '--dns-domain'): string {
  const d = tryNormalizeName(text.trim());
  if (!d) {
    throw new ConfigError(
      `invalid ${what} "${text}": must be a DNS name like weave.local. (labels of letters, digits, "-", at most 63 characters)`,
    );
  }
  return d;
}

/**
 * Normalizes a hostname given by a user or the daemon. A single label ("web") is taken to be in `domain`
 * ("web.weave.local."); anything else is used as written, made lowercase and fully qualified.
 */
export function parseHostname(text: string, domain: string, what = 'hostname'): string {
  const t = text.trim();
  const n = tryNormalizeName(t);
  if (!n) {
    throw new ConfigError(
      `invalid ${what} "${text}": must be a DNS name like web.weave.local (labels of letters, digits, "-", at most 63 characters, ${MAX_NAME_CHARS} in all)`,
    );
  }
  return labelCount(n) === 1 ? n + domain : n;
}

/** Number of labels in a normalized FQDN ("." has 0). */
export function labelCount(fqdn: string): number {
  if (fqdn === '.' || fqdn === '') return 0;
  let n = 0;
  for (let i = 0; i < fqdn.length; i++) if (fqdn.charCodeAt(i) === 46) n++;
  return fqdn.endsWith('.') ? n : n + 1;
}

/** True if the normalized `fqdn` is `domain` itself or a name below it. */
export function isInDomain(fqdn: string, domain: string): boolean {
  return fqdn === domain || (fqdn.length > domain.length && fqdn.endsWith(domain) && fqdn[fqdn.length - domain.length - 1] === '.');
}

/** "1.0.32.10.in-addr.arpa." → 10.32.0.1 as u32; undefined for anything else (including partial names). */
export function parseReverseName(fqdn: string): number | undefined {
  const suffix = '.in-addr.arpa.';
  if (!fqdn.endsWith(suffix)) return undefined;
  const parts = fqdn.slice(0, -suffix.length).split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (let i = 3; i >= 0; i--) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function reverseName(addr: number): string {
  return formatIPv4(addr).split('.').reverse().join('.') + '.in-addr.arpa.';
}
