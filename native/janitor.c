// The janitor, the privileged process forked beside the packet pump (see peermesh-helper.c): the
// nft and ip tools it runs, the exit-node rules, the forwarding sysctls, and its request loop and
// cleanup. Its access rules are in access-rules.c.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

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
int run_tool_io(const char *const paths[2], char *const args[], const char *script, char *out, size_t cap) {
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

int run_nft(const char *script) {
  static const char *const paths[2] = {"/usr/sbin/nft", "/sbin/nft"};
  char *const args[] = {"nft", "-f", "-", NULL};
  return run_tool(paths, args, script);
}

// Whether the nftables table `inet NAME` surely does not exist (asked over netlink, no nft process):
// deleting a leftover that is not there then costs nothing, which is every start and every stop
// without access rules. Any answer but "no such table" (an error, no permission) says maybe.
int nft_table_absent(const char *name) {
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

int read_sysctl(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char b[8] = {0};
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  return n > 0 ? b[0] - '0' : -1;
}

int write_sysctl(const char *path, int v) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char b = (char)('0' + v);
  int r = write(fd, &b, 1) == 1 ? 0 : -1;
  close(fd);
  return r;
}

// The janitor: privileged, tiny. Serves route requests on `fd` (fixed 19-byte messages, one errno
// byte back: EPERM when policy_check_prefix refuses, EINVAL when malformed) and on end-of-file
// undoes forwarding and NAT, then exits. Ignores the terminal's signals so that a Ctrl-C reaches
// the helper (whose exit is our cue) and never skips the cleanup.
void janitor(int fd, int ifindex, const char *ifname, const char *table, int table_made, int old4, int old6) {
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
