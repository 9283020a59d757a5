// One sleeve session: the UDP side of a connection to a directly connected peer. It owns the data keys,
// the send counter, the replay window and the heartbeat state that decides whether UDP works both ways.
//
// States of the path that carries frames:
//   undefined  not confirmed yet (connection `pending`)
//   'udp'      our heartbeat was acknowledged: UDP works both ways (`established`)
//   'tcp'      UDP did not confirm in UDP_CONFIRM_FALLBACK_MS, or went silent for UDP_HEARTBEAT_TIMEOUT_MS:
//              frames ride the TCP connection until heartbeats get through again (Weave stayed `pending`
//              forever here, #3752).

import { ReplayWindow } from '../crypto/replay-window.js';
import type { AeadHandle, DataAeadEngine } from '../crypto/data-aead.js';

export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  sendSalt: Uint8Array;
  recvSalt: Uint8Array;
}

export interface SessionInit {
  /** The remote peer (48-bit name as a number). */
  peer: number;
  /** Where to send datagrams (IPv4 as u32, port); updated from authenticated packets (NAT). */
  remoteAddr: number;
  remotePort: number;
  /** Index the remote puts in datagrams to us; how we find this session. */
  localIndex: number;
  /** Index we put in datagrams to the remote. */
  remoteIndex: number;
  /** Absent: the connection is unencrypted. */
  keys?: SessionKeys;
}

export type SessionPath = 'udp' | 'tcp';

export interface SessionHooks {
  /** Sends a DATA body (frames) over the TCP connection. */
  sendFramesOverTcp(body: Uint8Array): void;
  /** The path that carries frames changed (undefined: none confirmed yet). */
  onPathChange(path: SessionPath | undefined): void;
}

export class Session {
  readonly peer: number;
  remoteAddr: number;
  remotePort: number;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly seal: AeadHandle | undefined;
  readonly open: AeadHandle | undefined;
  readonly replay = new ReplayWindow();
  /** Last counter used for sending (the next datagram uses sendCounter + 1). */
  sendCounter = 0;
  path: SessionPath | undefined;
  /** Our heartbeat was acknowledged (UDP works both ways). */
  confirmed = false;
  lastRecvAt: number;
  readonly startedAt: number;
  cancelTimer: (() => void) | undefined;
  /** Round-trip time of the last acknowledged heartbeat, ms. */
  rttMs: number | undefined;
  /** What the fast path was last told about this session (Overlay.refreshFast). */
  fastEligible = false;

  constructor(
    init: SessionInit,
    readonly hooks: SessionHooks,
    readonly aead: DataAeadEngine | undefined,
    now: number,
  ) {
    this.peer = init.peer;
    this.remoteAddr = init.remoteAddr;
    this.remotePort = init.remotePort;
    this.localIndex = init.localIndex;
    this.remoteIndex = init.remoteIndex;
    if (init.keys) {
      if (!aead) throw new Error('encrypted session needs an AEAD implementation');
      this.seal = aead.create(init.keys.sendKey, init.keys.sendSalt, true);
      this.open = aead.create(init.keys.recvKey, init.keys.recvSalt, false);
    }
    this.lastRecvAt = now;
    this.startedAt = now;
  }

  get encrypted(): boolean {
    return this.seal !== undefined;
  }

  /** Releases the key material (the session is gone). */
  destroy(): void {
    this.cancelTimer?.();
    if (this.seal) this.aead!.destroy(this.seal);
    if (this.open) this.aead!.destroy(this.open);
  }

  /**
   * Set while a fast path shares this session: it owns the counter (its egress thread sends on the same
   * key), so every datagram sent from here takes the next one from it.
   */
  counterSource: (() => number) | undefined;

  nextCounter(): number {
    this.sendCounter = this.counterSource ? this.counterSource() : this.sendCounter + 1;
    return this.sendCounter;
  }

  setPath(path: SessionPath | undefined): void {
    if (path === this.path) return;
    this.path = path;
    this.hooks.onPathChange(path);
  }
}
