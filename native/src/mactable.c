/* mactable.c: the fast path's MAC → peer table: init, learn, find, free (contract in mactable.h). */
#include "mactable.h"

#include <stdlib.h>
#include <time.h>

#define MIN_CAP 1024

int64_t tsw_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline size_t home(const tsw_mactable *t, uint64_t key) {
  uint64_t h = key * 0x9E3779B97F4A7C15ULL; /* Fibonacci hashing spreads sequential MACs */
  return (size_t)(h >> 32) & (t->cap - 1);
}

bool tsw_mactable_init(tsw_mactable *t, size_t max_entries, int64_t max_age_ms) {
  t->cap = MIN_CAP;
  t->count = 0;
  t->max_entries = max_entries;
  t->max_age_ms = max_age_ms;
  t->slots = calloc(t->cap, sizeof *t->slots);
  return t->slots != NULL;
}

void tsw_mactable_free(tsw_mactable *t) {
  free(t->slots);
  t->slots = NULL;
  t->cap = t->count = 0;
}

static tsw_mac_slot *probe(const tsw_mactable *t, uint64_t key) {
  for (size_t i = home(t, key);; i = (i + 1) & (t->cap - 1)) {
    tsw_mac_slot *s = &t->slots[i];
    if (s->mac == key || s->mac == 0) return s;
  }
}

static bool grow(tsw_mactable *t) {
  tsw_mac_slot *old = t->slots;
  size_t old_cap = t->cap;
  tsw_mac_slot *slots = calloc(old_cap * 2, sizeof *slots);
  if (!slots) return false;
  t->slots = slots;
  t->cap = old_cap * 2;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].mac) *probe(t, old[i].mac) = old[i];
  free(old);
  return true;
}

static void remove_slot(tsw_mactable *t, size_t i) {
  /* Backward-shift: move later members of the probe run into the hole so lookups never stop early. */
  size_t mask = t->cap - 1;
  for (size_t j = (i + 1) & mask; t->slots[j].mac; j = (j + 1) & mask) {
    size_t h = home(t, t->slots[j].mac);
    bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
    if (movable) {
      t->slots[i] = t->slots[j];
      i = j;
    }
  }
  t->slots[i].mac = 0;
  t->count--;
}

static void expire_all(tsw_mactable *t, int64_t now) {
  for (size_t i = 0; i < t->cap;) {
    tsw_mac_slot *s = &t->slots[i];
    if (s->mac && now - __atomic_load_n(&s->seen_ms, __ATOMIC_RELAXED) > t->max_age_ms) remove_slot(t, i);
    else i++;
  }
}

bool tsw_mactable_learn(tsw_mactable *t, uint64_t mac, uint64_t peer, int64_t now) {
  uint64_t key = mac + 1;
  tsw_mac_slot *s = probe(t, key);
  if (s->mac == 0) {
    if (t->count >= t->max_entries) expire_all(t, now);
    if (t->count >= t->max_entries) return false;
    if ((t->count + 1) * 2 > t->cap) {
      if (!grow(t)) return false;
    }
    s = probe(t, key);
    s->mac = key;
    t->count++;
  }
  s->peer = peer;
  tsw_mactable_touch(s, now);
  return true;
}

tsw_mac_slot *tsw_mactable_find(tsw_mactable *t, uint64_t mac, int64_t now) {
  tsw_mac_slot *s = probe(t, mac + 1);
  if (s->mac == 0) return NULL;
  if (now - __atomic_load_n(&s->seen_ms, __ATOMIC_RELAXED) > t->max_age_ms) return NULL;
  return s;
}
