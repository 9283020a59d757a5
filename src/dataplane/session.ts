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
import { wipeKeys, type GenerationKeys } from '../crypto/rekey-kdf.js';
import type { FastPath } from '../core/ports.js';
import { RecvKeyRing, type Rekeyer, type RekeyMessage } from './rekey.js';

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
  /**
   * Receive lanes (wire/hello.ts sessionLanes): this session is found by every index of
   * localIndex..localIndex+localLanes-1, and the fast path's send lane i addresses
   * remoteIndex + i % remoteLanes (so the remote's kernel steers that lane's datagrams to one of its
   * lanes). The overlay itself always sends remoteIndex. @default 1 each
   */
  localLanes?: number;
  remoteLanes?: number;
  /**
   * Both ends announced csumPartial (wire/hello.ts): frame lengths carry the checksum-partial flag in
   * bit 15 (wire/data-packet.ts); the fast path may send such frames to this peer. @default false
   */
  csumPartial?: boolean;
  /** Absent: the connection is unencrypted. */
  keys?: SessionKeys;
}

export type SessionPath = 'udp' | 'tcp';

export interface SessionHooks {
  /** Sends a DATA body (frames) over the TCP connection. */
  sendFramesOverTcp(body: Uint8Array): void;
  /** Sends a rekey message over the TCP connection (absent: this session never rekeys). */
  sendRekey?(msg: RekeyMessage): void;
  /** The path that carries frames changed (undefined: none confirmed yet). */
  onPathChange(path: SessionPath | undefined): void;
}

export class Session {
  readonly peer: number;
  remoteAddr: number;
  remotePort: number;
  readonly localIndex: number;
  readonly remoteIndex: number;
  /** Indexes localIndex..localIndex+localLanes-1 find this session (SessionInit.localLanes). */
  readonly localLanes: number;
  /** SessionInit.csumPartial. */
  readonly csumPartial: boolean;
  /** Current send key, generation sendGen (its low 8 bits go in every header). */
  seal: AeadHandle | undefined;
  sendGen = 0;
  /** Receive keys by generation (current, and the previous one for a grace). */
  readonly recv: RecvKeyRing<AeadHandle> | undefined;
  /** Key rotation (encrypted sessions with rekeying on). */
  rekeyer: Rekeyer | undefined;
  /** The send key of a generation whose receive key is installed, until the peer can open it. */
  private pendingSend: { gen: number; keys: GenerationKeys } | undefined;
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
  /** Traffic the JS path carried on this session (the fast path counts its own): datagrams and their
   *  bytes on the wire, sent and authenticated received; frames sent over the TCP fallback count as sent. */
  datagramsSent = 0;
  bytesSent = 0;
  datagramsReceived = 0;
  bytesReceived = 0;

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
    this.localLanes = init.localLanes ?? 1;
    this.csumPartial = init.csumPartial ?? false;
    if (init.keys) {
      if (!aead) throw new Error('encrypted session needs an AEAD implementation');
      this.seal = aead.create(init.keys.sendKey, init.keys.sendSalt, true);
      this.recv = new RecvKeyRing(aead.create(init.keys.recvKey, init.keys.recvSalt, false), (h) => aead.destroy(h));
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
    this.cancelRekeyTimer?.();
    if (this.seal) this.aead!.destroy(this.seal);
    this.recv?.destroy();
    this.rekeyer?.destroy();
    wipeKeys(this.pendingSend?.keys);
    this.pendingSend = undefined;
  }

  cancelRekeyTimer: (() => void) | undefined;
  /** Set while a fast path shares this session: key changes go to it too. */
  fast: FastPath | undefined;

  /** Rekeying: gen's receive key becomes current (the previous stays for graceMs); its send key waits. */
  installRecv(gen: number, keys: GenerationKeys, now: number, graceMs: number): void {
    if (!this.recv) return;
    this.fast?.setRecvKey(this.peer, gen & 0xff, keys.recvKey, keys.recvSalt, graceMs);
    this.recv.install(gen, this.aead!.create(keys.recvKey, keys.recvSalt, false), now, graceMs);
    keys.recvKey.fill(0);
    keys.recvSalt.fill(0);
    wipeKeys(this.pendingSend?.keys);
    this.pendingSend = { gen, keys };
  }

  /** Rekeying: seal with gen's send key from now on (the peer can open it). */
  switchSend(gen: number): void {
    const p = this.pendingSend;
    if (!p || p.gen !== gen || !this.seal) return;
    this.fast?.setSendKey(this.peer, gen & 0xff, p.keys.sendKey, p.keys.sendSalt);
    const old = this.seal;
    this.seal = this.aead!.create(p.keys.sendKey, p.keys.sendSalt, true);
    this.sendGen = gen;
    this.aead!.destroy(old);
    wipeKeys(p.keys);
    this.pendingSend = undefined;
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
