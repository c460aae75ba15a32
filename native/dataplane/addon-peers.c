// The calls that install peers (endpoint, allowed IPs) and session keys, and those that hand the data
// plane a packet or datagram from JavaScript: send, encrypt, keepalive, inject and decrypt.
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

// setPeer(h, id, endpoint | null, allowedIps?: string[])
napi_value js_set_peer(napi_env env, napi_callback_info info) {
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

napi_value js_remove_peer(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t id;
  wrap_t *w = handle_u32(env, info, argv, &id, "removePeer: id");
  if (!w) return NULL;
  return bool_value(env, dp_peer_remove(w->dp, id) == 0);
}

// setSession(h, peerId, {localIndex, remoteIndex, sendKey, recvKey, sendCounter?, isInitiator?, ageMs?, slot?})
napi_value js_set_session(napi_env env, napi_callback_info info) {
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

napi_value js_remove_session(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t idx;
  wrap_t *w = handle_u32(env, info, argv, &idx, "removeSession: index");
  if (!w) return NULL;
  return bool_value(env, dp_session_remove(w->dp, idx) == 0);
}

// send(h, datagram, endpoint): a handshake or mesh datagram from JS, through the data plane's socket.
napi_value js_send(napi_env env, napi_callback_info info) {
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
napi_value js_encrypt(napi_env env, napi_callback_info info) {
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
napi_value js_keepalive(napi_env env, napi_callback_info info) {
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
napi_value js_inject(napi_env env, napi_callback_info info) {
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
napi_value js_decrypt(napi_env env, napi_callback_info info) {
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
