// The password key: derived once at daemon start with a deliberately slow KDF, then mixed into every
// connection's session keys (session-keys.ts). A captured handshake therefore costs one scrypt per
// password guess, not one hash.
//
//   passwordKey = scrypt(password (UTF-8), salt = "tsweave-password-v1" (ASCII),
//                        N = PASSWORD_KDF_N, r = PASSWORD_KDF_R, p = PASSWORD_KDF_P, dkLen = 32)
//
// The salt is a fixed label, not random: every peer must derive the same key from the same password
// without talking first. The per-connection randomness comes from the ephemeral X25519 keys.
//
// Secrets: the password and the key must never be logged (logger.ts redacts `password`/`passwordKey`).

import { scrypt } from 'node:crypto';
import { PASSWORD_KDF_N, PASSWORD_KDF_P, PASSWORD_KDF_R } from '../core/defaults.js';
import { ConfigError } from '../core/errors.js';

export const PASSWORD_KDF_SALT = 'tsweave-password-v1';
export const PASSWORD_KEY_BYTES = 32;
/** scrypt needs 128·N·r bytes (32 MiB with the defaults); Node's default cap is 32 MiB, so raise it. */
const SCRYPT_MAXMEM_BYTES = 64 * 1024 * 1024;

/**
 * Derives the 32-byte password key. Slow on purpose (~100 ms); call once at launch.
 * Throws ConfigError for an empty password (an empty password means "no encryption": pass undefined).
 */
export function derivePasswordKey(password: string): Promise<Buffer> {
  if (typeof password !== 'string' || password.length === 0) {
    return Promise.reject(new ConfigError('invalid --password: must not be empty (omit it to run unencrypted)'));
  }
  const maxmem = Math.max(SCRYPT_MAXMEM_BYTES, 256 * PASSWORD_KDF_N * PASSWORD_KDF_R);
  return new Promise((resolve, reject) => {
    scrypt(
      Buffer.from(password, 'utf8'),
      PASSWORD_KDF_SALT,
      PASSWORD_KEY_BYTES,
      { N: PASSWORD_KDF_N, r: PASSWORD_KDF_R, p: PASSWORD_KDF_P, maxmem },
      (err, key) => {
        if (err) reject(new ConfigError('cannot derive the password key (scrypt failed)', { cause: err }));
        else resolve(key);
      },
    );
  });
}
