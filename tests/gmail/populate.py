#!/usr/bin/env python3
"""Loads generated messages into the Gmail fixture through its control
socket, in one process: each message gets 0..4 labels (some nested, one
with a space, one non-ASCII) and, for some, \\Inbox and flags.

  populate.py CTL_SOCKET DIR SEED     prints one line per message:
                                      X-GM-MSGID <tab> labels (comma-separated)
"""
import json
import os
import random
import socket
import sys

LABELS = ["Work", "Family", "Lists/dev", "Muy Importante", "Reisen/Überblick"]


def call(path, req):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise SystemExit("fixture: %s" % reply.get("error"))
    return reply


def main():
    ctl, src, seed = sys.argv[1], sys.argv[2], sys.argv[3]
    rnd = random.Random(seed)
    for name in sorted(n for n in os.listdir(src) if n.endswith(".eml")):
        labels = rnd.sample(LABELS, rnd.randint(0, 4))
        if rnd.random() < 0.5:
            labels.append("\\Inbox")
        flags = ["\\Seen"] if rnd.random() < 0.6 else []
        reply = call(ctl, {"cmd": "add", "file": os.path.join(src, name),
                           "labels": labels, "flags": flags})
        print("%s\t%s" % (reply["value"], ",".join(labels)))


main()
