import { test } from 'vitest';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { PASSWORD_KDF_N, PASSWORD_KDF_P, PASSWORD_KDF_R } from '../../../src/core/defaults.js';
import { derivePasswordKey, PASSWORD_KDF_SALT } from '../../../src/crypto/password-kdf.js';

test('password key: scrypt with the fixed salt and the default parameters', async () => {
  const k = await derivePasswordKey('correct horse');
  assert.equal(k.length, 32);
  assert.equal(PASSWORD_KDF_SALT, 'tsweave-password-v1');
  const expected = scryptSync('correct horse', 'tsweave-password-v1', 32, {
    N: PASSWORD_KDF_N, r: PASSWORD_KDF_R, p: PASSWORD_KDF_P, maxmem: 64 * 1024 * 1024,
  });
  assert.equal(k.toString('hex'), expected.toString('hex'));
  assert.equal((await derivePasswordKey('correct horse')).toString('hex'), k.toString('hex'), 'deterministic');
  assert.notEqual((await derivePasswordKey('correct horsf')).toString('hex'), k.toString('hex'));
});

test('password key: an empty password is a config error', async () => {
  await assert.rejects(derivePasswordKey(''), { code: 'ERR_CONFIG', message: /must not be empty/ });
});
