import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LogFile } from '../../../src/io/log-file.js';
import { createLogger } from '../../../src/core/logger.js';
import { tempDirs } from '../../support/temp-dir.js';

const tempDir = tempDirs('tsw-log-');

const line = (i: number) => `${JSON.stringify({ i, msg: 'x'.repeat(80) })}\n`;

test('pino lines reach the file, asynchronously', async () => {
  const path = join(await tempDir(), 'tsweave.log');
  const file = new LogFile(path);
  const log = createLogger('info', file);
  log.info({ n: 1 }, 'hello');
  log.warn('second');
  await file.close();
  const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
  assert.deepEqual(lines.map((l) => l.msg), ['hello', 'second']);
  assert.equal(file.stats().written, 2);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
});

test('the file is rotated to FILE.1 before it would pass maxBytes; at most two files are kept', async () => {
  const path = join(await tempDir(), 'tsweave.log');
  const file = new LogFile(path, { maxBytes: 1_000 });
  for (let i = 0; i < 100; i++) {
    file.write(line(i));
    if (i % 3 === 0) await file.flushed(); // several batches
  }
  await file.close();
  const cur = await readFile(path, 'utf8');
  const old = await readFile(`${path}.1`, 'utf8');
  assert.ok(cur.length <= 1_000, `tsweave.log is ${cur.length} bytes`);
  assert.ok(old.length <= 1_000, `tsweave.log.1 is ${old.length} bytes`);
  assert.ok(file.stats().rotations >= 5);
  // The newest lines are kept, in order, across the two files.
  const kept = (old + cur).trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
  assert.equal(kept.at(-1), 99);
  for (let k = 1; k < kept.length; k++) assert.equal(kept[k], kept[k - 1]! + 1);
});

test('a file already too big at start is rotated on the first write', async () => {
  const path = join(await tempDir(), 'tsweave.log');
  const first = new LogFile(path, { maxBytes: 10_000 });
  for (let i = 0; i < 50; i++) first.write(line(i));
  await first.close();
  const again = new LogFile(path, { maxBytes: 1_000 });
  again.write(line(50));
  await again.close();
  assert.equal((await readFile(path, 'utf8')), line(50));
  assert.ok((await stat(`${path}.1`)).size > 1_000);
});

test('writes that fail are dropped and counted, never thrown; writing resumes when possible', async () => {
  const dir = join(await tempDir(), 'later');
  const path = join(dir, 'tsweave.log');
  const file = new LogFile(path, { retryMs: 10 });
  file.write(line(1)); // the directory does not exist yet: open fails
  await file.flushed();
  assert.equal(file.stats().dropped, 1);
  assert.equal(file.stats().writeErrors, 1);
  assert.match(file.stats().lastError ?? '', /ENOENT/);
  await mkdir(dir);
  file.write(line(2));
  await file.flushed();
  assert.equal(await readFile(path, 'utf8'), line(2));
  assert.equal(file.stats().lastError, undefined);
});

test('the queue is bounded: lines beyond it are dropped and counted, and write() returns at once', async () => {
  const dir = join(await tempDir(), 'missing');
  const file = new LogFile(join(dir, 'tsweave.log'), { maxQueueBytes: 1_000, retryMs: 50 });
  file.write(line(0)); // fails; the writer then backs off while lines pile up
  await new Promise((r) => setTimeout(r, 5));
  for (let i = 1; i <= 100; i++) file.write(line(i));
  const s = file.stats();
  assert.ok(s.dropped >= 90, `dropped ${s.dropped}`);
  await file.close(500);
  assert.equal(file.stats().dropped + file.stats().written, 101);
});
