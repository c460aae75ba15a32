// Passing a file descriptor over a unix socket (SCM_RIGHTS): the helper hands the TUN descriptor to
// the core this way (--pass-fd); the data plane addon's test-only sendFd uses the same code.
#ifndef PEERMESH_FDPASS_H
#define PEERMESH_FDPASS_H

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

// Send `fd` over `sock` as one one-byte message `tag` carrying it; 0, or -1 with errno set.
static inline int fdpass_send(int sock, int fd, unsigned char tag) {
  struct iovec iov = {.iov_base = &tag, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } cm;
  memset(&cm, 0, sizeof cm);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
    if (errno != EINTR) return -1;
  return 0;
}

#endif
