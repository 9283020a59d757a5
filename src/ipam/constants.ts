// IPAM timings and limits, units in the names (STYLE.md habit 9). Candidates to move into core/defaults.ts;
// they live here while other parts of the tree are being edited.

/** Allocator housekeeping: report free space in the ring, retry waiting requests and Paxos. Weave: 5 s. */
export const IPAM_TICK_MS = 5_000;
/** A space request (donation or a specific address) unanswered for this long is sent to another peer. */
export const IPAM_SPACE_REQUEST_TIMEOUT_MS = 2_000;
/** A Paxos proposal that has not reached consensus by then is retried with a higher round (plus jitter). */
export const IPAM_PAXOS_RETRY_MS = 2_000;
/** allocate()/claim() give up after this long unless the caller passes its own timeout or signal. */
export const IPAM_ALLOCATE_TIMEOUT_MS = 30_000;
/** A peer that denied or ignored our space request is not asked again for this long. */
export const IPAM_DONOR_BACKOFF_MS = 10_000;

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
