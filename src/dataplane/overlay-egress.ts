// The overlay's send path: frames the forwarder routes to a peer are packed per next hop into
// datagrams (packer.ts); per session one header each (type, key generation, receiver index, counter),
// then one sealBatch call; then one UdpSocket.sendBatch for every datagram. Sessions on the TCP path
// get their frames as a 'frames' message instead. Nothing here allocates per frame.

import type { UdpSocket } from '../core/ports.js';
import { DATA_HEADER_BYTES, OFF_COUNTER, OFF_KEYGEN, OFF_RECEIVER_IDX, OFF_TYPE, PACKET_TYPE_DATA } from '../wire/data-packet.js';
import { Packer } from './packer.js';
import { MAX_BATCH, type OverlayStats } from './overlay-types.js';
import type { Session } from './session.js';

/** Writes a datagram header for `s` (taking its next counter) at buf[off]. */
export function writeDataHeader(s: Session, buf: Buffer, off: number, type: number): void {
  const counter = s.nextCounter();
  buf[off + OFF_TYPE] = type;
  buf[off + OFF_KEYGEN] = s.sendGen & 0xff;
  buf.writeUInt32BE(s.remoteIndex >>> 0, off + OFF_RECEIVER_IDX);
  buf.writeUInt32BE(Math.floor(counter / 0x100000000), off + OFF_COUNTER);
  buf.writeUInt32BE(counter >>> 0, off + OFF_COUNTER + 4);
}

export class OverlayEgress {
  readonly packer: Packer;
  // Scratch arrays reused every batch.
  private readonly sendOffs = new Int32Array(MAX_BATCH);
  private readonly sendLens = new Int32Array(MAX_BATCH);
  private readonly sendAddrs = new Uint32Array(MAX_BATCH);
  private readonly sendPorts = new Uint16Array(MAX_BATCH);

  constructor(
    private readonly udp: UdpSocket,
    /** The overlay's sessions by peer. */
    private readonly byPeer: ReadonlyMap<number, Session>,
    private readonly stats: OverlayStats,
    maxDatagramBytes: number,
  ) {
    this.packer = new Packer({ maxDatagramBytes, capacity: MAX_BATCH });
  }

  /** A frame the forwarder sends towards `hop` (packed now, sent at the next flush). */
  enqueue(hop: number, origin: number, dst: number, buf: Uint8Array, off: number, len: number): void {
    if (len > this.packer.maxFrameBytes) {
      this.stats.droppedTooBig++;
      return;
    }
    if (!this.packer.add(hop, origin, dst, buf, off, len)) {
      this.flush();
      this.packer.add(hop, origin, dst, buf, off, len);
    }
  }

  /** Seals and sends everything the packer holds. */
  flush(): void {
    const p = this.packer;
    if (p.count === 0) return;
    let n = 0;
    // Datagrams of one session must be contiguous for one sealBatch call: walk sessions in order of
    // first appearance and collect theirs.
    for (let i = 0; i < p.count; i++) {
      const peer = p.peers[i]!;
      if (peer < 0) continue;
      const s = this.byPeer.get(peer);
      if (!s) {
        this.stats.droppedNoSession++;
        continue;
      }
      const first = n;
      for (let j = i; j < p.count; j++) {
        if (p.peers[j] !== peer) continue;
        p.peers[j] = -1;
        if (s.path === 'tcp') {
          this.sendOverTcp(s, p.buf, p.offsets[j]!, p.lengths[j]!);
          continue;
        }
        writeDataHeader(s, p.buf, p.offsets[j]!, PACKET_TYPE_DATA);
        this.sendOffs[n] = p.offsets[j]!;
        this.sendLens[n] = p.lengths[j]!;
        this.sendAddrs[n] = s.remoteAddr;
        this.sendPorts[n] = s.remotePort;
        n++;
      }
      if (s.seal && n > first) {
        s.aead!.sealBatch(s.seal, p.buf, this.sendOffs.subarray(first, n), this.sendLens.subarray(first, n), n - first);
      }
      s.datagramsSent += n - first;
      for (let k = first; k < n; k++) s.bytesSent += this.sendLens[k]!;
    }
    if (n > 0) {
      this.udp.sendBatch(
        { buf: p.buf, offsets: this.sendOffs, lengths: this.sendLens, count: n },
        this.sendAddrs,
        this.sendPorts,
      );
      this.stats.datagramsSent += n;
    }
    p.reset();
  }

  private sendOverTcp(s: Session, buf: Buffer, off: number, len: number): void {
    // The TCP connection is already sealed; send the frames part only. Copy: the slab is reused.
    const body = Buffer.from(buf.subarray(off + DATA_HEADER_BYTES, off + len));
    this.stats.framesOverTcp++;
    s.datagramsSent++;
    s.bytesSent += body.length;
    s.hooks.sendFramesOverTcp(body);
  }
}
