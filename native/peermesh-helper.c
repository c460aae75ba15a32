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
//
// This file holds main() (the options, the setup in its order, the pump) and what only it uses (the
// privilege drop, the fd passing). The mechanisms are in helper-util.c, policy.c, dns-sockets.c,
// netlink.c, janitor.c and access-rules.c; what they share is declared in helper.h.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "helper.h"

static volatile sig_atomic_t stop_signal = 0;

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
