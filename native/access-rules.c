// Access rules (docs/access.md): who may reach this machine through the device. The core sends a
// begin (default and the network's IPv6 /64), the rules, a commit; the janitor builds one nftables
// table from these fixed-size fields only (no text from the core) and replaces the old one in one
// transaction. Replies to established connections always pass; dropped packets are counted.
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "helper.h"

static void access_add(struct access_build *a, const char *fmt, ...) {
  if (a->off < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(a->script + a->off, sizeof a->script - (size_t)a->off, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof a->script - (size_t)a->off) a->off = -1; // too long: refused at commit
  else a->off += n;
}

void access_begin(struct access_build *a, const char *ifname, const char *table, const unsigned char *m) {
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
int access_rule(struct access_build *a, const char *ifname, const unsigned char *m) {
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

int access_commit(struct access_build *a, const char *ifname) {
  if (!a->open) return EINVAL;
  a->open = 0;
  if (a->deny) access_add(a, "  iifname \"%s\" counter name \"dropped\" drop\n", ifname);
  access_add(a, " }\n}\n");
  if (a->off < 0) return E2BIG;
  return run_nft(a->script) == 0 ? 0 : EIO;
}

void access_off(const char *table) {
  char script[160];
  snprintf(script, sizeof script, "%s_access", table);
  if (nft_table_absent(script)) return;
  snprintf(script, sizeof script, "delete table inet %s_access\n", table);
  (void)run_nft(script);
}

// Packets the access rules dropped so far (0 without the table), or -1.
long long access_dropped(const char *table) {
  static const char *const paths[2] = {"/usr/sbin/nft", "/sbin/nft"};
  char name[96], out[1024];
  snprintf(name, sizeof name, "%s_access", table);
  char *const args[] = {"nft", "list", "counter", "inet", name, "dropped", NULL};
  if (run_tool_io(paths, args, NULL, out, sizeof out) != 0) return 0;
  const char *p = strstr(out, "packets ");
  return p ? strtoll(p + 8, NULL, 10) : -1;
}
