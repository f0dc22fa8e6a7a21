#!/usr/bin/env python3
"""A small IMAP server that speaks Gmail's dialect, for gmaildir's tests.

    fixture.py serve --cert PEM --key PEM --ctl SOCK [--port-file F] [--set KEY=VALUE ...]
                     [--oauth-tokens FILE]
    fixture.py ctl SOCK COMMAND [KEY=VALUE ...]

Gmail cannot be reached from tests, so this stands in for imap.gmail.com as
/work/shared/GMAIL.md describes it: implicit TLS on 127.0.0.1 only, Gmail's
capabilities and texts, one message store where folders are labels (a
message with N labels has N+1 UIDs), flags that belong to the message,
X-GM-EXT-1, CONDSTORE without QRESYNC, and failures a test can switch on
(bandwidth quota, connection limit, auth refusals, localized folder names,
UIDVALIDITY changes), and COMPRESS=DEFLATE (RFC 4978; option "compress"). Tests drive it through a control socket: one JSON
object per line each way (class Control; tests/gmail/fixture.sh wraps it).

It is smtp.gmail.com too (class GmailSmtp, on tests/smtp/server.py's
engine): an implicit-TLS and a STARTTLS port, the same credentials, and each
message sent joins the store as Gmail files it (\\Sent, plus \\Inbox when
sent to the account itself).

XOAUTH2 (IMAP and SMTP) takes the one token of the option "token", or with
--oauth-tokens FILE only a token listed in FILE and not expired: FILE holds
"TOKEN EXPIRY_EPOCH" lines (tests/oauth/provider.py writes them, replacing
the file atomically) and is read at each attempt. As on Gmail, the check is
at AUTHENTICATE only: a session whose token expires later stays logged in.

Standard library only. Each connection has its own thread; all state sits
behind one lock. Responses are built under the lock and sent after it, so a
client that stops reading stalls only itself.
"""

import argparse
import base64
import binascii
import bisect
import calendar
import collections
import email.utils
import itertools
import json
import os
import random
import re
import shutil
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import zlib
import importlib.util

# The SMTP side (smtp.gmail.com) is tests/smtp/server.py's engine with hooks.
_spec = importlib.util.spec_from_file_location(
    'smtp_server', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'smtp',
                                'server.py'))
smtp_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smtp_server)

PRE_CAPS = ('IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY '
            'SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH')
POST_CAPS = ('IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS '
             'COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED '
             'LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=%d')
AUTH_FAILED = '[AUTHENTICATIONFAILED] Invalid credentials (Failure)'
REFUSALS = {
    'app-password-required': '[ALERT] Application-specific password required: '
                             'https://support.google.com/accounts/answer/185833 (Failure)',
    'imap-disabled': '[ALERT] Your account is not enabled for IMAP use. Please visit your '
                     'Gmail settings page and enable your account for IMAP access. (Failure)'}
QUOTA_TEXT = 'Account exceeded command or bandwidth limits. (Failure)'
XOAUTH2_CHALLENGE = b'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}'
MAX_LINE = 1 << 20          # a command line (long UID sets are legitimate)
MAX_LITERAL = 1 << 20       # literals of commands other than APPEND
NONSYNC_MAX = 4096          # LITERAL- (RFC 7888)

SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Draft', '\\Deleted', '\\Seen']
SYSTEM_LABELS = ['\\Inbox', '\\Sent', '\\Draft', '\\Important', '\\Starred', '\\Trash', '\\Spam']
# role: (label it shows, SPECIAL-USE attribute, XLIST attribute, names by language)
ROLES = {
    'inbox': ('\\Inbox', None, '\\Inbox', None),
    'all': (None, '\\All', '\\AllMail', {'en': 'All Mail', 'de': 'Alle Nachrichten'}),
    'drafts': ('\\Draft', '\\Drafts', '\\Drafts', {'en': 'Drafts', 'de': 'Entwürfe'}),
    'important': ('\\Important', '\\Important', '\\Important',
                  {'en': 'Important', 'de': 'Wichtig'}),
    'sent': ('\\Sent', '\\Sent', '\\Sent', {'en': 'Sent Mail', 'de': 'Gesendet'}),
    'spam': ('\\Spam', '\\Junk', '\\Spam', {'en': 'Spam', 'de': 'Spam'}),
    'starred': ('\\Starred', '\\Flagged', '\\Starred', {'en': 'Starred', 'de': 'Markiert'}),
    'trash': ('\\Trash', '\\Trash', '\\Trash', {'en': 'Trash', 'de': 'Papierkorb'}),
}
# Options: settable with serve --set KEY=VALUE and live with the control "set".
OPTIONS = {
    'user': 'gmaildir.test@gmail.com', 'password': 'abcdefghijklmnop',
    'token': 'ya29.fixture-token',
    'auth_mode': ('normal', 'app-password-required', 'imap-disabled'),
    'bare_labels': False,       # X-GM-LABELS (\Inbox Work): libetpan 1.9.4 cannot parse it
    'max_conns': 15, 'quota_bytes': None,
    'quota_mode': ('overquota', 'throttled', 'bye'),
    'prefix': '[Gmail]', 'lang': ('en', 'de'),
    'auto_expunge': True,       # Gmail's default: \Deleted expunges at once
    'expunge_last': ('archive', 'trash', 'delete'),
    'append_limit': 35651584, 'idle_timeout': 1800,
    'compress': True,           # COMPRESS=DEFLATE (RFC 4978) offered after login
}
MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']


class Bad(Exception):
    """The command is malformed or not valid now: tagged BAD."""


class No(Exception):
    """The command is understood but refused: tagged NO with this text."""


# ----------------------------------------------------------------- helpers

def mutf7_encode(s):
    """RFC 3501 §5.1.3 modified UTF-7 (the control API takes UTF-8 names)."""
    out = []
    for printable, g in itertools.groupby(s, lambda c: 0x20 <= ord(c) <= 0x7e):
        run = ''.join(g)
        b64 = '' if printable else base64.b64encode(run.encode('utf-16-be')).decode()
        out.append(run.replace('&', '&-') if printable else
                   '&' + b64.rstrip('=').replace('/', ',') + '-')
    return ''.join(out)


def mutf7_decode(s):
    def dec(m):
        b = m.group(1).replace(',', '/')
        return base64.b64decode(b + '=' * (-len(b) % 4)).decode('utf-16-be') if b else '&'
    return re.sub(r'&([^-]*)-', dec, s)


def qstr(v):
    """An IMAP string: NIL, a quoted string, or a literal when it must be."""
    if v is None:
        return b'NIL'
    b = v.encode('utf-8', 'surrogateescape') if isinstance(v, str) else v
    if all(0x20 <= c < 0x7f for c in b):
        return b'"' + b.replace(b'\\', b'\\\\').replace(b'"', b'\\"') + b'"'
    return b'{%d}\r\n' % len(b) + b


def compress_set(nums):
    """[1, 2, 3, 7] (ascending) -> '1:3,7'."""
    # Consecutive numbers have the same difference to their index.
    runs = [list(g) for _, g in itertools.groupby(nums, lambda n, c=itertools.count(): n - next(c))]
    return ','.join(str(r[0]) if len(r) == 1 else '%d:%d' % (r[0], r[-1]) for r in runs)


def parse_set(s):
    """A sequence set -> [(lo, hi)], None standing for '*'."""
    ranges = []
    for part in s.split(','):
        m = re.fullmatch(r'(\d+|\*)(?::(\d+|\*))?', part)
        ends = [None if x == '*' else int(x) for x in m.groups(m.group(1))] if m else [0]
        if any(e is not None and not 0 < e < 2 ** 32 for e in ends):
            raise Bad('Invalid sequence set (Failure)')
        ranges.append(tuple(ends))
    return ranges


def parse_datetime(s):
    """IMAP date-time -> (epoch, tz offset in minutes)."""
    m = re.fullmatch(r' ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)', s)
    if not m or m.group(2).title() not in MONTHS:
        raise Bad('Invalid date-time (Failure)')
    d, _, y, hh, mi, ss, sign, th, tm = m.groups()
    tz = (int(th) * 60 + int(tm)) * (-1 if sign == '-' else 1)
    return calendar.timegm((int(y), MONTHS.index(m.group(2).title()) + 1, int(d), int(hh),
                            int(mi), int(ss))) - tz * 60, tz


def format_datetime(epoch, tz):
    t = time.gmtime(epoch + tz * 60)
    return '%02d-%s-%04d %02d:%02d:%02d %s%02d%02d' % (
        t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec,
        '-' if tz < 0 else '+', abs(tz) // 60, abs(tz) % 60)


def split_message(raw):
    """(header block incl. the empty line, body)."""
    i = raw.find(b'\r\n\r\n')
    return (raw, b'') if i < 0 else (raw[:i + 4], raw[i + 4:])


def header_fields(hdr):
    """[[lower-case name, the field's raw bytes with its CRLF and folds]]."""
    fields = []
    for line in re.split(rb'(?<=\r\n)', hdr):
        if line[:1] in (b' ', b'\t') and fields:
            fields[-1][1] += line
        elif line and line != b'\r\n':
            fields.append([line.split(b':', 1)[0].strip().lower().decode('latin-1'), line])
    return fields


def oauth_token_valid(path, token):
    """True if token is listed in path (one "TOKEN EXPIRY_EPOCH" a line)
    and time() < its expiry. No file, no valid token."""
    try:
        with open(path) as fh:
            for line in fh:
                f = line.split()
                if len(f) == 2 and f[0] == token and f[1].isdigit():
                    return time.time() < int(f[1])
    except OSError:
        pass
    return False


def token_ok(store, user, token):
    """XOAUTH2's check, IMAP's and SMTP's: the account's user and its token
    (store.oauth_tokens: one valid in that file; else the option "token")."""
    if user.lower() != store.opt['user'].lower():
        return False
    if store.oauth_tokens:
        return oauth_token_valid(store.oauth_tokens, token)
    return token == store.opt['token']


class Msg:
    """One Gmail message; its folders follow from its labels and flags."""

    def __init__(self, msgid, raw, flags, labels, date, tz):
        self.msgid, self.thrid, self.raw = msgid, msgid, raw
        self.flags, self.labels = set(flags), set(labels)
        self.date, self.tz, self.modseq, self.gone = date, tz, 0, False
        self.fields = header_fields(split_message(raw)[0])

    def header(self, name):
        for n, f in self.fields:
            if n == name:
                v = f.split(b':', 1)[1] if b':' in f else b''
                return re.sub(rb'\r\n([ \t])', rb'\1', v).strip().decode('utf-8', 'replace')
        return None

    def gm_labels(self):
        labels = self.labels | ({'\\Starred'} if '\\Flagged' in self.flags else set())
        return [x for x in SYSTEM_LABELS if x in labels] + sorted(labels - set(SYSTEM_LABELS))


class Folder:
    """A label's folder: its own UIDs, UIDNEXT and UIDVALIDITY."""

    def __init__(self, role, key, uidvalidity):
        self.role = role            # a ROLES key, or None for a user label
        self.key = key              # the label it shows (wire form); None for All Mail
        self.uidvalidity, self.uidnext = uidvalidity, 1
        self.uids = {}              # uid -> Msg, ascending
        self.by_msg = {}            # msgid -> uid
        self.deleted = False


# ------------------------------------------------------------------- store

class Store:
    """The whole account. Callers hold self.lock."""

    def __init__(self, opt, log_path):
        self.lock = threading.RLock()
        self.opt, self.msgs, self.modseq = opt, {}, 1
        self.oauth_tokens = None    # serve --oauth-tokens FILE
        self.gen = 0                # bumped on any change; IDLE loops poll it
        self.next_msgid = 1500000000000000000 + random.randrange(10 ** 15)
        self.next_uidvalidity = random.randrange(1, 1000)
        self.sessions, self.cur_conns, self.quota_blocked = set(), 0, False
        self.log_lines = collections.deque(maxlen=5000)
        self.log_file = open(log_path, 'a', buffering=1) if log_path else None
        self.reset_counters()
        self.folders = [Folder(r, ROLES[r][0], self.new_uidvalidity()) for r in ROLES]

    def reset_counters(self):
        self.counters = dict.fromkeys(
            ['connections', 'rejected_connections', 'tls_failures', 'logins', 'auth_failures',
             'body_bytes', 'body_fetches', 'section_bytes', 'appends', 'append_bytes',
             'quota_hits', 'internal_errors', 'bad_commands', 'smtp_connections',
             'smtp_logins', 'smtp_auth_failures', 'smtp_messages', 'compress_sessions',
             'wire_bytes_out', 'wire_bytes_in', 'plain_bytes_out', 'plain_bytes_in'], 0)
        self.counters.update(max_concurrent=self.cur_conns, commands={}, downloads={})

    def count(self, key, n=1, sub=None):
        d = self.counters if sub is None else self.counters[sub]
        d[key] = d.get(key, 0) + n

    def log(self, text):
        line = time.strftime('%H:%M:%S ') + text
        self.log_lines.append(line)
        if self.log_file:
            self.log_file.write(line + '\n')

    def new_uidvalidity(self):
        self.next_uidvalidity += 1
        return self.next_uidvalidity

    # Names: system folders are localized; clients must find them by role.
    def name(self, f):
        if f.role in (None, 'inbox'):
            return f.key if f.role is None else 'INBOX'
        return self.opt['prefix'] + '/' + mutf7_encode(ROLES[f.role][3][self.opt['lang']])

    def find(self, name):
        if name.upper() == 'INBOX':
            return self.folders[0]
        return next((f for f in self.folders if self.name(f) == name), None)

    def need(self, name):
        f = self.find(name)
        if f is None:
            raise No('[NONEXISTENT] Unknown Mailbox: %s (Failure)' % name)
        return f

    def all_names(self):
        """Every LIST name in Gmail's order: INBOX, labels, the [Gmail] tree."""
        users = sorted(self.name(f) for f in self.folders if f.role is None)
        system = sorted(self.name(f) for f in self.folders if f.role not in (None, 'inbox'))
        return ['INBOX'] + users + [self.opt['prefix']] + system

    def create(self, name):
        name = name.rstrip('/')
        if not name or '//' in name or name.startswith(('/', '\\')):
            raise Bad('Invalid folder name (Failure)')
        if self.find(name) or name == self.opt['prefix']:
            raise No('[ALREADYEXISTS] Folder name conflicts with existing folder name. (Failure)')
        if name.startswith(self.opt['prefix'] + '/'):
            raise No('[CANNOT] Folder name is not allowed. (Failure)')
        parts = name.split('/')
        for i in range(1, len(parts) + 1):      # Gmail makes the parents labels too
            if not self.find('/'.join(parts[:i])):
                self.folders.append(Folder(None, '/'.join(parts[:i]), self.new_uidvalidity()))
        self.changed()

    def user_folder(self, name):
        f = self.need(name)
        if f.role is not None:
            raise No('[CANNOT] Cannot change a system folder. (Failure)')
        return f

    def rename(self, old, new):
        f = self.user_folder(old)
        if self.find(new):
            raise No('[ALREADYEXISTS] Folder name conflicts with existing folder name. (Failure)')
        oldkey = f.key  # f's own key changes in the loop: its children need the old one
        for g in [g for g in self.folders if g.role is None and
                  (g.key == oldkey or g.key.startswith(oldkey + '/'))]:
            newkey = new + g.key[len(oldkey):]
            for m in g.uids.values():
                m.labels = (m.labels - {g.key}) | {newkey}
            g.key = newkey
            for m in list(g.uids.values()):
                self.touch(m)

    def delete_folder(self, name):
        f = self.user_folder(name)
        for m in list(f.uids.values()):
            m.labels.discard(f.key)
            self.touch(m)
        f.deleted = True
        self.folders.remove(f)
        self.changed()

    def set_uidvalidity(self, f, value):
        """As after a rebuild on Gmail's side: a new UIDVALIDITY, all UIDs new."""
        msgs = list(f.uids.values())
        f.uidvalidity, f.uidnext = value, len(msgs) + 1
        f.uids = dict(enumerate(msgs, 1))
        f.by_msg = {m.msgid: u for u, m in f.uids.items()}
        self.changed()

    # The one rule that makes folders out of labels.
    def member(self, f, m):
        hidden = '\\Trash' in m.labels or '\\Spam' in m.labels
        if f.role == 'all':
            return not hidden
        if f.role == 'starred':
            return '\\Flagged' in m.flags and not hidden
        return f.key in m.labels

    def touch(self, m):
        """After any change to m: a new MODSEQ; a new UID in each folder m
        entered (as Gmail does, even for one it was in before), none where
        it left."""
        self.modseq += 1
        m.modseq = self.modseq
        for f in self.folders:
            want = not m.gone and self.member(f, m)
            if want and m.msgid not in f.by_msg:
                f.uids[f.uidnext], f.by_msg[m.msgid] = m, f.uidnext
                f.uidnext += 1
            elif not want and m.msgid in f.by_msg:
                del f.uids[f.by_msg.pop(m.msgid)]
        self.changed()

    def changed(self):
        self.gen += 1

    def add_message(self, raw, flags=(), labels=(), date=None, tz=0, thrid=None):
        raw = re.sub(rb'(?<!\r)\n', b'\r\n', raw)     # Gmail serves CRLF
        self.next_msgid += random.randrange(1, 1 << 20)
        m = Msg(self.next_msgid, raw, flags, labels, int(time.time()) if date is None else date, tz)
        # Gmail threads by References / In-Reply-To; enough for tests.
        refs = re.findall(r'<[^>]+>', (m.header('references') or '') + ' ' +
                          (m.header('in-reply-to') or ''))
        parent = next((o for o in self.msgs.values() if o.header('message-id') in refs), None)
        m.thrid = int(thrid) if thrid else parent.thrid if parent else m.msgid
        for label in m.labels:
            if not label.startswith('\\') and not self.find(label):
                self.create(label)
        self.msgs[m.msgid] = m
        self.touch(m)
        return m

    def set_flags(self, m, flags):
        if set(flags) != m.flags:
            m.flags = set(flags)
            self.touch(m)

    def norm_label(self, label):
        if not label.startswith('\\'):
            return label
        for x in SYSTEM_LABELS:
            if x.lower() == label.lower():
                return x
        raise No('Invalid system label %s (Failure)' % label)

    def change_labels(self, m, add=(), remove=(), replace=None):
        """Gmail's rules: \\Trash and \\Spam replace every other label, any
        other label takes a message out of them, \\Starred is \\Flagged."""
        labels = set(m.labels) if replace is None else set()
        flags = set(m.flags) - ({'\\Flagged'} if replace is not None else set())
        for label in list(replace or []) + list(add):
            if label == '\\Starred':
                flags.add('\\Flagged')
            elif label in ('\\Trash', '\\Spam'):
                labels = {label}
            else:
                labels = (labels - {'\\Trash', '\\Spam'}) | {label}
                if not label.startswith('\\') and not self.find(label):
                    self.create(label)
        for label in remove:
            if label == '\\Starred':
                flags.discard('\\Flagged')
            labels.discard(label)
        if labels != m.labels or flags != m.flags:
            m.labels, m.flags = labels, flags
            self.touch(m)

    def add_to_folder(self, m, f):
        """What COPY/MOVE into f means (All Mail: just out of Trash/Spam)."""
        if f.role == 'all':
            self.change_labels(m, remove=['\\Trash', '\\Spam'])
        else:
            self.change_labels(m, add=[f.key])

    def remove_from_folder(self, m, f, expunging):
        """The source side of MOVE, or EXPUNGE. Expunging from Trash/Spam
        deletes forever; from All Mail or the last label, the account
        setting 'expunge_last' (archive | trash | delete) decides."""
        if expunging:
            m.flags.discard('\\Deleted')
        if f.role in ('trash', 'spam') and expunging:
            return self.purge(m)
        if f.role != 'all':
            self.change_labels(m, remove=[f.key])
            if m.labels:
                return None
        policy = self.opt['expunge_last'] if expunging else 'archive'
        if policy == 'trash':
            self.change_labels(m, add=['\\Trash'])
        elif policy == 'delete':
            self.purge(m)
        else:
            self.touch(m)       # archived: it stays in All Mail
        return None

    def purge(self, m):
        m.gone = True
        self.msgs.pop(m.msgid, None)
        self.touch(m)


# ---------------------------------------------------------------- parsing

class Lit(bytes):
    """A literal's bytes, kept apart from quoted strings (APPEND needs one)."""


TOKEN_RE = re.compile(r' |\(|\)|"((?:[^"\\]|\\["\\])*)"|((?:[^ ()"\[{\x00-\x1f\x7f]|'
                      r'\[[^\]]*\])+)')


def lex(parts):
    """Tokens: ('a', atom) ('s', quoted bytes) ('l', literal bytes) ('(',) (')',).
    An atom may hold a [...] section with spaces: BODY[HEADER.FIELDS (A B)].
    Strict about spaces: exactly one between tokens, none at the ends."""
    toks = []
    for k, part in enumerate(parts):
        if isinstance(part, Lit):
            toks.append(('l', bytes(part)))
            continue
        s, i, prev = part.decode('utf-8', 'surrogateescape'), 0, ' ' if k == 0 else None
        while i < len(s):
            m = TOKEN_RE.match(s, i)
            if not m:
                raise Bad('Could not parse command (Failure)')
            if m.group(0) == ' ' == prev:
                raise Bad('Unexpected space (Failure)')
            prev = m.group(0)
            if m.group(1) is not None:
                toks.append(('s', re.sub(r'\\(.)', r'\1', m.group(1)).encode(
                    'utf-8', 'surrogateescape')))
            elif m.group(2) is not None:
                toks.append(('a', m.group(2)))
            elif m.group(0) != ' ':
                toks.append((m.group(0), None))
            i = m.end()
        if k == len(parts) - 1 and prev == ' ' and s:
            raise Bad('Unexpected space (Failure)')
    return toks


class Args:
    """A cursor over a command's tokens with typed accessors."""

    def __init__(self, toks):
        self.t, self.i = toks, 0

    def more(self):
        return self.i < len(self.t)

    def peek(self, kind, *words):
        return self.more() and self.t[self.i][0] == kind and (
            not words or self.t[self.i][1].upper() in words)

    def take(self, kinds=None):
        if not self.more() or kinds and self.t[self.i][0] not in kinds:
            raise Bad('Could not parse command (Failure)')
        self.i += 1
        return self.t[self.i - 1][1]

    def atom(self):
        return self.take('a')

    def astring(self):
        v = self.take('asl')
        return v if isinstance(v, str) else v.decode('utf-8', 'surrogateescape')

    def number(self):
        v = self.atom()
        if not v.isdigit():
            raise Bad('Expected a number (Failure)')
        return int(v)

    def close(self):
        """True (and consumed) if a ')' comes next."""
        if self.peek(')'):
            self.i += 1
            return True
        return False

    def atoms(self):
        """A parenthesized list of astrings, or a single one."""
        if not self.peek('('):
            return [self.astring()]
        self.take()
        out = []
        while not self.close():
            out.append(self.astring())
        return out

    def modifier(self, name):
        """An optional (NAME n), as in (CHANGEDSINCE 5) -> n or None."""
        if not self.peek('('):
            return None
        self.take()
        if self.atom().upper() != name:
            raise Bad('Could not parse command (Failure)')
        n = self.number()
        if not self.close():
            raise Bad('Could not parse command (Failure)')
        return n

    def end(self):
        if self.more():
            raise Bad('Unexpected extra arguments (Failure)')


def parse_flags(words):
    out = set()
    for w in words:
        system = [f for f in SYSTEM_FLAGS if f.lower() == w.lower()]
        if not system and not re.fullmatch(r'[^\x00-\x20(){%*"\\\]]+', w):
            raise Bad('Invalid flag %s (Failure)' % w[:40])
        out.add(system[0] if system else w)
    return out


def flags_text(flags):
    return '(' + ' '.join([f for f in SYSTEM_FLAGS if f in flags] +
                          sorted(flags - set(SYSTEM_FLAGS))) + ')'


SIMPLE_ATTS = {'UID', 'FLAGS', 'RFC822.SIZE', 'INTERNALDATE', 'ENVELOPE', 'BODY',
               'BODYSTRUCTURE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT', 'MODSEQ',
               'X-GM-MSGID', 'X-GM-THRID', 'X-GM-LABELS'}
MACROS = {'ALL': ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
          'FAST': ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
          'FULL': ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY']}
RFC822_SECTIONS = {'RFC822': '', 'RFC822.HEADER': 'HEADER', 'RFC822.TEXT': 'TEXT'}


def parse_fetch_att(word):
    """(NAME,) or, for BODY[...]: ('BODY[]', spec, part, kind, fields, partial, peek)."""
    if word.upper() in SIMPLE_ATTS:
        return (word.upper(),)
    m = re.fullmatch(r'(BODY|BODY\.PEEK)\[((?:(\d+(?:\.\d+)*)(?:\.(?=[A-Z])|$))?'
                     r'(HEADER\.FIELDS(?:\.NOT)? \(([^()]+)\)|HEADER|TEXT|MIME)?)\]'
                     r'(?:<(\d+)\.(\d+)>)?', word, re.I)
    if not m or (m.group(4) or '').upper() == 'MIME' and not m.group(3):
        raise Bad('Invalid fetch attribute %s (Failure)' % word[:40])
    fields = [f.strip('"').lower() for f in m.group(5).split(' ')] if m.group(5) else None
    partial = (int(m.group(6)), int(m.group(7))) if m.group(6) else None
    return ('BODY[]', m.group(2).upper(), m.group(3), (m.group(4) or '').upper().split(' ')[0],
            fields, partial, m.group(1).upper() == 'BODY.PEEK')


def section_data(m, part, kind, fields):
    """A section of a message seen as one text part (part 1 is its body)."""
    hdr, body = split_message(m.raw)
    if part is not None:
        return body if part == '1' and kind in ('', 'TEXT') else b''
    if kind in ('HEADER.FIELDS', 'HEADER.FIELDS.NOT'):
        keep = kind == 'HEADER.FIELDS'
        return b''.join(f for n, f in m.fields if (n in fields) == keep) + b'\r\n'
    return {'': m.raw, 'HEADER': hdr, 'TEXT': body}[kind]


def envelope(m):
    def addrs(name):
        pairs = email.utils.getaddresses([m.header(name)]) if m.header(name) else []
        return b'(' + b''.join(b'(%s NIL %s %s)' % (qstr(dn or None), qstr(a.partition('@')[0])
                                                     , qstr(a.partition('@')[2] or None))
                                for dn, a in pairs) + b')' if pairs else b'NIL'
    frm = addrs('from')
    return b'(' + b' '.join([qstr(m.header('date')), qstr(m.header('subject')), frm,
                             addrs('sender') if m.header('sender') else frm,
                             addrs('reply-to') if m.header('reply-to') else frm,
                             addrs('to'), addrs('cc'), addrs('bcc'),
                             qstr(m.header('in-reply-to')), qstr(m.header('message-id'))]) + b')'


# ----------------------------------------------------------------- search

FLAG_KEYS = {'ANSWERED': '\\Answered', 'DELETED': '\\Deleted', 'DRAFT': '\\Draft',
             'FLAGGED': '\\Flagged', 'SEEN': '\\Seen'}


def search_keys(a, s):
    """Search keys up to ')' or the end -> predicate(seq, uid, msg)."""
    keys = []
    while a.more() and not a.peek(')'):
        keys.append(search_key(a, s))
    if not keys:
        raise Bad('Missing search criteria (Failure)')
    return lambda q, u, m: all(k(q, u, m) for k in keys)


def search_key(a, s):
    if a.peek('('):
        a.take()
        pred = search_keys(a, s)
        a.close()
        return pred
    w = a.atom().upper()
    if w == 'ALL':
        return lambda q, u, m: True
    if w in FLAG_KEYS or w[2:] in FLAG_KEYS and w.startswith('UN'):
        flag, want = FLAG_KEYS.get(w) or FLAG_KEYS[w[2:]], w in FLAG_KEYS
        return lambda q, u, m: (flag in m.flags) == want
    if w in ('KEYWORD', 'UNKEYWORD'):
        kw = a.atom()
        return lambda q, u, m: (kw in m.flags) == (w == 'KEYWORD')
    if w == 'NOT':
        inner = search_key(a, s)
        return lambda q, u, m: not inner(q, u, m)
    if w == 'OR':
        x, y = search_key(a, s), search_key(a, s)
        return lambda q, u, m: x(q, u, m) or y(q, u, m)
    if w in ('HEADER', 'SUBJECT', 'FROM', 'TO'):
        name = a.astring().lower() if w == 'HEADER' else w.lower()
        needle = a.astring().lower()
        return lambda q, u, m: m.header(name) is not None and needle in m.header(name).lower()
    if w == 'UID':
        uids = s.set_uids(a.atom())
        return lambda q, u, m: u in uids
    if w == 'MODSEQ':
        if a.peek('s'):         # [entry-name entry-type]: one value here anyway
            a.take()
            a.atom()
        n = a.number()
        s.search_modseq = True
        return lambda q, u, m: m.modseq >= n
    if w in ('X-GM-MSGID', 'X-GM-THRID'):
        n = a.number()
        return lambda q, u, m: (m.msgid if w == 'X-GM-MSGID' else m.thrid) == n
    if w == 'X-GM-RAW':
        return gm_raw(a.astring())
    if re.fullmatch(r'[\d*:,]+', w):
        seqs = s.set_seqs(w)
        return lambda q, u, m: q in seqs
    raise Bad('Unknown search key %s (Failure)' % w[:40])


def gm_raw(query):
    """A sliver of Gmail's search syntax: rfc822msgid:, label:, is:unread,
    is:starred and bare words. Other operators (in:anywhere ...) only widen
    Gmail's scope, which here is always the selected folder: ignored."""
    preds = []
    for term in re.findall(r'\S+?:"[^"]*"|"[^"]*"|\S+', query):
        op, _, val = term.partition(':') if re.match(r'[\w-]+:', term) else ('', '', term)
        val = val.strip('"').lower()
        if op == 'rfc822msgid':
            preds.append(lambda m, v=val.strip('<>'):
                         (m.header('message-id') or '').strip('<>').lower() == v)
        elif op == 'label':
            preds.append(lambda m, v=val: v in [x.lower().lstrip('\\') for x in m.gm_labels()])
        elif op == 'is' and val in ('unread', 'starred'):
            preds.append(lambda m, v=val: (v == 'unread') != (
                ('\\Seen' if v == 'unread' else '\\Flagged') in m.flags))
        elif not op:
            preds.append(lambda m, v=val.encode(): v in m.raw.lower())
    return lambda q, u, m: all(p(m) for p in preds)


# ---------------------------------------------------------------- session

class Conn:
    """Buffered reads over the TLS socket, each bounded by a timeout; after
    start_deflate() both directions are raw DEFLATE (RFC 4978). self.buf
    always holds plaintext (decompressed) bytes, so the line and literal
    readers do not care where the client's compressed stream splits. Each
    send() ends with Z_SYNC_FLUSH: what was sent can be read at once.
    Counters: wire_bytes_* what goes to / comes from the TLS layer,
    plain_bytes_* before compression / after decompression."""

    INFLATE_STEP = 1 << 20      # at most this much plaintext per inflate call

    def __init__(self, sock, store):
        self.sock, self.store, self.buf = sock, store, bytearray()
        self.zin = self.zout = None

    def count(self, wire_key, wire, plain_key, plain):
        with self.store.lock:
            self.store.count(wire_key, wire)
            self.store.count(plain_key, plain)

    def start_deflate(self):
        """From now on: raw DEFLATE (wbits -15) both ways. Bytes the client
        sent after the COMPRESS line and that were read already are
        compressed ones too."""
        self.zin = zlib.decompressobj(-15)
        self.zout = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        early, self.buf = bytes(self.buf), bytearray()
        if early:
            self.inflate(early)

    def inflate(self, data):
        try:
            plain = self.zin.decompress(data, self.INFLATE_STEP)
        except zlib.error:
            raise EOFError from None        # a broken stream ends the connection
        self.buf += plain
        return plain

    def fill(self, timeout):
        """Reads more; TimeoutError on timeout, EOFError at the end. Under
        compression a call may add no plaintext (a partial block)."""
        if self.zin is not None and self.zin.unconsumed_tail:
            plain = self.inflate(self.zin.unconsumed_tail)
            self.count('wire_bytes_in', 0, 'plain_bytes_in', len(plain))
            return
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        if self.zin is None:
            self.buf += data
            self.count('wire_bytes_in', len(data), 'plain_bytes_in', len(data))
        else:
            plain = self.inflate(data)
            self.count('wire_bytes_in', len(data), 'plain_bytes_in', len(plain))

    def readline(self, timeout):
        while b'\n' not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise EOFError
            self.fill(timeout)
        i = self.buf.index(b'\n') + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line

    def read(self, n, timeout):
        while len(self.buf) < n:
            self.fill(timeout)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def send(self, chunks, timeout=60):
        self.sock.settimeout(timeout)
        wire = plain = 0
        try:
            for c in chunks:
                plain += len(c)
                d = c if self.zout is None else self.zout.compress(c)
                if d:
                    self.sock.sendall(d)
                    wire += len(d)
            if self.zout is not None:
                d = self.zout.flush(zlib.Z_SYNC_FLUSH)
                self.sock.sendall(d)
                wire += len(d)
        finally:
            self.count('wire_bytes_out', wire, 'plain_bytes_out', plain)


class Session:
    """One IMAP connection. A command is read whole (literals included),
    then run under the store lock producing self.out, sent after it."""

    def __init__(self, store, sock, cid):
        self.store, self.opt, self.conn, self.cid = store, store.opt, Conn(sock, store), cid
        self.state, self.folder, self.readonly = 'notauth', None, False
        self.view = []              # [(uid, Msg)]: what this client believes, in seq order
        self.vflags = {}            # uid -> the flags it last saw
        self.seen_gen = self.view_uidvalidity = 0
        self.out, self.closing = [], False
        self.condstore = self.search_modseq = False
        self.compress_pending = False   # COMPRESS answered OK: deflate after that flush

    def untagged(self, line):
        self.out.append(b'* ' + (line.encode() if isinstance(line, str) else line) + b'\r\n')

    def flush(self):
        out, self.out = self.out, []
        self.conn.send(out)

    def bye(self, text):
        self.untagged('BYE ' + text)
        self.closing = True

    def run(self):
        try:
            self.conn.send([b'* OK Gimap ready for requests from 127.0.0.1 gm%d\r\n' % self.cid])
            while not self.closing:
                try:
                    tag, parts = self.read_command()
                except TimeoutError:
                    self.conn.send([b'* BYE Connection timed out (Failure)\r\n'])
                    return
                if tag is not None:
                    self.dispatch(tag, parts)
                self.flush()
                if self.compress_pending:   # from the byte after "tag OK DEFLATE active"
                    self.compress_pending = False
                    self.conn.start_deflate()
        except (OSError, EOFError, ValueError):
            pass

    def read_command(self):
        """-> (tag, [bytes, Lit, bytes, ...]), or (None, None) if answered here."""
        timeout = self.opt['idle_timeout']
        line = self.conn.readline(timeout)
        m = re.match(rb'([^\x00-\x20(){%*"\\+\x7f]+) ', line)
        if not line.endswith(b'\r\n') or not m:
            with self.store.lock:
                self.store.count('bad_commands')
                self.store.log('C%d: %r -> BAD' % (self.cid, line[:80]))
            self.conn.send([b'* BAD %s (Failure)\r\n' % (
                b'Missing CRLF' if not line.endswith(b'\r\n') else b'Invalid tag')])
            return None, None
        tag, text, parts = m.group(1).decode('latin-1'), line[m.end():-2], []
        verb = text.split(b' ', 1)[0].upper()
        while True:
            lm = re.search(rb'\{(\d{1,10})(\+?)\}$', text)
            if not lm:
                return tag, parts + [text]
            parts.append(text[:lm.start()])
            n, nonsync = int(lm.group(1)), lm.group(2) == b'+'
            limit = self.opt['append_limit'] if verb == b'APPEND' else MAX_LITERAL
            if nonsync and n > NONSYNC_MAX:
                # RFC 7888: refused, but the client sends the bytes anyway.
                self.refuse(tag, verb, parts, 'BAD', '[TOOBIG] Non-synchronizing literal over '
                            '4096 bytes (Failure)')
                if n > limit:
                    raise EOFError
                self.conn.read(n, timeout)
                self.conn.readline(timeout)
                return None, None
            if n > limit:       # refused before "+": the client sends nothing more
                self.refuse(tag, verb, parts, *(
                    ('NO', '[TOOBIG] Message too large. (Failure)') if verb == b'APPEND' else
                    ('BAD', 'Literal too large (Failure)')))
                return None, None
            if not nonsync:
                self.conn.send([b'+ go ahead\r\n'])
            parts.append(Lit(self.conn.read(n, timeout)))
            text = self.conn.readline(timeout)
            if not text.endswith(b'\r\n'):
                raise EOFError
            text = text[:-2]

    def refuse(self, tag, verb, parts, status, text):
        self.answer(tag, status, text, verb.decode('latin-1'), parts)
        self.flush()

    def dispatch(self, tag, parts):
        s = self.store
        try:
            a = Args(lex(parts))
            name = a.atom().upper()
            name += ' ' + a.atom().upper() if name == 'UID' else ''
        except Bad as e:
            return self.answer(tag, 'BAD', str(e), '?', parts)
        fn = getattr(self, 'cmd_' + name.replace(' ', '_'), None)
        if fn is None or not self.allowed(name):
            return self.answer(tag, 'BAD', 'Unknown command (Failure)' if fn is None else
                               'Command not valid in this state (Failure)', name, parts)
        try:
            if name in ('IDLE', 'AUTHENTICATE'):      # these talk to the client
                status, text = fn(tag, a)
            else:
                with s.lock:
                    status, text = fn(tag, a)
        except Bad as e:
            status, text = 'BAD', str(e)
        except No as e:
            status, text = 'NO', str(e)
        except (OSError, EOFError):
            raise
        except Exception:       # a fixture bug: tell the client and the test
            with s.lock:
                s.count('internal_errors')
                s.log('C%d: INTERNAL ERROR\n%s' % (self.cid, traceback.format_exc()))
            status, text = 'BAD', '[SERVERBUG] Internal error (Failure)'
        return self.answer(tag, status, text, name, parts)

    def answer(self, tag, status, text, name, parts):
        """The tagged response, after the unsolicited updates it may carry."""
        s = self.store
        with s.lock:
            s.count('bad_commands', status == 'BAD')
            s.count(name, sub='commands')
            shown = b''.join(b'{%d}' % len(p) if isinstance(p, Lit) else p for p in parts)
            if name in ('LOGIN', 'AUTHENTICATE'):
                shown = b' '.join(shown.split(b' ')[:2]) + b' ***'
            s.log('C%d: %s %s -> %s %s' % (self.cid, tag, shown[:300].decode('latin-1'),
                                           status, text))
            if self.state == 'selected' and not self.closing:
                # RFC 3501 §7.4.1: no EXPUNGE during non-UID FETCH/STORE/SEARCH.
                self.updates(name not in ('FETCH', 'STORE', 'SEARCH'))
        if text is not None:
            self.out.append(('%s %s %s\r\n' % (tag, status, text)).encode())

    def allowed(self, name):
        if name in ('CAPABILITY', 'NOOP', 'LOGOUT', 'ID', 'XYZZY'):
            return True
        if name in ('LOGIN', 'AUTHENTICATE', 'STARTTLS'):
            return self.state == 'notauth'
        if name in ('CHECK', 'CLOSE', 'UNSELECT', 'EXPUNGE', 'SEARCH', 'FETCH', 'STORE', 'COPY',
                    'MOVE') or name.startswith('UID '):
            return self.state == 'selected'
        return self.state != 'notauth'

    def updates(self, expunge_ok):
        """Unsolicited EXPUNGE / FETCH FLAGS / EXISTS: the store vs this view."""
        f, s = self.folder, self.store
        if f is None or self.seen_gen == s.gen:
            return
        if f.deleted or f.uidvalidity != self.view_uidvalidity:
            return self.bye('[UNAVAILABLE] Folder was reset; select it again (Failure)')
        if expunge_ok:
            kept = []
            for uid, m in self.view:
                if f.uids.get(uid) is m:
                    kept.append((uid, m))
                else:
                    self.untagged('%d EXPUNGE' % (len(kept) + 1))
                    self.vflags.pop(uid, None)
            self.view, self.seen_gen = kept, s.gen
        for seq, (uid, m) in enumerate(self.view, 1):
            if self.vflags.get(uid) != m.flags:
                self.vflags[uid] = frozenset(m.flags)
                self.untagged('%d FETCH (UID %d FLAGS %s%s)' % (
                    seq, uid, flags_text(m.flags), self.modseq_text(m)))
        last = self.view[-1][0] if self.view else 0
        new = [(u, m) for u, m in f.uids.items() if u > last]
        if new:
            self.view += new
            self.vflags.update((u, frozenset(m.flags)) for u, m in new)
            self.untagged('%d EXISTS' % len(self.view))
        return None

    def modseq_text(self, m):
        return ' MODSEQ (%d)' % m.modseq if self.condstore else ''

    def set_seqs(self, text):
        top, out = len(self.view), set()
        for lo, hi in parse_set(text):
            lo, hi = lo or top, hi or top
            if not top or max(lo, hi) > top:
                raise Bad('Invalid message sequence number (Failure)')
            out.update(range(min(lo, hi), max(lo, hi) + 1))
        return out

    def set_uids(self, text):
        """The view's UIDs in the set; 'n:*' past the top means the top."""
        uids = [u for u, _ in self.view]
        top, out = uids[-1] if uids else 0, set()
        for lo, hi in parse_set(text):
            lo, hi = sorted((lo or top, hi or top))
            out.update(uids[bisect.bisect_left(uids, lo):bisect.bisect_right(uids, hi)])
        return out

    def messages(self, text, uid_cmd):
        """[(seq, uid, Msg)] of the set, in sequence order."""
        want = self.set_uids(text) if uid_cmd else None
        seqs = None if uid_cmd else self.set_seqs(text)
        return [(q, u, m) for q, (u, m) in enumerate(self.view, 1)
                if (u in want if uid_cmd else q in seqs)]

    # ---------------------------------------------------------- any state
    def cmd_CAPABILITY(self, tag, a):
        a.end()
        self.untagged('CAPABILITY ' + self.caps())
        return 'OK', 'Thats all she wrote! (Success)'

    def caps(self):
        if self.state == 'notauth':
            return PRE_CAPS
        caps = POST_CAPS % self.opt['append_limit']
        return caps if self.opt['compress'] else caps.replace(' COMPRESS=DEFLATE', '')

    def cmd_NOOP(self, tag, a):
        a.end()
        return 'OK', 'Success'

    cmd_CHECK = cmd_NOOP

    def cmd_XYZZY(self, tag, a):
        self.untagged('OK Nothing happens.')
        return 'OK', 'Success'

    def cmd_LOGOUT(self, tag, a):
        a.end()
        self.bye('LOGOUT Requested')
        return 'OK', '73 GoodBye'

    def cmd_ID(self, tag, a):
        if a.peek('('):
            a.take()
            while not a.close():
                a.astring()
                a.take()
        else:
            a.atom()            # NIL
        a.end()
        self.untagged('ID ("name" "GImap" "vendor" "Google, Inc." "support-url" NIL)')
        return 'OK', 'Success'

    # ------------------------------------------------------------ auth
    def logged_in(self, ok, password_based):
        """The answer to a login attempt, auth_mode refusals first."""
        s, mode = self.store, self.opt['auth_mode']
        refusal = REFUSALS.get(mode) if password_based or mode == 'imap-disabled' else None
        if refusal or not ok:
            s.count('auth_failures')
            return 'NO', refusal or AUTH_FAILED
        s.count('logins')
        self.state = 'auth'
        self.untagged('CAPABILITY ' + self.caps())
        return 'OK', '%s authenticated (Success)' % self.opt['user']

    def password_ok(self, user, password):
        """Gmail shows app passwords in groups of 4 and takes them either way."""
        return (user.lower() == self.opt['user'].lower() and
                password.replace(' ', '') == self.opt['password'].replace(' ', ''))

    def cmd_LOGIN(self, tag, a):
        user, password = a.astring(), a.astring()
        a.end()
        return self.logged_in(self.password_ok(user, password), True)

    def cmd_AUTHENTICATE(self, tag, a):
        mech = a.atom().upper()
        initial = a.astring() if a.more() else None
        a.end()
        if mech not in ('PLAIN', 'XOAUTH2'):
            raise No('[CANNOT] Mechanism not available here (Failure)')
        if initial is None:         # no SASL-IR: an empty challenge first
            self.conn.send([b'+ \r\n'])
            initial = self.conn.readline(60).rstrip(b'\r\n').decode('latin-1')
        if initial == '*':
            raise Bad('Authentication cancelled (Failure)')
        try:
            data = base64.b64decode('' if initial == '=' else initial, validate=True)
        except (binascii.Error, ValueError):
            raise Bad('Invalid base64 (Failure)') from None
        if mech == 'PLAIN':
            f = data.decode('utf-8', 'replace').split('\0')
            ok = len(f) == 3 and self.password_ok(f[1], f[2])
        else:       # "user=U\x01auth=Bearer T\x01\x01"
            kv = dict(x.partition('=')[::2] for x in data.decode('utf-8', 'replace').split('\x01'))
            auth = kv.get('auth', '')
            ok = auth.startswith('Bearer ') and token_ok(self.store, kv.get('user', ''), auth[7:])
            if not ok and self.opt['auth_mode'] != 'imap-disabled':
                # Gmail's JSON challenge; the client answers with an empty line.
                self.conn.send([b'+ ' + base64.b64encode(XOAUTH2_CHALLENGE) + b'\r\n'])
                self.conn.readline(60)
        with self.store.lock:
            return self.logged_in(ok, mech == 'PLAIN')

    # ---------------------------------------------------- authenticated
    def cmd_NAMESPACE(self, tag, a):
        a.end()
        self.untagged('NAMESPACE (("" "/")) NIL NIL')
        return 'OK', 'Success'

    def cmd_ENABLE(self, tag, a):
        caps = [a.atom().upper()]
        while a.more():
            caps.append(a.atom().upper())
        enabled = [c for c in caps if c in ('CONDSTORE', 'UTF8=ACCEPT')]    # QRESYNC: ignored
        self.condstore = self.condstore or 'CONDSTORE' in enabled
        self.untagged(('ENABLED ' + ' '.join(enabled)).rstrip())
        return 'OK', 'Success'

    def cmd_COMPRESS(self, tag, a):
        """RFC 4978, after login (before it: BAD, not valid in this state).
        OK, then raw DEFLATE both ways from the byte after the OK's CRLF."""
        mech = a.atom().upper()
        a.end()
        if mech != 'DEFLATE':
            raise Bad('Unknown compression mechanism (Failure)')
        if self.conn.zout is not None or self.compress_pending:
            raise No('[COMPRESSIONACTIVE] DEFLATE active via COMPRESS')
        if not self.opt['compress']:
            raise No('[CANNOT] Compression is not available here (Failure)')
        self.compress_pending = True
        self.store.count('compress_sessions')
        return 'OK', 'DEFLATE active'

    def cmd_CREATE(self, tag, a):
        name = a.astring()
        a.end()
        self.store.create(name)
        return 'OK', 'Success'

    def cmd_DELETE(self, tag, a):
        name = a.astring()
        a.end()
        self.store.delete_folder(name)
        return 'OK', 'Success'

    def cmd_RENAME(self, tag, a):
        old, new = a.astring(), a.astring()
        a.end()
        self.store.rename(old, new)
        return 'OK', 'Success'

    def cmd_LIST(self, tag, a, verb='LIST'):
        """LIST with LIST-EXTENDED selection/RETURN options (SPECIAL-USE,
        STATUS for LIST-STATUS), and XLIST with Gmail's old attributes."""
        select, ret, status_items = set(), set(), []
        if verb == 'LIST' and a.peek('('):
            select = {x.upper() for x in a.atoms()}
        ref = a.astring()
        patterns = a.atoms()
        if verb == 'LIST' and a.peek('a', 'RETURN'):
            a.atom()
            a.take('(')
            while not a.close():
                ret.add(a.atom().upper())
                if 'STATUS' in ret and not status_items:
                    status_items = [x.upper() for x in a.atoms()]
        a.end()
        if patterns == ['']:
            self.untagged('%s (\\Noselect) "/" ""' % verb)
            return 'OK', 'Success'
        s = self.store
        regexes = [''.join('.*' if c == '*' else '[^/]*' if c == '%' else re.escape(c)
                           for c in ref + p) for p in patterns]
        names = s.all_names()
        for name in names:
            # INBOX matches case-insensitively, every other name exactly.
            if not any(re.fullmatch(r, name, re.I if name == 'INBOX' else 0) for r in regexes):
                continue
            f = s.find(name) if name != s.opt['prefix'] else None
            if 'SPECIAL-USE' in select and (f is None or not ROLES.get(f.role, [0, 0])[1]):
                continue
            attrs = ['\\HasChildren' if any(n.startswith(name + '/') for n in names)
                     else '\\HasNoChildren']
            if f is None:
                attrs.insert(0, '\\Noselect')
            elif f.role and ROLES[f.role][1 if verb == 'LIST' else 2]:
                attrs.append(ROLES[f.role][1 if verb == 'LIST' else 2])
            self.untagged(('%s (%s) "/" ' % (verb, ' '.join(attrs))).encode() + qstr(name))
            if status_items and f is not None:
                self.status_line(f, status_items)
        return 'OK', 'Success'

    def cmd_XLIST(self, tag, a):
        return self.cmd_LIST(tag, a, 'XLIST')

    def status_line(self, f, items):
        vals = {'MESSAGES': len(f.uids), 'RECENT': 0, 'UIDNEXT': f.uidnext,
                'UIDVALIDITY': f.uidvalidity, 'HIGHESTMODSEQ': self.store.modseq,
                'UNSEEN': sum('\\Seen' not in m.flags for m in f.uids.values())}
        if any(i not in vals for i in items):
            raise Bad('Invalid status item (Failure)')
        self.untagged(b'STATUS ' + qstr(self.store.name(f)) +
                      (' (%s)' % ' '.join('%s %d' % (i, vals[i]) for i in items)).encode())

    def cmd_STATUS(self, tag, a):
        name, items = a.astring(), [x.upper() for x in a.atoms()]
        a.end()
        self.status_line(self.store.need(name), items)
        return 'OK', 'Success'

    def cmd_SELECT(self, tag, a, readonly=False):
        name = a.astring()
        params = [p.upper() for p in a.atoms()] if a.peek('(') else []
        a.end()
        if params and params != ['CONDSTORE']:      # (QRESYNC ...): not Gmail's
            raise Bad('Could not parse command (Failure)')
        self.condstore = self.condstore or bool(params)
        self.folder, self.state = None, 'auth'
        s, f = self.store, self.store.find(name)
        if f is None:
            raise No('[NONEXISTENT] Unknown Mailbox: %s (now in authenticated state) '
                     '(Failure)' % name)
        self.folder, self.state, self.readonly = f, 'selected', readonly
        self.view = list(f.uids.items())
        self.vflags = {u: frozenset(m.flags) for u, m in self.view}
        self.view_uidvalidity, self.seen_gen = f.uidvalidity, s.gen
        keywords = {k for m in s.msgs.values() for k in m.flags} - set(SYSTEM_FLAGS)
        fl = ' '.join(SYSTEM_FLAGS + sorted(keywords | {'$NotPhishing', '$Phishing'}))
        self.untagged('FLAGS (%s)' % fl)
        self.untagged('OK [PERMANENTFLAGS (%s)] Flags permitted.' % ('' if readonly else
                                                                     fl + ' \\*'))
        self.untagged('OK [UIDVALIDITY %d] UIDs valid.' % f.uidvalidity)
        self.untagged('%d EXISTS' % len(self.view))
        self.untagged('0 RECENT')
        self.untagged('OK [UIDNEXT %d] Predicted next UID.' % f.uidnext)
        self.untagged('OK [HIGHESTMODSEQ %d] Highest' % s.modseq)
        return 'OK', '[READ-%s] %s selected. (Success)' % ('ONLY' if readonly else 'WRITE', name)

    def cmd_EXAMINE(self, tag, a):
        return self.cmd_SELECT(tag, a, True)

    def cmd_APPEND(self, tag, a):
        name = a.astring()
        flags = parse_flags(a.atoms()) if a.peek('(') else set()
        date, tz = parse_datetime(a.astring()) if a.peek('s') else (None, 0)
        raw = a.take('l')
        a.end()
        s, f = self.store, self.store.find(name)
        if f is None:
            raise No("[TRYCREATE] Folder doesn't exist. (Failure)")
        # Into a label: a new message with that label (Starred: \Flagged;
        # All Mail: no label).
        m = s.add_message(raw, flags | ({'\\Flagged'} if f.role == 'starred' else set()),
                          [] if f.role in ('all', 'starred') else [f.key], date, tz)
        s.count('appends')
        s.count('append_bytes', len(m.raw))
        return 'OK', '[APPENDUID %d %d] (Success)' % (f.uidvalidity, f.by_msg[m.msgid])

    def cmd_IDLE(self, tag, a):
        """'+ idling' first (libetpan needs it before any update), then
        changes as they happen, until DONE."""
        a.end()
        s = self.store
        self.conn.send([b'+ idling\r\n'])
        deadline = time.monotonic() + self.opt['idle_timeout']
        while b'\n' not in self.conn.buf:
            with s.lock:
                if self.state == 'selected':
                    self.updates(True)
            self.flush()
            if self.closing:
                return 'OK', None
            if time.monotonic() > deadline:
                self.bye('Idle timeout (Failure)')
                return 'OK', None
            try:
                self.conn.fill(0.2)
            except TimeoutError:
                pass
        if self.conn.readline(1).rstrip(b'\r\n').upper() != b'DONE':
            raise Bad('Expected DONE (Failure)')
        return 'OK', 'IDLE terminated (Success)'

    # --------------------------------------------------------- selected
    def cmd_UNSELECT(self, tag, a):
        a.end()
        self.folder, self.state = None, 'auth'
        return 'OK', 'Returned to authenticated state. (Success)'

    def cmd_CLOSE(self, tag, a):
        if not self.readonly:
            self.expunge(None)
        return self.cmd_UNSELECT(tag, a)

    def expunge(self, uids):
        if self.readonly:
            raise No('EXPUNGE attempt on READ-ONLY folder (Failure)')
        f = self.folder
        for uid, m in list(self.view):
            if f.uids.get(uid) is m and '\\Deleted' in m.flags and (uids is None or uid in uids):
                self.store.remove_from_folder(m, f, expunging=True)

    def cmd_EXPUNGE(self, tag, a):
        a.end()
        self.expunge(None)
        return 'OK', 'Success'

    def cmd_UID_EXPUNGE(self, tag, a):
        uids = self.set_uids(a.atom())
        a.end()
        self.expunge(uids)
        return 'OK', 'Success'

    def cmd_FETCH(self, tag, a, uid_cmd=False):
        msgs = self.messages(a.atom(), uid_cmd)
        if a.peek('('):
            words = a.atoms()
        else:
            word = a.atom()
            words = MACROS.get(word.upper(), [word])
        atts = [parse_fetch_att(w) for w in words]
        changedsince = a.modifier('CHANGEDSINCE')
        a.end()
        if changedsince is not None or ('MODSEQ',) in atts:     # CONDSTORE-enabling
            self.condstore = True
            atts += [] if ('MODSEQ',) in atts else [('MODSEQ',)]
        for seq, uid, m in msgs:
            if changedsince is None or m.modseq > changedsince:
                refusal = self.fetch_one(seq, uid, m, atts, uid_cmd)
                if refusal:
                    return refusal
        return 'OK', 'Success'

    def cmd_UID_FETCH(self, tag, a):
        return self.cmd_FETCH(tag, a, True)

    def quota_check(self, size):
        """None, or the refusal once the bandwidth quota is used up. Gmail
        then blocks for up to a day; here until the control 'quota_reset'."""
        s, limit = self.store, self.opt['quota_bytes']
        if limit is None or (not s.quota_blocked and s.counters['body_bytes'] + size <= limit):
            return None
        s.quota_blocked = True
        s.count('quota_hits')
        if self.opt['quota_mode'] == 'bye':
            self.bye('[THROTTLED] ' + QUOTA_TEXT)
            return 'OK', None
        return 'NO', '[%s] %s' % (self.opt['quota_mode'].upper(), QUOTA_TEXT)

    def section(self, m, att):
        """-> (response label, data, whether it is the message body)."""
        if att[0] == 'BODY[]':
            _, spec, part, kind, fields, partial, _ = att
            data, label = section_data(m, part, kind, fields), 'BODY[%s]' % spec
        else:
            part, kind, partial, label = None, RFC822_SECTIONS[att[0]], None, att[0]
            data = section_data(m, None, kind, None)
        if partial:
            data = data[partial[0]:partial[0] + partial[1]]
            label += '<%d>' % partial[0]
        return label, data, part is None and kind in ('', 'TEXT')

    def fetch_one(self, seq, uid, m, atts, uid_cmd):
        s = self.store
        sections = {i: self.section(m, att) for i, att in enumerate(atts)
                    if att[0] == 'BODY[]' or att[0] in RFC822_SECTIONS}
        if any(x[2] for x in sections.values()):
            # Before anything changes: a refused message is not sent at all.
            refusal = self.quota_check(sum(len(x[1]) for x in sections.values() if x[2]))
            if refusal:
                return refusal
        if any(x[0] in ('RFC822', 'RFC822.TEXT') or x[0] == 'BODY[]' and not x[6]
               for x in atts) and not self.readonly and '\\Seen' not in m.flags:
            s.set_flags(m, m.flags | {'\\Seen'})          # and say so
            if ('FLAGS',) not in atts:
                atts = atts + [('FLAGS',)]
        items = [b'UID %d' % uid] if uid_cmd and ('UID',) not in atts else []
        for i, att in enumerate(atts):
            name = att[0]
            if i in sections:
                label, data, is_body = sections[i]
                if is_body:
                    s.count('body_bytes', len(data))
                    s.count('body_fetches')
                    s.count(str(m.msgid), sub='downloads')
                else:
                    s.count('section_bytes', len(data))
                items.append(b'%s {%d}\r\n' % (label.encode(), len(data)) + data)
            elif name == 'FLAGS':
                self.vflags[uid] = frozenset(m.flags)
                items.append(b'FLAGS ' + flags_text(m.flags).encode())
            elif name == 'X-GM-LABELS':
                items.append(b'X-GM-LABELS ' + self.labels_text(m))
            elif name == 'ENVELOPE':
                items.append(b'ENVELOPE ' + envelope(m))
            elif name in ('BODY', 'BODYSTRUCTURE'):     # every message as one text part
                body = split_message(m.raw)[1]
                items.append(b'%s ("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "8BIT" %d %d)'
                             % (name.encode(), len(body), body.count(b'\n')))
            else:
                items.append(name.encode() + b' ' + {
                    'UID': lambda: b'%d' % uid, 'RFC822.SIZE': lambda: b'%d' % len(m.raw),
                    'INTERNALDATE': lambda: qstr(format_datetime(m.date, m.tz)),
                    'MODSEQ': lambda: b'(%d)' % m.modseq,
                    'X-GM-MSGID': lambda: b'%d' % m.msgid,
                    'X-GM-THRID': lambda: b'%d' % m.thrid}[name]())
        self.out += [b'* %d FETCH (' % seq, b' '.join(items), b')\r\n']
        return None

    def labels_text(self, m):
        """Quoted: ("\\\\Inbox" "Work"). bare_labels: (\\Inbox Work), the form of
        Google's documentation, which libetpan 1.9.4 cannot parse."""
        return b'(' + b' '.join(
            x.encode() if self.opt['bare_labels'] and re.fullmatch(
                r'\\?[^\x00-\x20(){%*"\\\]]+', x) else qstr(x) for x in m.gm_labels()) + b')'

    def cmd_STORE(self, tag, a, uid_cmd=False):
        msgs = self.messages(a.atom(), uid_cmd)
        unchanged = a.modifier('UNCHANGEDSINCE')
        self.condstore = self.condstore or unchanged is not None
        item = re.fullmatch(r'([+-]?)(FLAGS|X-GM-LABELS)(\.SILENT)?', a.atom().upper())
        if not item:
            raise Bad('Could not parse command (Failure)')
        sign, what, silent = item.groups()
        values = []
        while a.more():
            values += a.atoms()
        if self.readonly:
            raise No('STORE attempt on READ-ONLY folder (Failure)')
        s, f, modified = self.store, self.folder, []
        new = parse_flags(values) if what == 'FLAGS' else [s.norm_label(v) for v in values]
        for seq, uid, m in msgs:
            if unchanged is not None and m.modseq > unchanged:
                modified.append(uid if uid_cmd else seq)
            elif what == 'FLAGS':
                s.set_flags(m, m.flags | new if sign == '+' else m.flags - new if sign == '-'
                            else new)
                if self.opt['auto_expunge'] and '\\Deleted' in m.flags and f.uids.get(uid) is m:
                    s.remove_from_folder(m, f, expunging=True)
                if not silent:
                    self.untagged('%d FETCH (UID %d FLAGS %s%s)' % (
                        seq, uid, flags_text(m.flags), self.modseq_text(m)))
                self.vflags[uid] = frozenset(m.flags)
            else:
                s.change_labels(m, *{'+': (new, ()), '-': ((), new), '': ((), (), new)}[sign])
                if not silent:
                    self.untagged(b'%d FETCH (UID %d X-GM-LABELS %s)' % (
                        seq, uid, self.labels_text(m)))
        if modified:
            return 'OK', '[MODIFIED %s] Conditional STORE failed (Success)' % compress_set(
                sorted(modified))
        return 'OK', 'Success'

    def cmd_UID_STORE(self, tag, a):
        return self.cmd_STORE(tag, a, True)

    def cmd_COPY(self, tag, a, uid_cmd=False, move=False):
        """COPY into a label adds it; into Trash it leaves every label. MOVE
        also takes it out of the source (not out of All Mail: impossible)."""
        msgs = self.messages(a.atom(), uid_cmd)
        name = a.astring()
        a.end()
        s, src, dst = self.store, self.folder, self.store.find(name)
        if dst is None:
            raise No("[TRYCREATE] Folder doesn't exist. (Failure)")
        if move and self.readonly:
            raise No('MOVE attempt on READ-ONLY folder (Failure)')
        pairs = []
        for seq, uid, m in msgs:
            if m.gone:
                continue
            s.add_to_folder(m, dst)
            if m.msgid in dst.by_msg:
                pairs.append((uid, dst.by_msg[m.msgid]))
            if move and dst is not src and src.uids.get(uid) is m and src.role != 'all':
                s.remove_from_folder(m, src, expunging=False)
        code = '[COPYUID %d %s %s] ' % (dst.uidvalidity, ','.join(str(p[0]) for p in pairs),
                                        ','.join(str(p[1]) for p in pairs)) if pairs else ''
        if move and code:       # Gmail: COPYUID in an untagged OK before the EXPUNGEs
            self.untagged('OK %s(Success)' % code)
        return 'OK', 'Success' if move else code + '(Success)'

    def cmd_UID_COPY(self, tag, a):
        return self.cmd_COPY(tag, a, True)

    def cmd_MOVE(self, tag, a):
        return self.cmd_COPY(tag, a, False, True)

    def cmd_UID_MOVE(self, tag, a):
        return self.cmd_COPY(tag, a, True, True)

    def cmd_SEARCH(self, tag, a, uid_cmd=False):
        ret = None
        if a.peek('a', 'RETURN'):
            a.atom()
            ret = {x.upper() for x in a.atoms()} or {'ALL'}
            if ret - {'ALL', 'COUNT', 'MIN', 'MAX'}:
                raise Bad('Invalid RETURN option (Failure)')
        if a.peek('a', 'CHARSET'):
            a.atom()
            if a.astring().upper() not in ('UTF-8', 'US-ASCII'):
                raise No('[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset (Failure)')
        self.search_modseq = False
        pred = search_keys(a, self)
        a.end()
        hits = [(q, u, m) for q, (u, m) in enumerate(self.view, 1) if pred(q, u, m)]
        nums = [u if uid_cmd else q for q, u, m in hits]
        top = max((m.modseq for _, _, m in hits), default=0)
        if ret is None:
            mod = ' (MODSEQ %d)' % top if self.search_modseq and hits else ''
            self.untagged(('SEARCH ' + ' '.join(map(str, nums)) + mod).rstrip())
            return 'OK', 'SEARCH completed (Success)'
        parts = ['(TAG "%s")' % tag] + ['UID'] * uid_cmd
        for key, val in (('MIN', nums[:1]), ('MAX', nums[-1:]), ('COUNT', [len(nums)]),
                         ('ALL', [compress_set(nums)] if nums else [])):
            parts += ['%s %s' % (key, val[0])] if key in ret and val else []
        parts += ['MODSEQ %d' % top] if nums and self.search_modseq else []
        self.untagged('ESEARCH ' + ' '.join(parts))
        return 'OK', 'SEARCH completed (Success)'

    def cmd_UID_SEARCH(self, tag, a):
        return self.cmd_SEARCH(tag, a, True)


class ImapHandler(socketserver.BaseRequestHandler):
    def handle(self):
        s, sock = self.server.store, self.request
        sock.settimeout(15)
        try:
            sock = self.server.ctx.wrap_socket(sock, server_side=True)
        except (OSError, ValueError):
            with s.lock:
                s.count('tls_failures')
            return
        with s.lock:
            full = s.cur_conns >= s.opt['max_conns']
            s.count('rejected_connections' if full else 'connections')
            session = None
            if not full:
                s.cur_conns += 1
                s.counters['max_concurrent'] = max(s.counters['max_concurrent'], s.cur_conns)
                session = Session(s, sock, s.counters['connections'])
                s.sessions.add(session)
        try:
            if full:
                sock.sendall(b'* BYE [UNAVAILABLE] Too many simultaneous connections. '
                             b'(Failure)\r\n')
            else:
                session.run()
        except OSError:
            pass
        finally:
            if session:
                with s.lock:
                    s.cur_conns -= 1
                    s.sessions.discard(session)
            sock.close()


# ------------------------------------------------------------------- smtp

class GmailSmtp(smtp_server.Config):
    """smtp.gmail.com (465 implicit TLS, 587 STARTTLS): the account's
    credentials, Gmail's texts, and each accepted message lands in the store
    as Gmail files it: one message labelled \\Sent (and \\Inbox when a
    recipient is the account itself), \\Seen, a Message-ID added when it has
    none, otherwise kept as received (Bcc included: not sending it is the
    client's job)."""

    hostname = 'smtp.gmail.com'
    auth_mechs = 'LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH'

    def __init__(self, store, tls, ctx, transcript_path):
        super().__init__(tls=tls, ctx=ctx, size=35882577, transcript_path=transcript_path)
        self.store = store

    def log(self, text):
        with self.store.lock:
            self.store.log('smtp:%s %s' % ('465' if self.tls == 'implicit' else '587', text))

    def next_conn(self):
        with self.store.lock:
            self.store.count('smtp_connections')
            return self.store.counters['smtp_connections']

    def greeting(self, cid):
        return '220 smtp.gmail.com ESMTP gs%d - gsmtp' % cid

    def password_ok(self, user, password):
        with self.store.lock:
            o = self.store.opt
            ok = (user.lower() == o['user'].lower() and
                  password.replace(' ', '') == o['password'].replace(' ', ''))
            self.store.count('smtp_logins' if ok else 'smtp_auth_failures')
            return ok

    def token_ok(self, user, token):
        with self.store.lock:
            ok = token_ok(self.store, user, token)
            self.store.count('smtp_logins' if ok else 'smtp_auth_failures')
            return ok

    def auth_refusal(self, mech):
        if mech != 'XOAUTH2' and self.store.opt['auth_mode'] == 'app-password-required':
            return ['534-5.7.9 Application-specific password required. For more information, '
                    'go to', '534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor'
                    ' - gsmtp']
        return None

    def deliver(self, env, data, answered):
        if not answered:        # drop-after-dot is not a Gmail fault
            return None
        with self.store.lock:
            s = self.store
            if not re.search(rb'(?im)^message-id:', split_message(data)[0]):
                data = b'Message-ID: <%d.gs@mx.google.com>\r\n' % (s.next_msgid + 1) + data
            me = s.opt['user'].lower()
            labels = ['\\Sent'] + (['\\Inbox'] if any(r.lower() == me for r in env['rcpts'])
                                    else [])
            m = s.add_message(data, flags=['\\Seen'], labels=labels)
            s.count('smtp_messages')
            return 'x-gm-msgid-%d' % m.msgid


# ---------------------------------------------------------------- control

class Control:
    """The test's side door: {"cmd": NAME, ...} -> {"ok": true, ...} or
    {"ok": false, "error": TEXT}. Names are UTF-8 (IMAP shows them in
    modified UTF-7); labels are names or \\Inbox-style system labels.

    ping                           -> value "pong"
    add file|data|data_b64 [labels=[\\Inbox]] [flags] [date] [thrid]
                                   -> value = X-GM-MSGID, + the message
    flags msgid [set] [add] [remove]    labels msgid [set] [add] [remove]
    delete msgid (to Trash)        purge msgid (gone for ever)
    message msgid [raw]            -> msgid thrid flags labels uids{folder: uid} ...
    list folder                    -> uidvalidity uidnext messages[{uid msgid flags ...}]
    folders                        -> value [{name wire role uidvalidity uidnext messages}]
    create name                    uidvalidity folder [value] (all UIDs new)
    counters                       reset_counters      log [n]
                                   (compress_sessions; wire_bytes_out/_in: IMAP
                                   bytes over TLS; plain_bytes_out/_in: before
                                   compression / after decompression)
    quota_reset (unblock bodies, body_bytes = 0)       kick (drop every connection)
    set KEY=VALUE...               the OPTIONS; -> value: all options
    """

    def __init__(self, store):
        self.s = store

    def run(self, req):
        fn = getattr(self, 'c_' + str(req.get('cmd')), None)
        if fn is None:
            return {'ok': False, 'error': 'unknown command %r' % req.get('cmd')}
        try:
            with self.s.lock:
                out = fn(req)
        except (No, Bad, KeyError, ValueError, TypeError, OSError) as e:
            return {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        return dict(out, ok=True)

    def folder(self, name):
        f = self.s.find(mutf7_encode(name)) or self.s.find(name)
        if f is None:
            raise ValueError('no folder %r' % name)
        return f

    def msg(self, req):
        m = self.s.msgs.get(int(req['msgid']))
        if m is None:
            raise ValueError('no message %s' % req['msgid'])
        return m

    def labels(self, req, key):
        return [self.s.norm_label(x if x.startswith('\\') else mutf7_encode(x))
                for x in req.get(key, [])]

    def describe(self, m):
        return {'msgid': m.msgid, 'thrid': m.thrid, 'flags': sorted(m.flags),
                'labels': [mutf7_decode(x) for x in m.gm_labels()], 'size': len(m.raw),
                'modseq': m.modseq, 'internaldate': format_datetime(m.date, m.tz),
                'message_id': m.header('message-id'),
                'uids': {mutf7_decode(self.s.name(f)): f.by_msg[m.msgid]
                         for f in self.s.folders if m.msgid in f.by_msg}}

    def c_ping(self, req):
        return {'value': 'pong'}

    def c_add(self, req):
        if 'file' in req:
            with open(req['file'], 'rb') as fh:
                raw = fh.read()
        else:
            raw = base64.b64decode(req['data_b64']) if 'data_b64' in req else \
                req['data'].encode('utf-8')
        date, tz = req.get('date'), 0
        if isinstance(date, str):
            date, tz = parse_datetime(date)
        req.setdefault('labels', ['\\Inbox'])
        m = self.s.add_message(raw, parse_flags(req.get('flags', [])), self.labels(req, 'labels'),
                               date, tz, req.get('thrid'))
        return dict(self.describe(m), value=m.msgid)

    def c_flags(self, req):
        m = self.msg(req)
        new = parse_flags(req['set']) if 'set' in req else m.flags
        self.s.set_flags(m, (new | parse_flags(req.get('add', []))) -
                         parse_flags(req.get('remove', [])))
        return self.describe(m)

    def c_labels(self, req):
        m = self.msg(req)
        self.s.change_labels(m, self.labels(req, 'add'), self.labels(req, 'remove'),
                             self.labels(req, 'set') if 'set' in req else None)
        return self.describe(m)

    def c_delete(self, req):
        m = self.msg(req)
        self.s.change_labels(m, add=['\\Trash'])
        return self.describe(m)

    def c_purge(self, req):
        self.s.purge(self.msg(req))
        return {}

    def c_message(self, req):
        m = self.msg(req)
        return dict(self.describe(m), **({'raw_b64': base64.b64encode(m.raw).decode()}
                                         if req.get('raw') else {}))

    def c_list(self, req):
        f = self.folder(req['folder'])
        return {'folder': mutf7_decode(self.s.name(f)), 'uidvalidity': f.uidvalidity,
                'uidnext': f.uidnext, 'highestmodseq': self.s.modseq,
                'messages': [dict(self.describe(m), uid=u) for u, m in f.uids.items()]}

    def c_folders(self, req):
        return {'value': [{'name': mutf7_decode(self.s.name(f)), 'wire': self.s.name(f),
                           'role': f.role, 'uidvalidity': f.uidvalidity, 'uidnext': f.uidnext,
                           'messages': len(f.uids)} for f in self.s.folders]}

    def c_create(self, req):
        self.s.create(mutf7_encode(req['name']))
        return {}

    def c_uidvalidity(self, req):
        f = self.folder(req['folder'])
        self.s.set_uidvalidity(f, int(req.get('value') or self.s.new_uidvalidity()))
        return {'value': f.uidvalidity}

    def c_counters(self, req):
        return dict(json.loads(json.dumps(self.s.counters)), current_connections=self.s.cur_conns,
                    quota_blocked=self.s.quota_blocked, highestmodseq=self.s.modseq)

    def c_reset_counters(self, req):
        self.s.reset_counters()
        return {}

    def c_log(self, req):
        return {'value': list(self.s.log_lines)[-int(req.get('n', 200)):]}

    def c_quota_reset(self, req):
        self.s.quota_blocked = False
        self.s.counters['body_bytes'] = 0
        return {}

    def c_set(self, req):
        for k, v in req.items():
            if k != 'cmd':
                set_option(self.s.opt, k, v)
        self.s.changed()
        return {'value': dict(self.s.opt)}

    def c_kick(self, req):
        n = 0
        for sess in list(self.s.sessions):
            try:        # the plain socket's shutdown: no TLS close from this thread
                socket.socket.shutdown(sess.conn.sock, socket.SHUT_RDWR)
                n += 1
            except OSError:
                pass
        return {'value': n}


def set_option(opt, key, value):
    default = OPTIONS.get(key, KeyError)
    if default is KeyError:
        raise ValueError('unknown option %s' % key)
    if isinstance(default, tuple):
        ok = value in default
    elif key == 'quota_bytes':
        ok = value is None or type(value) is int
    else:
        ok = type(value) is type(default) or type(default) is int and type(value) is float
    if not ok:
        raise ValueError('bad value %r for %s' % (value, key))
    opt[key] = value


class CtlHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            try:
                reply = self.server.control.run(json.loads(line))
            except (ValueError, AttributeError) as e:
                reply = {'ok': False, 'error': 'bad request: %s' % e}
            self.wfile.write(json.dumps(reply).encode() + b'\n')
            self.wfile.flush()


# ------------------------------------------------------------------- main

def parse_value(v):
    try:
        return json.loads(v)
    except ValueError:
        return v


def serve(args):
    opt = {k: v[0] if isinstance(v, tuple) else v for k, v in OPTIONS.items()}
    for kv in args.set:
        k, _, v = kv.partition('=')
        set_option(opt, k, parse_value(v) if k not in ('user', 'password', 'token') else v)
    store = Store(opt, args.log)
    store.oauth_tokens = args.oauth_tokens
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads, allow_reuse_address, request_queue_size = True, True, 64

    class CtlServer(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True

    srv = Server(('127.0.0.1', args.port), ImapHandler)
    srv.store, srv.ctx = store, ctx
    ctl = CtlServer(args.ctl, CtlHandler)
    ctl.control = Control(store)
    for x in (srv, ctl):
        threading.Thread(target=x.serve_forever, daemon=True).start()
    # smtp.gmail.com's two ports; their port files come before the IMAP one.
    base = os.path.dirname(os.path.abspath(args.ctl))
    for tls, name in (('implicit', 'smtp_port'), ('starttls', 'smtp_port_starttls')):
        cfg = GmailSmtp(store, tls, ctx, os.path.join(base, 'smtp-transcript'))
        port = smtp_server.listen(cfg).server_address[1]
        if args.port_file:
            path = os.path.join(os.path.dirname(os.path.abspath(args.port_file)), name)
            with open(path + '.tmp', 'w') as fh:
                fh.write('%d\n' % port)
            os.rename(path + '.tmp', path)
    if args.port_file:      # written last: it means "ready"
        with open(args.port_file + '.tmp', 'w') as fh:
            fh.write('%d\n' % srv.server_address[1])
        os.rename(args.port_file + '.tmp', args.port_file)
    # A bounded life: over with the test shell that started us (--parent-pid,
    # or when we are re-parented), or after --max-lifetime.
    start, parent = time.monotonic(), os.getppid()
    while time.monotonic() - start < args.max_lifetime and os.getppid() == parent and \
            (not args.parent_pid or pid_alive(args.parent_pid)):
        time.sleep(1)
    if args.cleanup_dir and os.path.dirname(os.path.abspath(args.ctl)) == \
            os.path.abspath(args.cleanup_dir):      # only the directory we live in
        shutil.rmtree(args.cleanup_dir, ignore_errors=True)
    os._exit(0)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def ctl_client(args):
    """Values parse as JSON when they can; the list keys (labels flags add
    remove set) also take a,b,c. Prints "value" when the reply has a
    non-dict one (a list: one item a line, as JSON), else the reply JSON."""
    req = {'cmd': args.command}
    for kv in args.params:
        k, _, v = kv.partition('=')
        val = parse_value(v)
        if k in ('labels', 'flags', 'add', 'remove', 'set') and not isinstance(val, list):
            val = [x for x in v.split(',') if x]
        req[k] = val
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(args.socket)
        sock.sendall(json.dumps(req).encode() + b'\n')
        buf = b''
        while not buf.endswith(b'\n'):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not reply.pop('ok', False):
        print('fixture ctl %s: %s' % (args.command, reply.get('error')), file=sys.stderr)
        return 1
    v = reply.get('value', reply)
    if isinstance(v, list):
        print('\n'.join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in v))
    else:
        print(json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='mode', required=True)
    sv = sub.add_parser('serve')
    for opt in ('--cert', '--key', '--ctl'):
        sv.add_argument(opt, required=True)
    sv.add_argument('--port', type=int, default=0)
    sv.add_argument('--port-file')
    sv.add_argument('--log')
    sv.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                    help='an option: ' + ' '.join(OPTIONS))
    sv.add_argument('--parent-pid', type=int)
    sv.add_argument('--max-lifetime', type=float, default=3600)
    sv.add_argument('--cleanup-dir')
    sv.add_argument('--oauth-tokens', metavar='FILE',
                    help='XOAUTH2 takes the unexpired tokens listed in FILE ("TOKEN EPOCH" lines)')
    ct = sub.add_parser('ctl')
    ct.add_argument('socket')
    ct.add_argument('command')
    ct.add_argument('params', nargs='*')
    args = ap.parse_args()
    if args.mode == 'ctl':
        sys.exit(ctl_client(args))
    serve(args)


if __name__ == '__main__':
    main()
