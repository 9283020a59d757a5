// DNS protocol sizes and hostile-input caps. Units in the names. The tunable timers and resource limits
// live in core/defaults.ts with every other default; they are re-exported here for the DNS modules.

export {
  DEFAULT_DNS_DOMAIN, DEFAULT_DNS_TTL_S, DNS_TOMBSTONE_LIFETIME_MS, DNS_UPSTREAM_TIMEOUT_MS, DNS_RESOLV_CONF_RECHECK_MS,
  DNS_MAX_CLOCK_SKEW_MS, DNS_DEPARTED_PEER_GRACE_MS, DNS_GC_INTERVAL_MS, DNS_TCP_IDLE_TIMEOUT_MS, DNS_MAX_TCP_CONNECTIONS,
  DNS_MAX_TCP_CONNECTIONS_PER_CLIENT, DNS_MAX_PENDING_FORWARDS, DNS_UDP_RECV_BUFFER_BYTES,
} from '../core/defaults.js';
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
