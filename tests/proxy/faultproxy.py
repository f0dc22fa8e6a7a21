#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that breaks connections on purpose, for
tests/integration/t_faults.sh.

    faultproxy.py --target HOST:PORT --port-file F [--mode MODE] [--at N]
                  [--dir c2s|s2c] [--stall SECONDS] [--delay SECONDS]
                  [--count-file F] [--log F] [--max-life SECONDS]
                  [--arm-bytes N] [--seed S]

Listens on an ephemeral port of 127.0.0.1 (written to --port-file once
listening) and relays every connection to --target. Bytes are counted per
direction over the proxy's whole life (c2s: client to server, s2c: server
to client), across connections; --count-file gets "C2S S2C" after every
connection ends, so a clean run through mode pass measures a session.

Modes (the fault fires once, on the connection that carries byte --at of
direction --dir; other connections are left alone):
  pass      relay only
  cut       after --at bytes, close both sides (FIN): a dropped link
  reset     after --at bytes, reset both sides (RST: SO_LINGER 0)
  reset-literal
            as reset, but at the first byte at or after --at that lies
            inside a literal ({n} then n bytes) of the plaintext s2c
            stream: only meaningful without TLS
  stall     after --at bytes, relay nothing in that direction for --stall
            seconds, then go on
  trickle   relay --dir one byte at a time, --delay seconds apart (0: as
            fast as it goes), the whole time

With TLS between the ends the counts are TLS record bytes: a cut still lands
in the middle of whatever was being sent. Standard library only; every wait
is bounded (--max-life, default 300 s, ends the proxy whatever happens).

Signals, in any mode, for a test that cuts on its own schedule (the soak
test, tests/soak/soak.sh): SIGUSR1 resets (RST) every connection live at
that moment, SIGUSR2 closes them (FIN) like a dropped link; connections
made later are relayed as usual. With --arm-bytes N a signal only arms the
cut: it fires once a random 1..N more bytes (--seed S makes the sequence
repeatable) have been relayed, in either direction on any connection, so
that it lands in the middle of an exchange rather than between two. Each
such cut is logged ("signal reset N connections", after "signal reset
armed: B bytes" if armed). SIGHUP freezes every live connection: from
then on nothing is relayed on it either way (what arrives is dropped) and
it stays open, as when a laptop wakes up behind a NAT that forgot it;
logged as "signal freeze N connections".
"""

import argparse
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time


class Proxy:
    def __init__(self, args):
        self.args = args
        host, _, port = args.target.rpartition(':')
        self.target = (host, int(port))
        self.lock = threading.Lock()
        self.count = {'c2s': 0, 's2c': 0}
        self.fired = False
        self.resetting = set()
        self.conns = 0
        self.live = set()  # (client, upstream) pairs being relayed
        self.frozen = set()  # sockets of frozen pairs: relay nothing
        self.armed = None  # (kind, bytes left) of a cut a signal armed
        self.rnd = random.Random(args.seed)
        # reset-literal: the s2c plaintext parser's state.
        self.lit_left = 0
        self.tail = b''

    def log(self, text):
        if self.args.log:
            with open(self.args.log, 'a') as f:
                f.write('%.3f %s\n' % (time.time(), text))

    def write_counts(self):
        if not self.args.count_file:
            return
        tmp = self.args.count_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d %d\n' % (self.count['c2s'], self.count['s2c']))
        os.replace(tmp, self.args.count_file)

    def literal_point(self, data, start):
        """Offset in data (>= start) of the first byte inside a literal, or
        None; advances the parser over all of data either way."""
        hit, i = None, 0
        while i < len(data):
            if self.lit_left > 0:
                k = min(self.lit_left, len(data) - i)
                if hit is None and i + k > start:
                    hit = max(i, start)
                self.lit_left -= k
                i += k
                continue
            j = data.find(b'\n', i)
            end = len(data) if j < 0 else j + 1
            self.tail = (self.tail + data[i:end])[-32:]
            if j >= 0:
                m = re.search(rb'\{(\d+)\}\r?\n$', self.tail)
                self.lit_left = int(m.group(1)) if m else 0
                self.tail = b''
            i = end
        return hit

    def plan(self, direction, data):
        """How much of data to relay before the fault, and which fault:
        (n, fault or None). Counts the bytes."""
        a = self.args
        with self.lock:
            before = self.count[direction]
            self.count[direction] += len(data)
            if self.fired or a.mode in ('pass', 'trickle') or direction != a.dir:
                if a.mode == 'reset-literal' and direction == 's2c' and not self.fired:
                    self.literal_point(data, len(data))
                return len(data), None
            if a.mode == 'reset-literal':
                start = max(0, a.at - before)
                hit = self.literal_point(data, start) if start < len(data) else \
                    self.literal_point(data, len(data))
                if hit is None:
                    return len(data), None
                self.fired = True
                return hit, 'reset'
            if before + len(data) <= a.at:
                return len(data), None
            self.fired = True
            return a.at - before, a.mode

    def fault(self, kind, src, dst, direction):
        self.log('%s fired in %s at c2s=%d s2c=%d' % (kind, direction, self.count['c2s'],
                                                       self.count['s2c']))
        self.break_pair(kind, src, dst)

    def break_pair(self, kind, src, dst):
        """Ends one relayed connection on both sides: 'reset' or 'cut'."""
        for s in (src, dst):
            try:
                if kind == 'reset':
                    # An RST goes out when the socket is closed with a zero
                    # linger, and a close only takes effect once no thread
                    # is blocked in recv on it: SHUT_RD wakes the other pump
                    # (without sending a FIN), handle() then closes both.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    self.resetting.add(s)
                    s.shutdown(socket.SHUT_RD)
                else:
                    s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut_all(self, kind):
        """Faults every live connection: 'reset' or 'cut'."""
        with self.lock:
            pairs = list(self.live)
        self.log('signal %s %d connections' % (kind, len(pairs)))
        for client, upstream in pairs:
            self.break_pair(kind, client, upstream)

    def freeze_all(self):
        """The SIGHUP handler: every live connection goes silent."""
        with self.lock:
            pairs = list(self.live)
            for client, upstream in pairs:
                self.frozen.update((client, upstream))
        self.log('signal freeze %d connections' % len(pairs))

    def on_signal(self, kind):
        """The SIGUSR1 / SIGUSR2 handler: cut now, or arm the cut."""
        if not self.args.arm_bytes:
            self.cut_all(kind)
            return
        left = self.rnd.randint(1, self.args.arm_bytes)
        with self.lock:
            self.armed = (kind, left)
        self.log('signal %s armed: %d bytes' % (kind, left))

    def armed_point(self, data):
        """With a cut armed: (bytes of data to relay first, kind) if it
        fires within data, else None; counts the armed bytes down."""
        with self.lock:
            if not self.armed:
                return None
            kind, left = self.armed
            if len(data) < left:
                self.armed = (kind, left - len(data))
                return None
            self.armed = None
            return left, kind

    def pump(self, src, dst, direction, done):
        a = self.args
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if src in self.frozen:
                    continue
                n, fault = self.plan(direction, data)
                if fault in ('cut', 'reset'):
                    if n > 0:
                        dst.sendall(data[:n])
                    self.fault(fault, src, dst, direction)
                    break
                if fault == 'stall':
                    dst.sendall(data[:n])
                    self.log('stall %.1f s in %s at %d' % (a.stall, direction,
                                                            self.count[direction]))
                    time.sleep(a.stall)
                    dst.sendall(data[n:])
                    continue
                hit = self.armed_point(data)
                if hit:
                    dst.sendall(data[:hit[0]])
                    self.cut_all(hit[1])
                    break
                if a.mode == 'trickle' and direction == a.dir:
                    for i in range(len(data)):
                        dst.sendall(data[i:i + 1])
                        if a.delay:
                            time.sleep(a.delay)
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # The other direction learns of the end through its own socket
            # (a FIN), unless the connection is being reset.
            for s in (src, dst):
                if s in self.resetting:
                    continue
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            done.set()

    def handle(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError as e:
            self.log('upstream connect failed: %s' % e)
            client.close()
            return
        for s in (client, upstream):
            s.settimeout(None)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.live.add((client, upstream))
        d1, d2 = threading.Event(), threading.Event()
        t1 = threading.Thread(target=self.pump, args=(client, upstream, 'c2s', d1), daemon=True)
        t2 = threading.Thread(target=self.pump, args=(upstream, client, 's2c', d2), daemon=True)
        t1.start()
        t2.start()
        t1.join()
        t2.join()
        with self.lock:
            self.live.discard((client, upstream))
        for s in (client, upstream):
            try:
                s.close()
            except OSError:
                pass
            self.resetting.discard(s)
            self.frozen.discard(s)
        with self.lock:
            self.write_counts()

    def serve(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(('127.0.0.1', 0))
        ls.listen(16)
        ls.settimeout(0.5)
        tmp = self.args.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % ls.getsockname()[1])
        os.replace(tmp, self.args.port_file)
        self.write_counts()
        deadline = time.monotonic() + self.args.max_life
        while time.monotonic() < deadline:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            self.conns += 1
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--target', required=True)
    p.add_argument('--port-file', required=True)
    p.add_argument('--mode', default='pass',
                   choices=['pass', 'cut', 'reset', 'reset-literal', 'stall', 'trickle'])
    p.add_argument('--at', type=int, default=0)
    p.add_argument('--dir', default='s2c', choices=['c2s', 's2c'])
    p.add_argument('--stall', type=float, default=10)
    p.add_argument('--delay', type=float, default=0)
    p.add_argument('--count-file')
    p.add_argument('--log')
    p.add_argument('--max-life', type=float, default=300)
    p.add_argument('--arm-bytes', type=int, default=0)
    p.add_argument('--seed')
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    proxy = Proxy(args)
    signal.signal(signal.SIGUSR1, lambda *_: proxy.on_signal('reset'))
    signal.signal(signal.SIGUSR2, lambda *_: proxy.on_signal('cut'))
    signal.signal(signal.SIGHUP, lambda *_: proxy.freeze_all())
    proxy.serve()


if __name__ == '__main__':
    main()
