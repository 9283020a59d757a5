// The overlay's receive path (one UDP wake-up):
//   1. find the session by receiver index (never by source address: NAT may rewrite it)
//   2. per session and key generation: one openBatch call; failures counted and dropped
//   3. replay window, then the remote's address is updated from the authenticated packet
//   4. DATA: each frame → Forwarder.fromPeer → bridge (queued, one writeFrames) or relayed (packed by the
//      send path); HEARTBEAT → ACK; HEARTBEAT_ACK → UDP confirmed both ways (overlay-heartbeats.ts)
// Also what the fast path hands over (heartbeats, frames to forward, source MACs of broadcasts it
// forwarded itself), and frames that came over TCP. Bad packets are counted, never thrown.

import { FAST_KIND_CONTROL, FAST_KIND_LEARN, type Clock, type DatagramBatch, type FastIngressBatch, type TapDevice } from '../core/ports.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  OFF_COUNTER,
  OFF_KEYGEN,
  OFF_RECEIVER_IDX,
  OFF_TYPE,
  PACKET_TYPE_DATA,
  PACKET_TYPE_HEARTBEAT,
  PACKET_TYPE_HEARTBEAT_ACK,
} from '../wire/data-packet.js';
import type { Forwarder } from './forwarder.js';
import type { Heartbeats } from './overlay-heartbeats.js';
import { MAX_BATCH, type OverlayStats } from './overlay-types.js';
import { forEachFrame } from './packer.js';
import type { Session } from './session.js';
import type { SessionRekey } from './session-rekey.js';

/** The u64 BE counter of a datagram header (wire/data-packet.ts), as a number. */
function readCounter(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + OFF_COUNTER) * 0x100000000 + buf.readUInt32BE(off + OFF_COUNTER + 4);
}

export interface IngressParts {
  clock: Clock;
  tap: TapDevice;
  stats: OverlayStats;
  forwarder: Forwarder;
  heartbeats: Heartbeats;
  rekey: SessionRekey | undefined;
  /** The overlay's sessions by peer and by local index. */
  byPeer: ReadonlyMap<number, Session>;
  byIndex: ReadonlyMap<number, Session>;
}

export class OverlayIngress {
  // Scratch arrays reused every batch.
  private readonly openOffs = new Int32Array(MAX_BATCH);
  private readonly openLens = new Int32Array(MAX_BATCH);
  private readonly openStatus = new Uint8Array(MAX_BATCH);
  private readonly openIdx = new Int32Array(MAX_BATCH);
  /** Session of each datagram in the slice being opened (undefined: dropped or already handled). */
  private readonly sessionOf: Array<Session | undefined> = new Array<Session | undefined>(MAX_BATCH);
  private readonly tapOffs = new Int32Array(MAX_BATCH);
  private readonly tapLens = new Int32Array(MAX_BATCH);
  private tapBuf: Buffer | undefined;
  private tapCount = 0;

  constructor(private readonly p: IngressParts) {}

  /** A batch from the UDP socket; frames for the bridge are written before this returns. */
  udpBatch(batch: DatagramBatch): void {
    // The scratch arrays hold MAX_BATCH datagrams; a larger batch is taken in slices, never cut short.
    for (let from = 0; from < batch.count; from += MAX_BATCH) this.openSlice(batch, from, Math.min(batch.count, from + MAX_BATCH));
    this.flushLocal();
  }

  /** What the fast path handed over: authenticated heartbeats, and frames its rules leave to ours. */
  fastBatch(b: FastIngressBatch): void {
    const now = this.p.clock.now();
    for (let i = 0; i < b.count; i++) {
      const off = b.offsets[i]!;
      const len = b.lengths[i]!;
      if (b.kinds[i] === FAST_KIND_CONTROL) {
        const s = this.p.byPeer.get(b.peers[i]!);
        if (s) this.onAuthentic(s, b.buf, off, len, b.addrs[i]!, b.ports[i]!, now, true);
        else this.p.stats.droppedUnknownSession++;
      } else if (b.kinds[i] === FAST_KIND_LEARN) {
        this.p.forwarder.learnFrom(b.peers[i]!, b.buf, off, len, now);
      } else {
        this.p.forwarder.fromPeer(b.peers[i]!, b.dsts[i]!, b.buf, off, len, now);
      }
    }
    this.flushLocal();
  }

  /** Frames that came over the TCP connection (a DATA body). */
  tcpFrames(s: Session, buf: Buffer): void {
    this.deliverBody(s, buf, 0, buf.length);
    this.flushLocal();
  }

  /** ForwardSink.toLocal: a frame for the bridge, written with the others of this wake-up. */
  queueLocal(buf: Buffer, off: number, len: number): void {
    if (this.tapBuf !== buf || this.tapCount >= MAX_BATCH) this.flushLocal();
    this.tapBuf = buf;
    this.tapOffs[this.tapCount] = off;
    this.tapLens[this.tapCount] = len;
    this.tapCount++;
  }

  private flushLocal(): void {
    if (this.tapCount > 0 && this.tapBuf) {
      this.p.tap.writeFrames({ buf: this.tapBuf, offsets: this.tapOffs, lengths: this.tapLens, count: this.tapCount });
    }
    this.tapCount = 0;
    this.tapBuf = undefined;
  }

  /** Authenticates and delivers datagrams [from, to) of a batch, one openBatch call per session. */
  private openSlice(batch: DatagramBatch, from: number, to: number): void {
    const { stats, byIndex } = this.p;
    const now = this.p.clock.now();
    const { buf } = batch;
    const sessionOf = this.sessionOf;
    stats.datagramsReceived += to - from;
    for (let i = from; i < to; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      let s: Session | undefined;
      if (len < DATA_HEADER_BYTES) {
        stats.droppedShort++;
      } else {
        s = byIndex.get(buf.readUInt32BE(off + OFF_RECEIVER_IDX));
        if (!s) stats.droppedUnknownSession++;
      }
      sessionOf[i - from] = s;
    }
    for (let i = from; i < to; i++) {
      const s = sessionOf[i - from];
      if (!s) continue;
      // Gather this session's datagrams of one key generation for one openBatch call.
      const gen = buf[batch.offsets[i]! + OFF_KEYGEN]!;
      let n = 0;
      for (let j = i; j < to; j++) {
        if (sessionOf[j - from] !== s || (s.recv && buf[batch.offsets[j]! + OFF_KEYGEN] !== gen)) continue;
        sessionOf[j - from] = undefined;
        this.openIdx[n] = j;
        this.openOffs[n] = batch.offsets[j]!;
        this.openLens[n] = batch.lengths[j]!;
        n++;
      }
      const key = s.recv?.lookup(gen, now);
      if (key) {
        s.aead!.openBatch(key, buf, this.openOffs, this.openLens, n, this.openStatus);
      } else {
        // Unencrypted: nothing to open. Encrypted with an unknown or expired generation: dropped.
        this.openStatus.fill(s.recv ? 0 : 1, 0, n);
      }
      for (let k = 0; k < n; k++) {
        if (this.openStatus[k] !== 1) {
          stats.droppedAuth++;
          continue;
        }
        const j = this.openIdx[k]!;
        this.onAuthentic(s, buf, this.openOffs[k]!, this.openLens[k]!, batch.addrs[j]!, batch.ports[j]!, now);
      }
    }
  }

  private onAuthentic(
    s: Session,
    buf: Buffer,
    off: number,
    len: number,
    addr: number,
    port: number,
    now: number,
    replayChecked = false,
  ): void {
    const { stats } = this.p;
    if (s.encrypted) {
      // A fast path checked it against the session's window already (the only one the session has then).
      if (!replayChecked && !s.replay.accept(readCounter(buf, off))) {
        stats.droppedReplay++;
        return;
      }
      // Only an authenticated packet may move the session (a NAT rebinding, a peer's new address).
      if (addr !== s.remoteAddr || port !== s.remotePort) {
        s.remoteAddr = addr;
        s.remotePort = port;
      }
      if (s.rekeyer) this.p.rekey?.onPeerSealed(s, buf[off + OFF_KEYGEN]!);
    }
    if (!replayChecked) {
      // What the fast path handed over it counted already (FastPath.sessionStats).
      s.datagramsReceived++;
      s.bytesReceived += s.encrypted ? len + AEAD_TAG_BYTES : len; // as on the wire (opening took the tag off)
    }
    s.lastRecvAt = now;
    const type = buf[off + OFF_TYPE];
    const bodyOff = off + DATA_HEADER_BYTES;
    const bodyLen = len - DATA_HEADER_BYTES;
    switch (type) {
      case PACKET_TYPE_DATA:
        this.deliverBody(s, buf, bodyOff, bodyLen);
        return;
      case PACKET_TYPE_HEARTBEAT:
        if (!this.p.heartbeats.onHeartbeat(s, buf, bodyOff, bodyLen)) stats.droppedBadFrame++;
        return;
      case PACKET_TYPE_HEARTBEAT_ACK:
        if (!this.p.heartbeats.onAck(s, buf, bodyOff, bodyLen, now)) stats.droppedBadFrame++;
        return;
      default:
        stats.droppedBadType++;
    }
  }

  private deliverBody(s: Session, buf: Buffer, off: number, len: number): void {
    const now = this.p.clock.now();
    const fwd = this.p.forwarder;
    const ok = forEachFrame(buf, off, len, (origin, dst, fo, fl) => fwd.fromPeer(origin, dst, buf, fo, fl, now), s.csumPartial);
    if (!ok) this.p.stats.droppedBadFrame++;
  }
}
