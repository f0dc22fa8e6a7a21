#!/usr/bin/env python3
"""Drives a running provider.py as an OAuth client would and prints TAP lines
("ok - ..." / "not ok - ..."). Run by tests/integration/t_oauth_fixture.sh
after op_start, with OP_URL OP_CA OP_CLIENT_ID OP_CLIENT_SECRET OP_CTL
OP_TOKENS OP_TTL in the environment; with GM_PORT too (a Gmail fixture started
with --oauth-tokens $OP_TOKENS), it also checks that fixture's XOAUTH2 against
the provider's tokens. Each check's text says what it pins down.

    selftest.py [provider|gmail|all]   (all: the default)
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import secrets
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = os.environ
URL, CA, CTL = ENV['OP_URL'], ENV['OP_CA'], ENV['OP_CTL']
CID, SECRET, TOKENS = ENV['OP_CLIENT_ID'], ENV['OP_CLIENT_SECRET'], ENV['OP_TOKENS']
TTL = int(ENV['OP_TTL'])
PORT = int(urllib.parse.urlsplit(URL).port)
SCOPE = 'https://mail.google.com/'
REDIRECT = 'http://127.0.0.1:%d/' % (PORT + 1 if PORT < 65535 else 1024)   # never listened on
AUTH_FAILED = 'NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)'
FAILED = 0
CTX = ssl.create_default_context(cafile=CA)


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
    return r.get('value')


def counter(name):
    return ctl('counters')[name]


# ------------------------------------------------------------ the client

def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b'=').decode()


def auth_params(challenge, state='st-1', redirect=REDIRECT, **over):
    p = {'response_type': 'code', 'client_id': CID, 'redirect_uri': redirect,
         'scope': SCOPE, 'state': state, 'code_challenge': challenge,
         'code_challenge_method': 'S256', 'access_type': 'offline', 'prompt': 'consent'}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def https(method, path, body=None, headers=None, timeout=10):
    """-> (status, headers (lower-case keys), body text)."""
    c = http.client.HTTPSConnection('127.0.0.1', PORT, context=CTX, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def authorize(query):
    """GET /auth?query (a dict or a raw string) -> (status, Location's query
    as a dict or None, raw Location)."""
    q = query if isinstance(query, str) else urllib.parse.urlencode(query)
    status, h, _ = https('GET', '/auth?' + q)
    loc = h.get('location')
    got = None
    if loc is not None:
        got = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query,
                                                          keep_blank_values=True).items()}
    return status, got, loc


def token(form, basic=None, ctype='application/x-www-form-urlencoded', raw=None, timeout=10):
    """POST /token -> (status, parsed JSON or the text, headers)."""
    headers = {'Content-Type': ctype}
    if basic:
        headers['Authorization'] = 'Basic ' + base64.b64encode(
            ('%s:%s' % basic).encode()).decode()
    body = raw if raw is not None else urllib.parse.urlencode(form)
    status, h, text = https('POST', '/token', body, headers, timeout)
    try:
        return status, json.loads(text), h
    except ValueError:
        return status, text, h


def creds(**kw):
    return dict({'client_id': CID, 'client_secret': SECRET}, **kw)


def new_code(redirect=REDIRECT):
    """A fresh authorization: -> (code, verifier)."""
    verifier, challenge = pkce()
    _, got, _ = authorize(auth_params(challenge, redirect=redirect))
    return got['code'], verifier


def login(redirect=REDIRECT, basic=False):
    """The whole flow: -> the token response (dict)."""
    code, verifier = new_code(redirect)
    form = {'grant_type': 'authorization_code', 'code': code, 'redirect_uri': redirect,
            'code_verifier': verifier}
    status, r, _ = token(form, (CID, SECRET)) if basic else token(creds(**form))
    assert status == 200, r
    return r


def refresh(rt):
    return token(creds(grant_type='refresh_token', refresh_token=rt))


def listed():
    """The tokens file as {token: expiry}."""
    with open(TOKENS) as fh:
        return {t: int(e) for t, e in (line.split() for line in fh if line.strip())}


# ----------------------------------------------------------------- /auth

def test_auth():
    verifier, challenge = pkce()
    state = 'a b/+&=%é?'
    before = counter('auth_requests')
    status, got, loc = authorize(auth_params(challenge, state=state))
    check(status == 302 and loc.startswith(REDIRECT + '?'),
          '/auth: a good request is a 302 to redirect_uri?...', (status, loc))
    check(got and got.get('state') == state, '... with the state verbatim', got)
    check(' ' not in loc and 'é' not in loc and '+' not in loc.split('?', 1)[1],
          '... URL-encoded (%20 for a space, no raw +)', loc)
    check(got and got.get('code', '').startswith('4/') and got.get('scope') == SCOPE,
          '... a code and the granted scope', got)
    check(counter('auth_requests') == before + 1, 'auth_requests counts it')
    status, got, loc = authorize(auth_params(challenge, redirect='http://localhost:%d/cb' % PORT))
    check(status == 302 and got.get('code'), '/auth: a http://localhost:PORT/path redirect works',
          loc)
    status, got, loc = authorize(auth_params(challenge, redirect='http://[::1]:%d/' % PORT))
    check(status == 302 and got.get('code'), '/auth: a http://[::1]:PORT/ redirect works', loc)

    bad = [('response_type=token', {'response_type': 'token'}, 'invalid_request'),
           ('code_challenge_method=plain', {'code_challenge_method': 'plain'}, 'invalid_request'),
           ('no code_challenge_method', {'code_challenge_method': None}, 'invalid_request'),
           ('no code_challenge', {'code_challenge': None}, 'invalid_request'),
           ('a 42-character code_challenge', {'code_challenge': 'A' * 42}, 'invalid_request'),
           ('a code_challenge with "="', {'code_challenge': 'A' * 42 + '='}, 'invalid_request'),
           ('no scope', {'scope': None}, 'invalid_request'),
           ('a scope without https://mail.google.com/', {'scope': 'email'}, 'invalid_scope'),
           ('no access_type', {'access_type': None}, 'invalid_request'),
           ('access_type=online', {'access_type': 'online'}, 'invalid_request'),
           ('no prompt', {'prompt': None}, 'invalid_request'),
           ('prompt=select_account', {'prompt': 'select_account'}, 'invalid_request')]
    for desc, over, error in bad:
        status, got, loc = authorize(auth_params(challenge, state='s-' + desc, **over))
        check(status == 302 and got.get('error') == error and got.get('state') == 's-' + desc and
              'code' not in got and got.get('error_description'),
              '/auth with %s: redirect with error=%s, the state, no code' % (desc, error),
              (status, loc))
    status, got, loc = authorize(urllib.parse.urlencode(auth_params(challenge)) + '&scope=x')
    check(status == 302 and got.get('error') == 'invalid_request',
          '/auth with a parameter twice: error=invalid_request', loc)
    status, got, loc = authorize(auth_params(challenge, state=None))
    check(status == 302 and got.get('error') == 'invalid_request' and 'state' not in got,
          '/auth without a state: error=invalid_request', loc)
    for uri in ('https://127.0.0.1:%d/' % PORT, 'http://127.0.0.1/', 'http://example.com:80/',
                'urn:ietf:wg:oauth:2.0:oob', 'http://127.0.0.1:%d/#x' % PORT, None):
        status, got, loc = authorize(auth_params(challenge, redirect=uri))
        check(status == 400 and loc is None,
              '/auth with redirect_uri %s: 400, no redirect' % uri, (status, loc))
    status, got, loc = authorize(auth_params(challenge, client_id='someone-else'))
    check(status == 401 and loc is None, '/auth with an unknown client_id: 401, no redirect',
          (status, loc))

    ctl('deny')
    status, got, loc = authorize(auth_params(challenge, state='s-deny'))
    check(status == 302 and got.get('error') == 'access_denied' and got.get('state') == 's-deny'
          and 'code' not in got, 'knob deny: error=access_denied with the state, no code', loc)
    ctl('tamper-state')
    status, got, loc = authorize(auth_params(challenge, state='s-mine'))
    check(status == 302 and got.get('code') and got.get('state') not in (None, 's-mine'),
          'knob tamper-state: a code with another state', loc)
    ctl('no-code')
    status, got, loc = authorize(auth_params(challenge, state='s-nc'))
    check(status == 302 and got.get('state') == 's-nc' and 'code' not in got and
          'error' not in got, 'knob no-code: the state, no code, no error', loc)
    ctl('ok')
    status, got, loc = authorize(auth_params(challenge, state='s-ok'))
    check(status == 302 and got.get('code') and got.get('state') == 's-ok',
          'knob ok: back to normal', loc)
    last = ctl('last_auth')
    check(last.get('state') == 's-ok' and last.get('code_challenge') == challenge,
          'ctl last_auth: the last /auth query', last)


# ---------------------------------------------------------------- /token

def test_token():
    n_code = counter('token_requests_authorization_code')
    code, verifier = new_code()
    form = {'grant_type': 'authorization_code', 'code': code, 'redirect_uri': REDIRECT,
            'code_verifier': verifier}
    t0 = int(time.time())
    status, r, h = token(creds(**form))
    check(status == 200 and isinstance(r, dict) and r.get('token_type') == 'Bearer' and
          r.get('expires_in') == TTL and r.get('scope') == SCOPE and r.get('access_token') and
          r.get('refresh_token'),
          '/token authorization_code with the right verifier: 200, access and refresh token, '
          'expires_in = OP_TTL, scope, Bearer', r)
    check(h.get('content-type', '').startswith('application/json'), '... as application/json', h)
    at, rt = r['access_token'], r['refresh_token']
    exp = listed().get(at)
    check(exp is not None and t0 + TTL - 1 <= exp <= t0 + TTL + 1,
          '... the access token is in OP_TOKENS with its expiry', (exp, t0))
    check(counter('token_requests_authorization_code') == n_code + 1 and counter('logins') >= 1,
          'token_requests_authorization_code and logins count it')

    status, r, _ = token(creds(**form))
    check(status == 400 and r.get('error') == 'invalid_grant', 'the same code again: invalid_grant',
          r)
    status, r, _ = refresh(rt)
    check(status == 400 and r.get('error') == 'invalid_grant' and at not in listed(),
          '... and the tokens issued from it are revoked (RFC 6749 4.1.2)', r)

    code, verifier = new_code()
    form = {'grant_type': 'authorization_code', 'code': code, 'redirect_uri': REDIRECT,
            'code_verifier': verifier}
    _, other = pkce()
    status, r, _ = token(creds(**dict(form, code_verifier=other)))
    check(status == 400 and r.get('error') == 'invalid_grant', 'PKCE: another verifier: invalid_grant',
          r)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    status, r, _ = token(creds(**dict(form, code_verifier=challenge.rstrip(b'=').decode())))
    check(status == 400 and r.get('error') == 'invalid_grant',
          'PKCE: the challenge itself as verifier (plain): invalid_grant', r)
    status, r, _ = token(creds(**{k: v for k, v in form.items() if k != 'code_verifier'}))
    check(status == 400 and r.get('error') == 'invalid_request', 'PKCE: no verifier: invalid_request',
          r)
    other_port = 'http://127.0.0.1:%d/' % (PORT + 2 if PORT < 65534 else 1025)
    for uri in (other_port, REDIRECT + 'x', REDIRECT.rstrip('/')):
        status, r, _ = token(creds(**dict(form, redirect_uri=uri)))
        check(status == 400 and r.get('error') == 'redirect_uri_mismatch',
              'redirect_uri %s, not the one given to /auth: redirect_uri_mismatch' % uri, r)
    status, r, _ = token(creds(**dict(form, code=code + 'x')))
    check(status == 400 and r.get('error') == 'invalid_grant', 'an unknown code: invalid_grant', r)
    status, r, _ = token(creds(**form))
    check(status == 200 and r.get('refresh_token'),
          'failed attempts do not burn the code: the right one still works', r)
    rt = r.get('refresh_token')

    status, r, _ = token(dict(form, client_id=CID, client_secret='wrong'))
    check(status == 401 and r.get('error') == 'invalid_client', 'a wrong client_secret: 401 '
          'invalid_client', r)
    status, r, _ = token(dict(form, client_id='nobody', client_secret=SECRET))
    check(status == 401 and r.get('error') == 'invalid_client', 'an unknown client_id: 401 '
          'invalid_client', r)
    status, r, _ = token(form)
    check(status == 401 and r.get('error') == 'invalid_client', 'no client authentication: 401',
          r)
    r = login(basic=True)
    check(r.get('refresh_token') and r.get('access_token'),
          'HTTP Basic client authentication (no secret in the form): 200', r)
    status, r, h = token({'grant_type': 'refresh_token', 'refresh_token': rt}, (CID, 'wrong'))
    check(status == 401 and r.get('error') == 'invalid_client' and 'www-authenticate' in h,
          'a wrong Basic secret: 401 invalid_client with WWW-Authenticate', (r, h))
    status, r, _ = token(creds(grant_type='refresh_token', refresh_token=rt), (CID, SECRET))
    check(status == 400 and r.get('error') == 'invalid_request',
          'Basic and client_secret in the form both: invalid_request', r)
    status, r, _ = token(None, ctype='application/json',
                         raw=json.dumps(creds(grant_type='refresh_token', refresh_token=rt)))
    check(status == 400 and r.get('error') == 'invalid_request', 'a JSON body: invalid_request', r)
    status, r, _ = token(creds(grant_type='password'))
    check(status == 400 and r.get('error') == 'unsupported_grant_type',
          'grant_type=password: unsupported_grant_type', r)
    status, r, _ = token(creds())
    check(status == 400 and r.get('error') == 'invalid_request', 'no grant_type: invalid_request', r)
    status, _, _ = https('GET', '/token')
    check(status == 404, 'GET /token: 404 (POST only)', status)
    return rt


def test_refresh(rt):
    n = counter('refreshes')
    n_req = counter('token_requests_refresh_token')
    first = refresh(rt)[1].get('access_token')
    status, r, _ = refresh(rt)
    check(status == 200 and r.get('access_token') and r['access_token'] != first and
          r.get('expires_in') == TTL and r.get('scope') == SCOPE and
          r.get('token_type') == 'Bearer' and 'refresh_token' not in r,
          'refresh_token grant: a new access token, expires_in, scope, Bearer, no new refresh '
          'token (as Google)', r)
    check(counter('refreshes') == n + 2 and counter('token_requests_refresh_token') == n_req + 2,
          'refreshes and token_requests_refresh_token count them')
    check(first in listed() and r['access_token'] in listed(),
          'both access tokens are in OP_TOKENS (an old one stays valid until it expires)')
    status, r, _ = token(creds(grant_type='refresh_token', refresh_token=rt, scope='email'))
    check(status == 400 and r.get('error') == 'invalid_scope', 'refresh with a wider scope: '
          'invalid_scope', r)
    status, r, _ = refresh('1//never-issued')
    check(status == 400 and r == {'error': 'invalid_grant',
                                  'error_description': 'Token has been expired or revoked.'},
          "an unknown refresh token: 400 and Google's exact invalid_grant JSON", r)

    ctl('expire')
    check(listed() == {}, 'ctl expire: OP_TOKENS is empty', listed())
    status, r, _ = refresh(rt)
    check(status == 200 and r.get('access_token') in listed(),
          '... refresh tokens still work and the new access token is listed', r)

    other = login()
    ctl('revoke')
    status, r, _ = refresh(rt)
    check(status == 400 and r.get('error') == 'invalid_grant' and
          r.get('error_description') == 'Token has been expired or revoked.',
          'ctl revoke: refresh gives invalid_grant "Token has been expired or revoked."', r)
    status, r, _ = refresh(other['refresh_token'])
    check(status == 400 and r.get('error') == 'invalid_grant', '... for every refresh token', r)
    check(listed() == {}, '... and no access token is valid any more', listed())
    r = login()
    check(r.get('access_token') in listed() and refresh(r['refresh_token'])[0] == 200,
          '... a new login afterwards works', r)


def test_faults():
    rt = login()['refresh_token']
    ctl('hang')
    n = counter('hung')
    t0 = time.monotonic()
    try:
        token(creds(grant_type='refresh_token', refresh_token=rt), timeout=1)
        timed_out = False
    except (socket.timeout, TimeoutError):
        timed_out = True
    took = time.monotonic() - t0
    check(timed_out and took < 3, 'knob hang: /token does not answer; a 1 s client timeout fires '
          '(%.1f s)' % took)
    # A second hung request on a connection kept open: closed without a byte at "ok".
    c = http.client.HTTPSConnection('127.0.0.1', PORT, context=CTX, timeout=10)
    c.request('POST', '/token', urllib.parse.urlencode(creds(grant_type='refresh_token',
                                                             refresh_token=rt)),
              {'Content-Type': 'application/x-www-form-urlencoded'})
    for _ in range(50):
        if counter('hung') >= n + 2:
            break
        time.sleep(0.05)
    check(counter('hung') == n + 2, 'the hung counter counts both')
    ctl('ok')
    t0 = time.monotonic()
    try:
        c.getresponse()
        closed = False
    except (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionError):
        closed = True
    c.close()
    check(closed and time.monotonic() - t0 < 3,
          '... at "ok" a hung request is closed without an answer')
    status, r, _ = refresh(rt)
    check(status == 200 and r.get('access_token'), '... and /token answers again', r)

    ctl('garbage')
    status, r, h = refresh(rt)
    check(status == 200 and isinstance(r, str) and
          h.get('content-type', '').startswith('application/json'),
          'knob garbage: 200, Content-Type application/json, a body that is not JSON', r)
    check(counter('garbage') >= 1, 'the garbage counter counts it')
    ctl('ok')
    check(refresh(rt)[0] == 200, 'knob ok: /token is normal again')


class Loopback(http.server.BaseHTTPRequestHandler):
    """The program's redirect listener: remembers the query, answers a page."""

    def do_GET(self):
        self.server.got = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        body = b'gmaildir: authorized, you can close this window\n'
        self.send_response(200 if 'code' in self.server.got else 400)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def browse(*args):
    p = subprocess.run([sys.executable, os.path.join(HERE, 'provider.py'), 'browse', '--ca', CA,
                        *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def test_browse():
    srv = http.server.HTTPServer(('127.0.0.1', 0), Loopback)
    srv.got = None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    redirect = 'http://127.0.0.1:%d/' % srv.server_address[1]
    try:
        verifier, challenge = pkce()
        url = URL + '/auth?' + urllib.parse.urlencode(auth_params(challenge, 'st-browse', redirect))
        rc, out, err = browse(url)
        check(rc == 0 and 'authorized' in out, 'browse: follows the 302 to the loopback listener '
              'and prints its page (exit 0)', (rc, out, err))
        got = srv.got or {}
        check(got.get('state') == 'st-browse' and got.get('code'),
              '... which got the code and the state', got)
        status, r, _ = token(creds(grant_type='authorization_code', code=got.get('code'),
                                   redirect_uri=redirect, code_verifier=verifier))
        check(status == 200 and r.get('refresh_token'), '... and that code is exchanged', r)
        ctl('deny')
        rc, out, err = browse(url)
        ctl('ok')
        check(rc == 1 and (srv.got or {}).get('error') == 'access_denied',
              'browse with deny: the listener gets error=access_denied (its 400: exit 1)',
              (rc, srv.got, err))
        rc, out, err = browse('--no-follow', url)
        check(rc == 0 and out.startswith(redirect + '?'), 'browse --no-follow prints the Location',
              (rc, out, err))
        rc, out, err = browse(url.replace(urllib.parse.quote(CID), 'nobody'))
        check(rc == 2 and '401' in err, 'browse: no redirect (unknown client) is exit 2',
              (rc, out, err))
    finally:
        srv.shutdown()
        srv.server_close()
    rc, out, err = browse(url)
    check(rc == 2, 'browse: a loopback listener that is gone is exit 2', (rc, out, err))


# ----------------------------------------------------- the Gmail fixture

def imap_auth(token, keep=False):
    """AUTHENTICATE XOAUTH2 on the Gmail fixture -> (lines, socket or None)."""
    raw = socket.create_connection(('127.0.0.1', int(ENV['GM_PORT'])), timeout=10)
    s = ssl.create_default_context(cafile=ENV['GM_CA']).wrap_socket(raw,
                                                                    server_hostname='127.0.0.1')
    f = s.makefile('rb')
    lines = [f.readline().decode().rstrip()]
    ir = base64.b64encode(('user=%s\x01auth=Bearer %s\x01\x01' % (ENV['GM_USER'], token))
                          .encode()).decode()
    s.sendall(('a AUTHENTICATE XOAUTH2 %s\r\n' % ir).encode())
    while True:
        line = f.readline().decode().rstrip()
        lines.append(line)
        if line.startswith('+'):
            s.sendall(b'\r\n')
        elif line.startswith('a ') or not line:
            break
    if keep and lines[-1].startswith('a OK'):
        return lines, (s, f)
    s.close()
    return lines, None


def imap_cmd(conn, tag, cmd):
    s, f = conn
    s.sendall(('%s %s\r\n' % (tag, cmd)).encode())
    while True:
        line = f.readline().decode().rstrip()
        if line.startswith(tag + ' ') or not line:
            return line


def smtp_auth(token):
    with smtplib.SMTP_SSL('127.0.0.1', int(ENV['GM_SMTP_PORT']), timeout=10,
                          context=ssl.create_default_context(cafile=ENV['GM_CA'])) as s:
        s.ehlo('selftest')
        ir = base64.b64encode(('user=%s\x01auth=Bearer %s\x01\x01' % (ENV['GM_USER'], token))
                              .encode()).decode()
        code, _ = s.docmd('AUTH', 'XOAUTH2 ' + ir)
        if code == 334:
            code, _ = s.docmd('')
        return code


def refused(lines):
    return (len(lines) >= 3 and lines[-2].startswith('+ ') and
            json.loads(base64.b64decode(lines[-2][2:])).get('schemes') == 'Bearer' and
            lines[-1] == 'a ' + AUTH_FAILED)


def test_gmail():
    r = login()
    at, rt = r['access_token'], r['refresh_token']
    lines, conn = imap_auth(at, keep=True)
    check(lines[-1].startswith('a OK'), 'Gmail fixture: XOAUTH2 with a token the provider issued: '
          'OK', lines)
    check(smtp_auth(at) == 235, '... and its SMTP side: 235')
    lines, _ = imap_auth(ENV['GM_TOKEN'])
    check(refused(lines), "... GM_TOKEN is refused under --oauth-tokens, with Gmail's JSON "
          'challenge then ' + AUTH_FAILED, lines)
    lines, _ = imap_auth('ya29.never-issued')
    check(refused(lines), '... an unknown token: the same failure', lines)
    check(smtp_auth('ya29.never-issued') == 535, '... SMTP: 535')
    exp = listed()[at]
    time.sleep(max(0.0, exp - time.time()) + 0.2)
    lines, _ = imap_auth(at)
    check(refused(lines), '... the token after its expiry (OP_TTL %d s): refused' % TTL, lines)
    check(smtp_auth(at) == 535, '... SMTP: 535')
    ok = conn and imap_cmd(conn, 'b', 'SELECT INBOX').startswith('b OK') and \
        imap_cmd(conn, 'c', 'NOOP').startswith('c OK')
    check(ok, '... the session that logged in with it before stays usable (as Gmail)')
    if conn:
        conn[0].close()
    status, r, _ = refresh(rt)
    lines, _ = imap_auth(r.get('access_token'))
    check(lines[-1].startswith('a OK'), '... a refreshed token: OK', lines)
    ctl('revoke')
    lines, _ = imap_auth(r.get('access_token'))
    check(refused(lines), '... after revoke: refused', lines)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else 'all'
    if what in ('provider', 'all'):
        test_auth()
        rt = test_token()
        test_refresh(rt)
        test_faults()
        test_browse()
    if what in ('gmail', 'all') and ENV.get('GM_PORT'):
        test_gmail()
    return 1 if FAILED else 0


if __name__ == '__main__':
    sys.exit(main())
