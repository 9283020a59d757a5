// IPAM protocol limits, units in the names (STYLE.md habit 9). The tunable timings live in
// core/defaults.ts with every other default; they are re-exported here for IPAM's own modules.

export {
  IPAM_TICK_MS, IPAM_SPACE_REQUEST_TIMEOUT_MS, IPAM_PAXOS_RETRY_MS, IPAM_ALLOCATE_TIMEOUT_MS, IPAM_DONOR_BACKOFF_MS,
} from '../core/defaults.js';

/** Hostile-input caps: any IPAM message or persisted state beyond these is rejected before use. */
export const MAX_IPAM_MESSAGE_BYTES = 8 * 1024 * 1024;
export const MAX_RING_ENTRIES = 200_000;
export const MAX_PAXOS_NODES = 4_096;
export const MAX_SEEDS = 4_096;
export const MAX_REMOVED_PEERS = 4_096;
export const MAX_CLAIMS = 1_000_000;
export const MAX_CONTAINER_ID_CHARS = 256;
export const MAX_REASON_CHARS = 1_024;

/** Subnets smaller than this cannot be allocated from (network + broadcast + at least 2 hosts), as Weave. */
export const MIN_ALLOC_SUBNET_PREFIX = 30;
