// IPAM under random schedules: 50 peers (48 consensus, 2 observers) on a small range so that donations,
// exhaustion and conflicts-in-waiting are frequent. Thousands of random operations — allocate, release,
// claim, partition, heal, restart from persisted state, kill, revive, rmpeer of a dead peer, fresh rejoin —
// with messages delivered after random latencies. After every step, globally:
//   - no address is held by two containers anywhere (dead peers count with their persisted state),
//   - no range is owned by two peers in their own views,
//   - every allocator's invariants hold, and no peer rejected an update as conflicting.
// After healing, all rings are equal.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { type Cidr, type PeerName, parseCidr } from '../../src/core/types.js';
import { IpamSim, type SimNode } from '../support/ipam-sim.js';
import { seededRng } from '../support/rng.js';

const RANGE = parseCidr('10.32.0.0/20');
const SUBNETS: Array<Cidr | undefined> = [undefined, undefined, parseCidr('10.32.4.0/24'), parseCidr('10.32.9.0/26')];
const PEERS = 50;
const OBSERVERS = 2;
const SEED = Number(process.env.IPAM_FUZZ_SEED ?? 20240611);
const OPS = Number(process.env.IPAM_FUZZ_OPS ?? 2000);
const CHECK_EVERY_DELIVERIES = Number(process.env.IPAM_FUZZ_CHECK_EVERY ?? 7);

test(`ipam fuzz: ${PEERS} peers, ${OPS} random operations (seed ${SEED})`, { timeout: 120_000 }, async () => {
  const wall = performance.now();
  const rng = seededRng(SEED);
  const sim = new IpamSim({ range: RANGE, seed: SEED + 1, latencyMs: [1, 20] });
  const names: PeerName[] = [];
  for (let i = 0; i < PEERS; i++) {
    const name = IpamSim.peerName(i);
    names.push(name);
    sim.add(name, i < PEERS - OBSERVERS ? { mode: { kind: 'consensus' }, initialPeerCount: PEERS - OBSERVERS } : { mode: { kind: 'observer' } });
  }
  const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[rng.int(xs.length)] : undefined);
  const aliveNodes = (): SimNode[] => sim.alive().filter((n) => !n.alloc!.isRemoved);
  const outcomes = { allocOk: 0, allocFail: 0, claimOk: 0, claimFail: 0, released: 0, restarts: 0, kills: 0, revives: 0, rmpeers: 0, fresh: 0, partitions: 0 };
  const failReasons = new Map<string, number>();
  let seq = 0;
  let openRequests = 0;

  const track = (p: Promise<unknown>, kind: 'alloc' | 'claim'): void => {
    openRequests++;
    p.then(
      () => {
        openRequests--;
        outcomes[`${kind}Ok`]++;
      },
      (err: Error) => {
        openRequests--;
        outcomes[`${kind}Fail`]++;
        const key = err.message.replace(/.*(while|: )/, '').replace(/[0-9a-f:]{17}(\([^)]*\))?/g, 'PEER').replace(/\d+\.\d+\.\d+\.\d+(\/\d+)?/g, 'IP').replace(/container \S+/, 'container C').slice(0, 90);
        failReasons.set(key, (failReasons.get(key) ?? 0) + 1);
      },
    );
  };

  const check = (step: number, op: string): void => {
    const problem = sim.checkGlobal({ deep: step % 10 === 0 || op === 'final' || op === 'probe' });
    assert.equal(problem, undefined, `step ${step} (${op}), seed ${SEED}: ${problem}`);
    assert.deepEqual(
      sim.errors.map((e) => `${e.src}→${e.dst}: ${e.err.message}`),
      [],
      `step ${step} (${op}), seed ${SEED}: a peer rejected an update`,
    );
  };

  // Between operations too: every few deliveries, the global properties must hold (windows of a few
  // milliseconds between a broadcast and the grant it describes are where ownership bugs hide).
  let currentStep = 0;
  sim.onDelivered = (count) => {
    if (count % CHECK_EVERY_DELIVERIES !== 0) return;
    const problem = sim.checkGlobal({ deep: false });
    assert.equal(problem, undefined, `step ${currentStep}, delivery ${count}, seed ${SEED}: ${problem}`);
  };

  for (let step = 0; step < OPS; step++) {
    currentStep = step;
    const r = rng.float();
    let op = 'wait';
    if (r < 0.36) {
      op = 'allocate';
      const n = pick(aliveNodes());
      if (n) {
        const subnet = pick(SUBNETS);
        track(n.alloc!.allocate(`k${seq++}`, { subnet, timeoutMs: 15_000 }), 'alloc');
      }
    } else if (r < 0.56) {
      op = 'release';
      const n = pick(aliveNodes());
      const c = n && pick(n.alloc!.containersInUse());
      if (n && c) {
        if (rng.float() < 0.5) n.alloc!.free(c.containerId);
        else n.alloc!.free(c.containerId, pick(c.addrs)!.addr);
        outcomes.released++;
      }
    } else if (r < 0.64) {
      op = 'claim';
      const n = pick(aliveNodes());
      if (n) {
        const addr = RANGE.addr + 1 + rng.int(2 ** (32 - RANGE.prefix) - 2);
        track(n.alloc!.claim(`k${seq++}`, { addr, prefix: RANGE.prefix }, { timeoutMs: 15_000 }), 'claim');
      }
    } else if (r < 0.68) {
      op = 'partition';
      const shuffled = [...names].sort(() => rng.float() - 0.5);
      const k = 2 + rng.int(2);
      const cuts = [0, ...Array.from({ length: k - 1 }, () => 1 + rng.int(PEERS - 1)).sort((a, b) => a - b), PEERS];
      sim.partition(cuts.slice(1).map((end, i) => shuffled.slice(cuts[i], end)));
      outcomes.partitions++;
    } else if (r < 0.73) {
      op = 'heal';
      sim.heal();
    } else if (r < 0.77) {
      op = 'restart';
      const n = pick(aliveNodes());
      if (n) {
        sim.restart(n.name);
        outcomes.restarts++;
      }
    } else if (r < 0.79) {
      op = 'kill';
      const n = pick(aliveNodes());
      if (n && aliveNodes().length > 40) {
        sim.kill(n.name);
        outcomes.kills++;
      }
    } else if (r < 0.81) {
      op = 'revive';
      const n = pick([...sim.nodes.values()].filter((x) => !x.alive && !x.removed));
      if (n) {
        sim.restart(n.name);
        outcomes.revives++;
      }
    } else if (r < 0.825) {
      op = 'rmpeer';
      const dead = pick([...sim.nodes.values()].filter((x) => !x.alive && !x.removed));
      if (dead) {
        // The operator's precondition (Weave docs): the peer is really dead, and the peer running rmpeer has
        // been connected long enough to know everything the dead peer gave away before it died.
        sim.heal();
        sim.flush();
        const runner = pick(aliveNodes());
        if (runner) sim.gossipAll(runner.name);
        if (runner && runner.alloc!.ringData().entries.length > 0) {
          runner.alloc!.rmpeer(dead.name);
          dead.removed = true;
          outcomes.rmpeers++;
        }
      }
    } else if (r < 0.835) {
      op = 'fresh-rejoin';
      const n = pick([...sim.nodes.values()].filter((x) => !x.alive && x.removed));
      if (n) {
        sim.restart(n.name, { fresh: true });
        n.removed = false;
        outcomes.fresh++;
      }
    } else {
      sim.run(rng.int(3_000));
    }
    sim.run(rng.int(200));
    await sim.settle();
    check(step, op);
  }

  // Heal everything, let waiting requests finish, gossip, and compare.
  sim.heal();
  sim.run(30_000);
  await sim.settle();
  sim.gossipAll();
  sim.run(10_000); // a tick: free counts re-reported and broadcast
  sim.gossipAll();
  await sim.settle();
  check(OPS, 'final');
  assert.equal(openRequests, 0, 'every request settled');
  assert.deepEqual(sim.ringsDiffering(), [], 'all rings equal after healing');

  // After healing, every live peer can still get an address if any is free.
  const probes = aliveNodes().slice(0, 5).map((n, i) => n.alloc!.allocate(`final${i}`, { timeoutMs: 20_000 }));
  const settled = Promise.allSettled(probes);
  sim.run(25_000);
  await sim.settle();
  const results = await settled;
  const freeSomewhere = aliveNodes().some((n) => n.alloc!.status().entries.some((e) => e.ips > 0));
  if (freeSomewhere) assert.ok(results.some((x) => x.status === 'fulfilled'), 'allocations work after healing');
  check(OPS + 1, 'probe');

  const secs = ((performance.now() - wall) / 1000).toFixed(1);
  console.log(`ipam fuzz seed ${SEED}: ${secs}s wall, ${(sim.clock.now() / 1000).toFixed(0)}s simulated, ` +
    `${sim.stats.delivered} messages delivered (${sim.stats.dropped} dropped), outcomes ${JSON.stringify(outcomes)}`);
  console.log(`ipam fuzz ring: ${aliveNodes()[0]!.alloc!.ringData().entries.length} tokens`);
  console.log(`ipam fuzz failure reasons: ${JSON.stringify([...failReasons].sort((a, b) => b[1] - a[1]).slice(0, 8))}`);
  assert.ok(outcomes.allocOk > OPS / 10, `enough allocations succeeded: ${outcomes.allocOk}`);
  assert.ok(outcomes.rmpeers > 0 && outcomes.restarts > 0 && outcomes.partitions > 0);
});
