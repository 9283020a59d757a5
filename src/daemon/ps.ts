// `tsweave ps [CONTAINER...]`: the attached containers that still exist, optionally only the ones asked
// for. A reference matches by container-ID prefix among the attached, else by what the runtime resolves
// it to (a Docker name, a netns name, pid:N, netns:/path). A reference that names no container at all is
// an error (the runtime's ERR_CONTAINER_NOT_FOUND: HTTP 404, CLI exit 1) rather than silence.

import type { ContainerRuntime } from '../core/ports.js';
import type { Attachment } from './attachments.js';

export async function listForPs(
  attached: readonly Attachment[],
  runtime: ContainerRuntime,
  only: readonly string[],
): Promise<Attachment[]> {
  const live: Attachment[] = [];
  for (const a of attached) {
    // A runtime that cannot tell keeps the entry: better listed once too often than hidden.
    const alive = await runtime.isAlive({ id: a.containerId, netnsPath: a.netnsPath }).catch(() => true);
    if (alive) live.push(a);
  }
  if (only.length === 0) return live;
  const ids = new Set<string>();
  for (const ref of only) {
    const byPrefix = live.filter((a) => a.containerId.startsWith(ref));
    if (byPrefix.length) {
      for (const a of byPrefix) ids.add(a.containerId);
      continue;
    }
    ids.add((await runtime.resolve(ref)).id); // throws ERR_CONTAINER_NOT_FOUND for an unknown one
  }
  return live.filter((a) => ids.has(a.containerId));
}

/**
 * The `weave:expose` line lists the bridge's addresses, as Weave's did: the exposed ones, and those the
 * router put there itself (`bridgeOwners`: weaveDNS's address, the egress gateway), which keep the host on
 * the weave network after a `hide` too.
 */
export function withBridgeAddresses(
  expose: Attachment,
  inUse: ReadonlyArray<{ containerId: string; addrs: ReadonlyArray<{ addr: number; prefix: number }> }>,
  bridgeOwners: readonly string[],
  format: (c: { addr: number; prefix: number }) => string,
): Attachment {
  const cidrs = [...expose.cidrs];
  for (const c of inUse) {
    if (!bridgeOwners.includes(c.containerId)) continue;
    for (const a of c.addrs) {
      const text = format(a);
      if (!cidrs.includes(text)) cidrs.push(text);
    }
  }
  return { ...expose, cidrs };
}
