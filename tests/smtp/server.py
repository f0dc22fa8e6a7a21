#!/usr/bin/env python3
"""A scripted SMTP submission server with faults, for gmaildir's tests.

    server.py serve --dir D --port-file F [--cert PEM --key PEM]
                    [--tls implicit|starttls|none] [--allow-plain] [--no-auth]
                    [--user U] [--password P] [--token T] [--size N]
                    [--no-8bitmime] [--no-smtputf8] [--faults FILE]
                    [--parent-pid P] [--max-life S] [--cleanup-dir D]
    server.py check-fault SPEC...     (exit 1 naming the first bad SPEC)

Listens on 127.0.0.1 only, an ephemeral port written to --port-file once
listening. Under --dir: spool/N.eml + spool/N.json (each message, see
Spool), log (one line per command received, AUTH secrets masked) and
transcript (every byte the client sent, secrets included, each line
prefixed with "cN plain> " or "cN tls> " so that a test can tell what went
in clear). tests/smtp/server.sh wraps it (sm_start, sm_fault, sm_count).

Faults (--faults FILE: whitespace-separated specs, re-read at each new
connection and at each command; a changed file resets the counts):
    NAME[=VALUE][:K][:ADDR]   K: only the first K times; ADDR (rcpt only):
                              only for that recipient (case-insensitive)
""" + '\n'.join('    %-22s %s' % kv for kv in [
    ('greeting=CODE', 'the greeting is CODE (421), then close'),
    ('ehlo=CODE', 'EHLO/HELO answered CODE'),
    ('starttls[=CODE]', 'STARTTLS refused with CODE (454)'),
    ('strip-starttls', 'EHLO hides STARTTLS, STARTTLS answers 502 (downgrade)'),
    ('auth=CODE', 'AUTH answered CODE (454, 535) once the credentials are in'),
    ('mail=CODE', 'MAIL answered CODE (451, 550)'),
    ('rcpt=CODE[:ADDR]', 'RCPT answered CODE (450, 550)'),
    ('data=CODE', 'DATA answered CODE (451, 554)'),
    ('dot=CODE', 'the final dot answered CODE (451 552 554); not stored'),
    ('drop-after-data', 'close once data bytes arrived after 354'),
    ('drop-after-dot', 'read the message, spool it unanswered, close'),
    ('silent', 'accept the TCP connection, never send a byte'),
    ('slow-dot=SECONDS', 'wait before answering the final dot'),
]) + """

Spool: N counts from 1 over all messages kept. N.eml holds the message
exactly as meant (dot-stuffing undone per RFC 5321 4.5.2: a line's leading
"." is removed; line ends as received; data ends at CRLF "." CRLF only).
N.json: {"n", "answered" (false: drop-after-dot), "mail_from", "rcpts",
"auth_user" (null: none), "auth_mech", "body" (BODY= value or null),
"smtputf8", "size_param", "tls", "helo", "conn", "bytes", "bare_lf" (a LF
without CR or a CR without LF in the data), "eight_bit" (a byte > 127),
"unstuffed" (lines that began with "." and lost it: ".." is the normal
case, counted too)}.

Standard library only; one thread per connection; every read is bounded
(--idle-timeout, default 60 s) and the server exits with the shell that
started it (--parent-pid) or after --max-life seconds.
"""

import argparse
import base64
import binascii
import json
import os
import re
import shutil
import socketserver
import ssl
import sys
import threading
import time

XOAUTH2_ERROR = b'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}'
BAD_CREDENTIALS = ['535-5.7.8 Username and Password not accepted. For more information, go to',
                   '535 5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp']
TEXTS = {       # the texts of the fault codes (and of the normal refusals)
    421: '4.3.0 Temporary System Problem.  Try again later.',
    450: '4.2.1 The user you are trying to contact is receiving mail too quickly.',
    451: '4.3.0 Mail server temporarily rejected message.',
    452: '4.5.3 Your message has too many recipients.',
    454: '4.7.0 Too many login attempts, please try again later.',
    502: '5.5.1 Unrecognized command.',
    530: '5.7.0 Authentication Required.',
    534: '5.7.9 Application-specific password required.',
    535: '5.7.8 Username and Password not accepted.',
    550: '5.1.1 The email account that you tried to reach does not exist.',
    552: '5.3.4 Your message exceeded the size limit.',
    554: '5.6.0 Message rejected.',
}
FAULTS = {      # name: kind of value
    'greeting': 'code', 'ehlo': 'code', 'starttls': 'code?', 'strip-starttls': None,
    'auth': 'code', 'mail': 'code', 'rcpt': 'code', 'data': 'code', 'dot': 'code',
    'drop-after-data': None, 'drop-after-dot': None, 'silent': None, 'slow-dot': 'seconds',
}
MAX_LINE = 4096             # command lines (RFC 5321 says 512; be lenient)
MAX_MESSAGE = 64 << 20


class Fault:
    def __init__(self, spec):
        fields = spec.split(':')
        self.spec, self.addr, self.left = spec, None, None
        self.name, eq, value = fields[0].partition('=')
        kind = FAULTS.get(self.name, KeyError)
        if kind is KeyError:
            raise ValueError('unknown fault %r' % spec)
        if kind is None and eq or kind in ('code', 'seconds') and not eq:
            raise ValueError('fault %r: %s' % (spec, 'takes no value' if kind is None else
                                               'needs =' + kind.upper()))
        if kind and kind.startswith('code'):
            if not (eq and re.fullmatch(r'[45]\d\d', value) or not eq and kind == 'code?'):
                raise ValueError('fault %r: the code must be 4xx or 5xx' % spec)
            self.value = int(value) if value else 454
        elif kind == 'seconds':
            try:
                self.value = float(value)
            except ValueError:
                raise ValueError('fault %r: SECONDS must be a number' % spec) from None
        for f in fields[1:]:
            if re.fullmatch(r'\d+', f):
                self.left = int(f)
            elif '@' in f and self.name == 'rcpt':
                self.addr = f.lower()
            else:
                raise ValueError('fault %r: %r is neither a count nor (rcpt) an address'
                                 % (spec, f))


class Faults:
    """The live set, from a file re-read on demand; counts reset when it changes."""

    def __init__(self, path):
        self.path, self.text, self.items, self.lock = path, '', [], threading.Lock()

    def refresh(self, log=None):
        if not self.path:
            return
        try:
            with open(self.path) as fh:
                text = fh.read()
        except OSError:
            text = ''
        with self.lock:
            if text == self.text:
                return
            self.text, items = text, []
            for spec in text.split():
                try:
                    items.append(Fault(spec))
                except ValueError as e:
                    if log:
                        log('- faults: ignored: %s' % e)
            self.items = items
        if log:
            log('- faults now: %s' % (' '.join(f.spec for f in items) or '(none)'))

    def fire(self, name, addr=None):
        with self.lock:
            for f in self.items:
                if f.name == name and (f.addr is None or f.addr == (addr or '').lower()) and \
                        (f.left is None or f.left > 0):
                    if f.left is not None:
                        f.left -= 1
                    return f
        return None


class Config:
    """One listener's behaviour; the Gmail fixture subclasses it (hooks at the end)."""

    hostname = 'localhost'
    auth_mechs = 'PLAIN LOGIN XOAUTH2'
    chunking = False

    def __init__(self, tls='starttls', ctx=None, allow_plain=False, auth_required=True,
                 user='alice', password='alice-secret', token='tok-alice', size=None,
                 eightbit=True, smtputf8=True, faults=None, spool=None, log_path=None,
                 transcript_path=None, idle_timeout=60):
        self.tls, self.ctx, self.allow_plain, self.auth_required = tls, ctx, allow_plain, \
            auth_required
        self.user, self.password, self.token, self.size = user, password, token, size
        self.eightbit, self.smtputf8, self.idle_timeout = eightbit, smtputf8, idle_timeout
        self.faults = faults or Faults(None)
        self.spool, self.lock, self.conns, self.kept = spool, threading.Lock(), 0, 0
        self.log_file = open(log_path, 'a', buffering=1) if log_path else None
        self.transcript = open(transcript_path, 'ab', buffering=0) if transcript_path else None

    def log(self, text):
        if self.log_file:
            with self.lock:
                self.log_file.write(time.strftime('%H:%M:%S ') + text + '\n')

    def record(self, cid, tls, data):
        if self.transcript:
            with self.lock:
                self.transcript.write(b'c%d %s> ' % (cid, b'tls' if tls else b'plain') + data +
                                      (b'' if data.endswith(b'\n') else b'\n'))

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns

    # ---- hooks
    def greeting(self, cid):
        return '220 %s ESMTP gmaildir test server c%d' % (self.hostname, cid)

    def ehlo_first(self, name):
        return '%s at your service, [127.0.0.1]' % self.hostname

    def password_ok(self, user, password):
        return user == self.user and password == self.password

    def token_ok(self, user, token):
        return user == self.user and token == self.token

    def auth_refusal(self, mech):
        """A reply refusing a mechanism outright (Gmail's app-password rule), or None."""
        return None

    def deliver(self, env, data, answered):
        """Keeps a message (answered False: drop-after-dot); returns its queue id."""
        with self.lock:
            self.kept += 1
            n = self.kept
        meta = dict(env, n=n, answered=answered, bytes=len(data),
                    bare_lf=bool(re.search(rb'(?<!\r)\n|\r(?!\n)', data)),
                    eight_bit=any(c > 127 for c in data))
        for ext, content in (('eml', data), ('json', json.dumps(meta, indent=1).encode())):
            path = os.path.join(self.spool, '%d.%s' % (n, ext))
            with open(path + '.tmp', 'wb') as fh:
                fh.write(content)
            os.rename(path + '.tmp', path)
        return 'q%d' % n


class Drop(Exception):
    """Close the connection now, without a word."""


def reply_text(code, default=None):
    return '%d %s' % (code, TEXTS.get(code, default or '%d.0.0 Refused (fault)' % (code // 100)))


class Session:
    def __init__(self, cfg, sock, cid):
        self.cfg, self.sock, self.cid, self.buf = cfg, sock, cid, bytearray()
        self.secure = False
        self.strip = False
        self.reset_all()

    def reset_all(self):
        self.helo, self.esmtp, self.auth_user, self.auth_mech = None, False, None, None
        self.reset_mail()

    def reset_mail(self):
        self.env = None

    # ---- I/O
    def fill(self):
        self.sock.settimeout(self.cfg.idle_timeout)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def readline(self, secret=False):
        """A command line (LF-terminated, CR stripped)."""
        while b'\n' not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise Drop('line too long')
            self.fill()
        i = self.buf.index(b'\n') + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        self.cfg.record(self.cid, self.secure, line)
        return line.rstrip(b'\r\n').decode('utf-8', 'surrogateescape')

    def send(self, *lines):
        self.sock.settimeout(60)
        self.sock.sendall(''.join(x + '\r\n' for x in lines).encode('utf-8', 'surrogateescape'))

    def log(self, text):
        self.cfg.log('c%d %s' % (self.cid, text))

    def fault(self, name, addr=None):
        f = self.cfg.faults.fire(name, addr)
        if f:
            self.log('! fault %s' % f.spec)
        return f

    # ---- the session
    def run(self):
        cfg = self.cfg
        cfg.faults.refresh(cfg.log)
        if self.fault('silent'):
            self.sock.settimeout(cfg.idle_timeout)
            try:
                while self.sock.recv(65536):
                    pass
            except OSError:
                pass
            return
        if cfg.tls == 'implicit':
            self.start_tls()
        self.strip = bool(self.fault('strip-starttls'))
        f = self.fault('greeting')
        if f:
            self.send(reply_text(f.value))
            return
        self.send(cfg.greeting(self.cid))
        while True:
            try:
                line = self.readline()
            except TimeoutError:
                self.send('421 4.4.2 %s Error: timeout exceeded' % cfg.hostname)
                return
            cfg.faults.refresh(cfg.log)
            verb, _, arg = line.partition(' ')
            verb = verb.upper()
            words = arg.split()
            self.log('AUTH %s ****' % words[0] if verb == 'AUTH' and len(words) > 1 else line)
            handler = getattr(self, 'c_' + verb, None)
            if handler is None:
                self.send(reply_text(502))
                continue
            if handler(arg.strip()) == 'quit':
                return

    def start_tls(self):
        try:
            self.sock = self.cfg.ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ValueError) as e:
            raise Drop('TLS handshake failed: %s' % e) from None
        self.secure = True
        self.log('- TLS %s %s' % (self.sock.version(), self.sock.cipher()[0]))

    def need_tls(self):
        """530 before STARTTLS on a STARTTLS port (unless --allow-plain)."""
        if self.cfg.tls == 'starttls' and not self.secure and not self.cfg.allow_plain:
            self.send('530 5.7.0 Must issue a STARTTLS command first.')
            return True
        return False

    def c_HELO(self, arg, esmtp=False):
        f = self.fault('ehlo')
        if f:
            self.send(reply_text(f.value))
            return
        if not arg:
            self.send('501 5.5.4 Empty HELO/EHLO argument not allowed, closing connection.')
            return 'quit'
        self.reset_all() if not self.auth_user else self.reset_mail()
        self.helo, self.esmtp = arg, esmtp
        if not esmtp:
            self.send('250 %s' % self.cfg.ehlo_first(arg))
            return
        cfg, ext = self.cfg, []
        if cfg.size:
            ext.append('SIZE %d' % cfg.size)
        if cfg.eightbit:
            ext.append('8BITMIME')
        if cfg.tls == 'starttls' and not self.secure and not self.strip:
            ext.append('STARTTLS')
        if self.secure or cfg.tls == 'none' or cfg.allow_plain:
            ext.append('AUTH ' + cfg.auth_mechs)
        ext += ['ENHANCEDSTATUSCODES', 'PIPELINING']
        if cfg.smtputf8:
            ext.append('SMTPUTF8')
        lines = [cfg.ehlo_first(arg)] + ext
        self.send(*['250%s%s' % ('-' if i < len(lines) - 1 else ' ', x)
                    for i, x in enumerate(lines)])

    def c_EHLO(self, arg):
        return self.c_HELO(arg, esmtp=True)

    def c_STARTTLS(self, arg):
        if self.cfg.tls != 'starttls' or self.strip:
            self.send(reply_text(502))
            return
        if self.secure:
            self.send('503 5.5.1 TLS already active.')
            return
        if arg:
            self.send('501 5.5.4 Syntax error: STARTTLS takes no argument.')
            return
        f = self.fault('starttls')
        if f:
            self.send('%d 4.7.0 TLS not available due to local problem' % f.value)
            return
        self.send('220 2.0.0 Ready to start TLS')
        if self.buf:        # RFC 3207 §6: what came with STARTTLS must not count
            self.log('- discarded %d bytes pipelined after STARTTLS' % len(self.buf))
            self.buf.clear()
        self.start_tls()
        self.reset_all()

    def c_AUTH(self, arg):
        words = arg.split()
        if self.need_tls():
            return
        if not self.esmtp:
            self.send('503 5.5.1 EHLO/HELO first.')
            return
        if self.auth_user:
            self.send('503 5.5.1 Already authenticated.')
            return
        if self.env:
            self.send('503 5.5.1 AUTH not allowed during a mail transaction.')
            return
        mech = words[0].upper() if words else ''
        if mech not in ('PLAIN', 'LOGIN', 'XOAUTH2'):
            self.send('504 5.7.4 Unrecognized authentication type.')
            return
        initial = words[1] if len(words) > 1 else None

        def ask(challenge):
            self.send('334 ' + challenge)
            got = self.readline()
            self.log('  ****' if got != '*' else '  *')
            return got

        def b64(text):
            if text == '*':
                raise ValueError('cancelled')
            return base64.b64decode('' if text == '=' else text, validate=True)

        try:
            if mech == 'PLAIN':
                f = b64(initial if initial is not None else ask('')).decode('utf-8').split('\0')
                if len(f) != 3:
                    raise ValueError('bad PLAIN')
                user, ok = f[1], self.cfg.password_ok(f[1], f[2])
            elif mech == 'LOGIN':
                user = b64(initial if initial is not None else ask('VXNlcm5hbWU6')).decode()
                ok = self.cfg.password_ok(user, b64(ask('UGFzc3dvcmQ6')).decode('utf-8'))
            else:   # "user=U\x01auth=Bearer T\x01\x01"
                data = b64(initial if initial is not None else ask('')).decode('utf-8')
                kv = dict(x.partition('=')[::2] for x in data.split('\x01') if x)
                user = kv.get('user', '')
                auth = kv.get('auth', '')
                ok = auth.startswith('Bearer ') and self.cfg.token_ok(user, auth[7:])
        except (ValueError, binascii.Error, UnicodeDecodeError) as e:
            self.send('501 5.5.2 Cannot decode response' if 'cancelled' not in str(e) else
                      '501 5.7.0 Authentication cancelled.')
            return
        f = self.fault('auth')
        refusal = self.cfg.auth_refusal(mech)
        if f and f.value == 535:    # as a wrong password (XOAUTH2's dance included)
            ok = False
        if f and f.value != 535:
            self.send(reply_text(f.value))
        elif refusal:
            self.send(*refusal)
        elif not ok:
            if mech == 'XOAUTH2':   # Gmail: the JSON error, the client's empty line, 535
                self.send('334 ' + base64.b64encode(XOAUTH2_ERROR).decode())
                self.readline()
                self.log('  (empty line)')
            self.send(*BAD_CREDENTIALS)
        else:
            self.auth_user, self.auth_mech = user, mech
            self.log('- authenticated as %s (%s)' % (user, mech))
            self.send('235 2.7.0 Accepted')

    def c_MAIL(self, arg):
        cfg = self.cfg
        if self.need_tls():
            return
        m = re.fullmatch(r'(?i)FROM:\s*<([^<>]*)>((?: +\S+)*) *', arg)
        if not self.helo:
            self.send('503 5.5.1 EHLO/HELO first.')
        elif self.env:
            self.send('503 5.5.1 Nested MAIL command.')
        elif not m:
            self.send('555 5.5.2 Syntax error.')
        elif cfg.auth_required and not self.auth_user:
            self.send('530-5.7.0 Authentication Required. For more information, go to',
                      '530 5.7.0  https://support.google.com/mail/?p=WantAuthError - gsmtp')
        else:
            env = {'mail_from': m.group(1), 'rcpts': [], 'auth_user': self.auth_user,
                   'auth_mech': self.auth_mech, 'body': None, 'smtputf8': False,
                   'size_param': None, 'tls': self.secure, 'helo': self.helo,
                   'conn': self.cid, 'unstuffed': 0}
            for p in m.group(2).split():
                k, eq, v = p.partition('=')
                k = k.upper()
                if not self.esmtp:
                    bad = 'no parameters after HELO'
                elif k == 'SIZE' and eq and v.isdigit():
                    env['size_param'] = int(v)
                    if cfg.size and int(v) > cfg.size:
                        self.send('552 5.3.4 Message size exceeds fixed maximum message size')
                        return
                    bad = None
                elif k == 'BODY' and v.upper() in ('7BIT', '8BITMIME'):
                    env['body'] = v.upper()
                    bad = None if v.upper() == '7BIT' or cfg.eightbit else 'BODY=8BITMIME'
                elif k == 'SMTPUTF8' and not eq:
                    env['smtputf8'] = True
                    bad = None if cfg.smtputf8 else 'SMTPUTF8'
                elif k == 'AUTH' and eq:
                    bad = None
                else:
                    bad = p
                if bad:
                    self.send('555 5.5.4 Unsupported parameter: %s' % bad)
                    return
            f = self.fault('mail')
            if f:
                self.send(reply_text(f.value))
                return
            self.env = env
            self.send('250 2.1.0 OK')

    def c_RCPT(self, arg):
        m = re.fullmatch(r'(?i)TO:\s*<([^<>]+)>( +\S+)* *', arg)
        if not self.env:
            self.send('503 5.5.1 RCPT first needs MAIL.')
        elif not m:
            self.send('555 5.5.2 Syntax error.')
        elif len(self.env['rcpts']) >= 100:
            self.send(reply_text(452))
        else:
            f = self.fault('rcpt', m.group(1))
            if f:
                self.send(reply_text(f.value))
                return
            self.env['rcpts'].append(m.group(1))
            self.send('250 2.1.5 OK')

    def c_DATA(self, arg):
        if not self.env or not self.env['rcpts']:
            self.send('503 5.5.1 RCPT first.')
            return
        f = self.fault('data')
        if f:
            self.send(reply_text(f.value))
            return
        self.send('354 Go ahead')
        if self.fault('drop-after-data'):
            if not self.buf:
                self.fill()
            self.cfg.record(self.cid, self.secure, bytes(self.buf))
            raise Drop('drop-after-data')
        data, over = self.read_data()
        env, self.env = self.env, None
        if self.fault('drop-after-dot'):
            self.cfg.deliver(env, data, False)
            raise Drop('drop-after-dot')
        f = self.fault('slow-dot')
        if f:
            time.sleep(f.value)
        f = self.fault('dot')
        if f:
            self.send(reply_text(f.value))
        elif over:
            self.send('552 5.3.4 Message size exceeds fixed maximum message size')
        else:
            qid = self.cfg.deliver(env, data, True)
            self.log('- kept %s (%d bytes)' % (qid, len(data)))
            self.send('250 2.0.0 OK %s - gsmtp' % qid)

    def read_data(self):
        """RFC 5321 4.1.1.4 / 4.5.2: lines end with CRLF; a line "." ends the
        data; any other line's leading "." is dropped. -> (bytes, too big)."""
        out, pos, over = bytearray(), 0, False
        limit = min(self.cfg.size or MAX_MESSAGE, MAX_MESSAGE)
        while True:
            i = self.buf.find(b'\r\n', pos)
            if i < 0:
                pos = max(len(self.buf) - 1, 0)
                if len(self.buf) > 1 << 20:     # a huge line: keep it, go on
                    out += self.buf[:pos]
                    self.cfg.record(self.cid, self.secure, bytes(self.buf[:pos]))
                    del self.buf[:pos]
                    pos = 0
                self.fill()
                continue
            line = bytes(self.buf[:i + 2])
            del self.buf[:i + 2]
            pos = 0
            self.cfg.record(self.cid, self.secure, line)
            if line == b'.\r\n':
                return bytes(out), over
            if line.startswith(b'.'):
                line = line[1:]
                self.env['unstuffed'] += 1
            if len(out) + len(line) > limit:
                over = True
            if not over:
                out += line

    def c_RSET(self, arg):
        self.reset_mail()
        self.send('250 2.1.5 Flushed')

    def c_NOOP(self, arg):
        self.send('250 2.0.0 OK')

    def c_VRFY(self, arg):
        self.send('252 2.1.5 Send some mail, I\'ll try my best')

    def c_HELP(self, arg):
        self.send('214 2.0.0 https://www.rfc-editor.org/rfc/rfc5321')

    def c_QUIT(self, arg):
        self.send('221 2.0.0 closing connection')
        return 'quit'


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        cfg = self.server.cfg
        cid = cfg.next_conn()
        cfg.log('c%d - connection (%s)' % (cid, cfg.tls))
        session = Session(cfg, self.request, cid)
        try:
            session.run()
            why = 'closed'
        except Drop as e:
            why = 'dropped: %s' % e
        except EOFError:
            why = 'the client closed'
        except (OSError, TimeoutError) as e:
            why = 'error: %s' % e
        cfg.log('c%d - end (%s)' % (cid, why))
        try:
            session.sock.close()
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads, allow_reuse_address, request_queue_size = True, True, 64


def listen(cfg, port=0):
    """Starts a listener for cfg in a thread; returns the server (its port:
    server_address[1])."""
    srv = Server(('127.0.0.1', port), Handler)
    srv.cfg = cfg
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def serve(a):
    if a.tls != 'none' and not (a.cert and a.key):
        sys.exit('server.py: --tls %s needs --cert and --key' % a.tls)
    spool = os.path.join(a.dir, 'spool')
    os.makedirs(spool, exist_ok=True)
    cfg = Config(tls=a.tls, ctx=tls_context(a.cert, a.key) if a.tls != 'none' else None,
                 allow_plain=a.allow_plain, auth_required=not a.no_auth, user=a.user,
                 password=a.password, token=a.token, size=a.size, eightbit=not a.no_8bitmime,
                 smtputf8=not a.no_smtputf8, faults=Faults(a.faults), spool=spool,
                 log_path=os.path.join(a.dir, 'log'),
                 transcript_path=os.path.join(a.dir, 'transcript'),
                 idle_timeout=a.idle_timeout)
    srv = listen(cfg)
    with open(a.port_file + '.tmp', 'w') as fh:
        fh.write('%d\n' % srv.server_address[1])
    os.rename(a.port_file + '.tmp', a.port_file)
    cfg.log('- listening on 127.0.0.1:%d (tls %s)' % (srv.server_address[1], a.tls))
    start, parent = time.monotonic(), os.getppid()
    while time.monotonic() - start < a.max_life and os.getppid() == parent and \
            (not a.parent_pid or pid_alive(a.parent_pid)):
        time.sleep(0.5)
    if a.cleanup_dir and os.path.abspath(a.cleanup_dir) == os.path.abspath(a.dir):
        shutil.rmtree(a.cleanup_dir, ignore_errors=True)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='mode', required=True)
    s = sub.add_parser('serve')
    s.add_argument('--dir', required=True)
    s.add_argument('--port-file', required=True)
    s.add_argument('--cert')
    s.add_argument('--key')
    s.add_argument('--tls', choices=('implicit', 'starttls', 'none'), default='starttls')
    s.add_argument('--allow-plain', action='store_true')
    s.add_argument('--no-auth', action='store_true', help='MAIL without AUTH is fine')
    s.add_argument('--user', default='alice')
    s.add_argument('--password', default='alice-secret')
    s.add_argument('--token', default='tok-alice')
    s.add_argument('--size', type=int)
    s.add_argument('--no-8bitmime', action='store_true')
    s.add_argument('--no-smtputf8', action='store_true')
    s.add_argument('--faults')
    s.add_argument('--idle-timeout', type=float, default=60)
    s.add_argument('--parent-pid', type=int)
    s.add_argument('--max-life', type=float, default=1800)
    s.add_argument('--cleanup-dir')
    c = sub.add_parser('check-fault')
    c.add_argument('specs', nargs='*')
    a = ap.parse_args()
    if a.mode == 'check-fault':
        for spec in a.specs:
            try:
                Fault(spec)
            except ValueError as e:
                sys.exit('server.py: %s' % e)
        return
    serve(a)


if __name__ == '__main__':
    main()
