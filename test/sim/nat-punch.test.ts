// Simulation of NAT traversal's decisions (mesh/nat-punch.ts) with a seeded clock: a public introducer P
// and peers behind modelled NATs (port-preserving "cone" MASQUERADE, or symmetric with a random port per
// destination; both filter inbound packets to endpoints the inside has sent to). The simulation plays
// the daemon's part (daemon/nat-traversal.ts): hints with latency, the tunnelled handshake, heartbeats
// every 500 ms from both sides to the hinted endpoint (the punch), NAT_TICK_MS checks, closing on due().
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { peerNameFromNumber, type PeerName } from '../../src/core/types.js';
import type { Endpoint } from '../../src/mesh/nat-messages.js';
import {
  NAT_BACKOFF_MIN_MS,
  NAT_PUNCH_TIMEOUT_MS,
  NAT_TICK_MS,
  NatIntroducer,
  NatPuncher,
  type Hint,
  type HintContext,
} from '../../src/mesh/nat-punch.js';
import { FakeClock } from '../support/fake-clock.js';
import { seededRng } from '../support/rng.js';

const PORT = 6783;
const HEARTBEAT_MS = 500;
const KEEPALIVE_MS = 10_000;
type NatKind = 'cone' | 'symmetric';

class Nat {
  private readonly mapping = new Map<string, number>();
  /** "extPort>addr:port" opened by an outbound packet. */
  private readonly open = new Set<string>();
  /** After a "reboot" a cone NAT may pick another port. */
  portShift = 0;

  constructor(
    readonly publicAddr: number,
    readonly kind: NatKind,
    private readonly rand: () => number,
  ) {}

  out(dst: Endpoint): Endpoint {
    const key = this.kind === 'cone' ? 'any' : `${dst.addr}:${dst.port}`;
    let port = this.mapping.get(key);
    if (port === undefined) {
      port = this.kind === 'cone' ? PORT + this.portShift : 30_000 + Math.floor(this.rand() * 30_000);
      this.mapping.set(key, port);
    }
    this.open.add(`${port}>${dst.addr}:${dst.port}`);
    return { addr: this.publicAddr, port };
  }

  in(port: number, src: Endpoint): boolean {
    return this.open.has(`${port}>${src.addr}:${src.port}`);
  }

  flush(): void {
    this.mapping.clear();
    this.open.clear();
  }
}

interface Session {
  endpoint: Endpoint;
  confirmed: boolean;
}

class SimPeer {
  readonly puncher: NatPuncher;
  readonly introducer = new NatIntroducer();
  /** Tunnelled links by remote, with their UDP session. */
  readonly links = new Map<PeerName, Session>();
  /** P only: each neighbour's endpoint as its keep-alives show it. */
  readonly observed = new Map<PeerName, Endpoint>();
  readonly ignored: string[] = [];

  constructor(
    readonly name: PeerName,
    readonly addr: number,
    readonly nat: Nat | undefined,
  ) {
    this.puncher = new NatPuncher(name, PORT);
  }

  get publicAddr(): number {
    return this.nat?.publicAddr ?? this.addr;
  }
}

class Sim {
  readonly clock = new FakeClock();
  private readonly rng;
  readonly p: SimPeer;
  readonly peers: SimPeer[] = [];
  /** When each pair got punched (ms after start). */
  readonly punchedAt = new Map<string, number>();
  private readonly start: number;

  constructor(seed: number) {
    this.rng = seededRng(seed);
    this.p = new SimPeer(peerNameFromNumber(1), 0x0ac80001, undefined);
    this.start = this.clock.now();
    this.every(NAT_TICK_MS, () => this.tick());
  }

  addPeer(kind: NatKind): SimPeer {
    const n = this.peers.length + 2;
    const peer = new SimPeer(peerNameFromNumber(n), 0xc0a80002 + (n << 8), new Nat(0x0ac80000 + 10 + n, kind, this.rng.float));
    this.peers.push(peer);
    // Keep-alives to P: its session sees the endpoint the NAT gives us towards P.
    const keepalive = (): void => this.udp(peer, { addr: this.p.addr, port: PORT }, () => undefined);
    keepalive();
    this.every(KEEPALIVE_MS, keepalive);
    return peer;
  }

  latency(): number {
    return 5 + this.rng.int(40);
  }

  private every(ms: number, fn: () => void): void {
    const loop = (): void => {
      fn();
      this.clock.setTimer(ms, loop);
    };
    this.clock.setTimer(ms, loop);
  }

  /** One UDP datagram from `from` to `dst`; `onArrive(to, src)` if both NATs let it through. */
  udp(from: SimPeer, dst: Endpoint, onArrive: (to: SimPeer, src: Endpoint) => void): void {
    const src = from.nat ? from.nat.out(dst) : { addr: from.addr, port: PORT };
    this.clock.setTimer(this.latency(), () => {
      if (dst.addr === this.p.addr) {
        this.p.observed.set(from.name, src);
        return onArrive(this.p, src);
      }
      const to = this.peers.find((q) => q.publicAddr === dst.addr);
      if (!to || !to.nat!.in(dst.port, src)) return;
      onArrive(to, src);
    });
  }

  private byName(n: PeerName): SimPeer {
    return n === this.p.name ? this.p : this.peers.find((q) => q.name === n)!;
  }

  private tick(): void {
    const now = this.clock.now();
    // P introduces.
    const neighbours = this.peers.map((q) => ({ name: q.name, endpoint: this.p.observed.get(q.name), listenPort: PORT }));
    for (const { to, hint } of this.p.introducer.tick(now, neighbours, (x, y) => this.byName(x).links.has(y))) {
      this.clock.setTimer(this.latency(), () => this.deliverHint(this.byName(to), hint));
    }
    // Punchers check their links and deadlines.
    for (const q of this.peers) {
      for (const [remote, s] of q.links) {
        if (s.confirmed && q.puncher.view(remote)?.state === 'punching') {
          q.puncher.confirmed(remote);
          const key = [q.name, remote].sort().join('|');
          if (!this.punchedAt.has(key)) this.punchedAt.set(key, now - this.start);
        }
      }
      for (const remote of q.puncher.due(now)) this.closeLink(q, this.byName(remote));
    }
  }

  deliverHint(to: SimPeer, hint: Hint, ctx?: Partial<HintContext>, from: PeerName = this.p.name): void {
    const link = to.links.get(hint.peer);
    const d = to.puncher.onHint(from, hint, this.clock.now(), {
      fromNeighbour: true,
      known: true,
      connection: link ? 'punched' : 'none',
      ...ctx,
    });
    if (d.act === 'ignore') to.ignored.push(d.why);
    if (d.act === 'update') this.closeLink(to, this.byName(hint.peer));
    if (d.act === 'dial') {
      // The tunnelled handshake: three legs each way through P.
      const remote = this.byName(hint.peer);
      const rtt = 6 * this.latency();
      this.clock.setTimer(rtt / 2, () => {
        const ep = remote.puncher.acceptInbound(to.name, from, this.clock.now());
        if (!ep) {
          this.clock.setTimer(rtt / 2, () => to.puncher.ended(remote.name, this.clock.now()));
          return;
        }
        this.linkUp(remote, to, ep);
        this.clock.setTimer(rtt / 2, () => this.linkUp(to, remote, d.endpoint));
      });
    }
  }

  private linkUp(q: SimPeer, remote: SimPeer, ep: Endpoint): void {
    const s: Session = { endpoint: ep, confirmed: false };
    q.links.set(remote.name, s);
    q.puncher.linkUp(remote.name, this.clock.now());
    const beat = (): void => {
      if (q.links.get(remote.name) !== s) return;
      this.udp(q, s.endpoint, (to, src) => {
        const back = to.links.get(q.name);
        if (!back) return;
        back.endpoint = src; // an authenticated packet moves the session
        this.udp(to, src, (orig) => {
          const mine = orig.links.get(to.name);
          if (mine === s) s.confirmed = true;
        });
      });
      this.clock.setTimer(HEARTBEAT_MS, beat);
    };
    beat();
  }

  closeLink(q: SimPeer, remote: SimPeer): void {
    for (const [x, y] of [[q, remote], [remote, q]] as const) {
      if (x.links.delete(y.name) || x.puncher.view(y.name)?.state === 'punching') x.puncher.ended(y.name, this.clock.now());
    }
  }

  run(ms: number): void {
    this.clock.advance(ms);
  }
}

const pairKey = (x: SimPeer, y: SimPeer): string => [x.name, y.name].sort().join('|');

describe('NAT traversal decisions (simulated NATs, seeded clock)', () => {
  test('two port-preserving NATs: punched within a few seconds of both reaching P, for every seed', () => {
    const times: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const sim = new Sim(seed);
      const a = sim.addPeer('cone');
      const b = sim.addPeer('cone');
      sim.run(20_000);
      const at = sim.punchedAt.get(pairKey(a, b));
      assert.ok(at !== undefined, `seed ${seed}: not punched`);
      times.push(at);
      assert.equal(a.puncher.view(b.name)?.state, 'punched');
      assert.equal(b.puncher.view(a.name)?.state, 'punched');
      // The lower name dialled; one link each, confirmed.
      assert.ok(a.links.get(b.name)?.confirmed && b.links.get(a.name)?.confirmed);
    }
    // Introduced after NAT_INTRODUCE_AFTER_MS (2 s) plus a tick; the punch itself takes a heartbeat or two.
    assert.ok(Math.max(...times) < 5_000, `slowest punch ${Math.max(...times)} ms`);
  });

  test('a symmetric NAT: the attempt fails after NAT_PUNCH_TIMEOUT_MS with the reason, then backs off, doubling', () => {
    const sim = new Sim(7);
    const a = sim.addPeer('cone');
    const s = sim.addPeer('symmetric');
    sim.run(3_000 + NAT_PUNCH_TIMEOUT_MS + 1_000);
    assert.equal(sim.punchedAt.has(pairKey(a, s)), false);
    const va = a.puncher.view(s.name)!;
    assert.equal(va.state, 'failed');
    assert.match(va.reason!, /punching failed: the peer's NAT rewrites its UDP port \(6783 -> \d+; symmetric NAT\?\); relayed via /);
    const vs = s.puncher.view(a.name)!;
    assert.match(vs.reason!, /punching failed: our NAT rewrites our UDP port/);
    const firstRetry = va.retryAt! - sim.clock.now();
    assert.ok(firstRetry > NAT_BACKOFF_MIN_MS - 2_000 && firstRetry <= NAT_BACKOFF_MIN_MS, `retry in ${firstRetry} ms`);
    assert.equal(a.links.size + s.links.size, 0, 'the tunnel is closed: traffic stays relayed');
    // The next attempts: after 15 s, then 30 s, never punched, never stuck in "punching".
    const retries: number[] = [];
    let last = va.retryAt!;
    for (let i = 0; i < 120; i++) {
      sim.run(1_000);
      const v = a.puncher.view(s.name)!;
      if (v.retryAt !== undefined && v.retryAt !== last) {
        retries.push(v.retryAt - last);
        last = v.retryAt;
      }
    }
    assert.equal(sim.punchedAt.has(pairKey(a, s)), false);
    assert.ok(retries.length >= 2, `retries ${JSON.stringify(retries)}`);
    assert.ok(retries[1]! > retries[0]!, `backoff doubles: ${JSON.stringify(retries)}`);
  });

  test('a NAT that comes back with another port: P re-introduces and the pair is punched again', () => {
    const sim = new Sim(3);
    const a = sim.addPeer('cone');
    const b = sim.addPeer('cone');
    sim.run(10_000);
    assert.equal(a.puncher.view(b.name)?.state, 'punched');
    // a's NAT reboots and maps to another port: b's packets to the old one, and a's from the new one, drop.
    a.nat!.flush();
    a.nat!.portShift = 1000;
    sim.run(KEEPALIVE_MS + 5_000);
    const s = b.links.get(a.name);
    assert.ok(s?.confirmed, 'punched again');
    assert.equal(s.endpoint.port, PORT + 1000);
    assert.equal(b.puncher.view(a.name)?.state, 'punched');
  });

  test('hints are acted on only from neighbours, about known peers, for usable addresses', () => {
    const sim = new Sim(11);
    const a = sim.addPeer('cone');
    const b = sim.addPeer('cone');
    const hint: Hint = { t: 'hint', peer: b.name, endpoint: { addr: 0x0ac8000c, port: PORT }, yours: { addr: 0x0ac8000b, port: PORT }, listenPort: PORT };
    sim.deliverHint(a, hint, { fromNeighbour: false });
    sim.deliverHint(a, hint, { known: false });
    sim.deliverHint(a, { ...hint, endpoint: { addr: 0x7f000001, port: 22 } });
    sim.deliverHint(a, { ...hint, peer: a.name });
    sim.deliverHint(a, hint, { connection: 'other' });
    assert.deepEqual(a.ignored, [
      'hint not from a neighbour',
      'hint about a peer the mesh does not know',
      'hint endpoint is not a unicast address',
      'hint about ourselves or the sender',
      'already connected',
    ]);
    assert.equal(a.puncher.view(b.name), undefined);
    // A tunnel from a peer that was never hinted to us is refused.
    assert.equal(b.puncher.acceptInbound(a.name, sim.p.name, sim.clock.now()), undefined);
    // --no-discovery: hints are never acted on (a punch would connect peers nobody asked for).
    const quiet = new NatPuncher(a.name, PORT, () => '', false);
    const ctx = { fromNeighbour: true, known: true, connection: 'none' } as const;
    assert.deepEqual(quiet.onHint(sim.p.name, hint, sim.clock.now(), ctx), { act: 'ignore', why: 'peer discovery is off' });
    assert.equal(new NatPuncher(a.name, PORT).onHint(sim.p.name, hint, sim.clock.now(), ctx).act, a.name < b.name ? 'dial' : 'wait');
  });
});
