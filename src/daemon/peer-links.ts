// Peer-link adoption: runs the handshake on each new TCP stream, hands the finished connection to the
// mesh Router (which may refuse it), opens its data-plane session on the overlay, and forgets both when
// the connection goes. Owns the data-plane session indexes and the name → PeerLink map.

import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ByteStream, Clock, Rng } from '../core/ports.js';
import { cidrContains, parseIPv4, peerNameToNumber, tryParseIPv4, type Cidr, type PeerName } from '../core/types.js';
import type { Overlay } from '../dataplane/overlay.js';
import { ProtocolConnection } from '../mesh/protocol-connection.js';
import type { Router } from '../mesh/router.js';
import { PeerLink, type PunchedEndpoint } from './peer-link.js';

export interface PeerLinksComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  router: Router;
  overlay: Overlay;
}

/** Who we are in the handshake. */
export interface PeerLinksInit {
  name: PeerName;
  nickname: string;
  uid: string;
  passwordKey?: Uint8Array;
  /** Our control port (told to the remote so it can dial back). */
  port: number;
  /** --trusted-subnets: remotes there may get an unencrypted data plane. */
  trustedSubnets: readonly Cidr[];
  /** Our receive lanes (DataPlaneIo.receiveLanes): each session gets this many consecutive receiver
   *  indexes, announced in the hello (wire/hello.ts sessionLanes). @default 1 */
  sessionLanes?: number;
  /** Announce csumPartial (wire/hello.ts): we accept checksum-partial TCP frames. @default false */
  csumPartial?: boolean;
}

export class PeerLinks {
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private readonly router: Router;
  private readonly overlay: Overlay;
  private readonly links = new Map<PeerName, PeerLink>();
  private readonly usedIndexes = new Set<number>();
  /** Told when a handshake fails or its connection is refused (metrics). */
  onHandshakeFailed: ((outbound: boolean) => void) | undefined;

  constructor(
    c: PeerLinksComponents,
    private readonly init: PeerLinksInit,
  ) {
    this.clock = c.clock;
    this.rng = c.rng;
    this.log = c.logger;
    this.router = c.router;
    this.overlay = c.overlay;
    this.router.on('connection:removed', (conn) => {
      const link = conn as PeerLink;
      if (this.links.get(link.remoteName) === link) {
        this.links.delete(link.remoteName);
        this.overlay.removeSession(peerNameToNumber(link.remoteName));
      }
      this.releaseSessionIndex(link.localIndex);
    });
  }

  /** The adopted link to `peer`, if any. */
  get(peer: PeerName): PeerLink | undefined {
    return this.links.get(peer);
  }

  /** Every adopted link. */
  all(): IterableIterator<PeerLink> {
    return this.links.values();
  }

  closeAll(reason: string): void {
    for (const link of this.links.values()) link.close(reason);
  }

  /**
   * Runs the handshake on a new TCP stream; resolves once the mesh adopted the connection. `punched`:
   * the stream is tunnelled through an introducer (NAT traversal) and UDP goes to this endpoint.
   */
  handshake(stream: ByteStream, outbound: boolean, address: string, punched?: PunchedEndpoint): Promise<PeerLink> {
    const localIndex = this.newSessionIndex();
    const pc = new ProtocolConnection(
      { clock: this.clock, rng: this.rng, logger: this.log },
      {
        stream,
        outbound,
        localName: this.init.name,
        localNickname: this.init.nickname,
        localUid: this.init.uid,
        ...(this.init.passwordKey ? { passwordKey: this.init.passwordKey } : {}),
        listenPort: this.init.port,
        sessionIndex: localIndex,
        sessionLanes: this.lanes,
        csumPartial: this.init.csumPartial ?? false,
        trustsRemote: this.trusts(plainIp(stream.remoteAddress)),
      },
    );
    const done = new Promise<PeerLink>((resolve, reject) => {
      let link: PeerLink | undefined;
      let adopting = false;
      let closedWhileAdopting: Error | undefined;
      pc.onReady((info) => {
        const candidate = new PeerLink(pc, info, outbound, address, plainIp(stream.remoteAddress), localIndex, punched);
        adopting = true; // a refusal closes pc inside addConnection; its error (not "closed") is the reason
        try {
          this.router.addConnection(candidate);
        } catch (err) {
          this.releaseSessionIndex(localIndex);
          reject(err);
          return;
        }
        if (closedWhileAdopting) {
          // It failed while the Router adopted it (e.g. a write error sending the initial gossip).
          candidate.closed = true;
          candidate.closeReason = errorMessage(closedWhileAdopting);
          this.router.removeConnection(candidate, candidate.closeReason);
          reject(closedWhileAdopting);
          return;
        }
        link = candidate;
        this.links.set(link.remoteName, link);
        this.startSession(link);
        resolve(link);
      });
      pc.onMessage((msg) => {
        if (link) this.router.handleMessage(link, msg);
      });
      pc.onClose((err) => {
        if (!link) {
          if (adopting) {
            closedWhileAdopting = err ?? new Error('connection closed');
            return;
          }
          this.releaseSessionIndex(localIndex);
          reject(err ?? new Error('connection closed during handshake'));
          return;
        }
        link.closed = true;
        link.closeReason = err ? errorMessage(err) : 'connection closed';
        this.router.removeConnection(link, link.closeReason);
      });
    });
    done.catch(() => this.onHandshakeFailed?.(outbound));
    return done;
  }

  /** --trusted-subnets: is this remote address one we trust (data plane may go unencrypted)? */
  private trusts(ip: string): boolean {
    const addr = tryParseIPv4(ip);
    return addr !== undefined && this.init.trustedSubnets.some((c) => cidrContains(c, addr));
  }

  private startSession(link: PeerLink): void {
    // Both ends trust each other's address: the data plane goes unencrypted (the TCP control plane stays
    // sealed). Both ends compute the same answer from the two hellos, so they agree without a message.
    const k = link.dataEncrypted ? link.info.udpKeys : undefined;
    this.overlay.addSession(
      {
        peer: peerNameToNumber(link.remoteName),
        remoteAddr: link.punched?.addr ?? parseIPv4(link.remoteIp),
        remotePort: link.punched?.port ?? link.remoteListenPort,
        localIndex: link.localIndex,
        remoteIndex: link.info.remoteSessionIndex,
        localLanes: this.lanes,
        remoteLanes: link.info.remoteSessionLanes,
        csumPartial: link.info.csumPartial,
        ...(k ? { keys: { sendKey: k.udpSendKey, recvKey: k.udpRecvKey, sendSalt: k.udpSendSalt, recvSalt: k.udpRecvSalt } } : {}),
      },
      {
        sendFramesOverTcp: (body) => link.send({ kind: 'frames', payload: body }),
        sendRekey: (m) => link.send({ kind: 'rekey', ...m }),
        onPathChange: (path) => {
          link.path = path;
          this.router.setConnectionEstablished(link, path !== undefined);
        },
      },
    );
  }

  /** Our receive lanes: the receiver indexes per session. */
  private get lanes(): number {
    return this.init.sessionLanes ?? 1;
  }

  /**
   * A block of `lanes` free receiver indexes base..base+lanes-1 (1..0xfffffffe, no wrap), all marked
   * used; returns base. Not aligned: the kernel steers index % lanes, so a random base also spreads the
   * sessions of peers that use only base (older versions, the JS path) over the lanes.
   */
  private newSessionIndex(): number {
    const n = this.lanes;
    for (;;) {
      const base = (this.rng.int(0xfffffffe - n + 1) + 1) >>> 0;
      let free = true;
      for (let i = 0; i < n && free; i++) free = !this.usedIndexes.has(base + i);
      if (!free) continue;
      for (let i = 0; i < n; i++) this.usedIndexes.add(base + i);
      return base;
    }
  }

  private releaseSessionIndex(base: number): void {
    for (let i = 0; i < this.lanes; i++) this.usedIndexes.delete(base + i);
  }
}

/** "::ffff:10.0.0.1" (an IPv4-mapped address from a dual-stack socket) → "10.0.0.1". */
export function plainIp(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
