"""OpenID Connect sign-in against a real OpenID Provider (npm oidc-provider,
tests/integration/op.py): the portal gets the same identity as with SAML.
The rules a well-behaved OP never breaks are tested against a hostile OP of
our own (tests/integration/fake_op.py) that serves crafted ID tokens."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from acs_fixture import ATTR_ERROR, CANCELLED, GENERIC, SESSION_COOKIE, TXID_RE
from fake_op import FakeOp, fake_op, fake_op_factory  # noqa: F401
from harness import TIMEOUT_SCALE, Httpd, get, post
from op import (browser_login, find_form, follow_logout, make_key, oidc_op,  # noqa: F401
                oidc_op_factory)
from tenants import TenantDir, tenant_conf

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("IDBROKER_TENANT_CLI") or str(REPO / "idbroker-tenant")
UNAVAILABLE = "Sign-in Is Unavailable"
# what tests/integration/test_signin_ssp.py asserts for jane over SAML
JANE_SID = "S-1-5-21-1111111111-2222222222-3333333333-1104"
JANE_OID = "97caab93-7574-489d-899b-9fbc9f54e757"     # canonical form of k6vKl3R1nUiJm5+8n1TnVw==

PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
    IdBrokerHeaderPrefix X-IdBroker-
    Header always set X-Echo-User "expr=%{{REMOTE_USER}}"
    Header always set X-Echo-SID "expr=%{{ENV:IDBROKER_cip_sid}}"
    Header always set X-Echo-OID "expr=%{{ENV:IDBROKER_cip_oid}}"
    Header always set X-Echo-Name "expr=%{{req:X-IdBroker-displayName}}"
    Header always set X-Echo-Protocol "expr=%{{ENV:IDBROKER_protocol}}"
    Header always set X-Echo-Tenant "expr=%{{ENV:IDBROKER_tenant}}"
</Location>
Alias /portal {htdocs}/portal
"""


def start_rp(httpd, *, issuer, client_id, client_secret, auth="client_secret_basic",
             app_extra="", tenant_extra="", start=True):
    """Configure (and start) `httpd` with tenant acme whose primary app is an
    OIDC connection; returns (base URL, tenants dir)."""
    base = f"http://127.0.0.1:{httpd.port}"
    td = TenantDir(httpd.workdir / "tenants.d")
    secret = td.root / "client.secret"
    secret.write_text(client_secret + "\n")
    secret.chmod(0o600)
    lines = (f"        IdBrokerOIDCIssuer {issuer}\n"
             f"        IdBrokerOIDCClientID {client_id}\n"
             f"        IdBrokerOIDCClientSecret file:{secret}\n"
             f"        IdBrokerOIDCScopes openid profile email cip\n"
             f"        IdBrokerOIDCClientAuth {auth}\n" + app_extra)
    td.write("acme.conf", tenant_conf("acme", base, td.key, td.cert, app_extra=lines,
                                      tenant_extra=tenant_extra))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755)
    (portal / "index.html").write_text("portal page\n")
    httpd.write_config(td.include() + PORTAL.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user", "headers"])
    if start:
        httpd.start()
    return base, td


def rp(httpd_factory, module_path, op, *, auth="client_secret_basic", alg="RS256",
       app_extra="", tenant_extra="", op_auth=None, client_secret=None):
    """httpd + a client registered at the real OP. op_auth: the method the OP
    expects (default: `auth`); client_secret: what the RP is given (default:
    the registered one)."""
    httpd = httpd_factory(module_path)
    base = f"http://127.0.0.1:{httpd.port}"
    client = op.add_client(redirect_uris=[f"{base}/oidc/callback"],
                           post_logout_redirect_uris=[f"{base}/"],
                           token_endpoint_auth_method=op_auth or auth,
                           id_token_signed_response_alg=alg)
    start_rp(httpd, issuer=op.issuer, client_id=client.client_id,
             client_secret=client_secret or client.client_secret, auth=auth,
             app_extra=app_extra, tenant_extra=tenant_extra)
    return httpd, base, client


def browser(keep_alive: bool = True) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    if not keep_alive:
        # a browser retries a request whose reused connection the server
        # closed meanwhile; requests does not: no reuse under load
        s.headers["Connection"] = "close"
    return s


def wait_for(pattern: str, read, timeout: float = 3.0) -> str:
    """`read()` (a log) once it matches `pattern` (logs are written after
    the response went out)."""
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        if re.search(pattern, text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def sign_in(base, user="jane", session=None, deny=False):
    s = session or browser()
    start = get(base + "/portal/index.html", session=s)
    assert start.status_code == 303, start.text
    back = browser_login(s, start, user, deny=deny)
    assert back.status_code in (302, 303), back.text
    return s, get(back.headers["Location"], session=s)


def tail(httpd, n=8) -> str:
    return "\n".join(httpd.error_log().splitlines()[-n:])


def assert_signed_in(httpd, base, s, cb, user="jane@example.test") -> requests.Response:
    assert cb.status_code == 303, (cb.status_code, cb.text, tail(httpd))
    assert cb.headers["Location"] == "/portal/index.html"
    page = get(base + "/portal/index.html", session=s)
    assert page.status_code == 200 and page.text == "portal page\n", (page.status_code,
                                                                      tail(httpd))
    assert page.headers["X-Echo-User"] == user
    return page


def assert_refused(httpd, resp, reasons, *, status=403, title=GENERIC) -> str:
    """An error page with a Transaction ID that the error log has with every
    one of `reasons`; no session cookie."""
    assert resp.status_code == status, (resp.status_code, resp.text, tail(httpd))
    assert f"<title>{title}</title>" in resp.text, resp.text
    m = TXID_RE.search(resp.text)
    assert m, resp.text
    lines = [ln for ln in httpd.error_log().splitlines() if f"txid={m.group(1)} " in ln]
    assert lines, f"txid={m.group(1)} not in error.log:\n{tail(httpd)}"
    for frag in [reasons] if isinstance(reasons, str) else reasons:
        assert any(frag in ln for ln in lines), (frag, lines)
    assert not any(v.startswith(SESSION_COOKIE + "=") and not v.startswith(SESSION_COOKIE + "=;")
                   for v in resp.raw.headers.getlist("Set-Cookie")), resp.headers
    return m.group(1)


def portal_with(base, cookie) -> requests.Response:
    return get(base + "/portal/index.html", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})


def op_shows_login_form(s, start) -> bool:
    """Follow the RP's redirect at the OP: True if the OP asks for a login,
    False if it sends the browser straight back (an OP session exists)."""
    r = get(start.headers["Location"], session=s)
    host = urlsplit(r.url).netloc
    for _ in range(6):
        if not r.is_redirect:
            return find_form(r, "login") is not None
        url = requests.compat.urljoin(r.url, r.headers["Location"])
        if urlsplit(url).netloc != host:
            return False
        r = get(url, session=s)
    raise AssertionError("OP redirect loop")


# ======================================================== against the real OP

@pytest.mark.parametrize("auth,alg", [("client_secret_basic", "RS256"),
                                      ("client_secret_post", "ES256")])
def test_oidc_sign_in_gives_the_portal_the_saml_identity(httpd_factory, module_path, oidc_op,
                                                         auth, alg):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op, auth=auth, alg=alg)
    s, cb = sign_in(base)
    assert cb.status_code == 303, (cb.status_code, cb.text, httpd.error_log()[-3000:])
    assert cb.headers["Location"] == "/portal/index.html"
    page = get(base + "/portal/index.html", session=s)
    assert page.status_code == 200 and page.text == "portal page\n"
    assert page.headers["X-Echo-User"] == "jane@example.test"
    assert page.headers["X-Echo-Protocol"] == "oidc"


def test_tenant_switched_to_oidc_gives_the_same_identity_headers(httpd_factory, module_path,
                                                                  oidc_op):
    """The values test_signin_ssp.py asserts for jane over SAML: SID as is,
    the Base64 objectGUID in its canonical GUID form, displayName."""
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op)
    s, cb = sign_in(base)
    page = assert_signed_in(httpd, base, s, cb)
    assert page.headers["X-Echo-SID"] == JANE_SID
    assert page.headers["X-Echo-OID"] == JANE_OID
    assert page.headers["X-Echo-Name"] == "Jane Doe"
    assert page.headers["X-Echo-Tenant"] == "acme"
    assert page.headers["X-Echo-Protocol"] == "oidc"


def test_userinfo_on_calls_the_userinfo_endpoint(httpd_factory, module_path, oidc_op):
    # oidc-provider puts the scopes' claims in the ID token too (op.py), so
    # what userinfo adds is not visible here: see the fake-OP test below.
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op,
                        app_extra="        IdBrokerOIDCUserinfo On\n")
    s, cb = sign_in(base)
    assert_signed_in(httpd, base, s, cb)
    log = wait_for(r"(GET|POST) /me -> 200", oidc_op.log)
    assert re.search(r"(GET|POST) /me -> 200", log), log[-2000:]


def test_userinfo_off_does_not_call_it(httpd_factory, module_path, oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op)
    s, cb = sign_in(base)
    assert_signed_in(httpd, base, s, cb)
    wait_for(r"POST /token -> 200", oidc_op.log)
    assert " /me " not in oidc_op.log()


def test_key_rotation_during_continuous_sign_ins(httpd_factory, module_path, oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op)
    old_kids = set(oidc_op.kids)
    results: list[tuple[bool, str]] = []
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            try:
                s, cb = sign_in(base, session=browser(keep_alive=False))
                ok = cb.status_code == 303 and get(base + "/portal/index.html",
                                                   session=s).status_code == 200
                results.append((ok, "" if ok else f"{cb.status_code} {cb.text[:300]}"))
            except Exception as e:          # noqa: BLE001 - counted as a failure
                req = getattr(e, "request", None)
                results.append((False, f"{getattr(req, 'method', '')} "
                                       f"{getattr(req, 'url', '')}: {e!r}"))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(2)
    before = len(results)
    new_kids = oidc_op.rotate_keys()       # old keys gone from the JWKS at once
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(30)
    failed = [why for ok, why in results if not ok]
    assert not failed, (f"{len(failed)} of {len(results)} sign-ins failed: {failed[:3]}",
                        tail(httpd, 20))
    assert before >= 5 and len(results) - before >= 5, (before, len(results))
    assert not old_kids & set(new_kids)
    log = httpd.error_log()
    rs = [k for k in new_kids if k.startswith("rs256")][0]
    assert re.search(rf'key is unknown \(JWS: no key with kid "{rs}"\): JWKS refetched', log), \
        tail(httpd, 20)
    assert "even after a refetch" not in log


def test_rp_initiated_logout_ends_both_sessions(httpd_factory, module_path, oidc_op):
    httpd, base, client = rp(httpd_factory, module_path, oidc_op)
    s, cb = sign_in(base)
    assert_signed_in(httpd, base, s, cb)
    cookie = s.cookies[SESSION_COOKIE]
    # control: the OP session now signs a new RP session in without a form
    s2 = browser()
    for c in s.cookies:
        if not c.name.startswith("idbroker"):
            s2.cookies.set_cookie(c)
    assert not op_shows_login_form(s2, get(base + "/portal/index.html", session=s2))

    page = get(base + "/saml/logout", session=s)
    assert page.status_code == 200, (page.status_code, page.text)
    token = re.search(r'name="token" value="([0-9a-f]+)"', page.text).group(1)
    r = post(base + "/saml/logout", session=s, data={"token": token})
    assert r.status_code == 303, (r.status_code, r.text, tail(httpd))
    loc = r.headers["Location"]
    assert loc.startswith(oidc_op.end_session_endpoint + "?"), loc
    q = {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}
    assert q["post_logout_redirect_uri"] == f"{base}/"
    hint = q["id_token_hint"]
    assert oidc_op.verify_id_token(hint, client)["sub"] == "jane"
    assert re.search(r"event=logout outcome=sent-to-idp tenant=acme .*reason=\"oidc\"",
                     httpd.error_log()), tail(httpd)

    back = follow_logout(s, r)
    assert back.status_code in (302, 303), (back.status_code, back.text)
    assert back.headers["Location"].split("?")[0] == f"{base}/", back.headers["Location"]
    root = get(back.headers["Location"], session=s)
    assert root.status_code == 200 and "idbroker test" in root.text

    gone = portal_with(base, cookie)
    assert gone.status_code in (303, 401), gone.status_code
    assert gone.headers.get("X-Echo-User", "") == ""
    # the OP session ended: the next sign-in asks for the login again
    assert op_shows_login_form(s, get(base + "/portal/index.html", session=s))


def test_replayed_and_foreign_callbacks_are_refused(httpd_factory, module_path, oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op)
    s = browser()
    start = get(base + "/portal/index.html", session=s)
    back = browser_login(s, start, "jane")
    callback = back.headers["Location"]
    assert "code=" in callback and "state=" in callback

    # another browser (no state cookie) with this browser's code and state
    stranger = get(callback, session=browser())
    assert_refused(httpd, stranger, "the sign-in state cookie is missing or wrong")
    # ... which does not use the state up: the right browser still signs in
    cb = get(callback, session=s)
    assert_signed_in(httpd, base, s, cb)
    # the same code and state again, from the same browser
    again = get(callback, session=s)
    assert_refused(httpd, again, "state names no pending sign-in")
    log = wait_for(r"POST /token ->", oidc_op.log)
    assert log.count("POST /token ->") == 1, "the replay must not reach the OP"


def test_wrong_client_secret_is_refused_by_the_token_endpoint(httpd_factory, module_path,
                                                              oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op, client_secret="not-the-secret")
    s, cb = sign_in(base)
    assert_refused(httpd, cb, ["token endpoint refused", "invalid_client"])
    assert SESSION_COOKIE not in s.cookies


def test_client_secret_post_where_the_op_expects_basic(httpd_factory, module_path, oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op, auth="client_secret_post",
                        op_auth="client_secret_basic")
    s, cb = sign_in(base)
    assert_refused(httpd, cb, ["token endpoint refused", "invalid_client"])
    log = wait_for("token request refused: client_secret_post used", oidc_op.log)
    assert "token request refused: client_secret_post used" in log, log[-2000:]


def test_missing_required_claims_names_them(httpd_factory, module_path, oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op)
    s, cb = sign_in(base, user="nosid")
    assert cb.status_code == 403, (cb.status_code, cb.text)
    assert f"<title>{ATTR_ERROR}</title>" in cb.text
    assert "cip_upn" in cb.text and "cip_sid" in cb.text
    assert "No Sid" not in cb.text and "nosid@example.test" not in cb.text   # no values
    txid = TXID_RE.search(cb.text).group(1)
    assert f"txid={txid} event=signin outcome=attribute-error" in httpd.error_log()
    assert SESSION_COOKIE not in s.cookies


@pytest.mark.parametrize("options,reason", [
    ({"clock_offset": 60}, "issued in the future (iat)"),
    ({"clock_offset": -60, "id_token_ttl": 30}, "the ID token has expired (exp)"),
])
def test_op_clock_beyond_the_skew_is_refused(httpd_factory, module_path, oidc_op, options,
                                             reason):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op,
                        tenant_extra="    IdBrokerClockSkew 5\n")
    oidc_op.set_options(clock_offset=3)          # control: within the skew
    s, cb = sign_in(base)
    assert_signed_in(httpd, base, s, cb)
    oidc_op.set_options(**options)
    s, cb = sign_in(base)
    assert_refused(httpd, cb, reason)


def test_access_denied_at_the_op(httpd_factory, module_path, oidc_op):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op)
    s, cb = sign_in(base, deny=True)
    assert_refused(httpd, cb, "error=access_denied", title=CANCELLED)


def oidc_check(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "oidc-check", str(conf)], capture_output=True, text=True,
                          timeout=30)


def test_oidc_check_against_the_real_op(httpd_factory, module_path, oidc_op):
    client = oidc_op.add_client(redirect_uris=["http://127.0.0.1:9/oidc/callback"])
    base, td = start_rp(httpd_factory(module_path), issuer=oidc_op.issuer,
                        client_id=client.client_id, client_secret=client.client_secret,
                        start=False)
    r = oidc_check(td.root / "acme.conf")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"issuer: {oidc_op.issuer} (matches)" in r.stdout
    for kid in oidc_op.kids:
        assert f"key: kid={kid} " in r.stdout, r.stdout
    assert f"redirect URI to register: {base}/oidc/callback" in r.stdout
    assert r.stdout.rstrip().endswith("OK")


def test_oidc_check_reports_a_discovery_issuer_mismatch(httpd_factory, module_path, fake_op):
    fake_op.discovery_overrides = {"issuer": fake_op.issuer + "/"}
    _, td = start_rp(httpd_factory(module_path), issuer=fake_op.issuer,
                     client_id=fake_op.client_id, client_secret=fake_op.client_secret,
                     start=False)
    r = oidc_check(td.root / "acme.conf")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert f"names issuer '{fake_op.issuer}/', not '{fake_op.issuer}'" in r.stdout + r.stderr


# ======================================================== against a hostile OP

def fake_rp(httpd_factory, module_path, fop: FakeOp, **kw):
    extra = kw.pop("app_extra", "")
    if fop.issuer != fop.base:
        extra += f"        IdBrokerOIDCDiscoveryURL {fop.discovery_url}\n"
    httpd = httpd_factory(module_path)
    base, _ = start_rp(httpd, issuer=fop.issuer, client_id=fop.client_id,
                       client_secret=fop.client_secret, app_extra=extra, **kw)
    return httpd, base


def fake_sign_in(base, fop: FakeOp):
    s = browser()
    start = get(base + "/portal/index.html", session=s)
    assert start.status_code == 303, (start.status_code, start.text)
    assert start.headers["Location"].startswith(fop.base + "/authorize?")
    back = get(start.headers["Location"], session=s)
    assert back.status_code == 303
    return s, get(back.headers["Location"], session=s)


def now() -> int:
    return int(time.time())


GOOD = {
    "plain": lambda f, a: f.sign(f.claims(a)),
    "es256": lambda f, a: f.sign(f.claims(a), key=f.es_key),
    "several-aud-with-azp": lambda f, a: f.sign(f.claims(a, aud=[f.client_id, "other"],
                                                         azp=f.client_id)),
    "skew-tolerated": lambda f, a: f.sign(f.claims(a, iat=now() + 60, nbf=now() + 60)),
}

HOSTILE = {
    "iss-trailing-slash": (lambda f, a: f.sign(f.claims(a, iss=f.issuer + "/")),
                           "compared exactly"),
    "aud-other": (lambda f, a: f.sign(f.claims(a, aud="other-client")),
                  "aud does not contain this connection's client ID"),
    "aud-several-no-azp": (lambda f, a: f.sign(f.claims(a, aud=[f.client_id, "other"])),
                           "azp is not this connection's client ID"),
    "azp-other": (lambda f, a: f.sign(f.claims(a, azp="other-client")),
                  "azp is not this connection's client ID"),
    "exp-past": (lambda f, a: f.sign(f.claims(a, iat=now() - 900, exp=now() - 600)),
                 "the ID token has expired (exp)"),
    "iat-future": (lambda f, a: f.sign(f.claims(a, iat=now() + 600, exp=now() + 900)),
                   "issued in the future (iat)"),
    "nbf-future": (lambda f, a: f.sign(f.claims(a, nbf=now() + 600)),
                   "the ID token is not valid yet (nbf)"),
    "nonce-bad": (lambda f, a: f.sign(f.claims(a, nonce="0" * 48)),
                  "the nonce does not match"),
    "nonce-missing": (lambda f, a: f.sign(f.claims(a, nonce=None)),
                      "the nonce does not match"),
    "sub-missing": (lambda f, a: f.sign(f.claims(a, sub=None)), "the ID token has no sub"),
    "alg-none": (lambda f, a: f.unsigned(f.claims(a)), "alg none is refused"),
    "hs256-key-confusion": (
        lambda f, a: f.hmac(f.claims(a), f.key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            kid=f.key.kid),
        "HMAC algorithms are refused"),
    "signature-bad": (lambda f, a: f.sign(f.claims(a))[:-8] + "AAAAAAAA",
                      "signature does not verify"),
}


@pytest.fixture(scope="module")
def shared_fake_rp(request, module_path):
    """One fake OP and one httpd for the per-token cases below (the ID token
    is all that changes between them): (fop, httpd, base)."""
    workdir = Path(tempfile.mkdtemp(prefix="idbroker-it-", dir="/tmp"))
    workdir.chmod(0o755)
    fop = FakeOp().start()
    httpd = Httpd(workdir / "httpd0", module_path)
    failed_before = request.session.testsfailed
    try:
        base, _ = start_rp(httpd, issuer=fop.issuer, client_id=fop.client_id,
                           client_secret=fop.client_secret)
        yield fop, httpd, base
    finally:
        httpd.stop()
        fop.stop()
        if request.session.testsfailed > failed_before or os.environ.get("IDBROKER_KEEP_WORKDIR"):
            print(f"\nhttpd work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def token_case(shared_fake_rp):
    fop, httpd, base = shared_fake_rp
    fop.requests.clear()
    yield fop, httpd, base
    fop.id_token = None


@pytest.mark.parametrize("case", sorted(GOOD))
def test_fake_op_good_id_token_signs_in(token_case, case):
    fop, httpd, base = token_case
    fop.id_token = lambda auth: GOOD[case](fop, auth)
    s, cb = fake_sign_in(base, fop)
    page = assert_signed_in(httpd, base, s, cb)
    assert page.headers["X-Echo-OID"] == JANE_OID
    # the authorization request: code flow, PKCE S256, fresh state and nonce
    auth = next(q for m, p, q, h in fop.requests if p == "/authorize")
    assert auth["response_type"] == "code" and auth["code_challenge_method"] == "S256"
    assert len(auth["state"]) >= 32 and len(auth["nonce"]) >= 32
    form = fop.token_requests()[0][2]
    assert len(form["code_verifier"]) >= 43


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_fake_op_hostile_id_token_is_refused(token_case, case):
    fop, httpd, base = token_case
    make, reason = HOSTILE[case]
    fop.id_token = lambda auth: make(fop, auth)
    s, cb = fake_sign_in(base, fop)
    assert_refused(httpd, cb, reason)
    assert SESSION_COOKIE not in s.cookies


def test_fake_op_iss_compared_exactly(httpd_factory, module_path, fake_op_factory):
    """Issuer http://localhost:PORT: iss with the host in another case, or a
    trailing '/' added, is not that issuer."""
    fop = fake_op_factory()
    fop.issuer = f"http://localhost:{fop.port}"      # discovery stays at 127.0.0.1
    httpd, base = fake_rp(httpd_factory, module_path, fop)
    for iss in (f"http://LOCALHOST:{fop.port}", f"http://Localhost:{fop.port}",
                f"http://localhost:{fop.port}/"):
        fop.id_token = lambda auth, iss=iss: fop.sign(fop.claims(auth, iss=iss))
        s, cb = fake_sign_in(base, fop)
        assert_refused(httpd, cb, [f"iss '{iss}' is not the issuer", "compared exactly"])
    fop.id_token = None                         # control: the exact issuer
    s, cb = fake_sign_in(base, fop)
    assert_signed_in(httpd, base, s, cb)


def test_fake_op_unknown_kid_costs_one_jwks_refetch(httpd_factory, module_path, fake_op):
    stranger = make_key("RS256")
    fake_op.id_token = lambda auth: fake_op.sign(fake_op.claims(auth), key=stranger)
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    jwks = fake_op.hits["/jwks"]
    s, cb = fake_sign_in(base, fake_op)
    assert_refused(httpd, cb, "not in the provider's JWKS, even after a refetch")
    assert fake_op.hits["/jwks"] == jwks + 1
    # within 10 s of that refetch: no other one
    s, cb = fake_sign_in(base, fake_op)
    assert_refused(httpd, cb, "not in the provider's JWKS")
    assert fake_op.hits["/jwks"] == jwks + 1


def test_fake_op_new_key_found_by_the_refetch(httpd_factory, module_path, fake_op):
    stranger = make_key("RS256")
    fake_op.id_token = lambda auth: fake_op.sign(fake_op.claims(auth), key=stranger)
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    jwks = fake_op.hits["/jwks"]
    fake_op.jwks.append(stranger)               # after the module fetched the JWKS
    s, cb = fake_sign_in(base, fake_op)
    assert_signed_in(httpd, base, s, cb)
    assert fake_op.hits["/jwks"] == jwks + 1
    assert (f'key is unknown (JWS: no key with kid "{stranger.kid}"): JWKS refetched from '
            f'{fake_op.base}/jwks, 3 keys') in httpd.error_log()


def test_fake_op_sign_ins_during_the_refetch_wait_for_it(httpd_factory, module_path,
                                                       fake_op):
    """Several sign-ins with the new kid at once (a key rotation): one
    refetches, the others must use its result, not the JWKS that lacks the key."""
    stranger = make_key("RS256")
    fake_op.id_token = lambda auth: fake_op.sign(fake_op.claims(auth), key=stranger)
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    jwks = fake_op.hits["/jwks"]
    fake_op.jwks.append(stranger)
    fake_op.jwks_delay = 0.5
    pending = []
    for _ in range(3):
        s = browser()
        start = get(base + "/portal/index.html", session=s)
        pending.append((s, get(start.headers["Location"], session=s).headers["Location"]))
    answers = [None] * len(pending)

    def callback(i):
        answers[i] = get(pending[i][1], session=pending[i][0])

    threads = [threading.Thread(target=callback, args=(i,)) for i in range(len(pending))]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(15 * TIMEOUT_SCALE)    # valgrind runs the callbacks one at a time
    assert None not in answers, answers
    for (s, _), cb in zip(pending, answers):
        assert_signed_in(httpd, base, s, cb)
    assert fake_op.hits["/jwks"] == jwks + 1


def test_fake_op_jwks_failure_at_start_then_recovery(httpd_factory, module_path, fake_op):
    fake_op.jwks_status = 500
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    assert "OpenID Provider not reachable at start" in httpd.error_log()
    r = get(base + "/portal/index.html", session=browser())
    assert_refused(httpd, r, ["/jwks", "HTTP status 500"], status=503, title=UNAVAILABLE)
    assert r.headers.get("Retry-After")
    fake_op.jwks_status = 200                   # the next sign-in tries again
    s, cb = fake_sign_in(base, fake_op)
    assert_signed_in(httpd, base, s, cb)


def test_fake_op_discovery_issuer_mismatch(httpd_factory, module_path, fake_op):
    fake_op.discovery_overrides = {"issuer": "http://127.0.0.1:1/someone-else"}
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    r = get(base + "/portal/index.html", session=browser())
    assert_refused(httpd, r, "the discovery document names issuer "
                             "'http://127.0.0.1:1/someone-else'", status=503, title=UNAVAILABLE)
    assert fake_op.hits["/authorize"] == 0


def test_fake_op_token_endpoint_invalid_grant(httpd_factory, module_path, fake_op):
    fake_op.token_reply = lambda auth: (400, {"error": "invalid_grant",
                                              "error_description": "code expired"})
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    s, cb = fake_sign_in(base, fake_op)
    assert_refused(httpd, cb, "HTTP 400, error=invalid_grant: code expired")


def test_fake_op_token_request_is_the_code_flow_with_pkce(httpd_factory, module_path, fake_op):
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    s, cb = fake_sign_in(base, fake_op)
    assert_signed_in(httpd, base, s, cb)
    auth = next(q for m, p, q, h in fake_op.requests if p == "/authorize")
    _, _, form, headers = fake_op.token_requests()[0]
    assert form["grant_type"] == "authorization_code"
    assert form["redirect_uri"] == f"{base}/oidc/callback" == auth["redirect_uri"]
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == auth["code_challenge"]
    basic = base64.b64encode(f"{fake_op.client_id}:{fake_op.client_secret}".encode()).decode()
    assert headers.get("Authorization") == f"Basic {basic}"
    assert "client_secret" not in form


def test_fake_op_userinfo_claims_are_merged(httpd_factory, module_path, fake_op):
    fake_op.id_token = lambda auth: fake_op.sign(fake_op.claims(auth, displayName=None))
    fake_op.userinfo = lambda auth: {"sub": "jane", "displayName": "Jane From Userinfo"}
    httpd, base = fake_rp(httpd_factory, module_path, fake_op,
                          app_extra="        IdBrokerOIDCUserinfo On\n")
    s, cb = fake_sign_in(base, fake_op)
    page = assert_signed_in(httpd, base, s, cb)
    assert page.headers["X-Echo-Name"] == "Jane From Userinfo"
    assert fake_op.hits["/userinfo"] == 1


def test_fake_op_userinfo_of_another_sub_is_refused(httpd_factory, module_path, fake_op):
    fake_op.userinfo = lambda auth: {"sub": "mallory", "displayName": "Mallory"}
    httpd, base = fake_rp(httpd_factory, module_path, fake_op,
                          app_extra="        IdBrokerOIDCUserinfo On\n")
    s, cb = fake_sign_in(base, fake_op)
    assert_refused(httpd, cb, "the userinfo sub is not the ID token's sub")


def test_fake_op_redirect_iss_of_another_issuer_is_refused(httpd_factory, module_path,
                                                           fake_op):
    """RFC 9207: an iss parameter in the redirect must be our issuer (mix-up)."""
    httpd, base = fake_rp(httpd_factory, module_path, fake_op)
    fake_op.redirect_extra = {"iss": "http://127.0.0.1:1"}
    s, cb = fake_sign_in(base, fake_op)
    assert_refused(httpd, cb, "the iss parameter of the redirect names another issuer")
    assert not fake_op.token_requests(), "refused before the code is redeemed"
    fake_op.redirect_extra = {"iss": fake_op.issuer}
    s, cb = fake_sign_in(base, fake_op)
    assert_signed_in(httpd, base, s, cb)


ENTRA_TID = "7f3b2c1a-0d4e-4f5a-9b8c-1a2b3c4d5e6f"
OTHER_TID = "0c0c0c0c-1111-2222-3333-444455556666"
ENTRA = "https://login.microsoftonline.com/"


@pytest.mark.parametrize("iss,tid,reason", [
    (f"{ENTRA}{ENTRA_TID}/v2.0", ENTRA_TID, None),
    (f"{ENTRA}{OTHER_TID}/v2.0", OTHER_TID, f"iss '{ENTRA}{OTHER_TID}/v2.0' is not the issuer"),
    (f"{ENTRA}{ENTRA_TID}/v2.0", OTHER_TID, f"tid '{OTHER_TID}' is not the configured Entra"),
    (f"{ENTRA}{ENTRA_TID}/v2.0", None, "tid '' is not the configured Entra tenant"),
    (f"{ENTRA}{{tenantid}}/v2.0", ENTRA_TID, "is not the issuer"),
    (f"{ENTRA}organizations/v2.0", ENTRA_TID, "is not the issuer"),
], ids=["own-tenant", "other-tenant", "tid-other", "tid-missing", "iss-template",
        "iss-organizations"])
def test_fake_op_entra_organizations_issuer(httpd_factory, module_path, fake_op, iss, tid,
                                            reason):
    """The entra preset with the multi-tenant issuer: discovery names the
    {tenantid} template, the token must carry the configured tenant's iss and
    tid. (Discovery, keys and token endpoint are the fake's: only names are
    Microsoft's, nothing goes to login.microsoftonline.com.)"""
    fake_op.issuer = f"{ENTRA}organizations/v2.0"
    fake_op.discovery_overrides = {"issuer": f"{ENTRA}{{tenantid}}/v2.0"}
    fake_op.id_token = lambda auth: fake_op.sign(fake_op.claims(auth, iss=iss, tid=tid))
    httpd, base = fake_rp(httpd_factory, module_path, fake_op,
                          app_extra=f"        IdBrokerOIDCProvider entra\n"
                                    f"        IdBrokerOIDCEntraTenant {ENTRA_TID}\n")
    s, cb = fake_sign_in(base, fake_op)
    if reason is None:
        assert_signed_in(httpd, base, s, cb)
    else:
        assert_refused(httpd, cb, reason)
