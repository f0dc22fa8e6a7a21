#!/usr/bin/env python3
"""Drives a running tests/smtp/server.py with smtplib (and raw lines where
smtplib would hide the point) and prints TAP lines. Run by
tests/integration/t_smtp_fixture.sh after sm_start, with the SM_* variables
in the environment:

    selftest.py starttls     (sm_start --tls starttls)
    selftest.py plain        (sm_start --tls starttls --allow-plain)
    selftest.py implicit     (sm_start --tls implicit --size 1000 --no-8bitmime --no-smtputf8)
    selftest.py none         (sm_start --tls none)
"""

import base64
import glob
import json
import os
import smtplib
import socket
import ssl
import sys
import time

MODE = sys.argv[1]
HOST, PORT, CA = os.environ['SM_HOST'], int(os.environ['SM_PORT']), os.environ['SM_CA']
SPOOL, LOG, TRANSCRIPT = os.environ['SM_SPOOL'], os.environ['SM_LOG'], os.environ['SM_TRANSCRIPT']
FAULTS = os.environ['SM_FAULTS']
USER, PASS, TOKEN = 'alice', 'alice-secret', 'tok-alice'
CTX = ssl.create_default_context(cafile=CA)
FAILED = 0


def check(cond, desc, detail=None):
    global FAILED
    print(('ok - ' if cond else 'not ok - ') + '[%s] %s' % (MODE, desc))
    if not cond:
        FAILED += 1
        if detail is not None:
            for line in str(detail)[:2000].splitlines():
                print('#   ' + line)
    sys.stdout.flush()
    return cond


def fault(*specs):
    with open(FAULTS + '.tmp', 'w') as fh:
        fh.write('\n'.join(specs) + '\n')
    os.rename(FAULTS + '.tmp', FAULTS)


def spooled(answered=True):
    n = 0
    for p in glob.glob(SPOOL + '/*.json'):
        with open(p) as fh:
            n += json.load(fh)['answered'] == answered
    return n


def last():
    n = max(int(os.path.basename(p)[:-5]) for p in glob.glob(SPOOL + '/*.json'))
    with open('%s/%d.json' % (SPOOL, n)) as fh, open('%s/%d.eml' % (SPOOL, n), 'rb') as eh:
        return json.load(fh), eh.read()


def connect(ehlo=True, login=True):
    """A ready session: TLS as the mode has it, EHLO, AUTH PLAIN."""
    if MODE == 'implicit':
        s = smtplib.SMTP_SSL(HOST, PORT, timeout=10, context=CTX)
    else:
        s = smtplib.SMTP(HOST, PORT, timeout=10)
    if ehlo:
        s.ehlo()
        if MODE == 'starttls':
            s.starttls(context=CTX)
            s.ehlo()
    if login:
        s.login(USER, PASS)
    return s


def xoauth2(user, token):
    return base64.b64encode(('user=%s\x01auth=Bearer %s\x01\x01' % (user, token)).encode()).decode()


MSG = b'From: a@example.test\r\nSubject: t\r\n\r\nline\r\n'


def common():
    # --- auth
    s = connect(login=False)
    check(s.has_extn('auth') and 'PLAIN LOGIN XOAUTH2' in s.esmtp_features['auth'],
          'EHLO announces AUTH PLAIN LOGIN XOAUTH2', s.esmtp_features)
    check(s.docmd('MAIL FROM:<a@example.test>')[0] == 530, 'MAIL before AUTH: 530')
    code, text = s.docmd('AUTH PLAIN', base64.b64encode(b'\0alice\0wrong').decode())
    check(code == 535 and b'5.7.8' in text, 'AUTH PLAIN with a wrong password: 535 5.7.8', text)
    code, text = s.docmd('AUTH XOAUTH2', xoauth2(USER, 'bad-token'))
    err = json.loads(base64.b64decode(text)) if code == 334 else {}
    check(code == 334 and err.get('status') == '400', 'XOAUTH2 bad token: 334 + base64 JSON', text)
    code, text = s.docmd('')
    check(code == 535, '... then 535 after the empty line', (code, text))
    code, text = s.docmd('AUTH XOAUTH2', xoauth2(USER, TOKEN))
    check(code == 235, 'XOAUTH2 with the token: 235', (code, text))
    check(s.docmd('AUTH PLAIN', 'AGFsaWNlAGFsaWNlLXNlY3JldA==')[0] == 503, 'a second AUTH: 503')
    s.quit()
    s = connect(login=False)
    s.user, s.password = USER, PASS
    code, text = s.auth('LOGIN', s.auth_login, initial_response_ok=False)
    check(code == 235, 'AUTH LOGIN (two 334 challenges): 235', (code, text))
    s.quit()
    s = connect(login=False)
    check(s.docmd('AUTH PLAIN')[0] == 334 and
          s.docmd(base64.b64encode(b'\0alice\0alice-secret').decode())[0] == 235,
          'AUTH PLAIN without an initial response: 334 then 235')
    s.quit()
    with open(LOG) as fh:
        log = fh.read()
    check(PASS not in log and 'AGFsaWNlAGFsaWNlLXNlY3JldA' not in log and TOKEN not in log and
          'AUTH PLAIN ****' in log, 'the log masks AUTH payloads')
    with open(TRANSCRIPT, 'rb') as fh:
        tr = fh.read()
    check(b'AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==' in tr, 'the transcript keeps them')

    # --- a message, dot-stuffing, the spool
    before = spooled()
    s = connect()
    body = b'Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nbare\nlf\r\nend.\r\n'
    r = s.sendmail('me@example.test', ['b@example.test', 'c@example.test'], body,
                   mail_options=['BODY=8BITMIME'] if MODE != 'implicit' else [])
    check(r == {} and spooled() == before + 1, 'sendmail: accepted and spooled')
    meta, eml = last()
    check(eml == body, 'N.eml has the exact bytes (smtplib stuffed, the server unstuffed)',
          (eml, body))
    check(meta['mail_from'] == 'me@example.test' and
          meta['rcpts'] == ['b@example.test', 'c@example.test'] and meta['auth_user'] == USER and
          meta['tls'] == (MODE != 'none' and MODE != 'plain') and meta['answered'] and
          meta['bare_lf'] and meta['unstuffed'] == 3, 'N.json: envelope, auth, tls, flags', meta)
    # Raw DATA: ".x" loses its dot (RFC 5321 4.5.2), LF.LF does not end data.
    s.docmd('MAIL FROM:<me@example.test>')
    s.docmd('RCPT TO:<b@example.test>')
    s.docmd('DATA')
    s.send(b'a\r\n\n.\nstill\r\n.x\r\n..\r\n.\r\n')
    code, text = s.getreply()
    meta, eml = last()
    check(code == 250 and eml == b'a\r\n\n.\nstill\r\nx\r\n.\r\n',
          'raw DATA: a lone "." line ends it, a leading dot is removed', (code, eml))
    check(s.docmd('RCPT TO:<b@example.test>')[0] == 503, 'RCPT without MAIL: 503')
    check(s.docmd('DATA')[0] == 503, 'DATA without RCPT: 503')
    check(s.docmd('FOO')[0] == 502, 'an unknown command: 502')
    s.quit()

    # --- faults
    fault('greeting=421:1')
    try:
        smtplib.SMTP_SSL(HOST, PORT, timeout=10, context=CTX) if MODE == 'implicit' else \
            smtplib.SMTP(HOST, PORT, timeout=10)
        got = None
    except smtplib.SMTPConnectError as e:
        got = e.smtp_code
    check(got == 421, 'greeting=421:1: the greeting is 421', got)
    s = connect()
    check(s.noop()[0] == 250, '... and the next connection is normal (the count is spent)')
    s.quit()
    fault('ehlo=554:1')
    s = connect(ehlo=False, login=False)
    check(s.ehlo()[0] == 554 and s.ehlo()[0] == 250, 'ehlo=554:1: the first EHLO only')
    s.quit()
    for spec, code in (('auth=454', 454), ('auth=535', 535)):
        fault(spec + ':1')
        s = connect(login=False)
        got = s.docmd('AUTH PLAIN', base64.b64encode(b'\0alice\0alice-secret').decode())[0]
        check(got == code, '%s: AUTH with the right password answered %d' % (spec, code), got)
        s.quit()
    fault('mail=451:1')
    s = connect()
    check(s.docmd('MAIL FROM:<a@x.test>')[0] == 451 and s.docmd('MAIL FROM:<a@x.test>')[0] == 250,
          'mail=451:1: one MAIL refused')
    fault('rcpt=550:bob@x.test')
    check(s.docmd('RCPT TO:<Bob@X.test>')[0] == 550 and s.docmd('RCPT TO:<eve@x.test>')[0] == 250
          and s.docmd('RCPT TO:<bob@x.test>')[0] == 550,
          'rcpt=550:bob@x.test: only that address, every time (changed live)')
    fault('data=451:1')
    check(s.docmd('DATA')[0] == 451, 'data=451:1: DATA answered 451')
    fault('dot=552:1')
    before = spooled()
    check(s.docmd('DATA')[0] == 354, '... and DATA again: 354')
    s.send(b'Subject: x\r\n\r\nx\r\n.\r\n')
    check(s.getreply()[0] == 552 and spooled() == before, 'dot=552:1: 552 after the dot, not kept')
    s.rset()
    fault('slow-dot=1:1')
    t = time.monotonic()
    s.sendmail('a@x.test', ['c@x.test'], MSG)
    check(time.monotonic() - t >= 0.9 and spooled() == before + 1,
          'slow-dot=1:1: the answer to the dot comes after a second')
    s.quit()
    fault('drop-after-data:1')
    s = connect()
    try:
        s.sendmail('a@x.test', ['c@x.test'], MSG * 5)
        got = 'accepted'
    except (smtplib.SMTPServerDisconnected, OSError) as e:
        got = type(e).__name__
    check(got != 'accepted' and spooled() == before + 1 and spooled(False) == 0,
          'drop-after-data: the connection closes during DATA, nothing kept', got)
    fault('drop-after-dot:1')
    s = connect()
    try:
        s.sendmail('a@x.test', ['c@x.test'], MSG)
        got = 'answered'
    except (smtplib.SMTPServerDisconnected, OSError) as e:
        got = type(e).__name__
    meta, eml = last()
    check(got != 'answered' and spooled(False) == 1 and not meta['answered'] and eml == MSG,
          'drop-after-dot: no answer, the message spooled with "answered": false', (got, meta))
    fault('silent:1')
    with socket.create_connection((HOST, PORT), timeout=1) as raw:
        try:
            got = raw.recv(100)
        except TimeoutError:
            got = 'timeout'
    check(got == 'timeout', 'silent:1: connected, nothing sent', got)
    fault('mail=550', 'rcpt=450:2')
    s = connect()
    check(s.docmd('MAIL FROM:<a@x.test>')[0] == 550, 'two faults at once: MAIL 550 ...')
    fault()
    check(s.docmd('MAIL FROM:<a@x.test>')[0] == 250, '... cleared live: MAIL 250')
    s.quit()


def starttls():
    s = smtplib.SMTP(HOST, PORT, timeout=10)
    s.ehlo()
    check(s.has_extn('starttls') and not s.has_extn('auth'),
          'before TLS: STARTTLS announced, AUTH not', s.esmtp_features)
    check(s.docmd('AUTH PLAIN', 'AGFsaWNlAGFsaWNlLXNlY3JldA==')[0] == 530, 'AUTH before TLS: 530')
    check(s.docmd('MAIL FROM:<a@x.test>')[0] == 530, 'MAIL before TLS: 530')
    s.starttls(context=CTX)
    s.ehlo()
    check(not s.has_extn('starttls') and s.has_extn('auth') and s.has_extn('8bitmime') and
          s.has_extn('smtputf8') and not s.has_extn('size'),
          'after TLS: AUTH 8BITMIME SMTPUTF8, no STARTTLS, no SIZE', s.esmtp_features)
    check(s.docmd('STARTTLS')[0] == 503, 'STARTTLS twice: 503')
    s.quit()
    fault('starttls=454:1')
    s = smtplib.SMTP(HOST, PORT, timeout=10)
    s.ehlo()
    check(s.docmd('STARTTLS')[0] == 454, 'starttls=454:1: STARTTLS refused')
    s.quit()
    fault('strip-starttls:1')
    s = smtplib.SMTP(HOST, PORT, timeout=10)
    s.ehlo()
    check(not s.has_extn('starttls') and s.docmd('STARTTLS')[0] == 502,
          'strip-starttls: not announced, STARTTLS 502 (the downgrade)', s.esmtp_features)
    s.quit()
    # Bytes pipelined after STARTTLS are not commands.
    with socket.create_connection((HOST, PORT), timeout=10) as raw:
        f = raw.makefile('rb')
        f.readline()
        raw.sendall(b'EHLO x\r\n')
        while f.readline()[3:4] == b'-':
            pass
        raw.sendall(b'STARTTLS\r\nNOOP\r\n')
        check(f.readline().startswith(b'220 '), 'STARTTLS: 220')
        time.sleep(0.2)
        t = CTX.wrap_socket(raw, server_hostname='localhost')
        t.sendall(b'NOOP\r\n')
        check(t.recv(100).startswith(b'250 '), 'a NOOP pipelined with STARTTLS was discarded')
        t.close()
    with open(LOG) as fh:
        check('discarded 6 bytes pipelined after STARTTLS' in fh.read(), '... and logged')


def implicit():
    s = connect(login=False)
    check(s.esmtp_features.get('size') == '1000' and not s.has_extn('8bitmime') and
          not s.has_extn('smtputf8') and not s.has_extn('starttls'),
          '--size 1000 --no-8bitmime --no-smtputf8: SIZE 1000, no 8BITMIME SMTPUTF8 STARTTLS',
          s.esmtp_features)
    check(s.docmd('STARTTLS')[0] == 502, 'STARTTLS on the implicit port: 502')
    s.login(USER, PASS)
    check(s.docmd('MAIL FROM:<a@x.test> SIZE=2000')[0] == 552, 'MAIL SIZE=2000 > 1000: 552')
    check(s.docmd('MAIL FROM:<a@x.test> BODY=8BITMIME')[0] == 555, 'BODY=8BITMIME unannounced: 555')
    check(s.docmd('MAIL FROM:<a@x.test> SMTPUTF8')[0] == 555, 'SMTPUTF8 unannounced: 555')
    before = spooled()
    s.docmd('MAIL FROM:<a@x.test>')
    s.docmd('RCPT TO:<b@x.test>')
    s.docmd('DATA')
    s.send(b'x' * 600 + b'\r\n' + b'y' * 600 + b'\r\n.\r\n')
    check(s.getreply()[0] == 552 and spooled() == before, 'DATA over SIZE: 552, not kept')
    s.quit()


def plain():
    s = smtplib.SMTP(HOST, PORT, timeout=10)
    s.ehlo()
    check(s.has_extn('starttls') and s.has_extn('auth'), '--allow-plain: AUTH before TLS too')
    s.login(USER, PASS)
    s.sendmail('a@x.test', ['b@x.test'], MSG)
    s.quit()
    with open(TRANSCRIPT, 'rb') as fh:
        check(b'plain> AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==' in fh.read(),
              'the transcript shows the password went in clear')
    check(last()[0]['tls'] is False, 'N.json: "tls": false')


def none():
    s = smtplib.SMTP(HOST, PORT, timeout=10)
    s.ehlo()
    check(not s.has_extn('starttls') and s.docmd('STARTTLS')[0] == 502,
          '--tls none: no STARTTLS (502)')
    s.quit()


if __name__ == '__main__':
    {'starttls': starttls, 'implicit': implicit, 'plain': plain, 'none': none}[MODE]()
    if MODE in ('starttls', 'implicit', 'none'):
        common()
    sys.exit(1 if FAILED else 0)
