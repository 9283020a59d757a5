// IPAM's own error types. IpamError: runtime failures that are neither bad input (ConfigError) nor ownership
// conflicts (IpamConflictError): timeouts, exhaustion, cancellation; code ERR_IPAM. IpamMismatchError: a
// conflict because two peers were set up differently (range or seed list), which no merge can repair; callers
// branch on its `mismatch` field, never on the message text (STYLE.md §2.2). A range mismatch also carries
// the reason the router closes the connection with (Weave drops it too).
import { IpamConflictError, withCode, type TsweaveErrorOptions } from '../core/errors.js';
import type { ConnectionFatal } from '../core/gossip.js';

export class IpamError extends withCode('ERR_IPAM') {}

/** What differs between the two peers: --ipalloc-range, or the seed list of the ring. */
export type IpamMismatchKind = 'range' | 'seeds';

/** Data from a peer set up with another --ipalloc-range or seed list. Code ERR_IPAM_CONFLICT, as every conflict. */
export class IpamMismatchError extends IpamConflictError implements Partial<ConnectionFatal> {
  readonly mismatch: IpamMismatchKind;
  /** Our setting and the peer's, formatted for people ("10.32.0.0-10.47.255.255", "[aa:… bb:…]"). */
  readonly ours: string;
  readonly theirs: string;
  /** Set when the connection the data came on should be closed, with this reason (core/gossip.ts). */
  readonly connectionReason: string | undefined;
  constructor(
    mismatch: IpamMismatchKind, ours: string, theirs: string, message: string,
    opts?: TsweaveErrorOptions & { connectionReason?: string },
  ) {
    super(message, opts);
    this.mismatch = mismatch;
    this.ours = ours;
    this.theirs = theirs;
    this.connectionReason = opts?.connectionReason;
  }
}

export function isIpamMismatch(err: unknown, kind?: IpamMismatchKind): err is IpamMismatchError {
  return err instanceof IpamMismatchError && (kind === undefined || err.mismatch === kind);
}
