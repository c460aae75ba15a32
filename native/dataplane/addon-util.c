// Argument and value helpers of the Node-API calls: the handle and the numbers, booleans, Buffers
// and endpoints they take, and the values they build for JavaScript.
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "addon.h"

napi_value args_of(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
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
wrap_t *handle_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  if (!args_of(env, info, n, argv)) return NULL;
  return wrap_of(env, argv[0]);
}

int get_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return 0;
  *out = (uint32_t)d;
  return 1;
}

/** A call (handle, u32, ...): the wrap and the number, or NULL with an exception. */
wrap_t *handle_u32(napi_env env, napi_callback_info info, napi_value argv[3], uint32_t *id,
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

int is_type(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return v && napi_typeof(env, v, &got) == napi_ok && got == t;
}

napi_value prop(napi_env env, napi_value obj, const char *name) {
  napi_value v = NULL;
  if (!is_type(env, obj, napi_object) || napi_get_named_property(env, obj, name, &v) != napi_ok) return NULL;
  return v;
}

int get_double(napi_env env, napi_value obj, const char *name, double *out) {
  napi_value v = prop(env, obj, name);
  if (!is_type(env, v, napi_number)) return 0;
  return napi_get_value_double(env, v, out) == napi_ok;
}

int get_bool(napi_env env, napi_value obj, const char *name, int dflt) {
  napi_value v = prop(env, obj, name);
  bool b;
  if (!is_type(env, v, napi_boolean) || napi_get_value_bool(env, v, &b) != napi_ok) return dflt;
  return b;
}

int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (!v || napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
}

/** {address, port} -> socket address in the family of the UDP socket (v4 mapped into a v6 socket). */
int parse_endpoint(napi_env env, napi_value v, int family, dp_addr_t *a) {
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

napi_value endpoint_value(napi_env env, const dp_addr_t *a) {
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

void set_num(napi_env env, napi_value o, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, o, name, n);
}

void set_str(napi_env env, napi_value o, const char *name, const char *v) {
  napi_value s;
  napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, name, s);
}

napi_value bool_value(napi_env env, int b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}
