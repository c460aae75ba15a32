// TCP coalescing for TUN writes (GRO in user space): consecutive in-order segments of one TCP flow
// decrypted in one receive batch are written to the TUN device as one super-packet with a
// virtio_net_hdr (GSO TCPV4/TCPV6, partial checksum), so the kernel's TCP stack takes one large packet
// instead of dozens of MTU-sized ones. Everything else is written as it is, in order per flow.
#include <linux/virtio_net.h>
#include <string.h>
#include <unistd.h>

#include "gro.h"

#define TCP_ACK 0x10
#define TCP_PSH 0x08

/** Where the TCP header starts and how long the headers are; 0 when the packet cannot coalesce. */
static int tcp_parse(const uint8_t *p, uint32_t len, uint32_t *iph, uint32_t *hdrs, int *v6) {
  if ((p[0] >> 4) == 4) {
    if (len < 40 || p[0] != 0x45 || p[9] != 6) return 0; // no IP options
    if ((p[6] & 0x3f) || p[7]) return 0;                // fragments
    *iph = 20;
    *v6 = 0;
  } else if ((p[0] >> 4) == 6) {
    if (len < 60 || p[6] != 6) return 0; // no extension headers
    *iph = 40;
    *v6 = 1;
  } else {
    return 0;
  }
  uint32_t tcph = (uint32_t)(p[*iph + 12] >> 4) * 4;
  if (tcph < 20 || *iph + tcph > len) return 0;
  uint8_t flags = p[*iph + 13];
  if ((flags & ~(TCP_ACK | TCP_PSH)) || !(flags & TCP_ACK)) return 0;
  *hdrs = *iph + tcph;
  return len > *hdrs; // data only
}

static uint32_t get32be(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put16be(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
}

/** Same flow and headers that may be merged (addresses, ports, TOS/TTL, ack, window, options). */
static int same_flow(const dp_gro_flow_t *f, const uint8_t *p, uint32_t iph, uint32_t hdrs) {
  const uint8_t *q = f->buf + DP_VNET_HDR;
  if (f->iph != iph || f->hdrs != hdrs) return 0;
  if (iph == 20) {
    if (q[1] != p[1] || q[8] != p[8] || memcmp(q + 12, p + 12, 8)) return 0;
  } else {
    if (memcmp(q, p, 4) || q[7] != p[7] || memcmp(q + 8, p + 8, 32)) return 0;
  }
  // ports; ack number; window; options (timestamps differ between segments: then not merged)
  return memcmp(q + iph, p + iph, 4) == 0 && memcmp(q + iph + 8, p + iph + 8, 4) == 0 &&
         memcmp(q + iph + 14, p + iph + 14, 2) == 0 && memcmp(q + iph + 20, p + iph + 20, hdrs - iph - 20) == 0;
}

/** Same TCP 4-tuple as the flow (any flags, any header length); 0 for anything not TCP. */
static int same_tuple(const dp_gro_flow_t *f, const uint8_t *p, uint32_t len) {
  const uint8_t *q = f->buf + DP_VNET_HDR;
  uint32_t iph;
  if ((p[0] >> 4) == 4 && f->iph == 20) {
    iph = (uint32_t)(p[0] & 15) * 4;
    if (len < 20 || p[9] != 6 || iph < 20 || iph + 4 > len || memcmp(q + 12, p + 12, 8)) return 0;
  } else if ((p[0] >> 4) == 6 && f->iph == 40) {
    iph = 40;
    if (len < 44 || p[6] != 6 || memcmp(q + 8, p + 8, 32)) return 0;
  } else {
    return 0;
  }
  return memcmp(q + f->iph, p + iph, 4) == 0;
}

static void write_tun(dp_t *dp, uint8_t *buf, uint32_t len) {
  if (write(dp->tun_fd, buf, len) < 0) dp_count(dp, DPC_tunWriteError, 1);
}

static void flow_flush(dp_t *dp, dp_gro_flow_t *f) {
  uint8_t *h = f->buf;
  uint8_t *p = h + DP_VNET_HDR;
  memset(h, 0, DP_VNET_HDR);
  if (f->segs > 1) {
    struct virtio_net_hdr v;
    memset(&v, 0, sizeof v);
    v.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    v.gso_type = f->iph == 20 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    v.hdr_len = (uint16_t)f->hdrs;
    v.gso_size = (uint16_t)f->mss;
    v.csum_start = (uint16_t)f->iph;
    v.csum_offset = 16;
    memcpy(h, &v, sizeof v);
    uint32_t l4 = f->len - f->iph;
    if (f->iph == 20) {
      put16be(p + 2, f->len);
      p[10] = p[11] = 0;
      uint16_t c = dp_checksum(p, 20, 0);
      memcpy(p + 10, &c, 2);
    } else {
      put16be(p + 4, f->len - 40);
    }
    // Partial checksum: the pseudo-header sum, not complemented; the kernel completes it.
    uint8_t *t = p + f->iph;
    t[16] = t[17] = 0;
    uint8_t ph[40];
    uint32_t n;
    if (f->iph == 20) {
      memcpy(ph, p + 12, 8);
      ph[8] = 0;
      ph[9] = 6;
      put16be(ph + 10, l4);
      n = 12;
    } else {
      memcpy(ph, p + 8, 32);
      ph[32] = (uint8_t)(l4 >> 24);
      ph[33] = (uint8_t)(l4 >> 16);
      put16be(ph + 34, l4);
      ph[36] = ph[37] = ph[38] = 0;
      ph[39] = 6;
      n = 40;
    }
    uint16_t c = (uint16_t)~dp_checksum(ph, n, 0);
    memcpy(t + 16, &c, 2);
    dp_count(dp, DPC_tunGsoWrites, 1);
  }
  write_tun(dp, h, f->len + DP_VNET_HDR);
  f->segs = 0;
}

void dp_gro_init(dp_gro_t *g, uint8_t *mem) {
  memset(g, 0, sizeof *g);
  for (int i = 0; i < DP_GRO_FLOWS; i++) g->flows[i].buf = mem + (size_t)i * DP_GRO_BUF;
}

void dp_gro_flush(dp_gro_t *g, dp_t *dp) {
  for (int i = 0; i < DP_GRO_FLOWS; i++)
    if (g->flows[i].segs) flow_flush(dp, &g->flows[i]);
}

/** The decrypted packet at pkt (with DP_VNET_HDR writable bytes before it). */
void dp_gro_add(dp_gro_t *g, dp_t *dp, uint8_t *pkt, uint32_t len) {
  uint32_t iph, hdrs;
  int v6;
  if (!tcp_parse(pkt, len, &iph, &hdrs, &v6)) {
    // Not coalescable: flush its flow first if it is TCP (order within the flow), then write it.
    for (int i = 0; i < DP_GRO_FLOWS; i++) {
      dp_gro_flow_t *f = &g->flows[i];
      if (f->segs && same_tuple(f, pkt, len)) flow_flush(dp, f);
    }
    memset(pkt - DP_VNET_HDR, 0, DP_VNET_HDR);
    write_tun(dp, pkt - DP_VNET_HDR, len + DP_VNET_HDR);
    return;
  }
  uint32_t payload = len - hdrs;
  uint32_t seq = get32be(pkt + iph + 4);
  int psh = (pkt[iph + 13] & TCP_PSH) != 0;
  dp_gro_flow_t *free_f = NULL;
  for (int i = 0; i < DP_GRO_FLOWS; i++) {
    dp_gro_flow_t *f = &g->flows[i];
    if (!f->segs) {
      if (!free_f) free_f = f;
      continue;
    }
    if (!same_tuple(f, pkt, len)) continue;
    if (same_flow(f, pkt, iph, hdrs) && !f->closed && seq == f->next_seq && payload <= f->mss && f->len + payload <= DP_GRO_MAX) {
      memcpy(f->buf + DP_VNET_HDR + f->len, pkt + hdrs, payload);
      f->len += payload;
      f->next_seq = seq + payload;
      f->segs++;
      if (psh) f->buf[DP_VNET_HDR + iph + 13] |= TCP_PSH;
      f->closed = psh || payload < f->mss; // a short or pushed segment ends a super-packet
      dp_count(dp, DPC_tunCoalesced, 1);
      return;
    }
    flow_flush(dp, f); // out of order or full: what we have goes first
    if (!free_f) free_f = f;
  }
  if (!free_f) { // all flows busy: write the oldest
    free_f = &g->flows[g->victim];
    g->victim = (g->victim + 1) % DP_GRO_FLOWS;
    flow_flush(dp, free_f);
  }
  memcpy(free_f->buf + DP_VNET_HDR, pkt, len);
  free_f->iph = iph;
  free_f->hdrs = hdrs;
  free_f->len = len;
  free_f->mss = payload;
  free_f->next_seq = seq + payload;
  free_f->segs = 1;
  free_f->closed = psh;
}
