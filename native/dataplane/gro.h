// TCP coalescing for TUN writes (gro.c).
#ifndef PEERMESH_DP_GRO_H
#define PEERMESH_DP_GRO_H
#include "dp.h"

#define DP_GRO_FLOWS 8
#define DP_GRO_BUF (65536 + 64)
#define DP_GRO_MAX 65000 // IP packet bytes of one super-packet at most

typedef struct {
  uint8_t *buf; // DP_VNET_HDR bytes, then the packet being built
  uint32_t iph, hdrs, len, mss, next_seq, segs;
  int closed;
} dp_gro_flow_t;

typedef struct {
  dp_gro_flow_t flows[DP_GRO_FLOWS];
  int victim;
} dp_gro_t;

void dp_gro_init(dp_gro_t *g, uint8_t *mem); // mem: DP_GRO_FLOWS * DP_GRO_BUF bytes
void dp_gro_add(dp_gro_t *g, dp_t *dp, uint8_t *pkt, uint32_t len);
void dp_gro_flush(dp_gro_t *g, dp_t *dp);
#endif
