// What the files of the Node-API surface share (addon.c, addon-util.c, addon-peers.c,
// addon-events.c): the handle, the THROW macro, the helpers and the calls registered in addon.c.
#ifndef PEERMESH_DP_ADDON_H
#define PEERMESH_DP_ADDON_H
#include <node_api.h>
#include <stdio.h>

#include "dp.h"

typedef struct {
  dp_t *dp;
  napi_threadsafe_function tsfn;
  int closed;
  uint8_t scratch[DP_SLOT + 64]; // synchronous encrypt/decrypt (JS thread only)
} wrap_t;

#define THROW(...)                                                                                  \
  do {                                                                                              \
    char msg_[200];                                                                                 \
    snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                       \
    napi_throw_error(env, NULL, msg_);                                                              \
    return NULL;                                                                                    \
  } while (0)

// addon-util.c
napi_value args_of(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
wrap_t *handle_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv);
int get_u32(napi_env env, napi_value v, uint32_t *out);
wrap_t *handle_u32(napi_env env, napi_callback_info info, napi_value argv[3], uint32_t *id, const char *what);
int is_type(napi_env env, napi_value v, napi_valuetype t);
napi_value prop(napi_env env, napi_value obj, const char *name);
int get_double(napi_env env, napi_value obj, const char *name, double *out);
int get_bool(napi_env env, napi_value obj, const char *name, int dflt);
int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len);
int parse_endpoint(napi_env env, napi_value v, int family, dp_addr_t *a);
napi_value endpoint_value(napi_env env, const dp_addr_t *a);
void set_num(napi_env env, napi_value o, const char *name, double v);
void set_str(napi_env env, napi_value o, const char *name, const char *v);
napi_value bool_value(napi_env env, int b);

// addon-events.c: the threadsafe function's callback and hooks (created in js_create), and its calls
void call_js(napi_env env, napi_value cb, void *context, void *data);
void tsfn_notify(dp_t *dp);
void tsfn_finalize(napi_env env, void *data, void *hint);
napi_value js_poll(napi_env env, napi_callback_info info);
napi_value js_stats(napi_env env, napi_callback_info info);

// addon-peers.c
napi_value js_set_peer(napi_env env, napi_callback_info info);
napi_value js_remove_peer(napi_env env, napi_callback_info info);
napi_value js_set_session(napi_env env, napi_callback_info info);
napi_value js_remove_session(napi_env env, napi_callback_info info);
napi_value js_send(napi_env env, napi_callback_info info);
napi_value js_encrypt(napi_env env, napi_callback_info info);
napi_value js_keepalive(napi_env env, napi_callback_info info);
napi_value js_inject(napi_env env, napi_callback_info info);
napi_value js_decrypt(napi_env env, napi_callback_info info);

#endif
