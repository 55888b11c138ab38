"""Sessions, cookies, the identity handed to the portal, and the sign-in
start (AuthnRequest, both bindings), against the one httpd of acs_fixture.py
(each tenant on its own 127.0.0.1 port; the extra tenants and locations this
module needs are declared there: second, redirect, nameidpolicy, forceauthn,
unsignedreq; /attr-jane, /attr-domain, /sid-user, /ids).

Every test asserts what a browser, the portal or the IdP can observe, and
fails if the rule it names were removed from the module.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_sessions.py
"""
from __future__ import annotations

import base64
import re
import struct
import subprocess
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

import testidp as t
from acs_fixture import (GOOD_ATTRS, IDP_SSO_URL, PORTAL_PATH, PORTAL_TEXT, SESSION_COOKIE,
                         STATE_PREFIX, UPN, Flow, Sp, assert_signed_in, get, post,
                         state_cookie_name)

SID = "S-1-5-21-1004336348-1177238915-682003330-1001"
JOHN = "john@example.test"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
NS_SAML = "{%s}" % t.SAML
NS_SAMLP = "{%s}" % t.SAMLP
NS_DS = "{%s}" % t.DS
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
AUTHN_REQUEST = "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"


@pytest.fixture(scope="module")
def sp(module_path, request):
    """One httpd for the whole module; its work dir is kept if a test failed."""
    failed = request.session.testsfailed
    sp = Sp.make(module_path)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


def browser() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.fixture
def s():
    with browser() as session:
        yield session


# ------------------------------------------------------------------ helpers
def set_cookies(resp: requests.Response) -> dict[str, tuple[str, dict[str, str]]]:
    """Set-Cookie headers as {name: (value, {attribute (lower case): value})}."""
    out = {}
    for header in resp.raw.headers.getlist("Set-Cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        parsed = {}
        for a in attrs:
            k, _, v = a.partition("=")
            parsed[k.strip().lower()] = v.strip()
        out[name] = (value, parsed)
    return out


def session_cookie(resp: requests.Response) -> str:
    cookies = set_cookies(resp)
    assert SESSION_COOKIE in cookies, resp.raw.headers.getlist("Set-Cookie")
    return cookies[SESSION_COOKIE][0]


def start_at(sp: Sp, tenant: str, s: requests.Session, path: str = PORTAL_PATH
             ) -> tuple[Flow, requests.Response, t.SignInRequest]:
    """GET `path` on `tenant` without a session: the sign-in start."""
    ten = sp[tenant]
    r = get(ten.base + path, session=s)
    assert r.status_code in (200, 303), (r.status_code, r.text)
    req = t.sign_in_request(r)
    issuer = req.request.find(NS_SAML + "Issuer").text.strip()
    name = state_cookie_name(req.request_id)
    value = s.cookies.get(name, path="/saml/")
    assert value, (name, list(s.cookies))
    flow = Flow(req.request_id, req.relay_state,
                req.request.get("AssertionConsumerServiceURL"), issuer, name, value)
    return flow, r, req


def sign_in(sp: Sp, tenant: str, s: requests.Session, **kw) -> requests.Response:
    """A complete good sign-in at `tenant` (kw: TestIdp.response options)."""
    ten = sp[tenant]
    flow = ten.start(s)
    return ten.answer(s, ten.response(flow, **kw), flow.relay_state)


def signed_in(sp: Sp, tenant: str, s: requests.Session, user: str | None = UPN, **kw) -> str:
    """Signs in, checks the portal answers, returns the session cookie value."""
    r = sign_in(sp, tenant, s, **kw)
    assert_signed_in(sp, sp[tenant], s, r, user=user)
    return session_cookie(r)


def with_cookie(url: str, value: str, **headers) -> requests.Response:
    """One request from a fresh browser that sends exactly this session cookie."""
    return get(url, headers={"Cookie": f"{SESSION_COOKIE}={value}", **headers})


def api(url: str, value: str) -> requests.Response:
    return with_cookie(url, value, Accept="application/json")


def entity_id(sp: Sp, tenant: str) -> str:
    md = get(sp[tenant].base + "/saml/metadata")
    assert md.status_code == 200, md.status_code
    return etree.fromstring(md.content).get("entityID")


def log_since(sp: Sp, mark: int) -> str:
    return sp.log()[mark:]


def no_crash(sp: Sp) -> None:
    """httpd still serves, and no child died of a signal."""
    r = get(sp["main"].base + "/")
    assert r.status_code == 200, r.status_code
    log = sp.log()
    assert "exit signal" not in log and "Segmentation fault" not in log, log[-2000:]


# ------------------------------------------------- session bound to a tenant
def test_session_cookie_of_tenant_a_is_worthless_on_tenant_b(sp, s):
    a, b = sp["main"], sp["second"]
    cookie = signed_in(sp, "main", s)
    mark = len(sp.log())
    # The browser's jar sends main's cookie to B's port too (cookies ignore
    # ports), exactly as a real browser would.
    r = get(b.portal, session=s)
    assert f"{SESSION_COOKIE}={cookie}" in r.request.headers.get("Cookie", "")
    assert r.text != PORTAL_TEXT
    # a sign-in start at B, not B's portal
    start = t.sign_in_request(r)
    assert r.status_code in (200, 303)
    assert start.request.find(NS_SAML + "Issuer").text.strip() == entity_id(sp, "second")
    assert start.request.get("AssertionConsumerServiceURL") == b.acs
    # a non-browser request with only that cookie: 401, no portal
    assert api(b.portal, cookie).status_code == 401
    log = log_since(sp, mark)
    assert "event=signin-start outcome=redirect tenant=second" in log, log
    assert "outcome=success tenant=second" not in log
    # ... and it still is a good session on A
    page = api(a.portal, cookie)
    assert page.status_code == 200 and page.text == PORTAL_TEXT


def test_host_header_naming_tenant_a_does_not_carry_its_session_to_tenant_b(sp, s):
    """A client may send any Host header: on B's port, `Host: 127.0.0.1:<A's
    port>` with A's cookie must not be let in. httpd picks the vhost (and so
    the content) by the connection's port; a port-based tenant B would serve
    its portal to tenant A's user."""
    a, b = sp["main"], sp["second"]
    cookie = signed_in(sp, "main", s)
    r = get(b.base + "/ids/index.html",
            headers={"Host": f"127.0.0.1:{a.port}", "Cookie": f"{SESSION_COOKIE}={cookie}",
                     "Accept": "application/json"})
    assert r.status_code != 200 and r.text != PORTAL_TEXT, (r.status_code, r.headers)


# --------------------------------------------------------- fresh session IDs
def test_every_sign_in_issues_a_new_random_session_id(sp, s):
    """Two sign-ins in one browser (both started before either ends): the
    second replaces the first session ID with a new one."""
    ten = sp["main"]
    f1, f2 = ten.start(s), ten.start(s)
    assert f1.request_id != f2.request_id and f1.relay_state != f2.relay_state
    assert f1.state_cookie != f2.state_cookie and f1.state_value != f2.state_value
    r1 = ten.answer(s, ten.response(f1), f1.relay_state)
    assert_signed_in(sp, ten, s, r1)
    c1 = session_cookie(r1)
    r2 = ten.answer(s, ten.response(f2), f2.relay_state)   # the browser sends c1 here
    assert f"{SESSION_COOKIE}={c1}" in r2.request.headers.get("Cookie", "")
    assert_signed_in(sp, ten, s, r2)
    c2 = session_cookie(r2)
    assert HEX64.match(c1) and HEX64.match(c2), (c1, c2)
    assert c1 != c2
    assert s.cookies.get(SESSION_COOKIE) == c2
    # The new sign-in ended the session it replaced.
    assert api(ten.portal, c1).status_code == 401
    assert api(ten.portal, c2).status_code == 200


def test_planted_session_id_is_replaced_not_adopted(sp, s):
    """Session fixation: an attacker sets idbroker_session=<64 hex> in the
    victim's browser before sign-in; the sign-in must issue its own ID and
    the attacker's ID must grant nothing afterwards."""
    ten = sp["main"]
    planted = uuid.uuid4().hex + uuid.uuid4().hex
    assert HEX64.match(planted)
    s.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1", path="/")
    flow = ten.start(s)                                     # the planted ID is no session
    r = ten.answer(s, ten.response(flow), flow.relay_state)
    assert f"{SESSION_COOKIE}={planted}" in r.request.headers.get("Cookie", "")
    assert_signed_in(sp, ten, s, r)
    issued = session_cookie(r)
    assert HEX64.match(issued) and issued != planted
    assert s.cookies.get(SESSION_COOKIE, domain="127.0.0.1", path="/") == issued
    attacker = api(ten.portal, planted)
    assert attacker.status_code == 401, (attacker.status_code, attacker.headers)
    assert attacker.text != PORTAL_TEXT


# ------------------------------------------------------------- bad cookies
def _flip(i: int):
    """The cookie with its i-th hex digit changed to another hex digit."""
    def flip(c: str) -> str:
        j = i % len(c)
        return c[:j] + ("0" if c[j] != "0" else "1") + c[j + 1:]
    return flip


BAD_COOKIES = {
    "flipped-first-char": _flip(0),
    "flipped-middle-char": _flip(32),
    "flipped-last-char": _flip(-1),
    "upper-case": str.upper,
    "truncated-by-one": lambda c: c[:-1],
    "truncated-half": lambda c: c[:32],
    "one-extra-char": lambda c: c + "0",
    "empty": lambda c: "",
    "non-hex-64": lambda c: "z" * 64,
    "non-hex-char": lambda c: c[:-1] + "g",
    "punctuation-64": lambda c: ("-_.~!*" * 11)[:64],
    "oversized-8000": lambda c: c * 125,
    "oversized-10k": lambda c: "a" * 10240,
}


@pytest.mark.parametrize("kind", BAD_COOKIES)
def test_bad_session_cookie_grants_nothing(sp, s, kind):
    ten = sp["main"]
    good = signed_in(sp, "main", s)
    bad = BAD_COOKIES[kind](good)
    assert bad != good
    for headers in ({"Accept": "application/json"}, {}):       # API, then browser
        r = with_cookie(ten.portal, bad, **headers)
        assert r.status_code != 200 or r.text != PORTAL_TEXT, (kind, r.status_code)
        assert r.status_code < 500, (kind, r.status_code, r.text[:300])
        assert "X-Echo-User" not in r.headers or r.headers["X-Echo-User"] == ""
        if kind == "oversized-10k":          # beyond LimitRequestFieldSize: httpd's 400
            assert r.status_code == 400
        elif headers:
            assert r.status_code == 401, (kind, r.status_code)
        else:                                # a browser is sent to sign in
            assert t.sign_in_request(r).request_id
            assert r.status_code in (200, 303)
    no_crash(sp)
    assert api(ten.portal, good).status_code == 200      # the real session is untouched


# ------------------------------------------------------------ cookie attributes
def test_cookie_attributes(sp, s):
    ten = sp["main"]
    flow, start, _ = start_at(sp, "main", s)
    state_value, state = set_cookies(start)[flow.state_cookie]
    assert flow.state_cookie.startswith(STATE_PREFIX)
    assert state_value == flow.state_value
    assert "httponly" in state and state["path"] == "/saml/", state
    assert state.get("max-age") == "600" and "domain" not in state
    assert "secure" not in state                           # http base URL
    r = ten.answer(s, ten.response(flow), flow.relay_state)
    assert_signed_in(sp, ten, s, r)
    cookies = set_cookies(r)
    value, sess = cookies[SESSION_COOKIE]
    assert HEX64.match(value)
    assert "httponly" in sess and sess.get("samesite") == "Lax" and sess.get("path") == "/"
    assert "domain" not in sess and "secure" not in sess, sess
    # the state cookie is cleared on success, with the path it was set with
    cleared_value, cleared = cookies[flow.state_cookie]
    assert cleared_value == "" and cleared.get("max-age") == "0", cleared
    assert cleared.get("path") == "/saml/" and "httponly" in cleared
    assert not any(c.name.startswith(STATE_PREFIX) for c in s.cookies)


# ------------------------------------------------------- Require idbroker-attr
def test_require_attr_grants_the_named_user_and_denies_another(sp):
    url = sp["main"].base + "/attr-jane/index.html"
    with browser() as jane:
        signed_in(sp, "main", jane)
        r = get(url, session=jane)
        assert r.status_code == 200 and r.text == PORTAL_TEXT, r.status_code
        assert r.headers["X-Echo-User"] == UPN
    with browser() as john:
        signed_in(sp, "main", john, user=JOHN, name_id=JOHN,
                  attributes=[("cip_upn", [JOHN])])
        mark = len(sp.log())
        r = get(url, session=john)
        assert r.status_code == 403, (r.status_code, r.text[:200])
        assert r.text != PORTAL_TEXT
        assert f"user {JOHN}: authorization failure" in log_since(sp, mark)
        # the same session still reaches the valid-user portal
        assert get(sp["main"].portal, session=john).status_code == 200


def test_require_attr_on_a_field_the_user_lacks_denies(sp, s):
    url = sp["main"].base + "/attr-domain/index.html"
    signed_in(sp, "main", s)                        # GOOD_ATTRS: no cip_domain
    mark = len(sp.log())
    r = get(url, session=s)
    # httpd's default for a signed-in user failing authz is 401 (403 needs
    # AuthzSendForbiddenOnFailure On); either way: no page, no new sign-in
    assert r.status_code in (401, 403), (r.status_code, r.text[:200])
    assert r.text != PORTAL_TEXT and "SAMLRequest" not in r.text
    assert f"user {UPN}: authorization failure" in log_since(sp, mark)
    # control: a user whose cip_domain is CORP gets in
    with browser() as corp:
        signed_in(sp, "main", corp, attributes=GOOD_ATTRS + [("cip_domain", ["CORP"])])
        r = get(url, session=corp)
        assert r.status_code == 200 and r.text == PORTAL_TEXT
        assert r.headers["X-Echo-cip_domain"] == "CORP"


# ------------------------------------------------------------ REMOTE_USER
def test_remote_user_field_is_configurable_per_location(sp, s):
    signed_in(sp, "main", s, attributes=GOOD_ATTRS + [("cip_sid", [SID])])
    default = get(sp["main"].portal, session=s)
    assert default.status_code == 200 and default.headers["X-Echo-User"] == UPN
    sid = get(sp["main"].base + "/sid-user/index.html", session=s)
    assert sid.status_code == 200 and sid.text == PORTAL_TEXT
    assert sid.headers["X-Echo-User"] == SID
    assert sid.headers["X-Echo-cip_upn"] == UPN


def test_sid_only_identity_gets_the_sid_as_remote_user(sp, s):
    page = assert_signed_in(sp, sp["main"], s,
                            sign_in(sp, "main", s, attributes=[("cip_sid", [SID])]), user=SID)
    assert page.headers["X-Echo-UPN"] == ""
    assert page.headers["X-Echo-NameID"] == UPN       # the NameID is not the user


def test_remote_user_sid_falls_back_to_the_upn_without_a_sid(sp, s):
    signed_in(sp, "main", s)                          # GOOD_ATTRS: no cip_sid
    r = get(sp["main"].base + "/sid-user/index.html", session=s)
    assert r.status_code == 200 and r.headers["X-Echo-User"] == UPN


# ------------------------------------------------------ canonical identity
def binary_sid(sid: str) -> bytes:
    """S-1-A-s1-...-sn as Windows stores it: revision, count, 48-bit
    big-endian authority, little-endian 32-bit sub-authorities."""
    parts = sid.split("-")
    assert parts[:2] == ["S", "1"]
    subs = [int(x) for x in parts[3:]]
    return (struct.pack("<BB", 1, len(subs)) + int(parts[2]).to_bytes(6, "big")
            + struct.pack(f"<{len(subs)}I", *subs))


GUID = uuid.UUID("3f2504e0-4f89-41d3-9a0c-0305e82c3301")


@pytest.mark.parametrize("oid,sid", [
    (base64.b64encode(GUID.bytes_le).decode(), base64.b64encode(binary_sid(SID)).decode()),
    ("{" + str(GUID).upper() + "}", SID),
], ids=["base64-binary", "strings"])
def test_identity_headers_carry_canonical_values(sp, s, oid, sid):
    attrs = GOOD_ATTRS + [("cip_oid", [oid]), ("cip_sid", [sid]),
                          ("cip_email", ["Jane.Doe@example.test"])]
    signed_in(sp, "main", s, attributes=attrs)
    r = get(sp["main"].base + "/ids/index.html", session=s,
            headers={"X-IdBroker-cip_oid": "forged", "X-IdBroker-cip_sid": "forged"})
    assert r.status_code == 200 and r.text == PORTAL_TEXT
    assert r.headers["X-Echo-cip_oid"] == str(GUID)            # lowercase 8-4-4-4-12
    assert r.headers["X-Echo-cip_sid"] == SID
    assert r.headers["X-Echo-cip_upn"] == UPN
    assert r.headers["X-Echo-cip_email"] == "Jane.Doe@example.test"
    assert r.headers["X-Echo-tenant"] == "main"


# ------------------------------------------------------- the AuthnRequest
def authn_request(sp: Sp, tenant: str, s: requests.Session) -> tuple[requests.Response,
                                                                      t.SignInRequest]:
    _, r, req = start_at(sp, tenant, s)
    return r, req


def xmlsec_verify(sp: Sp, xml: bytes, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "authnrequest.xml"
    path.write_bytes(xml)
    return subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(sp.td.cert),
                           "--id-attr:ID", AUTHN_REQUEST, str(path)],
                          capture_output=True, timeout=30)


def test_redirect_binding_request_is_signed_over_the_query(sp, s):
    ten = sp["redirect"]
    r, req = authn_request(sp, "redirect", s)
    assert r.status_code == 303 and r.headers.get("Cache-Control") == "no-store"
    loc = r.headers["Location"]
    assert loc.startswith(IDP_SSO_URL + "?"), loc
    query = urlsplit(loc).query
    names = [k for k, _ in parse_qsl(query, keep_blank_values=True)]
    assert names == ["SAMLRequest", "RelayState", "SigAlg", "Signature"], names
    signed, _, sig_part = query.partition("&Signature=")
    assert "&" not in sig_part
    # upper-case percent-encoding only: clients that normalise "%3a" to "%3A"
    # (python-requests) must not change the octets the IdP verifies
    assert not re.search(r"%([a-f][0-9a-fA-F]|[0-9A-F][a-f])", query), query
    params = dict(parse_qsl(query))
    assert params["SigAlg"] == RSA_SHA256
    assert params["RelayState"] == req.relay_state
    signature = base64.b64decode(unquote(sig_part))
    cert = x509.load_pem_x509_certificate(sp.td.cert.read_bytes())
    cert.public_key().verify(signature, signed.encode("ascii"), padding.PKCS1v15(),
                             hashes.SHA256())
    with pytest.raises(InvalidSignature):                       # the check bites
        tampered = signed.replace(f"RelayState={params['RelayState']}",
                                  "RelayState=" + "0" * len(params["RelayState"]))
        cert.public_key().verify(signature, tampered.encode("ascii"), padding.PKCS1v15(),
                                 hashes.SHA256())
    # the request itself: unsigned XML (the query carries the signature)
    root = req.request
    assert root.find(NS_DS + "Signature") is None
    assert root.get("Destination") == IDP_SSO_URL
    assert root.get("AssertionConsumerServiceURL") == ten.acs
    assert root.get("ProtocolBinding") == POST_BINDING
    assert root.find(NS_SAML + "Issuer").text.strip() == entity_id(sp, "redirect")
    # and the redirect sign-in completes
    flow = Flow(req.request_id, req.relay_state, ten.acs, entity_id(sp, "redirect"),
                state_cookie_name(req.request_id),
                s.cookies.get(state_cookie_name(req.request_id), path="/saml/"))
    assert_signed_in(sp, ten, s, ten.answer(s, ten.response(flow), flow.relay_state))


def test_post_binding_request_is_signed_and_well_formed(sp, s, tmp_path):
    ten = sp["main"]
    r, req = authn_request(sp, "main", s)
    assert r.status_code == 200 and r.headers.get("Cache-Control") == "no-store"
    assert req.binding == "post" and req.url == IDP_SSO_URL
    root = req.request
    assert root.tag == NS_SAMLP + "AuthnRequest"
    sig = root.find(NS_DS + "Signature")
    assert sig is not None
    refs = sig.findall(f"{NS_DS}SignedInfo/{NS_DS}Reference")
    assert [ref.get("URI") for ref in refs] == ["#" + root.get("ID")]
    proc = xmlsec_verify(sp, req.xml, tmp_path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    bad = req.xml.replace(ten.acs.encode(), (ten.base + "/saml/acs2").encode())
    assert bad != req.xml
    assert xmlsec_verify(sp, bad, tmp_path).returncode != 0   # the check bites
    assert root.find(NS_SAML + "Issuer").text.strip() == entity_id(sp, "main")
    assert root.get("AssertionConsumerServiceURL") == ten.base + "/saml/acs"
    assert root.get("ProtocolBinding") == POST_BINDING
    assert root.get("Destination") == IDP_SSO_URL
    # defaults: no NameIDPolicy, no ForceAuthn, no RequestedAuthnContext
    assert root.find(NS_SAMLP + "NameIDPolicy") is None
    assert root.get("ForceAuthn") in (None, "false")
    assert root.find(NS_SAMLP + "RequestedAuthnContext") is None


def test_send_nameid_policy_on(sp, s):
    _, req = authn_request(sp, "nameidpolicy", s)
    pols = req.request.findall(NS_SAMLP + "NameIDPolicy")
    assert len(pols) == 1 and pols[0].get("Format") == NAMEID_UNSPECIFIED, pols
    assert req.request.get("ForceAuthn") in (None, "false")


def test_force_authn_on(sp, s):
    _, req = authn_request(sp, "forceauthn", s)
    assert req.request.get("ForceAuthn") == "true"
    assert req.request.find(NS_SAMLP + "NameIDPolicy") is None


def test_requested_authn_context_exact(sp, s):
    _, req = authn_request(sp, "pptexact", s)
    ctx = req.request.findall(NS_SAMLP + "RequestedAuthnContext")
    assert len(ctx) == 1 and ctx[0].get("Comparison") == "exact"
    assert [c.text.strip() for c in ctx[0].findall(NS_SAML + "AuthnContextClassRef")] == [PPT]


def test_sign_requests_off_sends_no_signature(sp, s):
    r, req = authn_request(sp, "unsignedreq", s)
    assert req.binding == "post"
    assert req.request.find(f".//{NS_DS}Signature") is None
    assert b"Signature" not in req.xml and "SigAlg" not in r.text
    assert req.request.find(NS_SAML + "Issuer").text.strip() == entity_id(sp, "unsignedreq")


# ------------------------------------------------------------- RelayState
@pytest.mark.parametrize("tenant", ["main", "redirect"])
def test_relay_state_is_an_opaque_handle(sp, s, tenant):
    ten = sp[tenant]
    marker = "returnmarker7f3a"
    path = f"{PORTAL_PATH}?next={marker}&x=/portal/deep"
    flow, r, req = start_at(sp, tenant, s, path)
    relay = flow.relay_state
    assert re.fullmatch(r"[0-9a-fA-F]+", relay) and len(relay.encode()) <= 80, relay
    assert marker not in relay and "portal" not in relay and "/" not in relay
    raw = r.headers.get("Location", "") + r.text      # nothing of the URL anywhere
    assert marker not in raw and "next=" not in raw
    assert marker.encode() not in req.xml and b"next=" not in req.xml
    other, _, _ = start_at(sp, tenant, s, path)
    assert other.relay_state != relay                # a fresh handle per sign-in
    # the return URL was kept on the server: the sign-in lands on it
    done = ten.answer(s, ten.response(flow), flow.relay_state)
    assert done.status_code == 303 and done.headers["Location"] == path, done.headers
