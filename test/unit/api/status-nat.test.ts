// buildStatus and NAT traversal: a failed punch is told on the line of the target that dials the same
// peer (so the connection count stays one per peer), or on a line of its own when nothing dials it.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { buildStatus, type StatusSources } from '../../../src/api/status.js';
import type { PeerName } from '../../../src/core/types.js';
import { newRouterStats } from '../../../src/mesh/router-types.js';

const B = '7e:00:00:00:00:02' as PeerName;
const C = '7e:00:00:00:00:03' as PeerName;

function sources(): StatusSources {
  return {
    version: 'x', protocolMinVersion: 1, protocolMaxVersion: 1, port: 6783, mtu: 1376, encryption: true, trustedSubnets: [],
    router: { name: '7e:00:00:00:00:01' as PeerName, nickname: 'a', uid: '1', connLimit: 200, discovery: true, connections: [], peers: [], stats: newRouterStats() },
    maker: {
      discovery: true,
      targets: [],
      entries: [{ address: '10.200.0.12:6783', direct: false, state: 'retrying', peer: B, error: 'dial timeout', attempts: 2 }],
    },
    link: () => undefined,
    natFailures: [
      { address: '10.200.0.12:6783', name: B, nickname: 'b', reason: 'punching failed: no UDP reply; relayed via p', retryAt: 5 },
      { address: '10.200.0.13:41234', name: C, nickname: 'c', reason: 'punching failed: x; relayed via p', retryAt: 6 },
    ],
  };
}

test('a failed punch joins the target line for the same peer, or stands alone', () => {
  const conns = buildStatus(sources()).router.connections;
  assert.deepEqual(conns, [
    { address: '10.200.0.12:6783', outbound: true, state: 'retrying', error: 'dial timeout', nat: `${B}(b) punching failed: no UDP reply; relayed via p` },
    { address: '10.200.0.13:41234', outbound: true, state: 'failed', remoteName: C, remoteNickname: 'c', error: 'punching failed: x; relayed via p', retryAt: 6 },
  ]);
});
