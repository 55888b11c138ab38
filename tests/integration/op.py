"""A real OpenID Provider (npm `oidc-provider` 9.x under Node.js) for the
OIDC sign-in tests.

tests/integration/op/ holds the OP: package.json + package-lock.json (npm
`oidc-provider`) and server.js. `npm ci` runs there once, the first time a
test needs it (and again only when node_modules no longer matches the lock
file). Each OpenIdProvider is one `node server.js CONFIG PORT` process on
127.0.0.1 with issuer `http://127.0.0.1:PORT`, in a work dir of its own that
holds its config file (keys, clients, accounts) and its log.

    with OpenIdProvider(workdir) as op:                # or the oidc_op fixtures
        client = op.add_client(redirect_uris=[f"{rp}/oidc/callback"],
                               post_logout_redirect_uris=[f"{rp}/"])
        r = harness.get(rp_protected_url, session=s)  # RP redirects to op
        r = browser_login(s, r, "jane")               # 303 to redirect_uri?code=..
        r = harness.get(r.headers["Location"], session=s)   # the RP's callback
        ...
        op.rotate_keys()                               # new kids, same OP

What the OP does
  * discovery at /.well-known/openid-configuration; /auth, /token, /me
    (userinfo), /jwks, /session/end (end_session_endpoint).
  * authorization code flow only (response_type=code), PKCE S256 required
    (per client: add_client(require_pkce=False) lifts it), client
    authentication client_secret_basic or client_secret_post - strictly the
    registered one (plain oidc-provider would take either), ID tokens
    RS256 or ES256 (per client), no refresh tokens, no device flow, no PAR,
    no DPoP, no dynamic registration.
  * scopes openid profile email cip. The `cip` scope carries cip_upn,
    cip_sid, cip_oid, cip_email, displayName, firstName, lastName, cip_domain,
    cip_forest; profile: name, given_name, family_name, preferred_username;
    email: email, email_verified. An account has whichever of these its
    claims dict holds. conformIdTokenClaims is off, so the scopes' claims are
    in the ID token as well as at userinfo.
  * redirect URIs are matched exactly.

Login (what browser_login does; all plain GET/POST, no JavaScript):
  1. GET  AUTHORIZATION_URL                     -> 303 /interaction/UID
  2. GET  /interaction/UID                      -> 200 HTML: <form id="login"
     method="post" action="/interaction/UID/login"> with one text field
     `login`, and <form id="abort" action="/interaction/UID/abort">
  3. POST /interaction/UID/login  login=jane    -> 303 /auth/UID
     (unknown account: 200, the form again with <p id="error">)
  4. GET  /auth/UID                             -> 303 REDIRECT_URI?code=..
     &state=..&iss=..    (error=access_denied after step 3 on /abort)
  Consent is granted without asking. Shortcut for step 2+3:
  GET /interaction/UID?login=jane. When the OP already has a session for the
  browser (cookie `_session`), step 1 answers with the final redirect at once
  (no form: the session's account is used, whatever `login` says) unless the
  RP sends prompt=login or max_age.

RP-initiated logout (what follow_logout does):
  1. GET end_session_endpoint?id_token_hint=..&post_logout_redirect_uri=..
     &state=..  (or client_id= instead of id_token_hint)
                                  -> 200 HTML, one <form method="post"
     action="/session/end/confirm"> with hidden `xsrf` and `logout=yes` (a
     real browser submits it by script: no confirmation question)
  2. POST that form               -> 303 post_logout_redirect_uri?state=..
     (without a registered post_logout_redirect_uri: 303 to
     /session/end/success, a "Signed out" page)

Key rotation: rotate_keys() writes new keys into the config file and POSTs
/_test/reload (guarded by a random admin token); server.js builds a new
oidc-provider instance from the file and swaps it in. OP state (sessions,
interactions, codes, grants) lives in oidc-provider's in-memory adapter,
which the new instance shares: nothing is lost, and no restart happens.
add_client(), set_accounts() and set_options() use the same reload.
restart() really restarts the process (same port): every OP session ends.
"""
from __future__ import annotations

import atexit
import base64
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlencode, urljoin, urlsplit

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree, html

from harness import free_port

OP_DIR = Path(__file__).resolve().parent / "op"
NODE_BIN = shutil.which("node") or "/usr/bin/node"
NPM_BIN = shutil.which("npm") or "/usr/bin/npm"
MIN_NODE = (20, 12)          # oidc-provider 9 needs crypto.hash()
TIMEOUT = 15.0
NPM_TIMEOUT = 300
SCOPE = "openid profile email cip"

# login name = account id = `sub`
DEFAULT_ACCOUNTS: dict[str, dict] = {
    "jane": {
        "cip_upn": "jane@example.test",
        "cip_sid": "S-1-5-21-1111111111-2222222222-3333333333-1104",
        "cip_oid": "k6vKl3R1nUiJm5+8n1TnVw==",
        "cip_email": "jane@example.test",
        "cip_domain": "EXAMPLE",
        "cip_forest": "example.test",
        "displayName": "Jane Doe",
        "firstName": "Jane",
        "lastName": "Doe",
        "name": "Jane Doe",
        "given_name": "Jane",
        "family_name": "Doe",
        "email": "jane@example.test",
        "email_verified": True,
    },
    # no cip_upn / cip_sid: the RP must refuse the sign-in
    "nosid": {
        "displayName": "No Sid",
        "firstName": "No",
        "lastName": "Sid",
        "email": "nosid@example.test",
    },
    # a multi-valued claim (JSON array)
    "multi": {
        "cip_upn": ["multi@example.test", "multi2@example.test"],
        "cip_sid": "S-1-5-21-1111111111-2222222222-3333333333-1105",
        "cip_oid": "AAECAwQFBgcICQoLDA0ODw==",
        "cip_email": "multi@example.test",
        "displayName": "Multi Upn",
        "firstName": "Multi",
        "lastName": "Upn",
    },
}

_RUNNING: set["OpenIdProvider"] = set()


# ------------------------------------------------------------------ base64url / JWK
def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64u(n: int, length: int | None = None) -> str:
    length = length or max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(length, "big"))


def _b64u_int(text: str) -> int:
    return int.from_bytes(b64u_decode(text), "big")


@dataclasses.dataclass
class OpKey:
    """One signing key of the OP: `private_key` is a cryptography key object,
    `jwk` the private JWK given to the OP, `public_jwk` what /jwks shows."""
    kid: str
    alg: str
    private_key: object
    jwk: dict

    @property
    def public_jwk(self) -> dict:
        return {k: v for k, v in self.jwk.items()
                if k not in ("d", "p", "q", "dp", "dq", "qi")}


def make_key(alg: str = "RS256", kid: str | None = None) -> OpKey:
    """A fresh signing key: RS256 (RSA 2048) or ES256 (P-256)."""
    kid = kid or f"{alg.lower()}-{secrets.token_hex(4)}"
    if alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pn = key.private_numbers()
        jwk = {"kty": "RSA", "n": _int_b64u(pn.public_numbers.n),
               "e": _int_b64u(pn.public_numbers.e), "d": _int_b64u(pn.d),
               "p": _int_b64u(pn.p), "q": _int_b64u(pn.q), "dp": _int_b64u(pn.dmp1),
               "dq": _int_b64u(pn.dmq1), "qi": _int_b64u(pn.iqmp)}
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        pn = key.private_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _int_b64u(pn.public_numbers.x, 32),
               "y": _int_b64u(pn.public_numbers.y, 32), "d": _int_b64u(pn.private_value, 32)}
    else:
        raise ValueError(f"unsupported alg {alg!r} (RS256 or ES256)")
    jwk.update(kid=kid, alg=alg, use="sig")
    return OpKey(kid, alg, key, jwk)


def public_key_from_jwk(jwk: dict):
    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(_b64u_int(jwk["e"]), _b64u_int(jwk["n"])).public_key()
    if jwk["kty"] == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(
            _b64u_int(jwk["x"]), _b64u_int(jwk["y"]), ec.SECP256R1()).public_key()
    raise ValueError(f"unsupported JWK {jwk.get('kty')}/{jwk.get('crv')}")


# ------------------------------------------------------------------ JWT
def decode_jwt(token: str) -> tuple[dict, dict]:
    """(header, claims) of a JWS compact token, WITHOUT checking anything."""
    h, p, _ = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p))


def verify_jwt(token: str, jwks: dict) -> tuple[dict, dict]:
    """Check the signature of an RS256/ES256 JWS against the JWK Set `jwks`
    (key chosen by the header's kid); returns (header, claims) or raises
    AssertionError. Checks nothing but the signature."""
    header, claims = decode_jwt(token)
    signing_input, sig = token.rsplit(".", 1)[0].encode(), b64u_decode(token.rsplit(".", 1)[1])
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    assert keys, f"kid {header.get('kid')!r} not in JWKS {[k.get('kid') for k in jwks.get('keys', [])]}"
    pub = public_key_from_jwk(keys[0])
    try:
        if header.get("alg") == "RS256":
            pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif header.get("alg") == "ES256":
            assert len(sig) == 64, f"ES256 signature of {len(sig)} bytes"
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise AssertionError(f"unexpected alg {header.get('alg')!r}")
    except InvalidSignature:
        raise AssertionError(f"bad {header.get('alg')} signature (kid {header.get('kid')})") from None
    return header, claims


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = b64u(secrets.token_bytes(32))
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


# ------------------------------------------------------------------ npm / node
def _node_version() -> tuple[int, ...]:
    out = subprocess.run([NODE_BIN, "--version"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    return tuple(int(x) for x in re.findall(r"\d+", out)[:3])


def _node_modules_current() -> bool:
    """node_modules holds exactly what package-lock.json lists (npm's hidden
    lock file node_modules/.package-lock.json records what it installed)."""
    try:
        want = json.loads((OP_DIR / "package-lock.json").read_text())["packages"]
        have = json.loads((OP_DIR / "node_modules" / ".package-lock.json").read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return False
    want = {k: v.get("version") for k, v in want.items() if k}
    have = {k: v.get("version") for k, v in have.items() if k}
    return want == have and (OP_DIR / "node_modules" / "oidc-provider" / "package.json").is_file()


_NPM_READY = False


def ensure_node_modules() -> None:
    """`npm ci` in tests/integration/op unless node_modules already matches
    package-lock.json. Once per test session (and per machine while the lock
    file does not change); a file lock keeps parallel sessions apart."""
    global _NPM_READY
    if _NPM_READY:
        return
    for tool in (NODE_BIN, NPM_BIN):
        if not os.access(tool, os.X_OK):
            pytest.fail(f"{tool} not found: the OIDC tests need Node.js >= "
                        f"{MIN_NODE[0]}.{MIN_NODE[1]} with npm (bash tests/deps.sh test)",
                        pytrace=False)
    if _node_version() < MIN_NODE:
        pytest.fail(f"{NODE_BIN} is Node.js {'.'.join(map(str, _node_version()))}; "
                    f"npm oidc-provider 9 needs >= {MIN_NODE[0]}.{MIN_NODE[1]}",
                    pytrace=False)
    lock_path = Path(tempfile.gettempdir()) / "idbroker-op-npm-ci.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _node_modules_current():
            proc = subprocess.run(
                [NPM_BIN, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=OP_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT,
                env={**os.environ, "NPM_CONFIG_UPDATE_NOTIFIER": "false"})
            if proc.returncode != 0 or not _node_modules_current():
                pytest.fail(f"npm ci in {OP_DIR} failed (exit {proc.returncode}):\n"
                            f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}", pytrace=False)
    _NPM_READY = True


# ------------------------------------------------------------------ the OP
@dataclasses.dataclass
class OidcClient:
    """A client registered at the OP (`extra`: more oidc-provider client
    metadata, passed through as is)."""
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = dataclasses.field(default_factory=list)
    token_endpoint_auth_method: str = "client_secret_basic"
    id_token_signed_response_alg: str = "RS256"
    require_pkce: bool = True
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def config(self) -> dict:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "redirect_uris": list(self.redirect_uris),
                "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
                "token_endpoint_auth_method": self.token_endpoint_auth_method,
                "id_token_signed_response_alg": self.id_token_signed_response_alg,
                "require_pkce": self.require_pkce, **self.extra}


@dataclasses.dataclass
class AuthRequest:
    """An authorization request built by OpenIdProvider.auth_request()."""
    url: str
    client: OidcClient
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def _write(path: Path, data: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


class OpenIdProvider:
    """One oidc-provider OP (`node op/server.js`) on 127.0.0.1:`port` (free
    port by default), work dir `workdir` (config.json, op.log).

    keys:      algorithms of the initial signing keys (one fresh key each;
               the first RS256 key signs RS256 ID tokens, the first ES256
               key ES256 ones), or OpKey objects.
    clients:   OidcClient objects or add_client() keyword dicts.
    accounts:  {login: claims}; DEFAULT_ACCOUNTS if None.
    id_token_ttl / access_token_ttl / code_ttl: seconds.
    clock_offset: seconds added to the OP's clock (iat, exp, auth_time).
    """

    def __init__(self, workdir: Path, *, port: int | None = None,
                 keys=("RS256", "ES256"), clients=(), accounts: dict | None = None,
                 id_token_ttl: int = 3600, access_token_ttl: int = 3600,
                 code_ttl: int = 60, clock_offset: int = 0):
        self.workdir = _mkdir(Path(workdir))
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self.config_path = self.workdir / "config.json"
        self.log_path = self.workdir / "op.log"
        self.admin_token = secrets.token_urlsafe(24)
        self.cookie_keys = [secrets.token_urlsafe(32)]
        self.keys: list[OpKey] = [k if isinstance(k, OpKey) else make_key(k) for k in keys]
        self.clients: dict[str, OidcClient] = {}
        self.accounts: dict[str, dict] = dict(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self.options = {"id_token_ttl": id_token_ttl, "access_token_ttl": access_token_ttl,
                        "code_ttl": code_ttl, "clock_offset": clock_offset}
        self.discovery: dict = {}
        self._proc: subprocess.Popen | None = None
        for c in clients:
            if isinstance(c, OidcClient):
                self.add_client(c)
            else:
                self.add_client(**c)
        self._write_config()

    # ------------------------------------------------------------ endpoints
    @property
    def authorization_endpoint(self) -> str:
        return self.discovery.get("authorization_endpoint", f"{self.issuer}/auth")

    @property
    def token_endpoint(self) -> str:
        return self.discovery.get("token_endpoint", f"{self.issuer}/token")

    @property
    def userinfo_endpoint(self) -> str:
        return self.discovery.get("userinfo_endpoint", f"{self.issuer}/me")

    @property
    def jwks_uri(self) -> str:
        return self.discovery.get("jwks_uri", f"{self.issuer}/jwks")

    @property
    def end_session_endpoint(self) -> str:
        return self.discovery.get("end_session_endpoint", f"{self.issuer}/session/end")

    def jwks(self) -> dict:
        """The JWK Set the OP serves now."""
        r = self._http().get(self.jwks_uri, timeout=10)
        r.raise_for_status()
        return r.json()

    @property
    def kids(self) -> list[str]:
        """kids of the configured keys, in order (signing keys first)."""
        return [k.kid for k in self.keys]

    # ------------------------------------------------------------ config
    def _write_config(self) -> None:
        _write(self.config_path, json.dumps({
            "port": self.port,
            "issuer": self.issuer,
            "admin_token": self.admin_token,
            "cookie_keys": self.cookie_keys,
            "keys": [k.jwk for k in self.keys],
            "clients": [c.config() for c in self.clients.values()],
            "accounts": self.accounts,
            **self.options,
        }, indent=1))

    def _apply(self) -> None:
        self._write_config()
        if self.running:
            self.reload()

    def reload(self) -> None:
        """Make the running OP re-read its config file (no restart, OP
        sessions kept)."""
        r = self._http().post(f"{self.issuer}/_test/reload", timeout=10,
                              headers={"Authorization": f"Bearer {self.admin_token}"})
        if r.status_code != 200:
            self._fail(f"refused the new config ({r.status_code} {r.text[:300]})")

    def add_client(self, client: OidcClient | None = None, *, client_id: str | None = None,
                   redirect_uris=(), client_secret: str | None = None,
                   post_logout_redirect_uris=(),
                   token_endpoint_auth_method: str = "client_secret_basic",
                   id_token_signed_response_alg: str = "RS256",
                   require_pkce: bool = True, **extra) -> OidcClient:
        """Register a client (replacing one with the same client_id); live
        on a running OP. client_id defaults to clientN, client_secret to a
        random one; `extra` is more oidc-provider client metadata."""
        if client is None:
            if not redirect_uris:
                raise ValueError("redirect_uris required")
            client = OidcClient(
                client_id=client_id or f"client{len(self.clients) + 1}",
                client_secret=client_secret or secrets.token_urlsafe(24),
                redirect_uris=list(redirect_uris),
                post_logout_redirect_uris=list(post_logout_redirect_uris),
                token_endpoint_auth_method=token_endpoint_auth_method,
                id_token_signed_response_alg=id_token_signed_response_alg,
                require_pkce=require_pkce, extra=dict(extra))
        self.clients[client.client_id] = client
        self._apply()
        return client

    def remove_client(self, client_id: str) -> None:
        del self.clients[client_id]
        self._apply()

    def set_accounts(self, accounts: dict[str, dict]) -> None:
        """Replace the accounts: {login: claims}. Live on a running OP."""
        self.accounts = dict(accounts)
        self._apply()

    def add_account(self, login: str, claims: dict) -> None:
        self.accounts[login] = dict(claims)
        self._apply()

    def set_options(self, **options) -> None:
        """Change id_token_ttl / access_token_ttl / code_ttl (seconds) or
        clock_offset (seconds added to the OP's clock). Live."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}")
        self.options.update(options)
        self._apply()

    def set_keys(self, keys, *, keep_old: bool = False) -> list[str]:
        """Replace the signing keys by `keys` (algs or OpKey objects). With
        keep_old the previous keys stay in the JWKS (after the new ones, so
        they verify but no longer sign). Live, no restart; returns the new
        kids."""
        new = [k if isinstance(k, OpKey) else make_key(k) for k in keys]
        self.keys = new + (self.keys if keep_old else [])
        self._apply()
        return [k.kid for k in new]

    def rotate_keys(self, algs=None, *, keep_old: bool = False) -> list[str]:
        """New keys for the same algorithms (or `algs`), see set_keys."""
        if algs is None:
            algs = list(dict.fromkeys(k.alg for k in self.keys))
        return self.set_keys(algs, keep_old=keep_old)

    def signing_key(self, alg: str = "RS256") -> OpKey:
        """The key the OP signs `alg` ID tokens with now."""
        return next(k for k in self.keys if k.alg == alg)

    # ------------------------------------------------------------ python RP
    def auth_request(self, client: OidcClient, *, scope: str = SCOPE,
                     redirect_uri: str | None = None, **params) -> AuthRequest:
        """An authorization request URL with fresh state, nonce and PKCE
        S256 (params add/override query parameters; None drops one)."""
        verifier, challenge = pkce_pair()
        redirect_uri = redirect_uri or client.redirect_uri
        q = {"response_type": "code", "client_id": client.client_id,
             "redirect_uri": redirect_uri, "scope": scope,
             "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
             "code_challenge": challenge, "code_challenge_method": "S256", **params}
        q = {k: v for k, v in q.items() if v is not None}
        return AuthRequest(f"{self.authorization_endpoint}?{urlencode(q)}", client,
                           redirect_uri, q.get("state"), q.get("nonce"), verifier)

    def exchange_code(self, client: OidcClient, code: str, code_verifier: str | None, *,
                      redirect_uri: str | None = None, auth_method: str | None = None,
                      client_secret: str | None = None) -> requests.Response:
        """POST the token request; auth_method defaults to the client's."""
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri or client.redirect_uri}
        if code_verifier is not None:
            data["code_verifier"] = code_verifier
        secret = client.client_secret if client_secret is None else client_secret
        headers = {}
        if (auth_method or client.token_endpoint_auth_method) == "client_secret_post":
            data.update(client_id=client.client_id, client_secret=secret)
        else:   # RFC 6749 2.3.1: id and secret form-urlencoded, then Basic
            pair = f"{quote_plus(client.client_id)}:{quote_plus(secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return self._http().post(self.token_endpoint, data=data, headers=headers, timeout=10)

    def verify_id_token(self, id_token: str, client: OidcClient,
                        nonce: str | None = None) -> dict:
        """Claims of an ID token after checking its signature (current JWKS),
        iss, aud, exp and, if given, nonce."""
        header, claims = verify_jwt(id_token, self.jwks())
        assert header["alg"] == client.id_token_signed_response_alg, header
        assert claims["iss"] == self.issuer, claims
        aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        assert client.client_id in aud, claims
        assert claims["exp"] > time.time() - 60, claims
        if nonce is not None:
            assert claims.get("nonce") == nonce, claims
        return claims

    # ------------------------------------------------------------ process
    def _http(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        return s

    def log(self) -> str:
        """The OP's log: one line per request and per OP event/error."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _fail(self, what: str):
        tail = "\n".join(self.log().splitlines()[-40:])
        raise RuntimeError(f"OpenID Provider {what} (port {self.port}, {self.workdir})\n{tail}")

    def start(self) -> "OpenIdProvider":
        if self._proc is not None:
            return self
        ensure_node_modules()
        self._write_config()
        log = open(self.log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                [NODE_BIN, str(OP_DIR / "server.js"), str(self.config_path), str(self.port)],
                cwd=OP_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C", "TZ": "UTC",
                     "HOME": str(self.workdir)},
                start_new_session=True)
        finally:
            log.close()
        _RUNNING.add(self)
        deadline = time.monotonic() + TIMEOUT
        with self._http() as s:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    self.stop()
                    self._fail("exited right after start")
                try:
                    r = s.get(self.discovery_url, timeout=2)
                    if r.status_code == 200:
                        self.discovery = r.json()
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
        self.stop()
        self._fail(f"discovery not served within {TIMEOUT:.0f}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def restart(self) -> "OpenIdProvider":
        """Stop and start again on the same port: all OP sessions, codes
        and grants are gone (in-memory state)."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "OpenIdProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for op in list(_RUNNING):
        op.stop()


# ------------------------------------------------------------------ browser
def _request(session: requests.Session, method: str, url: str, **kw) -> requests.Response:
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 10)
    return session.request(method, url, **kw)


def find_form(response: requests.Response, field: str):
    """(action URL, method, {name: value}) of the first form of the page
    that has an input named `field`, or None."""
    if not response.content or b"<form" not in response.content:
        return None
    try:
        doc = html.fromstring(response.content)
    except (etree.ParserError, ValueError):
        return None
    for form in doc.forms:
        if field in {i.get("name") for i in form.inputs if i.get("name")}:
            return (urljoin(response.url, form.get("action") or response.url),
                    (form.get("method") or "get").lower(), dict(form.form_values()))
    return None


def _start(session, start) -> requests.Response:
    if isinstance(start, str):
        return _request(session, "GET", start)
    if start.is_redirect:
        return _request(session, "GET", urljoin(start.url, start.headers["Location"]))
    raise AssertionError(f"not a redirect to the OP: {start.status_code} {start.url} "
                         f"{start.text[:300]!r}")


def browser_login(session: requests.Session, authorization_response, login: str, *,
                  deny: bool = False, max_steps: int = 10) -> requests.Response:
    """Play the browser at the OP for a sign-in.

    `authorization_response` is the RP's 3xx to the OP's authorization
    endpoint (or that URL as a string). Follows it, the OP's own redirects
    and fills in the login form with `login` (POST /interaction/UID/login;
    with deny=True the Cancel form instead: error=access_denied). Returns
    the first response that leaves the OP - normally the 303 to the RP's
    redirect_uri?code=..&state=..&iss=.. - WITHOUT following it. If the
    OP's answer is a page instead (error page, the login form again after an
    unknown login, or a response_mode=form_post page), that page is
    returned. With an existing OP session there is no form and the session's
    account signs in whatever `login` says.
    """
    r = _start(session, authorization_response)
    op_host = urlsplit(r.url).netloc
    submitted = False
    for _ in range(max_steps):
        if r.is_redirect:
            url = urljoin(r.url, r.headers["Location"])
            if urlsplit(url).netloc != op_host:
                return r
            r = _request(session, "GET", url)
            continue
        auto = find_form(r, "xsrf")
        if auto is not None and urlsplit(auto[0]).netloc == op_host:
            # the OP's own auto-submit form: signing in as another account
            # ends the OP session of the previous one first
            r = _request(session, "POST", auto[0], data=auto[2])
            continue
        form = find_form(r, "login")
        if form is None or submitted:
            return r
        action, _method, fields = form
        if deny:
            action = re.sub(r"/login$", "/abort", action)
            fields = {}
        else:
            fields["login"] = login
        r = _request(session, "POST", action, data=fields)
        submitted = True
    raise AssertionError(f"OP did not finish within {max_steps} steps; last: "
                         f"{r.status_code} {r.url}")


def follow_logout(session: requests.Session, logout_response, *,
                  max_steps: int = 10) -> requests.Response:
    """Play the browser at the OP for RP-initiated logout.

    `logout_response` is the RP's 3xx to the OP's end_session_endpoint (or
    that URL). Follows it, POSTs the OP's logout form (xsrf + logout=yes)
    and returns the first response leaving the OP - the 303 to
    post_logout_redirect_uri?state=.. - WITHOUT following it; or the OP's
    final page ("Signed out" without a post_logout_redirect_uri, or an error
    page: see error_text()).
    """
    r = _start(session, logout_response)
    op_host = urlsplit(r.url).netloc
    submitted = False
    for _ in range(max_steps):
        if r.is_redirect:
            url = urljoin(r.url, r.headers["Location"])
            if urlsplit(url).netloc != op_host:
                return r
            r = _request(session, "GET", url)
            continue
        form = find_form(r, "xsrf")
        if form is None or submitted:
            return r
        action, _method, fields = form
        fields["logout"] = "yes"
        r = _request(session, "POST", action, data=fields)
        submitted = True
    raise AssertionError(f"OP did not finish within {max_steps} steps; last: "
                         f"{r.status_code} {r.url}")


def redirect_params(response: requests.Response) -> dict[str, str]:
    """Query parameters of a redirect's Location (code, state, iss, error..)."""
    query = urlsplit(response.headers["Location"]).query
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


def error_text(response: requests.Response) -> str:
    """Text of an OP error page ("error: invalid_request\\nerror_description: ..")."""
    try:
        doc = html.fromstring(response.content)
    except (etree.ParserError, ValueError):
        return response.text
    return "\n".join(p.text_content() for p in doc.xpath("//pre")) or doc.text_content()


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def oidc_op_factory(request):
    """Callable `(**OpenIdProvider kwargs) -> started OpenIdProvider`. Work
    dirs live under a fresh dir in /tmp; all OPs are stopped at teardown; the
    dir is removed unless the test failed or IDBROKER_KEEP_WORKDIR is set.
    Use from a test module with `from op import oidc_op, oidc_op_factory`."""
    base = Path(tempfile.mkdtemp(prefix="idbroker-op-", dir="/tmp"))
    base.chmod(0o755)
    made: list[OpenIdProvider] = []

    def make(**kw) -> OpenIdProvider:
        op = OpenIdProvider(base / f"op{len(made)}", **kw)
        made.append(op)
        return op.start()

    yield make
    for op in made:
        op.stop()
    rep = getattr(request.node, "rep_call", None)
    if (rep is None or rep.failed) or os.environ.get("IDBROKER_KEEP_WORKDIR"):
        print(f"\nOP work dir kept: {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def oidc_op(oidc_op_factory) -> OpenIdProvider:
    """A started OP with RS256 + ES256 keys, DEFAULT_ACCOUNTS, no clients."""
    return oidc_op_factory()
