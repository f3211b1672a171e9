#!/usr/bin/env python3
"""Userspace delay and loss for `cluster/lab` on kernels without sch_netem.

Runs inside one lab namespace. An iptables rule there sends every packet that arrives on eth0
to NFQUEUE QUEUE; this program holds each packet's verdict for DELAY_MS (accept), or drops
it with probability LOSS_PCT / 100. Only packet metadata crosses into userspace (NFQNL_COPY_META);
GSO packets are queued whole (NFQA_CFG_F_GSO), so one verdict covers up to 64 KiB of TCP data.
Verdicts leave in arrival order, so one NFQNL_MSG_VERDICT_BATCH accepts every packet that is due.

cluster/lab-delay.c does the same for less than half the CPU; cluster/lab builds and prefers it
where cc exists, and runs this one otherwise (or with DPTRAIN_LAB_DELAYER=python).

Standard library only (raw netlink; see linux/netfilter/nfnetlink_queue.h). Prints "ready" on
stdout once bound, so the caller can add the iptables rule without a window of dropped packets.
Usage: lab-delay.py --queue 0 --delay-ms 5 --loss-pct 0 [--seed N] [--check]
"""
import argparse
import collections
import ctypes
import random
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_GSO = 4
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = 33
QUEUE_MAXLEN = 16384  # packets held at once; at 64 KiB GSO packets this is far above any lab's BDP


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack('=HH', length, kind) + payload + b'\0' * ((4 - length % 4) % 4)


def message(msg_type, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    # nfgenmsg: family AF_UNSPEC, version 0, res_id = queue number (big-endian)
    body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(queue)) + b''.join(attrs)
    return struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def configure(sock, queue):
    """Bind the queue and set copy mode, length and flags; raise if the kernel says no."""
    requests = [
        [attr(NFQA_CFG_CMD, struct.pack('=BxH', NFQNL_CFG_CMD_BIND, 0))],
        [attr(NFQA_CFG_PARAMS, struct.pack('!IB', 0, NFQNL_COPY_META))],
        [attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('!I', QUEUE_MAXLEN))],
        [attr(NFQA_CFG_FLAGS, struct.pack('!I', NFQA_CFG_F_GSO)), attr(NFQA_CFG_MASK, struct.pack('!I', NFQA_CFG_F_GSO))],
    ]
    for seq, attrs in enumerate(requests, start=1):
        sock.send(message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
        data = sock.recv(65536)
        length, kind = struct.unpack_from('=IH', data, 0)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from('=i', data, 16)
            if error != 0:
                raise OSError(-error, f'nfqueue config step {seq} failed')


def packet_ids(data):
    """Yields the packet id of every NFQNL_MSG_PACKET in one recv() buffer."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from('=IH', data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            pos = offset + 20  # nlmsghdr (16) + nfgenmsg (4)
            end = offset + length
            while pos + 4 <= end:
                alen, atype = struct.unpack_from('=HH', data, pos)
                if alen < 4:
                    break
                if (atype & 0x7fff) == NFQA_PACKET_HDR:
                    yield struct.unpack_from('!I', data, pos + 4)[0]
                    break
                pos += (alen + 3) & ~3
        offset += (length + 3) & ~3


def precise_timers():
    """Asks for 1 ns timer slack (default 50 us) and returns how late select() still wakes, s."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass
    a, b = socket.socketpair()
    late = []
    for _ in range(50):
        start = time.monotonic()
        select.select([a], [], [], 0.0005)
        late.append(time.monotonic() - start - 0.0005)
    a.close()
    b.close()
    late.sort()
    return max(0.0, min(late[len(late) // 2], 0.0005))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--queue', type=int, default=0)
    parser.add_argument('--delay-ms', type=float, default=0.0)
    parser.add_argument('--loss-pct', type=float, default=0.0)
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--check', action='store_true', help='bind the queue, print "ready" and exit')
    args = parser.parse_args()
    rng = random.Random(args.seed)
    delay = args.delay_ms / 1000.0
    loss = args.loss_pct / 100.0

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    sock.bind((0, 0))
    configure(sock, args.queue)
    print('ready', flush=True)
    if args.check:
        return

    # Wake this much before a packet is due: select() overshoots by about as much.
    early = precise_timers() if delay > 0 else 0.0
    held = collections.deque()  # (due time, packet id), in arrival order
    queue = args.queue
    while True:
        timeout = None
        if held:
            timeout = max(0.0, held[0][0] - early - time.monotonic())
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            data = sock.recv(1 << 20)
            now = time.monotonic()
            for packet_id in packet_ids(data):
                if loss > 0 and rng.random() < loss:
                    sock.send(message(NFQNL_MSG_VERDICT, queue, [attr(NFQA_VERDICT_HDR, struct.pack('!II', NF_DROP, packet_id))]))
                else:
                    held.append((now + delay, packet_id))
        now = time.monotonic()
        last = None
        while held and held[0][0] - early <= now:
            last = held.popleft()[1]
        if last is not None:
            # Accepts every still-queued packet with id <= last: exactly the ones that are due.
            sock.send(message(NFQNL_MSG_VERDICT_BATCH, queue, [attr(NFQA_VERDICT_HDR, struct.pack('!II', NF_ACCEPT, last))]))


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f'lab-delay: {error}', file=sys.stderr)
        sys.exit(1)
