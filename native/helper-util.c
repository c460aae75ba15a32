// The helper's small shared pieces: messages on stderr, writing to the channel (control frames),
// exiting with an error (usage, setup, refusal), and parsing prefixes and interface names.
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

int chan_fd = -1;

void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("peermesh-helper: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

// Write all of buf to a (still blocking) fd; used only before the pump starts.
int write_all(int fd, const unsigned char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

// A control frame: u16 big-endian length (type + payload), type 0x02, JSON payload.
void send_control(const char *json) {
  size_t len = strlen(json) + 1;
  unsigned char frame[1024];
  if (chan_fd < 0 || len + 2 > sizeof frame) return;
  frame[0] = (unsigned char)(len >> 8);
  frame[1] = (unsigned char)len;
  frame[2] = FRAME_CONTROL;
  memcpy(frame + 3, json, len - 1);
  (void)write_all(chan_fd, frame, len + 2);
}

void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("peermesh-helper: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\nusage: peermesh-helper --name IFNAME --mtu N [--addr CIDR]... [--route CIDR]... [--forward CIDR]... [--exit] [--dynamic-routes] [--fd N] [--pass-fd N [--dns ADDR]...] [--user NAME]\n",
        stderr);
  va_end(ap);
  exit(2);
}

// Tell the core (error frame, once the channel is known) and stderr, then exit with `code`.
// Messages are built from constants, inet_ntop() output, numbers and strerror() only: no quotes or
// backslashes to escape in the JSON.
void fail(int code, const char *fmt, ...) {
  char msg[512], json[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  say("%s", msg);
  snprintf(json, sizeof json, "{\"type\":\"error\",\"message\":\"%s\"}", msg);
  send_control(json);
  exit(code);
}

// A setup step failed: exit 1.
void setup_error(const char *what, int err) { fail(1, "%s: %s", what, strerror(err)); }

int parse_cidr(const char *s, struct cidr *c) {
  char buf[64];
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  if (alen == 0 || alen >= sizeof buf) return -1;
  memcpy(buf, s, alen);
  buf[alen] = 0;
  memset(c, 0, sizeof *c);
  if (inet_pton(AF_INET, buf, c->addr) == 1) {
    c->family = AF_INET;
  } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
    c->family = AF_INET6;
  } else {
    return -1;
  }
  int max = c->family == AF_INET ? 32 : 128;
  c->prefix = max;
  if (slash) {
    const char *p = slash + 1;
    if (*p == 0 || strlen(p) > 3) return -1;
    int v = 0;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return -1;
      v = v * 10 + (*p - '0');
    }
    if (v > max) return -1;
    c->prefix = v;
  }
  return 0;
}

int valid_ifname(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= IFNAMSIZ) return 0;
  for (; *s; s++) {
    char ch = *s;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '.' || ch == '-'))
      return 0;
  }
  return 1;
}
