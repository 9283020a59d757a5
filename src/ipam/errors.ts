// IPAM runtime failures that are neither bad input (ConfigError) nor ownership conflicts (IpamConflictError):
// timeouts, exhaustion, cancellation. Code ERR_IPAM. (Could move to core/errors.ts.)
import { TsweaveError, type TsweaveErrorOptions } from '../core/errors.js';

export class IpamError extends TsweaveError {
  constructor(message: string, opts?: TsweaveErrorOptions) {
    super('ERR_IPAM', message, opts);
  }
}
