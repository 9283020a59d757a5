// The targets and peers a router keeps across restarts (issue 10.5), over a real FileStateStore.
import { afterEach, beforeEach, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/core/logger.js';
import { FileStateStore } from '../../../src/io/state-store.js';
import { MAX_REMEMBERED_PEERS, PeerMemory } from '../../../src/daemon/peer-memory.js';
import { PEERS_STATE_KEY } from '../../../src/core/defaults.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsw-pm-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh memory over the same directory: what a relaunched router sees. */
async function reopen(): Promise<PeerMemory> {
  const m = new PeerMemory({ store: new FileStateStore(dir), logger: silentLogger() }, 6783);
  await m.load();
  return m;
}

describe('PeerMemory', () => {
  test('targets and seen peers come back as the targets of a launch without peers', async () => {
    const m = await reopen();
    assert.deepEqual(m.initialTargets(['10.0.0.2']), ['10.0.0.2:6783']);
    m.targetsChanged(['10.0.0.2:6783', '10.0.0.9:7000']);
    m.peerSeen('10.0.0.3:6783');
    m.peerSeen('10.0.0.2:6783');
    await m.flushed();
    const again = await reopen();
    assert.deepEqual(again.initialTargets([]), ['10.0.0.2:6783', '10.0.0.9:7000', '10.0.0.3:6783']);
  });

  test('launch peers win over the kept lists', async () => {
    const m = await reopen();
    m.targetsChanged(['10.0.0.2:6783']);
    await m.flushed();
    assert.deepEqual((await reopen()).initialTargets(['10.0.0.5:6783']), ['10.0.0.5:6783']);
  });

  test('forget removes the address from the targets and the peers, durably', async () => {
    const m = await reopen();
    m.targetsChanged(['10.0.0.2:6783', '10.0.0.4:6783']);
    m.peerSeen('10.0.0.2:6783');
    m.forget(['10.0.0.2']);
    m.targetsChanged(['10.0.0.4:6783']);
    await m.flushed();
    assert.deepEqual((await reopen()).initialTargets([]), ['10.0.0.4:6783']);
  });

  test('a damaged file, or damaged entries, are dropped, not thrown', async () => {
    await writeFile(join(dir, PEERS_STATE_KEY), '{not json');
    assert.deepEqual((await reopen()).initialTargets([]), []);
    await writeFile(join(dir, PEERS_STATE_KEY), JSON.stringify({ targets: ['10.0.0.2', 7, 'bad host!', null], peers: 'x' }));
    assert.deepEqual((await reopen()).initialTargets([]), ['10.0.0.2:6783']);
  });

  test('the peer list is bounded; the oldest seen go first', async () => {
    const m = await reopen();
    for (let i = 1; i <= MAX_REMEMBERED_PEERS + 5; i++) m.peerSeen(`10.1.${i >> 8}.${i & 255}:6783`);
    await m.flushed();
    const kept = JSON.parse(await readFile(join(dir, PEERS_STATE_KEY), 'utf8')) as { peers: string[] };
    assert.equal(kept.peers.length, MAX_REMEMBERED_PEERS);
    assert.equal(kept.peers[0], '10.1.0.6:6783');
  });
});
