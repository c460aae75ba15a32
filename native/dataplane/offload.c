// TUN offloads: a read from a TUN fd opened with IFF_VNET_HDR (and TUNSETOFFLOAD TSO) starts with a
// virtio_net_hdr and may carry a TCP super-packet of up to 64 KB; we cut it into MTU-sized TCP segments
// (as the NIC would), each with its own IP and TCP header and full checksums.
#include <linux/virtio_net.h>
#include <string.h>

#include "dp.h"

static uint64_t csum_add(const uint8_t *p, uint32_t len, uint64_t sum) {
  // 32 bytes per round as 32-bit halves of 64-bit loads (no carries lost: each add is < 2^33).
  while (len >= 32) {
    uint64_t w[4];
    memcpy(w, p, 32);
    for (int i = 0; i < 4; i++) sum += (w[i] & 0xffffffffu) + (w[i] >> 32);
    p += 32;
    len -= 32;
  }
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint8_t last[2] = {p[0], 0};
    uint16_t w;
    memcpy(&w, last, 2);
    sum += w;
  }
  return sum;
}

/** Internet checksum of p[0, len) plus a partial sum (in memory order: store it with memcpy). */
static uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

uint16_t dp_checksum(const uint8_t *p, uint32_t len, uint32_t initial) {
  return csum_fold(csum_add(p, len, initial));
}

static uint64_t pseudo_sum(const uint8_t *ip, int v6, uint32_t l4_len, uint8_t proto) {
  uint8_t ph[40];
  if (!v6) {
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = proto;
    ph[10] = (uint8_t)(l4_len >> 8);
    ph[11] = (uint8_t)l4_len;
    return csum_add(ph, 12, 0);
  }
  memcpy(ph, ip + 8, 32);
  ph[32] = (uint8_t)(l4_len >> 24);
  ph[33] = (uint8_t)(l4_len >> 16);
  ph[34] = (uint8_t)(l4_len >> 8);
  ph[35] = (uint8_t)l4_len;
  ph[36] = ph[37] = ph[38] = 0;
  ph[39] = proto;
  return csum_add(ph, 40, 0);
}

static uint16_t get16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static void put16(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
}

int dp_tso_split(const uint8_t *pkt, uint32_t len, dp_slot_fn get_slot, dp_segment_fn done, void *ctx) {
  if (len < DP_VNET_HDR) return -1;
  struct virtio_net_hdr h;
  memcpy(&h, pkt, sizeof h);
  const uint8_t *ip = pkt + DP_VNET_HDR;
  uint32_t total = len - DP_VNET_HDR;
  uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

  if (gso == VIRTIO_NET_HDR_GSO_NONE) {
    if (total > DP_MAX_PACKET) return -1;
    uint8_t *slot = get_slot(ctx);
    if (!slot) return -1;
    uint8_t *out = slot + DP_HEADER;
    memcpy(out, ip, total);
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      uint32_t start = h.csum_start, off = h.csum_offset;
      if (start > total || off + 2 > total - start) return -1;
      // The field holds the pseudo-header sum already: fold the rest over it.
      uint16_t c = dp_checksum(out + start, total - start, 0);
      memcpy(out + start + off, &c, 2);
    }
    return done(ctx, slot, total) < 0 ? -1 : 1;
  }
  if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) return -1;

  int v6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
  uint32_t iph;
  if (!v6) {
    if (total < 20 || (ip[0] >> 4) != 4 || ip[9] != 6) return -1;
    iph = (uint32_t)(ip[0] & 15) * 4;
  } else {
    if (total < 40 || (ip[0] >> 4) != 6 || ip[6] != 6) return -1; // no extension headers
    iph = 40;
  }
  if (iph < 20 || iph + 20 > total) return -1;
  const uint8_t *tcp = ip + iph;
  uint32_t tcph = (uint32_t)(tcp[12] >> 4) * 4;
  uint32_t hdrs = iph + tcph;
  uint32_t mss = h.gso_size;
  if (tcph < 20 || hdrs > total || mss == 0 || hdrs + mss > DP_MAX_PACKET) return -1;

  uint32_t payload = total - hdrs;
  uint32_t seq0 = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
  uint16_t id0 = get16(ip + 4);
  uint8_t flags = tcp[13];
  int n = 0;
  for (uint32_t off = 0; off < payload || (payload == 0 && n == 0); off += mss) {
    uint32_t chunk = payload - off < mss ? payload - off : mss;
    int last = off + chunk >= payload;
    uint8_t *slot = get_slot(ctx);
    if (!slot) return -1;
    uint8_t *o = slot + DP_HEADER;
    memcpy(o, ip, hdrs);
    memcpy(o + hdrs, ip + hdrs + off, chunk);
    uint32_t seglen = hdrs + chunk;
    if (!v6) {
      put16(o + 2, seglen);
      put16(o + 4, (uint16_t)(id0 + n));
      o[10] = o[11] = 0;
      uint16_t c = dp_checksum(o, iph, 0);
      memcpy(o + 10, &c, 2);
    } else {
      put16(o + 4, seglen - 40);
    }
    uint8_t *t = o + iph;
    uint32_t seq = seq0 + off;
    t[4] = (uint8_t)(seq >> 24);
    t[5] = (uint8_t)(seq >> 16);
    t[6] = (uint8_t)(seq >> 8);
    t[7] = (uint8_t)seq;
    uint8_t f = flags;
    if (!last) f &= (uint8_t)~(0x01 | 0x08); // FIN, PSH only on the last segment
    if (n > 0) f &= (uint8_t)~0x80;           // CWR only on the first
    t[13] = f;
    t[16] = t[17] = 0;
    uint16_t c = csum_fold(csum_add(t, tcph + chunk, pseudo_sum(o, v6, tcph + chunk, 6)));
    memcpy(t + 16, &c, 2);
    if (done(ctx, slot, seglen) < 0) return -1;
    n++;
    if (payload == 0) break;
  }
  return n;
}
