// The sleeve overlay: moves Ethernet frames between the local bridge and peers over UDP (DESIGN.md §4).
//
// Outbound flow (one TAP wake-up):
//   1. TAP batch → Forwarder.fromLocal per frame (MAC learning, route lookup)
//   2. frames packed per next hop into datagrams (Packer)
//   3. per session: header (type, receiver index, counter), then one sealBatch call
//   4. one UdpSocket.sendBatch for every datagram; sessions on the TCP path get a 'frames' message instead
//
// Inbound flow (one UDP wake-up):
//   1. find the session by receiver index (never by source address: NAT may rewrite it)
//   2. per session: one openBatch call; failures counted and dropped
//   3. replay window, then the remote's address is updated from the authenticated packet
//   4. DATA: each frame → Forwarder.fromPeer → bridge (one writeFrames) or relayed (packed, sent as above)
//      HEARTBEAT → ACK; HEARTBEAT_ACK → UDP confirmed both ways
//
// Frames too big for one datagram (a container whose MTU exceeds the overlay's) never vanish silently:
// IPv4 with DF → ICMP "fragmentation needed" back to the sender; IPv4 without DF → fragmented here;
// IPv6 → ICMPv6 "packet too big"; the rest is counted in droppedTooBig (pmtu.ts has the rules).
//
// Nothing here allocates per frame; bad packets are counted in `stats`, never thrown.
//
// With a fast path (components.fast, native I/O threads: io/fastpath.ts) the threads read the TAP and
// the socket and carry known unicast traffic over eligible sessions themselves; this class then sees
// only what they hand back (TAP frames they could not place; authenticated heartbeats and frames to
// forward) and keeps their tables in step: sessions, learnt MACs (MacCache.onLearn) and eligibility
// (UDP confirmed both ways and a direct route). The rules here stay the reference.

import {
  REKEY_AFTER_BYTES,
  REKEY_AFTER_MS,
  UDP_CONFIRM_FALLBACK_MS,
  UDP_FAST_HEARTBEAT_MS,
  UDP_HEARTBEAT_TIMEOUT_MS,
  UDP_SLOW_HEARTBEAT_MS,
} from '../core/defaults.js';
import type { Logger } from '../core/logger.js';
import {
  FAST_KIND_CONTROL,
  type Batch,
  type Clock,
  type DatagramBatch,
  type FastIngressBatch,
  type FastPath,
  type TapDevice,
  type UdpSocket,
} from '../core/ports.js';
import { formatIPv4 } from '../core/types.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  OFF_COUNTER,
  OFF_KEYGEN,
  OFF_RECEIVER_IDX,
  OFF_TYPE,
  PACKET_TYPE_DATA,
  PACKET_TYPE_HEARTBEAT,
  PACKET_TYPE_HEARTBEAT_ACK,
} from '../wire/data-packet.js';
import type { DataAeadEngine } from '../crypto/data-aead.js';
import { Forwarder, type ForwardSink, type RouteTable } from './forwarder.js';
import { ETH_HEADER_BYTES, dstMac, isGroupMac } from './mac.js';
import { MacCache } from './mac-cache.js';
import { forEachFrame, Packer } from './packer.js';
import { buildFragNeeded, buildPacketTooBig6, classifyTooBig, fragmentIPv4, TOO_BIG_REPLY_MAX_BYTES } from './pmtu.js';
import { Session, type SessionHooks, type SessionInit, type SessionPath } from './session.js';
import { SessionRekey, type RekeyOptions } from './session-rekey.js';
import type { RekeyMessage } from './rekey.js';
import type { RekeyCrypto } from '../crypto/rekey-kdf.js';

/** The u64 BE counter of a datagram header (wire/data-packet.ts), as a number. */
function readCounter(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + OFF_COUNTER) * 0x100000000 + buf.readUInt32BE(off + OFF_COUNTER + 4);
}

/** Underlay IPv4 (20) + UDP (8) headers. */
const UNDERLAY_HEADERS_BYTES = 28;
const UNDERLAY_MTU = 1500;
const HEARTBEAT_BODY_BYTES = 8;
const MAX_BATCH = 256;

export interface OverlayComponents {
  clock: Clock;
  logger: Logger;
  tap: TapDevice;
  udp: UdpSocket;
  routes: RouteTable;
  /** Needed for encrypted sessions. */
  aead?: DataAeadEngine;
  /** Native I/O threads that carry the common case (see the top of this file). */
  fast?: FastPath;
  /** Key rotation of encrypted sessions (absent: keys live as long as the connection). */
  rekeyCrypto?: RekeyCrypto;
}

export interface OverlayInit {
  localPeer: number;
  /** Overlay (bridge) MTU. */
  mtu: number;
  /** First broadcast number; random per router start (broadcast-dedup.ts). @default 0 */
  broadcastStart?: number;
  /** Rekey schedule (defaults: REKEY_AFTER_MS, REKEY_AFTER_BYTES). */
  rekey?: Partial<Pick<RekeyOptions, 'intervalMs' | 'afterBytes'>>;
}

export interface OverlayStats {
  datagramsSent: number;
  datagramsReceived: number;
  framesOverTcp: number;
  heartbeatsSent: number;
  droppedShort: number;
  droppedUnknownSession: number;
  droppedAuth: number;
  droppedReplay: number;
  droppedBadFrame: number;
  droppedNoSession: number;
  /** Oversize frames that could not be answered or fragmented (pmtu.ts). */
  droppedTooBig: number;
  droppedBadType: number;
  /** ICMP "fragmentation needed" / ICMPv6 "packet too big" written back to the bridge. */
  icmpTooBigSent: number;
  /** Oversize IPv4 packets without DF that were fragmented here, and the fragments they became. */
  framesFragmented: number;
  fragmentsSent: number;
}

export interface SessionInfo {
  path: SessionPath | undefined;
  confirmed: boolean;
  encrypted: boolean;
  rttMs: number | undefined;
  remote: string;
  /** Completed key rotations, and the generation in use. */
  rekeys: number;
  keyGeneration: number;
}

export class Overlay {
  readonly stats: OverlayStats = {
    datagramsSent: 0,
    datagramsReceived: 0,
    framesOverTcp: 0,
    heartbeatsSent: 0,
    droppedShort: 0,
    droppedUnknownSession: 0,
    droppedAuth: 0,
    droppedReplay: 0,
    droppedBadFrame: 0,
    droppedNoSession: 0,
    droppedTooBig: 0,
    droppedBadType: 0,
    icmpTooBigSent: 0,
    framesFragmented: 0,
    fragmentsSent: 0,
  };
  readonly macs = new MacCache();
  readonly forwarder: Forwarder;
  private readonly byPeer = new Map<number, Session>();
  private readonly byIndex = new Map<number, Session>();
  private readonly packer: Packer;
  private readonly log: Logger;
  // Scratch arrays reused every batch.
  private readonly sendOffs = new Int32Array(MAX_BATCH);
  private readonly sendLens = new Int32Array(MAX_BATCH);
  private readonly sendAddrs = new Uint32Array(MAX_BATCH);
  private readonly sendPorts = new Uint16Array(MAX_BATCH);
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
  private readonly hbBuf = Buffer.alloc(DATA_HEADER_BYTES + HEARTBEAT_BODY_BYTES + AEAD_TAG_BYTES);
  private readonly tooBigBuf: Buffer;
  /** Largest IP packet that crosses the overlay: the configured MTU, or less if a datagram holds less. */
  readonly ipMtu: number;
  private readonly hbOffs = new Int32Array(1);
  private readonly hbLens = new Int32Array(1);
  private started = false;
  private readonly rekey: SessionRekey | undefined;

  constructor(
    private readonly components: OverlayComponents,
    private readonly init: OverlayInit,
  ) {
    this.log = components.logger.child({ component: 'overlay' });
    const sink: ForwardSink = {
      toPeer: (hop, origin, dst, buf, off, len) => this.enqueue(hop, origin, dst, buf, off, len),
      toLocal: (buf, off, len) => this.queueLocal(buf as Buffer, off, len),
    };
    this.forwarder = new Forwarder(init.localPeer, components.routes, this.macs, sink, init.broadcastStart);
    this.packer = new Packer({ maxDatagramBytes: Overlay.maxDatagramBytes(init.mtu), capacity: MAX_BATCH });
    this.ipMtu = Math.min(init.mtu, this.packer.maxFrameBytes - ETH_HEADER_BYTES);
    this.tooBigBuf = Buffer.alloc(Math.max(TOO_BIG_REPLY_MAX_BYTES, ETH_HEADER_BYTES + this.ipMtu));
    if (components.rekeyCrypto) {
      this.rekey = new SessionRekey(components.clock, components.rekeyCrypto, {
        intervalMs: init.rekey?.intervalMs ?? REKEY_AFTER_MS,
        afterBytes: init.rekey?.afterBytes ?? REKEY_AFTER_BYTES,
        maxDatagramBytes: Overlay.maxDatagramBytes(init.mtu),
      });
    }
    const fast = components.fast;
    if (fast) {
      this.macs.onLearn = (mac, peer) => fast.learn(mac, peer);
      components.routes.onChange?.(() => {
        for (const peer of this.byPeer.keys()) this.refreshFast(peer);
      });
    }
  }

  /** Datagrams never exceed what a 1500-byte underlay carries unfragmented, unless the MTU needs more. */
  static maxDatagramBytes(mtu: number): number {
    const oneFrame = DATA_HEADER_BYTES + FRAME_HEADER_BYTES + mtu + ETH_HEADER_BYTES + AEAD_TAG_BYTES;
    return Math.max(oneFrame, UNDERLAY_MTU - UNDERLAY_HEADERS_BYTES);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const fast = this.components.fast;
    if (fast) {
      fast.start(
        (b) => this.onTapBatch(b),
        (b) => this.onFastIngress(b),
      );
      return;
    }
    this.components.tap.onFrames((b) => this.onTapBatch(b));
    this.components.udp.onDatagrams((b) => this.onUdpBatch(b));
  }

  /** Stops the fast path's threads (before the TAP and socket close) and drops every session. */
  stop(): void {
    this.components.fast?.stop();
    for (const s of this.byPeer.values()) s.destroy();
    this.byPeer.clear();
    this.byIndex.clear();
  }

  addSession(init: SessionInit, hooks: SessionHooks): void {
    this.removeSession(init.peer);
    const fast = this.components.fast;
    const watched: SessionHooks = fast
      ? {
          ...hooks,
          onPathChange: (path) => {
            hooks.onPathChange(path);
            this.refreshFast(init.peer);
          },
        }
      : hooks;
    const s = new Session(init, watched, this.components.aead, this.components.clock.now());
    this.byPeer.set(s.peer, s);
    this.byIndex.set(s.localIndex, s);
    if (fast) {
      fast.addSession({ ...init, lastCounter: s.sendCounter });
      s.counterSource = () => fast.nextCounter(s.peer);
      s.fast = fast;
    }
    if (init.keys && hooks.sendRekey) this.rekey?.attach(s, init.keys, hooks.sendRekey);
    this.heartbeat(s);
  }

  /** Tells the fast path whether it may send this peer's frames itself. */
  private refreshFast(peer: number): void {
    const fast = this.components.fast;
    const s = this.byPeer.get(peer);
    if (!fast || !s) return;
    const eligible = s.path === 'udp' && s.confirmed && this.components.routes.unicastNextHop(peer) === peer;
    if (eligible === s.fastEligible) return;
    s.fastEligible = eligible;
    fast.setEligible(peer, eligible);
  }

  /** Fast path statistics (undefined without one). */
  fastStats(): Record<string, number | boolean> | undefined {
    return this.components.fast?.stats();
  }

  removeSession(peer: number): void {
    const s = this.byPeer.get(peer);
    if (!s) return;
    s.destroy();
    this.byPeer.delete(peer);
    this.byIndex.delete(s.localIndex);
    this.components.fast?.removeSession(peer);
  }

  sessionInfo(peer: number): SessionInfo | undefined {
    const s = this.byPeer.get(peer);
    if (!s) return undefined;
    return {
      path: s.path,
      confirmed: s.confirmed,
      encrypted: s.encrypted,
      rttMs: s.rttMs,
      remote: `${formatIPv4(s.remoteAddr)}:${s.remotePort}`,
      rekeys: s.rekeyer?.stats.rekeys ?? 0,
      keyGeneration: s.sendGen,
    };
  }

  /** A rekey message from `peer` over the TCP connection. */
  onRekeyMessage(peer: number, msg: RekeyMessage): void {
    const s = this.byPeer.get(peer);
    if (s) this.rekey?.onMessage(s, msg);
  }

  /** Frames that came over the TCP connection from `peer` (a DATA body). */
  onTcpFrames(peer: number, body: Uint8Array): void {
    if (!this.byPeer.has(peer)) return;
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    this.deliverBody(buf, 0, buf.length);
    this.flushLocal();
    this.flushOut();
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound

  private onTapBatch(batch: Batch): void {
    const now = this.components.clock.now();
    const max = this.packer.maxFrameBytes;
    for (let i = 0; i < batch.count; i++) {
      const len = batch.lengths[i]!;
      if (len > max) this.tooBigFromLocal(batch.buf, batch.offsets[i]!, len, now);
      else this.forwarder.fromLocal(batch.buf, batch.offsets[i]!, len, now);
    }
    this.flushOut();
  }

  /** A frame from the bridge that no datagram can hold (pmtu.ts). */
  private tooBigFromLocal(buf: Buffer, off: number, len: number, now: number): void {
    const group = isGroupMac(buf, off);
    // The bridge delivers local traffic itself; a flooded copy of it needs nothing from us.
    if (!group && this.macs.lookup(dstMac(buf, off), now) === this.init.localPeer) return;
    const out = this.tooBigBuf;
    switch (classifyTooBig(buf, off, len, group)) {
      case 'icmp4':
        this.components.tap.writeFrame(out, 0, buildFragNeeded(buf, off, len, this.ipMtu, out));
        this.stats.icmpTooBigSent++;
        return;
      case 'icmp6':
        this.components.tap.writeFrame(out, 0, buildPacketTooBig6(buf, off, len, this.ipMtu, out));
        this.stats.icmpTooBigSent++;
        return;
      case 'fragment4': {
        const n = fragmentIPv4(buf, off, len, this.ipMtu, out, (f, fo, fl) => this.forwarder.fromLocal(f, fo, fl, now));
        if (n === 0) {
          this.stats.droppedTooBig++;
          return;
        }
        this.stats.framesFragmented++;
        this.stats.fragmentsSent += n;
        return;
      }
      case 'drop':
        this.stats.droppedTooBig++;
    }
  }

  private enqueue(hop: number, origin: number, dst: number, buf: Uint8Array, off: number, len: number): void {
    if (len > this.packer.maxFrameBytes) {
      this.stats.droppedTooBig++;
      return;
    }
    if (!this.packer.add(hop, origin, dst, buf, off, len)) {
      this.flushOut();
      this.packer.add(hop, origin, dst, buf, off, len);
    }
  }

  /** Seals and sends everything the packer holds. */
  private flushOut(): void {
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
        this.writeHeader(s, p.buf, p.offsets[j]!, PACKET_TYPE_DATA);
        this.sendOffs[n] = p.offsets[j]!;
        this.sendLens[n] = p.lengths[j]!;
        this.sendAddrs[n] = s.remoteAddr;
        this.sendPorts[n] = s.remotePort;
        n++;
      }
      if (s.seal && n > first) {
        s.aead!.sealBatch(s.seal, p.buf, this.sendOffs.subarray(first, n), this.sendLens.subarray(first, n), n - first);
      }
    }
    if (n > 0) {
      this.components.udp.sendBatch(
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
    s.hooks.sendFramesOverTcp(body);
  }

  private writeHeader(s: Session, buf: Buffer, off: number, type: number): void {
    const counter = s.nextCounter();
    buf[off + OFF_TYPE] = type;
    buf[off + OFF_KEYGEN] = s.sendGen & 0xff;
    buf.writeUInt32BE(s.remoteIndex >>> 0, off + OFF_RECEIVER_IDX);
    buf.writeUInt32BE(Math.floor(counter / 0x100000000), off + OFF_COUNTER);
    buf.writeUInt32BE(counter >>> 0, off + OFF_COUNTER + 4);
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound

  private onUdpBatch(batch: DatagramBatch): void {
    // The scratch arrays hold MAX_BATCH datagrams; a larger batch is taken in slices, never cut short.
    for (let from = 0; from < batch.count; from += MAX_BATCH) this.openSlice(batch, from, Math.min(batch.count, from + MAX_BATCH));
    this.flushLocal();
    this.flushOut();
  }

  /** Authenticates and delivers datagrams [from, to) of a batch, one openBatch call per session. */
  private openSlice(batch: DatagramBatch, from: number, to: number): void {
    const now = this.components.clock.now();
    const { buf } = batch;
    const sessionOf = this.sessionOf;
    this.stats.datagramsReceived += to - from;
    for (let i = from; i < to; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      let s: Session | undefined;
      if (len < DATA_HEADER_BYTES) {
        this.stats.droppedShort++;
      } else {
        s = this.byIndex.get(buf.readUInt32BE(off + OFF_RECEIVER_IDX));
        if (!s) this.stats.droppedUnknownSession++;
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
          this.stats.droppedAuth++;
          continue;
        }
        const j = this.openIdx[k]!;
        this.onAuthentic(s, buf, this.openOffs[k]!, this.openLens[k]!, batch.addrs[j]!, batch.ports[j]!, now);
      }
    }
  }

  /** What the fast path handed over: authenticated heartbeats, and frames its rules leave to ours. */
  private onFastIngress(b: FastIngressBatch): void {
    const now = this.components.clock.now();
    for (let i = 0; i < b.count; i++) {
      const off = b.offsets[i]!;
      const len = b.lengths[i]!;
      if (b.kinds[i] === FAST_KIND_CONTROL) {
        const s = this.byPeer.get(b.peers[i]!);
        if (s) this.onAuthentic(s, b.buf, off, len, b.addrs[i]!, b.ports[i]!, now, true);
        else this.stats.droppedUnknownSession++;
      } else {
        this.forwarder.fromPeer(b.peers[i]!, b.dsts[i]!, b.buf, off, len, now);
      }
    }
    this.flushLocal();
    this.flushOut();
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
    if (s.encrypted) {
      // A fast path checked it against the session's window already (the only one the session has then).
      if (!replayChecked && !s.replay.accept(readCounter(buf, off))) {
        this.stats.droppedReplay++;
        return;
      }
      // Only an authenticated packet may move the session (a NAT rebinding, a peer's new address).
      if (addr !== s.remoteAddr || port !== s.remotePort) {
        s.remoteAddr = addr;
        s.remotePort = port;
      }
      if (s.rekeyer) this.rekey?.onPeerSealed(s, buf[off + OFF_KEYGEN]!);
    }
    s.lastRecvAt = now;
    const type = buf[off + OFF_TYPE];
    const bodyOff = off + DATA_HEADER_BYTES;
    const bodyLen = len - DATA_HEADER_BYTES;
    switch (type) {
      case PACKET_TYPE_DATA:
        this.deliverBody(buf, bodyOff, bodyLen);
        return;
      case PACKET_TYPE_HEARTBEAT:
        if (bodyLen === HEARTBEAT_BODY_BYTES) this.sendHeartbeat(s, PACKET_TYPE_HEARTBEAT_ACK, buf, bodyOff);
        else this.stats.droppedBadFrame++;
        return;
      case PACKET_TYPE_HEARTBEAT_ACK: {
        if (bodyLen !== HEARTBEAT_BODY_BYTES) {
          this.stats.droppedBadFrame++;
          return;
        }
        const sentAt = buf.readDoubleBE(bodyOff);
        if (Number.isFinite(sentAt) && sentAt <= now) s.rttMs = now - sentAt;
        if (!s.confirmed) {
          s.confirmed = true;
          this.log.debug({ peer: s.peer }, 'udp confirmed both ways');
          s.setPath('udp');
          this.rescheduleHeartbeat(s);
        }
        return;
      }
      default:
        this.stats.droppedBadType++;
    }
  }

  private deliverBody(buf: Buffer, off: number, len: number): void {
    const now = this.components.clock.now();
    const ok = forEachFrame(buf, off, len, (origin, dst, fo, fl) => this.forwarder.fromPeer(origin, dst, buf, fo, fl, now));
    if (!ok) this.stats.droppedBadFrame++;
  }

  private queueLocal(buf: Buffer, off: number, len: number): void {
    if (this.tapBuf !== buf || this.tapCount >= MAX_BATCH) this.flushLocal();
    this.tapBuf = buf;
    this.tapOffs[this.tapCount] = off;
    this.tapLens[this.tapCount] = len;
    this.tapCount++;
  }

  private flushLocal(): void {
    if (this.tapCount > 0 && this.tapBuf) {
      this.components.tap.writeFrames({ buf: this.tapBuf, offsets: this.tapOffs, lengths: this.tapLens, count: this.tapCount });
    }
    this.tapCount = 0;
    this.tapBuf = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Heartbeats: fast until UDP is confirmed both ways, slow after; silence means the path is gone.

  private heartbeat(s: Session): void {
    const now = this.components.clock.now();
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
    this.sendHeartbeat(s, PACKET_TYPE_HEARTBEAT, body, 0);
    this.rescheduleHeartbeat(s);
  }

  private rescheduleHeartbeat(s: Session): void {
    s.cancelTimer?.();
    const interval = s.confirmed ? UDP_SLOW_HEARTBEAT_MS : UDP_FAST_HEARTBEAT_MS;
    s.cancelTimer = this.components.clock.setTimer(interval, () => {
      if (this.byPeer.get(s.peer) === s) this.heartbeat(s);
    });
  }

  private sendHeartbeat(s: Session, type: number, body: Buffer, bodyOff: number): void {
    const b = this.hbBuf;
    this.writeHeader(s, b, 0, type);
    body.copy(b, DATA_HEADER_BYTES, bodyOff, bodyOff + HEARTBEAT_BODY_BYTES);
    this.hbOffs[0] = 0;
    this.hbLens[0] = DATA_HEADER_BYTES + HEARTBEAT_BODY_BYTES;
    if (s.seal) s.aead!.sealBatch(s.seal, b, this.hbOffs, this.hbLens, 1);
    this.components.udp.send(b, 0, this.hbLens[0], s.remoteAddr, s.remotePort);
    this.stats.heartbeatsSent++;
  }
}
