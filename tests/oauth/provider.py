#!/usr/bin/env python3
"""A fake OAuth 2.0 provider (Google's dialect) for gmaildir's tests.

    provider.py serve --cert PEM --key PEM --dir D --port-file F
                      [--client-id ID] [--client-secret S] [--ttl N]
                      [--code-ttl N] [--parent-pid P] [--max-lifetime S]
                      [--cleanup-dir D] [KNOB ...]
    provider.py ctl SOCK COMMAND [KEY=VALUE ...]
    provider.py browse --ca PEM [--no-follow] [--timeout S] URL

Google's accounts.google.com/o/oauth2/v2/auth and oauth2.googleapis.com/token
cannot be reached from tests, so this stands in for both over HTTPS on
127.0.0.1 (an ephemeral port, written to --port-file once listening). It
serves an installed application's flow: authorization code with PKCE (S256
only) and a loopback redirect, then refresh tokens. tests/oauth/provider.sh
wraps it (op_start, op_ctl, op_browse ...).

GET /auth   There is no consent page: the "user" agrees at once, unless a
            knob says otherwise. Checked: client_id (unknown: a 401 page, no
            redirect, as Google's "Error 401: invalid_client"), redirect_uri
            (http, host 127.0.0.1, localhost or [::1], an explicit port, no
            fragment; else a 400 page, no redirect), then response_type=code,
            code_challenge_method=S256, code_challenge (43-128 characters of
            A-Z a-z 0-9 - . _ ~), scope (must include https://mail.google.com/:
            else error=invalid_scope), access_type=offline, prompt=consent and
            state, each at most once. A failure redirects to redirect_uri with
            error=invalid_request (or invalid_scope), error_description and the
            state as given. Success: 302 to redirect_uri?state=S&code=C (the
            state verbatim, URL-encoded; scope added like Google). A code lives
            --code-ttl seconds (600) and can be used once.
POST /token application/x-www-form-urlencoded. The client authenticates with
            client_id + client_secret in the body or with HTTP Basic (not both:
            invalid_request); a wrong or missing one is 401 invalid_client.
            grant_type=authorization_code: code (issued here, unused, not
            expired, to this client), redirect_uri identical to the one given
            to /auth, code_verifier whose BASE64URL(SHA256) without padding is
            the code_challenge. 200 {access_token, expires_in, refresh_token,
            scope, token_type: "Bearer"}. A code used twice: invalid_grant, and
            the tokens issued from it are revoked (RFC 6749 4.1.2).
            grant_type=refresh_token: refresh_token (issued here, not revoked,
            to this client): 200 {access_token, expires_in, scope, token_type}
            and no new refresh token, as Google. Errors are 400 JSON
            {"error", "error_description"} with Google's texts (an unknown or
            revoked refresh token: invalid_grant "Token has been expired or
            revoked.").

Access tokens live --ttl seconds (3600; expires_in says so). The ones that are
valid now are in D/tokens, one "TOKEN EXPIRY_EPOCH" a line (an integer; the
token is valid while time() < EXPIRY), rewritten atomically (rename) whenever
one is issued, revoked or expired: tests/gmail/fixture.py --oauth-tokens reads
it to decide AUTHENTICATE XOAUTH2.

Control socket D/ctl.sock: one JSON object a line each way, {"cmd": C, ...}
-> {"ok": true, "value": ...} (class Control). Knobs stay until "ok":
    deny          /auth redirects with error=access_denied (the user said no)
    tamper-state  /auth redirects with a code but another state
    no-code       /auth redirects with the state and no code
    hang          /token reads the request and never answers; the connection
                  is closed without a byte when the knob goes (or after 300 s)
    garbage       /token answers 200, Content-Type application/json, not JSON
    ok            all knobs off
Events: revoke (every refresh and access token issued so far is dead; the next
login gets new ones), expire (every access token issued so far expires now;
refresh tokens still work). Others: ping, set ttl=N, counters, reset_counters,
state, last_auth (the query of the last /auth, as a dict), last_token (the
form of the last /token, secrets included). Counters: auth_requests,
auth_errors, token_requests, token_requests_authorization_code,
token_requests_refresh_token, token_errors, logins (codes exchanged),
refreshes (refresh grants answered with a token), hung, garbage.

D/log: one line per request (secrets masked) and tracebacks. Standard library
only; one thread per connection; every read is bounded (30 s); the server
exits with the shell that started it (--parent-pid) or after --max-lifetime.
"""

import argparse
import base64
import binascii
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import urllib.request

MAIL_SCOPE = 'https://mail.google.com/'
AUTH_KNOBS = ('deny', 'tamper-state', 'no-code')
TOKEN_KNOBS = ('hang', 'garbage')
CHALLENGE_RE = re.compile(r'[A-Za-z0-9._~-]{43,128}\Z')
HANG_MAX = 300
EXPIRED = 'Token has been expired or revoked.'


def b64url_sha256(text):
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(verifier))), no padding."""
    digest = hashlib.sha256(text.encode('ascii', 'replace')).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b'=').decode()


def loopback_uri(uri):
    """True if uri is an installed app's loopback redirect URI."""
    try:
        u = urllib.parse.urlsplit(uri)
        port = u.port
    except ValueError:
        return False
    return (u.scheme == 'http' and u.hostname in ('127.0.0.1', 'localhost', '::1') and
            port is not None and not u.fragment and '#' not in uri)


def with_query(uri, params):
    # %20, not +, for a space: a client that only undoes %XX still gets it.
    return uri + ('&' if '?' in uri else '?') + urllib.parse.urlencode(
        params, quote_via=urllib.parse.quote, safe='')


class Provider:
    """All state, behind one lock: codes, refresh and access tokens, knobs,
    counters. Handlers call it with the lock held."""

    def __init__(self, a):
        self.lock = threading.Lock()
        self.client_id, self.client_secret = a.client_id, a.client_secret
        self.ttl, self.code_ttl = a.ttl, a.code_ttl
        self.tokens_path = os.path.join(a.dir, 'tokens')
        self.log_path = os.path.join(a.dir, 'log')
        self.auth_knob = self.token_knob = None
        self.release = threading.Condition(self.lock)   # wakes hung requests
        self.codes = {}         # code -> dict(client, redirect_uri, challenge, scope, exp, used)
        self.refresh = {}       # refresh token -> dict(client, scope, alive, code)
        self.access = {}        # access token -> dict(exp, refresh)
        self.last_auth = self.last_token = None
        self.reset_counters()
        with self.lock:
            for k in a.knobs:
                self.set_knob(k)
            self.write_tokens()

    def reset_counters(self):
        self.counters = dict.fromkeys((
            'auth_requests', 'auth_errors', 'token_requests', 'token_requests_authorization_code',
            'token_requests_refresh_token', 'token_errors', 'logins', 'refreshes', 'hung',
            'garbage'), 0)

    def count(self, name):
        self.counters[name] = self.counters.get(name, 0) + 1

    def log(self, text):
        with open(self.log_path, 'a') as fh:
            fh.write('%s %s\n' % (time.strftime('%H:%M:%S'), text))

    def set_knob(self, name):
        if name in AUTH_KNOBS:
            self.auth_knob = name
        elif name in TOKEN_KNOBS:
            self.token_knob = name
        elif name == 'ok':
            self.auth_knob = self.token_knob = None
            self.release.notify_all()
        else:
            raise ValueError('unknown knob %s' % name)

    def write_tokens(self):
        """D/tokens: the access tokens valid now, replaced by rename."""
        now = time.time()
        self.access = {t: v for t, v in self.access.items() if v['exp'] > now}
        tmp = self.tokens_path + '.tmp'
        with open(tmp, 'w') as fh:
            fh.writelines('%s %d\n' % (t, v['exp']) for t, v in self.access.items())
        os.rename(tmp, self.tokens_path)

    def new_access(self, refresh):
        token = 'ya29.op-' + secrets.token_urlsafe(24)
        self.access[token] = {'exp': int(time.time()) + self.ttl, 'refresh': refresh}
        self.write_tokens()
        return token

    def revoke(self, only_code=None):
        """Kills refresh tokens (all, or those from one code) and their
        access tokens."""
        dead = set()
        for t, v in self.refresh.items():
            if only_code is None or v['code'] == only_code:
                v['alive'] = False
                dead.add(t)
        self.access = {t: v for t, v in self.access.items() if v['refresh'] not in dead}
        self.write_tokens()

    def expire(self):
        self.access.clear()
        self.write_tokens()

    # ------------------------------------------------------------ /auth
    def authorize(self, query):
        """-> (status, location or None, page text)."""
        self.count('auth_requests')
        multi = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.last_auth = {k: v[0] if len(v) == 1 else v for k, v in multi.items()}
        p = {k: v[0] for k, v in multi.items()}
        self.log('auth %s' % json.dumps(self.last_auth, sort_keys=True))
        if p.get('client_id') != self.client_id or len(multi.get('client_id', ())) != 1:
            self.count('auth_errors')
            return 401, None, 'Error 401: invalid_client\nThe OAuth client was not found.\n'
        uri = p.get('redirect_uri', '')
        if len(multi.get('redirect_uri', ())) != 1 or not loopback_uri(uri):
            self.count('auth_errors')
            return 400, None, ('Error 400: invalid_request\nInvalid parameter value for '
                               'redirect_uri: %s\n' % uri)
        state = p.get('state')
        err = self.auth_error(multi, p)
        out = {} if state is None else {'state': state}
        if err:
            self.count('auth_errors')
            out.update(error=err[0], error_description=err[1])
        elif self.auth_knob == 'deny':
            out['error'] = 'access_denied'
        else:
            code = '4/op-' + secrets.token_urlsafe(24)
            self.codes[code] = {'client': p['client_id'], 'redirect_uri': uri,
                                'challenge': p['code_challenge'], 'scope': p['scope'],
                                'exp': time.time() + self.code_ttl, 'used': False}
            if self.auth_knob == 'tamper-state':
                out['state'] = 'tampered-' + secrets.token_urlsafe(8)
            if self.auth_knob != 'no-code':
                out['code'] = code
            out['scope'] = p['scope']
        return 302, with_query(uri, out), 'Redirecting\n'

    @staticmethod
    def auth_error(multi, p):
        """(error, description) for a bad /auth request, else None."""
        for k, v in multi.items():
            if len(v) > 1:
                return 'invalid_request', 'Parameter %s appears more than once' % k
        if p.get('response_type') != 'code':
            return 'invalid_request', 'Invalid response_type: %s' % p.get('response_type')
        if p.get('code_challenge_method') != 'S256':
            return 'invalid_request', 'code_challenge_method must be S256'
        if not CHALLENGE_RE.match(p.get('code_challenge', '')):
            return 'invalid_request', 'Missing or invalid code_challenge'
        if not p.get('scope'):
            return 'invalid_request', 'Missing required parameter: scope'
        if MAIL_SCOPE not in p['scope'].split(' '):
            return 'invalid_scope', 'The scope must include %s' % MAIL_SCOPE
        if p.get('access_type') != 'offline':
            return 'invalid_request', 'access_type must be offline (no refresh token otherwise)'
        if p.get('prompt') != 'consent':
            return 'invalid_request', 'prompt must be consent (no refresh token otherwise)'
        if not p.get('state'):
            return 'invalid_request', 'Missing required parameter: state'
        return None

    # ----------------------------------------------------------- /token
    def token(self, form, basic):
        """-> (status, dict). form: the parsed body (lists); basic:
        (id, secret) from an Authorization: Basic header or None."""
        self.count('token_requests')
        self.last_token = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        f = {k: v[0] for k, v in form.items()}
        grant = f.get('grant_type', '')
        if grant in ('authorization_code', 'refresh_token'):
            self.count('token_requests_' + grant)
        masked = {k: ('****' if k in ('client_secret', 'code', 'code_verifier',
                                      'refresh_token') else v) for k, v in f.items()}
        self.log('token %s%s' % (json.dumps(masked, sort_keys=True), ' (Basic)' if basic else ''))
        status, body = self.token_checked(form, f, basic, grant)
        if 'error' in body:
            self.count('token_errors')
        return status, body

    def token_checked(self, form, f, basic, grant):
        for k, v in form.items():
            if len(v) > 1:
                return 400, err('invalid_request', 'Parameter %s appears more than once' % k)
        if basic and ('client_id' in f and f['client_id'] != basic[0] or 'client_secret' in f):
            return 400, err('invalid_request', 'More than one client authentication method')
        cid, csecret = basic if basic else (f.get('client_id'), f.get('client_secret'))
        if cid != self.client_id:
            return 401, err('invalid_client', 'The OAuth client was not found.')
        if csecret != self.client_secret:
            return 401, err('invalid_client', 'Unauthorized')
        if grant == 'authorization_code':
            return self.grant_code(f, cid)
        if grant == 'refresh_token':
            return self.grant_refresh(f, cid)
        if not grant:
            return 400, err('invalid_request', 'Missing required parameter: grant_type')
        return 400, err('unsupported_grant_type', 'Invalid grant_type: %s' % grant)

    def grant_code(self, f, cid):
        for k in ('code', 'redirect_uri', 'code_verifier'):
            if not f.get(k):
                return 400, err('invalid_request', 'Missing required parameter: %s' % k)
        c = self.codes.get(f['code'])
        if c is None or c['exp'] < time.time() or c['client'] != cid:
            return 400, err('invalid_grant', 'Malformed auth code.')
        if c['used']:
            self.revoke(only_code=f['code'])
            return 400, err('invalid_grant', 'Bad Request')
        if f['redirect_uri'] != c['redirect_uri']:
            return 400, err('redirect_uri_mismatch', 'Bad Request')
        if b64url_sha256(f['code_verifier']) != c['challenge']:
            return 400, err('invalid_grant', 'Bad Request')
        c['used'] = True
        rt = '1//op-' + secrets.token_urlsafe(32)
        self.refresh[rt] = {'client': cid, 'scope': c['scope'], 'alive': True, 'code': f['code']}
        self.count('logins')
        return 200, {'access_token': self.new_access(rt), 'expires_in': self.ttl,
                     'refresh_token': rt, 'scope': c['scope'], 'token_type': 'Bearer'}

    def grant_refresh(self, f, cid):
        if not f.get('refresh_token'):
            return 400, err('invalid_request', 'Missing required parameter: refresh_token')
        r = self.refresh.get(f['refresh_token'])
        if r is None or not r['alive'] or r['client'] != cid:
            return 400, err('invalid_grant', EXPIRED)
        scope = r['scope']
        if f.get('scope'):
            if not set(f['scope'].split(' ')) <= set(scope.split(' ')):
                return 400, err('invalid_scope', 'Some requested scopes were invalid.')
            scope = f['scope']
        self.count('refreshes')
        return 200, {'access_token': self.new_access(f['refresh_token']),
                     'expires_in': self.ttl, 'scope': scope, 'token_type': 'Bearer'}


def err(code, text):
    return {'error': code, 'error_description': text}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'op-fake-oauth'
    sys_version = ''
    timeout = 30

    def setup(self):
        self.request.settimeout(self.timeout)
        self.request = self.server.ctx.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):     # D/log has our own lines
        pass

    def answer(self, status, body, ctype='text/plain; charset=utf-8', headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-cache, no-store, max-age=0, must-revalidate')
        self.send_header('Connection', 'close')
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_GET(self):
        path, _, query = self.path.partition('?')
        if path != '/auth':
            self.answer(404, 'Not Found\n')
            return
        p = self.server.provider
        with p.lock:
            status, location, page = p.authorize(query)
        self.answer(status, page, headers=[('Location', location)] if location else ())

    def do_POST(self):
        p = self.server.provider
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n) if 0 < n <= 1 << 20 else b''
        if self.path != '/token':
            self.answer(404, 'Not Found\n')
            return
        ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip().lower()
        if ctype != 'application/x-www-form-urlencoded':
            with p.lock:
                p.count('token_requests')
                p.count('token_errors')
                p.log('token: Content-Type %r' % ctype)
            self.json(400, err('invalid_request', 'Content-Type must be '
                               'application/x-www-form-urlencoded'))
            return
        try:
            form = urllib.parse.parse_qs(body.decode('utf-8'), keep_blank_values=True,
                                         strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            form = None
        basic = self.basic()
        with p.lock:
            if p.token_knob == 'hang':
                self.hang(p)
                return
            if p.token_knob == 'garbage':
                p.count('token_requests')
                p.count('garbage')
                p.log('token: garbage')
                garbage = True
            else:
                garbage = False
                if form is None or basic == 'bad':
                    p.count('token_requests')
                    p.count('token_errors')
                    status, reply = 400, err('invalid_request', 'Malformed request')
                else:
                    status, reply = p.token(form, basic)
        if garbage:
            self.answer(200, b'<html><body>Service Unavailable: try later</body>\n',
                        'application/json; charset=utf-8')
            return
        headers = [('WWW-Authenticate', 'Basic realm="op"')] if status == 401 and basic else []
        self.json(status, reply, headers)

    def hang(self, p):
        """Lock held. Waits for the knob to go (bounded), then closes the
        connection without answering."""
        p.count('token_requests')
        p.count('hung')
        p.log('token: hanging')
        end = time.monotonic() + HANG_MAX
        while p.token_knob == 'hang' and time.monotonic() < end:
            p.release.wait(1)
        p.log('token: hung request dropped')
        self.close_connection = True

    def basic(self):
        """(id, secret) from Authorization: Basic, None without, 'bad' if
        malformed."""
        h = self.headers.get('Authorization')
        if not h:
            return None
        scheme, _, cred = h.partition(' ')
        if scheme.lower() != 'basic':
            return 'bad'
        try:
            cid, colon, secret = base64.b64decode(cred.strip(), validate=True).decode(
                'utf-8').partition(':')
        except (binascii.Error, ValueError):
            return 'bad'
        if not colon:
            return 'bad'
        # RFC 6749 2.3.1: each part form-urlencoded before base64.
        return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)

    def json(self, status, obj, headers=()):
        self.answer(status, json.dumps(obj, indent=2) + '\n', 'application/json; charset=utf-8',
                    headers)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads, allow_reuse_address, request_queue_size = True, True, 64

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError, ValueError)):
            with self.provider.lock:
                self.provider.log('connection error: %s' % exc)
            return
        traceback.print_exc()


# ---------------------------------------------------------------- control

class Control:
    def __init__(self, provider):
        self.p = provider

    def run(self, req):
        cmd = str(req.get('cmd', ''))
        p = self.p
        with p.lock:
            if cmd in AUTH_KNOBS + TOKEN_KNOBS + ('ok',):
                p.set_knob(cmd)
                p.log('ctl %s' % cmd)
                return {'ok': True, 'value': cmd}
            f = getattr(self, 'c_' + cmd.replace('-', '_'), None)
            if f is None:
                return {'ok': False, 'error': 'unknown command %s' % cmd}
            p.log('ctl %s' % cmd)
            return dict(f(req), ok=True)

    def c_ping(self, req):
        return {'value': 'pong'}

    def c_revoke(self, req):
        self.p.revoke()
        return {'value': 'revoked'}

    def c_expire(self, req):
        self.p.expire()
        return {'value': 'expired'}

    def c_set(self, req):
        ttl = req.get('ttl')
        if type(ttl) is not int or ttl < 1:
            raise ValueError('set: ttl=N, N >= 1')
        self.p.ttl = ttl
        return {'value': ttl}

    def c_counters(self, req):
        return {'value': dict(self.p.counters)}

    def c_reset_counters(self, req):
        self.p.reset_counters()
        return {'value': 'reset'}

    def c_last_auth(self, req):
        return {'value': self.p.last_auth or {}}

    def c_last_token(self, req):
        return {'value': self.p.last_token or {}}

    def c_state(self, req):
        p, now = self.p, time.time()
        return {'value': {
            'auth_knob': p.auth_knob, 'token_knob': p.token_knob, 'ttl': p.ttl,
            'codes': len(p.codes), 'refresh_tokens': sum(v['alive'] for v in p.refresh.values()),
            'access_tokens': sum(v['exp'] > now for v in p.access.values())}}


class CtlHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            try:
                reply = self.server.control.run(json.loads(line))
            except (ValueError, AttributeError, TypeError) as e:
                reply = {'ok': False, 'error': 'bad request: %s' % e}
            self.wfile.write(json.dumps(reply).encode() + b'\n')
            self.wfile.flush()


class CtlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


# ------------------------------------------------------------------- main

def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def serve(a):
    provider = Provider(a)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.cert, a.key)
    srv = Server(('127.0.0.1', 0), Handler)
    srv.provider, srv.ctx = provider, ctx
    ctl = CtlServer(os.path.join(a.dir, 'ctl.sock'), CtlHandler)
    ctl.control = Control(provider)
    for x in (srv, ctl):
        threading.Thread(target=x.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    with provider.lock:
        provider.log('listening on https://127.0.0.1:%d (ttl %d)' % (port, a.ttl))
    with open(a.port_file + '.tmp', 'w') as fh:     # written last: it means "ready"
        fh.write('%d\n' % port)
    os.rename(a.port_file + '.tmp', a.port_file)
    start, parent = time.monotonic(), os.getppid()
    while time.monotonic() - start < a.max_lifetime and os.getppid() == parent and \
            (not a.parent_pid or pid_alive(a.parent_pid)):
        time.sleep(0.5)
    if a.cleanup_dir and os.path.abspath(a.cleanup_dir) == os.path.abspath(a.dir):
        shutil.rmtree(a.cleanup_dir, ignore_errors=True)
    os._exit(0)


def ctl_client(a):
    """Values parse as JSON when they can. Prints the reply's value (a dict
    as JSON), exit 1 with the error on stderr if refused."""
    req = {'cmd': a.command}
    for kv in a.params:
        k, _, v = kv.partition('=')
        try:
            req[k] = json.loads(v)
        except ValueError:
            req[k] = v
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(a.socket)
        sock.sendall(json.dumps(req).encode() + b'\n')
        buf = b''
        while not buf.endswith(b'\n'):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not reply.pop('ok', False):
        print('provider ctl %s: %s' % (a.command, reply.get('error')), file=sys.stderr)
        return 1
    v = reply.get('value')
    print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)
    return 0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browse(a):
    """The user's browser: GET URL (verified against --ca), which must
    answer 302; then GET its Location (the program's loopback server, plain
    http) and print that page's body. --no-follow prints the Location
    instead. Exit 0 if the last page was 2xx, 1 if it was another status,
    2 if the provider did not redirect or a connection failed."""
    ctx = ssl.create_default_context(cafile=a.ca)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
    try:
        r = opener.open(a.url, timeout=a.timeout)
        print('browse: %s answered %d, not a redirect' % (a.url, r.status), file=sys.stderr)
        sys.stderr.write(r.read().decode('utf-8', 'replace'))
        return 2
    except urllib.error.HTTPError as e:
        if e.code not in (301, 302, 303, 307):
            print('browse: the provider answered %d' % e.code, file=sys.stderr)
            sys.stderr.write(e.read().decode('utf-8', 'replace'))
            return 2
        location = e.headers.get('Location')
    except (OSError, ValueError) as e:
        print('browse: %s: %s' % (a.url, e), file=sys.stderr)
        return 2
    if a.no_follow:
        print(location)
        return 0
    try:
        with urllib.request.build_opener(NoRedirect).open(location, timeout=a.timeout) as r:
            sys.stdout.write(r.read().decode('utf-8', 'replace'))
            return 0
    except urllib.error.HTTPError as e:
        sys.stdout.write(e.read().decode('utf-8', 'replace'))
        print('browse: the loopback page answered %d' % e.code, file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print('browse: %s: %s' % (location, e), file=sys.stderr)
        return 2


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='mode', required=True)
    s = sub.add_parser('serve')
    for opt in ('--cert', '--key', '--dir', '--port-file'):
        s.add_argument(opt, required=True)
    s.add_argument('--client-id', default='op-client.apps.googleusercontent.com')
    s.add_argument('--client-secret', default='op-secret')
    s.add_argument('--ttl', type=int, default=3600)
    s.add_argument('--code-ttl', type=int, default=600)
    s.add_argument('--parent-pid', type=int)
    s.add_argument('--max-lifetime', type=float, default=3600)
    s.add_argument('--cleanup-dir')
    s.add_argument('knobs', nargs='*', metavar='KNOB', help=' '.join(AUTH_KNOBS + TOKEN_KNOBS))
    c = sub.add_parser('ctl')
    c.add_argument('socket')
    c.add_argument('command')
    c.add_argument('params', nargs='*')
    b = sub.add_parser('browse')
    b.add_argument('--ca', required=True)
    b.add_argument('--no-follow', action='store_true')
    b.add_argument('--timeout', type=float, default=10)
    b.add_argument('url')
    a = ap.parse_args()
    if a.mode == 'ctl':
        sys.exit(ctl_client(a))
    if a.mode == 'browse':
        sys.exit(browse(a))
    if a.ttl < 1:
        sys.exit('provider.py: --ttl must be >= 1')
    for k in a.knobs:
        if k not in AUTH_KNOBS + TOKEN_KNOBS + ('ok',):
            sys.exit('provider.py: unknown knob %s' % k)
    serve(a)


if __name__ == '__main__':
    main()
