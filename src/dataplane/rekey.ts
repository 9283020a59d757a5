// Data-plane key rotation for one session (DESIGN.md §3): the exchange that agrees on the next key
// generation (pure: clock, crypto and the data plane are the caller's), and the receive-key ring that
// keeps the previous generation acceptable for a short grace.
//
// Messages (wire/control-messages.ts 'rekey', over the sealed TCP control channel):
//   init(g, pub)    I propose generation g = current + 1; my ephemeral X25519 public key
//   resp(g, pub)    answer to init: I have installed my receive key of g; my ephemeral public key
//   installed(g)    I have installed my receive key of g
//
// A side seals with g only once it knows the peer can open g:
//   initiator  idle --tick due--> initiating(g) --resp--> install recv g, switch send, send installed: done
//   responder  idle --init(g)--> install recv g, send resp --> awaiting(g) --installed(g)--> switch send: done
//   both at once: initiating(g) --init(g) from the peer--> derive from both inits' keys, install recv g,
//              send installed --> awaiting(g) --installed(g)--> switch send: done (both sides alike)
// A datagram the peer sealed with g also proves it installed g (awaiting → done without `installed`).
// An initiator that hears nothing for REKEY_TIMEOUT_MS drops its ephemeral key and starts over with the
// same g (a responder still awaiting g answers the new init again, from the same chain key). Messages
// for any other generation are stale or hostile: counted and ignored.
//
// Due: REKEY_AFTER_MS (TSWEAVE_REKEY_INTERVAL_S) since the generation began, or REKEY_AFTER_BYTES sent
// under it, whichever first.

import type { EphemeralKeyPair } from '../crypto/session-keys.js';
import type { GenerationKeys, RekeyCrypto } from '../crypto/rekey-kdf.js';
import type { RekeyOp } from '../wire/control-messages.js';

export type { RekeyOp };
export interface RekeyMessage {
  op: RekeyOp;
  /** Full generation number (the datagram header carries its low 8 bits). */
  gen: number;
  /** init and resp: the sender's ephemeral X25519 public key (32 bytes). */
  pub?: Uint8Array;
}

/** What the exchange asks of the data plane and the control channel. */
export interface RekeyHooks {
  send(msg: RekeyMessage): void;
  /** Receive key of `gen` becomes current (the previous one is kept for the grace); keep sendKey/sendSalt
   *  for switchSend. The buffers are the caller's to wipe. */
  installRecv(gen: number, keys: GenerationKeys): void;
  /** Seal with the send key installed with `gen` from now on. */
  switchSend(gen: number): void;
}

export interface RekeySchedule {
  intervalMs: number;
  afterBytes: number;
  timeoutMs: number;
}

export interface RekeyStats {
  rekeys: number;
  timeouts: number;
  rejected: number;
}

type State =
  | { s: 'idle' }
  | { s: 'initiating'; gen: number; eph: EphemeralKeyPair; since: number }
  | { s: 'awaiting'; gen: number; chain: Buffer; since: number };

export class Rekeyer {
  /** The generation both directions use (0: the handshake's keys). */
  generation = 0;
  readonly stats: RekeyStats = { rekeys: 0, timeouts: 0, rejected: 0 };
  private chain: Buffer;
  private state: State = { s: 'idle' };
  private genStartedAt: number;
  private bytesAtGenStart = 0;

  constructor(
    private readonly crypto: RekeyCrypto,
    private readonly schedule: RekeySchedule,
    private readonly hooks: RekeyHooks,
    initialKeys: { sendKey: Uint8Array; recvKey: Uint8Array },
    now: number,
  ) {
    this.chain = crypto.initialChain(initialKeys);
    this.genStartedAt = now;
  }

  get phase(): State['s'] {
    return this.state.s;
  }

  /** Periodic check: starts a rekey when due, gives up on an unanswered one. sentBytes: total so far. */
  tick(now: number, sentBytes: number): void {
    const st = this.state;
    if (st.s !== 'idle') {
      if (now - st.since < this.schedule.timeoutMs) return;
      this.stats.timeouts++;
      this.reset();
    }
    const due = now - this.genStartedAt >= this.schedule.intervalMs || sentBytes - this.bytesAtGenStart >= this.schedule.afterBytes;
    if (!due) return;
    const gen = this.generation + 1;
    const eph = this.crypto.newEphemeral();
    this.state = { s: 'initiating', gen, eph, since: now };
    this.hooks.send({ op: 'init', gen, pub: eph.publicKey });
  }

  /** A rekey message from the peer (already validated in shape by the codec). */
  onMessage(msg: RekeyMessage, now: number, sentBytes: number): void {
    const st = this.state;
    const next = this.generation + 1;
    if (msg.gen !== next) return this.reject();
    try {
      if (msg.op === 'init' && st.s === 'initiating') {
        // Both started at once: both inits' keys make the exchange.
        const d = this.crypto.derive(this.chain, st.eph, msg.pub!);
        this.hooks.installRecv(next, d.keys);
        this.state = { s: 'awaiting', gen: next, chain: d.chain, since: now };
        this.hooks.send({ op: 'installed', gen: next });
      } else if (msg.op === 'init') {
        // idle, or awaiting g again: the initiator missed our resp and started over.
        if (st.s === 'awaiting') st.chain.fill(0);
        const eph = this.crypto.newEphemeral();
        const d = this.crypto.derive(this.chain, eph, msg.pub!);
        this.hooks.installRecv(next, d.keys);
        this.state = { s: 'awaiting', gen: next, chain: d.chain, since: now };
        this.hooks.send({ op: 'resp', gen: next, pub: eph.publicKey });
      } else if (msg.op === 'resp' && st.s === 'initiating') {
        const d = this.crypto.derive(this.chain, st.eph, msg.pub!);
        this.hooks.installRecv(next, d.keys);
        this.hooks.switchSend(next);
        this.hooks.send({ op: 'installed', gen: next });
        this.complete(d.chain, now, sentBytes);
      } else if (msg.op === 'installed' && st.s === 'awaiting') {
        this.peerInstalled(now, sentBytes);
      } else {
        this.reject();
      }
    } catch {
      // A bad public key (low order, ours): nothing installed from it.
      this.reject();
    }
  }

  /** An authenticated datagram sealed with generation byte genByte arrived. */
  onPeerSealed(genByte: number, now: number, sentBytes: number): void {
    const st = this.state;
    if (st.s === 'awaiting' && (st.gen & 0xff) === genByte) this.peerInstalled(now, sentBytes);
  }

  /** Wipes the chain and any pending secret (the session is gone). */
  destroy(): void {
    this.reset();
    this.chain.fill(0);
  }

  private peerInstalled(now: number, sentBytes: number): void {
    const st = this.state;
    if (st.s !== 'awaiting') return;
    this.hooks.switchSend(st.gen);
    this.complete(st.chain, now, sentBytes);
  }

  private complete(chain: Buffer, now: number, sentBytes: number): void {
    this.chain.fill(0);
    this.chain = chain;
    this.generation++;
    this.genStartedAt = now;
    this.bytesAtGenStart = sentBytes;
    this.stats.rekeys++;
    this.state = { s: 'idle' };
  }

  private reject(): void {
    this.stats.rejected++;
  }

  /** Back to idle; a pending chain is wiped (the ephemeral private key is dropped with the state). */
  private reset(): void {
    const st = this.state;
    if (st.s === 'awaiting') st.chain.fill(0);
    this.state = { s: 'idle' };
  }
}

// ---------------------------------------------------------------------------------------------
// Receive keys: the current generation, and the previous one until its grace ends.

export class RecvKeyRing<H> {
  private cur: { gen: number; h: H };
  private prev: { gen: number; h: H; until: number } | undefined;

  constructor(
    first: H,
    /** Releases a handle (wipes its key). */
    private readonly dispose: (h: H) => void,
  ) {
    this.cur = { gen: 0, h: first };
  }

  get currentGen(): number {
    return this.cur.gen;
  }

  /** gen's key becomes current; the current one stays acceptable until now + graceMs. */
  install(gen: number, h: H, now: number, graceMs: number): void {
    if (this.prev) this.dispose(this.prev.h);
    this.prev = { gen: this.cur.gen, h: this.cur.h, until: now + graceMs };
    this.cur = { gen, h };
  }

  /** The key for a header's generation byte, or undefined (unknown, or past its grace: dropped). */
  lookup(genByte: number, now: number): H | undefined {
    if ((this.cur.gen & 0xff) === genByte) return this.cur.h;
    const p = this.prev;
    if (!p || (p.gen & 0xff) !== genByte) return undefined;
    if (now <= p.until) return p.h;
    this.dispose(p.h);
    this.prev = undefined;
    return undefined;
  }

  destroy(): void {
    this.dispose(this.cur.h);
    if (this.prev) this.dispose(this.prev.h);
    this.prev = undefined;
  }
}
