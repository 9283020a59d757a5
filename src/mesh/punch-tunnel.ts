// A ByteStream (core/ports.ts) carried in 'nat' messages through an introducer peer: the control
// connection between two peers behind NATs, which cannot dial each other over TCP. The ordinary
// handshake runs over it (password-sealed end to end, so the introducer relays bytes it cannot read or
// forge), then the ordinary control protocol; the data plane goes over the punched UDP path.
// Order is kept because each hop is one TCP connection; a lost introducer closes the stream.

import type { ByteStream } from '../core/ports.js';
import { NAT_TUNNEL_CHUNK_BYTES } from './nat-messages.js';

export interface TunnelSend {
  /** Sends one chunk of stream bytes to the remote through the introducer. */
  data(bytes: Uint8Array): void;
  /** Tells the remote the stream is closed. */
  close(): void;
}

export class PunchTunnelStream implements ByteStream {
  readonly localAddress = '';
  private dataCb: ((chunk: Uint8Array) => void) | undefined;
  private closeCb: ((err?: Error) => void) | undefined;
  private readonly early: Uint8Array[] = [];
  private closed = false;
  private closeErr: Error | undefined;
  private closeReported = false;

  constructor(
    /** The remote's public IP as the introducer sees it (what status and --trusted-subnets see). */
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly out: TunnelSend,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    for (let off = 0; off < data.length; off += NAT_TUNNEL_CHUNK_BYTES) {
      // A copy: the writer may reuse its buffer; the message is encoded later.
      this.out.data(Uint8Array.prototype.slice.call(data, off, Math.min(data.length, off + NAT_TUNNEL_CHUNK_BYTES)));
    }
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
    for (const b of this.early.splice(0)) cb(b);
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
    if (this.closed) this.reportClose();
  }

  /** We close: the remote is told. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.close();
    this.reportClose();
  }

  /** Bytes from the remote. */
  deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.dataCb) this.dataCb(bytes);
    else this.early.push(bytes);
  }

  /** The remote closed, or the introducer went away (err). */
  remoteClosed(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeErr = err;
    this.reportClose();
  }

  private reportClose(): void {
    if (this.closeReported || !this.closeCb) return;
    this.closeReported = true;
    this.closeCb(this.closeErr);
  }
}
