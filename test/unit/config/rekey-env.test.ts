// TSWEAVE_REKEY_INTERVAL_S (config/settings.ts): whole seconds 1..86400, one precise error otherwise.
import assert from 'node:assert/strict';
import { test } from 'vitest';

import { rekeyIntervalFromEnv } from '../../../src/config/settings.js';

test('TSWEAVE_REKEY_INTERVAL_S: unset → default, seconds → ms, anything else → ConfigError naming the value', () => {
  assert.equal(rekeyIntervalFromEnv({}), undefined);
  assert.equal(rekeyIntervalFromEnv({ TSWEAVE_REKEY_INTERVAL_S: '' }), undefined);
  assert.equal(rekeyIntervalFromEnv({ TSWEAVE_REKEY_INTERVAL_S: '2' }), 2000);
  assert.equal(rekeyIntervalFromEnv({ TSWEAVE_REKEY_INTERVAL_S: '86400' }), 86_400_000);
  for (const bad of ['0', '-1', '1.5', '2s', '86401', ' 2']) {
    assert.throws(
      () => rekeyIntervalFromEnv({ TSWEAVE_REKEY_INTERVAL_S: bad }),
      (e: Error & { code?: string }) =>
        e.message === `invalid TSWEAVE_REKEY_INTERVAL_S "${bad}": must be a whole number of seconds 1..86400` && e.code === 'ERR_CONFIG',
      bad,
    );
  }
});
