// One control connection (TCP) from first byte to close, over a ByteStream (core/ports.ts).
//
// Flow:
//   1. constructor: write preamble ‖ hello, arm the handshake timeout (HANDSHAKE_TIMEOUT_MS)
//   2. bytes in → FrameDecoder → Handshake.advance (handshake.ts) until it completes
//   3. onReady(info): peer identity, negotiated version, data-plane keys (udpKeys) when encrypted
//   4. then each frame: open (when encrypted) → decodeControlMessage → onMessage(msg)
//      a received `close` ends the connection with the peer's reason as the error message
//   5. timers (Clock): heartbeat every TCP_HEARTBEAT_INTERVAL_MS; with nothing received for
//      TCP_READ_TIMEOUT_MS the connection fails
//
// Error contract: every failure (bad bytes, failed handshake, timeout, the stream ending) closes the stream
// and calls onClose(err) exactly once; nothing throws out of a stream callback. A local `close(reason)`
// sends a `close` message, ends the stream and calls onClose() with no error. Frames on the wire are
// framing.ts frames; sealed with control-seal.ts when encrypted.

import {
  HANDSHAKE_TIMEOUT_MS,
  TCP_HEARTBEAT_INTERVAL_MS,
  TCP_READ_TIMEOUT_MS,
} from '../core/defaults.js';
import { HandshakeError, ProtocolError, TsweaveError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ByteStream, Clock, Rng } from '../core/ports.js';
import type { PeerName } from '../core/types.js';
import type { ControlOpener, ControlSealer } from '../crypto/control-seal.js';
import type { UdpSessionKeys } from '../crypto/session-keys.js';
import { decodeControlMessage, encodeControlMessage, MAX_CLOSE_REASON_CHARS } from '../wire/control-codec.js';
import type { ControlMessage } from '../wire/control-messages.js';
import { encodeFrame, FrameDecoder } from '../wire/framing.js';
import { HELLO_MAX_BYTES, sessionLanesOf } from '../wire/hello.js';
import type { VersionRange } from '../wire/preamble.js';
import { Handshake, type HandshakeInit, type HandshakeResult } from './handshake.js';

export interface ProtocolConnectionComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
}

export interface ProtocolConnectionInit {
  stream: ByteStream;
  /** We dialled (the initiator). */
  outbound: boolean;
  localName: PeerName;
  localNickname: string;
  /** Decimal u64 string (or bigint), random per router start. */
  localUid: string | bigint;
  /** From derivePasswordKey(); present = encrypted. */
  passwordKey?: Uint8Array;
  /** Port we listen on, sent to the peer for discovery. */
  listenPort: number;
  /** u32 receiver index the peer must put in data-plane headers addressed to us. */
  sessionIndex: number;
  /** Our receive lanes: the peer may use sessionIndex..sessionIndex+sessionLanes-1. @default 1 */
  sessionLanes?: number;
  /** We trust the remote's address (--trusted-subnets). @default false */
  trustsRemote?: boolean;
  /** We accept checksum-partial frames (wire/hello.ts csumPartial). @default false */
  csumPartial?: boolean;
  /** u32 connection id. @default random from rng */
  connId?: number;
  /** @default HANDSHAKE_TIMEOUT_MS */
  handshakeTimeoutMs?: number;
  /** @default TCP_HEARTBEAT_INTERVAL_MS */
  heartbeatIntervalMs?: number;
  /** @default TCP_READ_TIMEOUT_MS */
  readTimeoutMs?: number;
  /** Tests only. @default [PROTOCOL_MIN_VERSION, PROTOCOL_MAX_VERSION] */
  versionRange?: VersionRange;
}

export interface ConnectionReadyInfo {
  remoteName: PeerName;
  remoteNickname: string;
  /** Decimal u64 string. */
  remoteUid: string;
  remoteListenPort: number;
  remoteSessionIndex: number;
  /** The peer's receive lanes (1..MAX_SESSION_LANES; 1 for a peer that announces none): a send lane i
   *  addresses remoteSessionIndex + i % remoteSessionLanes. */
  remoteSessionLanes: number;
  localConnId: number;
  remoteConnId: number;
  encrypted: boolean;
  /** Data-plane keys, mapped to our send/recv; present iff encrypted. */
  udpKeys?: UdpSessionKeys;
  /** Both ends trust each other's address (--trusted-subnets): the data plane may go unencrypted. */
  mutuallyTrusted: boolean;
  /** Both ends announced csumPartial (wire/hello.ts): frames may carry a partial TCP checksum. */
  csumPartial: boolean;
  protocolVersion: number;
}

export interface ProtocolConnectionStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** onMessage callbacks that threw (logged at debug, message dropped). */
  handlerErrors: number;
}

export type ProtocolConnectionState = 'handshaking' | 'ready' | 'closed';

export class ProtocolConnection {
  readonly outbound: boolean;
  readonly localConnId: number;
  readonly stats: ProtocolConnectionStats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, handlerErrors: 0 };
  private readonly clock: Clock;
  private readonly stream: ByteStream;
  private log: Logger;
  private readonly decoder = new FrameDecoder(HELLO_MAX_BYTES, 'hello');
  private readonly handshake: Handshake;
  private readonly heartbeatIntervalMs: number;
  private readonly readTimeoutMs: number;
  private stateNow: ProtocolConnectionState = 'handshaking';
  private sealer: ControlSealer | undefined;
  private opener: ControlOpener | undefined;
  private info: ConnectionReadyInfo | undefined;
  private closeErr: Error | undefined;
  private readyCb: ((info: ConnectionReadyInfo) => void) | undefined;
  private messageCb: ((msg: ControlMessage) => void) | undefined;
  private closeCb: ((err?: Error) => void) | undefined;
  private closeReported = false;
  private cancelHandshakeTimer: (() => void) | undefined;
  private cancelHeartbeat: (() => void) | undefined;
  private cancelReadTimer: (() => void) | undefined;
  private lastReceivedAt: number;

  /** Writes preamble and hello at once; throws (synchronously) only for invalid local settings. */
  constructor(components: ProtocolConnectionComponents, init: ProtocolConnectionInit) {
    this.clock = components.clock;
    this.stream = init.stream;
    this.outbound = init.outbound;
    this.localConnId = init.connId ?? components.rng.int(0x1_0000_0000);
    this.heartbeatIntervalMs = init.heartbeatIntervalMs ?? TCP_HEARTBEAT_INTERVAL_MS;
    this.readTimeoutMs = init.readTimeoutMs ?? TCP_READ_TIMEOUT_MS;
    this.log = components.logger.child({
      component: 'conn',
      remote: `${init.stream.remoteAddress}:${init.stream.remotePort}`,
      outbound: init.outbound,
    });
    const hs: HandshakeInit = {
      outbound: init.outbound,
      localName: init.localName,
      localNickname: init.localNickname,
      localUid: init.localUid,
      connId: this.localConnId,
      listenPort: init.listenPort,
      sessionIndex: init.sessionIndex,
    };
    if (init.passwordKey) hs.passwordKey = init.passwordKey;
    if (init.sessionLanes !== undefined) hs.sessionLanes = init.sessionLanes;
    if (init.trustsRemote) hs.trustsRemote = true;
    if (init.csumPartial) hs.csumPartial = true;
    if (init.versionRange) hs.versionRange = init.versionRange;
    this.handshake = new Handshake(components.rng, hs);
    this.lastReceivedAt = this.clock.now();

    this.stream.onData((chunk) => this.onData(chunk));
    this.stream.onClose((err) => this.onStreamClose(err));
    const timeoutMs = init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.cancelHandshakeTimer = this.clock.setTimer(timeoutMs, () => {
      this.cancelHandshakeTimer = undefined;
      if (this.stateNow !== 'handshaking') return;
      this.fail(new HandshakeError('ERR_HANDSHAKE', `handshake timed out after ${timeoutMs} ms (${this.handshake.describeProgress(this.decoder)})`));
    });
    this.log.debug({ encrypted: init.passwordKey !== undefined }, 'handshake started');
    this.write(this.handshake.initialBytes);
  }

  get state(): ProtocolConnectionState {
    return this.stateNow;
  }

  /** Set once ready. */
  get readyInfo(): ConnectionReadyInfo | undefined {
    return this.info;
  }

  /** Called once the handshake has completed (immediately if it already has). */
  onReady(cb: (info: ConnectionReadyInfo) => void): void {
    this.readyCb = cb;
    if (this.info && this.stateNow === 'ready') this.safeCall(() => cb(this.info!), 'ready');
  }

  /** Each control message after the handshake (heartbeats and `close` included are handled here, not passed on). */
  onMessage(cb: (msg: ControlMessage) => void): void {
    this.messageCb = cb;
  }

  /** Called exactly once when the connection ends: no error for a local close(), otherwise why. */
  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
    if (this.stateNow === 'closed' && !this.closeReported) this.reportClose();
  }

  /**
   * Sends a message. Throws (a local bug) for an invalid message or one over the size limit; ignored
   * before ready or after close (returns false).
   */
  send(msg: ControlMessage): boolean {
    if (this.stateNow !== 'ready') return false;
    this.sendFrame(encodeControlMessage(msg));
    return true;
  }

  /** Tells the peer why (a `close` message, when the handshake is done), then ends the stream. */
  close(reason: string): void {
    if (this.stateNow === 'closed') return;
    if (this.stateNow === 'ready') {
      const r = reason.length > MAX_CLOSE_REASON_CHARS ? reason.slice(0, MAX_CLOSE_REASON_CHARS) : reason;
      try {
        this.sendFrame(encodeControlMessage({ kind: 'close', reason: r }));
      } catch (err) {
        this.log.debug({ err }, 'could not send close message');
      }
    }
    this.log.debug({ reason }, 'closing connection');
    this.shutdown(undefined);
  }

  // ------------------------------------------------------------------------------------------

  private onData(chunk: Uint8Array): void {
    if (this.stateNow === 'closed') return;
    this.stats.bytesIn += chunk.length;
    try {
      this.decoder.push(chunk);
      if (this.stateNow === 'handshaking') {
        const step = this.handshake.advance(this.decoder);
        for (const b of step.send) this.write(b);
        if (!step.result) return;
        this.becomeReady(step.result);
        if ((this.stateNow as ProtocolConnectionState) !== 'ready') return; // closed from the ready callback
      }
      this.readMessages();
    } catch (err) {
      this.fail(asConnectionError(err));
    }
  }

  private becomeReady(result: HandshakeResult): void {
    this.cancelHandshakeTimer?.();
    this.cancelHandshakeTimer = undefined;
    this.sealer = result.sealer;
    this.opener = result.opener;
    const r = result.remote;
    this.info = {
      remoteName: r.name,
      remoteNickname: r.nickname,
      remoteUid: r.uid,
      remoteListenPort: r.listenPort,
      remoteSessionIndex: r.sessionIndex,
      remoteSessionLanes: sessionLanesOf(r),
      localConnId: this.localConnId,
      remoteConnId: r.connId,
      encrypted: result.encrypted,
      mutuallyTrusted: result.local.trusted === true && r.trusted === true,
      csumPartial: result.local.csumPartial === true && r.csumPartial === true,
      protocolVersion: result.protocolVersion,
    };
    if (result.keys) this.info.udpKeys = result.keys.udp;
    this.stateNow = 'ready';
    // The handshake's first messages (one heartbeat each way) count as messages too.
    this.stats.messagesIn++;
    this.stats.messagesOut++;
    this.log = this.log.child({ peer: r.name, nick: r.nickname });
    this.log.debug({ version: result.protocolVersion, encrypted: result.encrypted }, 'handshake complete');
    this.lastReceivedAt = this.clock.now();
    this.armHeartbeat();
    this.armReadTimer(this.readTimeoutMs);
    if (this.readyCb) this.safeCall(() => this.readyCb!(this.info!), 'ready');
  }

  private readMessages(): void {
    while (this.stateNow === 'ready') {
      const body = this.decoder.nextFrame();
      if (!body) return;
      const plain = this.opener ? this.opener.open(body) : body;
      const msg = decodeControlMessage(plain);
      this.stats.messagesIn++;
      this.lastReceivedAt = this.clock.now();
      switch (msg.kind) {
        case 'heartbeat':
          break;
        case 'close':
          this.log.debug({ reason: msg.reason }, 'peer closed the connection');
          this.shutdown(new ProtocolError(msg.reason, { fields: { closedBy: 'remote' } }));
          return;
        default:
          if (this.messageCb) {
            const cb = this.messageCb;
            this.safeCall(() => cb(msg), 'message', () => this.stats.handlerErrors++);
          }
      }
    }
  }

  private sendFrame(plain: Uint8Array): void {
    const body = this.sealer ? this.sealer.seal(plain) : plain;
    this.stats.messagesOut++;
    this.write(encodeFrame(body));
  }

  private write(bytes: Uint8Array): void {
    this.stats.bytesOut += bytes.length;
    this.stream.write(bytes);
  }

  private armHeartbeat(): void {
    this.cancelHeartbeat = this.clock.setTimer(this.heartbeatIntervalMs, () => {
      this.cancelHeartbeat = undefined;
      if (this.stateNow !== 'ready') return;
      try {
        this.sendFrame(encodeControlMessage({ kind: 'heartbeat' }));
      } catch (err) {
        this.fail(asConnectionError(err));
        return;
      }
      this.armHeartbeat();
    });
  }

  /** One timer at a time: on expiry, re-arm for the remainder if something arrived meanwhile. */
  private armReadTimer(ms: number): void {
    this.cancelReadTimer = this.clock.setTimer(ms, () => {
      this.cancelReadTimer = undefined;
      if (this.stateNow !== 'ready') return;
      const idle = this.clock.now() - this.lastReceivedAt;
      if (idle >= this.readTimeoutMs) {
        this.fail(new ProtocolError(`no message from peer for ${this.readTimeoutMs} ms (read timeout)`));
      } else {
        this.armReadTimer(this.readTimeoutMs - idle);
      }
    });
  }

  private onStreamClose(err?: Error): void {
    if (this.stateNow === 'closed') return;
    if (this.stateNow === 'handshaking') {
      this.fail(
        new HandshakeError('ERR_HANDSHAKE', `connection closed during handshake, ${this.handshake.describeProgress(this.decoder)}`, {
          cause: err,
        }),
      );
    } else {
      const pending = this.decoder.buffered > 0 ? ` with a truncated message (${this.decoder.describePending()})` : '';
      this.fail(err ?? new ProtocolError(`connection closed by peer${pending}`));
    }
  }

  private fail(err: Error): void {
    if (this.stateNow === 'closed') return;
    this.log.debug({ err }, 'connection failed');
    this.shutdown(err);
  }

  private shutdown(err: Error | undefined): void {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'closed';
    this.closeErr = err;
    this.cancelHandshakeTimer?.();
    this.cancelHeartbeat?.();
    this.cancelReadTimer?.();
    this.cancelHandshakeTimer = this.cancelHeartbeat = this.cancelReadTimer = undefined;
    try {
      this.stream.close();
    } catch (e) {
      this.log.debug({ err: e }, 'stream close threw');
    }
    this.reportClose();
  }

  private reportClose(): void {
    if (this.closeReported || !this.closeCb) return;
    this.closeReported = true;
    const cb = this.closeCb;
    this.safeCall(() => cb(this.closeErr), 'close');
  }

  /** A throwing callback must not break the connection's state machine (or escape a stream callback). */
  private safeCall(fn: () => void, what: 'ready' | 'message' | 'close', onError?: () => void): void {
    try {
      fn();
    } catch (err) {
      onError?.();
      // A message handler throwing is how a channel rejects hostile input (core/gossip.ts): debug.
      if (what === 'message') this.log.debug({ err }, 'message handler threw; message dropped');
      else this.log.warn({ err, callback: what }, 'connection callback threw');
    }
  }
}

/** Anything unexpected becomes a ProtocolError so callers can branch on `code`. */
function asConnectionError(err: unknown): Error {
  if (err instanceof TsweaveError) return err;
  return new ProtocolError(`internal error on connection: ${errorMessage(err)}`, { cause: err });
}
