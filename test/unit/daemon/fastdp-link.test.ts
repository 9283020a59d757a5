// The fast datapath's wiring (daemon/fastdp-link.ts) on fakes: two routers whose heartbeat TAPs are joined
// by a fake "kernel" that carries a frame only where the sender programmed a heartbeat entry and only
// while UDP is not blocked. They confirm each other, program each other's container MACs, fall back when
// the path is blocked and come back when it clears.
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/core/logger.js';
import type { Batch, TapDevice, VxlanFdb, VxlanFdbEntry } from '../../../src/core/ports.js';
import { peerNameFromNumber } from '../../../src/core/types.js';
import { FastDpLink } from '../../../src/daemon/fastdp-link.js';
import type { PeerLinks } from '../../../src/daemon/peer-links.js';
import { dstMac } from '../../../src/dataplane/mac.js';
import { FakeClock } from '../../support/fake-clock.js';

const A = 0x0a0000000001;
const B = 0x0b0000000002;
const MAC_A = 0x02000000a001;
const MAC_B = 0x02000000b001;

class FakeVxlan implements VxlanFdb {
  readonly entries = new Map<string, number>();
  onFrame: ((b: Batch) => void) | undefined;
  deliver: (buf: Uint8Array, len: number, entries: Map<string, number>) => void = () => undefined;
  setupCalls = 0;
  reads = 0;
  /** The bridge's change events (watchLocalMacs); undefined: this fake has no watch. */
  watched: (() => void) | undefined;
  constructor(public macs: number[]) {}
  readonly heartbeatTap: TapDevice = {
    name: 'fake-fdp',
    onFrames: (cb) => void (this.onFrame = cb),
    writeFrames: () => undefined,
    writeFrame: (buf, off, len) => this.deliver(buf.slice(off, off + len), len, this.entries),
    close: () => undefined,
  };
  async setup(): Promise<void> {
    this.setupCalls++;
  }
  async program(add: readonly VxlanFdbEntry[], del: readonly VxlanFdbEntry[]): Promise<void> {
    for (const e of del) this.entries.delete(`${e.device}/${e.mac}`);
    for (const e of add) this.entries.set(`${e.device}/${e.mac}`, e.underlay);
  }
  async localMacs(): Promise<number[]> {
    this.reads++;
    return this.macs;
  }
  watchLocalMacs(onChange: () => void): () => boolean {
    this.watched = onChange;
    return () => true;
  }
  async teardown(): Promise<void> {}
  receive(buf: Uint8Array): void {
    this.onFrame?.({ buf: Buffer.from(buf), offsets: new Int32Array([0]), lengths: new Int32Array([buf.length]), count: 1 } as unknown as Batch);
  }
  has(device: string, mac: number): boolean {
    return this.entries.has(`${device}/${mac}`);
  }
}

function linksTo(peer: number, ip: string, dataEncrypted = false, punched = false): PeerLinks {
  const link = { closed: false, remoteName: peerNameFromNumber(peer), remoteIp: ip, dataEncrypted, ...(punched ? { punched: {} } : {}) };
  return { all: () => [link][Symbol.iterator]() } as unknown as PeerLinks;
}

async function settle(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    clock.advance(500);
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

function pair(opts: { encrypted?: boolean; punched?: boolean } = {}) {
  const clock = new FakeClock();
  const va = new FakeVxlan([MAC_A]);
  const vb = new FakeVxlan([MAC_B]);
  let blocked = false;
  // The kernel: a heartbeat leaves only through a programmed heartbeat entry for its destination MAC.
  va.deliver = (buf, _len, entries) => {
    if (!blocked && entries.has(`heartbeat/${dstMac(buf, 0)}`)) vb.receive(buf);
  };
  vb.deliver = (buf, _len, entries) => {
    if (!blocked && entries.has(`heartbeat/${dstMac(buf, 0)}`)) va.receive(buf);
  };
  const routes = { unicastNextHop: (p: number) => p, broadcastNextHops: () => [] };
  const la = new FastDpLink({ clock, logger: silentLogger(), links: linksTo(B, '10.0.0.2', opts.encrypted, opts.punched), routes, vxlan: va }, { localPeer: A, mtu: 1376, port: 6784 });
  const lb = new FastDpLink({ clock, logger: silentLogger(), links: linksTo(A, '10.0.0.1', opts.encrypted, opts.punched), routes, vxlan: vb }, { localPeer: B, mtu: 1376, port: 6784 });
  return { clock, va, vb, la, lb, block: (b: boolean) => void (blocked = b) };
}

describe('FastDpLink', () => {
  test('two routers confirm VXLAN, program each other\'s container MACs, fall back when blocked and recover', async () => {
    const { clock, va, vb, la, lb, block } = pair();
    await la.start();
    await lb.start();
    await settle(clock, 3000);
    assert.deepEqual(la.status(B), { mode: 'fastdp' });
    assert.deepEqual(lb.status(A), { mode: 'fastdp' });
    assert.ok(va.has('data', MAC_B), 'A sends to B\'s container over VXLAN');
    assert.ok(vb.has('data', MAC_A));
    assert.ok(!va.has('data', MAC_A), 'a local MAC is never programmed');

    block(true);
    await settle(clock, 7000);
    assert.equal(la.status(B)?.mode, 'sleeve');
    assert.match(la.status(B)?.reason ?? '', /no VXLAN heartbeat reply \(UDP 6784\)/);
    assert.ok(!va.has('data', MAC_B), 'fallback removes the container entries');
    assert.ok(!vb.has('data', MAC_A));

    block(false);
    await settle(clock, 6000);
    assert.deepEqual(la.status(B), { mode: 'fastdp' });
    assert.ok(va.has('data', MAC_B));
    await la.stop();
    await lb.stop();
  });

  test('a container appearing or leaving is announced at once, not at the next beat; with the watch, full reads are rare', async () => {
    const { clock, va, vb, la, lb } = pair();
    await la.start();
    await lb.start();
    await settle(clock, 3000);
    assert.ok(vb.has('data', MAC_A));
    const MAC_A2 = 0x02000000a002;
    va.macs = [MAC_A, MAC_A2];
    va.watched!();
    clock.advance(10); // well inside one heartbeat interval
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.ok(vb.has('data', MAC_A2), 'B programs the new container within a round trip');
    va.macs = [MAC_A];
    va.watched!();
    clock.advance(10);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.ok(!vb.has('data', MAC_A2), 'and forgets it as soon as A stops listing it');
    assert.ok(vb.has('data', MAC_A));
    const reads = va.reads;
    await settle(clock, 10_000);
    assert.ok(va.reads - reads <= 2, `the table is read on one beat in ten: ${va.reads - reads} reads in 10 s`);
    await la.stop();
    await lb.stop();
  });

  test('an encrypted connection is never a fast datapath candidate', async () => {
    const { clock, va, la, lb } = pair({ encrypted: true });
    await la.start();
    await lb.start();
    await settle(clock, 3000);
    assert.equal(la.status(B), undefined);
    assert.equal(va.entries.size, 0);
    await la.stop();
    await lb.stop();
  });

  test('a NAT-punched link stays on the sleeve and says why', async () => {
    const { clock, va, la, lb } = pair({ punched: true });
    await la.start();
    await lb.start();
    await settle(clock, 3000);
    assert.deepEqual(la.status(B), { mode: 'sleeve', reason: 'NAT traversal' });
    assert.equal(va.entries.size, 0);
    await la.stop();
    await lb.stop();
  });
});
