#!/usr/bin/env python3
"""A TCP server that accepts connections and then never answers.

Models a server (or a middlebox) that completes the TCP handshake but never
speaks: a TLS client's ClientHello gets no ServerHello, an IMAP client
waits forever for a greeting. With --greet-then-stall it sends the IMAP
greeting "* OK ready\\r\\n" first, then nothing more (a client waits forever
for the answer to its first command). What clients send is read and thrown
away; no connection is ever closed by the server. Python 3 stdlib only.

  stall_server.py [--listen ADDR] [--port N] [--port-file F]
                  [--count-file F] [--greet-then-stall] [--parent PID]
                  [--remove-dir DIR] [--max-life SECONDS]

Once listening, it prints the port (a free one with --port 0, the default)
on stdout, and writes it to --port-file (atomically). --count-file holds
the number of connections accepted so far, rewritten (atomically) at each.
It exits 0 on SIGTERM or SIGINT, when process --parent is gone (checked
every 0.5 s; then it also removes --remove-dir, the directory of its
files, which nobody else will), or after --max-life seconds (default 900).
"""
import argparse
import os
import shutil
import selectors
import signal
import socket
import sys
import time


def write_atomic(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def alive(pid):
    """pid runs (a zombie, killed but not yet reaped, does not count)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--count-file")
    ap.add_argument("--greet-then-stall", action="store_true")
    ap.add_argument("--parent", type=int)
    ap.add_argument("--remove-dir")
    ap.add_argument("--max-life", type=float, default=900)
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    family = socket.AF_INET6 if ":" in args.listen else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.listen, args.port))
    srv.listen(128)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    count = 0
    if args.count_file:
        write_atomic(args.count_file, "0\n")
    if args.port_file:
        write_atomic(args.port_file, "%d\n" % port)
    print(port, flush=True)

    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    conns = []  # kept open until exit
    end = time.monotonic() + args.max_life
    orphan = False
    while not stop and time.monotonic() < end:
        if args.parent and not alive(args.parent):
            orphan = True
            break
        for key, _ in sel.select(timeout=0.5):
            if key.fileobj is srv:
                try:
                    c, _ = srv.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                c.setblocking(False)
                count += 1
                if args.count_file:
                    write_atomic(args.count_file, "%d\n" % count)
                if args.greet_then_stall:
                    try:
                        c.send(b"* OK ready\r\n")
                    except OSError:
                        pass
                conns.append(c)
                sel.register(c, selectors.EVENT_READ)
            else:
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the client closed: forget it
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    conns.remove(key.fileobj)
    for c in conns:
        c.close()
    srv.close()
    if orphan and args.remove_dir:
        shutil.rmtree(args.remove_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
