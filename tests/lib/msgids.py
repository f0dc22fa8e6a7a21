#!/usr/bin/env python3
"""Lists the Message-IDs of a doveadm pager dump or of a Maildir folder.

  msgids.py dump FILE        one Message-ID per server message
  msgids.py maildir DIR      one Message-ID per file in DIR/new and DIR/cur

A message without one prints "-". Output is sorted, duplicates kept, so
`uniq -d` shows messages that are there twice.
"""
import os
import re
import sys

ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def message_id(data):
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]
    m = ID.search(head)
    return b"".join(m.group(1).split()).decode("utf-8", "replace") if m else "-"


def main():
    ids = []
    if sys.argv[1] == "dump":
        data = open(sys.argv[2], "rb").read()
        if data.strip():
            for rec in data.split(b"\x0c\n"):
                ids.append(message_id(rec.partition(b"text:\n")[2]))
    else:
        for sub in ("new", "cur"):
            d = os.path.join(sys.argv[2], sub)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                if not name.startswith("."):
                    ids.append(message_id(open(os.path.join(d, name), "rb").read()))
    for i in sorted(ids):
        print(i)


main()
