// In-memory TapDevice and UdpSocket for data-plane tests. Datagrams and frames queue until `flush()`, so
// a test sees the same batching and re-entrancy rules as the real event loop.
import type { Batch, DatagramBatch, TapDevice, UdpSocket } from '../../src/core/ports.js';

function toBatch(items: Buffer[]): Batch {
  const total = items.reduce((n, b) => n + b.length, 0);
  const buf = Buffer.alloc(total);
  const offsets = new Int32Array(items.length);
  const lengths = new Int32Array(items.length);
  let at = 0;
  items.forEach((b, i) => {
    b.copy(buf, at);
    offsets[i] = at;
    lengths[i] = b.length;
    at += b.length;
  });
  return { buf, offsets, lengths, count: items.length };
}

export class FakeTap implements TapDevice {
  readonly name = 'faketap';
  /** Frames the overlay wrote towards the bridge. */
  readonly written: Buffer[] = [];
  private cb: ((b: Batch) => void) | undefined;

  onFrames(cb: (batch: Batch) => void): void {
    this.cb = cb;
  }

  /** Simulates the bridge handing frames to the TAP. */
  inject(...frames: Buffer[]): void {
    this.cb?.(toBatch(frames));
  }

  writeFrames(batch: Batch): void {
    for (let i = 0; i < batch.count; i++) {
      this.written.push(Buffer.from(batch.buf.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!)));
    }
  }

  writeFrame(buf: Uint8Array, offset: number, length: number): void {
    this.written.push(Buffer.from(buf.subarray(offset, offset + length)));
  }

  close(): void {
    this.cb = undefined;
  }
}

interface Pending {
  to: string;
  data: Buffer;
  fromAddr: number;
  fromPort: number;
}

/** A switch for FakeUdp sockets keyed by "addr:port"; `drop` filters what gets through. */
export class FakeUdpNet {
  readonly sockets = new Map<string, FakeUdp>();
  readonly queue: Pending[] = [];
  drop: (p: { from: string; to: string; data: Buffer }) => boolean = () => false;
  /** Every datagram that crossed the wire (for capture-style assertions). */
  readonly wire: Buffer[] = [];

  socket(addr: number, port: number): FakeUdp {
    const s = new FakeUdp(this, addr, port);
    this.sockets.set(`${addr}:${port}`, s);
    return s;
  }

  /** Delivers queued datagrams (grouped per receiver into batches) until nothing is left. */
  flush(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds && this.queue.length > 0; round++) {
      const items = this.queue.splice(0);
      const byDest = new Map<string, Pending[]>();
      for (const p of items) {
        if (!byDest.has(p.to)) byDest.set(p.to, []);
        byDest.get(p.to)!.push(p);
      }
      for (const [to, ps] of byDest) {
        const sock = this.sockets.get(to);
        if (!sock) continue;
        const b = toBatch(ps.map((p) => p.data));
        const addrs = Uint32Array.from(ps.map((p) => p.fromAddr));
        const ports = Uint16Array.from(ps.map((p) => p.fromPort));
        sock.deliver({ ...b, addrs, ports });
      }
    }
  }
}

export class FakeUdp implements UdpSocket {
  private cb: ((b: DatagramBatch) => void) | undefined;
  sent = 0;

  constructor(
    private readonly net: FakeUdpNet,
    readonly addr: number,
    readonly port: number,
  ) {}

  onDatagrams(cb: (batch: DatagramBatch) => void): void {
    this.cb = cb;
  }

  deliver(b: DatagramBatch): void {
    this.cb?.(b);
  }

  sendBatch(batch: Batch, addrs: Uint32Array, ports: Uint16Array): void {
    for (let i = 0; i < batch.count; i++) {
      this.send(batch.buf, batch.offsets[i]!, batch.lengths[i]!, addrs[i]!, ports[i]!);
    }
  }

  send(buf: Uint8Array, offset: number, length: number, addr: number, port: number): void {
    const data = Buffer.from(buf.subarray(offset, offset + length));
    const from = `${this.addr}:${this.port}`;
    const to = `${addr}:${port}`;
    this.sent++;
    this.net.wire.push(data);
    if (this.net.drop({ from, to, data })) return;
    this.net.queue.push({ to, data, fromAddr: this.addr, fromPort: this.port });
  }

  close(): void {
    this.cb = undefined;
    this.net.sockets.delete(`${this.addr}:${this.port}`);
  }
}

/** An Ethernet frame: dst, src, ethertype 0x0800, then payload. */
export function ethFrame(dst: string, src: string, payload: Buffer | string): Buffer {
  const mac = (m: string) => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([mac(dst), mac(src), Buffer.from([0x08, 0x00]), body]);
}
