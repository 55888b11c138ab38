"""A hostile OpenID Provider of our own, for the OIDC tests the real OP
(op.py) cannot play: it serves whatever ID token a test crafts.

One FakeOp is a python ThreadingHTTPServer on 127.0.0.1 (a free port) with

    GET  /.well-known/openid-configuration   discovery (`discovery_overrides`
                                              change or drop (None) fields;
                                              `discovery_status` != 200 fails it)
    GET  /jwks                                {"keys": [k.public_jwk for k in jwks]}
                                              (`jwks_status` != 200 fails it,
                                              after `jwks_delay` seconds)
    GET  /authorize                           records the request and 303s at
                                              once to redirect_uri?code=..&state=..
                                              (the state it received)
    POST /token                               {"id_token": .., "access_token": ..,
                                              "token_type": "Bearer"}; the ID token
                                              is `id_token(auth)` - by default
                                              sign(claims(auth)) - or the whole
                                              answer `token_reply(auth)` ->
                                              (status, JSON object)
    GET  /userinfo                            `userinfo(auth)` -> JSON object
                                              (default: sub and jane's claims)
    GET  /end_session                         200 "signed out"

`auth` is the authorization request's query (client_id, redirect_uri, state,
nonce, code_challenge, ...) of the code being redeemed. Nothing here checks
the client: the fake is the attacker, the module under test the victim.

`hits` counts requests per path; `requests` lists (method, path, query or
form, headers). Helpers build JWTs by hand (base64url JSON, RS256/ES256 with
`cryptography`): sign(), unsigned() (alg none), hmac() (HS256).

    with FakeOp() as fop:                 # or the fake_op fixture
        fop.id_token = lambda auth: fop.sign(fop.claims(auth, iss="other"))
"""
from __future__ import annotations

import hashlib
import hmac as _hmac
import json
import secrets
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from op import DEFAULT_ACCOUNTS, OpKey, b64u, make_key

JANE = DEFAULT_ACCOUNTS["jane"]


def _json_b64u(obj: dict) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def sign_jwt(claims: dict, key: OpKey, header: dict | None = None) -> str:
    """A JWS compact token over `claims`, signed with `key` (RS256 or ES256);
    `header` adds to / overrides {"alg", "kid", "typ"} (None drops one)."""
    h = {"alg": key.alg, "kid": key.kid, "typ": "JWT", **(header or {})}
    h = {k: v for k, v in h.items() if v is not None}
    signing_input = f"{_json_b64u(h)}.{_json_b64u(claims)}".encode()
    if key.alg == "RS256":
        sig = key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif key.alg == "ES256":
        r, s = decode_dss_signature(key.private_key.sign(signing_input,
                                                         ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(key.alg)
    return f"{signing_input.decode()}.{b64u(sig)}"


class FakeOp:
    def __init__(self, *, issuer: str | None = None, client_id: str = "rp-client"):
        self.hits: Counter = Counter()
        self.requests: list[tuple] = []
        self.codes: dict[str, dict] = {}
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(24)
        self.key = make_key("RS256")
        self.es_key = make_key("ES256")
        self.jwks: list[OpKey] = [self.key, self.es_key]
        self.jwks_status = 200
        self.jwks_delay = 0.0       # seconds /jwks takes to answer
        self.discovery_status = 200
        self.discovery_overrides: dict = {}
        self.redirect_extra: dict = {}  # more parameters of the redirect back (iss, error)
        self.id_token = None        # callable(auth) -> str
        self.token_reply = None     # callable(auth) -> (status, dict)
        self.userinfo = None        # callable(auth) -> dict
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.issuer = issuer or self.base
        self.discovery_url = f"{self.base}/.well-known/openid-configuration"
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ tokens
    def claims(self, auth: dict, **overrides) -> dict:
        """Good claims for the authorization request `auth` (jane, 5 min);
        overrides replace claims, a None value drops one."""
        now = int(time.time())
        c = {"iss": self.issuer, "sub": "jane", "aud": self.client_id, "iat": now,
             "exp": now + 300, "nonce": auth.get("nonce"), **JANE}
        c.update(overrides)
        return {k: v for k, v in c.items() if v is not None}

    def sign(self, claims: dict, key: OpKey | None = None, header: dict | None = None) -> str:
        return sign_jwt(claims, key or self.key, header)

    @staticmethod
    def unsigned(claims: dict) -> str:
        """alg none, empty signature."""
        return f"{_json_b64u({'alg': 'none', 'typ': 'JWT'})}.{_json_b64u(claims)}."

    @staticmethod
    def hmac(claims: dict, secret: bytes, kid: str | None = None) -> str:
        """HS256 with `secret` as the HMAC key."""
        h = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
        signing_input = f"{_json_b64u(h)}.{_json_b64u(claims)}".encode()
        return f"{signing_input.decode()}.{b64u(_hmac.new(secret, signing_input, hashlib.sha256).digest())}"

    def discovery(self) -> dict:
        d = {"issuer": self.issuer,
             "authorization_endpoint": f"{self.base}/authorize",
             "token_endpoint": f"{self.base}/token",
             "userinfo_endpoint": f"{self.base}/userinfo",
             "jwks_uri": f"{self.base}/jwks",
             "end_session_endpoint": f"{self.base}/end_session",
             "response_types_supported": ["code"],
             "subject_types_supported": ["public"],
             "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        d.update(self.discovery_overrides)
        return {k: v for k, v in d.items() if v is not None}

    # ------------------------------------------------------------ server
    def _handler_class(self):
        fop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):       # quiet
                pass

            def _send(self, status: int, body, ctype="application/json", headers=None):
                data = (json.dumps(body) if not isinstance(body, (str, bytes)) else body)
                data = data.encode() if isinstance(data, str) else data
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _record(self, params: dict):
                path = urlsplit(self.path).path
                with fop._lock:
                    fop.hits[path] += 1
                    fop.requests.append((self.command, path, params, dict(self.headers)))
                return path

            def do_GET(self):
                u = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
                path = self._record(q)
                if path == "/.well-known/openid-configuration":
                    if fop.discovery_status != 200:
                        return self._send(fop.discovery_status, {"error": "server_error"})
                    return self._send(200, fop.discovery())
                if path == "/jwks":
                    time.sleep(fop.jwks_delay)
                    if fop.jwks_status != 200:
                        return self._send(fop.jwks_status, {"error": "server_error"})
                    return self._send(200, {"keys": [k.public_jwk for k in list(fop.jwks)]})
                if path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    with fop._lock:
                        fop.codes[code] = q
                    back = f"{q.get('redirect_uri', '')}?" + urlencode(
                        {"code": code, "state": q.get("state", ""), **fop.redirect_extra})
                    return self._send(303, "", "text/plain", {"Location": back})
                if path == "/userinfo":
                    auth = fop.codes.get(self._bearer_code(), {})
                    body = (fop.userinfo(auth) if fop.userinfo
                            else {"sub": "jane", **JANE})
                    return self._send(200, body)
                if path == "/end_session":
                    return self._send(200, "signed out", "text/plain")
                return self._send(404, {"error": "not_found"})

            def _bearer_code(self) -> str:
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else ""

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode(),
                                                     keep_blank_values=True).items()}
                path = self._record(form)
                if path != "/token":
                    return self._send(404, {"error": "not_found"})
                auth = fop.codes.get(form.get("code", ""))
                if auth is None:
                    return self._send(400, {"error": "invalid_grant"})
                if fop.token_reply is not None:
                    status, body = fop.token_reply(auth)
                    return self._send(status, body)
                id_token = (fop.id_token(auth) if fop.id_token
                            else fop.sign(fop.claims(auth)))
                # the access token is the code: /userinfo finds the sign-in by it
                return self._send(200, {"id_token": id_token, "access_token": form["code"],
                                        "token_type": "Bearer", "expires_in": 300})

        return Handler

    def token_requests(self) -> list[tuple]:
        return [r for r in self.requests if r[1] == "/token"]

    def start(self) -> "FakeOp":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "FakeOp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def fake_op_factory():
    """Callable `(**FakeOp kwargs) -> started FakeOp`; all stopped at teardown."""
    made: list[FakeOp] = []

    def make(**kw) -> FakeOp:
        f = FakeOp(**kw)
        made.append(f)
        return f.start()

    yield make
    for f in made:
        f.stop()


@pytest.fixture
def fake_op(fake_op_factory) -> FakeOp:
    return fake_op_factory()
