// scripts/bench/rtt-hops.mjs reads `perf sched timehist -w` output (the bench's BENCH_RTT_HOPS=1) and
// tells how long each stage of a ping's round trip through tsweave took, from the wake-ups that end
// them: near egress (ping wakes it … it wakes the far ingress thread), far side (… the far router wakes
// the near ingress thread), near ingress (… it wakes ping); a lost ping is skipped, not mismatched.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const SCRIPT = join(process.cwd(), 'scripts', 'bench', 'rtt-hops.mjs');

function run(input: string, routerPids?: string): string {
  const r = spawnSync(process.execPath, [SCRIPT, ...(routerPids ? [routerPids] : [])], { input, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// one round trip as timehist prints it (wake lines, with the switch lines between them), times in s
const wake = (t: number, from: string, to: string): string =>
  `${t.toFixed(6).padStart(15)} [0001]  ${from.padEnd(40)} awakened: ${to}`;
const sw = (t: number, who: string): string => `${t.toFixed(6).padStart(15)} [0000]  ${who.padEnd(40)} 0.000 0.010 0.050`;
function roundTrip(t0: number): string[] {
  return [
    wake(t0, 'ping[500]', 'tsw-egress-0[101/100]'),
    sw(t0 + 0.00001, 'ping[500]'),
    wake(t0 + 0.0001, 'tsw-egress-0[101/100]', 'tsw-ingres-1[202/200]'), // 100 µs: near egress
    wake(t0 + 0.00015, 'tsw-ingres-1[202/200]', 'tsw-egress-0[201/200]'), // woken for the answer it need not send
    wake(t0 + 0.00022, 'tsw-ingres-1[202/200]', 'tsw-ingres-1[102/100]'), // 120 µs: far side
    sw(t0 + 0.00023, 'tsw-egress-0[201/200]'),
    wake(t0 + 0.00027, 'tsw-ingres-1[102/100]', 'ping[500]'), // 50 µs: near ingress
  ];
}

test('each stage of a round trip ends where one thread wakes the next, and every router wake-up counts', () => {
  const lines = [...roundTrip(10), ...roundTrip(10.02), ...roundTrip(10.04)];
  assert.equal(
    run(lines.join('\n')),
    '3 round trips: near egress 100 µs (p90 100), far side 120 µs (p90 120), near ingress 50 µs (p90 50), ' +
      'total 270 µs (p90 270); router thread wake-ups per round trip 4',
  );
});

test('a ping whose answer never came is skipped, the next one still measured; other processes are ignored', () => {
  const lost = roundTrip(20).slice(0, 3); // the request left, nothing came back
  const noise = [wake(20.01, 'kworker/1:0[9]', 'sshd[77]'), wake(20.011, 'node[100]', 'node[103/100]')];
  const lines = [...lost, ...noise, ...roundTrip(20.02)];
  assert.match(run(lines.join('\n')), /^1 round trips: near egress 100 µs .* total 270 µs/);
});

test('a stage ends when its thread is woken, whoever timehist names as the waker (softirq in another task)', () => {
  const rt = roundTrip(30);
  rt[6] = wake(30.00027, 'node[900]', 'ping[500]'); // delivered in softirq while another process ran
  rt[4] = wake(30.00022, 'swapper', 'tsw-ingres-1[102/100]');
  assert.match(run(rt.join('\n')), /^1 round trips: near egress 100 µs .* far side 120 µs .* near ingress 50 µs/);
});

test('with the routers\' pids, another test\'s routers and pings in the same machine-wide trace are left out', () => {
  const foreign = roundTrip(40.01).map((l) => l.replace(/\/100\]/g, '/300]').replace(/\/200\]/g, '/400]').replace('ping[500]', 'ping[600]'));
  const lines = [...roundTrip(40), ...foreign].join('\n');
  assert.match(run(lines), /^2 round trips/);
  assert.match(run(lines, '100,200'), /^1 round trips/);
});

test('an answer that found the pinger awake is skipped, not matched to its next timer wake-up', () => {
  const rt = roundTrip(50).slice(0, 6); // no wake of ping by the answer
  const timer = wake(50.02, 'swapper', 'ping[500]'); // the interval timer, 20 ms later
  assert.equal(run([...rt, timer].join('\n')), 'no round trip through tsw-* threads found in the trace');
});

test('no tsweave threads in the trace (another overlay): says so', () => {
  assert.equal(run(wake(1, 'ping[5]', 'ksoftirqd/0[14]')), 'no round trip through tsw-* threads found in the trace');
});

test('unified lanes (one tsw-lane-N thread does both directions): the same stages, three wake-ups', () => {
  const t0 = 50;
  const lines = [
    wake(t0, 'ping[500]', 'tsw-lane-0[101/100]'),
    wake(t0 + 0.0001, 'tsw-lane-0[101/100]', 'tsw-lane-0[201/200]'), // 100 µs: near side sent it
    wake(t0 + 0.00022, 'tsw-lane-0[201/200]', 'tsw-lane-0[101/100]'), // 120 µs: the far lane answered itself
    wake(t0 + 0.00027, 'tsw-lane-0[101/100]', 'ping[500]'), // 50 µs
  ];
  assert.equal(
    run(lines.join('\n')),
    '1 round trips: near egress 100 µs (p90 100), far side 120 µs (p90 120), near ingress 50 µs (p90 50), ' +
      'total 270 µs (p90 270); router thread wake-ups per round trip 3',
  );
});
