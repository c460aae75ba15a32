// Node-API surface of the data plane (N-API only, so one build loads in Node and Electron).
// Wrapped for TypeScript by main/io/dataplane.ts; see there for the calls and their meaning.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <node_api.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dp.h"
#include "../fdpass.h"

typedef struct {
  dp_t *dp;
  napi_threadsafe_function tsfn;
  int closed;
  uint8_t scratch[DP_SLOT + 64]; // synchronous encrypt/decrypt (JS thread only)
} wrap_t;

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error(env, NULL, "dataplane: N-API call failed: " #call);                          \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

#define THROW(...)                                                                                  \
  do {                                                                                              \
    char msg_[200];                                                                                 \
    snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                       \
    napi_throw_error(env, NULL, msg_);                                                              \
    return NULL;                                                                                    \
  } while (0)

static napi_value args_of(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  for (size_t i = 0; i < want; i++) argv[i] = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = argc; i < want; i++) argv[i] = undef;
  return undef;
}

static wrap_t *wrap_of(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "dataplane: not a data plane handle");
    return NULL;
  }
  wrap_t *w = p;
  if (w->closed) {
    napi_throw_error(env, NULL, "dataplane: closed");
    return NULL;
  }
  return w;
}

/** The arguments of a call on a handle: argv[0] is the handle. NULL (with an exception) when bad. */
static wrap_t *handle_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  if (!args_of(env, info, n, argv)) return NULL;
  return wrap_of(env, argv[0]);
}

static int get_u32(napi_env env, napi_value v, uint32_t *out);

/** A call (handle, u32, ...): the wrap and the number, or NULL with an exception. */
static wrap_t *handle_u32(napi_env env, napi_callback_info info, napi_value argv[3], uint32_t *id,
                          const char *what) {
  wrap_t *w = handle_args(env, info, 3, argv);
  if (w && !get_u32(env, argv[1], id)) {
    char msg[160];
    snprintf(msg, sizeof msg, "dataplane.%s: must be a 32-bit unsigned number", what);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return w;
}

static int is_type(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return v && napi_typeof(env, v, &got) == napi_ok && got == t;
}

static napi_value prop(napi_env env, napi_value obj, const char *name) {
  napi_value v = NULL;
  if (!is_type(env, obj, napi_object) || napi_get_named_property(env, obj, name, &v) != napi_ok) return NULL;
  return v;
}

static int get_double(napi_env env, napi_value obj, const char *name, double *out) {
  napi_value v = prop(env, obj, name);
  if (!is_type(env, v, napi_number)) return 0;
  return napi_get_value_double(env, v, out) == napi_ok;
}

static int get_bool(napi_env env, napi_value obj, const char *name, int dflt) {
  napi_value v = prop(env, obj, name);
  bool b;
  if (!is_type(env, v, napi_boolean) || napi_get_value_bool(env, v, &b) != napi_ok) return dflt;
  return b;
}

static int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (!v || napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
}

/** {address, port} -> socket address in the family of the UDP socket (v4 mapped into a v6 socket). */
static int parse_endpoint(napi_env env, napi_value v, int family, dp_addr_t *a) {
  memset(a, 0, sizeof *a);
  char addr[64];
  size_t n = 0;
  double port;
  napi_value av = prop(env, v, "address");
  if (!is_type(env, av, napi_string) || !get_double(env, v, "port", &port)) return -1;
  if (napi_get_value_string_utf8(env, av, addr, sizeof addr, &n) != napi_ok || n >= sizeof addr - 1) return -1;
  if (port < 0 || port > 65535 || port != (double)(int)port) return -1;
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, addr, &v4) == 1) {
    if (family == AF_INET6) {
      a->in6.sin6_family = AF_INET6;
      a->in6.sin6_port = htons((uint16_t)port);
      a->in6.sin6_addr.s6_addr[10] = a->in6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&a->in6.sin6_addr.s6_addr[12], &v4, 4);
      a->len = sizeof a->in6;
    } else {
      a->in4.sin_family = AF_INET;
      a->in4.sin_port = htons((uint16_t)port);
      a->in4.sin_addr = v4;
      a->len = sizeof a->in4;
    }
    return 0;
  }
  if (inet_pton(AF_INET6, addr, &v6) == 1) {
    if (family == AF_INET) return -1; // an IPv4 socket cannot reach it
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_port = htons((uint16_t)port);
    a->in6.sin6_addr = v6;
    a->len = sizeof a->in6;
    return 0;
  }
  return -1;
}

static napi_value endpoint_value(napi_env env, const dp_addr_t *a) {
  napi_value o, s, p;
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (a->sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->in4.sin_addr, text, sizeof text);
    port = ntohs(a->in4.sin_port);
  } else if (a->sa.sa_family == AF_INET6) {
    const uint8_t *b = a->in6.sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, 12) == 0) inet_ntop(AF_INET, b + 12, text, sizeof text);
    else inet_ntop(AF_INET6, b, text, sizeof text);
    port = ntohs(a->in6.sin6_port);
  }
  napi_create_object(env, &o);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
  napi_create_int32(env, port, &p);
  napi_set_named_property(env, o, "address", s);
  napi_set_named_property(env, o, "port", p);
  return o;
}

static void set_num(napi_env env, napi_value o, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, o, name, n);
}

static void set_str(napi_env env, napi_value o, const char *name, const char *v) {
  napi_value s;
  napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, name, s);
}

// ---------------------------------------------------------------- batches to JavaScript

static void drain_ring(napi_env env, dp_js_ring_t *r, napi_value arr, uint32_t *n) {
  uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  for (; tail != head; tail++) {
    dp_js_slot_t *s = &r->slots[tail % DP_JS_RING];
    napi_value o, buf;
    void *copy;
    napi_create_object(env, &o);
    set_str(env, o, "kind", s->kind == DP_JS_DATAGRAM ? "datagram" : "packet");
    set_str(env, o, "reason", dp_counter_names[s->reason]);
    set_num(env, o, "peer", s->peer);
    napi_create_buffer_copy(env, s->len, s->data, &copy, &buf);
    napi_set_named_property(env, o, "data", buf);
    if (s->kind == DP_JS_DATAGRAM) napi_set_named_property(env, o, "from", endpoint_value(env, &s->from));
    napi_set_element(env, arr, (*n)++, o);
  }
  atomic_store_explicit(&r->tail, tail, memory_order_release);
}

/**
 * What waits for JS (ring items, then the peers' event bits), as the two arrays onEvents takes;
 * 0 when nothing waits. Only the JS thread drains: the callback below and poll().
 */
static int collect(napi_env env, dp_t *dp, napi_value *items, napi_value *events) {
  uint32_t ni = 0, ne = 0;
  napi_create_array(env, items);
  napi_create_array(env, events);
  drain_ring(env, &dp->js_rx, *items, &ni);
  drain_ring(env, &dp->js_tx, *items, &ni);
  // The peer list changes only on this (the JS) thread: no lock needed to walk it.
  for (dp_peer_t *p = dp->peers; p; p = p->next_in_list) {
    unsigned ev = atomic_exchange(&p->events, 0);
    if (!ev) continue;
    napi_value o;
    napi_create_object(env, &o);
    set_num(env, o, "peer", p->id);
    set_num(env, o, "events", ev);
    if (ev & DP_EV_ENDPOINT) {
      dp_addr_t a;
      dp_peer_get_endpoint(p, &a);
      napi_set_named_property(env, o, "endpoint", endpoint_value(env, &a));
    }
    napi_set_element(env, *events, ne++, o);
  }
  return ni || ne;
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)data;
  dp_t *dp = context;
  if (!env || !cb) return;
  atomic_store(&dp->notify_pending, 0); // from here on, new work notifies again
  napi_value argv[2], undef;
  if (!collect(env, dp, &argv[0], &argv[1])) return;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 2, argv, NULL);
}

static void tsfn_notify(dp_t *dp) {
  napi_call_threadsafe_function((napi_threadsafe_function)dp->notify_ctx, NULL, napi_tsfn_nonblocking);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  dp_free(data); // after the last queued call: nothing refers to the dp any more
}

static void close_wrap(wrap_t *w) {
  if (w->closed) return;
  w->closed = 1;
  dp_stop(w->dp);
  w->dp->notify = NULL;
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
}

static void wrap_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  wrap_t *w = data;
  close_wrap(w);
  sodium_memzero(w->scratch, sizeof w->scratch);
  free(w);
}

// ---------------------------------------------------------------- the calls

static uint64_t limit_u64(double v) {
  if (!(v >= 0)) return 0;
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  return (uint64_t)v;
}

// create(tunFd, udpFd, opts): fds -1 for the synchronous mode (encrypt/decrypt calls only).
static napi_value js_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args_of(env, info, 3, argv)) return NULL;
  int32_t tun = -1, udp = -1;
  if (napi_get_value_int32(env, argv[0], &tun) != napi_ok || napi_get_value_int32(env, argv[1], &udp) != napi_ok)
    THROW("dataplane.create: tunFd and udpFd must be numbers (-1 for none)");
  if ((tun < 0) != (udp < 0)) THROW("dataplane.create: give both fds or neither");
  napi_value cb = prop(env, argv[2], "onEvents");
  if (!is_type(env, cb, napi_function)) THROW("dataplane.create: opts.onEvents must be a function");
  const double max_safe_counter = 9007199254740991.0 - 8192.0; // constants.ts MAX_SAFE_COUNTER
  double mtu = 1420, rekey_m = max_safe_counter, reject_m = max_safe_counter, rekey_t = 120000,
         reject_t = 180000;
  get_double(env, argv[2], "mtu", &mtu);
  get_double(env, argv[2], "rekeyAfterMessages", &rekey_m);
  get_double(env, argv[2], "rejectAfterMessages", &reject_m);
  get_double(env, argv[2], "rekeyAfterTime", &rekey_t);
  get_double(env, argv[2], "rejectAfterTime", &reject_t);
  if (!(mtu >= 576 && mtu <= DP_MAX_MTU)) THROW("dataplane.create: mtu must be 576..%d", DP_MAX_MTU);
  dp_limits_t lim = {
      .rekey_after_messages = limit_u64(rekey_m),
      .reject_after_messages = limit_u64(reject_m),
      .rekey_after_time_ms = (int64_t)rekey_t,
      .reject_after_time_ms = (int64_t)reject_t,
      .mtu = (uint32_t)mtu,
  };
  wrap_t *w = calloc(1, sizeof *w);
  if (!w) THROW("dataplane.create: out of memory");
  w->dp = dp_new(&lim);
  if (!w->dp) {
    free(w);
    THROW("dataplane.create: out of memory (or libsodium failed to initialise)");
  }
  napi_value name;
  napi_create_string_utf8(env, "peermesh-dataplane", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, w->dp, tsfn_finalize, w->dp, call_js,
                                      &w->tsfn) != napi_ok) {
    dp_free(w->dp);
    free(w);
    THROW("dataplane.create: cannot create the event channel");
  }
  napi_unref_threadsafe_function(env, w->tsfn); // the sockets keep the process alive, not we
  w->dp->notify = tsfn_notify;
  w->dp->notify_ctx = w->tsfn;
  if (tun >= 0) {
    int err = dp_start(w->dp, tun, udp, get_bool(env, argv[2], "gso", 1), get_bool(env, argv[2], "gro", 1),
                       get_bool(env, argv[2], "coalesce", 1));
    if (err) {
      w->dp->tun_fd = w->dp->udp_fd = -1; // the caller still owns its fds
      close_wrap(w);
      free(w);
      THROW("dataplane.create: cannot start: %s", strerror(-err));
    }
  }
  napi_value ext;
  if (napi_create_external(env, w, wrap_finalize, NULL, &ext) != napi_ok) {
    close_wrap(w);
    free(w);
    THROW("dataplane.create: cannot wrap");
  }
  return ext;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return 0;
  *out = (uint32_t)d;
  return 1;
}

// setPeer(h, id, endpoint | null, allowedIps?: string[])
static napi_value js_set_peer(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  wrap_t *w = handle_args(env, info, 4, argv);
  if (!w) return NULL;
  uint32_t id;
  if (!get_u32(env, argv[1], &id)) THROW("dataplane.setPeer: id must be a 32-bit unsigned number");
  dp_addr_t ep;
  memset(&ep, 0, sizeof ep);
  if (!is_type(env, argv[2], napi_null) && !is_type(env, argv[2], napi_undefined) &&
      parse_endpoint(env, argv[2], w->dp->udp_family, &ep) < 0)
    THROW("dataplane.setPeer: endpoint must be {address: IP literal, port} reachable from the socket");
  uint32_t n = 0;
  int has_ips = 0;
  bool is_arr = false;
  if (!is_type(env, argv[3], napi_undefined)) {
    if (napi_is_array(env, argv[3], &is_arr) != napi_ok || !is_arr) THROW("dataplane.setPeer: allowedIps must be an array");
    napi_get_array_length(env, argv[3], &n);
    has_ips = 1;
  }
  if (n > 65536) THROW("dataplane.setPeer: too many allowed IPs");
  struct {
    uint8_t family, plen, addr[16];
  } *cidrs = calloc(n ? n : 1, sizeof *cidrs);
  if (!cidrs) THROW("dataplane.setPeer: out of memory");
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    char text[64];
    size_t len = 0;
    if (napi_get_element(env, argv[3], i, &e) != napi_ok || !is_type(env, e, napi_string) ||
        napi_get_value_string_utf8(env, e, text, sizeof text, &len) != napi_ok ||
        dp_parse_cidr(text, &cidrs[i].family, &cidrs[i].plen, cidrs[i].addr) < 0) {
      free(cidrs);
      THROW("dataplane.setPeer: allowedIps[%u] is not a CIDR", i);
    }
  }
  dp_t *dp = w->dp;
  pthread_rwlock_wrlock(&dp->lock);
  dp_peer_t *p = dp_peer_get(dp, id, 1);
  int err = !p;
  if (p) {
    dp_peer_set_endpoint(p, &ep);
    if (has_ips) {
      dp_routes_remove_peer(&dp->routes, p);
      for (uint32_t i = 0; i < n && !err; i++)
        err = dp_routes_insert(&dp->routes, cidrs[i].family, cidrs[i].plen, cidrs[i].addr, p) < 0;
    }
  }
  pthread_rwlock_unlock(&dp->lock);
  free(cidrs);
  if (err) THROW("dataplane.setPeer: out of memory");
  return NULL;
}

static napi_value bool_value(napi_env env, int b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value js_remove_peer(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t id;
  wrap_t *w = handle_u32(env, info, argv, &id, "removePeer: id");
  if (!w) return NULL;
  return bool_value(env, dp_peer_remove(w->dp, id) == 0);
}

// setSession(h, peerId, {localIndex, remoteIndex, sendKey, recvKey, sendCounter?, isInitiator?, ageMs?, slot?})
static napi_value js_set_session(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  wrap_t *w = handle_args(env, info, 3, argv);
  if (!w) return NULL;
  uint32_t peer;
  if (!get_u32(env, argv[1], &peer)) THROW("dataplane.setSession: peer id must be a 32-bit unsigned number");
  dp_session_t s;
  memset(&s, 0, sizeof s);
  uint8_t *k1, *k2;
  size_t l1 = 0, l2 = 0;
  if (!get_u32(env, prop(env, argv[2], "localIndex"), &s.local_index) ||
      !get_u32(env, prop(env, argv[2], "remoteIndex"), &s.remote_index))
    THROW("dataplane.setSession: localIndex and remoteIndex must be 32-bit unsigned numbers");
  if (!get_buffer(env, prop(env, argv[2], "sendKey"), &k1, &l1) || l1 != DP_KEY_SIZE ||
      !get_buffer(env, prop(env, argv[2], "recvKey"), &k2, &l2) || l2 != DP_KEY_SIZE)
    THROW("dataplane.setSession: sendKey and recvKey must be 32-byte Buffers");
  memcpy(s.send_key, k1, DP_KEY_SIZE);
  memcpy(s.recv_key, k2, DP_KEY_SIZE);
  double counter = 0, age = 0;
  get_double(env, argv[2], "sendCounter", &counter);
  get_double(env, argv[2], "ageMs", &age);
  if (!(counter >= 0 && counter <= 9007199254740991.0) || !(age >= 0 && age < 1e12)) {
    sodium_memzero(&s, sizeof s);
    THROW("dataplane.setSession: sendCounter and ageMs must be non-negative numbers");
  }
  atomic_store(&s.send_counter, (uint64_t)counter);
  s.is_initiator = get_bool(env, argv[2], "isInitiator", 0);
  s.created_ms = dp_now_ms() - (int64_t)age;
  int slot = DP_SLOT_CURRENT;
  napi_value sv = prop(env, argv[2], "slot");
  if (is_type(env, sv, napi_string)) {
    char text[16];
    size_t len = 0;
    napi_get_value_string_utf8(env, sv, text, sizeof text, &len);
    if (!strcmp(text, "next")) slot = DP_SLOT_NEXT;
    else if (!strcmp(text, "previous")) slot = DP_SLOT_PREVIOUS;
    else if (strcmp(text, "current")) {
      sodium_memzero(&s, sizeof s);
      THROW("dataplane.setSession: slot must be current, next or previous");
    }
  }
  uint32_t index = s.local_index;
  int err = dp_session_set(w->dp, peer, &s, slot);
  sodium_memzero(&s, sizeof s);
  if (err == -ENOENT) THROW("dataplane.setSession: no peer %u (setPeer first)", peer);
  if (err == -EEXIST) THROW("dataplane.setSession: index %u is in use", index);
  if (err) THROW("dataplane.setSession: out of memory");
  return NULL;
}

static napi_value js_remove_session(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t idx;
  wrap_t *w = handle_u32(env, info, argv, &idx, "removeSession: index");
  if (!w) return NULL;
  return bool_value(env, dp_session_remove(w->dp, idx) == 0);
}

// send(h, datagram, endpoint): a handshake or mesh datagram from JS, through the data plane's socket.
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  wrap_t *w = handle_args(env, info, 3, argv);
  if (!w) return NULL;
  uint8_t *d;
  size_t len;
  dp_addr_t to;
  if (!get_buffer(env, argv[1], &d, &len) || len > 65507) THROW("dataplane.send: datagram must be a Buffer of at most 65507 bytes");
  if (parse_endpoint(env, argv[2], w->dp->udp_family, &to) < 0) THROW("dataplane.send: bad endpoint");
  int err = dp_send_datagram(w->dp, d, (uint32_t)len, &to);
  napi_value r;
  napi_create_int32(env, -err, &r); // 0, or the errno
  return r;
}

static napi_value encrypt_result(napi_env env, wrap_t *w, int r, dp_peer_t *p, const dp_addr_t *to, int send) {
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "peer", p ? p->id : 0);
  if (r < 0) {
    dp_count(w->dp, -r, 1);
    set_str(env, o, "drop", dp_counter_names[-r]);
    return o;
  }
  if (send) {
    int err = dp_send_datagram(w->dp, w->scratch, (uint32_t)r, to);
    if (err) dp_count(w->dp, err == -EAGAIN ? DPC_txQueueFull : DPC_txSendError, 1);
    set_num(env, o, "error", -err);
    return o;
  }
  napi_value buf;
  void *copy;
  napi_create_buffer_copy(env, (size_t)r, w->scratch, &copy, &buf);
  napi_set_named_property(env, o, "datagram", buf);
  napi_set_named_property(env, o, "to", endpoint_value(env, to));
  return o;
}

// encrypt(h, packet, send?): route and seal one IP packet (staged packets from JS; tests).
static napi_value js_encrypt(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  wrap_t *w = handle_args(env, info, 3, argv);
  if (!w) return NULL;
  uint8_t *d;
  size_t len;
  if (!get_buffer(env, argv[1], &d, &len)) THROW("dataplane.encrypt: packet must be a Buffer");
  bool send = false;
  if (is_type(env, argv[2], napi_boolean)) napi_get_value_bool(env, argv[2], &send);
  dp_t *dp = w->dp;
  dp_peer_t *p = NULL;
  dp_addr_t to;
  memset(&to, 0, sizeof to);
  int r;
  if (len > DP_MAX_PACKET) {
    r = -DPC_txTooBig;
  } else {
    if (len) memcpy(w->scratch + DP_HEADER, d, len);
    pthread_rwlock_rdlock(&dp->lock);
    // Not sent (send false): a peer without an endpoint (relayed: JS wraps the message) is sealed too.
    r = dp_encrypt(dp, w->scratch, (uint32_t)len, dp_now_ms(), &p, &to, send);
    pthread_rwlock_unlock(&dp->lock);
  }
  return encrypt_result(env, w, r, p, &to, send);
}

// keepalive(h, peerId, send?)
static napi_value js_keepalive(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t id;
  wrap_t *w = handle_u32(env, info, argv, &id, "keepalive: peer id");
  if (!w) return NULL;
  bool send = false;
  if (is_type(env, argv[2], napi_boolean)) napi_get_value_bool(env, argv[2], &send);
  dp_t *dp = w->dp;
  dp_addr_t to;
  memset(&to, 0, sizeof to);
  pthread_rwlock_rdlock(&dp->lock);
  dp_peer_t *p = dp_peer_get(dp, id, 0);
  int r = p ? dp_encrypt_keepalive(dp, p, w->scratch, dp_now_ms(), &to, send) : -DPC_txNoRoute;
  pthread_rwlock_unlock(&dp->lock);
  return encrypt_result(env, w, r, p, &to, send);
}

// inject(h, datagram): a transport message JS unwrapped (a relayed one) is opened by the receive
// thread, in the same replay windows as direct ones; it does not move the peer's endpoint (JS chooses
// relayed paths). Returns 0 or an errno (ENOBUFS: queue full).
static napi_value js_inject(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  wrap_t *w = handle_args(env, info, 3, argv);
  if (!w) return NULL;
  if (!w->dp->threads_started) THROW("dataplane.inject: only with fds (use decrypt without them)");
  uint8_t *d;
  size_t len;
  if (!get_buffer(env, argv[1], &d, &len) || len > DP_JS_SLOT_DATA) THROW("dataplane.inject: datagram must be a Buffer of at most %d bytes", DP_JS_SLOT_DATA);
  napi_value r;
  napi_create_int32(env, -dp_inject(w->dp, d, (uint32_t)len), &r);
  return r;
}

// decrypt(h, datagram, from?): synchronous mode only (the receive thread owns the replay windows).
static napi_value js_decrypt(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  wrap_t *w = handle_args(env, info, 3, argv);
  if (!w) return NULL;
  if (w->dp->threads_started) THROW("dataplane.decrypt: only without fds (the receive thread decrypts)");
  uint8_t *d;
  size_t len;
  if (!get_buffer(env, argv[1], &d, &len)) THROW("dataplane.decrypt: datagram must be a Buffer");
  dp_addr_t from;
  memset(&from, 0, sizeof from);
  if (!is_type(env, argv[2], napi_undefined) && !is_type(env, argv[2], napi_null) &&
      parse_endpoint(env, argv[2], w->dp->udp_family, &from) < 0)
    THROW("dataplane.decrypt: bad endpoint");
  napi_value o;
  napi_create_object(env, &o);
  if (len > DP_SLOT) {
    dp_count(w->dp, DPC_rxTruncated, 1);
    set_str(env, o, "result", "drop");
    set_str(env, o, "reason", "rxTruncated");
    return o;
  }
  if (len) memcpy(w->scratch, d, len); // an empty Buffer may have no data pointer
  uint32_t out = 0;
  int reason = 0;
  pthread_rwlock_rdlock(&w->dp->lock);
  int r = dp_decrypt(w->dp, w->scratch, (uint32_t)len, &from, dp_now_ms(), &out, &reason);
  pthread_rwlock_unlock(&w->dp->lock);
  static const char *const results[] = {"", "tun", "js", "drop", "keepalive"};
  set_str(env, o, "result", results[r]);
  if (r != DP_RX_TUN) {
    dp_count(w->dp, reason, 1);
    set_str(env, o, "reason", dp_counter_names[reason]);
    return o;
  }
  napi_value buf;
  void *copy;
  napi_create_buffer_copy(env, out, w->scratch + DP_HEADER, &copy, &buf);
  napi_set_named_property(env, o, "packet", buf);
  return o;
}

// poll(h): [items, events] as onEvents would get them, or undefined when nothing waits. JS calls it
// at its tick: the traffic bits (DP_EV_ROUTINE) wake nobody, they wait there (dp_raise).
static napi_value js_poll(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  wrap_t *w = handle_args(env, info, 1, argv);
  if (!w) return NULL;
  napi_value pair[2], out;
  if (!collect(env, w->dp, &pair[0], &pair[1])) {
    napi_get_undefined(env, &out);
    return out;
  }
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, pair[0]);
  napi_set_element(env, out, 1, pair[1]);
  return out;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  wrap_t *w = handle_args(env, info, 1, argv);
  if (!w) return NULL;
  dp_t *dp = w->dp;
  napi_value o, c, peers;
  napi_create_object(env, &o);
  napi_create_object(env, &c);
  napi_create_array(env, &peers);
  for (int i = 0; i < DPC_COUNT; i++) set_num(env, c, dp_counter_names[i], (double)atomic_load(&dp->counters[i]));
  napi_set_named_property(env, o, "counters", c);
  uint32_t n = 0;
  for (dp_peer_t *p = dp->peers; p; p = p->next_in_list) {
    napi_value e;
    napi_create_object(env, &e);
    set_num(env, e, "peer", p->id);
    set_num(env, e, "txBytes", (double)atomic_load(&p->tx_bytes));
    set_num(env, e, "rxBytes", (double)atomic_load(&p->rx_bytes));
    set_num(env, e, "txPackets", (double)atomic_load(&p->tx_packets));
    set_num(env, e, "rxPackets", (double)atomic_load(&p->rx_packets));
    dp_session_t *s = atomic_load(&p->current);
    set_num(env, e, "sendCounter", s ? (double)atomic_load(&s->send_counter) : -1);
    set_num(env, e, "currentIndex", s ? (double)s->local_index : -1);
    napi_set_element(env, peers, n++, e);
  }
  napi_set_named_property(env, o, "peers", peers);
  napi_set_named_property(env, o, "vnetHdr", bool_value(env, dp->vnet_hdr));
  napi_set_named_property(env, o, "gso", bool_value(env, dp->gso));
  napi_set_named_property(env, o, "gro", bool_value(env, dp->gro));
  napi_set_named_property(env, o, "coalesce", bool_value(env, dp->coalesce));
  return o;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args_of(env, info, 1, argv)) return NULL;
  void *p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p) THROW("dataplane.close: not a handle");
  close_wrap(p);
  return NULL;
}

// openTun(name, vnetHdr): TEST ONLY (needs CAP_NET_ADMIN; production gets the fd from the helper).
static napi_value js_open_tun(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args_of(env, info, 2, argv)) return NULL;
  char name[IFNAMSIZ];
  size_t n = 0;
  if (!is_type(env, argv[0], napi_string) ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok || n == 0 || n >= IFNAMSIZ - 1)
    THROW("dataplane.openTun: name must be 1..14 characters");
  bool vnet = false;
  if (is_type(env, argv[1], napi_boolean)) napi_get_value_bool(env, argv[1], &vnet);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) THROW("dataplane.openTun: /dev/net/tun: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, n);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    THROW("dataplane.openTun: TUNSETIFF: %s", strerror(e));
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

// openUdp(address, port): a UDP socket for the data plane ("::" gives a dual-stack socket).
static napi_value js_open_udp(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args_of(env, info, 2, argv)) return NULL;
  napi_value ep;
  napi_create_object(env, &ep);
  napi_set_named_property(env, ep, "address", argv[0]);
  napi_set_named_property(env, ep, "port", argv[1]);
  dp_addr_t a;
  if (parse_endpoint(env, ep, 0, &a) < 0) THROW("dataplane.openUdp: bad address or port");
  int fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) THROW("dataplane.openUdp: socket: %s", strerror(errno));
  int zero = 0, size = 4 << 20;
  if (a.sa.sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  // Large buffers absorb bursts (GSO sends, GRO receives); the kernel caps them at rmem_max/wmem_max.
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int one = 1; // the mesh's LAN discovery sends to broadcast addresses
  setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  if (bind(fd, &a.sa, a.len) < 0) {
    int e = errno;
    close(fd);
    THROW("dataplane.openUdp: bind: %s", strerror(e));
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

// localPort(fd): the port a socket is bound to (openUdp with port 0).
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!args_of(env, info, 1, argv)) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) THROW("dataplane.localPort: bad fd");
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) THROW("dataplane.localPort: %s", strerror(errno));
  int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  napi_value r;
  napi_create_int32(env, port, &r);
  return r;
}

static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!args_of(env, info, 1, argv)) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) THROW("dataplane.closeFd: bad fd");
  close(fd);
  return NULL;
}

// socketpair(): [ours, theirs], AF_UNIX SOCK_SEQPACKET, both close-on-exec (spawn's stdio dup2s
// theirs into the child). The privileged helper will send the TUN fd over it (SCM_RIGHTS).
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) THROW("dataplane.socketpair: %s", strerror(errno));
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, sv[0], &a);
  napi_create_int32(env, sv[1], &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

/** Two int32 arguments (a call on fds). 0 with an exception when they are not numbers. */
static int two_ints(napi_env env, napi_callback_info info, int32_t *a, int32_t *b, const char *what) {
  napi_value argv[2];
  if (!args_of(env, info, 2, argv)) return 0;
  if (napi_get_value_int32(env, argv[0], a) != napi_ok || napi_get_value_int32(env, argv[1], b) != napi_ok) {
    char msg[120];
    snprintf(msg, sizeof msg, "dataplane.%s: arguments must be numbers", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

// recvFd(sock, timeoutMs): the one fd of the next message (SCM_RIGHTS); anything else is an error
// (extra fds received are closed).
static napi_value js_recv_fd(napi_env env, napi_callback_info info) {
  int32_t sock, timeout;
  if (!two_ints(env, info, &sock, &timeout, "recvFd")) return NULL;
  struct pollfd pfd = {.fd = sock, .events = POLLIN};
  int pr = poll(&pfd, 1, timeout);
  if (pr <= 0) THROW("dataplane.recvFd: %s", pr == 0 ? "timed out" : strerror(errno));
  uint8_t byte[64];
  struct iovec iov = {.iov_base = byte, .iov_len = sizeof byte};
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } cm;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
  ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) THROW("dataplane.recvFd: %s", strerror(errno));
  int fd = -1, extra = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (fd < 0) fd = got;
      else {
        close(got);
        extra = 1;
      }
    }
  }
  if (fd >= 0 && (extra || (m.msg_flags & MSG_CTRUNC))) {
    close(fd);
    THROW("dataplane.recvFd: more than one fd in the message");
  }
  if (fd < 0) THROW("dataplane.recvFd: the message carried no fd (%s)", n == 0 ? "peer closed" : "data only");
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

// sendFd(sock, fd): TEST ONLY (the helper sends in C): one byte with the fd attached.
static napi_value js_send_fd(napi_env env, napi_callback_info info) {
  int32_t sock, fd;
  if (!two_ints(env, info, &sock, &fd, "sendFd")) return NULL;
  if (fdpass_send(sock, fd, 'T') < 0) THROW("dataplane.sendFd: %s", strerror(errno));
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"create", js_create},   {"setPeer", js_set_peer}, {"removePeer", js_remove_peer},
      {"setSession", js_set_session}, {"removeSession", js_remove_session}, {"send", js_send},
      {"encrypt", js_encrypt}, {"keepalive", js_keepalive}, {"decrypt", js_decrypt},
      {"stats", js_stats},     {"poll", js_poll},     {"close", js_close},       {"openTun", js_open_tun},
      {"openUdp", js_open_udp}, {"closeFd", js_close_fd},   {"socketpair", js_socketpair},
      {"recvFd", js_recv_fd},   {"sendFd", js_send_fd},   {"inject", js_inject},
      {"localPort", js_local_port},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    CHECK(napi_set_named_property(env, exports, fns[i].name, f));
  }
  napi_value names, flags;
  CHECK(napi_create_array(env, &names));
  for (uint32_t i = 0; i < DPC_COUNT; i++) {
    napi_value s;
    napi_create_string_utf8(env, dp_counter_names[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, names, i, s);
  }
  CHECK(napi_set_named_property(env, exports, "counterNames", names));
  CHECK(napi_create_object(env, &flags));
  set_num(env, flags, "DATA_SENT", DP_EV_DATA_SENT);
  set_num(env, flags, "DATA_RECEIVED", DP_EV_DATA_RECEIVED);
  set_num(env, flags, "AUTH_SENT", DP_EV_AUTH_SENT);
  set_num(env, flags, "AUTH_RECEIVED", DP_EV_AUTH_RECEIVED);
  set_num(env, flags, "REKEY", DP_EV_REKEY);
  set_num(env, flags, "CONFIRMED", DP_EV_CONFIRMED);
  set_num(env, flags, "ENDPOINT", DP_EV_ENDPOINT);
  set_num(env, flags, "LIMIT", DP_EV_LIMIT);
  CHECK(napi_set_named_property(env, exports, "events", flags));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
