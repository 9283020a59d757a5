// IPAM public surface for the daemon and the HTTP layer (DESIGN.md §5).
export {
  Allocator, type AllocatorComponents, type AllocatorInit, type AllocateOptions, type Allocation, type IpamMode,
  type WaitOptions, STATUS_READY, STATUS_IDLE, STATUS_PRIMING, STATUS_UNREACHABLE, STATUS_WAITING_GRANT,
  STATUS_WAITING_IPS, statusAwaitingConsensus,
} from './allocator.js';
export { determineQuorum } from './paxos.js';
export { IpamError } from './errors.js';
export { type AddrRange, formatRange } from './addr-range.js';
export * from './constants.js';
