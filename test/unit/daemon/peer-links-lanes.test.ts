// Receive lanes through the handshake (wire/hello.ts sessionLanes): each PeerLinks gives a session a
// block of consecutive receiver indexes, one per lane, announces it, and opens the data-plane session
// with both ends' lane counts; a peer that announces none (an older version) gets one index.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/core/logger.js';
import { peerNameFromNumber } from '../../../src/core/types.js';
import { PeerLinks } from '../../../src/daemon/peer-links.js';
import type { Overlay } from '../../../src/dataplane/overlay.js';
import type { SessionInit } from '../../../src/dataplane/session.js';
import { Router } from '../../../src/mesh/router.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { createStreamPair } from '../../support/stream-pair.js';

function side(n: number, sessionLanes: number | undefined, clock: FakeClock) {
  const components = { clock, rng: seededRng(n), logger: silentLogger() };
  const name = peerNameFromNumber(n);
  const router = new Router(components, { name, nickname: `h${n}`, uid: String(n) });
  const sessions: SessionInit[] = [];
  const overlay = { addSession: (init: SessionInit) => void sessions.push(init), removeSession: () => {} } as unknown as Overlay;
  const links = new PeerLinks(
    { ...components, router, overlay },
    { name, nickname: `h${n}`, uid: String(n), port: 6783, trustedSubnets: [], ...(sessionLanes !== undefined ? { sessionLanes } : {}) },
  );
  return { links, sessions };
}

async function connect(lanesA: number | undefined, lanesB: number | undefined) {
  const clock = new FakeClock();
  const a = side(1, lanesA, clock), b = side(2, lanesB, clock);
  const pair = createStreamPair();
  const done = Promise.all([a.links.handshake(pair.a, true, '10.0.0.2:6783'), b.links.handshake(pair.b, false, '10.0.0.1:6783')]);
  await pair.flush();
  await done;
  assert.equal(a.sessions.length, 1);
  assert.equal(b.sessions.length, 1);
  return { a: a.sessions[0]!, b: b.sessions[0]! };
}

test('both ends with lanes: each learns the other\'s block; the indexes cross', async () => {
  const { a, b } = await connect(4, 2);
  assert.deepEqual([a.localLanes, a.remoteLanes, b.localLanes, b.remoteLanes], [4, 2, 2, 4]);
  assert.equal(a.remoteIndex, b.localIndex);
  assert.equal(b.remoteIndex, a.localIndex);
  // A block never runs past the last index (no wrap to 0).
  assert.ok(a.localIndex >= 1 && a.localIndex + 3 <= 0xfffffffe);
});

test('a peer without lanes (older version): one index each way for it, our block still announced', async () => {
  const { a, b } = await connect(4, undefined);
  assert.deepEqual([a.localLanes, a.remoteLanes, b.localLanes, b.remoteLanes], [4, 1, 1, 4]);
});

test('blocks never overlap: a base whose block touches a used index is drawn again', () => {
  const clock = new FakeClock();
  const draws = [100, 102, 97, 104]; // rng.int → base = draw + 1
  const rng = { ...seededRng(1), int: () => draws.shift()! };
  const components = { clock, rng, logger: silentLogger() };
  const name = peerNameFromNumber(1);
  const router = new Router({ ...components, rng: seededRng(1) }, { name, nickname: 'h1', uid: '1' });
  const links = new PeerLinks(
    { ...components, router, overlay: {} as Overlay },
    { name, nickname: 'h1', uid: '1', port: 6783, trustedSubnets: [], sessionLanes: 4 },
  );
  const next = (): number => (links as unknown as { newSessionIndex(): number }).newSessionIndex();
  assert.equal(next(), 101); // 101..104
  assert.equal(next(), 105); // 103 and 98 (98..101) overlap it; 105..108 is free
});
