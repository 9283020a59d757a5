// A handshaken TCP connection as the mesh sees it (PeerConnection), plus what the data plane and status
// need to know about it. One PeerLink per ProtocolConnection that reached `ready`.

import type { ConnectionReadyInfo, ProtocolConnection } from '../mesh/protocol-connection.js';
import type { PeerConnection } from '../mesh/peer-connection.js';
import type { SessionPath } from '../dataplane/session.js';
import type { ControlMessage } from '../wire/control-messages.js';
import type { PeerName } from '../core/types.js';

/** A link tunnelled through an introducer (NAT traversal): its UDP endpoint as the introducer saw it. */
export interface PunchedEndpoint {
  addr: number;
  port: number;
  /** The peer whose connection carries the tunnel. */
  introducer: PeerName;
}

export class PeerLink implements PeerConnection {
  readonly remoteName;
  readonly remoteNickname;
  readonly remoteUid;
  readonly remoteListenPort;
  /** The data-plane session index we asked the remote to use. */
  readonly localIndex: number;
  /** Which path carries frames right now (undefined while UDP is unconfirmed). */
  path: SessionPath | undefined;
  /** The connection has closed (set by the daemon before the Router forgets it). */
  closed = false;
  closeReason: string | undefined;

  constructor(
    private readonly pc: ProtocolConnection,
    readonly info: ConnectionReadyInfo,
    readonly outbound: boolean,
    /** outbound: the target dialled ("host:port"); inbound: the remote's source address. */
    readonly remoteAddress: string,
    /** The remote's IP as seen on the TCP connection. */
    readonly remoteIp: string,
    localIndex: number,
    /** Set for a tunnelled (NAT-punched) link. */
    readonly punched?: PunchedEndpoint,
  ) {
    this.remoteName = info.remoteName;
    this.remoteNickname = info.remoteNickname;
    this.remoteUid = info.remoteUid;
    this.remoteListenPort = info.remoteListenPort;
    this.localIndex = localIndex;
  }

  /** The control connection is encrypted (both ends have the password). */
  get encrypted(): boolean {
    return this.info.encrypted;
  }

  /** The data plane to this peer is encrypted: a password, and not both ends trusting each other's address. */
  get dataEncrypted(): boolean {
    return this.info.encrypted && !this.info.mutuallyTrusted;
  }

  send(msg: ControlMessage): void {
    this.pc.send(msg);
  }

  close(reason: string): void {
    this.pc.close(reason);
  }
}
