// DNS limits and timers that core/defaults.ts does not (yet) hold. Units in the names.
// TODO(lead): move these into core/defaults.ts next to DEFAULT_DNS_TTL_S & co (habit 9: one file).

export { DEFAULT_DNS_DOMAIN, DEFAULT_DNS_TTL_S, DNS_TOMBSTONE_LIFETIME_MS, DNS_UPSTREAM_TIMEOUT_MS, DNS_RESOLV_CONF_RECHECK_MS } from '../core/defaults.js';

/** Gossip from a peer whose wall clock differs from ours by more than this is rejected (Weave: 15 min). */
export const DNS_MAX_CLOCK_SKEW_MS = 15 * 60_000;
/** A peer unreachable for this long has its entries dropped everywhere else. */
export const DNS_DEPARTED_PEER_GRACE_MS = 5_000;
/** How often tombstones and departed peers are swept. */
export const DNS_GC_INTERVAL_MS = 5_000;
/** Largest DNS gossip payload accepted. */
export const MAX_DNS_GOSSIP_BYTES = 8 * 1024 * 1024;
/** Most entries (live + tombstones) held or accepted in one message. */
export const MAX_DNS_ENTRIES = 100_000;
export const MAX_CONTAINER_ID_CHARS = 256;

/** Default UDP DNS payload without EDNS0 (RFC 1035). */
export const DNS_UDP_DEFAULT_PAYLOAD_BYTES = 512;
/** Largest UDP payload we send, whatever the client advertises (DNS flag day 2020 recommends 1232). */
export const DNS_UDP_MAX_PAYLOAD_BYTES = 4096;
/** EDNS0 UDP size we advertise in our OPT record. */
export const DNS_EDNS_ADVERTISED_PAYLOAD_BYTES = 1232;
/** DNS over TCP: 2-byte length prefix. */
export const DNS_TCP_MAX_MESSAGE_BYTES = 65535;
export const DNS_TCP_IDLE_TIMEOUT_MS = 10_000;
export const DNS_MAX_TCP_CONNECTIONS = 128;
export const DNS_MAX_PENDING_FORWARDS = 512;
/** SO_RCVBUF asked for on the DNS UDP socket. */
export const DNS_UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024;
/** TCP connections one client address may hold (issue 11.6: one client must not hold them all). */
export const DNS_MAX_TCP_CONNECTIONS_PER_CLIENT = 16;
