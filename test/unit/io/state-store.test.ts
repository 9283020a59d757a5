import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileStateStore, checkStateKey } from '../../../src/io/state-store.js';
import { tempDirs } from '../../support/temp-dir.js';

const tempDir = tempDirs('tsw-state-');

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

test('write, read, overwrite, remove', async () => {
  const store = new FileStateStore(join(await tempDir(), 'nested', 'data'));
  assert.equal(await store.read('peer-name'), undefined);
  await store.write('peer-name', bytes('aa:bb:cc:dd:ee:ff'));
  assert.equal(text(await store.read('peer-name')), 'aa:bb:cc:dd:ee:ff');
  await store.write('peer-name', bytes('11:22:33:44:55:66'));
  assert.equal(text(await store.read('peer-name')), '11:22:33:44:55:66');
  await store.write('ipam.ring', new Uint8Array(0));
  assert.deepEqual(await store.read('ipam.ring'), new Uint8Array(0));
  assert.deepEqual(await store.keys(), ['ipam.ring', 'peer-name']);
  await store.remove('peer-name');
  await store.remove('peer-name'); // missing: fine
  assert.equal(await store.read('peer-name'), undefined);
  // no temp files left behind by successful writes
  assert.deepEqual(await readdir(store.dir), ['ipam.ring']);
});

test('leftover temp files of a crashed write are ignored and can be removed', async () => {
  const dir = await tempDir();
  const store = new FileStateStore(dir);
  await store.write('dns', bytes('old'));
  // what a crash between "write temp" and "rename" leaves behind
  await writeFile(join(dir, '.dns.tmp-1234-abcdef012345'), 'half-written new');
  assert.equal(text(await store.read('dns')), 'old');
  assert.deepEqual(await store.keys(), ['dns']);
  assert.deepEqual(await store.removeTempFiles(), ['.dns.tmp-1234-abcdef012345']);
  assert.deepEqual(await readdir(dir), ['dns']);
  await store.write('dns', bytes('new'));
  assert.equal(text(await store.read('dns')), 'new');
});

test('concurrent writes to one key leave one complete value', async () => {
  const store = new FileStateStore(await tempDir());
  const values = Array.from({ length: 20 }, (_, i) => `value-${i}-`.repeat(1000));
  await Promise.all(values.map((v) => store.write('k', bytes(v))));
  assert.ok(values.includes(text(await store.read('k'))!));
  assert.deepEqual(await readdir(store.dir), ['k']);
});

test('keys are restricted to a safe charset', async () => {
  const store = new FileStateStore(await tempDir());
  for (const bad of ['', '../etc/passwd', 'a/b', '.hidden', 'x'.repeat(129), 'sp ace', '-dash']) {
    await assert.rejects(store.write(bad, bytes('x')), { code: 'ERR_STATE', message: /^invalid state key ".*": must be 1\.\.128 characters/ });
    await assert.rejects(store.read(bad), { code: 'ERR_STATE' });
  }
  assert.doesNotThrow(() => checkStateKey('ipam.ring_v1-2'));
});

test('I/O failures name the file', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'file'), 'not a directory');
  const store = new FileStateStore(join(dir, 'file'));
  await assert.rejects(store.write('k', bytes('x')), {
    code: 'ERR_STATE',
    message: new RegExp(`^cannot create directory for state file ${dir}/file: EEXIST`),
  });
  await assert.rejects(store.read('k'), { code: 'ERR_STATE', message: new RegExp(`^cannot read state file ${dir}/file/k: ENOTDIR`) });
});

test('setAside keeps a bad file under a timestamped name and never replaces an earlier copy', async () => {
  const dir = await tempDir();
  const store = new FileStateStore(dir);
  await store.write('ipam', bytes('garbage one'));
  const first = await store.setAside('ipam');
  assert.match(first, new RegExp(`^${dir}/ipam\\.corrupt-\\d{8}T\\d{6}Z$`));
  assert.equal(await store.read('ipam'), undefined, 'the key is free for a fresh start');
  await store.write('ipam', bytes('garbage two'));
  const second = await store.setAside('ipam');
  assert.notEqual(second, first);
  const { readFile } = await import('node:fs/promises');
  assert.equal(await readFile(first, 'utf8'), 'garbage one');
  assert.equal(await readFile(second, 'utf8'), 'garbage two');
  await assert.rejects(store.setAside('ipam'), /cannot set aside state file .*ipam: ENOENT/);
});
