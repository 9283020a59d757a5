// `attach` from request to answer, all or nothing (issues 10.2, 10.3), and the start-time reconcile that
// must finish before any attach allocates.
//
// Order: addresses claimed in memory → the claims on disk → the attachment record on disk → the
// interface and addresses in the container (attachments.ts) → the DNS name. Each step that fails undoes
// the ones before it, so a failed attach leaves no address in the container and no claim without its
// record, and the user gets the reason. A crash between steps leaves at worst a claim or a record that
// the reconcile at the next start corrects from the kernel, never an address in a container that is not
// claimed.
import { ConfigError, TsweaveError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ContainerRef } from '../core/ports.js';
import type { DeathWatch } from '../containers/death-watch.js';
import { explicitCidrs, watchRefOf, type Attachment, type Attachments, type AttachRequest } from './attachments.js';
import type { WeaveDns } from './weavedns.js';
import type { WeaveIpam } from './weaveipam.js';

export interface AttachFlow {
  runtime: { resolve(text: string): Promise<ContainerRef> };
  attachments: Attachments;
  ipam: WeaveIpam | undefined;
  dns: WeaveDns | undefined;
  deathWatch: DeathWatch;
  /** Settles once the start-time reconcile has claimed what attached containers hold (reconcileAtStart). */
  reconciled: Promise<void>;
}

export async function attachContainer(f: AttachFlow, req: AttachRequest): Promise<Attachment> {
  const ref = await f.runtime.resolve(req.container);
  // No allocation before the addresses containers already have are claimed again (issue 10.3).
  await f.reconciled;
  let cidrs: string[];
  const claimedBefore = new Set(f.ipam?.allocator.lookup(ref.id).map((a) => a.cidr) ?? []);
  if (f.ipam) {
    cidrs = await f.ipam.resolveAddrs(ref.id, req.addrs);
  } else {
    if (req.addrs.length === 0) {
      throw new ConfigError('attach needs ADDRESS/PREFIX: IPAM is disabled on this router (--ipalloc-range "")');
    }
    cidrs = explicitCidrs(req.addrs);
  }
  let rec: Attachment;
  try {
    try {
      await f.ipam?.durable();
    } catch (err) {
      throw new TsweaveError('ERR_STATE', `attach of ${req.container} undone: cannot record the address claim: ${errorMessage(err)}`, { cause: err });
    }
    rec = await f.attachments.attach(ref, cidrs, req.hostname, {
      ...req.iface, ...(req.egress ? { egress: true } : {}), ...(req.withoutDns !== undefined ? { withoutDns: req.withoutDns } : {}),
    });
  } catch (err) {
    f.ipam?.free(ref.id, cidrs.filter((c) => !claimedBefore.has(c)));
    throw err;
  }
  f.deathWatch.watch(ref);
  const fqdn = req.hostname ?? rec.hostname;
  if (f.dns && !req.withoutDns && fqdn && f.dns.service.isInDomain(fqdn)) {
    await f.dns.add(rec.containerId, rec.cidrs.map((c) => c.split('/')[0]!), fqdn);
  }
  return rec;
}

/**
 * A stopped Docker container that was attached is running again (docker start/restart): ethwe in its new
 * namespace with the addresses it had (still claimed: a stop keeps them) and its DNS name, as attach did.
 */
export async function reattachContainer(f: AttachFlow, containerId: string): Promise<void> {
  const rec = f.attachments.list().find((a) => a.containerId === containerId);
  if (!rec) return;
  await attachContainer(f, {
    container: containerId,
    addrs: rec.cidrs,
    ...(rec.hostname ? { hostname: rec.hostname } : {}),
    ...(rec.withoutDns ? { withoutDns: true } : {}),
  });
}

/**
 * At start, in the background (Weave #1083: never block the start): records corrected from the kernel
 * (containers found without a record adopted and watched), then every address an attached container
 * holds claimed in IPAM. attachContainer waits for it.
 */
export async function reconcileAtStart(attachments: Attachments, ipam: WeaveIpam | undefined, deathWatch: DeathWatch, log: Logger): Promise<void> {
  // A failed write of the corrected records must not skip the claims: the records in memory are corrected.
  // Claims of addresses a recorded container does not hold (an attach cut short) are released.
  const released = (containerId: string, cidrs: string[]): void => {
    log.warn({ container: containerId, cidrs }, 'an attach cut short left claims for addresses the container does not hold; releasing them');
    ipam?.free(containerId, cidrs);
  };
  const list = await attachments.reconcile(released).catch((err: unknown) => {
    log.error({ err: errorMessage(err) }, 'writing the reconciled attachments record failed');
    return attachments.list();
  });
  for (const a of list) if (!deathWatch.isWatching(a.containerId)) deathWatch.watch(watchRefOf(a));
  await ipam?.reclaim(list);
}
