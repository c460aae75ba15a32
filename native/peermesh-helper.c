// peermesh-helper: the only privileged part of PeerMesh (Linux).
//
// It creates a TUN device, gives it an MTU, addresses and routes (rtnetlink), then drops every
// privilege and moves IP packets between the device and the PeerMesh core over a unix stream
// socket inherited as fd 3, in batches. When the channel closes (the core exited, however it
// exited) or on SIGTERM/SIGINT/SIGHUP it exits; the device is not persistent, so the kernel removes
// it with its addresses and routes when our file descriptor closes. Protocol: docs/helper.md.
//
// With --pass-fd N (the core's native data plane), the device is opened with IFF_VNET_HDR and,
// once privileges are dropped, its descriptor is handed to the core over the unix socket N
// (SCM_RIGHTS) and closed here: the core reads and writes the device itself, and the device lives
// as long as the core's descriptor. The helper then only serves route frames and exits when the
// channel closes, as in the pump mode.
//
// With --forward (a subnet this node offers to the mesh) or --dynamic-routes (routes learned at
// runtime), a tiny privileged "janitor" process is forked before the privileges are dropped. It
// only (a) adds/removes routes through this one device on request, validated, and (b) when the
// helper is gone — however it ended, kill -9 included — removes the NAT table and restores the
// forwarding sysctls it changed. The packet pump itself never holds a privilege.
//
// Installed with a file capability (cap_net_admin+ep, mode 0750 root:peermesh), the helper can be
// started by users who are not root. Then (and under pkexec) it enforces its own policy, in one
// function, policy_check_prefix(), for every address, route and forwarded subnet — at setup and in
// the janitor: addresses and routes inside the overlay ranges (100.64.0.0/10, fd00::/8) only, other
// routes and --forward only inside prefixes that root lists in /etc/peermesh/route.allow and
// /etc/peermesh/forward.allow; no --user. The device is always new (IFF_TUN_EXCL). docs/helper.md.
//
// With --dns ADDR (fd mode only), the helper also binds a UDP socket on port 53 of ADDR for the
// core's DNS responder and hands it over beside the TUN descriptor: ADDR must be one of its own
// --addr addresses, on no other interface, never a wildcard, and the port is always 53. For that one
// bind() it raises cap_net_bind_service (from its file capability: cap_net_admin,cap_net_bind_service
// +ep) into its effective set; the rest of the time that capability is not effective, and the janitor
// drops it at once.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"

#define VERSION "0.1.0"
#define MAX_CIDRS 64
#define BUF_SIZE (512 * 1024)
#define MAX_PACKET 65535
#define BATCH 64
#define FRAME_PACKET 0x01
#define FRAME_CONTROL 0x02
#define FRAME_ROUTE 0x03 // core -> helper: op(1: add, 2: delete) family(4|6) prefix addr[16]
#define MAX_FORWARD 16 // advertised routes: MESH_MAX_ROUTES in main/core/constants.ts (keep equal)
#define MAX_ALLOW 64
#define MAX_DNS 4 // --dns sockets (the node's overlay IPv4 and IPv6)
#define DNS_PORT 53
#define ALLOW_DIR "/etc/peermesh"
#define FORWARD_ALLOW ALLOW_DIR "/forward.allow"
#define ROUTE_ALLOW ALLOW_DIR "/route.allow"
// Exit codes (docs/helper.md): 0 normal teardown, 1 a setup step failed, 2 bad arguments,
// 3 refused by the policy for callers that are not root.
#define EXIT_REFUSED 3

struct cidr {
  int family; // AF_INET or AF_INET6
  unsigned char addr[16];
  int prefix;
};

struct allow {
  int n;
  struct cidr c[MAX_ALLOW];
};

static int chan_fd = -1;
static volatile sig_atomic_t stop_signal = 0;
// The caller is not root (a user running the binary with its file capability) or came through
// pkexec: the helper's own policy applies (policy_check_prefix).
static int restricted = 0;
static struct allow forward_allow, route_allow; // read from root-owned files when restricted
static const struct allow overlay = {2, {{AF_INET, {100, 64}, 10}, {AF_INET6, {0xfd}, 8}}};

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("peermesh-helper: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

// Write all of buf to a (still blocking) fd; used only before the pump starts.
static int write_all(int fd, const unsigned char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

// A control frame: u16 big-endian length (type + payload), type 0x02, JSON payload.
static void send_control(const char *json) {
  size_t len = strlen(json) + 1;
  unsigned char frame[1024];
  if (chan_fd < 0 || len + 2 > sizeof frame) return;
  frame[0] = (unsigned char)(len >> 8);
  frame[1] = (unsigned char)len;
  frame[2] = FRAME_CONTROL;
  memcpy(frame + 3, json, len - 1);
  (void)write_all(chan_fd, frame, len + 2);
}

static void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("peermesh-helper: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\nusage: peermesh-helper --name IFNAME --mtu N [--addr CIDR]... [--route CIDR]... [--forward CIDR]... [--exit] [--dynamic-routes] [--fd N] [--pass-fd N [--dns ADDR]...] [--user NAME]\n",
        stderr);
  va_end(ap);
  exit(2);
}

// Tell the core (error frame, once the channel is known) and stderr, then exit with `code`.
// Messages are built from constants, inet_ntop() output, numbers and strerror() only: no quotes or
// backslashes to escape in the JSON.
static void fail(int code, const char *fmt, ...) {
  char msg[512], json[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  say("%s", msg);
  snprintf(json, sizeof json, "{\"type\":\"error\",\"message\":\"%s\"}", msg);
  send_control(json);
  exit(code);
}

// A setup step failed: exit 1.
static void setup_error(const char *what, int err) { fail(1, "%s: %s", what, strerror(err)); }

static int parse_cidr(const char *s, struct cidr *c) {
  char buf[64];
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  if (alen == 0 || alen >= sizeof buf) return -1;
  memcpy(buf, s, alen);
  buf[alen] = 0;
  memset(c, 0, sizeof *c);
  if (inet_pton(AF_INET, buf, c->addr) == 1) {
    c->family = AF_INET;
  } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
    c->family = AF_INET6;
  } else {
    return -1;
  }
  int max = c->family == AF_INET ? 32 : 128;
  c->prefix = max;
  if (slash) {
    const char *p = slash + 1;
    if (*p == 0 || strlen(p) > 3) return -1;
    int v = 0;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return -1;
      v = v * 10 + (*p - '0');
    }
    if (v > max) return -1;
    c->prefix = v;
  }
  return 0;
}

static int valid_ifname(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= IFNAMSIZ) return 0;
  for (; *s; s++) {
    char ch = *s;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '.' || ch == '-'))
      return 0;
  }
  return 1;
}

// ------------------------------------------------------------------------------------ policy

// Whether prefix `in` lies inside `outer`: same family, at least as long, same leading bits.
static int cidr_within(const struct cidr *in, const struct cidr *outer) {
  if (in->family != outer->family || in->prefix < outer->prefix) return 0;
  for (int bit = 0; bit < outer->prefix; bit++) {
    unsigned char m = (unsigned char)(0x80 >> (bit % 8));
    if ((in->addr[bit / 8] ^ outer->addr[bit / 8]) & m) return 0;
  }
  return 1;
}

static int within_any(const struct cidr *c, const struct allow *a) {
  for (int i = 0; i < a->n; i++)
    if (cidr_within(c, &a->c[i])) return 1;
  return 0;
}

enum use { USE_ADDR, USE_ROUTE, USE_FORWARD };

// The one check for every prefix the helper puts into the kernel or forwards to: an address (whose
// prefix the kernel routes through the device, so `c` is checked as that prefix), a route (at
// setup and from the janitor), a subnet to forward and masquerade. NULL when allowed, else why not.
// For everyone: nothing wider than IPv4 /8 or IPv6 /16 (the default route or half the address
// space must never be taken over). For a caller that is not root, also: addresses inside the overlay
// ranges only; routes inside them or inside a prefix root listed in ROUTE_ALLOW; forwarded subnets
// inside a prefix root listed in FORWARD_ALLOW.
static const char *policy_check_prefix(const struct cidr *c, enum use use) {
  int max = c->family == AF_INET ? 32 : 128;
  if (c->family != AF_INET && c->family != AF_INET6) return "not IPv4 or IPv6";
  if (c->prefix > max) return "prefix too long";
  if (c->prefix < (c->family == AF_INET ? 8 : 16)) return "wider than IPv4 /8 or IPv6 /16";
  if (!restricted) return NULL;
  int in_overlay = within_any(c, &overlay);
  if (use == USE_ADDR && !in_overlay)
    return "outside the overlay ranges 100.64.0.0/10 and fd00::/8 (the caller is not root)";
  if (use == USE_ROUTE && !in_overlay && !within_any(c, &route_allow))
    return "outside the overlay ranges 100.64.0.0/10 and fd00::/8 and not in " ROUTE_ALLOW
           " (the caller is not root)";
  if (use == USE_FORWARD && !within_any(c, &forward_allow))
    return "not in " FORWARD_ALLOW " (the caller is not root)";
  return NULL;
}

// Whether this caller may route everything (an exit node, or using one): root, or root listed
// 0.0.0.0/0 in `a` (FORWARD_ALLOW to be an exit, ROUTE_ALLOW to use one).
static int exit_allowed(const struct allow *a) {
  struct cidr all = {.family = AF_INET, .prefix = 0};
  return !restricted || within_any(&all, a);
}

// Reads an allow list that only root can have written: one CIDR per line, blank lines and '#'
// comments. A missing file (or directory) is an empty list; a file or directory that is not owned
// by root, is writable by group or others, or is not what it should be (a symlink, a FIFO) is
// refused, as is a line that is not a CIDR.
static void load_allow(const char *path, struct allow *a) {
  struct stat st;
  a->n = 0;
  if (lstat(ALLOW_DIR, &st) != 0) {
    if (errno == ENOENT) return;
    setup_error(ALLOW_DIR, errno);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
    fail(EXIT_REFUSED, "refusing %s: not a directory owned by root and writable only by root", ALLOW_DIR);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return;
    fail(EXIT_REFUSED, "refusing %s: %s", path, strerror(errno));
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
    fail(EXIT_REFUSED, "refusing %s: not a regular file owned by root and writable only by root", path);
  char buf[8192];
  size_t len = 0;
  ssize_t n;
  while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) setup_error(path, errno);
    len += (size_t)n;
  }
  close(fd);
  if (len == sizeof buf) fail(EXIT_REFUSED, "refusing %s: larger than %zu bytes", path, sizeof buf - 1);
  buf[len] = 0;
  int line = 0;
  for (char *p = buf, *next; p && *p; p = next) {
    line++;
    next = strchr(p, '\n');
    if (next) *next++ = 0;
    char *hash = strchr(p, '#');
    if (hash) *hash = 0;
    while (*p == ' ' || *p == '\t') p++;
    size_t l = strlen(p);
    while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\r')) p[--l] = 0;
    if (l == 0) continue;
    if (a->n >= MAX_ALLOW) fail(EXIT_REFUSED, "refusing %s: more than %d prefixes", path, MAX_ALLOW);
    if (parse_cidr(p, &a->c[a->n]) != 0) fail(EXIT_REFUSED, "refusing %s: line %d is not a CIDR", path, line);
    a->n++;
  }
}

// Refuses `c` (exit 3) unless policy_check_prefix allows it for `use`.
static void check_or_refuse(const struct cidr *c, enum use use, const char *opt) {
  const char *why = policy_check_prefix(c, use);
  if (!why) return;
  char text[INET6_ADDRSTRLEN];
  inet_ntop(c->family, c->addr, text, sizeof text);
  fail(EXIT_REFUSED, "refused: %s %s/%d: %s", opt, text, c->prefix, why);
}

// ------------------------------------------------------------------------------------ DNS sockets

// cap_net_bind_service in (or out of) the effective set, and with `all`, out of every set. The
// helper holds it (from its file capability, or as root) only to bind the --dns sockets: it is
// lowered at the start, raised around those bind() calls only, and gone after the privilege drop.
static void bind_service_cap(int raise, int all) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return;
  unsigned int bit = 1u << CAP_NET_BIND_SERVICE;
  if (raise) data[0].effective |= data[0].permitted & bit;
  else data[0].effective &= ~bit;
  if (all) data[0].permitted &= ~bit, data[0].inheritable &= ~bit;
  (void)syscall(SYS_capset, &hdr, data);
}

struct dns_sock {
  struct cidr at; // the address (prefix unused)
  int port;       // as asked; only DNS_PORT passes the policy
  int fd;         // the bound socket, or -1
  int err;        // bind()'s errno when fd is -1 (-1: the address is on another interface too)
  char other[IFNAMSIZ]; // that interface
};

// `--dns ADDR`, `--dns ADDR:PORT` or `--dns [ADDR6]:PORT`; 0, or -1 when it is not that.
static int parse_dns(const char *s, struct dns_sock *d) {
  char buf[64];
  const char *port = NULL;
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof buf) return -1;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':') return -1;
    memcpy(buf, s + 1, (size_t)(end - s - 1));
    buf[end - s - 1] = 0;
    port = end + 2;
  } else {
    memcpy(buf, s, n + 1);
    char *colon = strchr(buf, ':');
    if (colon && !strchr(colon + 1, ':')) { // IPv4:PORT (an IPv6 address has several colons)
      *colon = 0;
      port = colon + 1;
    }
  }
  memset(d, 0, sizeof *d);
  d->fd = -1;
  d->port = DNS_PORT;
  if (inet_pton(AF_INET, buf, d->at.addr) == 1) d->at.family = AF_INET;
  else if (inet_pton(AF_INET6, buf, d->at.addr) == 1) d->at.family = AF_INET6;
  else return -1;
  d->at.prefix = d->at.family == AF_INET ? 32 : 128;
  if (port) {
    if (*port == 0 || strlen(port) > 5) return -1;
    int v = 0;
    for (const char *p = port; *p; p++) {
      if (*p < '0' || *p > '9') return -1;
      v = v * 10 + (*p - '0');
    }
    d->port = v;
  }
  return 0;
}

// Whether an interface other than `ours` has address `c` (its name into `other`); also 1 when the
// interfaces cannot be read (`other` "?"): the socket is then not bound.
static int on_other_interface(const struct cidr *c, const char *ours, char other[IFNAMSIZ]) {
  struct ifaddrs *list;
  if (getifaddrs(&list) != 0) {
    snprintf(other, IFNAMSIZ, "?");
    return 1; // cannot tell: refuse
  }
  int found = 0;
  for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != c->family || strcmp(i->ifa_name, ours) == 0) continue;
    const void *a = c->family == AF_INET ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                                         : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
    if (memcmp(a, c->addr, c->family == AF_INET ? 4 : 16) == 0) {
      // The name goes into a JSON message and a log line: only the characters our names may have.
      snprintf(other, IFNAMSIZ, "%s", i->ifa_name);
      for (char *q = other; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
              *q == '.' || *q == '-'))
          *q = '?';
      found = 1;
    }
  }
  freeifaddrs(list);
  return found;
}

// Why `--dns` `d` is refused (NULL: allowed), before anything is created: port 53 only, never a
// wildcard or loopback address, only one of this device's own --addr addresses, given once. For
// every caller, root included. (An address another interface has too is refused at the bind: the
// setup goes on without that socket, as for a port another program holds.)
static const char *policy_check_dns(const struct dns_sock *d, int i, const struct dns_sock *all,
                                    const struct cidr *addrs, int naddr) {
  static const unsigned char zero[16], loop6[16] = {[15] = 1};
  int len = d->at.family == AF_INET ? 4 : 16;
  if (d->port != DNS_PORT) return "only port 53 (DNS) is bound by the helper";
  if (memcmp(d->at.addr, zero, (size_t)len) == 0) return "a wildcard address: only the device's own addresses";
  if ((d->at.family == AF_INET && d->at.addr[0] == 127) ||
      (d->at.family == AF_INET6 && memcmp(d->at.addr, loop6, 16) == 0))
    return "a loopback address: only the device's own addresses";
  int mine = 0;
  for (int k = 0; k < naddr && !mine; k++)
    mine = addrs[k].family == d->at.family && memcmp(addrs[k].addr, d->at.addr, (size_t)len) == 0;
  if (!mine) return "not an address of this device (give it with --addr)";
  for (int k = 0; k < i; k++)
    if (all[k].at.family == d->at.family && memcmp(all[k].at.addr, d->at.addr, (size_t)len) == 0)
      return "given twice";
  return NULL;
}

// Bind each --dns socket on the device `ifname` has just been given its addresses: port 53, on an
// address that no other interface has (another user's node, a service of root's: never bound);
// cap_net_bind_service effective for the bind() calls only. A socket that is refused or cannot be
// bound (the port is taken, no capability) is reported to the core in the ready frame, which then
// keeps the hosts file for that address.
static void bind_dns(struct dns_sock *d, int ndns, const char *ifname) {
  for (int i = 0; i < ndns; i++) {
    d[i].fd = -1;
    if (on_other_interface(&d[i].at, ifname, d[i].other)) {
      d[i].err = -1; // refused: another interface has it
      continue;
    }
    int fd = socket(d[i].at.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      d[i].err = errno;
      continue;
    }
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(DNS_PORT)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(DNS_PORT)};
    memcpy(&in4.sin_addr, d[i].at.addr, 4);
    memcpy(&in6.sin6_addr, d[i].at.addr, 16);
    int one = 1;
    if (d[i].at.family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    bind_service_cap(1, 0);
    int r = d[i].at.family == AF_INET ? bind(fd, (struct sockaddr *)&in4, sizeof in4)
                                      : bind(fd, (struct sockaddr *)&in6, sizeof in6);
    int e = errno;
    bind_service_cap(0, 0);
    if (r != 0) {
      d[i].err = e;
      close(fd);
      continue;
    }
    d[i].fd = fd;
  }
}

// ------------------------------------------------------------------------------------ rtnetlink

struct nlreq {
  union {
    struct nlmsghdr h;
    unsigned char raw[1024];
  };
};

static void nl_attr(struct nlreq *r, unsigned short type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
  if (at + RTA_SPACE(len) > sizeof r->raw) return; // cannot happen with our fixed attribute sets
  struct rtattr *a = (struct rtattr *)(r->raw + at);
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(r->raw + at + RTA_LENGTH(0), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

// Send one request and wait for its acknowledgement; returns 0 or a positive errno.
static int nl_talk(int fd, struct nlreq *r) {
  static unsigned int seq = 0;
  r->h.nlmsg_seq = ++seq;
  r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  unsigned char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        return -e->error;
      }
    }
  }
}

static int nl_link_up(int fd, int ifindex, int mtu) {
  struct nlreq r;
  memset(&r, 0, sizeof r);
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  r.h.nlmsg_type = RTM_NEWLINK;
  struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  unsigned int m = (unsigned int)mtu;
  nl_attr(&r, IFLA_MTU, &m, sizeof m);
  return nl_talk(fd, &r);
}

static int nl_addr(int fd, int ifindex, const struct cidr *c, int add) {
  struct nlreq r;
  memset(&r, 0, sizeof r);
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  r.h.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  r.h.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
  struct ifaddrmsg *ifa = NLMSG_DATA(&r.h);
  ifa->ifa_family = (unsigned char)c->family;
  ifa->ifa_prefixlen = (unsigned char)c->prefix;
  ifa->ifa_index = (unsigned int)ifindex;
  size_t alen = c->family == AF_INET ? 4 : 16;
  nl_attr(&r, IFA_LOCAL, c->addr, alen);
  nl_attr(&r, IFA_ADDRESS, c->addr, alen);
  if (c->family == AF_INET6) {
    unsigned int flags = IFA_F_NODAD; // usable at once: the overlay has no duplicate to detect
    nl_attr(&r, IFA_FLAGS, &flags, sizeof flags);
  }
  return nl_talk(fd, &r);
}

static int nl_add_addr(int fd, int ifindex, const struct cidr *c) { return nl_addr(fd, ifindex, c, 1); }

static int nl_route(int fd, int ifindex, const struct cidr *c, int add) {
  struct nlreq r;
  memset(&r, 0, sizeof r);
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  r.h.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  r.h.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
  struct rtmsg *rt = NLMSG_DATA(&r.h);
  rt->rtm_family = (unsigned char)c->family;
  rt->rtm_dst_len = (unsigned char)c->prefix;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_STATIC;
  rt->rtm_scope = RT_SCOPE_LINK;
  rt->rtm_type = RTN_UNICAST;
  // Mask host bits so the kernel accepts e.g. 10.1.2.3/8 as 10.0.0.0/8.
  unsigned char dst[16];
  memcpy(dst, c->addr, 16);
  for (int i = 0; i < 16; i++) {
    int bits = c->prefix - i * 8;
    dst[i] &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
  }
  nl_attr(&r, RTA_DST, dst, c->family == AF_INET ? 4 : 16);
  unsigned int oif = (unsigned int)ifindex;
  nl_attr(&r, RTA_OIF, &oif, sizeof oif);
  return nl_talk(fd, &r);
}

static int nl_add_route(int fd, int ifindex, const struct cidr *c) { return nl_route(fd, ifindex, c, 1); }

// ------------------------------------------------------------------------------------ janitor

// For the nft child only: CAP_NET_ADMIN into the inheritable and ambient sets, so that it keeps the
// capability across execve() when this helper holds it as a file capability (no root). The helper
// itself never raises an ambient capability.
static void pass_net_admin_to_exec(void) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return;
  data[0].inheritable |= 1u << CAP_NET_ADMIN;
  if (syscall(SYS_capset, &hdr, data) != 0) return;
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0);
}

// Run a tool (nft, ip) with `script` on its stdin, the capability passed on when we hold it as a
// file capability; 0 on success.
// Run a tool with a fixed environment: `script` (if any) on its stdin, and up to `cap` - 1 bytes of
// its stdout into `out` (if given; else stdout and stderr go to /dev/null). 0 when it exits 0.
static int run_tool_io(const char *const paths[2], char *const args[], const char *script, char *out, size_t cap) {
  int in[2] = {-1, -1}, rd[2] = {-1, -1};
  if ((script && pipe2(in, O_CLOEXEC) != 0) || (out && pipe2(rd, O_CLOEXEC) != 0)) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(script ? in[0] : devnull, 0);
    dup2(out ? rd[1] : devnull, 1);
    dup2(devnull, 2);
    char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    if (getuid() != 0) pass_net_admin_to_exec();
    execve(paths[0], args, env);
    execve(paths[1], args, env);
    _exit(127);
  }
  if (script) {
    close(in[0]);
    (void)write_all(in[1], (const unsigned char *)script, strlen(script));
    close(in[1]);
  }
  if (out) {
    close(rd[1]);
    size_t got = 0;
    while (got + 1 < cap) {
      ssize_t n = read(rd[0], out + got, cap - 1 - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    out[got] = 0;
    close(rd[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int run_tool(const char *const paths[2], char *const args[], const char *script) {
  return run_tool_io(paths, args, script, NULL, 0);
}

static int run_nft(const char *script) {
  static const char *const paths[2] = {"/usr/sbin/nft", "/sbin/nft"};
  char *const args[] = {"nft", "-f", "-", NULL};
  return run_tool(paths, args, script);
}

// Whether the nftables table `inet NAME` surely does not exist (asked over netlink, no nft process):
// deleting a leftover that is not there then costs nothing, which is every start and every stop
// without access rules. Any answer but "no such table" (an error, no permission) says maybe.
static int nft_table_absent(const char *name) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return 0;
  struct nlreq r;
  memset(&r, 0, sizeof r);
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  r.h.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
  struct nfgenmsg *g = NLMSG_DATA(&r.h);
  g->nfgen_family = NFPROTO_INET;
  g->version = NFNETLINK_V0;
  nl_attr(&r, NFTA_TABLE_NAME, name, strlen(name) + 1);
  int e = nl_talk(fd, &r);
  close(fd);
  return e == ENOENT;
}

// `ip -4|-6 -batch -`; with `force`, every line is tried even after one fails (deleting what may be
// gone).
static int run_ip(const char *script, int force, int fam) {
  static const char *const paths[2] = {"/usr/sbin/ip", "/sbin/ip"};
  char *family = fam == 6 ? "-6" : "-4";
  char *const plain[] = {"ip", family, "-batch", "-", NULL};
  char *const forced[] = {"ip", family, "-force", "-batch", "-", NULL};
  return run_tool(paths, force ? forced : plain, script);
}

// Using an exit node: everything goes through the device, except the tunnel's own datagrams (UDP
// from our listen port) and, with LAN access, what the main table routes more specifically than
// its default (wg-quick's rules, selected by source port instead of a firewall mark). One table and
// three rule priorities per interface index. Returns 0, or an errno.
#define EXIT_TABLE_BASE 52000
#define EXIT_PREF_BASE 10000
static void exit_rules_off(int ifindex, const char *table) {
  int pref = EXIT_PREF_BASE + (ifindex % 5000) * 4;
  char script[256];
  int off = 0;
  for (int k = 0; k < 3; k++) off += snprintf(script + off, sizeof script - (size_t)off, "rule del pref %d\n", pref + k);
  (void)run_ip(script, 1, 4);
  (void)run_ip(script, 1, 6);
  snprintf(script, sizeof script, "%s_dns", table);
  if (nft_table_absent(script)) return;
  snprintf(script, sizeof script, "delete table inet %s_dns\n", table);
  (void)run_nft(script);
}

// With `dns` (the exit's overlay IPv4, not 0.0.0.0): every DNS query this machine sends, to whatever
// resolver it is configured with, goes to the exit's forwarder through the tunnel (no query leaks to a
// LAN or ISP resolver; one on the LAN would be unreachable through the exit anyway). IPv6 resolvers
// outside the overlay are refused (the query falls back to an IPv4 one).
static int exit_rules_on(int ifindex, const char *ifname, const char *table, int port, int allow_lan,
                         const unsigned char dns[4]) {
  exit_rules_off(ifindex, table);
  int pref = EXIT_PREF_BASE + (ifindex % 5000) * 4;
  int rt = EXIT_TABLE_BASE + ifindex;
  char script[2048];
  int off = snprintf(script, sizeof script, "route replace default dev %s table %d\n", ifname, rt);
  off += snprintf(script + off, sizeof script - (size_t)off, "rule add pref %d ipproto udp sport %d lookup main\n",
                  pref, port);
  if (allow_lan)
    off += snprintf(script + off, sizeof script - (size_t)off, "rule add pref %d lookup main suppress_prefixlength 0\n",
                    pref + 1);
  snprintf(script + off, sizeof script - (size_t)off, "rule add pref %d lookup %d\n", pref + 2, rt);
  // IPv4 must hold; IPv6 only where the machine has it (without it there is nothing to leak).
  if (run_ip(script, 0, 4) != 0) {
    exit_rules_off(ifindex, table);
    return EIO;
  }
  (void)run_ip(script, 0, 6);
  if (dns[0] | dns[1] | dns[2] | dns[3]) {
    char to[16];
    snprintf(to, sizeof to, "%u.%u.%u.%u", dns[0], dns[1], dns[2], dns[3]);
    snprintf(script, sizeof script,
             "table inet %s_dns {\n chain out {\n  type nat hook output priority -100; policy accept;\n"
             "  ip daddr 100.64.0.0/10 return\n  meta nfproto ipv4 udp dport 53 dnat ip to %s\n"
             "  meta nfproto ipv4 tcp dport 53 dnat ip to %s\n }\n"
             // a query first routed to the LAN keeps its LAN source: our overlay address instead
             " chain post {\n  type nat hook postrouting priority 100; policy accept;\n"
             "  oifname \"%s\" ip daddr %s udp dport 53 masquerade\n"
             "  oifname \"%s\" ip daddr %s tcp dport 53 masquerade\n }\n chain out6 {\n"
             "  type filter hook output priority 0; policy accept;\n"
             "  ip6 daddr != fd00::/8 udp dport 53 reject\n  ip6 daddr != fd00::/8 tcp dport 53 reject\n }\n}\n",
             table, to, to, ifname, to, ifname, to);
    if (run_nft(script) != 0) {
      exit_rules_off(ifindex, table);
      return EIO;
    }
  }
  return 0;
}

static int read_sysctl(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char b[8] = {0};
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  return n > 0 ? b[0] - '0' : -1;
}

static int write_sysctl(const char *path, int v) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char b = (char)('0' + v);
  int r = write(fd, &b, 1) == 1 ? 0 : -1;
  close(fd);
  return r;
}

// Access rules (docs/access.md): who may reach this machine through the device. The core sends a
// begin (default and the network's IPv6 /64), the rules, a commit; the janitor builds one nftables
// table from these fixed-size fields only (no text from the core) and replaces the old one in one
// transaction. Replies to established connections always pass; dropped packets are counted.
#define ACCESS_MAX_RULES 512
struct access_build {
  char script[ACCESS_MAX_RULES * 200 + 1024];
  int off, rules, deny, open;
  unsigned char v6[8];
};

static void access_add(struct access_build *a, const char *fmt, ...) {
  if (a->off < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(a->script + a->off, sizeof a->script - (size_t)a->off, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof a->script - (size_t)a->off) a->off = -1; // too long: refused at commit
  else a->off += n;
}

static void access_begin(struct access_build *a, const char *ifname, const char *table, const unsigned char *m) {
  a->off = 0;
  a->rules = 0;
  a->deny = m[1] == 1;
  a->open = 1;
  memcpy(a->v6, m + 3, 8);
  access_add(a,
             "add table inet %s_access\ndelete table inet %s_access\ntable inet %s_access {\n counter dropped {}\n"
             " chain input {\n  type filter hook input priority filter; policy accept;\n"
             "  iifname \"%s\" ct state established,related accept\n",
             table, table, table, ifname);
}

// One rule: m[1] action (high nibble: 1 allow, 2 deny) | protocol (low: 0 any, 1 tcp, 2 udp,
// 3 icmp); m[2..3], m[4..5] first and last port (big-endian; tcp/udp only, 0 0: any); m[6] source
// (0: any member, 1: the one below); m[7..10] its IPv4; m[11..18] its IPv6 interface id. 0 or errno.
static int access_rule(struct access_build *a, const char *ifname, const unsigned char *m) {
  int action = m[1] >> 4, proto = m[1] & 15, lo = (m[2] << 8) | m[3], hi = (m[4] << 8) | m[5];
  if (!a->open || (action != 1 && action != 2) || proto > 3 || m[6] > 1 || lo > hi ||
      (proto != 1 && proto != 2 && (lo || hi)) || (lo == 0 && hi != 0))
    return EINVAL;
  if (++a->rules > ACCESS_MAX_RULES) return E2BIG;
  char l4[64] = "";
  static const char *const names[] = {"", "tcp", "udp"};
  if (proto == 3) snprintf(l4, sizeof l4, " meta l4proto { icmp, ipv6-icmp }");
  else if (proto && lo == hi && lo) snprintf(l4, sizeof l4, " %s dport %d", names[proto], lo);
  else if (proto && lo) snprintf(l4, sizeof l4, " %s dport %d-%d", names[proto], lo, hi);
  else if (proto) snprintf(l4, sizeof l4, " meta l4proto %s", names[proto]);
  const char *verdict = action == 1 ? "accept" : "counter name \"dropped\" drop";
  if (m[6] == 0) {
    access_add(a, "  iifname \"%s\"%s %s\n", ifname, l4, verdict);
    return 0;
  }
  unsigned char v6[16];
  memcpy(v6, a->v6, 8);
  memcpy(v6 + 8, m + 11, 8);
  char t4[INET_ADDRSTRLEN], t6[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET, m + 7, t4, sizeof t4);
  inet_ntop(AF_INET6, v6, t6, sizeof t6);
  access_add(a, "  iifname \"%s\" ip saddr %s%s %s\n  iifname \"%s\" ip6 saddr %s%s %s\n", ifname, t4, l4, verdict,
             ifname, t6, l4, verdict);
  return 0;
}

static int access_commit(struct access_build *a, const char *ifname) {
  if (!a->open) return EINVAL;
  a->open = 0;
  if (a->deny) access_add(a, "  iifname \"%s\" counter name \"dropped\" drop\n", ifname);
  access_add(a, " }\n}\n");
  if (a->off < 0) return E2BIG;
  return run_nft(a->script) == 0 ? 0 : EIO;
}

static void access_off(const char *table) {
  char script[160];
  snprintf(script, sizeof script, "%s_access", table);
  if (nft_table_absent(script)) return;
  snprintf(script, sizeof script, "delete table inet %s_access\n", table);
  (void)run_nft(script);
}

// Packets the access rules dropped so far (0 without the table), or -1.
static long long access_dropped(const char *table) {
  static const char *const paths[2] = {"/usr/sbin/nft", "/sbin/nft"};
  char name[96], out[1024];
  snprintf(name, sizeof name, "%s_access", table);
  char *const args[] = {"nft", "list", "counter", "inet", name, "dropped", NULL};
  if (run_tool_io(paths, args, NULL, out, sizeof out) != 0) return 0;
  const char *p = strstr(out, "packets ");
  return p ? strtoll(p + 8, NULL, 10) : -1;
}

#define FWD4 "/proc/sys/net/ipv4/ip_forward"
#define FWD6 "/proc/sys/net/ipv6/conf/all/forwarding"

// The janitor: privileged, tiny. Serves route requests on `fd` (fixed 19-byte messages, one errno
// byte back: EPERM when policy_check_prefix refuses, EINVAL when malformed) and on end-of-file
// undoes forwarding and NAT, then exits. Ignores the terminal's signals so that a Ctrl-C reaches
// the helper (whose exit is our cue) and never skips the cleanup.
static void janitor(int fd, int ifindex, const char *ifname, const char *table, int table_made, int old4,
                    int old6) {
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  prctl(PR_SET_NAME, "pm-janitor", 0, 0, 0);
  bind_service_cap(0, 1); // the janitor needs cap_net_admin only
  access_off(table); // access rules left by a helper killed together with its janitor
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  unsigned char m[19];
  int exit_on = 0, access_on = 0;
  static struct access_build access;
  for (;;) {
    size_t got = 0;
    while (got < sizeof m) {
      ssize_t n = read(fd, m + got, sizeof m - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) goto cleanup;
      got += (size_t)n;
    }
    struct cidr c = {.family = m[1] == 4 ? AF_INET : m[1] == 6 ? AF_INET6 : 0, .prefix = m[2]};
    memcpy(c.addr, m + 3, 16);
    unsigned char err = EINVAL;
    int e = -1;
    // Ops 1/2: add/remove a route through this device; 3/4: an address of it (the core's overlay
    // address changed). The same policy as at setup, for both: an address implies its prefix route.
    int is_addr = m[0] == 3 || m[0] == 4;
    if (m[0] >= 1 && m[0] <= 4 && c.family && nl >= 0) {
      if (policy_check_prefix(&c, is_addr ? USE_ADDR : USE_ROUTE)) err = EPERM;
      else if (is_addr) e = nl_addr(nl, ifindex, &c, m[0] == 3);
      else e = nl_route(nl, ifindex, &c, m[0] == 1);
    }
    // Ops 5/6: route everything through the device (using an exit node) / stop. m[1]: 1 = keep LAN
    // access; m[3..4]: our UDP listen port (big-endian), whose datagrams keep the main table.
    if (m[0] == 5 || m[0] == 6) {
      int port = (m[3] << 8) | m[4];
      if (m[0] == 6) {
        exit_rules_off(ifindex, table);
        exit_on = 0;
        e = 0;
      } else if (!exit_allowed(&route_allow)) {
        err = EPERM;
      } else if (port == 0 || m[1] > 1 || (m[5] != 0 && m[5] != 100)) {
        err = EINVAL; // m[5..8]: the exit's overlay IPv4 (100.64.0.0/10) for DNS, or 0.0.0.0
      } else {
        e = exit_rules_on(ifindex, ifname, table, port, m[1], m + 5);
        exit_on = e == 0;
      }
    }
    // Op 7: this node is the gateway of devices (docs/devices.md): IPv4 forwarding for packets that
    // arrive on this device only (its own sysctl, gone with it), and from the device back into it
    // only (the forward chain drops the rest as before).
    if (m[0] == 7) {
      char path[96], script[512];
      snprintf(path, sizeof path, "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
      snprintf(script, sizeof script,
               "add table inet %s\nadd chain inet %s from_mesh { type filter hook forward priority filter; policy "
               "accept; }\ninsert rule inet %s from_mesh iifname \"%s\" oifname \"%s\" accept\n"
               "add rule inet %s from_mesh iifname \"%s\" drop\n",
               table, table, table, ifname, ifname, table, ifname);
      if (run_nft(script) != 0) e = EIO;
      else {
        table_made = 1;
        e = write_sysctl(path, 1) == 0 ? 0 : errno;
      }
    }
    // Ops 8-12: access rules (begin, rule, commit, off, dropped count: 8 more bytes in the answer).
    if (m[0] == 8) {
      access_begin(&access, ifname, table, m);
      e = 0;
    } else if (m[0] == 9) {
      e = access_rule(&access, ifname, m);
    } else if (m[0] == 10) {
      e = access_commit(&access, ifname);
      access_on = access_on || e == 0;
    } else if (m[0] == 11) {
      access_off(table);
      access_on = 0;
      e = 0;
    }
    if (m[0] == 12) {
      long long n = access_on ? access_dropped(table) : 0;
      unsigned char ans[9] = {n < 0 ? EIO : 0};
      for (int i = 0; i < 8; i++) ans[1 + i] = (unsigned char)((unsigned long long)(n < 0 ? 0 : n) >> (56 - 8 * i));
      if (write_all(fd, ans, sizeof ans) != 0) break;
      continue;
    }
    if (e >= 0) err = (unsigned char)(e > 255 ? EIO : e);
    if (write_all(fd, &err, 1) != 0) break;
  }
cleanup:
  if (access_on) access_off(table);
  if (exit_on) exit_rules_off(ifindex, table);
  if (table_made) {
    char script[160];
    snprintf(script, sizeof script, "delete table inet %s\n", table);
    (void)run_nft(script);
  }
  if (old4 == 0) (void)write_sysctl(FWD4, 0);
  if (old6 == 0) (void)write_sysctl(FWD6, 0);
  _exit(0);
}

// ------------------------------------------------------------------------------------ privileges

static void drop_privileges(const char *user) {
  if (getuid() == 0 || geteuid() == 0) {
    uid_t uid = 65534;
    gid_t gid = 65534;
    struct passwd *pw = getpwnam(user);
    if (pw) {
      uid = pw->pw_uid;
      gid = pw->pw_gid;
    } else if (strcmp(user, "nobody") != 0) {
      setup_error("unknown --user", ENOENT);
    }
    if (setgroups(0, NULL) != 0) setup_error("setgroups", errno);
    if (setresgid(gid, gid, gid) != 0) setup_error("setresgid", errno);
    if (setresuid(uid, uid, uid) != 0) setup_error("setresuid", errno);
  }
  // Whatever the uid (root above, or a binary given cap_net_admin by setcap): no capability left.
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) != 0) setup_error("capset", errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_error("no_new_privs", errno);
}

// ------------------------------------------------------------------------------------ fd passing

// Hand `fd` to the core over the unix socket `sock` (fdpass.h).
static int pass_fd(int sock, int fd) { return fdpass_send(sock, fd, 0); }

// ------------------------------------------------------------------------------------ main

static void on_signal(int sig) { stop_signal = sig; }

int main(int argc, char **argv) {
  const char *name = NULL, *user = "nobody";
  int mtu = 0, fd_arg = 3, naddr = 0, nroute = 0, pass_arg = -1;
  struct cidr addrs[MAX_CIDRS], routes[MAX_CIDRS], fwd[MAX_FORWARD];
  int have_v6 = 0, nfwd = 0, dynamic = 0, user_given = 0, exit_node = 0, ndns = 0;
  struct dns_sock dns[MAX_DNS];

  // Descriptors 0-2 closed by the caller would be reused by the device or a socket below, and
  // stderr's messages would go there: open them on /dev/null first.
  for (int i = 0; i < 3; i++)
    if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) != i) return 1;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--version") == 0) {
      puts("peermesh-helper " VERSION);
      return 0;
    }
    if (strcmp(a, "--dynamic-routes") == 0) {
      dynamic = 1;
      continue;
    }
    if (strcmp(a, "--exit") == 0) {
      exit_node = 1;
      continue;
    }
    if (i + 1 >= argc) usage_error("%s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--name") == 0) {
      if (!valid_ifname(v)) usage_error("bad interface name \"%s\" (1-15 of A-Z a-z 0-9 _ . -)", v);
      name = v;
    } else if (strcmp(a, "--mtu") == 0) {
      char *end;
      long m = strtol(v, &end, 10);
      if (*v == 0 || *end != 0 || m < 576 || m > 65535) usage_error("bad --mtu \"%s\" (576-65535)", v);
      mtu = (int)m;
    } else if (strcmp(a, "--addr") == 0 || strcmp(a, "--route") == 0) {
      int is_addr = a[2] == 'a';
      int *n = is_addr ? &naddr : &nroute;
      if (*n >= MAX_CIDRS) usage_error("too many %s (max %d)", a, MAX_CIDRS);
      struct cidr *c = is_addr ? &addrs[*n] : &routes[*n];
      if (parse_cidr(v, c) != 0) usage_error("bad %s \"%s\" (IPv4 or IPv6 CIDR)", a, v);
      if (c->family == AF_INET6) have_v6 = 1;
      (*n)++;
    } else if (strcmp(a, "--forward") == 0) {
      if (nfwd >= MAX_FORWARD) usage_error("too many --forward (max %d)", MAX_FORWARD);
      if (parse_cidr(v, &fwd[nfwd]) != 0) usage_error("bad --forward \"%s\" (IPv4 or IPv6 CIDR)", v);
      nfwd++;
    } else if (strcmp(a, "--fd") == 0) {
      char *end;
      long f = strtol(v, &end, 10);
      // 1: the channel is stdout (a launcher such as pkexec marks fds >= 3 close-on-exec)
      if (*v == 0 || *end != 0 || (f != 1 && f < 3) || f > 1024) usage_error("bad --fd \"%s\"", v);
      fd_arg = (int)f;
    } else if (strcmp(a, "--pass-fd") == 0) {
      char *end;
      long f = strtol(v, &end, 10);
      // 0: stdin, when the channel is stdout behind a launcher that closes descriptors above 2
      if (*v == 0 || *end != 0 || (f != 0 && f < 3) || f > 1024) usage_error("bad --pass-fd \"%s\"", v);
      pass_arg = (int)f;
    } else if (strcmp(a, "--dns") == 0) {
      if (ndns >= MAX_DNS) usage_error("too many --dns (max %d)", MAX_DNS);
      if (parse_dns(v, &dns[ndns]) != 0) usage_error("bad --dns \"%s\" (ADDR, ADDR:53 or [ADDR6]:53)", v);
      ndns++;
    } else if (strcmp(a, "--user") == 0) {
      user = v;
      user_given = 1;
    } else {
      usage_error("unknown option \"%s\"", a);
    }
  }
  if (!name) usage_error("--name is required");
  if (!mtu) usage_error("--mtu is required");
  if (have_v6 && mtu < 1280) usage_error("--mtu must be at least 1280 with IPv6 addresses or routes");
  if (ndns > 0 && pass_arg < 0) usage_error("--dns needs --pass-fd (the sockets are handed over there)");
  // cap_net_bind_service is for the --dns bind() calls only (bind_dns raises it around them).
  bind_service_cap(0, ndns == 0);
  struct stat st;
  if (fstat(fd_arg, &st) != 0 || !S_ISSOCK(st.st_mode))
    usage_error("fd %d is not a socket: this program is started by the PeerMesh core", fd_arg);
  chan_fd = fd_arg;
  if (pass_arg >= 0) {
    int type = 0;
    socklen_t tl = sizeof type;
    if (pass_arg == fd_arg || fstat(pass_arg, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(pass_arg, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_SEQPACKET)
      usage_error("--pass-fd %d is not a unix seqpacket socket other than the channel", pass_arg);
    (void)fcntl(pass_arg, F_SETFD, FD_CLOEXEC);
  }
  (void)fcntl(chan_fd, F_SETFD, FD_CLOEXEC);
  pid_t parent = getppid();

  // The policy for callers that are not root (docs/helper.md "Who may run it"), checked before
  // anything changes. PKEXEC_UID only ever makes it stricter: pkexec sets it for what it starts.
  restricted = getuid() != 0 || geteuid() != 0 || getenv("PKEXEC_UID") != NULL;
  if (restricted) {
    if (user_given)
      fail(EXIT_REFUSED, "refused: --user needs a caller that is root (the helper runs as its caller)");
    load_allow(FORWARD_ALLOW, &forward_allow);
    load_allow(ROUTE_ALLOW, &route_allow);
  } else {
    struct passwd *pw = getpwnam(user);
    if (pw && pw->pw_uid == 0) fail(EXIT_REFUSED, "refused: --user with uid 0: the packet pump never runs as root");
  }
  for (int i = 0; i < naddr; i++) check_or_refuse(&addrs[i], USE_ADDR, "--addr");
  for (int i = 0; i < nroute; i++) check_or_refuse(&routes[i], USE_ROUTE, "--route");
  for (int i = 0; i < nfwd; i++) check_or_refuse(&fwd[i], USE_FORWARD, "--forward");
  if (exit_node && !exit_allowed(&forward_allow))
    fail(EXIT_REFUSED, "refused: --exit: 0.0.0.0/0 is not in " FORWARD_ALLOW " (the caller is not root)");
  for (int i = 0; i < ndns; i++) {
    char text[INET6_ADDRSTRLEN];
    const char *why = policy_check_dns(&dns[i], i, dns, addrs, naddr);
    if (!why) continue;
    inet_ntop(dns[i].at.family, dns[i].at.addr, text, sizeof text);
    fail(EXIT_REFUSED, "refused: --dns %s port %d: %s", text, dns[i].port, why);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; // no SA_RESTART: poll() returns EINTR and we leave the loop
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  // Create the device.
  int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun < 0) setup_error("open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL; // a new device only, never someone else's
  if (pass_arg >= 0) ifr.ifr_flags |= IFF_VNET_HDR; // the data plane uses offloads (it sets them up)
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(tun, TUNSETIFF, &ifr) != 0) {
    char what[64];
    snprintf(what, sizeof what, "create TUN device %s", name);
    setup_error(what, errno == EBUSY || errno == EINVAL ? EEXIST : errno); // EXCL: EBUSY if it exists
  }
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0 || ioctl(ctl, SIOCGIFINDEX, &ifr) != 0) setup_error("get interface index", errno);
  close(ctl);
  int ifindex = ifr.ifr_ifindex;

  // Configure it.
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) setup_error("netlink socket", errno);
  int err = nl_link_up(nl, ifindex, mtu);
  if (err) setup_error("set MTU and bring the interface up", err);
  char text[INET6_ADDRSTRLEN], what[128];
  for (int i = 0; i < naddr; i++) {
    if ((err = nl_add_addr(nl, ifindex, &addrs[i]))) {
      inet_ntop(addrs[i].family, addrs[i].addr, text, sizeof text);
      snprintf(what, sizeof what, "add address %s/%d", text, addrs[i].prefix);
      setup_error(what, err);
    }
  }
  for (int i = 0; i < nroute; i++) {
    if ((err = nl_add_route(nl, ifindex, &routes[i]))) {
      inet_ntop(routes[i].family, routes[i].addr, text, sizeof text);
      snprintf(what, sizeof what, "add route %s/%d", text, routes[i].prefix);
      setup_error(what, err);
    }
  }
  close(nl);

  // Large channel buffers (FORCE works with CAP_NET_ADMIN, which we still hold here).
  int sz = 4 << 20;
  if (setsockopt(chan_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
    (void)setsockopt(chan_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  if (setsockopt(chan_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
    (void)setsockopt(chan_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);

  // Subnets this node offers: forwarding on, masquerade from the device into them; and the janitor.
  int jfd = -1;
  pid_t jpid = -1;
  if (nfwd > 0 || dynamic || exit_node) {
    char table[64] = "";
    int old4 = -1, old6 = -1, table_made = 0;
    // peermesh_<ifname>, one name per interface name: letters and digits as they are, any other
    // character as _xx (hex), so that "pm-a" and "pm_a" never share a table (the crash cleanup
    // below deletes the table of this name). At most 9 + 15 * 3 characters.
    size_t tl = (size_t)snprintf(table, sizeof table, "peermesh_");
    for (const char *q = ifr.ifr_name; *q && tl + 4 <= sizeof table; q++) {
      int alnum = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9');
      tl += (size_t)(alnum ? snprintf(table + tl, sizeof table - tl, "%c", *q)
                           : snprintf(table + tl, sizeof table - tl, "_%02x", (unsigned char)*q));
    }
    if (nfwd > 0 || exit_node) {
      table_made = 1;
      char script[4096];
      int off = snprintf(script, sizeof script, "delete table inet %s\n", table);
      if (!nft_table_absent(table)) (void)run_nft(script); // left by a helper killed with its janitor
      off = snprintf(script, sizeof script,
                     "table inet %s {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n",
                     table);
      int want4 = exit_node, want6 = exit_node;
      for (int i = 0; i < nfwd; i++) {
        inet_ntop(fwd[i].family, fwd[i].addr, text, sizeof text);
        off += snprintf(script + off, sizeof script - (size_t)off, "  iifname \"%s\" %s daddr %s/%d masquerade\n",
                        ifr.ifr_name, fwd[i].family == AF_INET ? "ip" : "ip6", text, fwd[i].prefix);
        if (fwd[i].family == AF_INET) want4 = 1;
        else want6 = 1;
      }
      // An exit: everything from the device that leaves by another interface (docs/exit-nodes.md).
      if (exit_node)
        off += snprintf(script + off, sizeof script - (size_t)off,
                        "  iifname \"%s\" oifname != \"%s\" masquerade\n", ifr.ifr_name, ifr.ifr_name);
      // What members may reach through us: the offered subnets; as an exit also the internet, but
      // never this machine's private networks (unless offered) nor other overlays. Nothing else is
      // forwarded from the device (forwarding is on for the whole machine).
      off += snprintf(script + off, sizeof script - (size_t)off,
                      " }\n chain from_mesh {\n  type filter hook forward priority filter; policy accept;\n");
      for (int i = 0; i < nfwd; i++) {
        inet_ntop(fwd[i].family, fwd[i].addr, text, sizeof text);
        off += snprintf(script + off, sizeof script - (size_t)off, "  iifname \"%s\" %s daddr %s/%d accept\n",
                        ifr.ifr_name, fwd[i].family == AF_INET ? "ip" : "ip6", text, fwd[i].prefix);
      }
      if (exit_node)
        off += snprintf(script + off, sizeof script - (size_t)off,
                        "  iifname \"%s\" ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, "
                        "169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16 } drop\n"
                        "  iifname \"%s\" ip6 daddr { ::1/128, fc00::/7, fe80::/10 } drop\n"
                        "  iifname \"%s\" oifname != \"%s\" accept\n",
                        ifr.ifr_name, ifr.ifr_name, ifr.ifr_name, ifr.ifr_name);
      snprintf(script + off, sizeof script - (size_t)off, "  iifname \"%s\" drop\n }\n}\n", ifr.ifr_name);
      if (run_nft(script) != 0) setup_error("add the masquerade table (is nftables installed?)", EIO);
      if (want4 && (old4 = read_sysctl(FWD4)) == 0 && write_sysctl(FWD4, 1) != 0)
        setup_error("enable IPv4 forwarding", errno);
      if (want6 && (old6 = read_sysctl(FWD6)) == 0 && write_sysctl(FWD6, 1) != 0)
        setup_error("enable IPv6 forwarding", errno);
    }
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) setup_error("socketpair", errno);
    jpid = fork();
    if (jpid < 0) setup_error("fork", errno);
    if (jpid == 0) {
      close(sp[0]);
      close(chan_fd);
      if (pass_arg >= 0) close(pass_arg);
      close(tun); // the device must go when the helper goes
      janitor(sp[1], ifindex, ifr.ifr_name, table, table_made, old4, old6);
    }
    close(sp[1]);
    jfd = sp[0];
  }

  bind_dns(dns, ndns, ifr.ifr_name); // after the janitor's fork: it never holds these sockets
  drop_privileges(user);
  // Set after the credential change (which resets it); then check the parent did not already go.
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  if (getppid() != parent) return 0;

  // Fd mode: the core takes the device; ours closes, so the device goes exactly when the core's does.
  if (pass_arg >= 0) {
    if (pass_fd(pass_arg, tun) != 0) setup_error("pass the TUN descriptor to the core", errno);
    for (int i = 0; i < ndns; i++) {
      if (dns[i].fd < 0) continue;
      if (pass_fd(pass_arg, dns[i].fd) != 0) setup_error("pass a DNS socket to the core", errno);
      close(dns[i].fd);
    }
    close(pass_arg);
    close(tun);
    tun = -1; // poll() skips a negative fd: from here on the loop serves the channel only
  }

  // The --dns sockets, in order: error null for each one passed (after the TUN descriptor), else why not.
  char ready[1000], list[MAX_DNS * 180] = "";
  size_t ll = 0;
  for (int i = 0; i < ndns; i++) {
    char other[IFNAMSIZ + 48];
    snprintf(other, sizeof other, "refused: an address of another interface %s", dns[i].other);
    const char *why = dns[i].fd >= 0 ? NULL : dns[i].err < 0 ? other : strerror(dns[i].err);
    inet_ntop(dns[i].at.family, dns[i].at.addr, text, sizeof text);
    ll += (size_t)snprintf(list + ll, sizeof list - ll, "%s{\"address\":\"%s\",\"error\":%s%s%s}", i ? "," : "",
                           text, why ? "\"" : "", why ? why : "null", why ? "\"" : "");
  }
  snprintf(ready, sizeof ready,
           "{\"type\":\"ready\",\"ifname\":\"%s\",\"ifindex\":%d,\"mtu\":%d,\"fd\":%s,\"dns\":[%s]}",
           ifr.ifr_name, ifindex, mtu, tun < 0 ? "true" : "false", list);
  send_control(ready);
  say("%s up (ifindex %d, mtu %d), privileges dropped", ifr.ifr_name, ifindex, mtu);

  // ---------------------------------------------------------------------------------- the pump
  if (tun >= 0) fcntl(tun, F_SETFL, fcntl(tun, F_GETFL) | O_NONBLOCK);
  fcntl(chan_fd, F_SETFL, fcntl(chan_fd, F_GETFL) | O_NONBLOCK);
  unsigned char *out = malloc(BUF_SIZE); // frames read from TUN, waiting for the channel
  unsigned char *in = malloc(BUF_SIZE);  // bytes read from the channel, not yet whole frames
  if (!out || !in) setup_error("malloc", ENOMEM);
  size_t out_len = 0, out_sent = 0, in_len = 0;
  unsigned long long dropped = 0;
  const char *why = "channel closed";
  int code = 0;

  while (!stop_signal) {
    struct pollfd p[2] = {
        {.fd = chan_fd, .events = POLLIN | (out_sent < out_len ? POLLOUT : 0)},
        // Read TUN only when the previous batch is fully handed over (backpressure: the kernel's
        // TUN queue drops, as a full NIC queue would).
        {.fd = tun, .events = out_sent < out_len ? 0 : POLLIN},
    };
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      why = "poll failed";
      code = 1;
      break;
    }
    if (p[0].revents & (POLLERR | POLLNVAL)) break;
    if (p[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(chan_fd, in + in_len, BUF_SIZE - in_len);
      if (n == 0) break; // EOF: the core is gone
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0) in_len += (size_t)n;
      size_t off = 0;
      while (in_len - off >= 2) {
        size_t len = ((size_t)in[off] << 8) | in[off + 1];
        if (len == 0) {
          why = "malformed frame (length 0) on the channel";
          code = 1;
          goto done;
        }
        if (in_len - off - 2 < len) break;
        if (in[off + 2] == FRAME_PACKET && len > 1 && tun >= 0) {
          if (write(tun, in + off + 3, len - 1) < 0) dropped++; // EAGAIN/ENOBUFS/EINVAL: drop it
        }
        if (in[off + 2] == FRAME_ROUTE && len == 20) {
          const unsigned char *m = in + off + 3;
          unsigned char err = ENOTSUP, ans[9] = {0};
          size_t want = m[0] == 12 ? 9 : 1, got = 0;
          if (jfd >= 0 && write_all(jfd, m, 19) == 0) {
            while (got < want) {
              ssize_t n = read(jfd, ans + got, want - got);
              if (n < 0 && errno == EINTR) continue;
              if (n <= 0) break;
              got += (size_t)n;
            }
            err = got == want ? ans[0] : EIO;
          }
          unsigned long long count = 0;
          for (int i = 1; i < 9; i++) count = count << 8 | ans[i];
          char rt[INET6_ADDRSTRLEN], msg[512];
          inet_ntop(m[1] == 6 ? AF_INET6 : AF_INET, m + 3, rt, sizeof rt);
          static const char *const ops[] = {"?",           "add",           "delete",        "add-address",
                                            "delete-address", "exit-on",      "exit-off",      "gateway",
                                            "access-begin",   "access-rule",  "access-commit", "access-off",
                                            "access-count"};
          // EPERM comes from policy_check_prefix only (the janitor holds CAP_NET_ADMIN): say what to do.
          const char *why = err != EPERM ? strerror(err)
                            : m[0] == 5  ? "refused for callers that are not root: 0.0.0.0/0 is not in " ROUTE_ALLOW
                            : restricted ? "refused by the policy for callers that are not root: outside "
                                           "100.64.0.0/10 and fd00::/8 (a route: and not in " ROUTE_ALLOW ")"
                                         : "refused: wider than IPv4 /8 or IPv6 /16";
          snprintf(msg, sizeof msg,
                   "{\"type\":\"route\",\"op\":\"%s\",\"route\":\"%s/%d\",\"error\":%s%s%s,\"count\":%llu}",
                   ops[m[0] <= 12 ? m[0] : 0], rt, m[2], err ? "\"" : "", err ? why : "null", err ? "\"" : "", count);
          send_control(msg);
        }
        // Other control frames from the core: ignored for forward compatibility.
        off += 2 + len;
      }
      if (off > 0) {
        memmove(in, in + off, in_len - off);
        in_len -= off;
      }
    }
    if (p[1].revents & POLLIN) {
      out_len = out_sent = 0;
      for (int i = 0; i < BATCH && BUF_SIZE - out_len >= MAX_PACKET + 3; i++) {
        ssize_t n = read(tun, out + out_len + 3, MAX_PACKET - 1);
        if (n <= 0) break;
        out[out_len] = (unsigned char)((n + 1) >> 8);
        out[out_len + 1] = (unsigned char)(n + 1);
        out[out_len + 2] = FRAME_PACKET;
        out_len += 3 + (size_t)n;
      }
    }
    if (out_sent < out_len && (p[1].revents & POLLIN || p[0].revents & POLLOUT)) {
      ssize_t n = write(chan_fd, out + out_sent, out_len - out_sent);
      if (n > 0) out_sent += (size_t)n;
      else if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    }
  }
done:
  if (stop_signal) why = strsignal(stop_signal);
  if (tun >= 0) close(tun); // non-persistent: the kernel removes the device, its addresses and routes
  if (jfd >= 0) {
    close(jfd); // the janitor undoes forwarding and NAT; wait so a restart cannot race it
    while (waitpid(jpid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  say("%s: %s removed (%llu packets dropped)", why, ifr.ifr_name, dropped);
  free(out);
  free(in);
  return code;
}
