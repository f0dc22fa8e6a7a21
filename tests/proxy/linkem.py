#!/usr/bin/env python3
"""A link emulator: a TCP proxy on 127.0.0.1 that makes every connection
through it share ONE emulated link, for tests/bench/link.sh (the kernel
here has no netem).

    linkem.py --target HOST:PORT --port-file F [--delay-ms MS]
              [--delay-c2s-ms MS] [--delay-s2c-ms MS] [--rate-kbit K]
              [--rate-c2s-kbit K] [--rate-s2c-kbit K] [--queue-bytes N]
              [--count-file F] [--log F] [--max-life SECONDS]

Listens on an ephemeral port of 127.0.0.1 (written to --port-file once
listening) and relays every connection to --target. Each direction (c2s:
client to server, s2c: server to client) is one link:

  rate     one serializer per direction, shared by all connections: bytes
           read from any connection join one FIFO transmission queue and
           leave it at --rate-kbit (kbit/s, 1000 bits; 0 = unlimited), so
           two parallel transfers get half the rate each, not the full
           rate each. Departure times are computed, not slept: the loop's
           own jitter does not accumulate into the rate.
  delay    every byte is delivered to the other side no earlier than its
           departure from the queue + --delay-ms (one way: 20 each way is
           a 40 ms RTT), in order per connection. An end of stream (FIN)
           travels the same way, after the connection's last byte.
  queue    at most --queue-bytes (default: 50 ms at the link rate, at least
           64 KiB) of one connection may wait in a direction's queue;
           beyond that the proxy stops reading that connection, so TCP
           flow control pushes back on the sender as a real bottleneck
           would; as the queue is FIFO, connections that keep their part
           full share the rate evenly. Bytes delivered late because the
           receiver does not read are buffered (up to 4 MiB a connection,
           then reading stops too).

Bytes are counted per direction when delivered, over the proxy's whole
life and across connections; --count-file gets "C2S S2C" when the proxy
starts, after every connection ends and on SIGUSR1 (written atomically).
SIGTERM ends the proxy; so does --max-life (default 600 s) whatever
happens. Standard library only; single-threaded (selectors + a timer
heap).
"""

import argparse
import collections
import heapq
import itertools
import os
import selectors
import signal
import socket
import sys
import time

READ_SIZE = 65536
DELIVERY_CAP = 4 << 20


class Link:
    """One direction of the emulated link: a shared serializer + delay."""

    def __init__(self, name, kbit, delay_ms):
        self.name = name
        self.rate = kbit * 1000 / 8.0  # bytes per second; 0: unlimited
        self.delay = delay_ms / 1000.0
        self.free_at = 0.0  # when the serializer is done with what it has
        self.delivered = 0
        # A chunk is cut into segments of ~2 ms of link time (1500 bytes to
        # 16 KiB) so that the first bytes of a large read are not held
        # back until the last one is serialized.
        if self.rate:
            self.seg = int(min(16384, max(1500, self.rate * 0.002)))
        else:
            self.seg = READ_SIZE

    def schedule(self, now, nbytes):
        """Departure time of nbytes arriving now (they queue behind what
        the link already holds, from every connection)."""
        start = max(now, self.free_at)
        if self.rate:
            self.free_at = start + nbytes / self.rate
        else:
            self.free_at = start
        return self.free_at


class Half:
    """One direction of one connection: src -> link -> dst."""

    def __init__(self, conn, src, dst, link):
        self.conn = conn
        self.src = src
        self.dst = dst
        self.link = link
        self.queued = 0  # bytes scheduled but not yet departed
        self.pending = collections.deque()  # (deliver_at, bytes or None=EOF)
        self.out = bytearray()  # due, not yet accepted by dst
        self.inflight = 0  # bytes in pending + out
        self.eof_read = False  # src gave EOF (or failed)
        self.eof_due = False  # the EOF reached its delivery time
        self.done = False  # dst was shut down for writing


class Emulator:
    def __init__(self, args):
        self.args = args
        host, _, port = args.target.rpartition(':')
        self.target = (host, int(port))
        d_c2s = args.delay_ms if args.delay_c2s_ms is None else args.delay_c2s_ms
        d_s2c = args.delay_ms if args.delay_s2c_ms is None else args.delay_s2c_ms
        r_c2s = args.rate_kbit if args.rate_c2s_kbit is None else args.rate_c2s_kbit
        r_s2c = args.rate_kbit if args.rate_s2c_kbit is None else args.rate_s2c_kbit
        self.links = {'c2s': Link('c2s', r_c2s, d_c2s), 's2c': Link('s2c', r_s2c, d_s2c)}
        self.qcap = {}
        for name, link in self.links.items():
            if args.queue_bytes:
                self.qcap[name] = args.queue_bytes
            else:
                self.qcap[name] = max(65536, int(link.rate * 0.05)) if link.rate else 1 << 20
        self.sel = selectors.DefaultSelector()
        self.timers = []  # heap of (when, seq, departing, half)
        self.seq = itertools.count()
        self.conns = 0
        self.live = 0
        self.stop = False

    # ------------------------------------------------------------ output
    def log(self, text):
        if self.args.log:
            with open(self.args.log, 'a') as f:
                f.write('%.3f %s\n' % (time.time(), text))

    def write_counts(self):
        if not self.args.count_file:
            return
        tmp = self.args.count_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d %d\n' % (self.links['c2s'].delivered, self.links['s2c'].delivered))
        os.replace(tmp, self.args.count_file)

    # ------------------------------------------------------------ interest
    def want_read(self, h):
        return (not h.eof_read and h.queued < self.qcap[h.link.name]
                and h.inflight < DELIVERY_CAP)

    def update(self, sock):
        """Re-registers sock for what its two halves need now."""
        conn = self.sockconn.get(sock)
        if conn is None:
            return
        ev = 0
        for h in conn['halves']:
            if h.src is sock and self.want_read(h):
                ev |= selectors.EVENT_READ
            if h.dst is sock and h.out:
                ev |= selectors.EVENT_WRITE
        key = self.sel.get_map().get(sock)
        if key is None:
            if ev:
                self.sel.register(sock, ev, conn)
        elif ev == 0:
            self.sel.unregister(sock)
        elif key.events != ev:
            self.sel.modify(sock, ev, conn)

    # ------------------------------------------------------------ connections
    def accept(self, ls):
        try:
            c, _ = ls.accept()
        except OSError:
            return
        try:
            u = socket.create_connection(self.target, timeout=10)
        except OSError as e:
            self.log('upstream connect failed: %s' % e)
            c.close()
            return
        for s in (c, u):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = {'id': self.conns, 'socks': (c, u)}
        conn['halves'] = (Half(conn, c, u, self.links['c2s']), Half(conn, u, c, self.links['s2c']))
        self.conns += 1
        self.live += 1
        self.sockconn[c] = conn
        self.sockconn[u] = conn
        self.update(c)
        self.update(u)

    def close(self, conn):
        if conn.get('closed'):
            return
        conn['closed'] = True
        for s in conn['socks']:
            if s in self.sel.get_map():
                self.sel.unregister(s)
            self.sockconn.pop(s, None)
            try:
                s.close()
            except OSError:
                pass
        self.live -= 1
        self.write_counts()

    def abort(self, conn, why):
        """A socket error: the connection goes at once, both sides."""
        self.log('conn %d: %s' % (conn['id'], why))
        for s in conn['socks']:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\1\0\0\0\0\0\0\0')
            except OSError:
                pass
        self.close(conn)

    def check_done(self, conn):
        if all(h.done for h in conn['halves']):
            self.close(conn)

    # ------------------------------------------------------------ relaying
    def on_read(self, h):
        # Never more than the room left in the connection's share of the
        # queue: connections that keep their share full get equal rates.
        room = max(h.link.seg, self.qcap[h.link.name] - h.queued)
        try:
            data = h.src.recv(min(READ_SIZE, room))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.abort(h.conn, 'recv: %s' % e)
            return
        now = time.monotonic()
        link = h.link
        if not data:
            h.eof_read = True
            # The FIN follows the last byte, after the delay.
            at = now + link.delay
            if h.pending:
                at = max(at, h.pending[-1][0])
            h.pending.append((at, None))
            self.arm(at, h)
        else:
            for i in range(0, len(data), link.seg):
                seg = data[i:i + link.seg]
                dep = link.schedule(now, len(seg))
                h.queued += len(seg)
                h.inflight += len(seg)
                h.pending.append((dep + link.delay, seg))
                self.arm(dep, h, len(seg))
                self.arm(dep + link.delay, h)
        self.update(h.src)

    def arm(self, when, h, departing=0):
        """A timer: departing > 0 when that many bytes of h leave the
        queue then, else when h's next segment (or EOF) is due."""
        heapq.heappush(self.timers, (when, next(self.seq), departing, h))

    def on_timer(self, departing, h, now):
        if h.conn.get('closed'):
            return
        if departing:
            # Bytes left the queue: room for more of this connection.
            h.queued -= departing
            self.update(h.src)
            return
        moved = False
        while h.pending and h.pending[0][0] <= now:
            _, seg = h.pending.popleft()
            if seg is None:
                h.eof_due = True
            else:
                h.out += seg
                moved = True
        if moved:
            self.flush(h)
        elif h.eof_due and not h.out:
            self.finish(h)

    def flush(self, h):
        if h.out:
            try:
                n = h.dst.send(h.out)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError as e:
                self.abort(h.conn, 'send: %s' % e)
                return
            if n:
                del h.out[:n]
                h.inflight -= n
                h.link.delivered += n
        if not h.out and h.eof_due:
            self.finish(h)
            return
        self.update(h.dst)
        self.update(h.src)

    def finish(self, h):
        if h.done:
            return
        h.done = True
        try:
            h.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.update(h.dst)
        self.check_done(h.conn)

    # ------------------------------------------------------------ loop
    def serve(self):
        self.sockconn = {}
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(('127.0.0.1', 0))
        ls.listen(64)
        ls.setblocking(False)
        self.sel.register(ls, selectors.EVENT_READ, None)
        self.write_counts()
        tmp = self.args.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % ls.getsockname()[1])
        os.replace(tmp, self.args.port_file)
        self.log('listening on %d -> %s:%d; c2s %g kbit/s %g ms, s2c %g kbit/s %g ms' % (
            ls.getsockname()[1], self.target[0], self.target[1],
            self.links['c2s'].rate * 8 / 1000, self.links['c2s'].delay * 1000,
            self.links['s2c'].rate * 8 / 1000, self.links['s2c'].delay * 1000))
        deadline = time.monotonic() + self.args.max_life
        while not self.stop:
            now = time.monotonic()
            if now >= deadline:
                self.log('max-life reached')
                break
            while self.timers and self.timers[0][0] <= now:
                _, _, departing, h = heapq.heappop(self.timers)
                self.on_timer(departing, h, now)
            timeout = deadline - now
            if self.timers:
                timeout = min(timeout, max(0.0, self.timers[0][0] - now))
            try:
                events = self.sel.select(timeout)
            except InterruptedError:
                continue
            for key, ev in events:
                if key.data is None:
                    self.accept(key.fileobj)
                    continue
                conn = key.data
                sock = key.fileobj
                for h in conn['halves']:
                    if conn.get('closed'):
                        break
                    if ev & selectors.EVENT_WRITE and h.dst is sock and h.out:
                        self.flush(h)
                    if ev & selectors.EVENT_READ and h.src is sock and self.want_read(h):
                        self.on_read(h)
        self.write_counts()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--target', required=True)
    p.add_argument('--port-file', required=True)
    p.add_argument('--delay-ms', type=float, default=0)
    p.add_argument('--delay-c2s-ms', type=float)
    p.add_argument('--delay-s2c-ms', type=float)
    p.add_argument('--rate-kbit', type=float, default=0)
    p.add_argument('--rate-c2s-kbit', type=float)
    p.add_argument('--rate-s2c-kbit', type=float)
    p.add_argument('--queue-bytes', type=int, default=0)
    p.add_argument('--count-file')
    p.add_argument('--log')
    p.add_argument('--max-life', type=float, default=600)
    args = p.parse_args()
    em = Emulator(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGUSR1, lambda *_: em.write_counts())
    try:
        em.serve()
    finally:
        em.write_counts()


if __name__ == '__main__':
    main()
