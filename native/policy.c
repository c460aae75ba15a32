// The helper's policy: which prefixes it puts into the kernel or forwards to (every caller, and
// stricter for callers that are not root), and the root-owned allow lists that widen it.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

// The caller is not root (a user running the binary with its file capability) or came through
// pkexec: the helper's own policy applies (policy_check_prefix).
int restricted = 0;
struct allow forward_allow, route_allow; // read from root-owned files when restricted
static const struct allow overlay = {2, {{AF_INET, {100, 64}, 10}, {AF_INET6, {0xfd}, 8}}};

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

// The one check for every prefix the helper puts into the kernel or forwards to: an address (whose
// prefix the kernel routes through the device, so `c` is checked as that prefix), a route (at
// setup and from the janitor), a subnet to forward and masquerade. NULL when allowed, else why not.
// For everyone: nothing wider than IPv4 /8 or IPv6 /16 (the default route or half the address
// space must never be taken over). For a caller that is not root, also: addresses inside the overlay
// ranges only; routes inside them or inside a prefix root listed in ROUTE_ALLOW; forwarded subnets
// inside a prefix root listed in FORWARD_ALLOW.
const char *policy_check_prefix(const struct cidr *c, enum use use) {
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
int exit_allowed(const struct allow *a) {
  struct cidr all = {.family = AF_INET, .prefix = 0};
  return !restricted || within_any(&all, a);
}

// Reads an allow list that only root can have written: one CIDR per line, blank lines and '#'
// comments. A missing file (or directory) is an empty list; a file or directory that is not owned
// by root, is writable by group or others, or is not what it should be (a symlink, a FIFO) is
// refused, as is a line that is not a CIDR.
void load_allow(const char *path, struct allow *a) {
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
void check_or_refuse(const struct cidr *c, enum use use, const char *opt) {
  const char *why = policy_check_prefix(c, use);
  if (!why) return;
  char text[INET6_ADDRSTRLEN];
  inet_ntop(c->family, c->addr, text, sizeof text);
  fail(EXIT_REFUSED, "refused: %s %s/%d: %s", opt, text, c->prefix, why);
}
