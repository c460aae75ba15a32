// The data plane's allowed IPs: a hash table per prefix length, longest prefix first, as
// main/core/device.ts matches them (which peer a packet to the TUN may go to, and which peer an
// inner source address must belong to). Parsing of CIDRs for the addon.
#include "dp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dp_parse_cidr(const char *s, uint8_t *family, uint8_t *plen, uint8_t addr[16]) {
  char buf[64];
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n + 1);
  char *slash = strchr(buf, '/');
  long bits = -1;
  if (slash) {
    *slash = 0;
    char *end;
    errno = 0;
    bits = strtol(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1) return -1;
  }
  memset(addr, 0, 16);
  if (inet_pton(AF_INET, buf, addr) == 1) {
    *family = 4;
    if (bits < 0) bits = 32;
    if (bits > 32) return -1;
  } else if (inet_pton(AF_INET6, buf, addr) == 1) {
    *family = 6;
    if (bits < 0) bits = 128;
    if (bits > 128) return -1;
  } else {
    return -1;
  }
  *plen = (uint8_t)bits;
  return 0;
}

static void mask_addr(uint8_t out[16], const uint8_t *addr, int family, int plen) {
  int bytes = family == 4 ? 4 : 16;
  memset(out, 0, 16);
  for (int i = 0; i < bytes; i++) {
    int bits = plen - i * 8;
    if (bits >= 8) out[i] = addr[i];
    else if (bits > 0) out[i] = addr[i] & (uint8_t)(0xff << (8 - bits));
  }
}

static uint32_t route_hash(int family, int plen, const uint8_t a[16]) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)(family * 131 + plen);
  for (int i = 0; i < 16; i++) h = (h ^ a[i]) * 1099511628211ull;
  return (uint32_t)(h ^ (h >> 32));
}

static dp_route_t *route_find(const dp_routes_t *t, int family, int plen, const uint8_t a[16]) {
  if (!t->cap) return NULL;
  uint32_t m = t->cap - 1;
  for (uint32_t i = route_hash(family, plen, a) & m;; i = (i + 1) & m) {
    dp_route_t *r = &t->slots[i];
    if (!r->used) return r;
    if (r->family == family && r->plen == plen && memcmp(r->addr, a, 16) == 0) return r;
  }
}

static void routes_index_plens(dp_routes_t *t) {
  for (int f = 0; f < 2; f++) {
    t->nplens[f] = 0;
    for (int l = 128; l >= 0; l--)
      if (t->plen_count[f][l]) t->plens[f][t->nplens[f]++] = (uint8_t)l;
  }
}

static int routes_grow(dp_routes_t *t, uint32_t cap) {
  dp_route_t *old = t->slots;
  uint32_t old_cap = t->cap;
  t->slots = calloc(cap, sizeof *t->slots);
  if (!t->slots) {
    t->slots = old;
    return -1;
  }
  t->cap = cap;
  for (uint32_t i = 0; i < old_cap; i++)
    if (old[i].used) *route_find(t, old[i].family, old[i].plen, old[i].addr) = old[i];
  free(old);
  return 0;
}

int dp_routes_insert(dp_routes_t *t, uint8_t family, uint8_t plen, const uint8_t addr[16], dp_peer_t *p) {
  if ((t->count + 1) * 2 > t->cap && routes_grow(t, t->cap ? t->cap * 2 : 64) < 0) return -1;
  uint8_t a[16];
  mask_addr(a, addr, family, plen);
  dp_route_t *r = route_find(t, family, plen, a);
  if (!r->used) {
    r->used = 1;
    r->family = family;
    r->plen = plen;
    memcpy(r->addr, a, 16);
    t->count++;
    t->plen_count[family == 6][plen]++;
    routes_index_plens(t);
  }
  r->peer = p; // a prefix inserted for a new peer moves away from its old owner
  return 0;
}

void dp_routes_remove_peer(dp_routes_t *t, dp_peer_t *p) {
  uint32_t cap = t->cap;
  dp_route_t *old = t->slots;
  if (!cap) return;
  dp_route_t *fresh = calloc(cap, sizeof *fresh);
  if (!fresh) { // cannot rebuild: point the routes nowhere instead (lookups then miss)
    for (uint32_t i = 0; i < cap; i++)
      if (old[i].used && old[i].peer == p) old[i].peer = NULL;
    return;
  }
  t->slots = fresh;
  t->count = 0;
  memset(t->plen_count, 0, sizeof t->plen_count);
  for (uint32_t i = 0; i < cap; i++) {
    if (!old[i].used || old[i].peer == p) continue;
    dp_route_t *r = route_find(t, old[i].family, old[i].plen, old[i].addr);
    *r = old[i];
    t->count++;
    t->plen_count[r->family == 6][r->plen]++;
  }
  routes_index_plens(t);
  free(old);
}

dp_peer_t *dp_routes_lookup(const dp_routes_t *t, int family, const uint8_t *addr) {
  int f = family == 6;
  for (uint32_t i = 0; i < t->nplens[f]; i++) {
    uint8_t a[16];
    int plen = t->plens[f][i];
    mask_addr(a, addr, family, plen);
    dp_route_t *r = route_find(t, family, plen, a);
    if (r && r->used && r->peer) return r->peer;
  }
  return NULL;
}

void dp_routes_free(dp_routes_t *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}
