"""Single logout (README "Signing out"): /saml/logout and /saml/logout/callback.

Two halves:
- against our TestIdp (slo_fixture.py: one httpd, a tenant per logout
  setting), the tests read the SP's LogoutRequest / LogoutResponse out of its
  answer, build the IdP's messages themselves (signed, unsigned, tampered,
  replayed) and check what a browser, the portal and the IdP can observe;
- against a real SimpleSAMLphp IdP (ssp.py), SP-initiated and IdP-initiated
  logout end to end over both bindings.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_logout.py
(IDBROKER_MODULE=/path/to/mod_auth_idbroker.so to test another build).
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from urllib.parse import urljoin

import pytest
from lxml import etree

import testidp as t
from acs_fixture import GENERIC, PORTAL_TEXT, SESSION_COOKIE, TXID_RE, UPN, log_lines
from harness import get, post
from slo_fixture import (ALLOWED_ORIGIN, CALLBACK, IDP_SLO_URL, POST_LOGOUT, SCOPE, SloSp,
                         browser, confirm_token, cookie_works, logout, sign_in)

NS_SAML = "{%s}" % t.SAML
NS_SAMLP = "{%s}" % t.SAMLP
NS_DS = "{%s}" % t.DS
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TXID_LOG_RE = re.compile(r"^[0-9a-fA-F-]{36}$")


@pytest.fixture(scope="module")
def sp(module_path, request):
    """One httpd for the TestIdp half; its work dir is kept if a test failed."""
    failed = request.session.testsfailed
    sp = SloSp.make(module_path)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


@pytest.fixture
def s():
    with browser() as session:
        yield session


# ------------------------------------------------------------------ helpers
def sp_entity_id(tenant) -> str:
    md = get(tenant.base + "/saml/metadata" + (f"?entity={SCOPE}" if tenant.name == "scoped"
                                               else ""))
    assert md.status_code == 200, md.status_code
    return etree.fromstring(md.content).get("entityID")


def log_since(sp, mark: int) -> str:
    return sp.log()[mark:]


def no_crash(sp) -> None:
    r = get(sp["post"].base + "/")
    assert r.status_code == 200, r.status_code
    log = sp.log()
    assert "exit signal" not in log and "Segmentation fault" not in log, log[-2000:]


def start_logout(sp, tenant, s, **sign_in_kw):
    """Sign in, then log out through the confirm page: returns (cookie, the
    SP's answer to the POST, its decoded LogoutRequest)."""
    cookie = sign_in(sp, tenant, s, **sign_in_kw)
    r = logout(tenant, s)
    msg = t.saml_message(r)
    assert msg.field == "SAMLRequest"
    assert msg.root.tag == NS_SAMLP + "LogoutRequest", msg.xml
    return cookie, r, msg


def assert_error_page(sp, resp, reason: str, status: int = 403) -> str:
    """An error page with a Transaction ID that the log has with `reason`."""
    tail = "\n".join(sp.log().splitlines()[-6:])
    assert resp.status_code == status, (resp.status_code, resp.text, tail)
    assert f"<title>{GENERIC}</title>" in resp.text, resp.text
    m = TXID_RE.search(resp.text)
    assert m, resp.text
    lines = log_lines(sp, m.group(1))
    assert lines, f"txid={m.group(1)} not in error.log:\n{tail}"
    assert any(reason in line for line in lines), (reason, lines)
    assert "Location" not in resp.headers
    return m.group(1)


def deliver(tenant, s, xml: str, field: str, binding: str, relay: str | None,
            idp: t.TestIdp | None = None, sign_query: bool = True):
    """Send an IdP message to the SP's logout callback over `binding`
    (redirect: the query is signed with the IdP key unless sign_query=False)."""
    if binding == "post":
        return post(tenant.callback, session=s, data=t.TestIdp.post_form_for(field, xml, relay))
    query = (idp or tenant.idp).redirect_query(field, xml, relay, sign=sign_query)
    return get(tenant.callback + "?" + query, session=s)


# =========================================== 3. the LogoutRequest the SP sends
SHAPE_NAMEIDS = {
    # shape: (NameID value, Format, NameQualifier, SPNameQualifier)
    "adfs": ("CORP\\jane", None, None, None),          # ADFS: no Format at all
    "entra": (UPN, t.NAMEID_EMAIL, None, None),
    "okta": ("00u1abcdEFGH2345ijk6", t.NAMEID_UNSPECIFIED, "https://acme.okta.example", None),
    "plain": ("AAdzZWNyZXQxVGhlR3JlYXQ=", PERSISTENT, "https://idp.example.test/entity",
              "SP-QUALIFIER"),
}


@pytest.mark.parametrize("tenant_name", ["post", "redirect", "unsigned", "scoped", "entra"])
@pytest.mark.parametrize("shape", list(SHAPE_NAMEIDS))
def test_logout_request_carries_the_sign_in_identity(sp, s, tenant_name, shape):
    ten = sp[tenant_name]
    value, fmt, nq, spnq = SHAPE_NAMEIDS[shape]
    if shape == "plain" and tenant_name == "scoped":
        spnq = sp_entity_id(ten)
    session_index = "_sidx-" + secrets.token_hex(8)
    mark = len(sp.log())
    cookie, r, msg = start_logout(sp, ten, s, shape=shape, name_id=value, name_id_format=fmt,
                                  name_qualifier=nq, sp_name_qualifier=spnq,
                                  session_index=session_index)
    req = msg.root
    assert t.validate_saml_protocol(msg.xml) == [], msg.xml
    # Issuer: the entity ID of the sign-in (scoped: the GUID-scoped one)
    issuer = req.find(NS_SAML + "Issuer").text
    assert issuer == sp_entity_id(ten)
    if tenant_name == "scoped":
        assert SCOPE in issuer, issuer
    assert req.get("Destination") == IDP_SLO_URL
    # NameID exactly as in the assertion, absent attributes stay absent
    nid = req.find(NS_SAML + "NameID")
    assert nid is not None, msg.xml
    assert nid.text == value
    for attr, want in (("Format", fmt), ("NameQualifier", nq), ("SPNameQualifier", spnq)):
        assert nid.get(attr) == want, (attr, etree.tostring(nid))
    assert [e.text for e in req.findall(NS_SAMLP + "SessionIndex")] == [session_index]
    # binding and signature
    assert msg.url == IDP_SLO_URL
    assert msg.relay_state and len(msg.relay_state) <= 80
    if tenant_name in ("post", "scoped"):
        assert msg.binding == "post" and r.status_code == 200
        assert req.find(NS_DS + "Signature") is not None
        v = t.verify_signature(msg.xml, sp.td.cert)
        assert v.returncode == 0, v.stderr
        assert t.verify_signature(msg.xml, ten.idp._cert_path).returncode != 0
    elif tenant_name in ("redirect", "entra"):
        assert msg.binding == "redirect" and r.status_code in (302, 303)
        assert req.find(NS_DS + "Signature") is None        # signed in the query
        assert msg.sig_alg == t.SIG_ALGS["rsa-sha256"]
        assert t.verify_redirect_signature(msg, sp.td.cert)
        assert not t.verify_redirect_signature(msg, ten.idp.cert)
    else:
        assert msg.binding == "redirect" and r.status_code in (302, 303)
        assert req.find(NS_DS + "Signature") is None
        assert msg.signature is None and msg.sig_alg is None
        assert "Signature=" not in r.headers["Location"]
    # the local session ended before anything went to the IdP
    assert not cookie_works(ten, cookie)
    log = log_since(sp, mark)
    assert (f"event=logout outcome=sent-to-idp tenant={tenant_name} " in log
            and req.get("ID") in log), log


# ====================================== 4. the LogoutResponse at the callback
@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_good_logout_response_ends_at_the_post_logout_url(sp, s, binding):
    ten = sp["post"]
    cookie, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"))
    mark = len(sp.log())
    r = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state)
    assert r.status_code == 303, (r.status_code, r.text, log_since(sp, mark))
    assert r.headers["Location"] == POST_LOGOUT
    assert r.headers.get("Cache-Control") == "no-store"
    assert ("event=logout outcome=success tenant=post" in log_since(sp, mark)
            and msg.root.get("ID") in log_since(sp, mark))
    assert not cookie_works(ten, cookie)
    page = get(ten.portal, session=s)
    assert page.text != PORTAL_TEXT
    t.sign_in_request(page)     # the portal starts a new sign-in


def _response_cases(ten, req_id):
    idp = ten.idp
    cb = ten.callback
    return {
        "wrong-in-response-to": (idp.logout_response(destination=cb, in_response_to="_" + secrets.token_hex(16)),
                                 "answers no pending logout"),
        "no-in-response-to": (idp.logout_response(destination=cb, in_response_to=None),
                              "answers no pending logout"),
        "wrong-issuer": (idp.logout_response(destination=cb, in_response_to=req_id,
                                             issuer="https://evil.example/idp"),
                         "LogoutResponse refused"),
        "other-key": (t.TestIdp(slot=6).logout_response(destination=cb, in_response_to=req_id),
                      "LogoutResponse refused"),
        "unsigned": (idp.logout_response(destination=cb, in_response_to=req_id, sign=False),
                     "LogoutResponse"),
    }


@pytest.mark.parametrize("case", ["wrong-in-response-to", "no-in-response-to", "wrong-issuer",
                                  "other-key", "unsigned", "tampered"])
def test_bad_logout_response_post_refused(sp, s, case):
    ten = sp["post"]
    cookie, _, msg = start_logout(sp, ten, s)
    req_id = msg.root.get("ID")
    if case == "tampered":
        good = ten.idp.logout_response(destination=ten.callback, in_response_to=req_id,
                                       status=t.STATUS_RESPONDER)
        xml, reason = good.replace(t.STATUS_RESPONDER, t.SUCCESS), "LogoutResponse refused"
        assert xml != good
    else:
        xml, reason = _response_cases(ten, req_id)[case]
    r = deliver(ten, s, xml, "SAMLResponse", "post", msg.relay_state)
    assert_error_page(sp, r, reason)
    assert not cookie_works(ten, cookie)      # the local session is gone anyway
    no_crash(sp)


@pytest.mark.parametrize("case", ["tampered-query", "unsigned-query", "other-key",
                                  "signature-of-another-message"])
def test_bad_logout_response_redirect_refused(sp, s, case):
    ten = sp["redirect"]
    cookie, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  sign=False)
    query = ten.idp.redirect_query("SAMLResponse", xml, msg.relay_state)
    if case == "tampered-query":     # RelayState is covered by the signature
        query = query.replace(f"RelayState={msg.relay_state}", "RelayState=tampered")
        reason = "LogoutResponse refused"
    elif case == "unsigned-query":
        query = ten.idp.redirect_query("SAMLResponse", xml, msg.relay_state, sign=False)
        reason = "LogoutResponse"
    elif case == "other-key":
        query = t.TestIdp(slot=6).redirect_query("SAMLResponse", xml, msg.relay_state)
        reason = "LogoutResponse refused"
    else:                            # a Signature taken from another signed query
        other = ten.idp.redirect_query("SAMLResponse", xml, "another-relay")
        query = (ten.idp.redirect_query("SAMLResponse", xml, msg.relay_state, sign=False)
                 + "&SigAlg=" + other.split("&SigAlg=", 1)[1])
        reason = "LogoutResponse refused"
    r = get(ten.callback + "?" + query, session=s)
    assert_error_page(sp, r, reason)
    assert not cookie_works(ten, cookie)
    no_crash(sp)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_unsigned_logout_response_accepted_when_signing_is_not_required(sp, s, binding):
    """The control for the "unsigned" refusals: IdBrokerRequireSignedLogout Off."""
    ten = sp["lax"]
    _, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  sign=False)
    r = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state, sign_query=False)
    assert r.status_code == 303, (r.status_code, r.text)
    assert r.headers["Location"] == POST_LOGOUT


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_bad_signature_refused_even_when_signing_is_not_required(sp, s, binding):
    """IdBrokerRequireSignedLogout Off lets unsigned messages in, not forged ones."""
    ten = sp["lax"]
    cookie = sign_in(sp, ten, s, name_id=f"lax-forged-{binding}@example.test")
    r, _ = idp_logout(ten, s, binding, idp=t.TestIdp(slot=6),
                      name_id=f"lax-forged-{binding}@example.test")
    assert_error_page(sp, r, "LogoutRequest")
    assert cookie_works(ten, cookie)
    s2 = browser()
    _, _, msg = start_logout(sp, ten, s2)
    xml = t.TestIdp(slot=6).logout_response(destination=ten.callback,
                                            in_response_to=msg.root.get("ID"),
                                            sign=binding == "post")
    r = deliver(ten, s2, xml, "SAMLResponse", binding, msg.relay_state, idp=t.TestIdp(slot=6))
    assert_error_page(sp, r, "LogoutResponse")


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_replayed_logout_response_refused(sp, s, binding):
    ten = sp["post"]
    _, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  sign=binding == "post")
    first = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state)
    assert first.status_code == 303 and first.headers["Location"] == POST_LOGOUT, first.text
    again = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state)
    assert_error_page(sp, again, "answers no pending logout")
    # ... also from another browser
    again = deliver(ten, browser(), xml, "SAMLResponse", binding, msg.relay_state)
    assert_error_page(sp, again, "answers no pending logout")


def test_logout_response_for_another_tenant_refused(sp, s):
    """A pending logout of tenant post answered at tenant lax (same IdP)."""
    ten, other = sp["post"], sp["lax"]
    _, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=other.callback, in_response_to=msg.root.get("ID"))
    r = deliver(other, s, xml, "SAMLResponse", "post", msg.relay_state)
    assert_error_page(sp, r, "answers no pending logout")


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("status,second", [
    (t.STATUS_REQUESTER, None),
    (t.STATUS_RESPONDER, None),
    (t.STATUS_RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"),
    (t.STATUS_REQUESTER, "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"),
])
def test_failed_logout_status_is_logged_and_the_user_still_leaves(sp, s, binding, status,
                                                                   second):
    ten = sp["post"]
    cookie, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  status=status, second_status=second,
                                  sign=binding == "post")
    mark = len(sp.log())
    r = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state)
    log = log_since(sp, mark)
    assert r.status_code == 303, (r.status_code, r.text, log)
    assert r.headers["Location"] == POST_LOGOUT
    lines = [l for l in log.splitlines() if "event=logout outcome=idp-failed tenant=post" in l]
    assert len(lines) == 1, log
    txid = lines[0].split("txid=", 1)[1].split(" ", 1)[0]
    assert TXID_LOG_RE.match(txid), lines[0]
    assert "outcome=success" not in log
    assert not cookie_works(ten, cookie)
    # the pending logout is used up by the failure answer too
    ok = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"))
    assert_error_page(sp, deliver(ten, s, ok, "SAMLResponse", "post", msg.relay_state),
                      "answers no pending logout")


@pytest.mark.parametrize("second", [None, "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"])
def test_failed_status_still_needs_a_valid_signature(sp, s, second):
    ten = sp["post"]
    _, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  status=t.STATUS_RESPONDER, second_status=second, sign=False)
    r = deliver(ten, s, xml, "SAMLResponse", "post", msg.relay_state)
    assert_error_page(sp, r, "LogoutResponse")


def test_partial_logout_is_a_success(sp, s):
    """Success with a PartialLogout sub-status (what SimpleSAMLphp sends when
    another SP failed) still ends at the target."""
    ten = sp["post"]
    _, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  second_status=t.STATUS_PARTIAL_LOGOUT)
    r = deliver(ten, s, xml, "SAMLResponse", "post", msg.relay_state)
    assert r.status_code == 303, (r.status_code, r.text, sp.log()[-1500:])
    assert r.headers["Location"] == POST_LOGOUT


def test_callback_without_a_message(sp, s):
    ten = sp["post"]
    r = get(ten.callback, session=s)
    assert r.status_code == 400 and TXID_RE.search(r.text), (r.status_code, r.text)
    r = post(ten.callback, session=s, data={"RelayState": "x"})
    assert r.status_code == 400 and TXID_RE.search(r.text), (r.status_code, r.text)
    r = s.request("PUT", ten.callback, allow_redirects=False, timeout=10)
    # (the Allow header httpd sends says only "TRACE", as on every endpoint)
    assert r.status_code == 405, (r.status_code, r.headers)
    r = s.request("PUT", ten.logout_url, allow_redirects=False, timeout=10)
    assert r.status_code == 405, (r.status_code, r.headers)


# =========================== 5. IdP-initiated LogoutRequest from the TestIdp
IDP_RELAY = "idp-relay-0123456789"


def idp_logout(ten, s, binding: str, *, sign: bool = True, idp: t.TestIdp | None = None,
               **kw):
    """The IdP's LogoutRequest delivered to the SP; returns (response, request ID)."""
    idp = idp or ten.idp
    kw.setdefault("name_id", UPN)
    kw.setdefault("destination", ten.callback)
    xml = idp.logout_request(sign=sign and binding == "post", **kw)
    rid = t._parse(xml).get("ID")
    if binding == "post":
        r = post(ten.callback, session=s, data=t.TestIdp.post_form_for("SAMLRequest", xml,
                                                                        IDP_RELAY))
    else:
        r = get(ten.callback + "?" + idp.redirect_query("SAMLRequest", xml, IDP_RELAY,
                                                        sign=sign), session=s)
    return r, rid


def check_logout_response(sp, ten, r, binding: str, request_id: str, status: str):
    """The SP's LogoutResponse: same binding, to the IdP's SLO URL, signed
    with the SP key, answering request_id with `status`, RelayState back."""
    tail = sp.log()[-1500:]
    if binding == "post":
        assert r.status_code == 200, (r.status_code, r.text, tail)
    else:
        assert r.status_code in (302, 303), (r.status_code, r.text, tail)
    msg = t.saml_message(r)
    assert msg.binding == binding and msg.field == "SAMLResponse"
    assert msg.url == IDP_SLO_URL
    assert msg.relay_state == IDP_RELAY
    root = msg.root
    assert root.tag == NS_SAMLP + "LogoutResponse", msg.xml
    assert t.validate_saml_protocol(msg.xml) == [], msg.xml
    assert root.get("InResponseTo") == request_id
    assert root.get("Destination") == IDP_SLO_URL
    assert root.find(NS_SAML + "Issuer").text == sp_entity_id(ten)
    code = root.find(f"{NS_SAMLP}Status/{NS_SAMLP}StatusCode")
    assert code.get("Value") == status, etree.tostring(code)
    if binding == "post":
        v = t.verify_signature(msg.xml, sp.td.cert)
        assert v.returncode == 0, v.stderr
    else:
        assert root.find(NS_DS + "Signature") is None
        assert t.verify_redirect_signature(msg, sp.td.cert), r.headers["Location"]
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    return msg


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_idp_logout_with_session_index_ends_only_that_session(sp, s, binding):
    ten = sp["post"]
    c1 = sign_in(sp, ten, s, session_index="_si-one-" + binding)
    other = browser()
    c2 = sign_in(sp, ten, other, session_index="_si-two-" + binding)
    mark = len(sp.log())
    r, rid = idp_logout(ten, s, binding, session_index="_si-one-" + binding)
    check_logout_response(sp, ten, r, binding, rid, t.SUCCESS)
    assert not cookie_works(ten, c1)
    assert cookie_works(ten, c2)                     # another sign-in of the same user
    log = log_since(sp, mark)
    assert "event=logout outcome=idp-initiated tenant=post" in log, log
    assert f'user="{UPN}"' in log and "1 session(s) ended" in log, log


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_idp_logout_without_session_index_ends_every_session_of_the_user(sp, s, binding):
    ten = sp["post"]
    user = f"all-{binding}@example.test"
    c1 = sign_in(sp, ten, s, name_id=user)
    c2 = sign_in(sp, ten, browser(), name_id=user)
    c_other = sign_in(sp, ten, browser(), name_id=f"someone-else-{binding}@example.test")
    mark = len(sp.log())
    r, rid = idp_logout(ten, s, binding, name_id=user)
    check_logout_response(sp, ten, r, binding, rid, t.SUCCESS)
    assert not cookie_works(ten, c1) and not cookie_works(ten, c2)
    assert cookie_works(ten, c_other)
    assert "2 session(s) ended" in log_since(sp, mark)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_idp_logout_for_an_unknown_user_answers_responder(sp, s, binding):
    ten = sp["post"]
    c1 = sign_in(sp, ten, s, name_id=f"known-{binding}@example.test")
    mark = len(sp.log())
    r, rid = idp_logout(ten, s, binding, name_id="nobody@example.test",
                        session_index="_si-unknown")
    check_logout_response(sp, ten, r, binding, rid, t.STATUS_RESPONDER)
    assert cookie_works(ten, c1)
    assert "event=logout outcome=no-session tenant=post" in log_since(sp, mark)
    no_crash(sp)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_idp_logout_with_another_session_index_keeps_the_session(sp, s, binding):
    ten = sp["post"]
    user = f"sidx-{binding}@example.test"
    c1 = sign_in(sp, ten, s, name_id=user, session_index="_si-real")
    r, rid = idp_logout(ten, s, binding, name_id=user, session_index="_si-other")
    check_logout_response(sp, ten, r, binding, rid, t.STATUS_RESPONDER)
    assert cookie_works(ten, c1)


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", ["unsigned", "other-key", "wrong-issuer"])
def test_bad_idp_logout_request_refused(sp, s, binding, case):
    ten = sp["post"]
    user = f"bad-{case}-{binding}@example.test"
    c1 = sign_in(sp, ten, s, name_id=user)
    kw = {"name_id": user}
    if case == "unsigned":
        kw["sign"] = False
    elif case == "other-key":
        kw["idp"] = t.TestIdp(slot=6)
    else:
        kw["issuer"] = "https://evil.example/idp"
    r, _ = idp_logout(ten, s, binding, **kw)
    assert_error_page(sp, r, "LogoutRequest")
    assert cookie_works(ten, c1)
    no_crash(sp)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_unsigned_idp_logout_accepted_when_signing_is_not_required(sp, s, binding):
    ten = sp["lax"]
    user = f"lax-{binding}@example.test"
    c1 = sign_in(sp, ten, s, name_id=user)
    r, rid = idp_logout(ten, s, binding, sign=False, name_id=user)
    check_logout_response(sp, ten, r, binding, rid, t.SUCCESS)
    assert not cookie_works(ten, c1)


def test_idp_logout_is_per_tenant(sp, s):
    """The same user signed in at two tenants: the IdP's LogoutRequest at one
    ends only that tenant's session."""
    user = "two-tenants@example.test"
    c_post = sign_in(sp, sp["post"], s, name_id=user)
    c_lax = sign_in(sp, sp["lax"], browser(), name_id=user)
    r, rid = idp_logout(sp["post"], s, "post", name_id=user)
    check_logout_response(sp, sp["post"], r, "post", rid, t.SUCCESS)
    assert not cookie_works(sp["post"], c_post)
    assert cookie_works(sp["lax"], c_lax)


# ============ 5b. what a logout message must say: Destination, time, once only
EVIL_CALLBACK = "https://evil.example/cb"


def ago(**kw) -> dt.datetime:
    """A UTC instant relative to now (negative kw: the past)."""
    return dt.datetime.now(t.UTC) + dt.timedelta(**kw)


def deliver_request(ten, s, xml: str, binding: str):
    """A LogoutRequest built with sign=(binding == "post"), as idp_logout sends it."""
    return deliver(ten, s, xml, "SAMLRequest", binding, IDP_RELAY)


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", ["evil", "other-tenant", "no-path", "missing-signed-post"])
def test_idp_logout_request_for_another_destination_refused(sp, s, binding, case):
    """SAML Bindings 3.4.5.2/3.5.5.2: a LogoutRequest the IdP addressed
    elsewhere (another SP, another app of ours) does not end sessions here;
    a signed POST one must say where it goes."""
    ten = sp["post"]
    user = f"dest-{case}-{binding}@example.test"
    cookie = sign_in(sp, ten, s, name_id=user)
    destination = {"evil": EVIL_CALLBACK, "other-tenant": sp["lax"].callback,
                   "no-path": ten.base + "/", "missing-signed-post": None}[case]
    if case == "missing-signed-post" and binding == "redirect":
        # the control: Destination is optional where no XML signature binds it
        r, rid = idp_logout(ten, s, binding, name_id=user, destination=None)
        check_logout_response(sp, ten, r, binding, rid, t.SUCCESS)
        assert not cookie_works(ten, cookie)
        return
    r, _ = idp_logout(ten, s, binding, name_id=user, destination=destination)
    assert_error_page(sp, r, "LogoutRequest")
    assert_error_page(sp, r, "Destination")
    assert cookie_works(ten, cookie)
    no_crash(sp)


def test_idp_logout_request_without_destination_unsigned_when_allowed(sp, s):
    """IdBrokerRequireSignedLogout Off: an unsigned POST LogoutRequest may
    leave Destination out (only a signed one must carry it)."""
    ten = sp["lax"]
    user = "lax-no-destination@example.test"
    cookie = sign_in(sp, ten, s, name_id=user)
    r, rid = idp_logout(ten, s, "post", sign=False, name_id=user, destination=None)
    check_logout_response(sp, ten, r, "post", rid, t.SUCCESS)
    assert not cookie_works(ten, cookie)
    # ... but a signed one may not, there either
    cookie = sign_in(sp, ten, s, name_id=user)
    r, _ = idp_logout(ten, s, "post", name_id=user, destination=None)
    assert_error_page(sp, r, "the signed LogoutRequest has no Destination")
    assert cookie_works(ten, cookie)


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", ["evil", "other-tenant", "missing-signed-post"])
def test_logout_response_for_another_destination_refused(sp, s, binding, case):
    ten = sp["post"]
    _, _, msg = start_logout(sp, ten, s)
    req_id = msg.root.get("ID")
    destination = {"evil": EVIL_CALLBACK, "other-tenant": sp["lax"].callback,
                   "missing-signed-post": None}[case]
    xml = ten.idp.logout_response(destination=destination, in_response_to=req_id,
                                  sign=binding == "post")
    r = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state)
    if case == "missing-signed-post" and binding == "redirect":
        assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT, r.text
        return
    assert_error_page(sp, r, "Destination")
    # refused answers leave the pending logout for the real one
    good = ten.idp.logout_response(destination=ten.callback, in_response_to=req_id)
    r = deliver(ten, s, good, "SAMLResponse", "post", msg.relay_state)
    assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT, r.text


def test_unsigned_logout_response_without_destination_when_allowed(sp, s):
    ten = sp["lax"]
    _, _, msg = start_logout(sp, ten, s)
    xml = ten.idp.logout_response(destination=None, in_response_to=msg.root.get("ID"),
                                  sign=False)
    r = deliver(ten, s, xml, "SAMLResponse", "post", msg.relay_state)
    assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT, r.text


# IssueInstant within [now - (5 min + skew), now + skew], NotOnOrAfter not
# passed (give or take the skew); the tenants keep the default 120 s skew.
STALE_REQUESTS = {
    # case: (IssueInstant offset, NotOnOrAfter offset or None to omit, reason)
    "expired-2h": (dict(hours=-2), dict(hours=-2, minutes=5), "too old"),
    "old-without-not-on-or-after": (dict(minutes=-30), None, "too old"),
    "not-on-or-after-passed": (dict(minutes=-4), dict(minutes=-3), "expired"),
    "issued-in-the-future": (dict(minutes=10), dict(minutes=15), "future"),
}
FRESH_ENOUGH = {
    # inside the window only thanks to the clock skew
    "issued-6-min-ago": (dict(minutes=-6), None),
    "issued-1-min-ahead": (dict(minutes=1), dict(minutes=6)),
    "not-on-or-after-1-min-ago": (dict(minutes=-3), dict(minutes=-1)),
}


def _at(offset):
    return None if offset is None else ago(**offset)


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", list(STALE_REQUESTS))
def test_stale_idp_logout_request_refused(sp, s, binding, case):
    ten = sp["post"]
    user = f"stale-{case}-{binding}@example.test"
    cookie = sign_in(sp, ten, s, name_id=user)
    issued, noa, reason = STALE_REQUESTS[case]
    r, _ = idp_logout(ten, s, binding, name_id=user, now=ago(**issued),
                      not_on_or_after=_at(noa))
    assert_error_page(sp, r, reason)
    assert cookie_works(ten, cookie)
    no_crash(sp)


@pytest.mark.parametrize("case", list(FRESH_ENOUGH))
def test_idp_logout_request_within_the_clock_skew_accepted(sp, s, case):
    ten = sp["post"]
    user = f"skew-{case}@example.test"
    cookie = sign_in(sp, ten, s, name_id=user)
    issued, noa = FRESH_ENOUGH[case]
    r, rid = idp_logout(ten, s, "post", name_id=user, now=ago(**issued),
                        not_on_or_after=_at(noa))
    check_logout_response(sp, ten, r, "post", rid, t.SUCCESS)
    assert not cookie_works(ten, cookie)


@pytest.mark.parametrize("case", ["no-issue-instant", "garbage-issue-instant",
                                  "garbage-not-on-or-after"])
def test_unreadable_times_refused(sp, s, case):
    """Times the module cannot read (in a message whose query signature is
    good) are refused, never guessed."""
    ten = sp["post"]
    user = f"times-{case}@example.test"
    cookie = sign_in(sp, ten, s, name_id=user)
    xml = ten.idp.logout_request(destination=ten.callback, name_id=user, sign=False)
    root = t._parse(xml)
    if case == "no-issue-instant":
        del root.attrib["IssueInstant"]
    elif case == "garbage-issue-instant":
        root.set("IssueInstant", "yesterday\nat noon")
    else:
        root.set("NotOnOrAfter", "2099-13-45T99:99:99")
    r = deliver_request(ten, s, etree.tostring(root).decode(), "redirect")
    assert_error_page(sp, r, "LogoutRequest")
    assert cookie_works(ten, cookie)
    no_crash(sp)


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", ["expired-2h", "issued-in-the-future"])
def test_stale_logout_response_refused(sp, s, binding, case):
    ten = sp["post"]
    _, _, msg = start_logout(sp, ten, s)
    issued = {"expired-2h": dict(hours=-2), "issued-in-the-future": dict(minutes=10)}[case]
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  now=ago(**issued), sign=binding == "post")
    r = deliver(ten, s, xml, "SAMLResponse", binding, msg.relay_state)
    assert_error_page(sp, r, "too old" if case == "expired-2h" else "future")


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_replayed_idp_logout_request_refused(sp, s, binding):
    """The same signed LogoutRequest twice: the first ends the session, the
    copy (here after the user signed in again) is refused with an error
    page and ends nothing."""
    ten = sp["post"]
    user = f"replay-{binding}@example.test"
    cookie = sign_in(sp, ten, s, name_id=user, session_index="_si-replay-" + binding)
    xml = ten.idp.logout_request(destination=ten.callback, name_id=user,
                                 session_index="_si-replay-" + binding,
                                 sign=binding == "post")
    rid = t._parse(xml).get("ID")
    first = deliver_request(ten, s, xml, binding)
    check_logout_response(sp, ten, first, binding, rid, t.SUCCESS)
    assert not cookie_works(ten, cookie)
    again_cookie = sign_in(sp, ten, browser(), name_id=user,
                           session_index="_si-replay-" + binding)
    mark = len(sp.log())
    for who in (s, browser()):
        r = deliver_request(ten, who, xml, binding)
        assert_error_page(sp, r, "already processed (replay)")
        assert "SAMLResponse" not in r.text
    assert rid in log_since(sp, mark)
    assert "event=logout outcome=idp-initiated" not in log_since(sp, mark)
    assert cookie_works(ten, again_cookie)
    # another request of the IdP (new ID) still works
    r, rid2 = idp_logout(ten, s, binding, name_id=user, session_index="_si-replay-" + binding)
    check_logout_response(sp, ten, r, binding, rid2, t.SUCCESS)
    assert not cookie_works(ten, again_cookie)


def test_refused_idp_logout_request_does_not_use_up_its_id(sp, s):
    """Only a request that passed every check is remembered: a copy of a
    request ID that arrived misaddressed first does not block the real one."""
    ten = sp["post"]
    user = "replay-order@example.test"
    cookie = sign_in(sp, ten, s, name_id=user)
    rid = t.new_id()
    bad = ten.idp.logout_request(destination=EVIL_CALLBACK, name_id=user, request_id=rid)
    assert_error_page(sp, deliver_request(ten, s, bad, "post"), "Destination")
    good = ten.idp.logout_request(destination=ten.callback, name_id=user, request_id=rid)
    r = deliver_request(ten, s, good, "post")
    check_logout_response(sp, ten, r, "post", rid, t.SUCCESS)
    assert not cookie_works(ten, cookie)


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("order", ["listed-first", "listed-last", "unknown-first"])
def test_idp_logout_ends_every_listed_session_index(sp, s, binding, order):
    """SAML core 3.7.1: SessionIndex occurs any number of times; each listed
    sign-in ends, the others of the same user stay."""
    ten = sp["post"]
    user = f"multi-{order}-{binding}@example.test"
    tag = secrets.token_hex(4)
    cookies = {name: sign_in(sp, ten, browser(), name_id=user,
                             session_index=f"_si-{name}-{tag}")
               for name in ("a", "b", "c")}
    listed = {"listed-first": ["a", "b"], "listed-last": ["b", "a"],
              "unknown-first": ["nobody", "b", "a"]}[order]
    mark = len(sp.log())
    r, rid = idp_logout(ten, s, binding, name_id=user,
                        session_index=[f"_si-{name}-{tag}" for name in listed])
    check_logout_response(sp, ten, r, binding, rid, t.SUCCESS)
    assert not cookie_works(ten, cookies["a"])
    assert not cookie_works(ten, cookies["b"])
    assert cookie_works(ten, cookies["c"])
    assert "2 session(s) ended" in log_since(sp, mark), log_since(sp, mark)


# (sign-in NameID shape, its Format / NameQualifier, the LogoutRequest's, ends?)
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_MATCH_CASES = {
    "same-format": ("entra", (t.NAMEID_EMAIL, None), (t.NAMEID_EMAIL, None), True),
    "other-format": ("entra", (t.NAMEID_EMAIL, None), (PERSISTENT, None), False),
    "transient-vs-persistent": ("plain", (PERSISTENT, None), (TRANSIENT, None),
                                False),
    "adfs-no-format-at-sign-in": ("adfs", (None, None), (t.NAMEID_EMAIL, None), True),
    "no-format-in-request": ("entra", (t.NAMEID_EMAIL, None), (None, None), True),
    "okta-unspecified-at-sign-in": ("okta", (t.NAMEID_UNSPECIFIED, "https://acme.okta.example"),
                                    (t.NAMEID_EMAIL, "https://acme.okta.example"), True),
    "okta-same": ("okta", (t.NAMEID_UNSPECIFIED, "https://acme.okta.example"),
                  (t.NAMEID_UNSPECIFIED, None), True),
    "other-name-qualifier": ("okta", (t.NAMEID_UNSPECIFIED, "https://acme.okta.example"),
                             (t.NAMEID_UNSPECIFIED, "https://other.okta.example"), False),
}


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", list(NAMEID_MATCH_CASES))
def test_idp_logout_name_id_format_must_match(sp, s, binding, case):
    """The LogoutRequest's NameID must be the principal's (SAML core
    3.7.3.1): a Format (or qualifier) both sides carry must agree; a side
    without one, or the unspecified Format, is no mismatch."""
    ten = sp["post"]
    shape, (fmt, nq), (req_fmt, req_nq), ends = NAMEID_MATCH_CASES[case]
    user = f"fmt-{case}-{binding}@example.test"
    cookie = sign_in(sp, ten, s, shape=shape, name_id=user, name_id_format=fmt,
                     name_qualifier=nq)
    r, rid = idp_logout(ten, s, binding, shape=shape, name_id=user, name_id_format=req_fmt,
                        name_qualifier=req_nq)
    check_logout_response(sp, ten, r, binding, rid, t.SUCCESS if ends else t.STATUS_RESPONDER)
    assert cookie_works(ten, cookie) != ends


# ====================================================== 6. the return target
EVIL_TARGETS = [
    "https://evil.example/",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(document.cookie)",
    "JavaScript://%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/ok\r\nSet-Cookie: evil=1",
    "/ok\nLocation: https://evil.example/",
    "http://portal.example.test/",                # allowed origin is https only
    "https://portal.example.test:8443/",          # ... and without a port
    "https://portal.example.test.evil.example/",
    "https://evil.example\\@portal.example.test/",
    " https://evil.example/",
]


def _assert_local_logout(sp, ten, s, extra, want):
    cookie = sign_in(sp, ten, s)
    r = logout(ten, s, extra=extra)
    assert r.status_code == 303, (r.status_code, r.text)
    loc = r.headers["Location"]
    assert loc == want, (extra, loc)
    assert "evil" not in loc.lower() and "\n" not in loc and "\r" not in loc
    assert not [h for h in r.raw.headers.getlist("Set-Cookie") if "evil" in h]
    assert not cookie_works(ten, cookie)


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_evil_return_target_ignored(sp, s, target):
    _assert_local_logout(sp, sp["noslo"], s, {"return": target}, POST_LOGOUT)


@pytest.mark.parametrize("target", ["/after.html?x=1", ALLOWED_ORIGIN + "/after",
                                    "SELF/same-origin"])
def test_good_return_target_honoured(sp, s, target):
    ten = sp["noslo"]
    target = target.replace("SELF", ten.base)
    _assert_local_logout(sp, ten, s, {"return": target}, target)


def test_header_splitting_in_the_raw_form_body(sp, s):
    ten = sp["noslo"]
    cookie = sign_in(sp, ten, s)
    token = confirm_token(ten, s)
    r = post(ten.logout_url, session=s, data=f"token={token}&return=%2Fok%0d%0aSet-Cookie:%20"
             "evil=1%0d%0a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT, r.headers
    assert not [h for h in r.raw.headers.getlist("Set-Cookie") if "evil" in h]
    assert not cookie_works(ten, cookie)


@pytest.mark.parametrize("target,want", [("https://evil.example/", POST_LOGOUT),
                                         ("//evil.example", POST_LOGOUT),
                                         (ALLOWED_ORIGIN + "/after", ALLOWED_ORIGIN + "/after")])
def test_return_target_survives_the_round_trip_to_the_idp(sp, s, target, want):
    ten = sp["redirect"]
    sign_in(sp, ten, s)
    r = logout(ten, s, extra={"return": target})
    msg = t.saml_message(r)
    assert "evil" not in r.headers["Location"].split("?", 1)[0]
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"),
                                  sign=False)
    done = deliver(ten, s, xml, "SAMLResponse", "redirect", msg.relay_state)
    assert done.status_code == 303, (done.status_code, done.text)
    assert done.headers["Location"] == want


# ================================================================== 7. CSRF
@pytest.mark.parametrize("case", ["no-token", "empty-token", "wrong-token",
                                  "another-sessions-token", "foreign-origin",
                                  "foreign-origin-same-host-other-port"])
def test_logout_post_needs_the_token_and_our_origin(sp, s, case):
    ten = sp["post"]
    cookie = sign_in(sp, ten, s)
    token = confirm_token(ten, s)
    headers = {}
    data = {"token": token}
    if case == "no-token":
        data = {}
    elif case == "empty-token":
        data = {"token": ""}
    elif case == "wrong-token":
        data = {"token": "0" * 32}
    elif case == "another-sessions-token":
        other = browser()
        sign_in(sp, ten, other)
        data = {"token": confirm_token(ten, other)}
        assert data["token"] != token
    elif case == "foreign-origin":
        headers = {"Origin": "https://evil.example"}
    else:
        headers = {"Origin": f"http://127.0.0.1:{sp['lax'].port}"}
    mark = len(sp.log())
    r = post(ten.logout_url, session=s, data=data, headers=headers)
    assert r.status_code == 403, (r.status_code, r.headers, r.text)
    assert "<title>Sign-out Could Not Be Confirmed</title>" in r.text
    m = TXID_RE.search(r.text)
    assert m and log_lines(sp, m.group(1)), (r.text, log_since(sp, mark))
    assert "Location" not in r.headers
    assert "event=logout" not in log_since(sp, mark)
    # nothing ended: the session still works, in the browser too
    assert cookie_works(ten, cookie)
    page = get(ten.portal, session=s)
    assert page.status_code == 200 and page.text == PORTAL_TEXT


def test_get_only_shows_the_confirm_page(sp, s):
    ten = sp["post"]
    cookie = sign_in(sp, ten, s)
    token = confirm_token(ten, s)
    assert confirm_token(ten, s) == token          # stable for the session
    assert cookie_works(ten, cookie)
    # the token from the query string is not a confirmation either
    r = get(ten.logout_url + f"?token={token}", session=s)
    assert r.status_code == 200 and cookie_works(ten, cookie)


def test_same_origin_post_is_accepted(sp, s):
    ten = sp["noslo"]
    cookie = sign_in(sp, ten, s)
    r = logout(ten, s, headers={"Origin": ten.base})
    assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT
    assert not cookie_works(ten, cookie)


def test_logout_without_a_session_goes_to_the_post_logout_url(sp, s):
    ten = sp["post"]
    for method in (get, post):
        r = method(ten.logout_url, session=s)
        assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT, r.status_code


# ================================================ 8. no IdP SLO URL: local only
def test_logout_without_idp_slo_url_is_local_and_says_why(sp, s):
    ten = sp["noslo"]
    cookie = sign_in(sp, ten, s)
    mark = len(sp.log())
    r = logout(ten, s)
    assert r.status_code == 303 and r.headers["Location"] == POST_LOGOUT, (r.status_code,
                                                                            r.text)
    cleared = [h for h in r.raw.headers.getlist("Set-Cookie")
               if h.startswith(SESSION_COOKIE + "=")]
    assert cleared and cleared[0].startswith(SESSION_COOKIE + "=;"), cleared
    assert SESSION_COOKIE not in s.cookies
    log = log_since(sp, mark)
    assert "event=logout outcome=local-only tenant=noslo" in log, log
    assert 'reason="IdP logout skipped: no IdP logout URL"' in log, log
    assert "sent-to-idp" not in log
    assert not cookie_works(ten, cookie)
    page = get(ten.portal, session=s)
    assert page.text != PORTAL_TEXT
    t.sign_in_request(page)


# ================================= 1, 2. end to end against SimpleSAMLphp
from ssp import BINDING_POST, browser_login, form_fields, post_to_sp  # noqa: E402
from ssp import ssp_idp_factory  # noqa: E402,F401  (fixture)
from tenants import TenantDir, tenant_conf  # noqa: E402

SSP_PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
</Location>
Alias /portal {htdocs}/portal
"""


def ssp_sp(httpd_factory, module_path, idp, binding: str):
    """An httpd whose tenant signs in and out at the SimpleSAMLphp IdP `idp`,
    sending its LogoutRequest over `binding`. The IdP is told to use the
    same binding for what it sends to /saml/logout/callback (SimpleSAMLphp
    picks HTTP-Redirect from our metadata unless the SP's SingleLogoutService
    is overridden to HTTP-POST only)."""
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    base = f"http://127.0.0.1:{httpd.port}"
    idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                 f"        IdBrokerIdPSSOURL {idp.sso_url}\n"
                 f"        IdBrokerIdPSLOURL {idp.slo_url}\n"
                 f"        IdBrokerIdPCert {idp.cert_path}\n")
    td.write("acme.conf", tenant_conf(
        "acme", base, td.key, td.cert, app_extra=idp_block,
        tenant_extra=(f"    IdBrokerSLOBinding {binding}\n"
                      f"    IdBrokerPostLogoutURL {POST_LOGOUT}\n")))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755)
    (portal / "index.html").write_text(PORTAL_TEXT)
    httpd.write_config(td.include() + SSP_PORTAL.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user"])
    httpd.start()
    options = {}
    if binding == "post":
        options["SingleLogoutService"] = [{"Binding": BINDING_POST,
                                           "Location": base + CALLBACK}]
    idp.trust_sp(get(base + "/saml/metadata").content, **options)
    return httpd, base


def ssp_sign_in(base, s):
    start = get(base + "/portal/index.html", session=s)
    acs = post_to_sp(s, browser_login(s, start, "jane", "janepass"))
    assert acs.status_code == 303, (acs.status_code, acs.text)
    cookie = s.cookies.get(SESSION_COOKIE)
    page = get(base + "/portal/index.html", session=s)
    assert page.status_code == 200 and page.text == PORTAL_TEXT
    return cookie


def follow(s, r, stop: str, max_steps: int = 12):
    """Play the browser: follow redirects and auto-submit SAML forms until a
    redirect to a URL starting with `stop` (not requested). Returns (that
    URL, hops), hops = [(method, url without query, SAML field or None)]."""
    hops = []
    for _ in range(max_steps):
        if r.is_redirect:
            url = urljoin(r.url, r.headers["Location"])
            if url.startswith(stop):
                return url, hops
            field = next((f for f in ("SAMLRequest", "SAMLResponse") if f"?{f}=" in url
                          or f"&{f}=" in url), None)
            hops.append(("GET", url.split("?", 1)[0], field))
            r = get(url, session=s)
            continue
        f = form_fields(r, "SAMLRequest") or form_fields(r, "SAMLResponse")
        assert f is not None, (r.status_code, r.url, r.text[:2000])
        action, method, fields = f
        field = "SAMLRequest" if "SAMLRequest" in fields else "SAMLResponse"
        hops.append((method.upper(), action.split("?", 1)[0], field))
        r = post(action, session=s, data=fields) if method == "post" else get(
            action, session=s, params=fields)
    raise AssertionError(f"no redirect to {stop} within {max_steps} steps: {hops}")


def idp_asks_for_password(s, base) -> bool:
    """Start a sign-in at the SP: does the IdP show its login form (no SSO
    session) rather than answer at once?"""
    r = get(base + "/portal/index.html", session=s)
    f = form_fields(r, "SAMLRequest")
    r = post(f[0], session=s, data=f[2]) if f else get(r.headers["Location"], session=s)
    for _ in range(6):
        if not r.is_redirect:
            break
        r = get(urljoin(r.url, r.headers["Location"]), session=s)
    if form_fields(r, "SAMLResponse") is not None:
        return False
    assert b'name="password"' in r.content, (r.status_code, r.text[:1000])
    return True


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_ssp_sp_initiated_logout(httpd_factory, module_path, ssp_idp_factory, binding):
    # validate.logout: SimpleSAMLphp refuses our LogoutRequest unless its
    # signature (XML or query) verifies against the SP metadata's certificate.
    idp = ssp_idp_factory(validate_logout=True)
    httpd, base = ssp_sp(httpd_factory, module_path, idp, binding)
    s = browser()
    cookie = ssp_sign_in(base, s)
    # control: the IdP has an SSO session (a browser with only its cookies
    # gets no login form)
    ctrl = browser()
    for c in s.cookies:
        if c.name != SESSION_COOKIE:
            ctrl.cookies.set_cookie(c)
    assert not idp_asks_for_password(ctrl, base)

    r = logout(_Base(base), s)
    msg = t.saml_message(r)
    assert msg.field == "SAMLRequest" and msg.binding == binding
    assert msg.url == idp.slo_url
    final, hops = follow(s, r, base + POST_LOGOUT)
    log = httpd.error_log()
    assert final == base + POST_LOGOUT, (final, hops)
    want = ("POST" if binding == "post" else "GET", base + CALLBACK, "SAMLResponse")
    assert want in hops, hops
    assert "event=logout outcome=sent-to-idp tenant=acme" in log, log[-3000:]
    assert "event=logout outcome=success tenant=acme" in log, log[-3000:]
    assert msg.root.get("ID") in log
    ssp_log = idp.log()
    assert "Received SAML 2.0 LogoutRequest from" in ssp_log, ssp_log[-3000:]
    # the old session cookie is worthless, the browser is sent to sign in
    api = get(base + "/portal/index.html",
              headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Accept": "application/json"})
    assert api.status_code == 401, (api.status_code, api.text)
    page = get(base + "/portal/index.html", session=s)
    assert page.text != PORTAL_TEXT
    # ... and SimpleSAMLphp's session ended too: a new sign-in needs the password
    assert idp_asks_for_password(s, base)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_ssp_idp_initiated_logout(httpd_factory, module_path, ssp_idp_factory, binding):
    """SimpleSAMLphp's own logout (SingleLogoutService.php?ReturnTo=...):
    its traditional logout handler sends our SP a LogoutRequest, by
    HTTP-Redirect or (SP metadata with only a POST SingleLogoutService)
    through its logout-iframe-post.php form; the module answers on the same
    binding with a signed LogoutResponse (validate.logout: SimpleSAMLphp
    checks that signature) and SimpleSAMLphp finishes at ReturnTo."""
    idp = ssp_idp_factory(validate_logout=True)
    httpd, base = ssp_sp(httpd_factory, module_path, idp, binding)
    s = browser()
    cookie = ssp_sign_in(base, s)
    done = idp.base + "/simplesaml/logged-out-" + binding
    r = get(idp.slo_url, session=s, params={"ReturnTo": done})
    final, hops = follow(s, r, done)
    assert final == done, (final, hops)
    method = "POST" if binding == "post" else "GET"
    assert (method, base + CALLBACK, "SAMLRequest") in hops, hops
    assert (method, idp.slo_url, "SAMLResponse") in hops, hops
    log = httpd.error_log()
    assert "event=logout outcome=idp-initiated tenant=acme" in log, log[-3000:]
    assert "1 session(s) ended" in log
    ssp_log = idp.log()
    assert "Logged out of" in ssp_log and "Error received from" not in ssp_log, \
        ssp_log[-3000:]
    api = get(base + "/portal/index.html",
              headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Accept": "application/json"})
    assert api.status_code == 401, (api.status_code, api.text)
    page = get(base + "/portal/index.html", session=s)
    assert page.text != PORTAL_TEXT


class _Base:
    """What slo_fixture.logout() needs of a tenant: its /saml/logout URL."""

    def __init__(self, base):
        self.logout_url = base + "/saml/logout"
