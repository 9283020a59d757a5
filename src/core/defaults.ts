// Every default and protocol constant in one place, units in the names (STYLE.md habit 9).
// Values mirror Weave Net where users can observe them (WEAVE-FACTS.md §1.5, §8.4).

export const VERSION = '0.1.0';

/** TCP control plane and UDP data plane port. */
export const CONTROL_PORT = 6783;
/** HTTP control API (loopback only). */
export const HTTP_API_ADDR = '127.0.0.1';
export const HTTP_API_PORT = 6784;
/** Prometheus metrics and the topology page (--metrics-addr; loopback by default, as Weave's script). */
export const METRICS_ADDR = '127.0.0.1';
export const METRICS_PORT = 6782;
/**
 * Resolution of the nodejs_eventloop_lag_* histogram: its timer wakes the router this often, idle or not
 * (at 20 ms that was 50 wake-ups a second). A stall shorter than this is seen only when it covers a tick.
 */
export const METRICS_EVENT_LOOP_RESOLUTION_MS = 250;
/** Where dockerd finds the network plugin weavemesh (TEST-ENV §1: plugins are found by name in /run/docker/plugins). */
export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/weavemesh.sock';
/** The Docker network and IPAM driver name of the plugin (Weave's). */
export const DOCKER_PLUGIN_NAME = 'weavemesh';
/** The Docker network `launch` creates and `reset` removes, as Weave did. */
export const DOCKER_DEFAULT_NETWORK = 'weave';

export const DEFAULT_DATA_DIR = '/var/lib/tsweave';
/** Files the router keeps in its data dir (state keys of the StateStore, plus the pid and log files). */
export const PEER_NAME_KEY = 'peer-name';
export const ATTACHMENTS_STATE_KEY = 'attachments.json';
export const IPAM_STATE_KEY = 'ipam';
export const DNS_STATE_KEY = 'dns-entries';
export const PEERS_STATE_KEY = 'peers.json';
/** The host's exposed addresses (daemon/host-access.ts). */
export const EXPOSE_STATE_KEY = 'expose.json';
export const PID_FILE = 'tsweave.pid';
export const LOG_FILE = 'tsweave.log';
/** Names the file descriptor on which the detached daemon reports its start result to `launch` (daemon/main.ts). */
export const START_RESULT_FD_ENV = 'TSWEAVE_START_RESULT_FD';
/** Every file the router keeps in its data dir: `reset` removes exactly these. */
export const STATE_FILES = [PEER_NAME_KEY, ATTACHMENTS_STATE_KEY, IPAM_STATE_KEY, DNS_STATE_KEY, PEERS_STATE_KEY, EXPOSE_STATE_KEY, PID_FILE, LOG_FILE];
export const BRIDGE_NAME = 'weave';
export const TAP_NAME = 'vethwe-tap';
export const CONTAINER_IFNAME = 'ethwe';

/** Overlay MTU: an encrypted frame plus headers fits a 1500-byte underlay. */
export const DEFAULT_MTU = 1376;
export const MIN_MTU = 576;
export const MAX_MTU = 65535 - 100;

/**
 * Most data-plane lanes (I/O threads per direction; native/src/fastpath.h FP_MAX_LANES): also the most
 * receiver indexes a session uses (wire/hello.ts sessionLanes).
 */
export const MAX_SESSION_LANES = 16;

/** Protocol versions this build speaks (handshake preamble). */
export const PROTOCOL_MIN_VERSION = 1;
export const PROTOCOL_MAX_VERSION = 1;

export const DEFAULT_CONN_LIMIT = 200;

/**
 * How often the router checks that its iptables rules survived a flush or a firewall reload (Weave: 10 s).
 * Each check is a command (iptables-save) forked by an otherwise idle router; a flush is undone within it.
 */
export const FIREWALL_CHECK_MS = 10_000;

/**
 * How often the router checks the weave bridge, its TAP and the containers' veths (daemon/plumbing-keeper.ts):
 * a bridge deleted or downed by hand cuts every container off until then. One `ip` command per check.
 */
export const PLUMBING_CHECK_MS = 3_000;

/** Handshake must complete within this time. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** TCP heartbeat interval and read deadline. */
export const TCP_HEARTBEAT_INTERVAL_MS = 30_000;
export const TCP_READ_TIMEOUT_MS = 60_000;
/** Largest control message accepted (after decryption). */
export const MAX_CONTROL_MSG_BYTES = 10 * 1024 * 1024;

/** UDP heartbeats: fast until the connection is confirmed, slow after. */
export const UDP_FAST_HEARTBEAT_MS = 500;
export const UDP_SLOW_HEARTBEAT_MS = 10_000;
export const UDP_HEARTBEAT_TIMEOUT_MS = 60_000;
/** With no UDP confirmation by then, frames go over the TCP connection (Weave #3752). */
export const UDP_CONFIRM_FALLBACK_MS = 5_000;

/** Reconnect backoff (mesh connection_maker): 2 s × 1.5 with jitter, capped at 6 min. */
export const RECONNECT_INITIAL_MS = 2_000;
export const RECONNECT_MAX_MS = 6 * 60_000;
export const RECONNECT_FACTOR = 1.5;
/** A connection that lived this long resets the backoff. */
export const RECONNECT_RESET_AFTER_MS = 60_000;

/** Topology gossip batching and periodic full gossip. */
export const TOPOLOGY_BATCH_MS = 1_000;
export const GOSSIP_INTERVAL_MS = 30_000;

/** Accept-rate limiting per source address: bucket of 20, one token per 50 ms (mesh acceptLimiter). */
export const ACCEPT_BURST = 20;
export const ACCEPT_REFILL_MS = 50;
/** All addresses together: a bucket this many times one address's (200, one token per 5 ms). */
export const ACCEPT_GLOBAL_FACTOR = 10;
/** Source addresses whose accept buckets are remembered at once (a few dozen bytes each). */
export const ACCEPT_TRACKED_ADDRESSES = 4096;

/**
 * The router's HTTP listeners (API on TCP and unix socket, metrics/status, Docker plugin; io/http-limits.ts):
 * open connections at once, per listener and per client address; how long a connection may stay silent
 * before its first request, and how long its headers and its whole request may take to arrive.
 */
export const HTTP_MAX_CONNECTIONS = 64;
export const HTTP_MAX_CONNECTIONS_PER_ADDRESS = 16;
/** Unix sockets only root (or the --api-group) opens: the API's and the Docker plugin's (CNI ADDs and
 * dockerd's calls may arrive many at once). */
export const HTTP_MAX_SOCKET_CONNECTIONS = 256;
export const HTTP_IDLE_BEFORE_REQUEST_MS = 10_000;
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** How often Node checks the two timeouts above (its default, 30 s, would let a slow client linger). */
export const HTTP_TIMEOUT_CHECK_MS = 2_000;

/** MAC cache entries expire after this long without traffic. */
export const MAC_CACHE_MAX_AGE_MS = 10 * 60_000;

/** Data-plane replay window (packets). */
export const REPLAY_WINDOW_PACKETS = 8192;
/** Data keys are rotated (dataplane/rekey.ts) after this long or this many bytes sent under one key
 *  (counted as datagrams × the largest datagram, an upper bound), whichever first. The interval is
 *  WireGuard's; TSWEAVE_REKEY_INTERVAL_S overrides it. */
export const REKEY_AFTER_MS = 2 * 60_000;
export const REKEY_AFTER_BYTES = 2 ** 36;
/** The previous receive key stays valid this long after a new one is installed (at most half the interval). */
export const REKEY_GRACE_MS = 10_000;
/** An unanswered rekey is abandoned (and started again) after this long (at most the interval). */
export const REKEY_TIMEOUT_MS = 5_000;

/** Password KDF (scrypt) parameters: slow once at launch so a captured handshake is costly to brute-force. */
export const PASSWORD_KDF_N = 2 ** 15;
export const PASSWORD_KDF_R = 8;
export const PASSWORD_KDF_P = 1;

/** IPAM. */
export const DEFAULT_IPALLOC_RANGE = '10.32.0.0/12';
/** A dead container keeps its addresses this long (a restarting one keeps them); TSWEAVE_DEAD_CONTAINER_GRACE_MS. */
export const IPAM_DEAD_CONTAINER_GRACE_MS = 30_000;
/** Allocator housekeeping: report free space in the ring, retry waiting requests and Paxos. Weave: 5 s. */
export const IPAM_TICK_MS = 5_000;
/** A space request (donation or a specific address) unanswered for this long is sent to another peer. */
export const IPAM_SPACE_REQUEST_TIMEOUT_MS = 2_000;
/** A Paxos proposal that has not reached consensus by then is retried with a higher round (plus jitter). */
export const IPAM_PAXOS_RETRY_MS = 2_000;
/** allocate()/claim() give up after this long unless the caller passes its own timeout; TSWEAVE_IPAM_WAIT_MS. */
export const IPAM_ALLOCATE_TIMEOUT_MS = 30_000;
/** A peer that denied or ignored our space request is not asked again for this long. */
export const IPAM_DONOR_BACKOFF_MS = 10_000;

/** DNS. */
export const DEFAULT_DNS_DOMAIN = 'weave.local.';
export const DEFAULT_DNS_TTL_S = 1;
/** A failed write of the dns entries after a container died is tried again this often until it succeeds. */
export const DNS_PERSIST_RETRY_MS = 10_000;
export const DNS_UPSTREAM_TIMEOUT_MS = 5_000;
export const DNS_RESOLV_CONF_RECHECK_MS = 5_000;
/** Tombstones live long enough to outlast 15 minutes of clock skew. */
export const DNS_TOMBSTONE_LIFETIME_MS = 30 * 60_000;
/** Gossip from a peer whose wall clock differs from ours by more than this is rejected (Weave: 15 min). */
export const DNS_MAX_CLOCK_SKEW_MS = 15 * 60_000;
/** A peer unreachable for this long has its entries dropped everywhere else. */
export const DNS_DEPARTED_PEER_GRACE_MS = 5_000;
/** How often tombstones and departed peers are swept. */
export const DNS_GC_INTERVAL_MS = 5_000;
/** DNS over TCP: idle connections close after this long; at most this many at once. */
export const DNS_TCP_IDLE_TIMEOUT_MS = 10_000;
export const DNS_MAX_TCP_CONNECTIONS = 128;
/** TCP connections one client address may hold (issue 11.6: one client must not hold them all). */
export const DNS_MAX_TCP_CONNECTIONS_PER_CLIENT = 16;
/** Queries being forwarded upstream at once. */
export const DNS_MAX_PENDING_FORWARDS = 512;
/** SO_RCVBUF asked for on the DNS UDP socket. */
export const DNS_UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024;
