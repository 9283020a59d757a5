// scripts/bench/rtt-hops.mjs reads `perf sched timehist -w` output (the bench's BENCH_RTT_HOPS=1) and
// tells how long each stage of a ping's round trip through tsweave took, from the wake-ups that end
// them: near egress (ping wakes it … it wakes the far ingress thread), far side (… the far router wakes
// the near ingress thread), near ingress (… it wakes ping); a lost ping is skipped, not mismatched.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const SCRIPT = join(process.cwd(), 'scripts', 'bench', 'rtt-hops.mjs');

function run(input: string): string {
  const r = spawnSync(process.execPath, [SCRIPT], { input, encoding: 'utf8' });
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

test('no tsweave threads in the trace (another overlay): says so', () => {
  assert.equal(run(wake(1, 'ping[5]', 'ksoftirqd/0[14]')), 'no round trip through tsw-* threads found in the trace');
});
