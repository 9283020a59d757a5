// Sleeve heartbeats: each session sends one fast (UDP_FAST_HEARTBEAT_MS) until its heartbeat is
// acknowledged, which confirms UDP both ways; slow (UDP_SLOW_HEARTBEAT_MS) after. Silence for
// UDP_HEARTBEAT_TIMEOUT_MS, or no confirmation in UDP_CONFIRM_FALLBACK_MS, moves frames to TCP.
// A heartbeat carries the sender's clock; the ACK echoes it back, which gives the RTT.

import {
  UDP_CONFIRM_FALLBACK_MS,
  UDP_FAST_HEARTBEAT_MS,
  UDP_HEARTBEAT_TIMEOUT_MS,
  UDP_SLOW_HEARTBEAT_MS,
} from '../core/defaults.js';
import type { Logger } from '../core/logger.js';
import type { Clock, UdpSocket } from '../core/ports.js';
import { AEAD_TAG_BYTES, DATA_HEADER_BYTES, PACKET_TYPE_HEARTBEAT, PACKET_TYPE_HEARTBEAT_ACK } from '../wire/data-packet.js';
import { writeDataHeader } from './overlay-egress.js';
import { HEARTBEAT_BODY_BYTES, type OverlayStats } from './overlay-types.js';
import type { Session } from './session.js';

export class Heartbeats {
  private readonly hbBuf = Buffer.alloc(DATA_HEADER_BYTES + HEARTBEAT_BODY_BYTES + AEAD_TAG_BYTES);
  private readonly hbOffs = new Int32Array(1);
  private readonly hbLens = new Int32Array(1);

  constructor(
    private readonly clock: Clock,
    private readonly udp: UdpSocket,
    private readonly log: Logger,
    private readonly stats: OverlayStats,
    /** False once `s` is no longer the overlay's session for its peer (its timer then stops). */
    private readonly isCurrent: (s: Session) => boolean,
  ) {}

  /** Sends a heartbeat now (checking the path first) and schedules the next one. */
  beat(s: Session): void {
    const now = this.clock.now();
    if (s.confirmed && now - s.lastRecvAt > UDP_HEARTBEAT_TIMEOUT_MS) {
      this.log.warn({ peer: s.peer }, 'udp heartbeats timed out; frames go over tcp');
      s.confirmed = false;
      s.setPath('tcp');
    } else if (!s.confirmed && s.path === undefined && now - s.startedAt >= UDP_CONFIRM_FALLBACK_MS) {
      this.log.warn({ peer: s.peer }, 'udp not confirmed; frames go over tcp until it is');
      s.setPath('tcp');
    }
    const body = Buffer.alloc(HEARTBEAT_BODY_BYTES);
    body.writeDoubleBE(now, 0);
    this.send(s, PACKET_TYPE_HEARTBEAT, body, 0);
    this.reschedule(s);
  }

  /** An authenticated heartbeat body at buf[bodyOff]: acknowledge it. False: bad length (not answered). */
  onHeartbeat(s: Session, buf: Buffer, bodyOff: number, bodyLen: number): boolean {
    if (bodyLen !== HEARTBEAT_BODY_BYTES) return false;
    this.send(s, PACKET_TYPE_HEARTBEAT_ACK, buf, bodyOff);
    return true;
  }

  /** An authenticated ACK: the RTT, and the first one confirms UDP both ways. False: bad length. */
  onAck(s: Session, buf: Buffer, bodyOff: number, bodyLen: number, now: number): boolean {
    if (bodyLen !== HEARTBEAT_BODY_BYTES) return false;
    const sentAt = buf.readDoubleBE(bodyOff);
    if (Number.isFinite(sentAt) && sentAt <= now) s.rttMs = now - sentAt;
    if (!s.confirmed) {
      s.confirmed = true;
      this.log.debug({ peer: s.peer }, 'udp confirmed both ways');
      s.setPath('udp');
      this.reschedule(s);
    }
    return true;
  }

  private reschedule(s: Session): void {
    s.cancelTimer?.();
    const interval = s.confirmed ? UDP_SLOW_HEARTBEAT_MS : UDP_FAST_HEARTBEAT_MS;
    s.cancelTimer = this.clock.setTimer(interval, () => {
      if (this.isCurrent(s)) this.beat(s);
    });
  }

  private send(s: Session, type: number, body: Buffer, bodyOff: number): void {
    const b = this.hbBuf;
    writeDataHeader(s, b, 0, type);
    body.copy(b, DATA_HEADER_BYTES, bodyOff, bodyOff + HEARTBEAT_BODY_BYTES);
    this.hbOffs[0] = 0;
    this.hbLens[0] = DATA_HEADER_BYTES + HEARTBEAT_BODY_BYTES;
    if (s.seal) s.aead!.sealBatch(s.seal, b, this.hbOffs, this.hbLens, 1);
    this.udp.send(b, 0, this.hbLens[0], s.remoteAddr, s.remotePort);
    this.stats.heartbeatsSent++;
    s.datagramsSent++;
    s.bytesSent += this.hbLens[0]!;
  }
}
