#!/usr/bin/env python3
"""Self-test of tests/proxy/linkem.py: measures what the emulated link does
and checks it against what it was told (within --tolerance, default 25%).

    linkem_selftest.py [--rtt-ms 40] [--kbit 20000] [--mbytes 10]
                       [--tolerance 0.25] [--quick]

A local server (threads, 127.0.0.1) behind the emulator answers three
requests, one a connection: "GET N" (sends N bytes), "PUT N" (reads N
bytes, then answers one byte), "ECHO" (echoes each byte). Checks:
  delay     1-byte ping-pongs: median ~ the RTT
  s2c rate  one GET of --mbytes MB: ~ size / rate + 1 RTT
  c2s rate  one PUT of half that: ~ size / rate + 1 RTT
  sharing   two parallel GETs of half the size each: together ~ the same
            time as the single GET (the rate is shared, not doubled)
  counts    the --count-file after SIGUSR1 holds every byte relayed
--quick: 2 MB instead of 10 (a few seconds). Prints one line a check
("ok"/"FAIL", measured vs expected); exits 1 if any failed. Stdlib only.
"""

import argparse
import os
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 65536


def recv_exact(s, n):
    got = 0
    while got < n:
        b = s.recv(min(CHUNK * 4, n - got))
        if not b:
            raise EOFError('short read: %d of %d' % (got, n))
        got += len(b)
    return got


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        line = b''
        while not line.endswith(b'\n'):
            b = s.recv(1)
            if not b:
                return
            line += b
        cmd, _, arg = line.decode().strip().partition(' ')
        if cmd == 'GET':
            left = int(arg)
            block = b'x' * CHUNK
            while left > 0:
                k = min(left, CHUNK)
                s.sendall(block[:k])
                left -= k
        elif cmd == 'PUT':
            recv_exact(s, int(arg))
            s.sendall(b'K')
        elif cmd == 'ECHO':
            while True:
                b = s.recv(1)
                if not b:
                    return
                s.sendall(b)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def timed_get(port, n, out, i):
    s = connect(port)
    t0 = time.monotonic()
    s.sendall(b'GET %d\n' % n)
    recv_exact(s, n)
    out[i] = time.monotonic() - t0
    s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rtt-ms', type=float, default=40)
    p.add_argument('--kbit', type=float, default=20000)
    p.add_argument('--mbytes', type=float, default=10)
    p.add_argument('--tolerance', type=float, default=0.25)
    p.add_argument('--quick', action='store_true')
    a = p.parse_args()
    if a.quick:
        a.mbytes = 2
    size = int(a.mbytes * 1e6)
    rate = a.kbit * 1000 / 8.0
    rtt = a.rtt_ms / 1000.0

    srv = Server(('127.0.0.1', 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix='linkem-test.')
    pf = os.path.join(tmp, 'port')
    cf = os.path.join(tmp, 'counts')
    em = subprocess.Popen([sys.executable, os.path.join(HERE, 'linkem.py'),
                           '--target', '127.0.0.1:%d' % srv.server_address[1],
                           '--port-file', pf, '--count-file', cf,
                           '--log', os.path.join(tmp, 'log'),
                           '--delay-ms', str(a.rtt_ms / 2), '--rate-kbit', str(a.kbit),
                           '--max-life', '300'])
    failed = []

    def check(name, got, want):
        ok = abs(got - want) <= a.tolerance * want
        print('%-4s %-44s %8.3f s (expected %.3f s, %+.0f%%)' % (
            'ok' if ok else 'FAIL', name, got, want, 100.0 * (got - want) / want))
        sys.stdout.flush()
        if not ok:
            failed.append(name)

    try:
        for _ in range(100):
            if os.path.exists(pf) and os.path.getsize(pf):
                break
            time.sleep(0.05)
        port = int(open(pf).read())
        sent = {'c2s': 0, 's2c': 0}

        # delay: 1-byte ping-pongs on an open connection
        s = connect(port)
        s.sendall(b'ECHO\n')
        sent['c2s'] += 5
        rtts = []
        for _ in range(10):
            t0 = time.monotonic()
            s.sendall(b'p')
            recv_exact(s, 1)
            rtts.append(time.monotonic() - t0)
        sent['c2s'] += 10
        sent['s2c'] += 10
        s.close()
        check('delay: 1-byte ping-pong, median RTT', statistics.median(rtts), rtt)

        # s2c rate: one GET (the request's trip + the data + its trip)
        out = [0.0]
        timed_get(port, size, out, 0)
        sent['c2s'] += len(b'GET %d\n' % size)
        sent['s2c'] += size
        check('s2c rate: GET %.1f MB' % (size / 1e6), out[0], size / rate + rtt)

        # c2s rate: one PUT of half the size, answered by one byte
        half = size // 2
        s = connect(port)
        t0 = time.monotonic()
        s.sendall(b'PUT %d\n' % half)
        block = b'y' * CHUNK
        left = half
        while left > 0:
            k = min(left, CHUNK)
            s.sendall(block[:k])
            left -= k
        recv_exact(s, 1)
        t = time.monotonic() - t0
        s.close()
        sent['c2s'] += len(b'PUT %d\n' % half) + half
        sent['s2c'] += 1
        check('c2s rate: PUT %.1f MB' % (half / 1e6), t, half / rate + rtt)

        # sharing: two parallel GETs of half the size each
        out = [0.0, 0.0]
        t0 = time.monotonic()
        ts = [threading.Thread(target=timed_get, args=(port, half, out, i)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        t = time.monotonic() - t0
        sent['c2s'] += 2 * len(b'GET %d\n' % half)
        sent['s2c'] += 2 * half
        check('sharing: 2 parallel GETs of %.1f MB, total' % (half / 1e6), t,
              2 * half / rate + rtt)
        check('sharing: the faster of the two', min(out), 2 * half / rate + rtt)

        # counts: after the last connection is closed and a SIGUSR1
        time.sleep(rtt + 0.3)
        os.unlink(cf)
        em.send_signal(signal.SIGUSR1)
        for _ in range(100):
            if os.path.exists(cf):
                break
            time.sleep(0.02)
        c2s, s2c = (int(x) for x in open(cf).read().split())
        ok = (c2s, s2c) == (sent['c2s'], sent['s2c'])
        print('%-4s %-44s c2s %d s2c %d (expected %d %d)' % (
            'ok' if ok else 'FAIL', 'counts: --count-file after SIGUSR1', c2s, s2c,
            sent['c2s'], sent['s2c']))
        if not ok:
            failed.append('counts')
    finally:
        em.terminate()
        em.wait(10)
        srv.shutdown()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    if failed:
        print('FAILED: %s' % ', '.join(failed))
        return 1
    print('all ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
