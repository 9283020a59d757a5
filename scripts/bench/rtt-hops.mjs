// Where a ping's round trip through tsweave goes, from the scheduler's wake-ups (`perf sched record`
// around the ping, then `perf sched timehist -w`): each stage ends when one thread wakes the next, so the
// stages are
//   near egress  the pinger wakes the near router's egress thread … that thread has read, sealed and sent
//                the request (the far router's receiving thread is woken)
//   far side     … the far router has written it to its TAP, the kernel answered, and the answer was
//                sealed and sent back (the near router's ingress thread is woken); through a relay this
//                includes the relay's hops
//   near ingress … the answer was opened and written to the TAP (the pinger is woken)
// and the router thread wake-ups per round trip count every tsw-* thread woken in between, including
// those that had nothing to do. Kernel VXLAN has none: its whole round trip stays in softirq.
// Usage: perf sched timehist -w -i FILE | node rtt-hops.mjs [ROUTER_PID,...]   (scripts/bench/lib.sh, BENCH_RTT_HOPS=1)

/** One "awakened" line: time (µs), waker and wakee as comm, tid and process id. */
function parseWake(line) {
  // the waker may be "swapper" (an idle CPU), printed without [tid]
  const m = line.match(/^\s*([\d.]+)\s+\[\d+\]\s+(\S+?)(?:\[(\d+)(?:\/(\d+))?\])?\s+awakened:\s+(\S+?)\[(\d+)(?:\/(\d+))?\]/);
  if (!m) return undefined;
  return { t: Number(m[1]) * 1e6, from: m[2], fromPid: m[4] ?? m[3], to: m[5], toPid: m[7] ?? m[6] };
}

// a unified lane's one thread (tsw-lane-N, TSWEAVE_DATAPLANE_THREAD_MODE=unified) is both
const isIngress = (comm) => comm.startsWith('tsw-ingres') || comm.startsWith('tsw-lane');
const isEgress = (comm) => comm.startsWith('tsw-egress') || comm.startsWith('tsw-lane');
const LATE_US = 5000; // a wake this long after the answer reached the near router is not its delivery (pings are 20 ms apart)

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))];
}

/**
 * The round trips found in timehist output (lines) and per stage their median and 90th percentile in µs;
 * undefined medians when none was found. routerPids (process ids, strings) limits the routers to those
 * (the trace is of the whole machine: other tests' routers and pings may be in it). A stage ends when
 * its thread is woken, whoever the waker was: the kernel often delivers in softirq on a CPU that runs
 * some other task, which timehist then names as the waker. A round trip whose stages cannot all be
 * found (a lost ping, a trace cut short, an answer that found the pinger awake) is skipped.
 */
export function rttHops(lines, { pinger = 'ping', routerPids } = {}) {
  const wakes = lines.map(parseWake).filter(Boolean);
  const ours = (comm, pid) => comm.startsWith('tsw-') && (!routerPids || routerPids.includes(pid));
  const stages = { nearEgress: [], farSide: [], nearIngress: [], total: [] };
  const routerWakeups = [];
  for (let i = 0; i < wakes.length; i++) {
    const start = wakes[i];
    if (start.from !== pinger || !isEgress(start.to) || !ours(start.to, start.toPid)) continue;
    const near = start.toPid;
    let sent, back, done;
    let woken = 1; // the near egress thread
    for (let j = i + 1; j < wakes.length && !done; j++) {
      const w = wakes[j];
      if (w.from === pinger && isEgress(w.to) && ours(w.to, w.toPid)) break; // the next ping: this one was lost
      const router = ours(w.to, w.toPid);
      if (router) woken++;
      if (!sent && router && isIngress(w.to) && w.toPid !== near) sent = w;
      else if (sent && !back && router && isIngress(w.to) && w.toPid === near) back = w;
      else if (back && w.to === pinger) done = w;
    }
    // the pinger's next wake may be its interval timer, when the answer came while it was awake
    if (!done || done.t - back.t > LATE_US) continue;
    stages.nearEgress.push(sent.t - start.t);
    stages.farSide.push(back.t - sent.t);
    stages.nearIngress.push(done.t - back.t);
    stages.total.push(done.t - start.t);
    routerWakeups.push(woken);
  }
  const summary = (xs) => ({ median: xs.length ? quantile(xs, 0.5) : undefined, p90: xs.length ? quantile(xs, 0.9) : undefined });
  return {
    roundTrips: stages.total.length,
    nearEgress: summary(stages.nearEgress),
    farSide: summary(stages.farSide),
    nearIngress: summary(stages.nearIngress),
    total: summary(stages.total),
    routerWakeups: summary(routerWakeups),
  };
}

/** One line for the bench's log and its info_rtt_hops row. */
export function describe(r) {
  if (r.roundTrips === 0) return 'no round trip through tsw-* threads found in the trace';
  const us = (s) => `${Math.round(s.median)} µs (p90 ${Math.round(s.p90)})`;
  return `${r.roundTrips} round trips: near egress ${us(r.nearEgress)}, far side ${us(r.farSide)}, ` +
    `near ingress ${us(r.nearIngress)}, total ${us(r.total)}; router thread wake-ups per round trip ${r.routerWakeups.median}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { readFileSync } = await import('node:fs');
  const input = readFileSync(0, 'utf8').split('\n');
  const routerPids = process.argv[2] ? process.argv[2].split(',') : undefined;
  console.log(describe(rttHops(input, { routerPids })));
}
