/*
 * offload.h: TCP segmentation offload (TSO) and receive coalescing (GRO) for a TAP opened with
 * IFF_VNET_HDR, done in software so the rest of tsweave keeps seeing ordinary frames of at most the
 * overlay MTU (wire format and forwarding unchanged).
 *
 *   egress  the kernel hands one "superframe" (up to 64 KiB of one TCP flow, virtio_net_hdr with
 *           gso_type TCPV4) per read(); tsw_tso_segment cuts it into MSS-sized frames with correct
 *           IPv4/TCP headers and checksums. Frames marked NEEDS_CSUM get their checksum completed by
 *           tsw_csum_complete. One read() instead of ~45. The fast path's egress reader may leave the
 *           TCP checksum of IPv4 TCP frames partial instead (pseudo-header sum only, as the kernel's
 *           NEEDS_CSUM leaves it), for a peer that accepts such frames (src/wire/hello.ts csumPartial):
 *           the payload is not summed at all; whoever cannot pass it on partial completes it
 *           (tsw_tcp4_complete).
 *   ingress tsw_gro_* groups consecutive frames of one TCP flow in a write batch (same headers,
 *           contiguous sequence numbers, equal MSS, valid checksums) into one GSO write with a
 *           virtio_net_hdr; the kernel's bridge/veth/TCP path then runs once per superframe.
 *           One write() instead of up to 64. A frame that arrived checksum-partial (authenticated by
 *           the tunnel) joins without its checksum being verified: the write says NEEDS_CSUM anyway;
 *           written alone, it goes out with a NEEDS_CSUM header of its own.
 *
 * Only IPv4 TCP is segmented/coalesced (the TAP offers TUN_F_CSUM|TUN_F_TSO4); everything else
 * passes through as single frames, with its checksum completed when the kernel left it partial.
 */
#ifndef TSWEAVE_OFFLOAD_H
#define TSWEAVE_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define TSW_VNET_HDR_BYTES 10
#define TSW_VNET_F_NEEDS_CSUM 1
#define TSW_VNET_GSO_NONE 0
#define TSW_VNET_GSO_TCPV4 1
/* Largest frame a vnet TAP read can return: 64 KiB GSO + Ethernet header (+ slack). */
#define TSW_TAP_SUPERFRAME_BYTES (65536 + 256)
/* Most frames coalesced into one GSO write. */
#define TSW_GRO_MAX_SEGS 64

typedef struct tsw_vnet_hdr {
  uint8_t flags, gso_type;
  uint16_t hdr_len, gso_size, csum_start, csum_offset; /* little-endian (host order on x86/arm64) */
} __attribute__((packed)) tsw_vnet_hdr;

/* One's-complement sum helpers (native-order 16-bit words; store results with memcpy). */
uint64_t tsw_csum_add(const uint8_t *p, size_t n, uint64_t sum);
uint16_t tsw_csum_fold(uint64_t sum); /* folded, not inverted */

/* Completes a NEEDS_CSUM frame's checksum in place. false if csum_start/offset are outside the frame. */
bool tsw_csum_complete(uint8_t *frame, size_t len, const tsw_vnet_hdr *h);

/*
 * Checksum-partial IPv4 TCP frames: the TCP checksum field holds only the folded pseudo-header sum (not
 * inverted), exactly what a NEEDS_CSUM frame with csum_start = 14 + IHL and csum_offset = 16 holds.
 * tsw_tcp4_partial_ok: the frame can be one (Ethernet + IPv4 without fragmentation + TCP, both headers
 * inside the frame, IP total length = the frame's rest); fills *csum_start. Anything else from a peer is
 * hostile: count it, drop it.
 * tsw_tcp4_complete: completes a frame tsw_tcp4_partial_ok accepted, in place.
 */
bool tsw_tcp4_partial_ok(const uint8_t *frame, size_t len, unsigned *csum_start);
void tsw_tcp4_complete(uint8_t *frame, size_t len);
/* The vnet header a checksum-partial frame (one tsw_tcp4_partial_ok accepted) is written to the TAP with. */
void tsw_vnet_partial_hdr(tsw_vnet_hdr *h, const uint8_t *frame);

/* Parsed IPv4/TCP superframe being segmented. */
typedef struct tsw_tso {
  const uint8_t *frame;
  size_t len, hdr_len, payload, mss, done; /* done = payload bytes already emitted */
  unsigned ihl, thl, seg;                  /* seg = segments emitted */
  bool partial; /* leave each segment's TCP checksum partial (pseudo-header only) */
} tsw_tso;

/* Validates a GSO superframe (IPv4 TCP, sane gso_size). false: not segmentable (count it, drop it).
 * partial: the segments keep a partial TCP checksum (tsw_tcp4_partial_ok holds for each). */
bool tsw_tso_begin(tsw_tso *t, const uint8_t *frame, size_t len, const tsw_vnet_hdr *h, bool partial);
/* Length of the next segment (0 when finished). */
size_t tsw_tso_next_len(const tsw_tso *t);
/* Writes the next segment to out (tsw_tso_next_len bytes) and advances. */
void tsw_tso_emit(tsw_tso *t, uint8_t *out);

/*
 * Plans the next write starting at frame i of the batch: returns how many frames (>= 1) go into it.
 * When more than one, fills *h, hdr (the merged headers, *hdr_len bytes, up to 120) and iov[0..] with the
 * payload pieces (iov_count = return value), ready for writev([h, hdr, iov...]). partial (may be NULL):
 * per frame, 1 = its TCP checksum is partial (already validated by tsw_tcp4_partial_ok; not verified).
 */
int tsw_gro_plan(uint8_t *const *frames, const int32_t *lens, const uint8_t *partial, int count, int i,
                 tsw_vnet_hdr *h, uint8_t *hdr, size_t *hdr_len, struct iovec *iov);

#endif
