// `npm run fuzz`: every target for FUZZ_INPUTS inputs (default 200 000) from FUZZ_SEED (default: the
// time), FUZZ_TARGET to pick one. Prints inputs/s per target; on a failure prints the input (hex) and the
// error, and exits 1; also when one input took over FUZZ_SLOW_MS (default 1000) to decode. Re-run with
// the printed seed to reproduce.
import { runTarget } from './harness.js';
import { fuzzTargets } from './targets.js';

const inputs = Number(process.env['FUZZ_INPUTS'] ?? 200_000);
const seed = Number(process.env['FUZZ_SEED'] ?? (Date.now() & 0x7fffffff));
const only = process.env['FUZZ_TARGET'];
const slowMs = Number(process.env['FUZZ_SLOW_MS'] ?? 1000);
let failed = 0;
console.log(`fuzz: ${inputs} inputs per target, seed ${seed}`);
for (const t of fuzzTargets()) {
  if (only && t.name !== only) continue;
  const r = runTarget(t, inputs, seed);
  console.log(`${r.target.padEnd(15)} ${String(r.inputs).padStart(8)} inputs  ${String(r.perSecond).padStart(7)}/s  ` +
    `${String(r.rejected).padStart(8)} rejected  slowest ${r.slowestMs.toFixed(1)} ms  ${r.failed} failed`);
  if (r.slowestMs > slowMs) {
    console.log(`  SLOW: one input took ${r.slowestMs.toFixed(0)} ms (limit ${slowMs} ms)`);
    failed++;
  }
  for (const f of r.failures) console.log(`  FAIL #${f.index}: ${f.error}\n    input ${f.input}`);
  failed += r.failed;
}
process.exit(failed > 0 ? 1 : 0);
