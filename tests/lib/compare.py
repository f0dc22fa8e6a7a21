#!/usr/bin/env python3
"""Compares one server folder with one local Maildir folder.

  compare.py DUMP MAILDIR [--mtime] [--quiet] [--subset] [--tool-headers]

DUMP is `doveadm -f pager fetch "uid flags date.received text" mailbox F all`
output (run with TZ=UTC). Every server message must be in MAILDIR exactly
once, byte-identical (the stored LF form), with the same flags (S R F T D P);
no other file may be there; with --mtime each file's mtime must equal the
message's INTERNALDATE. With --subset, messages may be missing locally (a sync
was interrupted) but none may be extra or twice there. With --tool-headers
the header fields that other sync tools write into their own copies
(mbsync's X-TUID, OfflineIMAP's X-OfflineIMAP) are left out on both sides
before comparing: a Maildir that such a tool made and gmaildir adopted.
Prints what differs; exits 1 on any difference.
"""
import calendar
import hashlib
import os
import sys
import time
from collections import Counter

LETTERS = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Deleted": "T",
           "\\Draft": "D", "$Forwarded": "P"}


TOOL_FIELDS = (b"x-tuid:", b"x-offlineimap:")


def without_tool_headers(data):
    """The message with the tool fields (and their continuations) removed
    from its header section."""
    if "--tool-headers" not in sys.argv:
        return data
    head, sep, body = data.partition(b"\n\n")
    out, skipping = [], False
    for line in head.split(b"\n"):
        if not line[:1] in (b" ", b"\t"):
            skipping = line.lower().startswith(TOOL_FIELDS)
        if not skipping:
            out.append(line)
    return b"\n".join(out) + sep + body


def parse_dump(path):
    data = open(path, "rb").read()
    msgs = []
    if not data.strip():
        return msgs
    for rec in data.split(b"\x0c\n"):
        head, sep, text = rec.partition(b"\ntext:\n")
        if not sep:
            if rec.startswith(b"text:\n"):
                head, text = b"", rec[6:]
            else:
                raise SystemExit("unparsable dump record: %r" % rec[:80])
        fields = {}
        for line in head.decode().split("\n"):
            k, _, v = line.partition(": ")
            fields[k.rstrip(":")] = v
        flags = "".join(sorted(LETTERS[f] for f in fields.get("flags", "").split()
                               if f in LETTERS))
        date = fields.get("date.received", "")
        ts = calendar.timegm(time.strptime(date, "%Y-%m-%d %H:%M:%S")) if date else None
        msgs.append((hashlib.sha256(without_tool_headers(text)).hexdigest(), flags, ts, fields.get("uid")))
    return msgs


def scan_maildir(root):
    found = []
    for sub in ("new", "cur"):
        d = os.path.join(root, sub)
        for name in sorted(os.listdir(d)):
            if name.startswith("."):
                continue
            p = os.path.join(d, name)
            flags = ""
            if ":2," in name:
                flags = "".join(sorted(c for c in name.split(":2,", 1)[1] if c in "SRFTDP"))
            with open(p, "rb") as f:
                h = hashlib.sha256(without_tool_headers(f.read())).hexdigest()
            found.append((h, flags, int(os.stat(p).st_mtime), sub + "/" + name))
    return found


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check_mtime = "--mtime" in sys.argv
    server = parse_dump(args[0])
    local = scan_maildir(args[1])
    problems = []
    s_count = Counter((h, f) for h, f, _, _ in server)
    l_count = Counter((h, f) for h, f, _, _ in local)
    subset = "--subset" in sys.argv
    for key, n in ({} if subset else (s_count - l_count)).items():
        uids = [u for h, f, _, u in server if (h, f) == key]
        problems.append("missing or wrong locally: uid %s flags '%s' (%d)" % (uids, key[1], n))
    if subset:  # flags may lag behind: compare contents only
        s_count = Counter(h for h, _, _, _ in server)
        l_count = Counter(h for h, _, _, _ in local)
    for key, n in (l_count - s_count).items():
        names = [p for h, f, _, p in local if (h, f) == key or h == key]
        problems.append("extra or wrong locally: %s (%d)" % (names, n))
    if check_mtime:
        dates = {h: ts for h, _, ts, _ in server}
        for h, _, mt, p in local:
            if h in dates and dates[h] is not None and dates[h] != mt:
                problems.append("mtime of %s is %d, INTERNALDATE %d" % (p, mt, dates[h]))
    tmp = os.path.join(args[1], "tmp")
    if not subset and os.path.isdir(tmp) and os.listdir(tmp):
        problems.append("files left in tmp/: %s" % os.listdir(tmp)[:5])
    for p in problems[:20]:
        print("#   " + p)
    if "--quiet" not in sys.argv:
        print("#   server %d, local %d messages" % (len(server), len(local)))
    sys.exit(1 if problems else 0)


main()
