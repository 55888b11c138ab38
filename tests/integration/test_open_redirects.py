"""Open redirects and header/response splitting (issue 9) at every HTTP entry
point of the module that takes a URL or hands one back to the browser.

The payloads are tests/data/open_redirects.txt (>= 300, by category; format
at the top of that file), materialised for each tenant's own origin; the
targets that must still work are tests/data/allowed_redirects.txt. The one
validator behind them, ib_url_check_target, has the same lists in its unit
test (tests/unit/test_url_payloads.c); here they go through the glue:

  1. POST /saml/logout  return=<payload>          (SAML tenant, local logout)
  2. POST /saml/logout  return=<payload>          (OIDC tenant: the RP logout
                                                   sends post_logout_redirect_uri)
  3. GET <payload as the request-target> on a protected tenant: the return URL
     the sign-in stores and sends the browser back to after the ACS ...
  4. ... and the same through the hand-off (/saml/handoff) to a portal host
  5. GET /saml/handoff?h=<payload>                (the hand-off handle)
  6. POST /saml/acs     RelayState=<payload>      (must name the pending request)
  7. /saml/logout/callback RelayState=<payload>   (IdP-initiated logout, both
                                                   bindings: goes back to the IdP)
  8. IdBrokerPostLogoutURL <payload>              (refused by `apache2 -t`)

Each asserts: no Location to a foreign host or scheme, no header or
Set-Cookie injected, the right status and error, no session where the request
should not create one, and the log line (with the page's Transaction ID for
error pages). One httpd (slo_fixture's tenants plus an OIDC tenant on a
FakeOp and a hand-off tenant) serves the whole module; the batteries loop over
the payloads and report every failure at once.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_open_redirects.py
"""
from __future__ import annotations

import base64
import io
import http.client
import re
import secrets
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests
from requests.structures import CaseInsensitiveDict

import testidp as t
from acs_fixture import GENERIC, SESSION_COOKIE, TXID_RE, UPN, Flow, log_lines, state_cookie_name
from fake_op import FakeOp
from harness import Httpd, free_port, get, post
from slo_fixture import (ALLOWED_ORIGIN, IDP_SLO_URL, POST_LOGOUT, SloSp, SloTenant, _COMMON,
                         browser, confirm_token)
from tenants import TenantDir, tenant_conf

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
MIN_PAYLOADS = 300
CONTROL = re.compile(r"[\x00-\x20\x7f]")
RAW_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")    # in a header: all but TAB
HANDOFF_PORTAL_IP = "127.0.0.2"
# Outcome markers an injected header would leave behind
INJECTED = ("evil", "x-injected", "refresh")


# ------------------------------------------------------------ payload lists
@dataclass(frozen=True)
class Payload:
    category: str
    line: int
    text: str           # materialised (may hold \x00, \r, \n, ...)

    @property
    def c_view(self) -> str:
        """What a C caller sees: the text up to its first NUL."""
        return self.text.split("\x00", 1)[0]

    def __str__(self) -> str:
        return f"line {self.line} [{self.category}] {self.text!r}"


CONTROLS = {"TAB": "\t", "LF": "\n", "CR": "\r", "VT": "\v", "FF": "\f", "SP": " ",
            "NUL": "\x00", "DEL": "\x7f", "ESC": "\x1b", "LONG": "a" * 1100}


def load(name: str, origin: str) -> list[Payload]:
    """tests/data/<name> materialised for a tenant at `origin` (scheme://host:port)."""
    u = urlsplit(origin)
    values = {"ORIGIN": origin, "TRUSTED": u.netloc, "HOST": u.hostname,
              "PORT": str(u.port), "SCHEME": u.scheme,
              "ALT": "https" if u.scheme == "http" else "http", **CONTROLS}
    out, category = [], None
    for n, line in enumerate((DATA / name).read_text(encoding="utf-8").split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            category = line[1:line.index("]")]
            continue

        def sub(m):
            assert m.group(1) in values, f"{name}:{n}: unknown placeholder {m.group(0)}"
            return values[m.group(1)]
        out.append(Payload(category, n, re.sub(r"\{([A-Z]+)\}", sub, line)))
    return out


def safe_local(target: str) -> bool:
    """A path a browser resolves on the current origin: "/" not followed by
    "/" or "\\", no backslash, space or control character anywhere."""
    return (target.startswith("/") and target[1:2] not in ("/", "\\")
            and "\\" not in target and not CONTROL.search(target))


def foreign_location(loc: str, allowed_origins: set[str]) -> str | None:
    """Why `loc` (a Location value) could take the browser off our origins,
    or None."""
    if CONTROL.search(loc) or "\\" in loc:
        return "control character, space or backslash in Location"
    if loc.startswith("/"):
        return None if safe_local(loc) else "scheme-relative Location"
    u = urlsplit(loc)
    if u.scheme not in ("http", "https") or not u.netloc:
        return f"Location with scheme {u.scheme!r}"
    if "@" in u.netloc:
        return "userinfo in Location"
    origin = f"{u.scheme}://{u.netloc}".lower()
    return None if origin in allowed_origins else f"Location on foreign origin {origin}"


def injected_headers(headers: list[tuple[str, str]]) -> list[str]:
    """Header lines a payload could have smuggled in: any header named like
    the payloads' markers, or a Set-Cookie that is not one of ours."""
    bad = []
    for k, v in headers:
        kl, vl = k.lower(), v.lower()
        if kl in INJECTED or kl.startswith("x-injected"):
            bad.append(f"{k}: {v}")
        if kl == "set-cookie" and not vl.startswith("idbroker_"):
            bad.append(f"{k}: {v}")
        if RAW_CONTROL.search(k + v):
            bad.append(f"{k}: {v!r}")
    return bad


def location(resp) -> str:
    """The Location header as text: http.client reads header bytes as
    Latin-1, the module writes a UTF-8 path's bytes as they came."""
    return resp.headers.get("Location", "").encode("latin-1").decode("utf-8", "replace")


def raw_headers(resp: requests.Response) -> list[tuple[str, str]]:
    return list(resp.raw.headers.items())


def sets_session(headers: list[tuple[str, str]]) -> bool:
    return any(k.lower() == "set-cookie" and v.startswith(SESSION_COOKIE + "=")
               and not v.startswith(SESSION_COOKIE + "=;") for k, v in headers)


def form_body(fields: dict[str, str]) -> bytes:
    """application/x-www-form-urlencoded with every byte of each value
    percent-encoded as needed (\\x00 -> %00, \\r\\n -> %0D%0A)."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                    for k, v in fields.items()).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# ---------------------------------------------------------------- raw HTTP
@dataclass
class RawResponse:
    """A response read off the socket (the request-target sent as is),
    shaped enough like requests.Response for testidp.sign_in_request."""
    status_code: int | None
    header_list: list[tuple[str, str]]
    content: bytes

    @property
    def headers(self) -> CaseInsensitiveDict:
        return CaseInsensitiveDict(self.header_list)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Buffer:
    def __init__(self, data: bytes):
        self._f = io.BytesIO(data)

    def makefile(self, *_a, **_k):
        return self._f


def raw_get(ip: str, port: int, target: bytes, host: str | None = None) -> RawResponse:
    """GET with `target` as the request-target byte for byte (requests and
    http.client would percent-encode or refuse it)."""
    host = host or f"{ip}:{port}"
    with socket.create_connection((ip, port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode()
                     + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/"):
        # no status line (an HTTP/0.9 answer to a request line cut short by
        # a raw CR/LF): no headers, so no Location and no cookie either
        return RawResponse(None, [], data)
    resp = http.client.HTTPResponse(_Buffer(data))
    resp.begin()
    return RawResponse(resp.status, resp.getheaders(), resp.read())


# ------------------------------------------------------------------ fixture
OIDC_REDIRECT = "/oidc/callback"
CATCH_ALL = """
# every path of every tenant needs a session: the request-target itself is
# the return URL under test
<Location />
    AuthType IdBroker
    Require valid-user
</Location>
"""


class RedirectSp(SloSp):
    """slo_fixture's tenants plus "oidc" (on a FakeOp) and "handoff" (ACS on
    127.0.0.1, portal on 127.0.0.2, same port), every path protected."""

    def _configure(self) -> None:
        super()._configure()
        h, td = self.httpd, self.td
        self.fop = FakeOp().start()
        oport, hport = free_port(), free_port()
        secret = td.root / "client.secret"
        secret.write_text(self.fop.client_secret + "\n")
        secret.chmod(0o644)
        oidc = (f"        IdBrokerOIDCIssuer {self.fop.issuer}\n"
                f"        IdBrokerOIDCClientID {self.fop.client_id}\n"
                f"        IdBrokerOIDCClientSecret file:{secret}\n"
                f"        IdBrokerOIDCScopes openid profile email\n")
        td.write("oidc.conf", tenant_conf("oidc", f"http://127.0.0.1:{oport}", td.key, td.cert,
                                          app_extra=oidc, tenant_extra=_COMMON))
        idp = self.idps["main"]
        handoff = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                   f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                   f"        IdBrokerIdPCert {idp.cert_pem_path(td.root)}\n"
                   f"        IdBrokerPortalURL http://{HANDOFF_PORTAL_IP}:{hport}\n")
        td.write("handoff.conf", tenant_conf("handoff", f"http://127.0.0.1:{hport}", td.key,
                                             td.cert, app_extra=handoff, tenant_extra=_COMMON))
        self.tenants["oidc"] = SloTenant("oidc", oport, self, has_slo=False)
        self.tenants["handoff"] = SloTenant("handoff", hport, self)
        h.conf.write_text(h.conf.read_text() + f"Listen 127.0.0.1:{oport}\n"
                          f"Listen 127.0.0.1:{hport}\nListen {HANDOFF_PORTAL_IP}:{hport}\n"
                          + CATCH_ALL)

    @classmethod
    def make(cls, module_path: str) -> "RedirectSp":
        base = Path(tempfile.mkdtemp(prefix="idbroker-redir-", dir="/tmp"))
        base.chmod(0o755)
        sp = cls(base, module_path)
        try:
            sp._configure()
            sp.httpd.start()
        except BaseException:
            sp.close(keep=True)
            raise
        return sp

    def close(self, keep: bool) -> None:
        if getattr(self, "fop", None) is not None:
            self.fop.stop()
        super().close(keep)

    def access_log(self) -> str:
        return (self.httpd.logs / "access.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def sp(module_path, request):
    failed = request.session.testsfailed
    sp = RedirectSp.make(module_path)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


def payloads(tenant) -> list[Payload]:
    return load("open_redirects.txt", tenant.base)


def allowed(tenant) -> list[Payload]:
    return load("allowed_redirects.txt", tenant.base)


def report(failures: list[str], total: int) -> None:
    assert not failures, f"{len(failures)} of {total} payloads got through:\n" + "\n".join(
        failures[:60])


def alive(sp) -> None:
    r = get(sp["post"].base + "/saml/metadata")
    assert r.status_code == 200, r.status_code
    assert "exit signal" not in sp.log() and "Segmentation fault" not in sp.log()


# ---------------------------------------------------------- sign-in helpers
def quick_sign_in(ten, s: requests.Session) -> str:
    """A good SAML sign-in in browser `s`; returns the session cookie."""
    flow = ten.start(s)
    r = ten.answer(s, ten.response(flow), flow.relay_state)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return s.cookies[SESSION_COOKIE]


def oidc_sign_in(sp, s: requests.Session) -> str:
    ten = sp["oidc"]
    start = get(ten.portal, session=s)
    assert start.status_code == 303, (start.status_code, start.text[:300])
    assert start.headers["Location"].startswith(sp.fop.base + "/authorize?")
    back = get(start.headers["Location"], session=s)
    done = get(back.headers["Location"], session=s)
    assert done.status_code == 303, (done.status_code, done.text[:300], sp.log()[-1500:])
    return s.cookies[SESSION_COOKIE]


def session_works(ten, cookie: str) -> bool:
    r = get(ten.portal, headers={"Cookie": f"{SESSION_COOKIE}={cookie}",
                                 "Accept": "application/json"})
    return r.status_code == 200


def logout_with_return(ten, s: requests.Session, target: str) -> requests.Response:
    token = confirm_token(ten, s)
    return post(ten.logout_url, session=s, data=form_body({"token": token, "return": target}),
                headers=FORM)


# ====================================================== the payload lists
def test_payload_list_has_at_least_300_distinct_payloads_in_every_category(sp):
    for ten in (sp["noslo"], sp["oidc"]):
        items = payloads(ten)
        assert len(items) >= MIN_PAYLOADS, len(items)
        assert len({p.text for p in items}) == len(items), "duplicates after materialising"
    cats = {p.category for p in payloads(sp["noslo"])}
    for want in ("backslash", "slashes", "scheme-confusion", "whitespace-control", "userinfo",
                 "idn-homoglyph", "percent-encoding", "script-schemes", "nul-bytes",
                 "host-affix", "ports", "ip-hosts", "unicode-slashes", "header-splitting"):
        assert want in cats, want


# ======================================== 1. /saml/logout return=, SAML tenant
def test_logout_return_refuses_every_payload(sp):
    ten = sp["noslo"]
    own = {ten.base, ALLOWED_ORIGIN}
    items = payloads(ten)
    failures = []
    mark_access = len(sp.access_log())
    mark = len(sp.log())
    for p in items:
        with browser() as s:
            cookie = quick_sign_in(ten, s)
            r = logout_with_return(ten, s, p.text)
        hdrs = raw_headers(r)
        loc = location(r)
        why = (f"status {r.status_code}" if r.status_code != 303
               else f"Location {loc!r} is not the post-logout URL" if loc != POST_LOGOUT
               else foreign_location(loc, own) or "; ".join(injected_headers(hdrs))
               or ("a session cookie was set" if sets_session(hdrs) else None)
               or ("the session survived" if session_works(ten, cookie) else None))
        if why:
            failures.append(f"{p}: {why}")
    report(failures, len(items))
    # every refusal logged as a (local) logout of this tenant, every POST in
    # the access log with its 303
    log = sp.log()[mark:]
    assert log.count("event=logout outcome=local-only tenant=noslo ") == len(items), log[-2000:]
    # and each refused target is named in the log (what C sees: up to a NUL)
    refused = log.count("tenant=noslo logout return target refused")
    assert refused == sum(1 for p in items if p.c_view), refused
    posts = [l for l in sp.access_log()[mark_access:].splitlines()
             if '"POST /saml/logout HTTP/1.1" 303' in l]
    assert len(posts) == len(items), len(posts)
    alive(sp)


def test_logout_return_keeps_every_allowed_target(sp):
    ten = sp["noslo"]
    failures = []
    for p in allowed(ten):
        with browser() as s:
            cookie = quick_sign_in(ten, s)
            r = logout_with_return(ten, s, p.text)
        if r.status_code != 303 or location(r) != p.text:
            failures.append(f"{p}: {r.status_code} {location(r)!r}")
        elif session_works(ten, cookie):
            failures.append(f"{p}: the session survived")
    assert not failures, "\n".join(failures)


# ======================================== 2. /saml/logout return=, OIDC tenant
def test_oidc_logout_sends_only_our_origin_as_post_logout_redirect_uri(sp):
    ten = sp["oidc"]
    items = payloads(ten)
    want = ten.base + POST_LOGOUT     # the local post-logout URL made absolute
    failures = []
    for p in items:
        with browser() as s:
            cookie = oidc_sign_in(sp, s)
            r = logout_with_return(ten, s, p.text)
        hdrs = raw_headers(r)
        loc = r.headers.get("Location", "")
        q = parse_qs(urlsplit(loc).query)
        why = (f"status {r.status_code}" if r.status_code != 303
               else f"Location {loc!r} is not the OP's end_session endpoint"
               if not loc.startswith(sp.fop.base + "/end_session?")
               else f"post_logout_redirect_uri {q.get('post_logout_redirect_uri')}"
               if q.get("post_logout_redirect_uri") != [want]
               else "; ".join(injected_headers(hdrs))
               or ("the session survived" if session_works(ten, cookie) else None))
        if why:
            failures.append(f"{p}: {why}")
    report(failures, len(items))
    alive(sp)


# ================================= 3./4. the sign-in return URL (request-target)
def _complete_raw_sign_in(ten, start: RawResponse, cookie_host: str) -> requests.Response:
    """Finish a sign-in whose start was read off a raw socket: copy its state
    cookie into a browser and answer its AuthnRequest at the ACS."""
    req = t.sign_in_request(start)
    s = browser()
    name = state_cookie_name(req.request_id)
    acs_host = urlsplit(req.request.get("AssertionConsumerServiceURL")).hostname
    for k, v in start.header_list:
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            # the host the browser was on: the connection's, or the one an
            # absolute-form request-target named (then the ACS host)
            for host in {cookie_host, acs_host}:
                s.cookies.set(name, v.split(";", 1)[0].split("=", 1)[1], domain=host,
                              path="/saml/")
    assert name in s.cookies.keys(), start.header_list
    issuer = req.request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").text.strip()
    flow = Flow(req.request_id, req.relay_state, req.request.get("AssertionConsumerServiceURL"),
                issuer, name, s.cookies.get(name, domain=cookie_host))
    r = post(flow.acs_url, session=s, data=t.TestIdp.post_form(ten.response(flow),
                                                               flow.relay_state))
    if r.status_code == 303 and "/saml/handoff?h=" in r.headers.get("Location", ""):
        r = get(r.headers["Location"], session=s)          # the hand-off
    return r


def _sign_in_return_battery(sp, ten, ip: str) -> tuple[list[str], int]:
    """Every payload as the request-target on `ip`: whatever httpd or the
    module answers carries no foreign Location; a sign-in it starts ends, after
    the IdP's answer, on the payload itself when it is a safe local path and
    on "/" otherwise."""
    origin = f"http://{ip}:{ten.port}"
    own = {origin, ALLOWED_ORIGIN}
    failures, started = [], 0
    for p in load("open_redirects.txt", origin):
        target = p.text.encode("utf-8")
        start = raw_get(ip, ten.port, target)
        loc = location(start)
        why = ((loc and not loc.startswith("https://idp.example.test/")
                and foreign_location(loc, own))
               or "; ".join(injected_headers(start.header_list))
               or ("a session cookie was set" if sets_session(start.header_list) else None))
        if not why and start.status_code in (200, 303) and b"SAMLRequest" in (
                start.content + loc.encode()):
            started += 1
            r = _complete_raw_sign_in(ten, start, ip)
            want = p.text if safe_local(p.text) and len(p.text) <= 2048 else "/"
            got = location(r)
            why = (f"sign-in ended {r.status_code} {got!r}, want 303 {want!r}"
                   if r.status_code != 303 or got != want
                   else foreign_location(got, own) or "; ".join(injected_headers(raw_headers(r))))
        elif not why and start.status_code is not None and start.status_code < 400:
            why = f"neither a sign-in nor an error: {start.status_code}"
        if why:
            failures.append(f"{p}: {why}")
    return failures, started


def test_sign_in_return_url_is_always_a_local_path(sp):
    ten = sp["noslo"]
    failures, started = _sign_in_return_battery(sp, ten, "127.0.0.1")
    report(failures, len(payloads(ten)))
    print(f"{started} payloads started a sign-in")
    assert started >= 50, started      # the battery reached the module, not only httpd's 400
    alive(sp)


def test_sign_in_return_url_through_the_hand_off_is_always_a_local_path(sp):
    ten = sp["handoff"]
    failures, started = _sign_in_return_battery(sp, ten, HANDOFF_PORTAL_IP)
    report(failures, len(payloads(ten)))
    assert started >= 50, started
    alive(sp)


# ================================================= 5. /saml/handoff?h=<payload>
def test_handoff_handle_payloads_are_refused_with_an_error_page(sp):
    ten = sp["handoff"]
    base = f"http://{HANDOFF_PORTAL_IP}:{ten.port}"
    items = load("open_redirects.txt", base)
    failures = []
    for p in items:
        r = get(base + "/saml/handoff?h=" + quote(p.text, safe=""))
        hdrs = raw_headers(r)
        m = TXID_RE.search(r.text)
        why = (f"status {r.status_code}" if r.status_code != 403
               else "a Location" if "Location" in r.headers
               else "no Transaction ID" if not m
               else "txid not logged with the reason" if not any(
                   "hand-off without a valid handle" in l for l in log_lines(sp, m.group(1)))
               else "; ".join(injected_headers(hdrs))
               or ("a session cookie was set" if sets_session(hdrs) else None))
        if why:
            failures.append(f"{p}: {why}")
    report(failures, len(items))


# =============================================== 6. /saml/acs RelayState=<payload>
def test_acs_refuses_every_payload_as_relay_state_without_burning_the_sign_in(sp):
    ten = sp["noslo"]
    items = payloads(ten)
    with browser() as s:
        flow = ten.start(s)
        saml_response = base64.b64encode(ten.response(flow).encode()).decode()
        failures = []
        for p in items:
            if p.c_view == "":
                continue            # an empty RelayState is "none sent": see below
            r = post(ten.acs, session=s, headers=FORM,
                     data=form_body({"SAMLResponse": saml_response, "RelayState": p.text}))
            hdrs = raw_headers(r)
            m = TXID_RE.search(r.text)
            why = (f"status {r.status_code}" if r.status_code != 403
                   else "a Location" if "Location" in r.headers
                   else "no Transaction ID" if not m
                   else "txid not logged with the reason" if not any(
                       "RelayState does not match the pending request" in l
                       for l in log_lines(sp, m.group(1)))
                   else "; ".join(injected_headers(hdrs))
                   or ("a session cookie was set" if sets_session(hdrs) else None))
            if why:
                failures.append(f"{p}: {why}")
        report(failures, len(items))
        # none of them used up the pending request: the real RelayState signs in
        r = post(ten.acs, session=s, data=t.TestIdp.post_form(ten.response(flow),
                                                              flow.relay_state))
        assert r.status_code == 303 and r.headers["Location"] == "/portal/index.html", (
            r.status_code, r.text[:300])


def test_acs_relay_state_cut_to_nothing_by_a_nul_is_as_if_absent(sp):
    """RelayState "\\x00..." reaches the module as "" (C strings), which is
    how an IdP that drops RelayState looks: the sign-in goes on, and still
    lands on the return path its own request stored, never on the payload."""
    ten = sp["noslo"]
    for p in [p for p in payloads(ten) if p.c_view == "" and p.text]:
        with browser() as s:
            flow = ten.start(s)
            xml = base64.b64encode(ten.response(flow).encode()).decode()
            r = post(ten.acs, session=s, headers=FORM,
                     data=form_body({"SAMLResponse": xml, "RelayState": p.text}))
        assert r.status_code == 303 and r.headers["Location"] == "/portal/index.html", (
            str(p), r.status_code, r.headers.get("Location"))
        assert not injected_headers(raw_headers(r))


# =================== 7. IdP-initiated logout: RelayState goes back to the IdP
def _idp_logout(ten, relay: str, binding: str) -> requests.Response:
    xml = ten.idp.logout_request(destination=ten.callback, name_id=UPN, sign=False)
    if binding == "redirect":
        return get(ten.callback + "?" + ten.idp.redirect_query("SAMLRequest", xml, relay,
                                                              sign=False))
    return post(ten.callback, headers=FORM,
                data=form_body(t.TestIdp.post_form_for("SAMLRequest", xml, relay)))


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_idp_logout_relay_state_cannot_redirect_or_inject(sp, binding):
    """The LogoutResponse goes to the IdP's configured SLO URL whatever the
    RelayState says; the RelayState travels URL-encoded (Redirect) or
    HTML-escaped (POST, at most 80 characters), never as raw header bytes
    or markup. The "lax" tenant takes unsigned requests, so each payload
    gets its own request without an XML signature."""
    ten = sp["lax"]
    items = payloads(ten)
    failures = []
    mark = len(sp.log())
    for p in items:
        r = _idp_logout(ten, p.text, binding)
        hdrs = raw_headers(r)
        why = "; ".join(injected_headers(hdrs)) or None
        if binding == "redirect":
            loc = r.headers.get("Location", "")
            if r.status_code not in (302, 303) or not loc.startswith(IDP_SLO_URL + "?"):
                why = why or f"{r.status_code} Location {loc!r}"
            elif CONTROL.search(loc):
                why = why or f"raw control character in Location {loc!r}"
            else:
                relay = parse_qs(urlsplit(loc).query).get("RelayState")
                if relay is not None and relay != [p.c_view]:
                    why = why or f"RelayState came back as {relay!r}"
        else:
            if r.status_code != 200 or "Location" in r.headers:
                why = why or f"{r.status_code} {r.headers.get('Location')!r}"
            else:
                msg = t.saml_message(r)
                if msg.url != IDP_SLO_URL:
                    why = f"form posts to {msg.url!r}"
                elif msg.relay_state not in (None, p.c_view):
                    why = f"RelayState came back as {msg.relay_state!r}"
                elif msg.relay_state is not None and len(p.c_view) > 80:
                    why = "a RelayState longer than 80 characters echoed"
                elif any(c in p.text for c in "<>\"") and p.c_view in r.text:
                    why = "RelayState echoed unescaped into the page"
        if why:
            failures.append(f"{p}: {why}")
    report(failures, len(items))
    log = sp.log()[mark:]
    assert log.count("event=logout outcome=no-session tenant=lax ") == len(items), log[-1500:]
    alive(sp)


# ======================== 8. IdBrokerPostLogoutURL: refused when httpd reads it
def test_post_logout_url_payloads_fail_the_config_test(httpd_factory, module_path):
    """Every payload an Apache config line can carry (no control character,
    no double quote), written quoted; `apache2 -t` must fail naming the
    directive."""
    h = httpd_factory(module_path)
    td = TenantDir(h.workdir / "tenants.d")
    idp = t.TestIdp()
    origin = f"http://127.0.0.1:{h.port}"
    idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                 f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                 f"        IdBrokerIdPCert {idp.cert_pem_path(td.root)}\n")
    chosen = [p for p in load("open_redirects.txt", origin)
              if not CONTROL.search(p.text) and '"' not in p.text]
    h.write_config(td.include())
    failures = []
    for p in chosen:
        td.write("acme.conf", tenant_conf(
            "acme", origin, td.key, td.cert, app_extra=idp_block,
            tenant_extra=f'    IdBrokerPostLogoutURL "{p.text}"\n'
                         f"    IdBrokerAllowedOrigin {ALLOWED_ORIGIN}\n"))
        r = h.configtest()
        if r.returncode == 0 or "IdBrokerPostLogoutURL" not in r.stderr + r.stdout:
            failures.append(f"{p}: rc={r.returncode} {(r.stderr + r.stdout)[-300:]!r}")
    assert len({p.category for p in chosen}) >= 14 and len(chosen) >= 250, len(chosen)
    report(failures, len(chosen))
    # control: an allowed target passes the same check
    td.write("acme.conf", tenant_conf("acme", origin, td.key, td.cert, app_extra=idp_block,
                                      tenant_extra=f"    IdBrokerPostLogoutURL {origin}/bye\n"))
    r = h.configtest()
    assert r.returncode == 0, r.stderr


# ============================ raw CR/LF splitting outside the payload batteries
@pytest.mark.parametrize("target", [
    b"/portal/\r\nSet-Cookie: evil=1",
    b"/portal/%0d%0aSet-Cookie:%20evil=1",
    b"/portal/%0D%0ALocation:%20https://evil.example/",
    b"/portal/\nX-Injected: 1",
])
def test_crlf_in_the_request_target_injects_no_header(sp, target):
    """Raw CR/LF ends the request line (httpd answers 400, or HTTP/0.9 without
    headers); encoded CR/LF stays encoded in the return path."""
    ten = sp["noslo"]
    r = raw_get("127.0.0.1", ten.port, target)
    assert not injected_headers(r.header_list), r.header_list
    assert "evil" not in r.headers.get("Location", "")
    if r.status_code in (200, 303) and b"SAMLRequest" in r.content:
        done = _complete_raw_sign_in(ten, r, "127.0.0.1")
        assert done.status_code == 303, done.status_code
        assert done.headers["Location"] == target.decode(), done.headers["Location"]
        assert not injected_headers(raw_headers(done))


def test_crlf_in_the_session_cookie_injects_no_header(sp):
    ten = sp["noslo"]
    for value in ("abc%0d%0aSet-Cookie:%20evil=1", "abc\\r\\nSet-Cookie: evil=1"):
        r = get(ten.portal, headers={"Cookie": f"{SESSION_COOKIE}={value}"})
        assert r.status_code in (200, 303), r.status_code   # a new sign-in
        assert not injected_headers(raw_headers(r)), raw_headers(r)
    # a raw CR/LF inside the Cookie header is a header line of its own to httpd
    r = raw_get("127.0.0.1", ten.port, b"/portal/index.html HTTP/1.1\r\nCookie: "
                + SESSION_COOKIE.encode() + b"=abc\rSet-Cookie: evil=1\r\nX: y")
    assert not injected_headers(r.header_list), r.header_list
    alive(sp)
