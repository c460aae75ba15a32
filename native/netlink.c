// Netlink: requests built attribute by attribute and acknowledged one at a time, and with them the
// rtnetlink calls that bring the device up with its MTU and add or remove its addresses and routes
// (the janitor asks nftables over netlink with the same two: nft_table_absent in janitor.c).
#include <errno.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "helper.h"

void nl_attr(struct nlreq *r, unsigned short type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
  if (at + RTA_SPACE(len) > sizeof r->raw) return; // cannot happen with our fixed attribute sets
  struct rtattr *a = (struct rtattr *)(r->raw + at);
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(r->raw + at + RTA_LENGTH(0), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

// Send one request and wait for its acknowledgement; returns 0 or a positive errno.
int nl_talk(int fd, struct nlreq *r) {
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

int nl_link_up(int fd, int ifindex, int mtu) {
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

int nl_addr(int fd, int ifindex, const struct cidr *c, int add) {
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

int nl_add_addr(int fd, int ifindex, const struct cidr *c) { return nl_addr(fd, ifindex, c, 1); }

int nl_route(int fd, int ifindex, const struct cidr *c, int add) {
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

int nl_add_route(int fd, int ifindex, const struct cidr *c) { return nl_route(fd, ifindex, c, 1); }
