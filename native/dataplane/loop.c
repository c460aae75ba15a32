// The packet loops, one thread each way (the machines we target have 2 cores):
//   send:    TUN read (one packet, or with IFF_VNET_HDR a TSO super-packet cut into MTU-sized segments)
//            -> route + encrypt in place into a batch of slots -> sendmmsg, consecutive datagrams to
//            the same endpoint as one UDP GSO send when enabled;
//   receive: recvmmsg (with UDP GRO: one buffer may hold many datagrams) -> decrypt in place -> TUN
//            write (with IFF_VNET_HDR a zero virtio_net_hdr in front, written over the used header).
// All buffers are allocated when the loop starts; nothing is allocated per packet. fds are
// non-blocking; a thread polls its fd and an eventfd only when a read found nothing.
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dp.h"
#include "gro.h"

#define TX_SLOTS 128
#define TX_READS 64 // TUN reads per batch at most (latency bound)
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000
#define RX_MSGS_PLAIN 64
#define RX_MSGS_GRO 16
#define RX_GRO_BUF 65536
#define RX_ANSWER_MAX 4   // at most this many packets into the TUN in a batch: look for the answer
#define RX_ANSWER_READS 8 // TUN reads the receive thread makes then
#define SOLO_AFTER_MS 100 // no large batch for this long: one thread does both ways (see tx_main)

// ---------------------------------------------------------------- send side

typedef struct {
  dp_t *dp;
  uint8_t *slots;
  uint8_t *rbuf; // vnet reads
  uint32_t used;
  uint32_t lens[TX_SLOTS];
  dp_addr_t to[TX_SLOTS];
  struct mmsghdr msgs[TX_SLOTS];
  struct iovec iov[TX_SLOTS];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } cm[TX_SLOTS];
  int64_t now;
  pthread_mutex_t mu;   // held by the thread reading the TUN (see rx_answer)
  uint32_t last_reads; // TUN reads of the last tx_batch
  void *rx;            // the receive thread's rx_t
  _Atomic int solo;    // 1: the send thread also receives (see tx_main)
  _Atomic int64_t last_big_ms; // when either thread last had a batch larger than RX_ANSWER_MAX
} tx_t;

/**
 * Wait for fd (or `also`, when >= 0); -1 only when the loop must stop. An interrupted poll is 0 (look
 * again): glibc signals every thread when the process changes its uid (the core's privilege drop).
 */
static int wait_fd2(dp_t *dp, int fd, short events, int also, int timeout_ms) {
  struct pollfd p[3] = {{.fd = fd, .events = events}, {.fd = dp->stop_fd, .events = POLLIN}, {.fd = also, .events = POLLIN}};
  int r = poll(p, also >= 0 ? 3 : 2, timeout_ms);
  if (r <= 0) return 0;
  return (p[1].revents & POLLIN) ? -1 : 1;
}

static int wait_fd(dp_t *dp, int fd, short events, int timeout_ms) {
  return wait_fd2(dp, fd, events, -1, timeout_ms);
}

static void tx_flush(tx_t *t) {
  dp_t *dp = t->dp;
  uint32_t n = t->used, nm = 0;
  for (uint32_t i = 0; i < n;) {
    uint32_t j = i + 1, bytes = t->lens[i];
    if (dp->gso) {
      // One GSO send: same endpoint, equal sizes (the last may be shorter), bounded count and bytes.
      while (j < n && j - i < GSO_MAX_SEGS && bytes + t->lens[j] <= GSO_MAX_BYTES &&
             t->lens[j] <= t->lens[i] && t->lens[j - 1] == t->lens[i] && t->to[j].len == t->to[i].len &&
             memcmp(&t->to[j], &t->to[i], t->to[i].len) == 0) {
        bytes += t->lens[j];
        j++;
      }
    }
    struct msghdr *m = &t->msgs[nm].msg_hdr;
    memset(m, 0, sizeof *m);
    m->msg_name = &t->to[i].sa;
    m->msg_namelen = t->to[i].len;
    for (uint32_t k = i; k < j; k++) {
      t->iov[k].iov_base = t->slots + (size_t)k * DP_SLOT;
      t->iov[k].iov_len = t->lens[k];
    }
    m->msg_iov = &t->iov[i];
    m->msg_iovlen = j - i;
    if (j - i > 1) {
      m->msg_control = t->cm[nm].buf;
      m->msg_controllen = sizeof t->cm[nm].buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(m);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)t->lens[i];
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
      dp_count(dp, DPC_txGsoSends, 1);
    }
    t->msgs[nm].msg_len = 0;
    nm++;
    i = j;
  }
  uint32_t done = 0;
  int waited = 0;
  while (done < nm) {
    int r = sendmmsg(dp->udp_fd, t->msgs + done, nm - done, 0);
    if (r > 0) {
      done += (uint32_t)r;
      waited = 0;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    uint32_t segs = (uint32_t)t->msgs[done].msg_hdr.msg_iovlen;
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS) && !waited) {
      waited = 1;
      if (wait_fd(dp, dp->udp_fd, POLLOUT, 100) >= 0) continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      dp_count(dp, DPC_txQueueFull, segs);
    } else {
      dp_count(dp, DPC_txSendError, segs);
      if (segs > 1 && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) dp->gso = 0; // no GSO here
    }
    done++;
    waited = 0;
  }
  t->used = 0;
}

static uint8_t *tx_get_slot(void *ctx) {
  tx_t *t = ctx;
  if (t->used == TX_SLOTS) tx_flush(t);
  return t->slots + (size_t)t->used * DP_SLOT;
}

/** A plaintext packet sits at slot + DP_HEADER: encrypt it into the batch, or hand it to JS. */
static int tx_packet(void *ctx, uint8_t *slot, uint32_t len) {
  tx_t *t = ctx;
  dp_t *dp = t->dp;
  dp_peer_t *peer;
  int r = dp_encrypt(dp, slot, len, t->now, &peer, &t->to[t->used], 1);
  if (r > 0) {
    t->lens[t->used++] = (uint32_t)r;
    return 0;
  }
  dp_count(dp, -r, 1);
  if (r == -DPC_txNoRoute || r == -DPC_txNoSession)
    dp_js_push(dp, &dp->js_tx, DP_JS_PACKET, -r, peer ? peer->id : 0, NULL, slot + DP_HEADER, len);
  return 0;
}

/**
 * Read the TUN (at most `max_reads` reads), encrypt and send; 1 when the TUN had nothing more.
 * The caller holds t->mu: the two threads never read at once, so packets leave in the order read.
 */
static int tx_batch(tx_t *t, int max_reads, int answer) {
  dp_t *dp = t->dp;
  int again = 0;
  // At low rates (and for an answer) each packet leaves as soon as it is sealed, before the read
  // that finds the TUN empty: that read is not on the path of a request or its answer.
  int at_once = answer || atomic_load_explicit(&t->solo, memory_order_relaxed);
  pthread_rwlock_rdlock(&dp->lock);
  t->now = dp_now_ms();
  int reads = 0;
  for (; reads < max_reads; reads++) {
    ssize_t r;
    if (dp->vnet_hdr) {
      r = read(dp->tun_fd, t->rbuf, RX_GRO_BUF + DP_VNET_HDR);
      if (r <= 0) {
        again = 1;
        break;
      }
      dp_count(dp, DPC_tunReads, 1);
      if (answer) dp_count(dp, DPC_tunAnswerReads, 1);
      if (t->rbuf[1] != 0) dp_count(dp, DPC_tunTsoReads, 1);
      if (dp_tso_split(t->rbuf, (uint32_t)r, tx_get_slot, tx_packet, t) < 0) dp_count(dp, DPC_txBadGso, 1);
      if (at_once && t->used) tx_flush(t);
    } else {
      uint8_t *slot = tx_get_slot(t);
      r = read(dp->tun_fd, slot + DP_HEADER, DP_MAX_PACKET + 1);
      if (r <= 0) {
        again = 1;
        break;
      }
      dp_count(dp, DPC_tunReads, 1);
      if (answer) dp_count(dp, DPC_tunAnswerReads, 1);
      if (r > DP_MAX_PACKET) dp_count(dp, DPC_txTooBig, 1);
      else tx_packet(t, slot, (uint32_t)r);
      if (at_once && t->used) tx_flush(t);
    }
  }
  if (t->used) tx_flush(t);
  pthread_rwlock_unlock(&dp->lock);
  t->last_reads = (uint32_t)reads;
  return again;
}

// ---------------------------------------------------------------- receive side

typedef struct {
  dp_t *dp;
  tx_t *tx;
  pthread_mutex_t mu; // held by the thread receiving from the socket (see tx_main)
  uint32_t to_tun; // packets written to the TUN since the last rx_answer
  dp_gro_t gro;
  uint8_t *gro_mem;
  uint8_t *bufs;
  uint32_t nbufs, bufsize;
  struct mmsghdr msgs[RX_MSGS_PLAIN];
  struct iovec iov[RX_MSGS_PLAIN];
  dp_addr_t from[RX_MSGS_PLAIN];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } cm[RX_MSGS_PLAIN];
} rx_t;

static void rx_datagram(rx_t *x, uint8_t *d, uint32_t len, const dp_addr_t *from, int64_t now) {
  dp_t *dp = x->dp;
  uint32_t out = 0;
  int reason = 0;
  int r = dp_decrypt(dp, d, len, from, now, &out, &reason);
  if (r == DP_RX_TUN) {
    ssize_t w;
    x->to_tun++;
    if (dp->coalesce) {
      dp_gro_add(&x->gro, dp, d + DP_HEADER, out);
      return;
    }
    if (dp->vnet_hdr) {
      memset(d + DP_HEADER - DP_VNET_HDR, 0, DP_VNET_HDR);
      w = write(dp->tun_fd, d + DP_HEADER - DP_VNET_HDR, out + DP_VNET_HDR);
    } else {
      w = write(dp->tun_fd, d + DP_HEADER, out);
    }
    if (w < 0) dp_count(dp, DPC_tunWriteError, 1);
    return;
  }
  dp_count(dp, reason, 1);
  if (r == DP_RX_JS) dp_js_push(dp, &dp->js_rx, DP_JS_DATAGRAM, reason, 0, from, d, len);
}

/** Open what JS handed in (relayed transport messages), in the receive thread's replay windows. */
static void rx_injected(rx_t *x) {
  dp_t *dp = x->dp;
  dp_js_ring_t *r = &dp->inject;
  uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  if (tail == head) return;
  pthread_rwlock_rdlock(&dp->lock);
  int64_t now = dp_now_ms();
  for (; tail != head; tail++) {
    dp_js_slot_t *s = &r->slots[tail % DP_JS_RING];
    // The slot has room for the vnet header in front of the plaintext (bytes 6..15 of the message);
    // its `from` is empty, so the peer's endpoint stays.
    rx_datagram(x, s->data, s->len, &s->from, now);
  }
  if (dp->coalesce) dp_gro_flush(&x->gro, dp);
  pthread_rwlock_unlock(&dp->lock);
  atomic_store_explicit(&r->tail, tail, memory_order_release);
}

/**
 * A few packets just went into the TUN: an answer the kernel made at once (an echo reply, the ACK of
 * a lone segment, a DNS answer from this host) is already waiting there. Send it from this thread
 * unless the send thread is reading: that saves waking the send thread (a scheduler wake-up, tens of
 * microseconds on a VM) on the path of every request and answer. Bulk batches leave the TUN to the
 * send thread, whose work the receive thread must not take on.
 */
static void rx_answer(rx_t *x) {
  uint32_t n = x->to_tun;
  x->to_tun = 0;
  if (!n || n > RX_ANSWER_MAX || pthread_mutex_trylock(&x->tx->mu) != 0) return;
  tx_batch(x->tx, RX_ANSWER_READS, 1);
  pthread_mutex_unlock(&x->tx->mu);
}

/**
 * One round of receiving: what JS handed in, then one recvmmsg batch opened and written to the TUN;
 * 1 when the socket had nothing. The caller holds x->mu.
 */
static int rx_batch(rx_t *x) {
  dp_t *dp = x->dp;
  rx_injected(x);
  rx_answer(x);
  for (uint32_t i = 0; i < x->nbufs; i++) {
    x->iov[i].iov_base = x->bufs + (size_t)i * x->bufsize;
    x->iov[i].iov_len = x->bufsize;
    struct msghdr *m = &x->msgs[i].msg_hdr;
    m->msg_name = &x->from[i].sa;
    m->msg_namelen = sizeof x->from[i].in6;
    m->msg_iov = &x->iov[i];
    m->msg_iovlen = 1;
    m->msg_control = x->cm[i].buf;
    m->msg_controllen = sizeof x->cm[i].buf;
    m->msg_flags = 0;
  }
  int n = recvmmsg(dp->udp_fd, x->msgs, x->nbufs, 0, NULL);
  if (n <= 0) {
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      if (errno != EINTR) dp_count(dp, DPC_udpRecvErrors, 1); // e.g. ICMP unreachable reported
      return 0;
    }
    return 1;
  }
  pthread_rwlock_rdlock(&dp->lock);
  int64_t now = dp_now_ms();
  uint32_t to_tun0 = x->to_tun;
  for (int i = 0; i < n; i++) {
    struct msghdr *m = &x->msgs[i].msg_hdr;
    uint32_t len = x->msgs[i].msg_len;
    uint8_t *d = x->iov[i].iov_base;
    x->from[i].len = m->msg_namelen;
    dp_count(dp, DPC_udpReads, 1);
    if (m->msg_flags & MSG_TRUNC) {
      dp_count(dp, DPC_rxTruncated, 1);
      continue;
    }
    uint32_t seg = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof v);
        seg = v > 0 ? (uint32_t)v : 0;
      }
    }
    if (!seg || seg >= len) {
      rx_datagram(x, d, len, &x->from[i], now);
      continue;
    }
    if (seg < DP_OVERHEAD) { // cannot be ours; count each datagram it held
      dp_count(dp, DPC_rxBadGro, (len + seg - 1) / seg);
      continue;
    }
    dp_count(dp, DPC_rxGroBatches, 1);
    for (uint32_t off = 0; off < len; off += seg)
      rx_datagram(x, d + off, len - off < seg ? len - off : seg, &x->from[i], now);
  }
  if (dp->coalesce) dp_gro_flush(&x->gro, dp);
  pthread_rwlock_unlock(&dp->lock);
  if (x->to_tun - to_tun0 > RX_ANSWER_MAX) atomic_store_explicit(&x->tx->last_big_ms, now, memory_order_relaxed);
  rx_answer(x);
  return 0;
}

static void *rx_main(void *arg) {
  rx_t *x = arg;
  dp_t *dp = x->dp;
  while (!atomic_load(&dp->stop)) {
    pthread_mutex_lock(&x->mu);
    int idle = rx_batch(x);
    pthread_mutex_unlock(&x->mu);
    if (!idle) continue;
    // While the send thread receives too (solo), only JS's hand-ins and the send thread's call back
    // to two threads wake this one.
    int r = atomic_load(&x->tx->solo) ? wait_fd(dp, dp->inject_fd, POLLIN, -1)
                                       : wait_fd2(dp, dp->udp_fd, POLLIN, dp->inject_fd, -1);
    if (r < 0) break;
    // Reset the wake-up counter; what it announced is in the ring, looked at next round.
    uint64_t drain;
    if (read(dp->inject_fd, &drain, sizeof drain) < 0) { /* EAGAIN: the socket woke us */
    }
  }
  return NULL;
}

/**
 * The send thread. At low rates (no batch larger than RX_ANSWER_MAX packets either way for
 * SOLO_AFTER_MS) it also receives, as a one-thread VPN does: a request's answer then wakes the thread
 * that just sent it, not a second thread asleep for longer, which measured slower here on every
 * request and answer (docs/performance.md, "Latency"; polling briefly before sleeping did not help). The
 * first large batch hands receiving back to the receive thread, so bulk traffic uses both cores.
 */
static void *tx_main(void *arg) {
  tx_t *t = arg;
  dp_t *dp = t->dp;
  rx_t *x = t->rx;
  while (!atomic_load(&dp->stop)) {
    pthread_mutex_lock(&t->mu);
    int again = tx_batch(t, TX_READS, 0);
    pthread_mutex_unlock(&t->mu);
    int64_t now = dp_now_ms();
    if (t->last_reads > RX_ANSWER_MAX) atomic_store_explicit(&t->last_big_ms, now, memory_order_relaxed);
    int solo = now - atomic_load_explicit(&t->last_big_ms, memory_order_relaxed) > SOLO_AFTER_MS;
    if (solo != atomic_load(&t->solo)) {
      atomic_store(&t->solo, solo);
      // The receive thread looks again either way: out of solo it must receive; into solo it stops
      // polling the socket now (it sleeps without a timeout), not after the next answer woke both.
      uint64_t one = 1;
      if (write(dp->inject_fd, &one, sizeof one) < 0) { /* already signalled: awake anyway */
      }
    }
    if (!again) continue;
    struct pollfd p[3] = {{.fd = dp->tun_fd, .events = POLLIN},
                          {.fd = dp->stop_fd, .events = POLLIN},
                          {.fd = dp->udp_fd, .events = POLLIN}};
    int r = poll(p, solo ? 3 : 2, -1);
    if (r > 0 && (p[1].revents & POLLIN)) break;
    if (r > 0 && solo && (p[2].revents & POLLIN)) {
      pthread_mutex_lock(&x->mu);
      if (rx_batch(x) == 0) dp_count(dp, DPC_rxSendThread, 1);
      pthread_mutex_unlock(&x->mu);
    }
  }
  return NULL;
}

// ---------------------------------------------------------------- start and stop

int dp_inject(dp_t *dp, const uint8_t *data, uint32_t len) {
  if (!dp->threads_started) return -EBADF;
  if (dp_ring_push(&dp->inject, DP_JS_DATAGRAM, 0, 0, NULL, data, len) < 0) {
    dp_count(dp, DPC_injectQueueFull, 1);
    return -ENOBUFS;
  }
  dp_count(dp, DPC_rxInjected, 1);
  uint64_t one = 1;
  if (write(dp->inject_fd, &one, sizeof one) < 0) { /* the counter is already non-zero: awake anyway */
  }
  return 0;
}

int dp_send_datagram(dp_t *dp, const uint8_t *data, uint32_t len, const dp_addr_t *to) {
  if (dp->udp_fd < 0) return -EBADF;
  ssize_t r = sendto(dp->udp_fd, data, len, MSG_DONTWAIT, &to->sa, to->len);
  return r < 0 ? -errno : 0;
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int dp_start(dp_t *dp, int tun_fd, int udp_fd, int gso, int gro, int coalesce) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(tun_fd, TUNGETIFF, &ifr) < 0) return -errno;
  dp->vnet_hdr = (ifr.ifr_flags & IFF_VNET_HDR) != 0;
  if (dp->vnet_hdr) {
    int sz = DP_VNET_HDR;
    if (ioctl(tun_fd, TUNSETVNETHDRSZ, &sz) < 0) return -errno;
    // Without offloads (an old kernel) reads are plain packets behind the header; then we do not
    // write super-packets either.
    if (ioctl(tun_fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) coalesce = 0;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(udp_fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
  dp->udp_family = ss.ss_family;
  if (set_nonblock(tun_fd) < 0 || set_nonblock(udp_fd) < 0) return -errno;
  dp->gso = gso;
  dp->gro = 0;
  if (gro) {
    int one = 1;
    dp->gro = setsockopt(udp_fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  }
  dp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (dp->stop_fd < 0) return -errno;
  dp->inject_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (dp->inject_fd < 0) {
    int e = errno;
    close(dp->stop_fd);
    dp->stop_fd = -1;
    return -e;
  }

  tx_t *t = calloc(1, sizeof *t);
  rx_t *x = calloc(1, sizeof *x);
  if (t) {
    t->dp = dp;
    pthread_mutex_init(&t->mu, NULL);
    t->slots = aligned_alloc(64, (size_t)TX_SLOTS * DP_SLOT);
    t->rbuf = malloc(RX_GRO_BUF + DP_VNET_HDR + 64);
  }
  if (x) {
    x->dp = dp;
    x->tx = t;
    if (t) t->rx = x;
    pthread_mutex_init(&x->mu, NULL);
    x->nbufs = dp->gro ? RX_MSGS_GRO : RX_MSGS_PLAIN;
    x->bufsize = dp->gro ? RX_GRO_BUF : DP_SLOT;
    x->bufs = aligned_alloc(64, (size_t)x->nbufs * x->bufsize);
    dp->coalesce = coalesce && dp->vnet_hdr; // super-packets need the vnet header
    if (dp->coalesce) {
      x->gro_mem = malloc((size_t)DP_GRO_FLOWS * DP_GRO_BUF);
      if (x->gro_mem) dp_gro_init(&x->gro, x->gro_mem);
    }
  }
  if (!t || !x || !t->slots || !t->rbuf || !x->bufs || (dp->coalesce && !x->gro_mem)) {
    if (t) {
      free(t->slots);
      free(t->rbuf);
    }
    if (x) {
      free(x->bufs);
      free(x->gro_mem);
    }
    free(t);
    free(x);
    close(dp->stop_fd);
    close(dp->inject_fd);
    dp->stop_fd = dp->inject_fd = -1;
    return -ENOMEM;
  }
  dp->tun_fd = tun_fd;
  dp->udp_fd = udp_fd;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old); // signals stay with Node's main thread
  int e1 = pthread_create(&dp->tx_thread, NULL, tx_main, t);
  int e2 = e1 ? e1 : pthread_create(&dp->rx_thread, NULL, rx_main, x);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e1 || e2) {
    if (!e1) {
      atomic_store(&dp->stop, 1);
      uint64_t one = 1;
      if (write(dp->stop_fd, &one, sizeof one) < 0) { /* the thread also sees dp->stop */
      }
      pthread_join(dp->tx_thread, NULL);
    }
    free(t->slots);
    free(t->rbuf);
    free(t);
    free(x->bufs);
    free(x->gro_mem);
    free(x);
    return -(e1 ? e1 : e2);
  }
  dp->tx_state = t;
  dp->rx_state = x;
  dp->threads_started = 1;
  return 0;
}

void dp_stop(dp_t *dp) {
  if (dp->threads_started) {
    atomic_store(&dp->stop, 1);
    uint64_t one = 1;
    if (write(dp->stop_fd, &one, sizeof one) < 0) { /* threads also check dp->stop */
    }
    pthread_join(dp->tx_thread, NULL);
    pthread_join(dp->rx_thread, NULL);
    dp->threads_started = 0;
    tx_t *t = dp->tx_state;
    rx_t *x = dp->rx_state;
    free(t->slots);
    free(t->rbuf);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&x->mu);
    free(t);
    free(x->bufs);
    free(x->gro_mem);
    free(x);
    dp->tx_state = dp->rx_state = NULL;
  }
  if (dp->stop_fd >= 0) close(dp->stop_fd);
  if (dp->inject_fd >= 0) close(dp->inject_fd);
  if (dp->tun_fd >= 0) close(dp->tun_fd);
  if (dp->udp_fd >= 0) close(dp->udp_fd);
  dp->stop_fd = dp->inject_fd = dp->tun_fd = dp->udp_fd = -1;
}
