// The --dns sockets: cap_net_bind_service raised only around their bind(), the option's parsing, the
// policy for them (port 53 on one of the device's own addresses only), and the bind itself.
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

// cap_net_bind_service in (or out of) the effective set, and with `all`, out of every set. The
// helper holds it (from its file capability, or as root) only to bind the --dns sockets: it is
// lowered at the start, raised around those bind() calls only, and gone after the privilege drop.
void bind_service_cap(int raise, int all) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return;
  unsigned int bit = 1u << CAP_NET_BIND_SERVICE;
  if (raise) data[0].effective |= data[0].permitted & bit;
  else data[0].effective &= ~bit;
  if (all) data[0].permitted &= ~bit, data[0].inheritable &= ~bit;
  (void)syscall(SYS_capset, &hdr, data);
}

// `--dns ADDR`, `--dns ADDR:PORT` or `--dns [ADDR6]:PORT`; 0, or -1 when it is not that.
int parse_dns(const char *s, struct dns_sock *d) {
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
const char *policy_check_dns(const struct dns_sock *d, int i, const struct dns_sock *all,
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
void bind_dns(struct dns_sock *d, int ndns, const char *ifname) {
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
