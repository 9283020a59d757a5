/*
 * mactable.h: the fast path's copy of "which peer is each MAC behind" (src/dataplane/mac-cache.ts is
 * the reference). Written only by the JS thread (learn/forget, under the fast path's write lock), read
 * by the I/O threads under the read lock; they refresh seen_at with atomic stores, so traffic they
 * carry keeps an entry alive exactly as learning it again would.
 *
 * Open addressing with linear probing, power-of-two capacity, at most half full, backward-shift
 * deletion (no tombstones). Capacity is bounded: a flood of random MACs cannot grow it past max_entries.
 */
#ifndef TSWEAVE_MACTABLE_H
#define TSWEAVE_MACTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsw_mac_slot {
  uint64_t mac; /* 48-bit MAC + 1 (0 = empty slot) */
  uint64_t peer;
  int64_t seen_ms; /* CLOCK_MONOTONIC ms; atomic */
} tsw_mac_slot;

typedef struct tsw_mactable {
  tsw_mac_slot *slots;
  size_t cap, count, max_entries;
  int64_t max_age_ms;
} tsw_mactable;

bool tsw_mactable_init(tsw_mactable *t, size_t max_entries, int64_t max_age_ms);
void tsw_mactable_free(tsw_mactable *t);
int64_t tsw_now_ms(void);
/* Records mac -> peer, seen now. false if the table is full (the frame stays on the slow path). */
bool tsw_mactable_learn(tsw_mactable *t, uint64_t mac, uint64_t peer, int64_t now);
/* The live slot for mac (not expired), or NULL. */
tsw_mac_slot *tsw_mactable_find(tsw_mactable *t, uint64_t mac, int64_t now);
static inline void tsw_mactable_touch(tsw_mac_slot *s, int64_t now) {
  __atomic_store_n(&s->seen_ms, now, __ATOMIC_RELAXED);
}

#endif
