// Node-API surface of the data plane (N-API only, so one build loads in Node and Electron).
// Wrapped for TypeScript by main/io/dataplane.ts; see there for the calls and their meaning.
// Here: the handle's life (create, close), the calls on descriptors (TUN and UDP sockets, the
// helper's socketpair and fd passing) and the module's registration. Peers, sessions and packets
// from JS are in addon-peers.c, what goes back to JS in addon-events.c, the argument and value
// helpers in addon-util.c.
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

#include "addon.h"
#include "../fdpass.h"

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error(env, NULL, "dataplane: N-API call failed: " #call);                          \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

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
