#!/usr/bin/env python3
"""Server-side changes and dumps over IMAP, for servers that have no doveadm
(Cyrus, Courier) and for the interop battery that runs the same steps on
every server.

  imapctl.py CMD [ARGS...]

The server comes from the environment: IC_HOST, IC_PORT (implicit TLS),
IC_CA (the CA file to verify it with), IC_USER, IC_PASS. Folder names are
given and printed as the server spells them on the wire (modified UTF-7,
its own separator).

  sep                       the hierarchy separator and the personal
                            namespace prefix, as "SEP PREFIX" (PREFIX may be
                            empty)
  list                      every selectable folder, one a line
  create F | delete F | subscribe F   CREATE / DELETE / SUBSCRIBE
  rename A B                RENAME
  append F FILE [FLAGS] [DATE]  APPEND of FILE (LF line ends are sent as
                            CRLF); FLAGS like '\\Seen \\Flagged' (may be "");
                            DATE "YYYY-MM-DD HH:MM:SS" UTC, default the
                            file's mtime
  appendmany F DIR [FLAGS]  append of every DIR/*.eml, in name order, on
                            one connection
  count F                   MESSAGES of STATUS
  uidvalidity F             UIDVALIDITY of STATUS
  uids F                    every UID, ascending, one a line
  store F UIDSET +FLAGS|-FLAGS|FLAGS  UID STORE (FLAGS as one argument)
  expunge F UIDSET          \\Deleted on UIDSET, then UID EXPUNGE (or a plain
                            EXPUNGE when the server has no UIDPLUS and
                            nothing else is \\Deleted)
  move F UIDSET TO          UID MOVE, or COPY + expunge without MOVE
  dump F                    every message in the format of doveadm's
                            `-f pager fetch "uid flags date.received text"`
                            with TZ=UTC and the stored text in LF form, for
                            tests/lib/compare.py
  dumpall DIR               every folder: DIR/list names them, DIR/N.dump
                            is the dump of the Nth (from 0)
  ids F                     sorted Message-IDs, one a message, "-" for none
  allids                    the same for every folder together
  caps                      the CAPABILITY after login, one line

Exits 1 with the server's answer on stderr when a command is refused.
"""
import calendar
import datetime
import imaplib
import os
import re
import socket
import ssl
import sys
import time

socket.setdefaulttimeout(30)


def connect():
    ctx = ssl.create_default_context(cafile=os.environ["IC_CA"])
    ctx.check_hostname = False
    m = imaplib.IMAP4_SSL(os.environ.get("IC_HOST", "127.0.0.1"),
                          int(os.environ["IC_PORT"]), ssl_context=ctx)
    m.login(os.environ["IC_USER"], os.environ["IC_PASS"])
    return m


def q(name):
    """A folder name as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ok(res, what):
    typ, data = res
    if typ != "OK":
        sys.stderr.write("imapctl: %s: %s %r\n" % (what, typ, data))
        sys.exit(1)
    return data


LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?P<sep>"[^"]*"|NIL) (?P<name>.*)$')


def parse_list(data):
    out = []
    i = 0
    while i < len(data):
        item = data[i]
        if isinstance(item, tuple):  # the name came as a literal
            m = LIST_RE.match(item[0].rsplit(b"{", 1)[0] + b'""')
            out.append((m.group("attrs"), item[1].decode()))
            i += 2 if i + 1 < len(data) and data[i + 1] == b")" else 1
            continue
        if item is None:
            i += 1
            continue
        m = LIST_RE.match(item)
        name = m.group("name")
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        out.append((m.group("attrs"), name.decode()))
        i += 1
    return out


def select(m, folder, readonly=False):
    ok(m.select(q(folder), readonly=readonly), "SELECT " + folder)


def uid_list(m):
    data = ok(m.uid("SEARCH", None, "ALL"), "UID SEARCH")
    return sorted(int(x) for x in data[0].split()) if data and data[0] else []


def status(m, folder, item):
    data = ok(m.status(q(folder), "(%s)" % item), "STATUS " + folder)
    mt = re.search(rb"%s (\d+)" % item.encode(), data[0])
    return int(mt.group(1))


def has_cap(m, cap):
    return cap in m.capabilities


def expunge(m, folder, uidset):
    select(m, folder)
    ok(m.uid("STORE", uidset, "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
    if has_cap(m, "UIDPLUS"):
        ok(m.uid("EXPUNGE", uidset), "UID EXPUNGE")
    else:
        ok(m.expunge(), "EXPUNGE")


FETCH_RE = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE \"([^\"]+)\"")


def fetch_all(m, items):
    """(meta, literal) of every message of the selected folder, by UID."""
    data = ok(m.uid("FETCH", "1:*", "(UID %s)" % items), "UID FETCH")
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        mt = re.search(rb"UID (\d+)", item[0])
        out[int(mt.group(1))] = item
    return [out[u] for u in sorted(out)]


def dump(m, folder, out):
    select(m, folder, readonly=True)
    first = True
    if not uid_list(m):
        return
    for meta, body in fetch_all(m, "FLAGS INTERNALDATE BODY.PEEK[]"):
        flags = date = b""
        for mt in FETCH_RE.finditer(meta):
            if mt.group(2) is not None:
                flags = mt.group(2)
            if mt.group(3) is not None:
                date = mt.group(3)
        uid = int(re.search(rb"UID (\d+)", meta).group(1))
        when = datetime.datetime.strptime(date.decode().strip(), "%d-%b-%Y %H:%M:%S %z")
        when = when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        if not first:
            out.write(b"\x0c\n")
        first = False
        out.write(b"uid: %d\nflags: %s\ndate.received: %s\ntext:\n" %
                  (uid, flags, when.encode()))
        out.write(body.replace(b"\r\n", b"\n"))


def folders(m):
    return [name for attrs, name in parse_list(ok(m.list('""', "*"), "LIST"))
            if b"\\noselect" not in attrs.lower()]


def ids(m, folder):
    select(m, folder, readonly=True)
    found = []
    if uid_list(m):
        for _, hdr in fetch_all(m, "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"):
            mt = re.search(rb"(?i)message-id:\s*(\S+)", hdr)
            found.append(mt.group(1).decode() if mt else "-")
    return found


def append(m, folder, path, flags="", date=None):
    with open(path, "rb") as f:
        data = f.read()
    data = re.sub(rb"\r?\n", b"\r\n", data)
    if date:
        ts = calendar.timegm(time.strptime(date, "%Y-%m-%d %H:%M:%S"))
    else:
        ts = int(os.stat(path).st_mtime)
    when = imaplib.Time2Internaldate(time.localtime(ts)) if ts else None
    if b"\0" in data and has_cap(m, "BINARY"):
        append_binary(m, folder, flags, when, data)
        return
    ok(m.append(q(folder), "(%s)" % flags if flags else None, when, data),
       "APPEND " + folder)


def append_binary(m, folder, flags, when, data):
    """APPEND with a literal8 (RFC 3516): NUL bytes as they are, which
    imaplib cannot send."""
    tag = m._new_tag()
    head = b"%s APPEND %s %s%s ~{%d}\r\n" % (
        tag, q(folder).encode(), b"(%s) " % flags.encode() if flags else b"",
        when.encode() if when else b"", len(data))
    m.send(head)
    line = m.readline()
    if not line.startswith(b"+"):
        sys.stderr.write("imapctl: APPEND %s: %r\n" % (folder, line))
        sys.exit(1)
    m.send(data + b"\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag + b" "):
            break
    if not line.startswith(tag + b" OK"):
        sys.stderr.write("imapctl: APPEND %s: %r\n" % (folder, line))
        sys.exit(1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    m = connect()
    try:
        if cmd == "sep":
            data = ok(m.list('""', '""'), "LIST")
            sep = re.search(rb'\) (?:"([^"]*)"|NIL)', data[0]).group(1) or b""
            prefix = ""
            if has_cap(m, "NAMESPACE"):
                ns = ok(m.namespace(), "NAMESPACE")[0]
                mt = re.match(rb'\(\("([^"]*)"', ns)
                prefix = mt.group(1).decode() if mt else ""
            print(sep.decode(), prefix)
        elif cmd == "list":
            for name in folders(m):
                print(name)
        elif cmd == "create":
            ok(m.create(q(args[0])), "CREATE")
        elif cmd == "subscribe":
            ok(m.subscribe(q(args[0])), "SUBSCRIBE")
        elif cmd == "delete":
            ok(m.delete(q(args[0])), "DELETE")
        elif cmd == "rename":
            ok(m.rename(q(args[0]), q(args[1])), "RENAME")
        elif cmd == "append":
            append(m, args[0], args[1], *args[2:])
        elif cmd == "appendmany":
            for name in sorted(os.listdir(args[1])):
                if name.endswith(".eml"):
                    append(m, args[0], os.path.join(args[1], name), *args[2:])
        elif cmd == "count":
            print(status(m, args[0], "MESSAGES"))
        elif cmd == "uidvalidity":
            print(status(m, args[0], "UIDVALIDITY"))
        elif cmd == "uids":
            select(m, args[0], readonly=True)
            for u in uid_list(m):
                print(u)
        elif cmd == "store":
            select(m, args[0])
            what, fl = args[2][0], args[2]
            item = {"+": "+FLAGS.SILENT", "-": "-FLAGS.SILENT"}.get(what, "FLAGS.SILENT")
            ok(m.uid("STORE", args[1], item, "(%s)" % fl.lstrip("+-")), "UID STORE")
        elif cmd == "expunge":
            expunge(m, args[0], args[1])
        elif cmd == "move":
            select(m, args[0])
            if has_cap(m, "MOVE"):
                ok(m.uid("MOVE", args[1], q(args[2])), "UID MOVE")
            else:
                ok(m.uid("COPY", args[1], q(args[2])), "UID COPY")
                m.close()
                expunge(m, args[0], args[1])
        elif cmd == "dump":
            dump(m, args[0], sys.stdout.buffer)
        elif cmd == "dumpall":
            names = folders(m)
            with open(os.path.join(args[0], "list"), "w") as f:
                f.write("".join(n + "\n" for n in names))
            for i, name in enumerate(names):
                with open(os.path.join(args[0], "%d.dump" % i), "wb") as f:
                    dump(m, name, f)
        elif cmd == "ids":
            for mid in sorted(ids(m, args[0])):
                print(mid)
        elif cmd == "allids":
            for mid in sorted(mid for name in folders(m) for mid in ids(m, name)):
                print(mid)
        elif cmd == "caps":
            print(" ".join(sorted(m.capabilities)))
        else:
            sys.stderr.write("imapctl: unknown command %s\n" % cmd)
            sys.exit(2)
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


main()
