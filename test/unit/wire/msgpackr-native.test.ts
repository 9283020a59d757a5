// msgpackr decodes gossip and control frames; its native string extractor (msgpackr-extract, a
// per-platform binary from the registry) must be the one in use, not a silent fallback to JavaScript.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'vitest';

test('msgpackr runs with native acceleration', () => {
  const msgpackr = createRequire(import.meta.url)('msgpackr') as { isNativeAccelerationEnabled: boolean };
  assert.equal(msgpackr.isNativeAccelerationEnabled, true);
});
