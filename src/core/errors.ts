// One error class per decision (STYLE.md §2.2). Callers branch on `code`, never on message text.
// Messages for bad input name the input, the value and the rule.

export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_USAGE'
  | 'ERR_PROTOCOL'
  | 'ERR_PROTOCOL_VERSION'
  | 'ERR_HANDSHAKE'
  | 'ERR_AUTH_FAILED'
  | 'ERR_ENCRYPTION_MISMATCH'
  | 'ERR_PEER_NAME_COLLISION'
  | 'ERR_CONNECT_TO_SELF'
  | 'ERR_CONNECTION_LIMIT'
  | 'ERR_DUPLICATE_CONNECTION'
  | 'ERR_IPAM_CONFLICT'
  | 'ERR_IPAM'
  | 'ERR_DNS'
  | 'ERR_NATIVE_ADDON'
  | 'ERR_UNSUPPORTED_PLATFORM'
  | 'ERR_CONTAINER_NOT_FOUND'
  | 'ERR_NOT_RUNNING'
  | 'ERR_ALREADY_RUNNING'
  | 'ERR_NOT_ROOT'
  | 'ERR_HOST_NETWORK'
  | 'ERR_STATE';

export interface TsweaveErrorOptions {
  cause?: unknown;
  /** Structured context for logs (never secrets). */
  fields?: Record<string, unknown>;
}

export class TsweaveError extends Error {
  readonly code: ErrorCode;
  readonly fields: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, opts: TsweaveErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.fields = opts.fields;
  }
}

/** A TsweaveError whose code is always `code`: `class XError extends withCode('ERR_X') {}`. */
export function withCode(code: ErrorCode) {
  return class extends TsweaveError {
    constructor(message: string, opts?: TsweaveErrorOptions) {
      super(code, message, opts);
    }
  };
}

/** Bad user-supplied configuration or arguments: exit code 2. */
export class ConfigError extends withCode('ERR_CONFIG') {}

/** Bad bytes from the network. Closes a control connection; a data-plane packet is counted and dropped. */
export class ProtocolError extends TsweaveError {
  constructor(message: string, opts?: TsweaveErrorOptions, code: ErrorCode = 'ERR_PROTOCOL') {
    super(code, message, opts);
  }
}

/** The handshake failed; `code` says why (version, auth, encryption mismatch, collision, self). */
export class HandshakeError extends TsweaveError {}

export class PeerNameCollisionError extends withCode('ERR_PEER_NAME_COLLISION') {}

export class IpamConflictError extends withCode('ERR_IPAM_CONFLICT') {}

export class NativeAddonError extends withCode('ERR_NATIVE_ADDON') {}

export class UnsupportedPlatformError extends withCode('ERR_UNSUPPORTED_PLATFORM') {}

export function isTsweaveError(err: unknown): err is TsweaveError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && 'fields' in err;
}

/** Human-readable message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
