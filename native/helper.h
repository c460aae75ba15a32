// What the helper's files share (peermesh-helper.c, helper-util.c, policy.c, dns-sockets.c,
// netlink.c, janitor.c, access-rules.c): the constants, the types that cross files, the globals and
// the functions one file calls in another. What the helper does: the top of peermesh-helper.c.
#ifndef PEERMESH_HELPER_H
#define PEERMESH_HELPER_H

#include <linux/if.h>
#include <linux/netlink.h>
#include <stddef.h>

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

// The forwarding sysctls: main turns them on for --forward and --exit, the janitor restores them.
#define FWD4 "/proc/sys/net/ipv4/ip_forward"
#define FWD6 "/proc/sys/net/ipv6/conf/all/forwarding"

// What a prefix is checked for (policy_check_prefix, policy.c).
enum use { USE_ADDR, USE_ROUTE, USE_FORWARD };

// A --dns socket (dns-sockets.c).
struct dns_sock {
  struct cidr at; // the address (prefix unused)
  int port;       // as asked; only DNS_PORT passes the policy
  int fd;         // the bound socket, or -1
  int err;        // bind()'s errno when fd is -1 (-1: the address is on another interface too)
  char other[IFNAMSIZ]; // that interface
};

// An rtnetlink (or nfnetlink) request being built (netlink.c).
struct nlreq {
  union {
    struct nlmsghdr h;
    unsigned char raw[1024];
  };
};

// An nftables table of access rules being built by the janitor (access-rules.c).
#define ACCESS_MAX_RULES 512
struct access_build {
  char script[ACCESS_MAX_RULES * 200 + 1024];
  int off, rules, deny, open;
  unsigned char v6[8];
};

// The channel to the core (helper-util.c; main sets it), and whether the caller is restricted and
// root's allow lists (policy.c, which says what they are).
extern int chan_fd;
extern int restricted;
extern struct allow forward_allow, route_allow;

// helper-util.c
void say(const char *fmt, ...);
int write_all(int fd, const unsigned char *buf, size_t len);
void send_control(const char *json);
__attribute__((noreturn)) void usage_error(const char *fmt, ...);
__attribute__((noreturn)) void fail(int code, const char *fmt, ...);
__attribute__((noreturn)) void setup_error(const char *what, int err);
int parse_cidr(const char *s, struct cidr *c);
int valid_ifname(const char *s);

// policy.c
const char *policy_check_prefix(const struct cidr *c, enum use use);
int exit_allowed(const struct allow *a);
void load_allow(const char *path, struct allow *a);
void check_or_refuse(const struct cidr *c, enum use use, const char *opt);

// dns-sockets.c
void bind_service_cap(int raise, int all);
int parse_dns(const char *s, struct dns_sock *d);
const char *policy_check_dns(const struct dns_sock *d, int i, const struct dns_sock *all, const struct cidr *addrs,
                             int naddr);
void bind_dns(struct dns_sock *d, int ndns, const char *ifname);

// netlink.c
void nl_attr(struct nlreq *r, unsigned short type, const void *data, size_t len);
int nl_talk(int fd, struct nlreq *r);
int nl_link_up(int fd, int ifindex, int mtu);
int nl_addr(int fd, int ifindex, const struct cidr *c, int add);
int nl_add_addr(int fd, int ifindex, const struct cidr *c);
int nl_route(int fd, int ifindex, const struct cidr *c, int add);
int nl_add_route(int fd, int ifindex, const struct cidr *c);

// janitor.c
int run_tool_io(const char *const paths[2], char *const args[], const char *script, char *out, size_t cap);
int run_nft(const char *script);
int nft_table_absent(const char *name);
int read_sysctl(const char *path);
int write_sysctl(const char *path, int v);
__attribute__((noreturn)) void janitor(int fd, int ifindex, const char *ifname, const char *table, int table_made,
                                       int old4, int old6);

// access-rules.c
void access_begin(struct access_build *a, const char *ifname, const char *table, const unsigned char *m);
int access_rule(struct access_build *a, const char *ifname, const unsigned char *m);
int access_commit(struct access_build *a, const char *ifname);
void access_off(const char *table);
long long access_dropped(const char *table);

#endif
