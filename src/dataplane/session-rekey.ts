// Runs the key rotation (rekey.ts) of the overlay's encrypted sessions: one Rekeyer per session, a
// timer that checks the schedule, and the hooks that put new keys into the session (its AEAD handles
// and the fast path's, session.ts) and rekey messages on the session's TCP connection.
//
// Bytes sent under a generation are estimated from the send counter (datagrams × the largest
// datagram), an upper bound, so a generation never carries more than REKEY_AFTER_BYTES.

import { REKEY_GRACE_MS, REKEY_TIMEOUT_MS } from '../core/defaults.js';
import type { Clock } from '../core/ports.js';
import type { RekeyCrypto } from '../crypto/rekey-kdf.js';
import { Rekeyer, type RekeyMessage } from './rekey.js';
import type { Session } from './session.js';

export interface RekeyOptions {
  intervalMs: number;
  afterBytes: number;
  maxDatagramBytes: number;
}

/** How often a session's schedule is checked: often enough for short test intervals, at most 1 s. */
function checkPeriodMs(intervalMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(intervalMs / 4)));
}

export class SessionRekey {
  /** The previous receive key stays valid this long after a new one is installed. */
  readonly graceMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly crypto: RekeyCrypto,
    private readonly opts: RekeyOptions,
  ) {
    this.graceMs = Math.min(REKEY_GRACE_MS, Math.floor(opts.intervalMs / 2));
  }

  attach(s: Session, keys: { sendKey: Uint8Array; recvKey: Uint8Array }, send: (msg: RekeyMessage) => void): void {
    s.rekeyer = new Rekeyer(
      this.crypto,
      { intervalMs: this.opts.intervalMs, afterBytes: this.opts.afterBytes, timeoutMs: Math.min(REKEY_TIMEOUT_MS, this.opts.intervalMs) },
      {
        send,
        installRecv: (gen, k) => s.installRecv(gen, k, this.clock.now(), this.graceMs),
        switchSend: (gen) => s.switchSend(gen),
      },
      keys,
      this.clock.now(),
    );
    this.schedule(s);
  }

  onMessage(s: Session, msg: RekeyMessage): void {
    s.rekeyer?.onMessage(msg, this.clock.now(), this.sentBytes(s));
  }

  onPeerSealed(s: Session, genByte: number): void {
    if (s.rekeyer?.phase === 'awaiting') s.rekeyer.onPeerSealed(genByte, this.clock.now(), this.sentBytes(s));
  }

  private schedule(s: Session): void {
    s.cancelRekeyTimer = this.clock.setTimer(checkPeriodMs(this.opts.intervalMs), () => {
      if (!s.rekeyer) return;
      s.rekeyer.tick(this.clock.now(), this.sentBytes(s));
      this.schedule(s);
    });
  }

  /** Upper bound of the bytes sealed on this session so far (the shared counter counts every datagram). */
  private sentBytes(s: Session): number {
    const datagrams = s.counterSource ? s.nextCounter() : s.sendCounter;
    return datagrams * this.opts.maxDatagramBytes;
  }
}
