// What the data plane gives back to JavaScript: the batches of ring items and per-peer event bits,
// delivered through the threadsafe function (onEvents) or collected by poll(), and the stats().
#include "addon.h"

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

void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)data;
  dp_t *dp = context;
  if (!env || !cb) return;
  atomic_store(&dp->notify_pending, 0); // from here on, new work notifies again
  napi_value argv[2], undef;
  if (!collect(env, dp, &argv[0], &argv[1])) return;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 2, argv, NULL);
}

void tsfn_notify(dp_t *dp) {
  napi_call_threadsafe_function((napi_threadsafe_function)dp->notify_ctx, NULL, napi_tsfn_nonblocking);
}

void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  dp_free(data); // after the last queued call: nothing refers to the dp any more
}

// ---------------------------------------------------------------- the calls

// poll(h): [items, events] as onEvents would get them, or undefined when nothing waits. JS calls it
// at its tick: the traffic bits (DP_EV_ROUTINE) wake nobody, they wait there (dp_raise).
napi_value js_poll(napi_env env, napi_callback_info info) {
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

napi_value js_stats(napi_env env, napi_callback_info info) {
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
