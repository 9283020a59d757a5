// The real Clock and Rng (time from the OS, randomness from the CSPRNG). Tests use test/support fakes.
import { randomBytes, randomInt } from 'node:crypto';
import type { Clock, Rng } from './ports.js';

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return () => clearTimeout(t);
  },
};

export const systemRng: Rng = {
  float: () => randomInt(0, 2 ** 48 - 1) / 2 ** 48,
  int: (max) => randomInt(0, max),
  bytes: (n) => new Uint8Array(randomBytes(n)),
};
