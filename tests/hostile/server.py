#!/usr/bin/env python3
"""A scripted IMAP server that plays a normal session and, per scenario,
misbehaves: the attacker of tests/integration/t_hostile.sh.

    server.py seed  --state FILE [--folder NAME COUNT [DELIM]]... [--seed N]
    server.py serve --state FILE --port-file F --scenario NAME
                    [--cert PEM --key PEM] [--no-condstore] [--log F]
    server.py show  --state FILE         (a line per folder, tab-separated: name
                                          as JSON, count, uidvalidity, uidnext,
                                          modseq)
    server.py scenarios                  (the list, one a line)

The mailbox lives in a JSON file (--state) that survives restarts, so that
a test can run a good sync against scenario "normal", then restart the
server on the same mailbox with a hostile scenario. Folder names in the
state are wire names (modified UTF-7, or whatever hostile bytes a test
wants, as latin-1 code points); DELIM "" is NIL.

Listens on 127.0.0.1 only (an ephemeral port, written to --port-file once
listening). Implicit TLS with --cert/--key, else plain. One thread per
connection; the state sits behind one lock and is saved after each change.
Every command line (literals elided) goes to --log, prefixed with the
connection number, so a test can check what the client did. Every wait is
bounded: a silent client is dropped after 60 s, the server exits after
--max-life seconds (default 600) whatever happens.

Capabilities: IMAP4rev1 UIDPLUS MOVE CONDSTORE (--no-condstore: without
CONDSTORE; --qresync: QRESYNC too, whose SELECT answers with VANISHED
(EARLIER) and the FETCH of every message changed since the given MODSEQ). The commands gmaildir uses: CAPABILITY NOOP LOGOUT LOGIN LIST
SELECT EXAMINE STATUS CREATE DELETE CLOSE UNSELECT APPEND EXPUNGE and UID
FETCH/SEARCH/STORE/EXPUNGE/COPY/MOVE; LOGIN accepts any user/password.

Scenarios (what the server does wrong; "normal" does nothing wrong):
"""

import argparse
import base64
import json
import os
import random
import re
import socket
import ssl
import sys
import threading
import time

SCENARIOS = {
    'normal': 'a well-behaved server',
    'literal_overrun': 'BODY[] literals announce a quarter of the bytes sent',
    'literal_huge': 'a BODY[] literal of {4294967295}, then a stream of bytes',
    'eof_literal': 'the connection closes half-way through a BODY[] literal',
    'unasked_uid': 'FETCH answers add messages that were not asked for',
    'dup_uid': 'every FETCH response comes twice, the second copy different',
    'uid_zero': 'FETCH answers add a message with UID 0',
    'unsolicited': 'every FETCH answer (1:* too, and a QRESYNC SELECT) adds a '
                   'response for a phantom UID beyond UIDNEXT, and one for an '
                   'existing message that was not asked for',
    'appenduid_bogus': 'APPENDUID names a UID the mailbox already had, another '
                       'UIDVALIDITY, or the UID of the previous APPEND',
    'wrong_section': 'BODY[] is answered with BODY[HEADER] (only the header) or '
                     'BODY[TEXT] (only the body)',
    'uidvalidity_mid': 'an untagged OK [UIDVALIDITY] arrives during UID FETCH, and '
                       'half of the messages are missing from the answer',
    'uidvalidity_reselect': 'a second SELECT answer (0 EXISTS, new UIDVALIDITY) '
                            'arrives during UID FETCH, with no messages',
    'omit_meta': 'the metadata answer leaves out a third of the messages that '
                 'EXISTS counts',
    'omit_search': 'UID SEARCH leaves out a third of the messages that EXISTS counts',
    'uidnext_back': 'UIDNEXT went backwards since the last run, same UIDVALIDITY: '
                    'the newest messages are gone and their UIDs reused',
    'modseq_back': 'HIGHESTMODSEQ went backwards since the last run (and a flag '
                   'changed meanwhile)',
    'no_partial': 'UID FETCH of bodies: half of them, then a tagged NO',
    'no_partial_meta': 'UID FETCH of metadata: half of the messages, then a tagged NO',
    'bye_mid': 'UID FETCH of bodies: one body, then * BYE and the connection closes',
    'long_line': 'a 100 MB response line without CRLF after SELECT',
    'flood': 'an endless stream of short untagged lines after SELECT',
    'bad_mutf7': 'LIST names that are not valid modified UTF-7',
    'traversal': 'LIST names (and selectable folders) made to escape the Maildir root',
    'list_dup': 'LIST names the same folders twice',
    'vanished_lie': 'a QRESYNC SELECT whose VANISHED also names five messages that '
                    'still exist (EXISTS tells the truth)',
    'vanished_huge': 'a QRESYNC SELECT whose VANISHED (EARLIER) is 1:4294967295',
    'append_refuse': 'APPEND of a message with an "X-Refuse: outright" header gets a '
                     'plain NO every time, with "X-Refuse: quota" a NO [OVERQUOTA]',
    'no_greeting': 'accepts the connection and never says anything',
    'slowloris': 'answers one byte per second',
}
__doc__ += ''.join('  %-21s %s\n' % kv for kv in SCENARIOS.items())

MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
MAX_LINE = 1 << 20
MAX_LITERAL = 64 << 20
CLIENT_TIMEOUT = 60


class Bad(Exception):
    pass


class No(Exception):
    pass


class Gone(Exception):
    """The client left, or the scenario ends the connection."""


class Stream(Exception):
    """Send these chunks (outside the store lock), then end the connection."""

    def __init__(self, chunks):
        super().__init__()
        self.chunks = chunks


# ------------------------------------------------------------------ state

def make_message(folder, n, rnd):
    mid = '<%s-%d-%d@hostile.test>' % (re.sub(r'[^A-Za-z0-9]', '_', folder)[:20], n,
                                      rnd.randrange(10**9))
    lines = ['From: sender%d@hostile.test' % n, 'To: alice@hostile.test',
             'Subject: message %d of %s' % (n, re.sub(r'[^ -~]', '?', folder)),
             'Message-ID: ' + mid, 'Date: Mon, 2 Jan 2023 10:%02d:00 +0000' % (n % 60), '']
    body = ['line %d of message %d: %s' % (i, n, 'x' * rnd.randrange(10, 70))
            for i in range(rnd.randrange(5, 30))]
    return ('\r\n'.join(lines + body) + '\r\n').encode()


class Store:
    def __init__(self, path):
        self.path, self.lock = path, threading.RLock()
        with open(path) as f:
            self.data = json.load(f)

    def save(self):
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)

    def folders(self):
        return self.data['folders']

    def find(self, name):
        for f in self.folders():
            if f['name'] == name or (name.upper() == 'INBOX' and f['name'].upper() == 'INBOX'):
                return f
        return None

    def need(self, name):
        f = self.find(name)
        if f is None:
            raise No('[NONEXISTENT] Unknown Mailbox: %s' % name)
        return f

    def bump(self, f):
        f['modseq'] += 1
        return f['modseq']

    def add(self, f, raw, flags=(), date=None):
        uid = f['uidnext']
        f['uidnext'] += 1
        f['msgs'].append({'uid': uid, 'flags': list(flags), 'modseq': self.bump(f),
                          'date': int(date if date is not None else time.time()),
                          'body': base64.b64encode(raw).decode()})
        return uid


def body_of(m):
    return base64.b64decode(m['body'])


def seed(args):
    rnd = random.Random(args.seed)
    folders = []
    for name, count, *rest in args.folder or [['INBOX', '10']]:
        name = json.loads(name) if name.startswith('"') else name
        delim = rest[0] if rest else '/'
        delim = '' if delim == 'NIL' else delim
        f = {'name': name, 'delim': delim, 'uidvalidity': 1000 + len(folders), 'uidnext': 1,
             'modseq': 1, 'msgs': []}
        folders.append(f)
    st = {'folders': folders}
    with open(args.state, 'w') as fh:
        json.dump(st, fh)
    store = Store(args.state)
    for f, (_, count, *_) in zip(store.folders(), args.folder or [['INBOX', '10']]):
        for i in range(int(count)):
            store.add(f, make_message(f['name'], i + 1, rnd), date=1672531200 + i * 3600)
    store.save()


def show(args):
    for f in Store(args.state).folders():
        print('\t'.join([json.dumps(f['name'])] + [str(x) for x in (
            len(f['msgs']), f['uidvalidity'], f['uidnext'], f['modseq'])]))


# ---------------------------------------------------------------- parsing

class Lit(bytes):
    pass


def lex(parts):
    """Command text pieces and literals -> a nested token list. Tokens are
    str (atoms, with [...] sections kept whole), ('q', str) quoted or
    literal strings, and lists for parenthesised groups."""
    out, stack = [], []
    for p in parts:
        if isinstance(p, Lit):
            out.append(('q', p.decode('latin-1')))
            continue
        s, i = p.decode('latin-1'), 0
        while i < len(s):
            c = s[i]
            if c == ' ':
                i += 1
            elif c == '(':
                stack.append(out)
                out = []
                i += 1
            elif c == ')':
                if not stack:
                    raise Bad('unbalanced )')
                inner, out = out, stack.pop()
                out.append(inner)
                i += 1
            elif c == '"':
                j, buf = i + 1, []
                while j < len(s) and s[j] != '"':
                    if s[j] == '\\' and j + 1 < len(s):
                        j += 1
                    buf.append(s[j])
                    j += 1
                if j >= len(s):
                    raise Bad('unterminated string')
                out.append(('q', ''.join(buf)))
                i = j + 1
            else:
                j, depth = i, 0
                while j < len(s) and (depth > 0 or s[j] not in ' ()'):
                    depth += s[j] == '['
                    depth -= s[j] == ']'
                    j += 1
                out.append(s[i:j])
                i = j
    if stack:
        raise Bad('unbalanced (')
    return out


def text(tok):
    """An astring token as str."""
    if isinstance(tok, tuple):
        return tok[1]
    if isinstance(tok, str):
        return tok
    raise Bad('expected a string')


def parse_set(s, top):
    """A UID set -> a predicate over UIDs ('*' is top, n:* also matches top)."""
    ranges = []
    for part in s.split(','):
        a, _, b = part.partition(':')
        lo = top if a == '*' else int(a)
        hi = lo if not b else (top if b == '*' else int(b))
        ranges.append((min(lo, hi), max(lo, hi)))
    return lambda u: any(lo <= u <= hi for lo, hi in ranges)


def imap_quote(name):
    """A quoted string, or a literal when quoting cannot carry the bytes."""
    if any(c in name for c in '\r\n\0') or any(ord(c) > 0x7e for c in name):
        raw = name.encode('latin-1')
        return b'{%d}\r\n' % len(raw) + raw
    return ('"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"').encode('latin-1')


def fmt_date(epoch):
    t = time.gmtime(epoch)
    return '"%02d-%s-%04d %02d:%02d:%02d +0000"' % (t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year,
                                                    t.tm_hour, t.tm_min, t.tm_sec)


def parse_date(s):
    m = re.match(r' ?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)', s)
    if not m:
        return None
    import calendar
    t = calendar.timegm((int(m.group(3)), MONTHS.index(m.group(2).capitalize()) + 1,
                         int(m.group(1)), int(m.group(4)), int(m.group(5)), int(m.group(6))))
    off = (int(m.group(8)) * 3600 + int(m.group(9)) * 60) * (1 if m.group(7) == '+' else -1)
    return t - off


def flags_text(flags):
    return '(' + ' '.join(flags) + ')'


# ---------------------------------------------------------------- session

class Session:
    def __init__(self, srv, sock, cid):
        self.srv, self.store, self.sock, self.cid = srv, srv.store, sock, cid
        self.scn = srv.scenario
        self.buf = bytearray()
        self.folder = None
        self.qresync = False  # ENABLEd on this connection
        self.out = []

    # --- I/O
    def log(self, line):
        self.srv.log('C%d %s' % (self.cid, line))

    def send(self, data):
        if self.scn == 'slowloris':
            # One byte a second, at most 120 of them: a client that waits
            # for more has hung.
            for i in range(len(data)):
                if self.srv.slow_sent >= 120:
                    raise Gone()
                self.srv.slow_sent += 1
                self.sock.sendall(data[i:i + 1])
                time.sleep(1)
            return
        self.sock.sendall(data)

    def flush(self):
        out, self.out = b''.join(self.out), []
        if out:
            self.send(out)

    def put(self, *chunks):
        for c in chunks:
            self.out.append(c.encode('latin-1') if isinstance(c, str) else c)

    def fill(self):
        self.sock.settimeout(CLIENT_TIMEOUT)
        data = self.sock.recv(65536)
        if not data:
            raise Gone()
        self.buf += data

    def readline(self):
        while b'\n' not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise Gone()
            self.fill()
        i = self.buf.index(b'\n') + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line

    def read(self, n):
        while len(self.buf) < n:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_command(self):
        line = self.readline()
        m = re.match(rb'([^\x00-\x20(){%*"\\+\x7f]+) ', line)
        if not m or not line.endswith(b'\r\n'):
            self.send(b'* BAD invalid command line\r\n')
            return None, None
        tag, rest, parts = m.group(1).decode('latin-1'), line[m.end():-2], []
        logged = rest.decode('latin-1')
        while True:
            lm = re.search(rb'\{(\d{1,10})(\+?)\}$', rest)
            if not lm:
                parts.append(rest)
                break
            parts.append(rest[:lm.start()])
            n = int(lm.group(1))
            if n > MAX_LITERAL:
                raise Gone()
            if not lm.group(2):
                self.send(b'+ go ahead\r\n')
            parts.append(Lit(self.read(n)))
            rest = self.readline()
            if not rest.endswith(b'\r\n'):
                raise Gone()
            rest = rest[:-2]
            logged += ' <%d bytes> %s' % (n, rest.decode('latin-1'))
        if not re.match(r'(?i)login ', logged):
            self.log(tag + ' ' + logged[:300])
        else:
            self.log(tag + ' LOGIN <hidden>')
        return tag, parts

    # --- the loop
    def run(self):
        try:
            if self.scn == 'no_greeting':
                self.log('(scenario: no greeting)')
                while True:             # until the client leaves, <= 60 s
                    self.fill()
            self.send(b'* OK [CAPABILITY %s] hostile test server ready\r\n' %
                      self.srv.caps.encode())
            while True:
                tag, parts = self.read_command()
                if tag is None:
                    continue
                self.dispatch(tag, parts)
                self.flush()
        except (Gone, OSError, ssl.SSLError, EOFError):
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def dispatch(self, tag, parts):
        try:
            toks = lex(parts)
            if not toks or not isinstance(toks[0], str):
                raise Bad('no command')
            name = toks[0].upper()
            args = toks[1:]
            if name == 'UID':
                if not args or not isinstance(args[0], str):
                    raise Bad('UID what?')
                name, args = 'UID_' + args[0].upper(), args[1:]
            fn = getattr(self, 'cmd_' + name, None)
            if fn is None:
                raise Bad('unknown command')
            try:
                with self.store.lock:
                    status = fn(tag, args)
            except Stream as st:
                # A stream that blocks on a client that stopped reading
                # must not hold up the other connections.
                self.flush()
                for c in st.chunks:
                    self.send(c)
                raise Gone()
            if status is not None:      # the handler answered itself
                return
            self.put('%s OK %s completed\r\n' % (tag, name.replace('_', ' ')))
        except Bad as e:
            self.put('%s BAD %s\r\n' % (tag, e))
        except No as e:
            self.put('%s NO %s\r\n' % (tag, e))
        except (ValueError, IndexError, KeyError) as e:
            self.put('%s BAD %s\r\n' % (tag, type(e).__name__))

    # --- commands
    def cmd_CAPABILITY(self, tag, a):
        self.put('* CAPABILITY %s\r\n' % self.srv.caps)

    def cmd_NOOP(self, tag, a):
        pass

    def cmd_CHECK(self, tag, a):
        pass

    def cmd_LOGOUT(self, tag, a):
        self.put('* BYE logging out\r\n', '%s OK LOGOUT completed\r\n' % tag)
        self.flush()
        raise Gone()

    def cmd_LOGIN(self, tag, a):
        self.put('%s OK [CAPABILITY %s] Logged in\r\n' % (tag, self.srv.caps))
        return True

    def cmd_ID(self, tag, a):
        self.put('* ID NIL\r\n')

    def cmd_ENABLE(self, tag, a):
        on = [x for x in a if isinstance(x, str) and x.upper() == 'QRESYNC' and self.srv.qresync]
        self.qresync = self.qresync or bool(on)
        self.put('* ENABLED%s\r\n' % ''.join(' ' + x for x in on))

    def list_entries(self):
        """(attributes, delimiter or None, wire name) of every folder."""
        ents = []
        for f in self.store.folders():
            ents.append(('\\HasNoChildren', f['delim'] or None, f['name']))
        if self.scn == 'bad_mutf7':
            for name in ('Bad&Jjo-!-&', 'Unterminated&AGE', '&AAA-nul', 'Raw\xe9t\xe9',
                         '&U,BTFw-&ZeVnLIqe-'):
                ents.append(('\\HasNoChildren', '/', name))
        if self.scn == 'list_dup':
            ents = ents + ents
        return ents

    def cmd_LIST(self, tag, a):
        for attrs, delim, name in self.list_entries():
            d = 'NIL' if delim is None else '"%s"' % delim.replace('\\', '\\\\')
            self.put('* LIST (%s) %s ' % (attrs, d), imap_quote(name), '\r\n')

    def cmd_LSUB(self, tag, a):
        return self.cmd_LIST(tag, a)

    def cmd_CREATE(self, tag, a):
        name = text(a[0])
        if self.store.find(name):
            raise No('[ALREADYEXISTS] Mailbox exists')
        self.store.folders().append({'name': name, 'delim': '/', 'uidvalidity': int(time.time()),
                                     'uidnext': 1, 'modseq': 1, 'msgs': []})
        self.store.save()

    def cmd_DELETE(self, tag, a):
        f = self.store.need(text(a[0]))
        self.store.folders().remove(f)
        self.store.save()

    def select_lines(self, f, condstore):
        out = ['* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n',
               '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft '
               '$Forwarded \\*)] ok\r\n',
               '* %d EXISTS\r\n' % len(f['msgs']), '* 0 RECENT\r\n',
               '* OK [UIDVALIDITY %d] ok\r\n' % f['uidvalidity'],
               '* OK [UIDNEXT %d] ok\r\n' % f['uidnext']]
        if condstore:
            out.append('* OK [HIGHESTMODSEQ %d] ok\r\n' % f['modseq'])
        return out

    def qresync_param(self, a):
        """(UIDVALIDITY, MODSEQ, known UID set or None) of SELECT mb
        (QRESYNC (...)), or None."""
        for group in a[1:]:
            if isinstance(group, list) and len(group) >= 2 and \
                    isinstance(group[0], str) and group[0].upper() == 'QRESYNC' and \
                    isinstance(group[1], list) and len(group[1]) >= 2:
                q = group[1]
                return int(q[0]), int(q[1]), q[2] if len(q) > 2 else None
        return None

    def qresync_lines(self, f, known, modseq):
        """VANISHED (EARLIER) of the known UIDs that are gone, and the FETCH
        of each message changed since modseq (as the scenario has it)."""
        top = f['uidnext'] - 1
        have = set(m['uid'] for m in f['msgs'])
        pred = parse_set(known, top) if known else (lambda u: True)
        gone = [u for u in range(1, top + 1) if pred(u) and u not in have]
        if self.scn == 'vanished_lie':
            self.log('(scenario: VANISHED names 5 messages that exist)')
            gone = sorted(gone + [m['uid'] for m in f['msgs'][:5]])
        out = []
        if self.scn == 'vanished_huge':
            self.log('(scenario: VANISHED (EARLIER) 1:4294967295)')
            out.append('* VANISHED (EARLIER) 1:4294967295\r\n')
        elif gone:
            out.append('* VANISHED (EARLIER) %s\r\n' % ','.join(str(u) for u in gone))
        for seq, m in enumerate(f['msgs'], 1):
            if m['modseq'] > modseq:
                out.append('* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n' %
                           (seq, m['uid'], flags_text(m['flags']), m['modseq']))
        if self.scn == 'unsolicited':
            self.log('(scenario: a phantom UID in the QRESYNC SELECT answer)')
            out.append('* %d FETCH (UID %d FLAGS (\\Seen) MODSEQ (%d))\r\n' %
                       (len(f['msgs']) + 1, f['uidnext'] + 5, f['modseq']))
        return out

    def cmd_SELECT(self, tag, a, examine=False):
        f = self.store.need(text(a[0]))
        self.folder = f
        self.put(*self.select_lines(f, self.srv.condstore))
        q = self.qresync_param(a) if self.qresync else None
        if q and q[0] == f['uidvalidity']:
            self.put(*self.qresync_lines(f, q[2], q[1]))
        if self.scn == 'long_line':
            self.log('(scenario: 100 MB line without CRLF)')
            self.put('* OK [ALERT] ')
            raise Stream(b'x' * 65536 for _ in range(100 * 16))
        if self.scn == 'flood':
            self.log('(scenario: flood of untagged lines)')
            raise Stream(b'* OK flood\r\n' * 5000 for _ in range(2000))  # 120 MB
        self.put('%s OK [READ-%s] SELECT completed\r\n' % (tag, 'ONLY' if examine else 'WRITE'))
        return True

    def cmd_EXAMINE(self, tag, a):
        return self.cmd_SELECT(tag, a, examine=True)

    def cmd_CLOSE(self, tag, a):
        self.folder = None

    def cmd_UNSELECT(self, tag, a):
        self.folder = None

    def cmd_STATUS(self, tag, a):
        f = self.store.need(text(a[0]))
        items = ['MESSAGES %d' % len(f['msgs']), 'UIDNEXT %d' % f['uidnext'],
                 'UIDVALIDITY %d' % f['uidvalidity']]
        if self.srv.condstore:
            items.append('HIGHESTMODSEQ %d' % f['modseq'])
        self.put('* STATUS ', imap_quote(f['name']), ' (%s)\r\n' % ' '.join(items))

    def cmd_APPEND(self, tag, a):
        f = self.store.need(text(a[0]))
        flags, date, raw = [], None, None
        for t in a[1:]:
            if isinstance(t, list):
                flags = [x for x in t if isinstance(x, str)]
            elif isinstance(t, tuple) and raw is None and re.match(r' ?\d+-\w{3}-', t[1]):
                date = parse_date(t[1])
            elif isinstance(t, tuple):
                raw = t[1].encode('latin-1')
        if raw is None:
            raise Bad('no message')
        if self.scn == 'append_refuse' and b'\nX-Refuse: outright' in raw:
            self.log('(scenario: APPEND refused outright)')
            self.put('%s NO Message rejected: it breaks the policy\r\n' % tag)
            return True
        if self.scn == 'append_refuse' and b'\nX-Refuse: quota' in raw:
            self.log('(scenario: APPEND over quota)')
            self.put('%s NO [OVERQUOTA] Quota exceeded (mailbox full)\r\n' % tag)
            return True
        uid = self.store.add(f, raw, flags, date)
        self.store.save()
        validity = f['uidvalidity']
        if self.scn == 'appenduid_bogus':
            self.srv.appends += 1
            k = self.srv.appends % 3
            self.log('(scenario: bogus APPENDUID, kind %d)' % k)
            if k == 1:
                uid = f['msgs'][0]['uid']           # an old message's UID
            elif k == 2:
                validity += 1                       # another UIDVALIDITY
            else:
                uid = self.srv.last_append or uid   # the previous APPEND's UID
            self.srv.last_append = uid
        self.put('%s OK [APPENDUID %d %d] APPEND completed\r\n' % (tag, validity, uid))
        return True

    def selected(self):
        if self.folder is None:
            raise Bad('no mailbox selected')
        return self.folder

    def top(self, f):
        return f['msgs'][-1]['uid'] if f['msgs'] else 0

    def matching(self, f, setspec):
        pred = parse_set(setspec, self.top(f))
        return [(i + 1, m) for i, m in enumerate(f['msgs']) if pred(m['uid'])]

    # UID FETCH
    def fetch_items(self, m, seq, items, uid_override=None, body_override=None):
        """The FETCH response of one message as a list of chunks."""
        uid = m['uid'] if uid_override is None else uid_override
        raw = body_of(m) if body_override is None else body_override
        parts, lits = ['UID %d' % uid], []
        for it in items:
            u = it.upper()
            if u == 'FLAGS':
                parts.append('FLAGS ' + flags_text(m['flags']))
            elif u == 'RFC822.SIZE':
                parts.append('RFC822.SIZE %d' % len(raw))
            elif u == 'INTERNALDATE':
                parts.append('INTERNALDATE ' + fmt_date(m['date']))
            elif u == 'MODSEQ':
                parts.append('MODSEQ (%d)' % m['modseq'])
            elif u.startswith('BODY.PEEK[') or u.startswith('BODY['):
                sec = it[it.index('[') + 1:it.rindex(']')]
                if sec == '':
                    data = raw
                elif sec.upper().startswith('HEADER.FIELDS'):
                    want = [w.upper() for w in re.findall(r'[\w-]+', sec)[1:]]
                    head = raw.split(b'\r\n\r\n', 1)[0].split(b'\r\n')
                    data = b''.join(h + b'\r\n' for h in head
                                    if h.split(b':', 1)[0].decode('latin-1').upper() in want)
                    data += b'\r\n'
                else:
                    raise Bad('section not supported')
                lits.append(('BODY[%s] ' % sec, data))
        return parts, lits

    def emit_fetch(self, seq, parts, lits, announce=None, cut=None):
        self.put('* %d FETCH (%s' % (seq, ' '.join(parts)))
        for label, data in lits:
            n = len(data) if announce is None else announce
            self.put(' %s{%d}\r\n' % (label, n))
            if cut is not None:
                self.put(data[:cut])
                self.flush()
                raise Gone()
            self.put(data)
        self.put(')\r\n')

    def cmd_UID_FETCH(self, tag, a):
        f = self.selected()
        setspec = a[0]
        items = a[1] if isinstance(a[1], list) else [a[1]]
        changedsince = 0
        if len(a) > 2 and isinstance(a[2], list) and a[2] and a[2][0].upper() == 'CHANGEDSINCE':
            changedsince = int(a[2][1])
        is_body = any(isinstance(i, str) and i.upper().startswith('BODY') for i in items)
        msgs = [(s, m) for s, m in self.matching(f, setspec) if m['modseq'] > changedsince]
        scn = self.scn
        if not is_body:
            return self.fetch_meta(tag, f, msgs, items, setspec)
        if scn == 'uid_zero':
            parts, lits = self.fetch_items(f['msgs'][0], 1, items, uid_override=0,
                                           body_override=b'Subject: UIDZERO-INJECTED\r\n\r\nx\r\n')
            self.emit_fetch(1, parts, lits)
        if scn == 'unsolicited':
            self.emit_unsolicited(f, setspec, items)
        if scn == 'unasked_uid' and msgs:
            # A UID next to the ones asked for, but not one of them.
            parts, lits = self.fetch_items(f['msgs'][0], 1, items, uid_override=self.unasked(a[0]),
                                           body_override=b'Subject: UNASKED-INJECTED\r\n\r\nx\r\n')
            self.emit_fetch(1, parts, lits)
        for k, (seq, m) in enumerate(msgs):
            parts, lits = self.fetch_items(m, seq, items)
            if scn == 'wrong_section' and lits:
                data = lits[0][1]
                head, _, text = data.partition(b'\r\n\r\n')
                if seq % 2:
                    lits = [('BODY[HEADER] ', head + b'\r\n\r\n')]
                else:
                    lits = [('BODY[TEXT] ', text)]
            if scn == 'literal_overrun' and lits:
                self.emit_fetch(seq, parts, lits, announce=max(1, len(lits[0][1]) // 4))
                continue
            if scn == 'literal_huge' and lits:
                self.put('* %d FETCH (%s BODY[] {4294967295}\r\n' % (seq, ' '.join(parts)))
                self.log('(scenario: huge literal)')
                raise Stream(b'y' * 65536 for _ in range(64 * 16))  # 64 MB
            if scn == 'eof_literal' and lits:
                self.log('(scenario: EOF inside a literal)')
                self.emit_fetch(seq, parts, lits, cut=len(lits[0][1]) // 2)
            if scn == 'bye_mid' and k == 1:
                self.put('* BYE hostile server going away mid-command\r\n')
                self.flush()
                raise Gone()
            if scn == 'no_partial' and k >= (len(msgs) + 1) // 2:
                self.put('%s NO Some messages could not be FETCHed (Failure)\r\n' % tag)
                return True
            self.emit_fetch(seq, parts, lits)
            if scn == 'dup_uid':
                parts, lits = self.fetch_items(m, seq, items, body_override=body_of(m).replace(
                    b'\r\n\r\n', b'\r\nX-Dup: DUPLICATE-COPY\r\n\r\n', 1))
                self.emit_fetch(seq, parts, lits)
        return None

    def emit_unsolicited(self, f, setspec, items):
        """A FETCH response for a UID beyond UIDNEXT (a message that does not
        exist), and one for an existing message outside setspec, if any; the
        bodies say what they are."""
        if not f['msgs']:
            return
        self.log('(scenario: unsolicited FETCH responses)')
        phantom = f['uidnext'] + 5
        parts, lits = self.fetch_items(
            f['msgs'][0], len(f['msgs']) + 1, items, uid_override=phantom,
            body_override=b'Subject: PHANTOM-INJECTED\r\nMessage-ID: <phantom@hostile.test>'
                          b'\r\n\r\nx\r\n')
        self.emit_fetch(len(f['msgs']) + 1, parts, lits)
        pred = parse_set(setspec, self.top(f))
        other = [(s, m) for s, m in enumerate(f['msgs'], 1) if not pred(m['uid'])]
        if other:
            seq, m = other[0]
            parts, lits = self.fetch_items(
                m, seq, items, body_override=body_of(m).replace(
                    b'\r\n\r\n', b'\r\nX-Unasked: UNASKED-INJECTED\r\n\r\n', 1))
            self.emit_fetch(seq, parts, lits)

    def unasked(self, setspec):
        """A UID above every one the set names (bounded sets only)."""
        return max(int(x) for x in re.findall(r'\d+', setspec)) + 1000

    def fetch_meta(self, tag, f, msgs, items, setspec):
        scn = self.scn
        if scn in ('uidvalidity_mid', 'uidvalidity_reselect'):
            self.log('(scenario: %s)' % scn)
            if scn == 'uidvalidity_mid':
                self.put('* OK [UIDVALIDITY %d] mailbox was reset\r\n' % (f['uidvalidity'] + 7))
                msgs = msgs[:len(msgs) // 2]
            else:
                self.put('* 0 EXISTS\r\n', '* OK [UIDVALIDITY %d] ok\r\n' % (f['uidvalidity'] + 7),
                         '* OK [UIDNEXT 1] ok\r\n')
                msgs = []
        if scn == 'omit_meta':
            msgs = [sm for k, sm in enumerate(msgs) if k % 3 != 1]
        if scn == 'uid_zero':
            parts, _ = self.fetch_items(f['msgs'][0], 1, items, uid_override=0)
            self.emit_fetch(1, parts, [])
        if scn == 'unasked_uid' and '*' not in setspec:
            parts, _ = self.fetch_items(f['msgs'][0], 1, items, uid_override=self.unasked(setspec))
            self.emit_fetch(1, parts, [])
        if scn == 'unsolicited':
            self.emit_unsolicited(f, setspec, items)
        for k, (seq, m) in enumerate(msgs):
            if scn == 'no_partial_meta' and k >= len(msgs) // 2:
                self.put('%s NO Some messages could not be FETCHed (Failure)\r\n' % tag)
                return True
            parts, _ = self.fetch_items(m, seq, items)
            self.emit_fetch(seq, parts, [])
            if scn == 'dup_uid':
                mm = dict(m, flags=['\\Deleted', '\\Seen'])
                parts, _ = self.fetch_items(mm, seq, items)
                self.emit_fetch(seq, parts, [])
        return None

    def cmd_FETCH(self, tag, a):
        raise Bad('use UID FETCH')

    def cmd_UID_SEARCH(self, tag, a):
        f = self.selected()
        msgs = [m for _, m in self.matching(f, '1:*')]
        i = 0
        while i < len(a):
            t = a[i]
            key = t.upper() if isinstance(t, str) else ''
            if key == 'UID':
                pred = parse_set(a[i + 1], self.top(f))
                msgs = [m for m in msgs if pred(m['uid'])]
                i += 2
            elif key == 'HEADER':
                name, val = text(a[i + 1]).lower(), text(a[i + 2]).lower()
                msgs = [m for m in msgs if any(
                    h.lower().startswith(name.encode() + b':') and val.encode() in h.lower()
                    for h in body_of(m).split(b'\r\n\r\n', 1)[0].split(b'\r\n'))]
                i += 3
            elif key in ('ALL', 'CHARSET'):
                i += 1 if key == 'ALL' else 2
            elif key and re.match(r'^[\d*:,]+$', key):
                pred = parse_set(key, len(f['msgs']))
                msgs = [m for s, m in self.matching(f, '1:*') if pred(s) and m in msgs]
                i += 1
            else:
                raise Bad('search key %s not supported' % t)
        if self.scn == 'omit_search':
            self.log('(scenario: UID SEARCH omits messages)')
            msgs = [m for k, m in enumerate(msgs) if k % 3 != 1]
        self.put('* SEARCH%s\r\n' % ''.join(' %d' % m['uid'] for m in msgs))

    def cmd_UID_STORE(self, tag, a):
        f = self.selected()
        op = a[1].upper()
        i = 1
        if isinstance(a[1], list):      # (UNCHANGEDSINCE n)
            op, i = a[2].upper(), 2
        flags = a[i + 1] if isinstance(a[i + 1], list) else [a[i + 1]]
        flags = [x for x in flags if isinstance(x, str)]
        silent = op.endswith('.SILENT')
        for seq, m in self.matching(f, a[0]):
            cur = list(m['flags'])
            if op.startswith('+'):
                cur += [x for x in flags if x not in cur]
            elif op.startswith('-'):
                cur = [x for x in cur if x.lower() not in [y.lower() for y in flags]]
            else:
                cur = list(flags)
            if cur != m['flags']:
                m['flags'] = cur
                m['modseq'] = self.store.bump(f)
            if not silent:
                self.put('* %d FETCH (UID %d FLAGS %s)\r\n' % (seq, m['uid'], flags_text(cur)))
        self.store.save()

    def expunge(self, f, pred):
        keep, seq = [], 0
        for m in f['msgs']:
            seq += 1
            if '\\Deleted' in m['flags'] and pred(m['uid']):
                self.put('* %d EXPUNGE\r\n' % seq)
                seq -= 1
            else:
                keep.append(m)
        if len(keep) != len(f['msgs']):
            f['msgs'] = keep
            self.store.bump(f)
            self.store.save()

    def cmd_EXPUNGE(self, tag, a):
        self.expunge(self.selected(), lambda u: True)

    def cmd_UID_EXPUNGE(self, tag, a):
        f = self.selected()
        self.expunge(f, parse_set(a[0], self.top(f)))

    def copy(self, tag, a, move):
        f = self.selected()
        dst = self.store.need(text(a[1]))
        src_uids, dst_uids = [], []
        for seq, m in self.matching(f, a[0]):
            src_uids.append(m['uid'])
            dst_uids.append(self.store.add(dst, body_of(m), m['flags'], m['date']))
        if not src_uids:
            self.put('%s OK no messages\r\n' % tag)
            return True
        code = '[COPYUID %d %s %s]' % (dst['uidvalidity'], ','.join(map(str, src_uids)),
                                       ','.join(map(str, dst_uids)))
        if move:
            self.put('* OK %s moved\r\n' % code)
            for m in f['msgs']:
                if m['uid'] in src_uids:
                    m['flags'] = m['flags'] + ['\\Deleted']
            self.expunge(f, lambda u: u in src_uids)
            self.store.save()
            return None
        self.store.save()
        self.put('%s OK %s COPY completed\r\n' % (tag, code))
        return True

    def cmd_UID_COPY(self, tag, a):
        return self.copy(tag, a, False)

    def cmd_UID_MOVE(self, tag, a):
        return self.copy(tag, a, True)


# ----------------------------------------------------------------- server

class Server:
    def __init__(self, args):
        self.args, self.scenario = args, args.scenario
        self.store = Store(args.state)
        self.condstore = not args.no_condstore
        self.qresync = args.qresync and self.condstore
        self.caps = 'IMAP4rev1 UIDPLUS MOVE' + (' CONDSTORE' if self.condstore else '') + \
            (' ENABLE QRESYNC' if self.qresync else '')
        self.log_lock = threading.Lock()
        self.slow_sent = 0
        self.appends = 0
        self.last_append = 0
        self.ctx = None
        if args.cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(args.cert, args.key)
        self.apply_between_runs()

    def log(self, line):
        if self.args.log:
            with self.log_lock, open(self.args.log, 'a') as f:
                f.write(line + '\n')

    def apply_between_runs(self):
        """What happened to the mailbox since the last run, per scenario."""
        st = self.store
        with st.lock:
            inbox = st.find('INBOX')
            if self.args.expunge and inbox:
                inbox['msgs'] = inbox['msgs'][self.args.expunge:]
                st.bump(inbox)
                st.save()
            if self.args.add_new and inbox:
                rnd = random.Random(11)
                for i in range(self.args.add_new):
                    st.add(inbox, make_message('INBOX-new', 500 + i, rnd))
                st.save()
            if self.scenario == 'uidnext_back' and inbox and inbox['msgs']:
                # A restore from an old backup: the newest third is gone, and
                # UIDNEXT is back where it was; two new messages then reuse
                # UIDs the client paired with other messages.
                cut = inbox['msgs'][len(inbox['msgs']) * 2 // 3]['uid']
                inbox['msgs'] = [m for m in inbox['msgs'] if m['uid'] < cut]
                inbox['uidnext'] = cut
                rnd = random.Random(7)
                for i in range(2):
                    st.add(inbox, make_message('INBOX-reused', 900 + i, rnd))
                st.save()
            if self.scenario == 'modseq_back' and inbox and inbox['msgs']:
                # A failover to a replica that counts MODSEQs from scratch;
                # meanwhile a flag changed on the fourth message.
                inbox['modseq'] = 1
                for m in inbox['msgs']:
                    m['modseq'] = 1
                m = inbox['msgs'][3]
                if '\\Flagged' not in m['flags']:
                    m['flags'].append('\\Flagged')
                m['modseq'] = st.bump(inbox)
                st.save()

    def serve(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(('127.0.0.1', 0))
        ls.listen(16)
        tmp = self.args.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % ls.getsockname()[1])
        os.replace(tmp, self.args.port_file)
        deadline = time.monotonic() + self.args.max_life
        cid = 0
        ls.settimeout(1)
        while time.monotonic() < deadline:
            try:
                sock, _ = ls.accept()
            except socket.timeout:
                continue
            cid += 1
            threading.Thread(target=self.handle, args=(sock, cid), daemon=True).start()

    def handle(self, sock, cid):
        self.log('C%d connected (scenario %s)' % (cid, self.scenario))
        try:
            if self.ctx:
                sock.settimeout(CLIENT_TIMEOUT)
                sock = self.ctx.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.log('C%d TLS failed: %s' % (cid, e))
            sock.close()
            return
        Session(self, sock, cid).run()
        self.log('C%d closed' % cid)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('seed')
    s.add_argument('--state', required=True)
    s.add_argument('--folder', nargs='+', action='append', metavar='NAME COUNT [DELIM]')
    s.add_argument('--seed', type=int, default=1)
    s = sub.add_parser('show')
    s.add_argument('--state', required=True)
    sub.add_parser('scenarios')
    s = sub.add_parser('serve')
    s.add_argument('--state', required=True)
    s.add_argument('--port-file', required=True)
    s.add_argument('--scenario', default='normal', choices=sorted(SCENARIOS))
    s.add_argument('--cert')
    s.add_argument('--key')
    s.add_argument('--no-condstore', action='store_true')
    s.add_argument('--qresync', action='store_true')
    s.add_argument('--log')
    s.add_argument('--expunge', type=int, default=0, metavar='N',
                   help='first expunge the N oldest messages of INBOX (between runs)')
    s.add_argument('--add-new', type=int, default=0, metavar='N',
                   help='first deliver N new messages to INBOX (between runs)')
    s.add_argument('--max-life', type=float, default=600)
    args = p.parse_args()
    if args.cmd == 'seed':
        seed(args)
    elif args.cmd == 'show':
        show(args)
    elif args.cmd == 'scenarios':
        print('\n'.join(sorted(SCENARIOS)))
    else:
        Server(args).serve()


if __name__ == '__main__':
    main()
