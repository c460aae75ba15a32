// PeerMesh data plane: WireGuard transport messages (type 4) encrypted and decrypted in C, on threads
// of their own, between a TUN fd and a UDP fd. TypeScript keeps handshakes, timers, the mesh and every
// decision: it installs session keys, peers (endpoint, allowed IPs) and gets back, in batches,
// whatever is not a transport message for a known session plus per-peer events for its timers.
#ifndef PEERMESH_DP_H
#define PEERMESH_DP_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_KEY_SIZE 32
#define DP_HEADER 16
#define DP_TAG 16
#define DP_OVERHEAD (DP_HEADER + DP_TAG)
#define DP_VNET_HDR 10
/** Largest IP packet we build or hand to JS as one slot (segments are at most the MTU). */
#define DP_MAX_PACKET 4096
/** Bytes per packet slot: header room, packet, padding and tag. */
#define DP_SLOT (DP_HEADER + DP_MAX_PACKET + 64)
#define DP_MAX_MTU (DP_MAX_PACKET - 64)

// Replay window: exactly main/core/replay-window.ts (RFC 6479 bitmap of 256 x 32 bits).
#define DP_REPLAY_WORDS 256
#define DP_REPLAY_BITS (DP_REPLAY_WORDS * 32)
#define DP_REPLAY_WINDOW (DP_REPLAY_BITS - 32)

typedef struct {
  uint32_t ring[DP_REPLAY_WORDS];
  int64_t last; // highest counter accepted, -1 for none
} dp_replay_t;

void dp_replay_reset(dp_replay_t *r);
int dp_replay_check(const dp_replay_t *r, uint64_t counter);
int dp_replay_accept(dp_replay_t *r, uint64_t counter);

// Every reason a packet is dropped or handed to JavaScript is counted (nothing is lost silently).
#define DP_COUNTERS(X)                                                                              \
  X(txPackets) X(txBytes) X(rxPackets) X(rxBytes)                                                \
  X(txShort)          /* TUN packet shorter than an IPv4 header or not IPv4/IPv6 */              \
  X(txTooBig)         /* TUN packet larger than a slot */                                        \
  X(txBadGso)         /* vnet header we cannot segment (bad lengths, unknown GSO type) */        \
  X(txNoRoute)        /* no peer owns the destination: handed to JS (mesh adds peers on demand) */ \
  X(txNoSession)      /* peer without a usable session or endpoint: handed to JS (stage+handshake) */ \
  X(txSendError)      /* sendmsg failed (other than a full queue) */                             \
  X(txQueueFull)      /* socket send queue full after waiting: dropped, like a NIC queue */      \
  X(txGsoSends)       /* sendmsg calls carrying several datagrams (UDP GSO) */                   \
  X(tunReads)         /* read() calls on the TUN fd that returned a packet */                    \
  X(tunTsoReads)      /* of which carried a TSO super-packet */                                  \
  X(tunAnswerReads)   /* of which were made right after TUN writes (an answer waiting there) */  \
  X(rxSendThread)     /* receive batches the send thread made (low rates: one thread both ways) */\
  X(rxNotTransport)   /* handshake, cookie, mesh or malformed datagram: handed to JS */          \
  X(rxUnknownIndex)   /* transport message for no session we hold: handed to JS */              \
  X(rxCounterLimit)   /* counter at or beyond rejectAfterMessages */                             \
  X(rxExpired)        /* session older than rejectAfterTime */                                  \
  X(rxReplayed)       /* counter seen before or older than the window */                         \
  X(rxBadTag)         /* authentication failed */                                                \
  X(rxKeepalive)      /* authenticated empty message (counted, nothing written) */               \
  X(rxBadIp)          /* decrypted payload is no valid IPv4/IPv6 packet */                       \
  X(rxWrongSource)    /* source address the peer may not use */                                 \
  X(rxTruncated)      /* datagram larger than our receive buffer */                              \
  X(rxBadGro)         /* GRO segment size we cannot use */                                       \
  X(rxGroBatches)     /* recvmsg results carrying several datagrams (UDP GRO) */                 \
  X(udpReads)         /* datagram buffers returned by recvmmsg */                                \
  X(udpRecvErrors)    /* recvmmsg errors (ICMP errors reported on the socket) */                 \
  X(tunWriteError)    /* write() to the TUN fd failed */                                         \
  X(tunGsoWrites)     /* TUN writes carrying a coalesced TCP super-packet */                     \
  X(tunCoalesced)     /* TCP segments appended to a super-packet (not written on their own) */   \
  X(jsQueueFull)      /* the queue to JS was full: dropped */                                    \
  X(jsTooBig)         /* too large to hand to JS: dropped */                                     \
  X(rxInjected)       /* datagrams JS handed in to be opened by the receive thread (relayed) */  \
  X(injectQueueFull)  /* ... dropped: the queue from JS was full or the datagram too large */   \
  X(sessionsRekey)    /* sessions that reached rekeyAfterMessages (event raised once each) */   \
  X(rxLostInFlight)   /* datagrams the sender's counters skipped, not (yet) arrived: lost on the */ \
                      /* way here, wherever (the underlay, our socket's buffer, GSO batches) */

enum {
#define DP_ENUM(n) DPC_##n,
  DP_COUNTERS(DP_ENUM)
#undef DP_ENUM
      DPC_COUNT
};
extern const char *const dp_counter_names[DPC_COUNT];

// Events per peer (bits, coalesced until JS collects them).
#define DP_EV_DATA_SENT 1u     // a data (non-keepalive) packet was sent
#define DP_EV_DATA_RECEIVED 2u // a data packet was received
#define DP_EV_AUTH_SENT 4u     // any transport message was sent (data or keepalive)
#define DP_EV_AUTH_RECEIVED 8u // any authenticated transport message was received
#define DP_EV_REKEY 16u        // rekeyAfterMessages reached, or initiator session near its age limit
#define DP_EV_CONFIRMED 32u    // first packet received on the "next" session: it is now current
#define DP_EV_ENDPOINT 64u     // the peer roamed: its endpoint changed to the source of a packet
#define DP_EV_LIMIT 128u       // the current session can send no more (counter or age): JS must rekey
/** Bits only JS's timers need: they wake nothing, JS collects them at its tick (poll). */
#define DP_EV_ROUTINE (DP_EV_DATA_SENT | DP_EV_DATA_RECEIVED | DP_EV_AUTH_SENT | DP_EV_AUTH_RECEIVED)

typedef struct {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  };
  socklen_t len; // 0: no endpoint
} dp_addr_t;

struct dp_peer;

typedef struct dp_session {
  uint32_t local_index, remote_index;
  uint8_t send_key[DP_KEY_SIZE], recv_key[DP_KEY_SIZE];
  _Atomic uint64_t send_counter;
  int is_initiator;
  int64_t created_ms; // monotonic
  atomic_int rekey_raised;
  struct dp_peer *peer;
  dp_replay_t replay; // only the receiving thread (or the JS thread in synchronous mode) touches it
} dp_session_t;

typedef struct dp_peer {
  uint32_t id;
  _Atomic(dp_session_t *) current; // sends with this one
  _Atomic(dp_session_t *) next;    // responder's new session until the initiator uses it
  // Endpoint under a seqlock: written by the receiving thread (roaming) and JS, read per batch.
  atomic_uint ep_seq;
  dp_addr_t ep;
  _Atomic uint64_t tx_bytes, rx_bytes, tx_packets, rx_packets;
  atomic_uint events;
  struct dp_peer *next_in_list;
} dp_peer_t;

// Allowed IPs: an open-addressing hash of (family, prefix length, masked address) -> peer, tried from
// the longest prefix length present (like main/core/allowed-ips.ts).
typedef struct {
  uint8_t family, plen, used, _pad;
  uint8_t addr[16];
  dp_peer_t *peer;
} dp_route_t;

typedef struct {
  dp_route_t *slots;
  uint32_t cap, count;
  uint32_t plen_count[2][129]; // routes per prefix length, per family (0: v4, 1: v6)
  uint8_t plens[2][129];       // present prefix lengths, longest first
  uint32_t nplens[2];
} dp_routes_t;

int dp_parse_cidr(const char *s, uint8_t *family, uint8_t *plen, uint8_t addr[16]);
int dp_routes_insert(dp_routes_t *t, uint8_t family, uint8_t plen, const uint8_t addr[16], dp_peer_t *p);
void dp_routes_remove_peer(dp_routes_t *t, dp_peer_t *p);
dp_peer_t *dp_routes_lookup(const dp_routes_t *t, int family, const uint8_t *addr);
void dp_routes_free(dp_routes_t *t);

// Packets and datagrams handed to JavaScript: single-producer single-consumer rings of fixed slots.
#define DP_JS_SLOT_DATA 2048
#define DP_JS_RING 512
#define DP_JS_DATAGRAM 1 // from the UDP socket (handshake, mesh, unknown index)
#define DP_JS_PACKET 2   // from the TUN device (no route, no session)

typedef struct {
  uint8_t kind, reason;
  uint16_t len;
  uint32_t peer;
  dp_addr_t from;
  uint8_t data[DP_JS_SLOT_DATA];
} dp_js_slot_t;

typedef struct {
  dp_js_slot_t *slots;
  _Atomic uint32_t head, tail; // producer writes head, consumer tail
} dp_js_ring_t;

typedef struct {
  uint64_t rekey_after_messages, reject_after_messages;
  int64_t rekey_after_time_ms, reject_after_time_ms;
  uint32_t mtu;
} dp_limits_t;

typedef struct dp dp_t;
typedef void (*dp_notify_fn)(dp_t *dp);

struct dp {
  dp_limits_t lim;
  pthread_rwlock_t lock; // configuration (sessions, peers, routes): written by JS, read per batch
  dp_session_t **sessions; // open addressing by local index
  uint32_t sess_cap, sess_count;
  dp_peer_t *peers;
  dp_routes_t routes;
  _Atomic uint64_t counters[DPC_COUNT];
  dp_js_ring_t js_rx, js_tx; // producers: receive thread, send thread
  dp_js_ring_t inject;       // producer: JS (transport messages it unwrapped, e.g. from a relay)
  atomic_int notify_pending;
  dp_notify_fn notify;
  void *notify_ctx;
  // I/O (absent in synchronous mode: tun_fd = udp_fd = -1)
  int tun_fd, udp_fd, udp_family, stop_fd, inject_fd;
  int vnet_hdr, gso, gro, coalesce;
  atomic_int stop;
  pthread_t tx_thread, rx_thread;
  void *tx_state, *rx_state; // loop.c's buffers
  int threads_started;
};

static inline void dp_count(dp_t *dp, int c, uint64_t n) {
  atomic_fetch_add_explicit(&dp->counters[c], n, memory_order_relaxed);
}

int64_t dp_now_ms(void);

dp_t *dp_new(const dp_limits_t *lim);
void dp_free(dp_t *dp);

// Configuration (JS thread; each takes the write lock).
dp_peer_t *dp_peer_get(dp_t *dp, uint32_t id, int create);
int dp_peer_remove(dp_t *dp, uint32_t id);
void dp_peer_set_endpoint(dp_peer_t *p, const dp_addr_t *a);
void dp_peer_get_endpoint(dp_peer_t *p, dp_addr_t *out);
int dp_session_set(dp_t *dp, uint32_t peer_id, const dp_session_t *tmpl, int slot);
int dp_session_remove(dp_t *dp, uint32_t local_index);
dp_session_t *dp_session_find(dp_t *dp, uint32_t local_index);
void dp_raise(dp_t *dp, dp_peer_t *p, unsigned ev);

// The per-packet paths. Callers hold the read lock.
#define DP_SLOT_CURRENT 0
#define DP_SLOT_NEXT 1
#define DP_SLOT_PREVIOUS 2

/**
 * Encrypt the IP packet at buf[DP_HEADER, DP_HEADER+len) in place into a transport message at buf[0, ...)
 * (buf has DP_SLOT bytes). Returns the datagram length and sets *peer and *to, or a negative value:
 * -DPC_txShort, -DPC_txNoRoute, -DPC_txNoSession (the packet was not consumed).
 */
int dp_encrypt(dp_t *dp, uint8_t *buf, uint32_t len, int64_t now, dp_peer_t **peer, dp_addr_t *to, int need_ep);
/** Encrypt an empty message (keepalive) for a peer's current session into buf. */
int dp_encrypt_keepalive(dp_t *dp, dp_peer_t *p, uint8_t *buf, int64_t now, dp_addr_t *to, int need_ep);

#define DP_RX_TUN 1  // decrypted IP packet at buf[DP_HEADER, DP_HEADER + *out_len)
#define DP_RX_JS 2   // not ours to handle: hand the datagram to JS
#define DP_RX_DROP 3 // counted drop (*reason set)
#define DP_RX_KEEPALIVE 4
int dp_decrypt(dp_t *dp, uint8_t *buf, uint32_t len, const dp_addr_t *from, int64_t now, uint32_t *out_len,
               int *reason);

int dp_ip_packet_length(const uint8_t *p, uint32_t avail);

// JS rings.
/** Push into a ring: 0, -1 when full, -2 when too large (no counting, no notification). */
int dp_ring_push(dp_js_ring_t *r, int kind, int reason, uint32_t peer, const dp_addr_t *from,
                 const uint8_t *data, uint32_t len);
int dp_js_push(dp_t *dp, dp_js_ring_t *r, int kind, int reason, uint32_t peer, const dp_addr_t *from,
               const uint8_t *data, uint32_t len);
void dp_notify(dp_t *dp);

// Offloads (offload.c).
typedef int (*dp_segment_fn)(void *ctx, uint8_t *slot, uint32_t len);
/**
 * Split the packet after a virtio_net_hdr (hdr at pkt, packet after it, total len bytes) into packets
 * of at most the MTU, each built at slot + DP_HEADER of a slot obtained from get_slot, checksums done.
 * Returns the number of segments, or -1 when the header cannot be honoured.
 */
typedef uint8_t *(*dp_slot_fn)(void *ctx);
int dp_tso_split(const uint8_t *pkt, uint32_t len, dp_slot_fn get_slot, dp_segment_fn done, void *ctx);
uint16_t dp_checksum(const uint8_t *p, uint32_t len, uint32_t initial);

// Threads (loop.c).
int dp_start(dp_t *dp, int tun_fd, int udp_fd, int gso, int gro, int coalesce);
void dp_stop(dp_t *dp);
int dp_send_datagram(dp_t *dp, const uint8_t *data, uint32_t len, const dp_addr_t *to);
/** Queue a datagram for the receive thread (its replay windows; no roaming); JS thread only. */
int dp_inject(dp_t *dp, const uint8_t *data, uint32_t len);

#endif
