// The data plane's state and per-packet paths: replay window, sessions, encapsulation and
// decapsulation of WireGuard transport messages (the allowed IPs are in routes.c). Semantics follow
// main/core/device.ts (handleTunPacket/sendTransport, handleTransport) so both produce the same bytes
// and drops.
#include "dp.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const dp_counter_names[DPC_COUNT] = {
#define DP_NAME(n) #n,
    DP_COUNTERS(DP_NAME)
#undef DP_NAME
};

int64_t dp_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// ---------------------------------------------------------------- replay window

void dp_replay_reset(dp_replay_t *r) {
  memset(r->ring, 0, sizeof r->ring);
  r->last = -1;
}

int dp_replay_check(const dp_replay_t *r, uint64_t counter) {
  if (counter > (uint64_t)INT64_MAX) return 0;
  int64_t c = (int64_t)counter;
  if (c > r->last) return 1;
  if (r->last - c >= DP_REPLAY_WINDOW) return 0;
  uint32_t word = (uint32_t)((counter / 32) % DP_REPLAY_WORDS);
  return (r->ring[word] & (1u << (counter % 32))) == 0;
}

int dp_replay_accept(dp_replay_t *r, uint64_t counter) {
  if (!dp_replay_check(r, counter)) return 0;
  int64_t index = (int64_t)(counter / 32);
  if ((int64_t)counter > r->last) {
    int64_t last_index = r->last < 0 ? -1 : r->last / 32;
    int64_t steps = index - last_index;
    if (steps > DP_REPLAY_WORDS) steps = DP_REPLAY_WORDS;
    for (int64_t i = 1; i <= steps; i++) r->ring[(last_index + i) % DP_REPLAY_WORDS] = 0;
    r->last = (int64_t)counter;
  }
  r->ring[index % DP_REPLAY_WORDS] |= 1u << (counter % 32);
  return 1;
}

static dp_peer_t *lookup_packet(dp_t *dp, const uint8_t *pkt, int source) {
  int v = pkt[0] >> 4;
  if (v == 4) return dp_routes_lookup(&dp->routes, 4, pkt + (source ? 12 : 16));
  if (v == 6) return dp_routes_lookup(&dp->routes, 6, pkt + (source ? 8 : 24));
  return NULL;
}

// ---------------------------------------------------------------- sessions and peers

dp_t *dp_new(const dp_limits_t *lim) {
  if (sodium_init() < 0) return NULL;
  dp_t *dp = calloc(1, sizeof *dp);
  if (!dp) return NULL;
  dp->lim = *lim;
  dp->tun_fd = dp->udp_fd = dp->stop_fd = dp->inject_fd = -1;
  dp->sess_cap = 64;
  dp->sessions = calloc(dp->sess_cap, sizeof *dp->sessions);
  dp->js_rx.slots = calloc(DP_JS_RING, sizeof(dp_js_slot_t));
  dp->js_tx.slots = calloc(DP_JS_RING, sizeof(dp_js_slot_t));
  dp->inject.slots = calloc(DP_JS_RING, sizeof(dp_js_slot_t));
  // Writers first: the two loop threads take read locks back to back, and with glibc's default
  // (readers first) a configuration call from JS could wait as long as traffic flows.
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int lock_err = pthread_rwlock_init(&dp->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (!dp->sessions || !dp->js_rx.slots || !dp->js_tx.slots || !dp->inject.slots || lock_err) {
    free(dp->inject.slots);
    free(dp->sessions);
    free(dp->js_rx.slots);
    free(dp->js_tx.slots);
    free(dp);
    return NULL;
  }
  return dp;
}

static void session_destroy(dp_session_t *s) {
  sodium_memzero(s, sizeof *s);
  free(s);
}

void dp_free(dp_t *dp) {
  for (uint32_t i = 0; i < dp->sess_cap; i++)
    if (dp->sessions[i]) session_destroy(dp->sessions[i]);
  for (dp_peer_t *p = dp->peers, *n; p; p = n) {
    n = p->next_in_list;
    free(p);
  }
  dp_routes_free(&dp->routes);
  free(dp->sessions);
  free(dp->js_rx.slots);
  free(dp->js_tx.slots);
  free(dp->inject.slots);
  pthread_rwlock_destroy(&dp->lock);
  free(dp);
}

static uint32_t sess_slot(const dp_t *dp, uint32_t index) {
  return (index * 2654435761u) & (dp->sess_cap - 1);
}

dp_session_t *dp_session_find(dp_t *dp, uint32_t index) {
  uint32_t m = dp->sess_cap - 1;
  for (uint32_t i = sess_slot(dp, index);; i = (i + 1) & m) {
    dp_session_t *s = dp->sessions[i];
    if (!s) return NULL;
    if (s->local_index == index) return s;
  }
}

static void sess_put(dp_t *dp, dp_session_t *s) {
  uint32_t m = dp->sess_cap - 1;
  uint32_t i = sess_slot(dp, s->local_index);
  while (dp->sessions[i]) i = (i + 1) & m;
  dp->sessions[i] = s;
}

/** Remove from the table by backward-shift deletion (linear probing, no tombstones). */
static void sess_del(dp_t *dp, uint32_t index) {
  uint32_t m = dp->sess_cap - 1;
  uint32_t i = sess_slot(dp, index);
  while (dp->sessions[i] && dp->sessions[i]->local_index != index) i = (i + 1) & m;
  if (!dp->sessions[i]) return;
  dp->sessions[i] = NULL;
  dp->sess_count--;
  for (uint32_t j = (i + 1) & m; dp->sessions[j]; j = (j + 1) & m) {
    dp_session_t *s = dp->sessions[j];
    dp->sessions[j] = NULL;
    sess_put(dp, s);
  }
}

static int sess_grow(dp_t *dp) {
  uint32_t old_cap = dp->sess_cap;
  dp_session_t **old = dp->sessions;
  dp_session_t **fresh = calloc(old_cap * 2, sizeof *fresh);
  if (!fresh) return -1;
  dp->sessions = fresh;
  dp->sess_cap = old_cap * 2;
  for (uint32_t i = 0; i < old_cap; i++)
    if (old[i]) sess_put(dp, old[i]);
  free(old);
  return 0;
}

dp_peer_t *dp_peer_get(dp_t *dp, uint32_t id, int create) {
  for (dp_peer_t *p = dp->peers; p; p = p->next_in_list)
    if (p->id == id) return p;
  if (!create) return NULL;
  dp_peer_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->id = id;
  p->next_in_list = dp->peers;
  dp->peers = p;
  return p;
}

/** Unlink sessions of a peer from its send slots (caller holds the write lock). */
static void peer_forget_session(dp_peer_t *p, dp_session_t *s) {
  if (atomic_load(&p->current) == s) atomic_store(&p->current, NULL);
  if (atomic_load(&p->next) == s) atomic_store(&p->next, NULL);
}

int dp_peer_remove(dp_t *dp, uint32_t id) {
  pthread_rwlock_wrlock(&dp->lock);
  dp_peer_t **pp = &dp->peers;
  while (*pp && (*pp)->id != id) pp = &(*pp)->next_in_list;
  dp_peer_t *p = *pp;
  if (!p) {
    pthread_rwlock_unlock(&dp->lock);
    return -1;
  }
  *pp = p->next_in_list;
  for (uint32_t i = 0; i < dp->sess_cap;) {
    dp_session_t *s = dp->sessions[i];
    if (s && s->peer == p) {
      sess_del(dp, s->local_index); // shifts later entries into i: look at i again
      session_destroy(s);
    } else {
      i++;
    }
  }
  dp_routes_remove_peer(&dp->routes, p);
  pthread_rwlock_unlock(&dp->lock);
  free(p);
  return 0;
}

void dp_peer_set_endpoint(dp_peer_t *p, const dp_addr_t *a) {
  atomic_fetch_add_explicit(&p->ep_seq, 1, memory_order_acq_rel); // odd: writing
  atomic_thread_fence(memory_order_release);
  memcpy(&p->ep, a, sizeof *a);
  atomic_thread_fence(memory_order_release);
  atomic_fetch_add_explicit(&p->ep_seq, 1, memory_order_release);
}

void dp_peer_get_endpoint(dp_peer_t *p, dp_addr_t *out) {
  for (;;) {
    unsigned s1 = atomic_load_explicit(&p->ep_seq, memory_order_acquire);
    if (s1 & 1) continue;
    memcpy(out, &p->ep, sizeof *out);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&p->ep_seq, memory_order_relaxed) == s1) return;
  }
}

int dp_session_set(dp_t *dp, uint32_t peer_id, const dp_session_t *tmpl, int slot) {
  dp_session_t *s = malloc(sizeof *s);
  if (!s) return -ENOMEM;
  memcpy(s, tmpl, sizeof *s);
  dp_replay_reset(&s->replay);
  atomic_store(&s->rekey_raised, 0);
  pthread_rwlock_wrlock(&dp->lock);
  dp_peer_t *p = dp_peer_get(dp, peer_id, 0);
  int err = 0;
  if (!p) err = -ENOENT;
  else if (dp_session_find(dp, s->local_index)) err = -EEXIST;
  else if ((dp->sess_count + 1) * 2 > dp->sess_cap && sess_grow(dp) < 0) err = -ENOMEM;
  if (err) {
    pthread_rwlock_unlock(&dp->lock);
    session_destroy(s);
    return err;
  }
  s->peer = p;
  sess_put(dp, s);
  dp->sess_count++;
  if (slot == DP_SLOT_CURRENT) atomic_store(&p->current, s);
  else if (slot == DP_SLOT_NEXT) atomic_store(&p->next, s);
  pthread_rwlock_unlock(&dp->lock);
  return 0;
}

int dp_session_remove(dp_t *dp, uint32_t index) {
  pthread_rwlock_wrlock(&dp->lock);
  dp_session_t *s = dp_session_find(dp, index);
  if (s) {
    peer_forget_session(s->peer, s);
    sess_del(dp, index);
  }
  pthread_rwlock_unlock(&dp->lock);
  if (!s) return -1;
  session_destroy(s); // no thread holds it: they only use sessions under the read lock
  return 0;
}

// ---------------------------------------------------------------- events and the queue to JS

void dp_notify(dp_t *dp) {
  if (dp->notify && !atomic_exchange(&dp->notify_pending, 1)) dp->notify(dp);
}

void dp_raise(dp_t *dp, dp_peer_t *p, unsigned ev) {
  if ((atomic_load_explicit(&p->events, memory_order_relaxed) & ev) == ev) return;
  atomic_fetch_or(&p->events, ev);
  // Bits JS must act on now wake it at once. The traffic bits (DP_EV_ROUTINE, for its timers) wake
  // nothing: JS collects them at its tick (poll), so no packet pays for waking the event loop and no
  // thread wakes on a timer to deliver them (docs/performance.md, "Latency").
  if ((ev & ~DP_EV_ROUTINE) || !dp->threads_started) dp_notify(dp);
}

int dp_ring_push(dp_js_ring_t *r, int kind, int reason, uint32_t peer, const dp_addr_t *from,
                 const uint8_t *data, uint32_t len) {
  if (len > DP_JS_SLOT_DATA) return -2;
  uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  if (head - tail >= DP_JS_RING) return -1;
  dp_js_slot_t *s = &r->slots[head % DP_JS_RING];
  s->kind = (uint8_t)kind;
  s->reason = (uint8_t)reason;
  s->len = (uint16_t)len;
  s->peer = peer;
  if (from) s->from = *from;
  else memset(&s->from, 0, sizeof s->from);
  if (len) memcpy(s->data, data, len);
  atomic_store_explicit(&r->head, head + 1, memory_order_release);
  return 0;
}

int dp_js_push(dp_t *dp, dp_js_ring_t *r, int kind, int reason, uint32_t peer, const dp_addr_t *from,
               const uint8_t *data, uint32_t len) {
  int e = dp_ring_push(r, kind, reason, peer, from, data, len);
  if (e < 0) {
    dp_count(dp, e == -2 ? DPC_jsTooBig : DPC_jsQueueFull, 1);
    return -1;
  }
  dp_notify(dp);
  return 0;
}

// ---------------------------------------------------------------- packets

int dp_ip_packet_length(const uint8_t *p, uint32_t avail) {
  if (avail < 1) return -1;
  int v = p[0] >> 4;
  if (v == 4) {
    if (avail < 20) return -1;
    uint32_t len = (uint32_t)p[2] << 8 | p[3];
    return len >= 20 && len <= avail ? (int)len : -1;
  }
  if (v == 6) {
    if (avail < 40) return -1;
    uint32_t len = 40 + ((uint32_t)p[4] << 8 | p[5]);
    return len <= avail ? (int)len : -1;
  }
  return -1;
}

static inline void put32le(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get32le(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline void make_nonce(uint8_t nonce[12], uint64_t counter) {
  memset(nonce, 0, 4);
  put32le(nonce + 4, (uint32_t)counter);
  put32le(nonce + 8, (uint32_t)(counter >> 32));
}

static int session_can_send(const dp_t *dp, dp_session_t *s, int64_t now) {
  return atomic_load_explicit(&s->send_counter, memory_order_relaxed) < dp->lim.reject_after_messages &&
         now - s->created_ms < dp->lim.reject_after_time_ms;
}

/** Seal buf[DP_HEADER, DP_HEADER+len) for session s (padding as device.ts sendTransport). */
static int seal(dp_t *dp, dp_peer_t *p, dp_session_t *s, uint8_t *buf, uint32_t len, int64_t now) {
  uint64_t counter = atomic_fetch_add_explicit(&s->send_counter, 1, memory_order_relaxed);
  if (counter >= dp->lim.reject_after_messages) return -DPC_txNoSession; // raced past the limit
  uint32_t padded = len;
  if (len > 0) {
    padded = (len + 15) & ~15u;
    if (padded > dp->lim.mtu) padded = len > dp->lim.mtu ? len : dp->lim.mtu;
  }
  if (padded > len) memset(buf + DP_HEADER + len, 0, padded - len);
  buf[0] = 4;
  buf[1] = buf[2] = buf[3] = 0;
  put32le(buf + 4, s->remote_index);
  put32le(buf + 8, (uint32_t)counter);
  put32le(buf + 12, (uint32_t)(counter >> 32));
  uint8_t nonce[12];
  make_nonce(nonce, counter);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf + DP_HEADER, buf + DP_HEADER + padded, NULL,
                                                     buf + DP_HEADER, padded, NULL, 0, NULL, nonce,
                                                     s->send_key);
  uint32_t total = DP_OVERHEAD + padded;
  atomic_fetch_add_explicit(&p->tx_bytes, total, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->tx_packets, 1, memory_order_relaxed);
  dp_count(dp, DPC_txPackets, 1);
  dp_count(dp, DPC_txBytes, total);
  unsigned ev = DP_EV_AUTH_SENT | (len > 0 ? DP_EV_DATA_SENT : 0);
  // keepKeyFreshSending: by message count (both sides) or by age (initiator).
  if ((counter + 1 > dp->lim.rekey_after_messages ||
       (s->is_initiator && now - s->created_ms > dp->lim.rekey_after_time_ms)) &&
      !atomic_exchange(&s->rekey_raised, 1)) {
    dp_count(dp, DPC_sessionsRekey, 1);
    ev |= DP_EV_REKEY;
  }
  dp_raise(dp, p, ev);
  return (int)total;
}

int dp_encrypt(dp_t *dp, uint8_t *buf, uint32_t len, int64_t now, dp_peer_t **peer, dp_addr_t *to, int need_ep) {
  *peer = NULL;
  const uint8_t *pkt = buf + DP_HEADER;
  if (len < 20 || ((pkt[0] >> 4) != 4 && (pkt[0] >> 4) != 6)) return -DPC_txShort;
  if (len > DP_MAX_PACKET) return -DPC_txTooBig;
  dp_peer_t *p = lookup_packet(dp, pkt, 0);
  if (!p) return -DPC_txNoRoute;
  *peer = p;
  dp_session_t *s = atomic_load_explicit(&p->current, memory_order_acquire);
  dp_peer_get_endpoint(p, to);
  if (!s || (need_ep && !to->len)) return -DPC_txNoSession;
  if (!session_can_send(dp, s, now)) {
    dp_raise(dp, p, DP_EV_LIMIT);
    return -DPC_txNoSession;
  }
  return seal(dp, p, s, buf, len, now);
}

int dp_encrypt_keepalive(dp_t *dp, dp_peer_t *p, uint8_t *buf, int64_t now, dp_addr_t *to, int need_ep) {
  dp_session_t *s = atomic_load_explicit(&p->current, memory_order_acquire);
  dp_peer_get_endpoint(p, to);
  if (!s || (need_ep && !to->len)) return -DPC_txNoSession;
  if (!session_can_send(dp, s, now)) return -DPC_txNoSession;
  return seal(dp, p, s, buf, 0, now);
}

static int same_addr(const dp_addr_t *a, const dp_addr_t *b) {
  if (a->len != b->len || a->sa.sa_family != b->sa.sa_family) return 0;
  if (a->sa.sa_family == AF_INET)
    return a->in4.sin_port == b->in4.sin_port && a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
  if (a->sa.sa_family == AF_INET6)
    return a->in6.sin6_port == b->in6.sin6_port &&
           memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
  return 0;
}

int dp_decrypt(dp_t *dp, uint8_t *buf, uint32_t len, const dp_addr_t *from, int64_t now, uint32_t *out_len,
               int *reason) {
  if (len < DP_OVERHEAD || buf[0] != 4 || buf[1] || buf[2] || buf[3]) {
    *reason = DPC_rxNotTransport;
    return DP_RX_JS;
  }
  dp_session_t *s = dp_session_find(dp, get32le(buf + 4));
  if (!s) {
    *reason = DPC_rxUnknownIndex;
    return DP_RX_JS;
  }
  uint64_t counter = (uint64_t)get32le(buf + 8) | (uint64_t)get32le(buf + 12) << 32;
  if (counter >= dp->lim.reject_after_messages) {
    *reason = DPC_rxCounterLimit;
    return DP_RX_DROP;
  }
  if (now - s->created_ms >= dp->lim.reject_after_time_ms) {
    *reason = DPC_rxExpired;
    return DP_RX_DROP;
  }
  if (!dp_replay_check(&s->replay, counter)) {
    *reason = DPC_rxReplayed;
    return DP_RX_DROP;
  }
  uint32_t ct = len - DP_OVERHEAD;
  uint8_t nonce[12];
  make_nonce(nonce, counter);
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf + DP_HEADER, NULL, buf + DP_HEADER, ct,
                                                         buf + DP_HEADER + ct, NULL, 0, nonce,
                                                         s->recv_key) != 0) {
    *reason = DPC_rxBadTag;
    return DP_RX_DROP;
  }
  int64_t highest = s->replay.last;
  if (!dp_replay_accept(&s->replay, counter)) {
    *reason = DPC_rxReplayed;
    return DP_RX_DROP;
  }
  // Counters the sender skipped are datagrams lost on the way (until one arrives late): counted by
  // datagram, where the kernel counts a socket's drops by buffer (a GSO batch is one).
  if ((int64_t)counter > highest + 1)
    atomic_fetch_add(&dp->counters[DPC_rxLostInFlight], (uint64_t)((int64_t)counter - highest - 1));
  else if ((int64_t)counter < highest)
    atomic_fetch_sub(&dp->counters[DPC_rxLostInFlight], 1);
  dp_peer_t *p = s->peer;
  unsigned ev = DP_EV_AUTH_RECEIVED;
  if (atomic_load_explicit(&p->next, memory_order_acquire) == s) {
    // The initiator used the responder's new session: it becomes current (device.ts confirmNext).
    atomic_store(&p->current, s);
    atomic_store(&p->next, NULL);
    ev |= DP_EV_CONFIRMED;
  }
  if (from && from->len) {
    dp_addr_t cur;
    dp_peer_get_endpoint(p, &cur);
    if (!same_addr(&cur, from)) {
      dp_peer_set_endpoint(p, from);
      ev |= DP_EV_ENDPOINT;
    }
  }
  atomic_fetch_add_explicit(&p->rx_bytes, len, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->rx_packets, 1, memory_order_relaxed);
  dp_count(dp, DPC_rxPackets, 1);
  dp_count(dp, DPC_rxBytes, len);
  // keepKeyFreshReceiving: an initiator whose session nears expiry (rejectAfterTime - 15 s) rekeys.
  if (s->is_initiator && atomic_load_explicit(&p->current, memory_order_relaxed) == s &&
      now - s->created_ms > dp->lim.reject_after_time_ms - 15000)
    ev |= DP_EV_REKEY;
  if (ct == 0) {
    dp_raise(dp, p, ev);
    *reason = DPC_rxKeepalive;
    return DP_RX_KEEPALIVE;
  }
  dp_raise(dp, p, ev | DP_EV_DATA_RECEIVED);
  int ip_len = dp_ip_packet_length(buf + DP_HEADER, ct);
  if (ip_len < 0) {
    *reason = DPC_rxBadIp;
    return DP_RX_DROP;
  }
  if (lookup_packet(dp, buf + DP_HEADER, 1) != p) {
    *reason = DPC_rxWrongSource;
    return DP_RX_DROP;
  }
  *out_len = (uint32_t)ip_len;
  return DP_RX_TUN;
}
