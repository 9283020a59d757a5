// What must be put back when someone (an admin, a network manager, a script) deletes or downs the weave
// bridge, downs the router's TAP or takes a container's veth off the bridge: the host's containers are cut
// off until it is undone, and a relaunch alone does not undo it (a veth that fell off the bridge stays
// off). Pure: takes the host's links as `ip -j -d addr show` lists them and what was seen last time, and
// returns the repairs; daemon/plumbing-keeper.ts runs them.
import type { LinkView, PortSettings } from '../core/ports.js';

/** What the last look saw on a healthy bridge: its addresses and its ports (name → settings). */
export interface PlumbingMemory {
  addrs: string[];
  ports: Map<string, PortSettings>;
}

export type PlumbingRepair =
  | { kind: 'bridge-create' }
  | { kind: 'bridge-up' }
  | { kind: 'bridge-addr'; cidr: string }
  | { kind: 'port'; name: string; settings: PortSettings; why: 'off the bridge' | 'down' };

/**
 * The repairs for `links`. `ports`: every port that belongs on the bridge (remembered or expected), with
 * its settings; a port that no longer exists is someone else's business (a container that went away). A
 * port on another bridge is left there: putting it back could undo a deliberate move. Addresses come back
 * only with a re-created bridge: one missing from a live bridge may have been removed on purpose (`hide`).
 */
export function plumbingRepairs(links: readonly LinkView[], bridge: string, memory: PlumbingMemory): PlumbingRepair[] {
  const byName = new Map(links.map((l) => [l.name, l]));
  const out: PlumbingRepair[] = [];
  const br = byName.get(bridge);
  if (!br) {
    out.push({ kind: 'bridge-create' });
    for (const cidr of memory.addrs) out.push({ kind: 'bridge-addr', cidr });
  } else if (!br.up) out.push({ kind: 'bridge-up' });
  for (const [name, settings] of memory.ports) {
    const l = byName.get(name);
    if (!l) continue;
    if (l.master === undefined) out.push({ kind: 'port', name, settings, why: 'off the bridge' });
    else if (l.master === bridge && !l.up) out.push({ kind: 'port', name, settings, why: 'down' });
  }
  return out;
}

/**
 * What to remember after a look: the bridge's addresses (kept from before while it is missing) and its
 * ports with their settings. Ports in `prev` or `expected` that still exist are kept even while off the
 * bridge, so a failed repair is tried again; ports that are gone are forgotten.
 */
export function rememberPlumbing(links: readonly LinkView[], bridge: string, prev: PlumbingMemory, expected: ReadonlyMap<string, PortSettings>): PlumbingMemory {
  const byName = new Map(links.map((l) => [l.name, l]));
  const br = byName.get(bridge);
  const ports = new Map<string, PortSettings>();
  for (const [name, settings] of [...prev.ports, ...expected]) if (byName.has(name) && !ports.has(name)) ports.set(name, settings);
  for (const l of links) {
    if (l.master === bridge) ports.set(l.name, { hairpin: l.hairpin ?? false, isolated: l.isolated ?? false });
  }
  return { addrs: br ? [...br.addrs] : prev.addrs, ports };
}
