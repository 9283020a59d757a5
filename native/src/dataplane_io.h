/*
 * dataplane_io.h: the addon's internal, thread-safe building blocks (no napi calls): TAP reads and
 * writes, UDP batches, AES-256-GCM over one datagram. The JS bindings in tap.c/udp.c/aead.c and the
 * fast-path threads in fastpath.c both use them, so the two paths cannot drift apart.
 */
#ifndef TSWEAVE_DATAPLANE_IO_H
#define TSWEAVE_DATAPLANE_IO_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"

/* ---- TAP (tap.c). The fill functions follow reader.h's tsw_fill_fn contract. */
typedef struct tap_vnet_state tap_vnet_state;
int tsw_tap_fill(tsw_reader *r, bool *more, int *fatal);
int tsw_tap_fill_vnet(tsw_reader *r, bool *more, int *fatal); /* kind_state: tsw_tap_vnet_state_new() */
tap_vnet_state *tsw_tap_vnet_state_new(void);
/* Writes frames (vnet: coalescing same-flow TCP runs into GSO writes). partial (may be NULL): per frame,
 * 1 = a checksum-partial IPv4 TCP frame (offload.h tsw_tcp4_partial_ok held), written with NEEDS_CSUM
 * (vnet) or completed in place first (no vnet). stats: [written, dropped, errors, lastErrno]; gro_stats:
 * [gso writes, frames in them]; either may be NULL. Returns written. */
int tsw_tap_write_batch(int fd, uint8_t *const *frames, const int32_t *lens, const uint8_t *partial, int count,
                        bool vnet, double *stats, double *gro_stats);

/* ---- UDP (udp.c) */
typedef struct udp_state udp_state;
int tsw_udp_fill(tsw_reader *r, bool *more, int *fatal); /* kind_state: tsw_udp_state_new() */
/* recvmmsg state for `slots` slots of `stride` bytes in slab; gro: the socket has UDP_GRO on. */
udp_state *tsw_udp_state_new(uint8_t *slab, size_t stride, size_t slots, bool gro);
/* Turns UDP_GRO on; true if the kernel accepted. */
bool tsw_udp_enable_gro(int fd);
/* sendmmsg with UDP GSO runs (udp.c's header comment). stats as for TAP. Returns datagrams sent. */
int tsw_udp_send_datagrams(int fd, uint8_t *buf, const int32_t *offs, const int32_t *lens, int64_t count,
                           const uint32_t *addrs, const uint16_t *ports, double *stats);

/* ---- AES-256-GCM over one datagram laid out as in aead.c (header = AAD, tag after the body). */
EVP_CIPHER_CTX *tsw_gcm_new(const uint8_t *key, bool for_seal);
/* Seals p[0, len) in place and writes the 16-byte tag at p + len. */
bool tsw_gcm_seal(EVP_CIPHER_CTX *ctx, const uint8_t *salt, uint8_t *p, size_t len);
/* Opens p[0, len) (tag included) in place; on failure zeroes the body and tag (if len >= 30). */
bool tsw_gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t *salt, uint8_t *p, size_t len);

#endif
