/* offload.c: software TSO/GRO for the vnet TAP (see offload.h). */
#include "offload.h"

#include <arpa/inet.h>
#include <string.h>

#define ETH 14
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* The sums are static inline here: the exported names are interposable in a shared object (-fPIC), so
 * calls to them from this file would go through the PLT and never be inlined (one call per header). */
static inline uint64_t csum_add(const uint8_t *p, size_t n, uint64_t sum) {
  while (n >= 32) {
    uint64_t a, b, c, d;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    memcpy(&c, p + 16, 8);
    memcpy(&d, p + 24, 8);
    sum += (a & 0xffffffff) + (a >> 32) + (b & 0xffffffff) + (b >> 32) + (c & 0xffffffff) + (c >> 32) +
           (d & 0xffffffff) + (d >> 32);
    p += 32;
    n -= 32;
  }
  while (n >= 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    sum += v;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    sum += v;
    p += 2;
    n -= 2;
  }
  if (n) {
    uint8_t last[2] = {p[0], 0};
    uint16_t v;
    memcpy(&v, last, 2);
    sum += v;
  }
  return sum;
}

static inline uint16_t csum_fold(uint64_t sum) {
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

uint64_t tsw_csum_add(const uint8_t *p, size_t n, uint64_t sum) { return csum_add(p, n, sum); }
uint16_t tsw_csum_fold(uint64_t sum) { return csum_fold(sum); }

static inline void store_csum(uint8_t *p, uint16_t native_folded_inverted) { memcpy(p, &native_folded_inverted, 2); }

/* Pseudo-header sum for IPv4 TCP with the given L4 length (native order). */
static uint64_t pseudo4(const uint8_t *ip, unsigned l4len) {
  uint64_t s = csum_add(ip + 12, 8, 0);
  s += htons(6);
  s += htons((uint16_t)l4len);
  return s;
}

bool tsw_csum_complete(uint8_t *frame, size_t len, const tsw_vnet_hdr *h) {
  size_t start = h->csum_start, off = h->csum_offset;
  if (start >= len || start + off + 2 > len) return false;
  uint16_t c = (uint16_t)~csum_fold(csum_add(frame + start, len - start, 0));
  store_csum(frame + start + off, c);
  return true;
}

bool tsw_tcp4_partial_ok(const uint8_t *f, size_t len, unsigned *csum_start) {
  if (len < ETH + 40 || len > 65535 + ETH || be16(f + 12) != 0x0800) return false;
  const uint8_t *ip = f + ETH;
  unsigned ihl = (ip[0] & 15u) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 6 || (be16(ip + 6) & 0x3fff) != 0) return false;
  if (be16(ip + 2) != len - ETH || len < ETH + ihl + 20) return false;
  unsigned thl = (unsigned)(ip[ihl + 12] >> 4) * 4;
  if (thl < 20 || len < ETH + ihl + thl) return false;
  *csum_start = ETH + ihl;
  return true;
}

void tsw_vnet_partial_hdr(tsw_vnet_hdr *h, const uint8_t *f) {
  memset(h, 0, sizeof *h);
  h->flags = TSW_VNET_F_NEEDS_CSUM;
  h->csum_start = (uint16_t)(ETH + (f[ETH] & 15u) * 4); /* the TCP header: after Ethernet and IPv4 */
  h->csum_offset = 16;
}

void tsw_tcp4_complete(uint8_t *f, size_t len) {
  tsw_vnet_hdr h;
  tsw_vnet_partial_hdr(&h, f);
  tsw_csum_complete(f, len, &h); /* inside the frame: tsw_tcp4_partial_ok checked it */
}

bool tsw_tso_begin(tsw_tso *t, const uint8_t *f, size_t len, const tsw_vnet_hdr *h, bool partial) {
  if ((h->gso_type & 0x7f) != TSW_VNET_GSO_TCPV4 || len < ETH + 20 + 20 || be16(f + 12) != 0x0800) return false;
  const uint8_t *ip = f + ETH;
  unsigned ihl = (ip[0] & 15u) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 6 || len < ETH + ihl + 20) return false;
  const uint8_t *tcp = ip + ihl;
  unsigned thl = (unsigned)(tcp[12] >> 4) * 4;
  if (thl < 20 || len < ETH + ihl + thl) return false;
  size_t hl = ETH + ihl + thl;
  if (h->gso_size == 0) return false;
  t->frame = f;
  t->len = len;
  t->hdr_len = hl;
  t->payload = len - hl;
  t->mss = h->gso_size;
  t->done = 0;
  t->ihl = ihl;
  t->thl = thl;
  t->seg = 0;
  t->partial = partial;
  return true;
}

size_t tsw_tso_next_len(const tsw_tso *t) {
  if (t->done >= t->payload) return 0;
  size_t n = t->payload - t->done;
  return t->hdr_len + (n < t->mss ? n : t->mss);
}

void tsw_tso_emit(tsw_tso *t, uint8_t *out) {
  size_t n = t->payload - t->done;
  if (n > t->mss) n = t->mss;
  bool last = t->done + n >= t->payload;
  memcpy(out, t->frame, t->hdr_len);
  memcpy(out + t->hdr_len, t->frame + t->hdr_len + t->done, n);
  uint8_t *ip = out + ETH, *tcp = ip + t->ihl;
  put_be16(ip + 2, (uint16_t)(t->ihl + t->thl + n));
  put_be16(ip + 4, (uint16_t)(be16(t->frame + ETH + 4) + t->seg));
  ip[10] = ip[11] = 0;
  store_csum(ip + 10, (uint16_t)~csum_fold(csum_add(ip, t->ihl, 0)));
  put_be32(tcp + 4, be32(t->frame + ETH + t->ihl + 4) + (uint32_t)t->done);
  if (!last) tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
  if (t->seg > 0) tcp[13] &= (uint8_t)~TCP_CWR;
  tcp[16] = tcp[17] = 0;
  uint64_t s = pseudo4(ip, (unsigned)(t->thl + n));
  if (t->partial) {
    uint16_t ps = csum_fold(s); /* as NEEDS_CSUM leaves it: the payload is never summed here */
    memcpy(tcp + 16, &ps, 2);
  } else {
    s = csum_add(tcp, t->thl + n, s);
    store_csum(tcp + 16, (uint16_t)~csum_fold(s));
  }
  t->done += n;
  t->seg++;
}

/* A frame that may start or join a coalesced write: IPv4 TCP with payload, ACK (+PSH) only, no IP
 * fragmentation, no Ethernet padding, valid IP and TCP checksums (the TCP one not verified when the frame
 * came checksum-partial through the authenticated tunnel). Fills header lengths and payload. */
typedef struct seg_info {
  unsigned ihl, thl;
  size_t hl, pay;
  uint8_t flags;
} seg_info;

static bool gro_candidate(const uint8_t *f, size_t len, bool partial, seg_info *s) {
  if (len < ETH + 40 || be16(f + 12) != 0x0800) return false;
  const uint8_t *ip = f + ETH;
  unsigned ihl = (ip[0] & 15u) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 6 || (be16(ip + 6) & 0x3fff) != 0) return false;
  if (be16(ip + 2) != len - ETH || len < ETH + ihl + 20) return false;
  const uint8_t *tcp = ip + ihl;
  unsigned thl = (unsigned)(tcp[12] >> 4) * 4;
  if (thl < 20 || len <= ETH + ihl + thl) return false;
  uint8_t fl = tcp[13];
  if ((fl & ~TCP_PSH) != TCP_ACK) return false;
  if (csum_fold(csum_add(ip, ihl, 0)) != 0xffff) return false;
  if (!partial) {
    uint64_t sum = csum_add(tcp, len - ETH - ihl, pseudo4(ip, (unsigned)(len - ETH - ihl)));
    if (csum_fold(sum) != 0xffff) return false;
  }
  s->ihl = ihl;
  s->thl = thl;
  s->hl = ETH + ihl + thl;
  s->pay = len - s->hl;
  s->flags = fl;
  return true;
}

int tsw_gro_plan(uint8_t *const *frames, const int32_t *lens, const uint8_t *partial, int count, int i,
                 tsw_vnet_hdr *h, uint8_t *hdr, size_t *hdr_len, struct iovec *iov) {
  seg_info a, b;
  const uint8_t *f0 = frames[i];
  if (i + 1 >= count || !gro_candidate(f0, (size_t)lens[i], partial && partial[i], &a) || (a.flags & TCP_PSH) ||
      a.hl > 120)
    return 1;
  const uint8_t *ip0 = f0 + ETH, *tcp0 = ip0 + a.ihl;
  size_t mss = a.pay, total = a.pay;
  uint32_t next_seq = be32(tcp0 + 4) + (uint32_t)a.pay;
  int n = 1;
  uint8_t last_flags = a.flags;
  while (i + n < count && n < TSW_GRO_MAX_SEGS) {
    const uint8_t *f = frames[i + n];
    size_t len = (size_t)lens[i + n];
    if (!gro_candidate(f, len, partial && partial[i + n], &b) || b.hl != a.hl || b.pay > mss) break;
    const uint8_t *ip = f + ETH, *tcp = ip + b.ihl;
    /* Same Ethernet header, same IP header except total length, id and checksum, same TCP header
     * except sequence number, PSH and checksum. */
    if (memcmp(f, f0, ETH) != 0 || memcmp(ip, ip0, 2) != 0 || memcmp(ip + 6, ip0 + 6, 4) != 0 ||
        memcmp(ip + 12, ip0 + 12, a.ihl - 12) != 0 || memcmp(tcp, tcp0, 4) != 0 ||
        memcmp(tcp + 8, tcp0 + 8, 5) != 0 || memcmp(tcp + 14, tcp0 + 14, 2) != 0 ||
        memcmp(tcp + 18, tcp0 + 18, a.thl - 18) != 0 || be32(tcp + 4) != next_seq)
      break;
    if (total + b.pay + a.ihl + a.thl > 65535) break;
    total += b.pay;
    next_seq += (uint32_t)b.pay;
    last_flags = b.flags;
    n++;
    if (b.pay < mss || (b.flags & TCP_PSH)) break; /* a short or pushed segment ends the run */
  }
  if (n == 1) return 1;
  memcpy(hdr, f0, a.hl);
  uint8_t *ip = hdr + ETH, *tcp = ip + a.ihl;
  put_be16(ip + 2, (uint16_t)(a.ihl + a.thl + total));
  ip[10] = ip[11] = 0;
  store_csum(ip + 10, (uint16_t)~csum_fold(csum_add(ip, a.ihl, 0)));
  tcp[13] = last_flags;
  tcp[16] = tcp[17] = 0;
  uint16_t ps = csum_fold(pseudo4(ip, (unsigned)(a.thl + total))); /* partial: pseudo-header only */
  memcpy(tcp + 16, &ps, 2);
  memset(h, 0, sizeof *h);
  h->flags = TSW_VNET_F_NEEDS_CSUM;
  h->gso_type = TSW_VNET_GSO_TCPV4;
  h->hdr_len = (uint16_t)a.hl;
  h->gso_size = (uint16_t)mss;
  h->csum_start = (uint16_t)(ETH + a.ihl);
  h->csum_offset = 16;
  *hdr_len = a.hl;
  for (int k = 0; k < n; k++) {
    iov[k].iov_base = (void *)(frames[i + k] + a.hl);
    iov[k].iov_len = (size_t)lens[i + k] - a.hl;
  }
  return n;
}
