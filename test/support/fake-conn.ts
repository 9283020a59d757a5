// A PeerConnection that only records: what the Router sent on it and why it was closed (mesh unit tests).
import type { PeerName } from '../../src/core/types.js';
import type { PeerConnection } from '../../src/mesh/peer-connection.js';
import type { ControlMessage } from '../../src/wire/control-messages.js';

export class FakeConn implements PeerConnection {
  readonly sent: ControlMessage[] = [];
  /** The first close reason, once closed. */
  closed: string | undefined;
  constructor(
    readonly remoteName: PeerName,
    readonly outbound: boolean,
    readonly remoteAddress = '10.0.0.9:6783',
    readonly remoteListenPort = 6783,
    readonly remoteNickname = 'far',
    readonly remoteUid = 'abc',
  ) {}
  send(msg: ControlMessage): void {
    this.sent.push(msg);
  }
  close(reason: string): void {
    this.closed ??= reason;
  }
}
