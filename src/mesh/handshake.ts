// The control-connection handshake as a pure state machine (no I/O, no timers): the caller feeds the
// received bytes through a FrameDecoder, writes what `advance` returns, and owns the timeout
// (protocol-connection.ts). DESIGN.md §3; error texts follow Weave's (WEAVE-FACTS.md §1.4, §2.2).
//
// Both sides run the same steps; neither waits for the other before writing:
//
//   1. write preamble ‖ hello                              (initialBytes, at once)
//   2. read preamble   → negotiate version                 ERR_PROTOCOL (bad magic), ERR_PROTOCOL_VERSION
//   3. read hello      → validate every field              ERR_PROTOCOL
//                      → password on one side only?        ERR_ENCRYPTION_MISMATCH
//                      → same name: same uid = ourself     ERR_CONNECT_TO_SELF
//                                   other uid = collision  ERR_PEER_NAME_COLLISION
//                      → encrypted: X25519 + KDF           ERR_HANDSHAKE (bad public key)
//   4. write our first message: a heartbeat, sealed when encrypted (counter 0)
//   5. read the peer's first message: must open and be a heartbeat
//                                                          ERR_AUTH_FAILED "authentication failed
//                                                          (password mismatch?)" when it does not open
//   → done: the decoder now holds whatever followed, for the connection to read.
//
// Until step 5 has passed nobody has proved anything (with or without a password: anyone who reaches the
// port can send a plausible hello), so every frame before it is capped at what the handshake needs:
// HELLO_MAX_BYTES for the hello, FIRST_MESSAGE_MAX_BYTES for the first message. Only an authenticated
// peer may announce a frame of up to MAX_CONTROL_MSG_BYTES; before that a 10 MiB length is refused as
// soon as its 4 bytes arrive, so a stranger never makes us buffer more than a few KiB.
//
// The initiator (for the transcript and the key directions) is the side that dialled (`outbound`).

import { MAX_CONTROL_MSG_BYTES } from '../core/defaults.js';
import { HandshakeError, ProtocolError } from '../core/errors.js';
import type { Rng } from '../core/ports.js';
import { peerLabel, type PeerName } from '../core/types.js';
import { CONTROL_TAG_BYTES, ControlOpener, ControlSealer } from '../crypto/control-seal.js';
import {
  deriveSessionKeys,
  generateEphemeralKeyPair,
  handshakeTranscript,
  x25519SharedSecret,
  type EphemeralKeyPair,
  type SessionKeys,
} from '../crypto/session-keys.js';
import { decodeControlMessage, encodeControlMessage } from '../wire/control-codec.js';
import { encodeFrame, type FrameDecoder } from '../wire/framing.js';
import { decodeHello, encodeHello, HELLO_MAX_BYTES, type Hello } from '../wire/hello.js';
import {
  couldBePreamble,
  decodePreamble,
  encodePreamble,
  negotiateVersion,
  OUR_VERSION_RANGE,
  PREAMBLE_BYTES,
  type VersionRange,
} from '../wire/preamble.js';

export const ENCRYPTION_MISMATCH_LOCAL_PASSWORD = 'password specified, but peer requested an unencrypted connection';
export const ENCRYPTION_MISMATCH_REMOTE_PASSWORD = 'no password specified, but peer requested an encrypted connection';
export const CONNECT_TO_SELF_MESSAGE = 'cannot connect to ourself';
/**
 * Largest first message (step 5) before authentication: a sealed heartbeat is 2 + CONTROL_TAG_BYTES
 * bytes; the rest is room for a later version's first message, still far below anything worth buffering.
 */
export const FIRST_MESSAGE_MAX_BYTES = 1024;

export interface HandshakeInit {
  /** We dialled: we are the initiator. */
  outbound: boolean;
  localName: PeerName;
  localNickname: string;
  /** Decimal u64 string (or bigint), random per router start. */
  localUid: string | bigint;
  /** u32, random per connection. */
  connId: number;
  /** From derivePasswordKey(); present = encrypted. */
  passwordKey?: Uint8Array;
  /** Port we listen on (TCP control and UDP data). */
  listenPort: number;
  /** u32 receiver index we want in data-plane headers addressed to us. */
  sessionIndex: number;
  /** Our receive lanes: we accept sessionIndex..sessionIndex+sessionLanes-1 (wire/hello.ts). @default 1 */
  sessionLanes?: number;
  /** We trust the remote's address (--trusted-subnets); sent in the hello. @default false */
  trustsRemote?: boolean;
  /** We accept checksum-partial frames (wire/hello.ts csumPartial); sent in the hello. @default false */
  csumPartial?: boolean;
  /** @default [PROTOCOL_MIN_VERSION, PROTOCOL_MAX_VERSION] */
  versionRange?: VersionRange;
}

export interface HandshakeResult {
  protocolVersion: number;
  /** The peer's validated hello. */
  remote: Hello;
  local: Hello;
  encrypted: boolean;
  /** Present iff encrypted. */
  keys?: SessionKeys;
  /** Sealer/opener for the messages after the handshake, counters already past the first message. */
  sealer?: ControlSealer;
  opener?: ControlOpener;
}

export interface HandshakeStep {
  /** Bytes to write now, in order. */
  send: Buffer[];
  /** Set once, when the handshake is complete. */
  result?: HandshakeResult;
}

export type HandshakePhase = 'preamble' | 'hello' | 'auth' | 'done';

export class Handshake {
  /** Preamble ‖ hello: write these as soon as the connection is up. */
  readonly initialBytes: Buffer;
  private readonly init: HandshakeInit;
  private readonly ours: VersionRange;
  private readonly local: Hello;
  private readonly keyPair: EphemeralKeyPair | undefined;
  private phaseNow: HandshakePhase = 'preamble';
  private remotePreamble: Buffer | undefined;
  private protocolVersion = 0;
  private remote: Hello | undefined;
  private keys: SessionKeys | undefined;
  private sealer: ControlSealer | undefined;
  private opener: ControlOpener | undefined;

  constructor(rng: Rng, init: HandshakeInit) {
    if (init.passwordKey !== undefined && init.passwordKey.length !== 32) {
      throw new TypeError(`passwordKey must be 32 bytes (from derivePasswordKey), got ${init.passwordKey.length}`);
    }
    this.init = init;
    this.ours = init.versionRange ?? OUR_VERSION_RANGE;
    this.keyPair = init.passwordKey ? generateEphemeralKeyPair(rng) : undefined;
    this.local = {
      name: init.localName,
      nickname: init.localNickname,
      uid: String(init.localUid),
      connId: init.connId,
      encrypted: this.keyPair !== undefined,
      listenPort: init.listenPort,
      sessionIndex: init.sessionIndex,
    };
    if (this.keyPair) this.local.publicKey = this.keyPair.publicKey;
    if (init.sessionLanes !== undefined && init.sessionLanes > 1) this.local.sessionLanes = init.sessionLanes;
    if (init.trustsRemote) this.local.trusted = true;
    if (init.csumPartial) this.local.csumPartial = true;
    this.initialBytes = Buffer.concat([encodePreamble(this.ours), encodeHello(this.local)]);
  }

  get phase(): HandshakePhase {
    return this.phaseNow;
  }

  /** Where a connection that ends now was cut off, for the error message. */
  describeProgress(decoder: FrameDecoder): string {
    switch (this.phaseNow) {
      case 'preamble':
        return `waiting for the preamble (${decoder.buffered} of ${PREAMBLE_BYTES} bytes)`;
      case 'hello':
        return `waiting for the hello (${decoder.describePending()})`;
      case 'auth':
        return `waiting for the first message (${decoder.describePending()})`;
      case 'done':
        return 'complete';
    }
  }

  /**
   * Consumes as much of `decoder` as the handshake needs. Throws HandshakeError or ProtocolError; after a
   * throw the connection must be closed. After the result, leftover bytes stay in `decoder`.
   */
  advance(decoder: FrameDecoder): HandshakeStep {
    const send: Buffer[] = [];
    for (;;) {
      switch (this.phaseNow) {
        case 'preamble': {
          if (!couldBePreamble(decoder.peek(PREAMBLE_BYTES))) throw new ProtocolError('not a tsweave peer (bad magic)');
          const pre = decoder.takeBytes(PREAMBLE_BYTES);
          if (!pre) return { send };
          this.protocolVersion = negotiateVersion(this.ours, decodePreamble(pre));
          this.remotePreamble = pre;
          decoder.maxBodyBytes = HELLO_MAX_BYTES;
          decoder.what = 'hello';
          this.phaseNow = 'hello';
          break;
        }
        case 'hello': {
          const body = decoder.nextFrame();
          if (!body) return { send };
          const remote = decodeHello(body);
          this.checkPeer(remote);
          this.remote = remote;
          if (this.keyPair) {
            const remoteBytes = Buffer.concat([this.remotePreamble!, encodeFrame(body)]);
            const transcript = this.init.outbound
              ? handshakeTranscript(this.initialBytes, remoteBytes)
              : handshakeTranscript(remoteBytes, this.initialBytes);
            const shared = x25519SharedSecret(this.keyPair.privateKey, remote.publicKey!);
            this.keys = deriveSessionKeys({
              shared,
              passwordKey: this.init.passwordKey!,
              transcript,
              isInitiator: this.init.outbound,
            });
            shared.fill(0);
            this.sealer = new ControlSealer(this.keys.tcpSendKey);
            this.opener = new ControlOpener(this.keys.tcpRecvKey);
          }
          // Still unauthenticated: the first message is a heartbeat, so a small cap (not the message cap).
          decoder.maxBodyBytes = FIRST_MESSAGE_MAX_BYTES;
          decoder.what = 'first message';
          const first = encodeControlMessage({ kind: 'heartbeat' });
          send.push(encodeFrame(this.sealer ? this.sealer.seal(first) : first));
          this.phaseNow = 'auth';
          break;
        }
        case 'auth': {
          const body = decoder.nextFrame();
          if (!body) return { send };
          const plain = this.opener ? this.opener.open(body) : body; // ERR_AUTH_FAILED if it does not open
          const msg = decodeControlMessage(plain);
          if (msg.kind !== 'heartbeat') {
            throw new ProtocolError(`expected a heartbeat as the first message, got ${msg.kind}`);
          }
          this.phaseNow = 'done';
          // Authenticated: from here on frames may be as large as any control message.
          decoder.maxBodyBytes = MAX_CONTROL_MSG_BYTES + (this.keyPair ? CONTROL_TAG_BYTES : 0);
          decoder.what = 'control message';
          const result: HandshakeResult = {
            protocolVersion: this.protocolVersion,
            remote: this.remote!,
            local: this.local,
            encrypted: this.keyPair !== undefined,
          };
          if (this.keys) {
            result.keys = this.keys;
            result.sealer = this.sealer!;
            result.opener = this.opener!;
          }
          return { send, result };
        }
        case 'done':
          return { send };
      }
    }
  }

  private checkPeer(remote: Hello): void {
    const hasPassword = this.keyPair !== undefined;
    if (hasPassword && !remote.encrypted) {
      throw new HandshakeError('ERR_ENCRYPTION_MISMATCH', ENCRYPTION_MISMATCH_LOCAL_PASSWORD);
    }
    if (!hasPassword && remote.encrypted) {
      throw new HandshakeError('ERR_ENCRYPTION_MISMATCH', ENCRYPTION_MISMATCH_REMOTE_PASSWORD);
    }
    if (remote.name === this.local.name) {
      if (remote.uid === this.local.uid) {
        throw new HandshakeError('ERR_CONNECT_TO_SELF', CONNECT_TO_SELF_MESSAGE, { fields: { peer: remote.name } });
      }
      throw new HandshakeError(
        'ERR_PEER_NAME_COLLISION',
        `local "${peerLabel(this.local.name, this.local.nickname)}" and remote "${peerLabel(remote.name, remote.nickname)}" peer names collision`,
        { fields: { peer: remote.name, localNickname: this.local.nickname, remoteNickname: remote.nickname } },
      );
    }
  }
}
