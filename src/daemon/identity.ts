// Who this router is: a peer name kept in the data dir (created once, random, locally administered
// unicast so it is also a valid MAC), and a fresh 64-bit UID per start so peers can tell a restart.

import type { Rng, StateStore } from '../core/ports.js';
import { isPeerName, type PeerName } from '../core/types.js';
import { TsweaveError } from '../core/errors.js';
import { PEER_NAME_KEY } from '../core/defaults.js';

export function randomPeerName(rng: Rng): PeerName {
  const b = rng.bytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') as PeerName;
}

export function randomUid(rng: Rng): string {
  const b = rng.bytes(8);
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return (v === 0n ? 1n : v).toString();
}

/** The configured name, else the one kept in the data dir, else a new one (which is then kept). */
export async function loadPeerName(store: StateStore, rng: Rng, configured?: PeerName): Promise<PeerName> {
  if (configured) {
    await store.write(PEER_NAME_KEY, Buffer.from(configured));
    return configured;
  }
  const kept = await store.read(PEER_NAME_KEY);
  if (kept) {
    const text = Buffer.from(kept).toString('utf8').trim();
    if (!isPeerName(text)) {
      throw new TsweaveError('ERR_STATE', `the peer name kept in the data dir is corrupt ("${text.slice(0, 40)}"); remove ${PEER_NAME_KEY} or pass --name`);
    }
    return text;
  }
  const name = randomPeerName(rng);
  await store.write(PEER_NAME_KEY, Buffer.from(name));
  return name;
}

/** A bridge MAC from the peer name: forced to locally administered unicast. */
export function bridgeMac(name: PeerName): string {
  const bytes = name.split(':').map((h) => parseInt(h, 16));
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
