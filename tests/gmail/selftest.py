#!/usr/bin/env python3
"""Drives a running fixture.py over raw TLS and prints TAP lines ("ok - ..."
/ "not ok - ..."). Run by tests/integration/t_gmail_fixture.sh after
gm_start, with GM_PORT GM_CA GM_USER GM_PASS GM_TOKEN GM_CTL in the
environment. Each check's text says what Gmail behaviour it pins down."""

import base64
import json
import os
import re
import smtplib
import socket
import ssl
import sys
import time
import zlib

PORT, CA = int(os.environ['GM_PORT']), os.environ['GM_CA']
USER, PASS, TOKEN = os.environ['GM_USER'], os.environ['GM_PASS'], os.environ['GM_TOKEN']
CTL = os.environ['GM_CTL']
FAILED = 0
PRE = ('IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY SASL-IR '
       'AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH')
POST = ('IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS '
        'COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS '
        'LITERAL- SPECIAL-USE APPENDLIMIT=35651584')
AUTH_FAILED = 'NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)'


def check(cond, desc, detail=None):
    global FAILED
    print(('ok - ' if cond else 'not ok - ') + desc)
    if not cond:
        FAILED += 1
        if detail is not None:
            for line in str(detail)[:3000].splitlines():
                print('#   ' + line)
    sys.stdout.flush()
    return cond


def ctl(cmd, **kw):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(CTL)
        s.sendall(json.dumps(dict(kw, cmd=cmd)).encode() + b'\n')
        buf = b''
        while not buf.endswith(b'\n'):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    r = json.loads(buf)
    if not r.get('ok'):
        raise RuntimeError('ctl %s: %s' % (cmd, r.get('error')))
    return r


def mail(n, extra=''):
    return ('From: Sender %d <s%d@example.test>\r\nTo: gmaildir.test@gmail.com\r\n'
            'Subject: test message %d\r\nMessage-ID: <m%d@example.test>\r\n%s'
            'Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nBody of message %d.\r\n' %
            (n, n, n, n, extra, n))


class Imap:
    """A raw client: lines out, responses (literals inlined) in. After
    deflate() both directions are raw DEFLATE (RFC 4978); wire_* / plain_*
    count the bytes over TLS and before compression / after decompression."""

    def __init__(self, login=False):
        ctx = ssl.create_default_context(cafile=CA)
        raw = socket.create_connection(('127.0.0.1', PORT), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname='localhost')
        self.buf, self.n = b'', 0
        self.zin = self.zout = None
        self.wire_in = self.wire_out = self.plain_in = self.plain_out = 0
        self.greeting = self.resp()
        if login:
            untagged, tagged = self.cmd('LOGIN %s "%s"' % (USER, PASS))
            assert tagged.startswith('OK'), tagged

    def deflate(self):
        """Compression on, from the byte after the OK's CRLF (already read)."""
        self.zin = zlib.decompressobj(-15)
        self.zout = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        early, self.buf = self.buf, b''
        self.plain_in -= len(early)
        self.buf = self.zin.decompress(early)
        self.plain_in += len(self.buf)

    def more(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError
        self.wire_in += len(data)
        if self.zin is not None:
            data = self.zin.decompress(data)
        self.plain_in += len(data)
        self.buf += data

    def read(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while b'\r\n' not in self.buf:
            self.more()
        i = self.buf.index(b'\r\n') + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def resp(self):
        """One response, literals inlined, as text without the final CRLF."""
        out = self.line()
        while True:
            m = re.search(rb'\{(\d+)\}\r\n$', out)
            if not m:
                return out[:-2].decode('utf-8', 'replace')
            out += self.read(int(m.group(1))) + self.line()

    def send(self, data, flush=True, pieces=None):
        """Compressed when deflate() is on; flush=False leaves the data in
        the compressor (it goes with the next flushed send); pieces=N sends
        the socket bytes in writes of N bytes (TLS records, split anywhere)."""
        data = data.encode() if isinstance(data, str) else data
        self.plain_out += len(data)
        if self.zout is not None:
            data = self.zout.compress(data) + (self.zout.flush(zlib.Z_SYNC_FLUSH) if flush
                                               else b'')
        for i in range(0, len(data), pieces or max(len(data), 1)):
            self.s.sendall(data[i:i + (pieces or len(data))])
        self.wire_out += len(data)

    def tag(self):
        self.n += 1
        return 'T%d' % self.n

    def finish(self, tag):
        untagged = []
        while True:
            r = self.resp()
            if r.startswith(tag + ' '):
                return untagged, r[len(tag) + 1:]
            untagged.append(r)

    def cmd(self, text):
        tag = self.tag()
        self.send('%s %s\r\n' % (tag, text))
        return self.finish(tag)

    def append(self, mailbox, data, extra='', nonsync=False):
        tag = self.tag()
        data = data.encode() if isinstance(data, str) else data
        self.send('%s APPEND %s%s {%d%s}\r\n' % (tag, mailbox, extra, len(data),
                                                 '+' if nonsync else ''))
        if not nonsync:
            cont = self.resp()
            if not cont.startswith('+'):
                return [], cont[len(tag) + 1:]
        self.send(data + b'\r\n')
        return self.finish(tag)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def uid_of(c, msgid):
    """The UID of X-GM-MSGID msgid in c's selected folder, or None."""
    u, t = c.cmd('UID SEARCH X-GM-MSGID %d' % msgid)
    nums = [int(x) for x in next(x for x in u if x.startswith('* SEARCH')).split()[2:]]
    return nums[0] if len(nums) == 1 else None


def find(message_id):
    """The X-GM-MSGIDs of the messages in All Mail with this Message-ID."""
    return [m['msgid'] for m in ctl('list', folder='[Gmail]/All Mail')['messages']
            if m['message_id'] == message_id]


def folders_of(msgid):
    return ctl('message', msgid=msgid)['uids']


def test_auth():
    c = Imap()
    check(c.greeting.startswith('* OK Gimap ready'), 'greeting is "* OK Gimap ready ..."',
          c.greeting)
    u, t = c.cmd('CAPABILITY')
    check(u == ['* CAPABILITY ' + PRE] and t.startswith('OK'),
          'CAPABILITY before login is Gmail\'s (SASL-IR AUTH=XOAUTH2 ...)', u)
    u, t = c.cmd('LOGIN %s wrongpassword' % USER)
    check(t == AUTH_FAILED, 'wrong app password: ' + AUTH_FAILED, t)
    u, t = c.cmd('LOGIN "%s" "abcd efgh ijkl mnop"' % USER)
    check(t.startswith('OK ') and 'authenticated (Success)' in t,
          'the app password with spaces logs in', t)
    check('* CAPABILITY ' + POST in u, 'the login sends the post-login CAPABILITY', u)
    u, t = c.cmd('CAPABILITY')
    caps = u[0].split()[2:] if u else []
    check('CONDSTORE' in caps and 'QRESYNC' not in caps and 'X-GM-EXT-1' in caps,
          'after login: CONDSTORE and X-GM-EXT-1, no QRESYNC', u)
    u, t = c.cmd('LOGIN %s %s' % (USER, PASS))
    check(t.startswith('BAD'), 'LOGIN when logged in is BAD', t)
    u, t = c.cmd('ID ("name" "selftest" "version" "1")')
    check(any('"support-url" NIL' in x for x in u) and t.startswith('OK'),
          'ID answers Gmail\'s params with "support-url" NIL', u)
    u, t = c.cmd('NAMESPACE')
    check(u == ['* NAMESPACE (("" "/")) NIL NIL'], 'NAMESPACE: one personal namespace, "/"', u)
    u, t = c.cmd('ENABLE QRESYNC')
    check(u == ['* ENABLED'] and t.startswith('OK'), 'ENABLE QRESYNC enables nothing', u)
    u, t = c.cmd('ENABLE CONDSTORE')
    check(u == ['* ENABLED CONDSTORE'], 'ENABLE CONDSTORE is enabled', u)
    c.close()

    for mode, text in (('app-password-required', 'NO [ALERT] Application-specific password '
                        'required: https://support.google.com/accounts/answer/185833 (Failure)'),
                       ('imap-disabled', 'NO [ALERT] Your account is not enabled for IMAP use.')):
        ctl('set', auth_mode=mode)
        c = Imap()
        u, t = c.cmd('LOGIN %s %s' % (USER, PASS))
        check(t.startswith(text), 'auth mode %s: %s' % (mode, text), t)
        c.close()
    ctl('set', auth_mode='normal')

    c = Imap()
    ir = base64.b64encode(('user=%s\x01auth=Bearer %s\x01\x01' % (USER, TOKEN)).encode())
    u, t = c.cmd('AUTHENTICATE XOAUTH2 ' + ir.decode())
    check(t.startswith('OK'), 'AUTHENTICATE XOAUTH2 with SASL-IR and the right token', t)
    c.close()
    c = Imap()
    bad = base64.b64encode(('user=%s\x01auth=Bearer expired\x01\x01' % USER).encode())
    tag = c.tag()
    c.send('%s AUTHENTICATE XOAUTH2 %s\r\n' % (tag, bad.decode()))
    cont = c.resp()
    try:
        challenge = json.loads(base64.b64decode(cont[2:]))
    except ValueError:
        challenge = None
    check(cont.startswith('+ ') and challenge == {'status': '400', 'schemes': 'Bearer',
                                                  'scope': 'https://mail.google.com/'},
          'a wrong token gets the base64 JSON challenge', cont)
    c.send('\r\n')
    u, t = c.finish(tag)
    check(t == AUTH_FAILED, '... and after the empty answer ' + AUTH_FAILED, t)
    u, t = c.cmd('AUTHENTICATE PLAIN ' + base64.b64encode(
        ('\0%s\0%s' % (USER, PASS)).encode()).decode())
    check(t.startswith('OK'), 'AUTHENTICATE PLAIN with the app password', t)
    c.close()
    c = Imap()
    tag = c.tag()
    c.send('%s LOGIN {%d}\r\n' % (tag, len(USER)))
    cont = c.resp()
    c.send('%s {%d+}\r\n%s\r\n' % (USER, len(PASS), PASS))
    u, t = c.finish(tag)
    check(cont == '+ go ahead' and t.startswith('OK'),
          'LOGIN with a synchronizing and a LITERAL- literal', (cont, t))
    c.close()


def test_list():
    ctl('create', name='Work/Projects')
    ctl('create', name='Family Stuff')
    ctl('create', name='Entwürfe')
    c = Imap(login=True)
    u, t = c.cmd('LIST "" "*" RETURN (SPECIAL-USE)')
    want = ['* LIST (\\HasNoChildren) "/" "INBOX"',
            '* LIST (\\Noselect \\HasChildren) "/" "[Gmail]"',
            '* LIST (\\HasNoChildren \\All) "/" "[Gmail]/All Mail"',
            '* LIST (\\HasNoChildren \\Drafts) "/" "[Gmail]/Drafts"',
            '* LIST (\\HasNoChildren \\Important) "/" "[Gmail]/Important"',
            '* LIST (\\HasNoChildren \\Sent) "/" "[Gmail]/Sent Mail"',
            '* LIST (\\HasNoChildren \\Junk) "/" "[Gmail]/Spam"',
            '* LIST (\\HasNoChildren \\Flagged) "/" "[Gmail]/Starred"',
            '* LIST (\\HasNoChildren \\Trash) "/" "[Gmail]/Trash"',
            '* LIST (\\HasChildren) "/" "Work"',
            '* LIST (\\HasNoChildren) "/" "Work/Projects"',
            '* LIST (\\HasNoChildren) "/" "Family Stuff"',
            '* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"']
    missing = [w for w in want if w not in u]
    check(not missing and t.startswith('OK'),
          'LIST RETURN (SPECIAL-USE): [Gmail] \\Noselect, special-use attributes, nested, '
          'quoted, modified UTF-7 names', '\n'.join(['missing:'] + missing + ['got:'] + u))
    u, t = c.cmd('LIST (SPECIAL-USE) "" "*"')
    check(len(u) == 7, 'LIST (SPECIAL-USE) selects the 7 special folders', u)
    u, t = c.cmd('LIST "" "%"')
    check('* LIST (\\HasChildren) "/" "Work"' in u and not any('Projects' in x for x in u),
          'LIST "" "%" stops at the delimiter', u)
    u, t = c.cmd('LIST "" "*"')
    check(len(u) == 13 and any('\\All' in x for x in u),
          'plain LIST "" "*" carries the special-use attributes too', u)
    u, t = c.cmd('LIST "" "INBOX" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY))')
    check(len(u) == 2 and re.fullmatch(r'\* STATUS "INBOX" \(MESSAGES \d+ UIDNEXT \d+ '
                                       r'UIDVALIDITY \d+\)', u[1]) is not None,
          'LIST-STATUS: a STATUS line after the LIST line', u)
    u, t = c.cmd('XLIST "" "*"')
    check('* XLIST (\\HasNoChildren \\AllMail) "/" "[Gmail]/All Mail"' in u and
          '* XLIST (\\HasNoChildren \\Inbox) "/" "INBOX"' in u, 'XLIST: Gmail\'s old attributes',
          u)
    u, t = c.cmd('SELECT "[Gmail]"')
    check(t.startswith('NO'), 'SELECT of the \\Noselect [Gmail] fails', t)
    u, t = c.cmd('SELECT Nonexistent')
    check(t.startswith('NO [NONEXISTENT]'), 'SELECT of an unknown folder: NO [NONEXISTENT]', t)
    u, t = c.cmd('CREATE Work')
    check(t.startswith('NO [ALREADYEXISTS]'), 'CREATE of an existing label: ALREADYEXISTS', t)
    u1, t1 = c.cmd('CREATE "Tmp Label"')
    u2, t2 = c.cmd('RENAME "Tmp Label" Tmp2')
    u3, t3 = c.cmd('DELETE Tmp2')
    u4, t4 = c.cmd('STATUS Tmp2 (MESSAGES)')
    check(t1.startswith('OK') and t2.startswith('OK') and t3.startswith('OK') and
          t4.startswith('NO'), 'CREATE, RENAME, DELETE of a label', (t1, t2, t3, t4))
    c.close()


def test_labels():
    # Folders of different sizes first, so that the UIDs differ.
    for n, labels in ((1, ['Work']), (2, ['Family Stuff']), (3, ['Family Stuff']),
                      (4, []), (5, []), (6, [])):
        ctl('add', data=mail(n), labels=labels)
    mid = ctl('add', data=mail(10), labels=['\\Inbox', 'Work', 'Family Stuff'])['msgid']
    c = Imap(login=True)
    seen = {}
    for folder in ('INBOX', 'Work', '"Family Stuff"', '"[Gmail]/All Mail"'):
        c.cmd('SELECT ' + folder)
        uid = uid_of(c, mid)
        u, t = c.cmd('UID FETCH %s (X-GM-MSGID X-GM-THRID)' % uid)
        ok = uid and any('X-GM-MSGID %d' % mid in x for x in u)
        seen[folder] = uid if ok else None
    uids = list(seen.values())
    check(None not in uids and len(set(uids)) == 4,
          'a message with 3 labels is in 3 folders + All Mail, 4 distinct UIDs, '
          'one X-GM-MSGID', seen)
    check(sorted(folders_of(mid)) == sorted(['INBOX', 'Work', 'Family Stuff',
                                             '[Gmail]/All Mail']),
          '... and in no other folder', folders_of(mid))

    c.cmd('SELECT INBOX')
    u, t = c.cmd('UID FETCH %d (X-GM-LABELS)' % seen['INBOX'])
    check(any('X-GM-LABELS ("\\\\Inbox" "Family Stuff" "Work")' in x for x in u),
          'X-GM-LABELS in the quoted form', u)
    ctl('set', bare_labels=True)
    u, t = c.cmd('UID FETCH %d (X-GM-LABELS)' % seen['INBOX'])
    check(any('X-GM-LABELS (\\Inbox "Family Stuff" Work)' in x for x in u),
          'the bare_labels option sends \\Inbox unquoted', u)
    ctl('set', bare_labels=False)

    u, t = c.cmd('UID STORE %d +FLAGS (\\Seen)' % seen['INBOX'])
    check(any(re.search(r'FETCH \(UID %d FLAGS \(\\Seen\)' % seen['INBOX'], x) for x in u),
          'STORE +FLAGS answers with the new FLAGS', u)
    c.cmd('SELECT "[Gmail]/All Mail"')
    u, t = c.cmd('UID FETCH %d (FLAGS)' % seen['"[Gmail]/All Mail"'])
    check(any('\\Seen' in x for x in u), '\\Seen set in INBOX shows in All Mail (global flags)',
          u)

    # BODY[] without PEEK sets \Seen everywhere.
    mid2 = ctl('add', data=mail(11), labels=['\\Inbox', 'Work'])['msgid']
    c.cmd('SELECT Work')
    uid = uid_of(c, mid2)
    u, t = c.cmd('UID FETCH %d (BODY[])' % uid)
    check(any('FLAGS (\\Seen)' in x for x in u) and
          '\\Seen' in ctl('message', msgid=mid2)['flags'],
          'BODY[] without PEEK sets \\Seen globally and says so', u)
    u, t = c.cmd('UID FETCH %d (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] RFC822.SIZE '
                 'INTERNALDATE ENVELOPE)' % uid)
    check(any('BODY[HEADER.FIELDS (MESSAGE-ID)] {34}\r\nMessage-ID: <m11@example.test>\r\n'
              '\r\n' in x for x in u) and any('"test message 11"' in x for x in u),
          'BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)], ENVELOPE', u)

    # Label changes through STORE.
    u, t = c.cmd('UID STORE %d +X-GM-LABELS ("New Label")' % uid)
    check(t.startswith('OK') and 'New Label' in folders_of(mid2),
          '+X-GM-LABELS adds the message to that folder (created on the fly)', (u, t))
    c.cmd('SELECT INBOX')
    uid_in = uid_of(c, mid2)
    u, t = c.cmd('UID STORE %d -X-GM-LABELS (\\Inbox)' % uid_in)
    check(any(re.fullmatch(r'\* \d+ EXPUNGE', x) for x in u) and 'INBOX' not in folders_of(mid2),
          '-X-GM-LABELS (\\Inbox) in INBOX: the message leaves INBOX (EXPUNGE)', u)

    # EXPUNGE in a label removes the label only (auto-expunge off: explicit).
    ctl('set', auto_expunge=False)
    c.cmd('SELECT Work')
    uid = uid_of(c, mid)
    c.cmd('UID STORE %d +FLAGS.SILENT (\\Deleted)' % uid)
    check('Work' in folders_of(mid), 'without auto-expunge \\Deleted waits for EXPUNGE')
    u, t = c.cmd('EXPUNGE')
    f = folders_of(mid)
    check(any(re.fullmatch(r'\* \d+ EXPUNGE', x) for x in u) and 'Work' not in f and
          'INBOX' in f and '[Gmail]/All Mail' in f and
          '\\Deleted' not in ctl('message', msgid=mid)['flags'],
          'EXPUNGE in a label removes only that label', (u, f))
    ctl('set', auto_expunge=True)
    c.cmd('SELECT "Family Stuff"')
    uid = uid_of(c, mid)
    u, t = c.cmd('UID STORE %d +FLAGS.SILENT (\\Deleted)' % uid)
    check(any(re.fullmatch(r'\* \d+ EXPUNGE', x) for x in u) and
          'Family Stuff' not in folders_of(mid),
          'with auto-expunge (Gmail default) \\Deleted removes the label at once', u)

    # COPY into a label = add the label; MOVE to Trash = gone from every label.
    mid3 = ctl('add', data=mail(12), labels=['\\Inbox', 'Work'])['msgid']
    c.cmd('SELECT INBOX')
    uid = uid_of(c, mid3)
    u, t = c.cmd('UID COPY %d "Family Stuff"' % uid)
    dst = folders_of(mid3).get('Family Stuff')
    check(re.fullmatch(r'OK \[COPYUID \d+ %d %d\] \(Success\)' % (uid, dst), t) is not None,
          'COPY into a label adds the label, with COPYUID', (t, dst))
    u, t = c.cmd('UID MOVE %d "[Gmail]/Trash"' % uid)
    f = folders_of(mid3)
    order = [i for i, x in enumerate(u) if x.startswith('* OK [COPYUID')] + \
        [i for i, x in enumerate(u) if x.endswith(' EXPUNGE')]
    check(list(f) == ['[Gmail]/Trash'] and len(order) == 2 and order[0] < order[1] and
          ctl('message', msgid=mid3)['labels'] == ['\\Trash'],
          'MOVE to Trash: COPYUID before EXPUNGE; the message leaves every label and '
          'All Mail', (u, f))
    c.cmd('SELECT "[Gmail]/Trash"')
    uid = uid_of(c, mid3)
    c.cmd('UID STORE %d +FLAGS.SILENT (\\Deleted)' % uid)
    c.cmd('UID EXPUNGE %d' % uid)
    try:
        ctl('message', msgid=mid3)
        gone = False
    except RuntimeError:
        gone = True
    check(gone, 'expunging from Trash deletes forever')
    c.close()


def test_append_search():
    c = Imap(login=True)
    u1, t1 = c.append('Work', mail(20), ' (\\Seen) "01-Jan-2024 10:00:00 +0100"')
    u2, t2 = c.append('Work', mail(20), ' (\\Seen) "01-Jan-2024 10:00:00 +0100"')
    ids = find('<m20@example.test>')
    check(re.fullmatch(r'OK \[APPENDUID \d+ \d+\] \(Success\)', t1) is not None and
          t1 != t2 and len(ids) == 2,
          'APPEND of the same message twice: 2 messages, APPENDUID each', (t1, t2, ids))
    m = ctl('message', msgid=ids[0])
    check(sorted(m['uids']) == ['Work', '[Gmail]/All Mail'] and
          m['internaldate'] == '01-Jan-2024 10:00:00 +0100' and m['flags'] == ['\\Seen'],
          'APPEND into a label: that label + All Mail, flags and date kept', m)
    u, t = c.append('"[Gmail]/All Mail"', mail(21))
    m = ctl('message', msgid=find('<m21@example.test>')[0])
    check(t.startswith('OK [APPENDUID') and list(m['uids']) == ['[Gmail]/All Mail'],
          'APPEND into All Mail: no label', (t, m))
    u, t = c.append('Work', mail(22), nonsync=True)
    check(t.startswith('OK [APPENDUID'), 'APPEND with a LITERAL- literal (no continuation)', t)
    u, t = c.append('Work', 'x' * 5000, nonsync=True)
    u2, t2 = c.cmd('NOOP')
    check(t.startswith('BAD [TOOBIG]') and t2.startswith('OK'),
          'a LITERAL- literal over 4096 bytes is BAD; the connection goes on', (t, t2))
    u, t = c.append('Nowhere', mail(23))
    check(t.startswith('NO [TRYCREATE]'), 'APPEND to a missing folder: NO [TRYCREATE]', t)
    ctl('set', append_limit=1000)
    u, t = c.append('Work', 'x' * 2000)
    u2, t2 = c.cmd('CAPABILITY')
    check(t.startswith('NO [TOOBIG]') and 'APPENDLIMIT=1000' in u2[0],
          'over APPENDLIMIT: NO [TOOBIG] before the literal is sent', (t, u2))
    ctl('set', append_limit=35651584)
    n = ctl('counters')
    check(n['appends'] >= 4 and n['commands'].get('APPEND', 0) == 7,
          'counters: APPENDs done and APPEND commands seen', n)

    c.cmd('SELECT Work')
    mid = ids[0]
    uid = uid_of(c, mid)
    u, t = c.cmd('UID SEARCH HEADER Message-ID "<m20@example.test>"')
    hits = u[0].split()[2:]
    check(len(hits) == 2 and str(uid) in hits, 'UID SEARCH HEADER Message-ID', u)
    u, t = c.cmd('UID SEARCH X-GM-RAW "rfc822msgid:<m20@example.test> in:anywhere"')
    check(u[0].split()[2:] == hits, 'UID SEARCH X-GM-RAW rfc822msgid:', u)
    u, t = c.cmd('UID SEARCH RETURN (MIN MAX COUNT ALL) UID 1:*')
    uids = [int(x) for x in c.cmd('UID SEARCH ALL')[0][0].split()[2:]]
    want = '* ESEARCH (TAG "T%d") UID MIN %d MAX %d COUNT %d ALL ' % (
        c.n - 1, uids[0], uids[-1], len(uids))
    check(len(u) == 1 and u[0].startswith(want), 'ESEARCH RETURN (MIN MAX COUNT ALL)',
          (u, want))
    u, t = c.cmd('UID SEARCH RETURN (COUNT) X-GM-MSGID 1')
    check(u == ['* ESEARCH (TAG "T%d") UID COUNT 0' % c.n], 'ESEARCH with no match', u)

    # Sequence sets: n:* past the top returns the last message.
    u, t = c.cmd('UID FETCH %d:* (UID)' % (uids[-1] + 100))
    check(len(u) == 1 and 'UID %d' % uids[-1] in u[0], 'UID FETCH n:* with n > UIDNEXT '
          'returns the last message', u)
    u, t = c.cmd('FETCH %d (UID)' % (len(uids) + 5))
    check(t.startswith('BAD'), 'FETCH of a sequence number past EXISTS is BAD', t)
    u, t = c.cmd('FETCH 1:* (UID FLAGS)')
    check(len(u) == len(uids), 'FETCH 1:* covers every message', u)

    # CONDSTORE: MODSEQ and CHANGEDSINCE.
    u, t = c.cmd('UID FETCH 1:* (UID MODSEQ)')
    top = max(int(re.search(r'MODSEQ \((\d+)\)', x).group(1)) for x in u)
    c.cmd('UID STORE %d +FLAGS.SILENT (\\Flagged)' % uid)
    u, t = c.cmd('UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)' % top)
    check(len(u) == 1 and 'UID %d' % uid in u[0] and 'MODSEQ' in u[0],
          'CHANGEDSINCE returns just the changed message, with MODSEQ', u)
    check('[Gmail]/Starred' in folders_of(mid), '\\Flagged puts the message in Starred')
    u, t = c.cmd('STATUS Work (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)')
    check(re.fullmatch(r'\* STATUS "Work" \(MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN \d+ '
                       r'HIGHESTMODSEQ \d+\)', u[0]) is not None, 'STATUS with HIGHESTMODSEQ', u)
    u, t = c.cmd('EXAMINE Work')
    check(any(x.startswith('* OK [HIGHESTMODSEQ ') for x in u) and
          any(x.startswith('* OK [UIDNEXT ') for x in u) and t.startswith('OK [READ-ONLY]'),
          'EXAMINE: HIGHESTMODSEQ, UIDNEXT, READ-ONLY', u)
    u, t = c.cmd('UID STORE %d +FLAGS (\\Seen)' % uid)
    check(t.startswith('NO'), 'STORE in an EXAMINEd folder is refused', t)
    c.close()


def test_idle_and_reset():
    a = Imap(login=True)
    a.cmd('SELECT INBOX (CONDSTORE)')
    tag = a.tag()
    a.send('%s IDLE\r\n' % tag)
    first = a.resp()
    mid = ctl('add', data=mail(30), labels=['\\Inbox'])['msgid']
    a.s.settimeout(5)
    try:
        got = a.resp()
        ctl('flags', msgid=mid, add=['\\Flagged'])
        got2 = a.resp()
        ctl('labels', msgid=mid, remove=['\\Inbox'])
        got3 = a.resp()
    except (OSError, EOFError) as e:
        got = got2 = got3 = repr(e)
    check(first == '+ idling' and re.fullmatch(r'\* \d+ EXISTS', got) is not None,
          'IDLE: a message added to the folder arrives as EXISTS', (first, got))
    check(re.fullmatch(r'\* \d+ FETCH \(UID \d+ FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)', got2)
          is not None, 'IDLE: a flag change arrives as FETCH FLAGS (+MODSEQ: CONDSTORE)', got2)
    check(re.fullmatch(r'\* \d+ EXPUNGE', got3) is not None,
          'IDLE: a removed label arrives as EXPUNGE', got3)
    a.send('DONE\r\n')
    u, t = a.finish(tag)
    check(t == 'OK IDLE terminated (Success)', 'DONE ends IDLE', t)

    # A control-side change reaches a selected client at its next NOOP.
    mid2 = ctl('add', data=mail(31), labels=['\\Inbox'])['msgid']
    u, t = a.cmd('NOOP')
    check(any(x.endswith(' EXISTS') for x in u), 'NOOP reports new mail', u)

    # UIDVALIDITY change.
    a.cmd('SELECT Work')
    ctl('uidvalidity', folder='Work', value=777)
    u, t = a.cmd('NOOP')
    check(any(x.startswith('* BYE') for x in u), 'a client with the reset folder selected '
          'gets BYE', u)
    a.close()
    b = Imap(login=True)
    u, t = b.cmd('STATUS Work (UIDVALIDITY)')
    check(u == ['* STATUS "Work" (UIDVALIDITY 777)'], 'the new UIDVALIDITY is served', u)
    b.close()


def big_text(n, size):
    """A text message of about size bytes (it compresses well)."""
    lines, i = [], 0
    while sum(map(len, lines)) < size:
        i += 1
        lines.append('Line %d of message %d: the quick brown fox jumps over the lazy dog, '
                     'again and again.\r\n' % (i, n))
    return mail(n).replace('Body of message %d.\r\n' % n, ''.join(lines)).encode()


def test_compress():
    big = big_text(40, 400000)
    mid = ctl('add', data=big.decode(), labels=['\\Inbox'])['msgid']
    before = ctl('counters')
    c = Imap()
    u, t = c.cmd('COMPRESS DEFLATE')
    check(t.startswith('BAD'), 'COMPRESS before login is BAD (not valid in this state)', t)
    u, t = c.cmd('LOGIN %s %s' % (USER, PASS))
    check(any(x.startswith('* CAPABILITY ') and ' COMPRESS=DEFLATE ' in x for x in u),
          'the login\'s CAPABILITY lists COMPRESS=DEFLATE', u)
    u, t = c.cmd('COMPRESS LZW')
    check(t.startswith('BAD'), 'COMPRESS with an unknown mechanism is BAD', t)
    u, t = c.cmd('COMPRESS DEFLATE')
    if not check(t == 'OK DEFLATE active' and not c.buf, 'COMPRESS DEFLATE: OK DEFLATE active',
                 t):
        c.close()
        return
    c.deflate()
    u, t = c.cmd('COMPRESS DEFLATE')
    check(t == 'NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS',
          'a second COMPRESS: NO [COMPRESSIONACTIVE] (asked and answered compressed)', t)
    u, t = c.cmd('SELECT INBOX')
    check(t.startswith('OK [READ-WRITE]') and any(x.endswith(' EXISTS') for x in u),
          'compressed: SELECT INBOX', (u, t))
    uid = uid_of(c, mid)
    u, t = c.cmd('UID FETCH %d (BODY.PEEK[])' % uid)
    got = u[0] if len(u) == 1 else ''
    head = re.match(r'\* \d+ FETCH \(UID %d BODY\[\] \{%d\}\r\n' % (uid, len(big)), got)
    check(t.startswith('OK') and head and got[head.end():] == big.decode() + ')',
          'compressed: UID FETCH BODY.PEEK[] of a 400 KB body, intact', (t, got[:200], len(got)))

    # APPEND of 100 KB from the client: the command line without a flush
    # (it shares a deflate block with what follows), sent in 3-byte writes,
    # the literal in 1000-byte writes; then a LITERAL- one in 7-byte writes.
    data = big_text(41, 100000)
    tag = c.tag()
    c.send('%s APPEND INBOX (\\Seen) {%d}\r\n' % (tag, len(data)), flush=False)
    c.send(b'', pieces=3)
    cont = c.resp()
    c.send(data[:50000], flush=False)
    c.send(data[50000:] + b'\r\n', pieces=1000)
    u, t = c.finish(tag)
    ids = find('<m41@example.test>')
    raw = base64.b64decode(ctl('message', msgid=ids[0], raw=True)['raw_b64']) if ids else b''
    check(cont == '+ go ahead' and t.startswith('OK [APPENDUID') and raw == data,
          'compressed: APPEND of a 100 KB literal split across writes and blocks, stored intact',
          (cont, t, len(raw), len(data)))
    small = mail(42).encode()
    tag = c.tag()
    c.send(b'%s APPEND INBOX {%d+}\r\n%s\r\n' % (tag.encode(), len(small), small), pieces=7)
    u, t = c.finish(tag)
    check(t.startswith('OK [APPENDUID') and len(find('<m42@example.test>')) == 1,
          'compressed: a LITERAL- APPEND sent in 7-byte writes', t)

    # IDLE: "+ idling" and the EXISTS each readable at once (Z_SYNC_FLUSH).
    tag = c.tag()
    c.send('%s IDLE\r\n' % tag)
    c.s.settimeout(5)
    try:
        first = c.resp()
        ctl('add', data=mail(43), labels=['\\Inbox'])
        got = c.resp()
    except (OSError, EOFError) as e:
        first = got = repr(e)
    check(first == '+ idling' and re.fullmatch(r'\* \d+ EXISTS', got) is not None,
          'compressed: IDLE answers "+ idling", a message added while idling arrives as '
          'EXISTS', (first, got))
    c.send('DONE\r\n')
    u, t = c.finish(tag)
    check(t == 'OK IDLE terminated (Success)', 'compressed: DONE ends IDLE', t)
    u, t = c.cmd('LOGOUT')
    check(u and u[0].startswith('* BYE') and t.startswith('OK'), 'compressed: LOGOUT', (u, t))
    try:        # once the server has closed, it has counted everything
        while True:
            c.more()
    except (OSError, EOFError):
        pass
    c.close()
    n = ctl('counters')
    d = {k: n[k] - before[k] for k in ('compress_sessions', 'wire_bytes_out', 'wire_bytes_in',
                                       'plain_bytes_out', 'plain_bytes_in', 'body_bytes',
                                       'append_bytes')}
    print('# compressed session: wire/plain out %d/%d, in %d/%d' % (
        d['wire_bytes_out'], d['plain_bytes_out'], d['wire_bytes_in'], d['plain_bytes_in']))
    check(d['compress_sessions'] == 1, 'counters: compress_sessions counts the connection', d)
    check(d['wire_bytes_out'] * 4 < d['plain_bytes_out'] and
          d['wire_bytes_in'] * 4 < d['plain_bytes_in'],
          'counters: wire bytes < plain bytes / 4 both ways for text', d)
    mine = {'wire_bytes_out': c.wire_in, 'plain_bytes_out': c.plain_in,
            'wire_bytes_in': c.wire_out, 'plain_bytes_in': c.plain_out}
    check(all(d[k] == v for k, v in mine.items()),
          'counters: wire_/plain_bytes_* are what the client received and sent', (d, mine))
    check(d['body_bytes'] == len(big) and d['append_bytes'] == len(data) + len(small),
          'counters: body_bytes and append_bytes still count plaintext', d)

    ctl('set', compress=False)
    c = Imap()
    u, t = c.cmd('LOGIN %s %s' % (USER, PASS))
    u2, t2 = c.cmd('CAPABILITY')
    u3, t3 = c.cmd('COMPRESS DEFLATE')
    check(not any('COMPRESS' in x for x in u + u2) and u2 and
          u2[0].startswith('* CAPABILITY IMAP4rev1') and t3.startswith('NO'),
          'compress=false: no COMPRESS=DEFLATE after login, COMPRESS refused (NO)', (u, u2, t3))
    c.close()
    ctl('set', compress=True)

    # A client that sends compressed bytes right behind the COMPRESS line.
    c = Imap(login=True)
    z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    c.send(b'Z1 COMPRESS DEFLATE\r\n' + z.compress(b'Z2 NOOP\r\n') + z.flush(zlib.Z_SYNC_FLUSH))
    r1 = c.resp()
    c.deflate()
    r2 = c.resp()
    check(r1 == 'Z1 OK DEFLATE active' and r2 == 'Z2 OK Success',
          'compressed bytes that came with the COMPRESS line are inflated too', (r1, r2))
    c.close()


def test_limits():
    ctl('reset_counters')
    c = Imap(login=True)
    c.cmd('SELECT "[Gmail]/All Mail"')
    u, t = c.cmd('UID FETCH 1:* (RFC822.SIZE)')
    sizes = [int(re.search(r'RFC822.SIZE (\d+)', x).group(1)) for x in u]
    limit = sum(sizes[:3])
    ctl('set', quota_bytes=limit)
    u, t = c.cmd('UID FETCH 1:* (BODY.PEEK[])')
    n = ctl('counters')
    check(len(u) == 3 and t == 'NO [OVERQUOTA] Account exceeded command or bandwidth limits. '
          '(Failure)' and n['body_bytes'] == limit,
          'after N body bytes: partial FETCH data, then NO [OVERQUOTA]', (len(u), t, n))
    u, t = c.cmd('UID FETCH 1 (UID FLAGS)')
    check(t.startswith('OK'), '... metadata still flows', t)
    u, t = c.cmd('UID FETCH 1:* (BODY.PEEK[])')
    check(t.startswith('NO [OVERQUOTA]') and not u, '... bodies stay blocked', t)
    ctl('quota_reset')
    u, t = c.cmd('UID FETCH 1 (BODY.PEEK[])')
    check(t.startswith('OK') and len(u) == 1, '... until the control channel resets it', t)
    ctl('set', quota_mode='bye', quota_bytes=0)
    u = []
    try:
        tag = c.tag()
        c.send('%s UID FETCH 1 (BODY.PEEK[])\r\n' % tag)
        u.append(c.resp())
        c.resp()
        closed = False
    except (EOFError, OSError):
        closed = True
    check(u and u[0].startswith('* BYE [THROTTLED]') and closed,
          'quota mode bye: * BYE [THROTTLED] and the connection closes', u)
    ctl('set', quota_bytes=None, quota_mode='overquota')
    ctl('quota_reset')
    c.close()
    check(ctl('counters')['downloads'] != {}, 'counters: downloads per X-GM-MSGID')

    time.sleep(0.3)     # the server notices the closed connections
    ctl('set', max_conns=2)
    a, b = Imap(), Imap(login=True)
    c = Imap()
    try:
        c.resp()
        eof = False
    except (EOFError, OSError):
        eof = True
    check(c.greeting == '* BYE [UNAVAILABLE] Too many simultaneous connections. (Failure)' and
          eof, 'past the connection limit: * BYE [UNAVAILABLE] and close', c.greeting)
    n = ctl('counters')
    check(n['rejected_connections'] == 1 and n['current_connections'] == 2 and
          n['max_concurrent'] == 2, 'counters: current, maximum and rejected connections', n)
    for x in (a, b, c):
        x.close()
    ctl('set', max_conns=15)
    time.sleep(0.3)

    ctl('set', prefix='[Google Mail]', lang='de')
    c = Imap(login=True)
    u, t = c.cmd('LIST "" "*" RETURN (SPECIAL-USE)')
    check('* LIST (\\HasNoChildren \\Trash) "/" "[Google Mail]/Papierkorb"' in u and
          '* LIST (\\Noselect \\HasChildren) "/" "[Google Mail]"' in u and
          '* LIST (\\HasNoChildren \\Drafts) "/" "[Google Mail]/Entw&APw-rfe"' in u and
          not any('[Gmail]' in x for x in u),
          'localized names: [Google Mail]/Papierkorb, Entw&APw-rfe (modified UTF-7)', u)
    u, t = c.cmd('SELECT "[Google Mail]/Alle Nachrichten"')
    check(t.startswith('OK'), 'the localized All Mail is selectable', t)
    c.close()
    ctl('set', prefix='[Gmail]', lang='en')


def test_robustness():
    c = Imap(login=True)
    u, t = c.cmd('NOOP ')
    check(t.startswith('BAD'), 'a trailing space is BAD (strict grammar)', t)
    u, t = c.cmd('FROBNICATE')
    check(t.startswith('BAD'), 'an unknown command is BAD', t)
    u, t = c.cmd('SELECT "unterminated')
    check(t.startswith('BAD'), 'an unterminated quoted string is BAD', t)
    c.send('T99 NOOP\n')
    r = c.resp()
    check(r.startswith('* BAD'), 'a line without CR is refused', r)
    u, t = c.cmd('XYZZY')
    check(u == ['* OK Nothing happens.'], 'XYZZY', u)
    c.s.close()
    raw = socket.create_connection(('127.0.0.1', PORT), timeout=5)
    raw.sendall(b'\x16\x03\x01garbage that is not TLS\r\n')
    raw.close()
    d = Imap(login=True)
    u, t = d.cmd('LOGOUT')
    check(u and u[0].startswith('* BYE') and t.startswith('OK'),
          'after garbage and dropped connections the server still serves', (u, t))
    d.close()
    n = ctl('counters')
    check(n['internal_errors'] == 0 and n['commands'].get('XYZZY') == 1 and
          n['commands'].get('FROBNICATE') == 1 and n['bad_commands'] >= 4,
          'counters: commands seen, BAD answers, no internal errors',
          {k: n[k] for k in ('internal_errors', 'commands', 'bad_commands')})


def test_smtp():
    ctx = ssl.create_default_context(cafile=CA)
    sport, sport587 = int(os.environ['GM_SMTP_PORT']), int(os.environ['GM_SMTP_PORT_STARTTLS'])
    before = ctl('counters')['smtp_messages']
    s = smtplib.SMTP_SSL('127.0.0.1', sport, timeout=10, context=ctx)
    code, text = s.ehlo()
    check(code == 250 and text.startswith(b'smtp.gmail.com at your service') and
          s.esmtp_features.get('size') == '35882577' and 'XOAUTH2' in s.esmtp_features['auth'],
          'SMTP 465: implicit TLS, smtp.gmail.com\'s EHLO (SIZE 35882577, AUTH ... XOAUTH2)',
          s.esmtp_features)
    check(s.login(USER, PASS[:4] + ' ' + PASS[4:])[0] == 235,
          'SMTP AUTH with the app password (spaces allowed): 235')
    body = (b'From: %s\r\nTo: %s\r\nSubject: smtp to self\r\n\r\nhi\r\n' %
            (USER.encode(), USER.upper().encode()))
    s.sendmail(USER, [USER.upper(), 'other@example.test'], body)
    s.quit()
    ms = [x for x in ctl('list', folder='[Gmail]/All Mail')['messages']
          if (x['message_id'] or '').endswith('.gs@mx.google.com>')]
    m = ms[0] if ms else {}
    check(len(ms) == 1 and sorted(m['labels']) == ['\\Inbox', '\\Sent'] and
          m['flags'] == ['\\Seen'],
          'a message sent to oneself: ONE message labelled \\Sent and \\Inbox, \\Seen', m)
    s = smtplib.SMTP('127.0.0.1', sport587, timeout=10)
    s.ehlo()
    check(s.has_extn('starttls') and not s.has_extn('auth') and
          s.docmd('MAIL FROM:<%s>' % USER)[0] == 530,
          'SMTP 587: STARTTLS, no AUTH before it, MAIL before it: 530')
    s.starttls(context=ctx)
    s.ehlo()
    tok = base64.b64encode(('user=%s\x01auth=Bearer %s\x01\x01' % (USER, TOKEN)).encode())
    check(s.docmd('AUTH XOAUTH2', tok.decode())[0] == 235, 'SMTP 587 after STARTTLS: XOAUTH2 235')
    s.sendmail(USER, ['someone@example.test'], mail(900))
    s.quit()
    got = find('<m900@example.test>')
    check(len(got) == 1 and ctl('message', msgid=got[0])['labels'] == ['\\Sent'],
          'a message sent to others: \\Sent only, its Message-ID kept', got)
    n = ctl('counters')
    check(n['smtp_messages'] == before + 2, 'counters: smtp_messages', n['smtp_messages'])
    ctl('set', auth_mode='app-password-required')
    s = smtplib.SMTP_SSL('127.0.0.1', sport, timeout=10, context=ctx)
    try:
        s.login(USER, PASS)
        code = 235
    except smtplib.SMTPAuthenticationError as e:
        code = e.smtp_code
    ctl('set', auth_mode='normal')
    check(code == 534, 'auth_mode=app-password-required: SMTP AUTH PLAIN 534', code)
    s.close()
    with open(os.environ['GM_LOG']) as fh:
        log = fh.read()
    check('smtp:465' in log and PASS not in log and TOKEN not in log,
          'SMTP commands in GM_LOG, secrets masked')


def main():
    for t in (test_auth, test_list, test_labels, test_append_search, test_idle_and_reset,
              test_compress, test_limits, test_robustness, test_smtp):
        try:
            t()
        except Exception as e:     # one broken group must not hide the others
            check(False, '%s ran to its end' % t.__name__, '%s: %s' % (type(e).__name__, e))
    return 1 if FAILED else 0


if __name__ == '__main__':
    sys.exit(main())
