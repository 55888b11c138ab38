"""Cookie and header attacks (issue 9) that the other modules leave out.

Already covered elsewhere, not repeated here:
  test_sessions.py  cookie of tenant A on tenant B; Host header naming A on
                    B's port; planted random session ID (fixation); bit flips,
                    truncation, case, non-hex, 8 KB and 10 KB session cookies
  test_logout.py    the cookie is dead after SP- and IdP-initiated logout
  test_routing.py   sessions and hand-off handles across tenants' hosts
Added here:
  - many cookies in one request, and several idbroker_session cookies at once
  - a whole browser replayed after sign-out: session cookie, logout form
    token and all (after IdP-initiated logout: test_logout.py's
    test_idp_logout_* check the ended cookie)
  - a session made under one virtual host name replayed under another name
    of the same server and port
  - fixation with the attacker's own *valid* session planted in the victim's
    browser
  - spoofed identity headers and environment (REMOTE_USER, IDBROKER_*,
    X-IdBroker-*, Remote-User, X-Remote-User, Proxy) on protected and
    unprotected paths, as a CGI sees them (printenv CGI in the test's htdocs)

One httpd (acs_fixture's tenants, plus mod_cgid and the CGI locations).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_cookie_header_attacks.py
"""
from __future__ import annotations

import http.client
import json
import re
import secrets
import tempfile
from pathlib import Path

import pytest
import requests

import testidp as t
from acs_fixture import PORTAL_TEXT, SESSION_COOKIE, UPN, Sp, assert_signed_in, get, post
from harness import MODULES_DIR

HEX64 = re.compile(r"^[0-9a-f]{64}$")
SPOOF_USER = "admin@evil.example"
PRINTENV = """#!/usr/bin/python3
import json, os
print("Content-Type: application/json")
print()
print(json.dumps(dict(os.environ)))
"""
CGI_CONF = """
LoadModule cgid_module {modules}/mod_cgid.so
ScriptSock {run}/cgid.sock
<Directory {cgi}>
    Options +ExecCGI
    Require all granted
</Directory>
# the same printenv CGI three ways: open, open but with the identity-header
# prefix configured, and behind AuthType IdBroker
ScriptAlias /cgi-open/ {cgi}/
ScriptAlias /cgi-prefixed/ {cgi}/
ScriptAlias /cgi-protected/ {cgi}/
<Location /cgi-prefixed/>
    IdBrokerHeaderPrefix X-IdBroker-
</Location>
<Location /cgi-protected/>
    AuthType IdBroker
    Require valid-user
    IdBrokerHeaderPrefix X-IdBroker-
</Location>
"""
# What a client sends to pass for someone (header name: value)
SPOOFED = {
    "Remote-User": SPOOF_USER,
    "X-Remote-User": SPOOF_USER,
    "X-Forwarded-User": SPOOF_USER,
    "REMOTE_USER": SPOOF_USER,                 # underscore: CGI would map it to REMOTE_USER
    "IDBROKER_cip_upn": SPOOF_USER,
    "IDBROKER-cip-upn": SPOOF_USER,
    "Idbroker-Tenant": "second",
    "X-IdBroker-cip_upn": SPOOF_USER,          # the configured prefix
    "x-idbroker-CIP_UPN": SPOOF_USER,          # ... in another case
    "X-IdBroker-Role": "admin",
    "X-IdBroker-tenant": "second",
    "Proxy": "http://evil.example:3128",       # httpoxy: HTTP_PROXY for the CGI
    "Auth-Type": "IdBroker",
}


class CgiSp(Sp):
    def _configure(self) -> None:
        super()._configure()
        h = self.httpd
        cgi = h.htdocs / "cgi"
        cgi.mkdir(mode=0o755)
        (cgi / "env").write_text(PRINTENV)
        (cgi / "env").chmod(0o755)
        h.conf.write_text(h.conf.read_text() + CGI_CONF.format(modules=MODULES_DIR,
                                                               run=h.rundir, cgi=cgi))

    @classmethod
    def make(cls, module_path: str) -> "CgiSp":
        base = Path(tempfile.mkdtemp(prefix="idbroker-cookie-", dir="/tmp"))
        base.chmod(0o755)
        sp = cls(base, module_path)
        sp._configure()
        sp.httpd.start()
        return sp


@pytest.fixture(scope="module")
def sp(module_path, request):
    failed = request.session.testsfailed
    sp = CgiSp.make(module_path)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


def browser() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def signed_in(sp, tenant="main", s=None) -> tuple[requests.Session, str]:
    ten = sp[tenant]
    s = s or browser()
    flow = ten.start(s)
    r = ten.answer(s, ten.response(flow), flow.relay_state)
    assert_signed_in(sp, ten, s, r)
    return s, s.cookies[SESSION_COOKIE]


def api(url: str, cookie_header: str, **headers) -> requests.Response:
    return get(url, headers={"Cookie": cookie_header, "Accept": "application/json", **headers})


def env_of(resp: requests.Response) -> dict:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return json.loads(resp.text)


def no_crash(sp) -> None:
    r = get(sp["main"].base + "/")
    assert r.status_code == 200, r.status_code
    assert "exit signal" not in sp.log() and "Segmentation fault" not in sp.log()


# ============================================================ many cookies
def test_valid_session_among_many_cookies_still_works(sp):
    ten = sp["main"]
    _, cookie = signed_in(sp)
    junk = "; ".join(f"c{i}={secrets.token_hex(30)}" for i in range(90))
    assert len(junk) < 7500                      # under httpd's 8190 field limit
    for header in (f"{junk}; {SESSION_COOKIE}={cookie}", f"{SESSION_COOKIE}={cookie}; {junk}"):
        r = api(ten.portal, header)
        assert r.status_code == 200 and r.text == PORTAL_TEXT, r.status_code


def test_hundreds_of_cookies_are_httpds_400_and_grant_nothing(sp):
    ten = sp["main"]
    _, cookie = signed_in(sp)
    many = "; ".join(f"c{i}={secrets.token_hex(30)}" for i in range(300))
    r = api(ten.portal, f"{many}; {SESSION_COOKIE}={cookie}")
    assert r.status_code == 400, r.status_code
    assert r.text != PORTAL_TEXT
    # many Cookie header lines, each short (httpd merges them): no crash,
    # and the forged-free valid cookie grants at most its own user
    conn = http.client.HTTPConnection("127.0.0.1", ten.port, timeout=10)
    conn.putrequest("GET", "/portal/index.html")
    for i in range(200):
        conn.putheader("Cookie", f"c{i}={'x' * 60}")
    conn.putheader("Cookie", f"{SESSION_COOKIE}={cookie}")
    conn.putheader("Accept", "application/json")
    conn.endheaders()
    r2 = conn.getresponse()
    body = r2.read()
    conn.close()
    assert r2.status in (200, 400, 401), r2.status
    if r2.status == 200:
        assert r2.getheader("X-Echo-User") == UPN and body == PORTAL_TEXT.encode()
    no_crash(sp)


@pytest.mark.parametrize("order", ["junk-first", "junk-last"])
def test_duplicate_session_cookies_never_grant_a_forged_one(sp, order):
    """Cookie tossing: a second idbroker_session (planted on a path or a
    parent domain) next to the real one. Whichever the module reads, a forged
    value grants nothing and the real one grants only its own user."""
    ten = sp["main"]
    _, cookie = signed_in(sp)
    forged = secrets.token_hex(32)
    pair = [f"{SESSION_COOKIE}={forged}", f"{SESSION_COOKIE}={cookie}"]
    if order == "junk-last":
        pair.reverse()
    r = api(ten.portal, "; ".join(pair))
    assert r.status_code in (200, 401), r.status_code
    if r.status_code == 200:
        assert r.headers.get("X-Echo-User") == UPN
    r = api(ten.portal, f"{SESSION_COOKIE}={forged}; {SESSION_COOKIE}={forged[::-1]}")
    assert r.status_code == 401, r.status_code


# ============================================== replayed after sign-out
def _whole_browser_replay(ten, jar: dict) -> requests.Response:
    s = browser()
    for name, value in jar.items():
        s.cookies.set(name, value, domain="127.0.0.1", path="/")
    return get(ten.portal, session=s, headers={"Accept": "application/json"})


def test_browser_replayed_after_sp_logout_is_worthless(sp):
    ten = sp["main"]
    s, cookie = signed_in(sp)
    page = get(ten.base + "/saml/logout", session=s)
    token = re.search(r'name="token" value="([0-9a-f]+)"', page.text).group(1)
    jar = {c.name: c.value for c in s.cookies}          # everything, captured
    r = post(ten.base + "/saml/logout", session=s, data={"token": token})
    assert r.status_code == 303, r.status_code
    replay = _whole_browser_replay(ten, jar)
    assert replay.status_code == 401 and replay.text != PORTAL_TEXT, replay.status_code
    # the captured logout form replayed: nothing left to end, no error, no session
    again = post(ten.base + "/saml/logout", data={"token": token},
                 headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert again.status_code == 303 and "Set-Cookie" not in again.headers or \
        "Max-Age=0" in again.headers.get("Set-Cookie", ""), again.headers
    assert api(ten.portal, f"{SESSION_COOKIE}={cookie}").status_code == 401


# ======================================== another virtual host name, same port
def test_session_made_under_one_host_name_is_refused_under_another(sp):
    """127.0.0.1 and localhost reach the same server and port: a session is
    bound to the host it was made on, so the other name gets no session."""
    ten = sp["main"]
    _, cookie = signed_in(sp)
    ok = api(ten.portal, f"{SESSION_COOKIE}={cookie}", Host=f"127.0.0.1:{ten.port}")
    assert ok.status_code == 200
    mark = len(sp.log())
    other = api(ten.portal, f"{SESSION_COOKIE}={cookie}", Host=f"localhost:{ten.port}")
    assert other.status_code in (401, 503), other.status_code
    assert other.text != PORTAL_TEXT and other.headers.get("X-Echo-User", "") == ""
    if other.status_code == 401:
        assert "session belongs to another tenant, host or port" in sp.log()[mark:]


# ==================================== fixation with the attacker's own session
def test_planted_valid_session_of_the_attacker_is_replaced_and_ended(sp):
    """The attacker signs in, plants their own valid cookie in the victim's
    browser; the victim's sign-in must issue a new ID (not adopt the planted
    one, which would sign the victim in as the attacker or share a session)
    and end the planted session."""
    ten = sp["main"]
    _, attacker = signed_in(sp)
    victim = browser()
    victim.cookies.set(SESSION_COOKIE, attacker, domain="127.0.0.1", path="/")
    flow = _start_with_planted_cookie(ten, victim)
    r = ten.answer(victim, ten.response(flow, attributes=[("cip_upn", ["victim@example.test"])]),
                   flow.relay_state)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    issued = victim.cookies.get(SESSION_COOKIE, domain="127.0.0.1", path="/")
    assert HEX64.match(issued) and issued != attacker
    assert api(ten.portal, f"{SESSION_COOKIE}={attacker}").status_code == 401
    mine = api(ten.portal, f"{SESSION_COOKIE}={issued}")
    assert mine.status_code == 200 and mine.headers.get("X-Echo-User") == "victim@example.test"


def _start_with_planted_cookie(ten, s: requests.Session):
    """A valid session cookie makes the portal answer instead of starting a
    sign-in, so the start is made without it and the cookie is back in
    place when the IdP's answer reaches the ACS (planted mid-flow)."""
    planted = s.cookies.get(SESSION_COOKIE)
    s.cookies.clear(domain="127.0.0.1", path="/", name=SESSION_COOKIE)
    flow = ten.start(s)
    s.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1", path="/")
    return flow


# ============================ spoofed identity headers and environment (CGI)
def test_unprotected_cgi_gets_no_identity_from_request_headers(sp):
    r = get(sp["main"].base + "/cgi-open/env", headers=SPOOFED)
    env = env_of(r)
    assert "REMOTE_USER" not in env and "AUTH_TYPE" not in env, env
    assert not [k for k in env if k.startswith("IDBROKER_")], env
    assert "HTTP_PROXY" not in env, env                 # httpoxy
    # header names with "_" never become variables (REMOTE_USER, IDBROKER_...)
    assert not [k for k, v in env.items() if v == SPOOF_USER and "_" in k
                and not k.startswith("HTTP_")], env
    # what does pass is marked as a client header: HTTP_*, never trusted
    # identity
    assert env.get("HTTP_REMOTE_USER") == SPOOF_USER
    # the prefix is configured elsewhere on this server (/cgi-protected/):
    # a client's X-IdBroker-* is dropped here too, so an application that
    # also serves open paths cannot be handed a forged identity on them
    assert not [k for k in env if k.startswith("HTTP_X_IDBROKER_")], env


def test_prefix_headers_are_stripped_wherever_the_prefix_is_configured(sp):
    r = get(sp["main"].base + "/cgi-prefixed/env", headers=SPOOFED)
    env = env_of(r)
    assert not [k for k in env if k.startswith("HTTP_X_IDBROKER_")], env
    assert "REMOTE_USER" not in env and not [k for k in env if k.startswith("IDBROKER_")]


def test_protected_cgi_without_session_answers_401_to_spoofed_headers(sp):
    r = get(sp["main"].base + "/cgi-protected/env",
            headers={**SPOOFED, "Accept": "application/json"})
    assert r.status_code == 401, (r.status_code, r.text[:300])
    assert SPOOF_USER not in r.text


def test_protected_cgi_sees_only_the_sessions_identity(sp):
    ten = sp["main"]
    _, cookie = signed_in(sp)
    r = get(ten.base + "/cgi-protected/env",
            headers={**SPOOFED, "Cookie": f"{SESSION_COOKIE}={cookie}"})
    env = env_of(r)
    assert env["REMOTE_USER"] == UPN, env
    assert env.get("AUTH_TYPE") == "IdBroker", env
    assert env["IDBROKER_cip_upn"] == UPN and env["IDBROKER_tenant"] == "main", env
    # httpd passes no header whose name holds "_" to a CGI, the module's own
    # X-IdBroker-cip_* included (a proxied backend gets them); the others
    # arrive with the session's values
    assert "HTTP_X_IDBROKER_CIP_UPN" not in env, env
    assert env.get("HTTP_X_IDBROKER_TENANT") == "main", env
    assert "HTTP_X_IDBROKER_ROLE" not in env, env       # spoofed, stripped, not ours
    assert "HTTP_PROXY" not in env
    trusted = {k: v for k, v in env.items()
               if k == "REMOTE_USER" or k.startswith("IDBROKER_")
               or k.startswith("HTTP_X_IDBROKER_")}
    assert SPOOF_USER not in trusted.values() and "second" not in trusted.values(), trusted


def test_spoofed_headers_on_the_module_endpoints_change_nothing(sp):
    """The SP endpoints (quick handler) ignore identity headers: no session
    from them at the logout page, the metadata is the same."""
    ten = sp["main"]
    plain = get(ten.base + "/saml/metadata")
    spoofed = get(ten.base + "/saml/metadata", headers=SPOOFED)
    assert spoofed.status_code == 200 and spoofed.content == plain.content
    r = get(ten.base + "/saml/logout", headers=SPOOFED)
    assert r.status_code == 303 and 'name="token"' not in r.text, r.status_code
    no_crash(sp)
