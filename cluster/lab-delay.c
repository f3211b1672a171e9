/*
 * Userspace delay and loss for `cluster/lab` on kernels without sch_netem: the C twin of
 * cluster/lab-delay.py (same flags, same behaviour, see its docstring), which the lab builds
 * with `cc` when it can. The Python loop costs ~50 us of CPU per packet; on the lab's two
 * shared cores that CPU is taken from the programs being measured (docs/cluster.md).
 *
 * Runs inside one lab namespace. Every packet that arrives on eth0 is queued to NFQUEUE QUEUE by
 * an iptables rule; this program accepts each one DELAY_MS after it arrived (or drops it with
 * probability LOSS_PCT / 100). Only metadata crosses into userspace (NFQNL_COPY_META); GSO
 * packets are queued whole (NFQA_CFG_F_GSO). Verdicts leave in arrival order, so one
 * NFQNL_MSG_VERDICT_BATCH accepts every packet that is due.
 *
 * Usage: lab-delay --queue 0 --delay-ms 5 --loss-pct 0 [--seed N] [--check]
 * Prints "ready" once bound, so the caller can add the iptables rule without dropping packets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAXLEN 16384 /* packets held at once: far above any lab's bandwidth-delay product */
#define HELD_CAP 32768     /* ring of held packets: above QUEUE_MAXLEN */

static int sock_fd;
static uint16_t queue_num;

struct held {
  uint64_t due_ns;
  uint32_t id;
};
static struct held held[HELD_CAP];
static size_t held_head, held_count;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "lab-delay: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Appends attribute (type, payload) at buf + *len, 4-byte aligned. */
static void put_attr(char *buf, size_t *len, uint16_t type, const void *payload, uint16_t size) {
  struct nlattr *a = (struct nlattr *)(buf + *len);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + size);
  memcpy(buf + *len + NLA_HDRLEN, payload, size);
  *len += NLA_ALIGN(a->nla_len);
}

/* Starts a message of `type` for the queue in buf; returns its length so far. */
static size_t start_message(char *buf, uint16_t type, uint16_t flags, uint32_t seq) {
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  memset(buf, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
  h->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
  h->nlmsg_seq = seq;
  struct nfgenmsg *g = (struct nfgenmsg *)(buf + NLMSG_HDRLEN);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue_num);
  return NLMSG_HDRLEN + sizeof(struct nfgenmsg);
}

static void send_message(char *buf, size_t len) {
  ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len;
  if (send(sock_fd, buf, len, 0) < 0) die("send");
}

/* One config request with an ACK; exits if the kernel refuses it. */
static void configure_step(uint32_t seq, uint16_t t1, const void *p1, uint16_t s1, uint16_t t2, const void *p2, uint16_t s2) {
  char buf[256];
  size_t len = start_message(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, seq);
  put_attr(buf, &len, t1, p1, s1);
  if (p2) put_attr(buf, &len, t2, p2, s2);
  send_message(buf, len);
  char reply[4096];
  ssize_t n = recv(sock_fd, reply, sizeof reply, 0);
  if (n < 0) die("recv");
  struct nlmsghdr *h = (struct nlmsghdr *)reply;
  if (h->nlmsg_type == NLMSG_ERROR) {
    int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    if (error != 0) {
      errno = -error;
      fprintf(stderr, "lab-delay: nfqueue config step %u failed: %s\n", seq, strerror(errno));
      exit(1);
    }
  }
}

static void configure(void) {
  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = 0};
  struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
  uint32_t maxlen = htonl(QUEUE_MAXLEN), gso = htonl(NFQA_CFG_F_GSO);
  configure_step(1, NFQA_CFG_CMD, &cmd, sizeof cmd, 0, NULL, 0);
  configure_step(2, NFQA_CFG_PARAMS, &params, 5, 0, NULL, 0); /* the kernel reads 5 packed bytes */
  configure_step(3, NFQA_CFG_QUEUE_MAXLEN, &maxlen, 4, 0, NULL, 0);
  configure_step(4, NFQA_CFG_FLAGS, &gso, 4, NFQA_CFG_MASK, &gso, 4);
}

static void verdict(uint16_t type, uint32_t code, uint32_t id) {
  char buf[64];
  size_t len = start_message(buf, type, 0, 0);
  struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(code), .id = htonl(id)};
  put_attr(buf, &len, NFQA_VERDICT_HDR, &v, sizeof v);
  send_message(buf, len);
}

/* Holds (or drops) every packet of one recv() buffer. */
static void take_packets(const char *data, int size, uint64_t due, double loss) {
  /* NLMSG_NEXT lowers `size` by each message: a signed int, so that NLMSG_OK stops at <= 0. */
  for (const struct nlmsghdr *h = (const struct nlmsghdr *)data; NLMSG_OK(h, size); h = NLMSG_NEXT(h, size)) {
    if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
    const char *attrs = (const char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    int left = (int)h->nlmsg_len - (int)(attrs - (const char *)h);
    for (const struct nlattr *a = (const struct nlattr *)attrs; left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left;
         left -= NLA_ALIGN(a->nla_len), a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len))) {
      if ((a->nla_type & NLA_TYPE_MASK) != NFQA_PACKET_HDR) continue;
      uint32_t id = ntohl(((const struct nfqnl_msg_packet_hdr *)((const char *)a + NLA_HDRLEN))->packet_id);
      if (loss > 0 && drand48() < loss) {
        verdict(NFQNL_MSG_VERDICT, NF_DROP, id);
      } else if (held_count < HELD_CAP) {
        held[(held_head + held_count++) % HELD_CAP] = (struct held){due, id};
      } else {
        verdict(NFQNL_MSG_VERDICT, NF_ACCEPT, id); /* never: the kernel holds at most QUEUE_MAXLEN */
      }
      break;
    }
  }
}

/* How late a 0.5 ms ppoll() wakes (median of 50), at most 0.5 ms: the loop wakes that much early. */
static uint64_t timer_lateness_ns(void) {
  uint64_t late[50];
  struct timespec half = {0, 500000};
  for (int i = 0; i < 50; i++) {
    uint64_t start = now_ns();
    ppoll(NULL, 0, &half, NULL);
    uint64_t took = now_ns() - start;
    late[i] = took > 500000 ? took - 500000 : 0;
  }
  for (int i = 1; i < 50; i++)
    for (int j = i; j > 0 && late[j - 1] > late[j]; j--) {
      uint64_t t = late[j];
      late[j] = late[j - 1];
      late[j - 1] = t;
    }
  return late[25] < 500000 ? late[25] : 500000;
}

int main(int argc, char **argv) {
  double delay_ms = 0, loss_pct = 0;
  long seed = -1;
  int check = 0;
  for (int i = 1; i < argc; i++) {
    const char *value = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(argv[i], "--queue")) queue_num = (uint16_t)atoi(value), i++;
    else if (!strcmp(argv[i], "--delay-ms")) delay_ms = atof(value), i++;
    else if (!strcmp(argv[i], "--loss-pct")) loss_pct = atof(value), i++;
    else if (!strcmp(argv[i], "--seed")) seed = atol(value), i++;
    else if (!strcmp(argv[i], "--check")) check = 1;
    else {
      fprintf(stderr, "lab-delay: unknown argument %s (usage: lab-delay --queue N --delay-ms D --loss-pct L [--seed S] [--check])\n", argv[i]);
      return 2;
    }
  }
  srand48(seed >= 0 ? seed : (long)now_ns());
  sock_fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  if (sock_fd < 0) die("netlink socket");
  int rcvbuf = 16 << 20, one = 1;
  setsockopt(sock_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  setsockopt(sock_fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(sock_fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
  configure();
  printf("ready\n");
  fflush(stdout);
  if (check) return 0;

  prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0); /* 1 ns instead of 50 us */
  uint64_t delay = (uint64_t)(delay_ms * 1e6), early = delay > 0 ? timer_lateness_ns() : 0;
  double loss = loss_pct / 100;
  static char data[1 << 20];
  struct pollfd pfd = {.fd = sock_fd, .events = POLLIN};
  for (;;) {
    struct timespec wait, *timeout = NULL;
    if (held_count > 0) {
      uint64_t now = now_ns(), wake = held[held_head].due_ns - early;
      uint64_t in = wake > now ? wake - now : 0;
      wait = (struct timespec){(time_t)(in / 1000000000u), (long)(in % 1000000000u)};
      timeout = &wait;
    }
    if (ppoll(&pfd, 1, timeout, NULL) > 0) {
      ssize_t n = recv(sock_fd, data, sizeof data, 0);
      if (n < 0 && errno != EINTR && errno != EAGAIN) die("recv");
      if (n > 0) take_packets(data, (int)n, now_ns() + delay, loss);
    }
    uint64_t now = now_ns();
    int due = 0;
    uint32_t last = 0;
    while (held_count > 0 && held[held_head].due_ns - early <= now) {
      last = held[held_head].id;
      held_head = (held_head + 1) % HELD_CAP;
      held_count--;
      due = 1;
    }
    /* Accepts every still-queued packet with id <= last: exactly the ones that are due. */
    if (due) verdict(NFQNL_MSG_VERDICT_BATCH, NF_ACCEPT, last);
  }
}
