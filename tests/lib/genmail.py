#!/usr/bin/env python3
"""Deterministic sample-mail generator for the gmaildir tests (stdlib only).

    genmail.py --count 500 --seed 7 --out DIR [--maildir DIR]
               [--min-size 1K] [--max-size 2M] [--dist loguniform|uniform]

Writes one RFC 5322 message per file, LF line ends, named 000001.eml,
000002.eml, ... (--first sets the first number). The same options always
give the same bytes. Each message has a unique Message-ID (seed and number
are part of it), a Date between --years (default 2004-2024), a size near a
target drawn from [min-size, max-size] (log-uniform by default: mostly small,
a few big). A share of the messages has an 8-bit UTF-8 body (--utf8-share),
an RFC 2047 encoded non-ASCII Subject (--nonascii-share); messages of
--attach-above bytes or more (default 48K) are multipart/mixed with a base64
attachment that carries most of the size.

--maildir DIR also puts every message into DIR/cur (created) as a Maildir
file whose name sorts in message order and whose mtime is the Date header,
so a Dovecot reading DIR assigns UIDs in message order and uses the Date as
INTERNALDATE. With --out too, the Maildir file is a hard link to the .eml
file where the file system allows (treat both as read-only).
--list prints one line per message: file, size, Message-ID.

Loading into Dovecot: dc_populate in tests/lib/dovecot.sh runs this with
--maildir pointing into a staging user's Maildir and appends the lot with a
single `doveadm copy` (measured: 500 mixed 1K..2M messages, 150 MB, in
about 2 s of doveadm time plus about 2.5 s of generation; 5,000 small ones
in about 1-4 s of doveadm time, depending on machine load), against about
40 ms per message for one `doveadm save` each.
"""

import argparse
import base64
import datetime
import math
import os
import random
import sys
from email.utils import format_datetime

ASCII_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "xray yankee zulu mail sync folder message server client offline archive "
    "label thread draft report meeting budget quarter release invoice travel "
    "schedule review notes update question answer project status weekly"
).split()
UTF8_WORDS = (
    "Grüße Köln café naïve façade smörgåsbord Ærø Łódź Straße jalapeño "
    "日本語 メール 東京 Ελληνικά Москва привет שלום مرحبا 😀 ✓ €uro"
).split()
NAMES = [
    ("Ada Lovelace", "ada"), ("Alan Turing", "alan"), ("Grace Hopper", "grace"),
    ("Edsger Dijkstra", "edsger"), ("Barbara Liskov", "barbara"),
    ("Ken Thompson", "ken"), ("Jürgen Müller", "juergen"),
    ("Zoë Ångström", "zoe"), ("田中 太郎", "tanaka"),
]
SUBJ_UTF8 = ["Grüße aus Köln", "Réunion à Genève", "東京の会議", "Привет, мир",
             "Smörgåsbord ✓", "Ζωή και χαρά"]


def parse_size(text):
    t = text.strip().upper()
    mult = 1
    for suffix, m in (("KB", 1024), ("MB", 1 << 20), ("K", 1024), ("M", 1 << 20), ("B", 1)):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
            break
    return int(float(t) * mult)


def rfc2047(text):
    """Encoded-words (UTF-8, B), each under 76 characters, folded."""
    words, chunk = [], b""
    for ch in text:
        b = ch.encode("utf-8")
        if len(chunk) + len(b) > 45:
            words.append(chunk)
            chunk = b""
        chunk += b
    if chunk:
        words.append(chunk)
    return "\n ".join("=?UTF-8?B?%s?=" % base64.b64encode(w).decode() for w in words)


def text_lines(rnd, nbytes, utf8):
    """Lines of words (<= ~72 bytes each) adding up to about nbytes."""
    lines, total = [], 0
    while total < nbytes:
        line, n = [], 0
        while n < 60:
            w = rnd.choice(UTF8_WORDS) if utf8 and rnd.random() < 0.3 else rnd.choice(ASCII_WORDS)
            line.append(w)
            n += len(w.encode("utf-8")) + 1
        s = " ".join(line)
        if rnd.random() < 0.05:
            s = ""  # paragraph break
        if rnd.random() < 0.01:
            s = "From here on the line starts with From"  # mbox-sensitive line
        lines.append(s)
        total += len(s.encode("utf-8")) + 1
    return lines


def make_message(rnd, seed, num, target, args):
    utf8 = rnd.random() < args.utf8_share
    nonascii_subject = rnd.random() < args.nonascii_share
    name, local = rnd.choice(NAMES)
    y0, y1 = args.years
    start = datetime.datetime(y0, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(y1, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
    when = start + datetime.timedelta(seconds=rnd.randrange(int((end - start).total_seconds())))
    tz = datetime.timezone(datetime.timedelta(minutes=rnd.choice((-480, -300, 0, 60, 120, 330, 540))))
    when = when.astimezone(tz)
    tag = "%08x" % rnd.getrandbits(32)
    msgid = "<gen.%s.%d.%s@gmaildir.test>" % (seed, num, tag)
    if nonascii_subject:
        subject = rfc2047("%s #%d" % (rnd.choice(SUBJ_UTF8), num))
    else:
        subject = "Test message %d: %s" % (num, " ".join(rnd.choice(ASCII_WORDS) for _ in range(4)))
    from_hdr = ("%s <%s@example.test>" % (rfc2047(name), local)) if any(
        ord(c) > 127 for c in name) else "%s <%s@example.test>" % (name, local)
    head = [
        "Return-Path: <%s@example.test>" % local,
        "From: %s" % from_hdr,
        "To: %s <%s>" % (args.to_name, args.to),
        "Subject: %s" % subject,
        "Date: %s" % format_datetime(when),
        "Message-ID: %s" % msgid,
        "MIME-Version: 1.0",
        "X-Gen: seed=%s num=%d" % (seed, num),
    ]
    charset = "utf-8" if utf8 else "us-ascii"
    cte = "8bit" if utf8 else "7bit"
    if target >= args.attach_above:
        boundary = "=_gen_%s_%d_%s" % (seed, num, tag)
        text = "\n".join(text_lines(rnd, min(4096, target // 8), utf8)) + "\n"
        head.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
        overhead = sum(len(h) + 1 for h in head) + len(text.encode("utf-8")) + 400
        raw_len = max(16, (target - overhead) * 57 // 78)
        blob = base64.encodebytes(rnd.randbytes(raw_len)).decode("ascii")
        fname = "attachment-%d.bin" % num
        body = (
            "This is a multi-part message in MIME format.\n\n"
            "--%s\nContent-Type: text/plain; charset=%s\nContent-Transfer-Encoding: %s\n\n%s\n"
            "--%s\nContent-Type: application/octet-stream; name=\"%s\"\n"
            "Content-Disposition: attachment; filename=\"%s\"\n"
            "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n"
            % (boundary, charset, cte, text, boundary, fname, fname, blob, boundary)
        )
    else:
        head.append("Content-Type: text/plain; charset=%s" % charset)
        head.append("Content-Transfer-Encoding: %s" % cte)
        overhead = sum(len(h) + 1 for h in head) + 1
        body = "\n".join(text_lines(rnd, max(1, target - overhead), utf8)) + "\n"
    data = ("\n".join(head) + "\n\n" + body).encode("utf-8")
    return data, msgid, when


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", default="1", help="any string; same seed, same mail")
    ap.add_argument("--first", type=int, default=1, help="number of the first message")
    ap.add_argument("--min-size", type=parse_size, default=parse_size("1K"))
    ap.add_argument("--max-size", type=parse_size, default=parse_size("2M"))
    ap.add_argument("--dist", choices=("loguniform", "uniform"), default="loguniform")
    ap.add_argument("--out", help="directory for NNNNNN.eml files (created)")
    ap.add_argument("--maildir", help="also store as a Maildir: DIR/cur (created)")
    ap.add_argument("--utf8-share", type=float, default=0.3)
    ap.add_argument("--nonascii-share", type=float, default=0.2)
    ap.add_argument("--attach-above", type=parse_size, default=parse_size("48K"))
    ap.add_argument("--years", type=lambda s: tuple(int(x) for x in s.split("-")),
                    default=(2004, 2024), help="FIRST-LAST year of the Date headers")
    ap.add_argument("--to", default="alice@example.test")
    ap.add_argument("--to-name", default="Alice")
    ap.add_argument("--list", action="store_true", help="print file, size, Message-ID")
    args = ap.parse_args(argv)
    if not args.out and not args.maildir:
        ap.error("need --out and/or --maildir")
    if args.min_size < 200 or args.max_size < args.min_size:
        ap.error("need 200 <= min-size <= max-size")

    rnd = random.Random("gmaildir-genmail/%s" % args.seed)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    if args.maildir:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    lo, hi = math.log(args.min_size), math.log(args.max_size)
    for k in range(args.count):
        num = args.first + k
        if args.dist == "loguniform":
            target = int(math.exp(rnd.uniform(lo, hi)))
        else:
            target = rnd.randint(args.min_size, args.max_size)
        data, msgid, when = make_message(rnd, args.seed, num, target, args)
        name = "%06d.eml" % num
        ts = int(when.timestamp())
        if args.out:
            path = os.path.join(args.out, name)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (ts, ts))
        if args.maildir:
            # The leading number orders Dovecot's UID assignment; mtime is
            # the INTERNALDATE; ",S=" is the physical size.
            mname = "%d.M%06dP0.genmail,S=%d:2," % (1000000000 + num, num, len(data))
            mpath = os.path.join(args.maildir, "cur", mname)
            try:
                if not args.out:
                    raise OSError("no --out file to link")
                os.link(os.path.join(args.out, name), mpath)
            except OSError:
                with open(mpath, "wb") as f:
                    f.write(data)
                os.utime(mpath, (ts, ts))
        if args.list:
            print("%s %d %s" % (name, len(data), msgid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
