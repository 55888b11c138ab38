"""Every rejection rule of the ACS (/saml/acs), one test per rule at least,
against one httpd whose tenants (one per port, see acs_fixture.py) trust our
TestIdp. A test changes exactly one thing in an otherwise good Response and
asserts the status, the error page, its Transaction ID in error.log with the
reason the module logs for that rule, no session cookie and no portal access.
The reason fragments are specific to one rule (signature failures: xmlsec
found no configured IdP certificate the signature verifies with), so without its rule a test's Response is
either accepted or refused with another reason, and the test fails.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_acs_rules.py
"""
from __future__ import annotations

import base64
import copy
import socket

import pytest
import requests
from lxml import etree

import testidp as t
from acs_fixture import (ATTR_ERROR, CANCELLED, GOOD_ATTRS, PORTAL_TEXT,
                         SESSION_COOKIE, UPN, Sp, assert_rejected, assert_signed_in,
                         get, log_lines, post, seconds)

SID = "S-1-5-21-1004336348-1177238915-682003330-1001"
SID_ONLY = [("cip_sid", [SID])]  # no UPN: REMOTE_USER is the SID, the log's user= the NameID
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
EVIL_ISSUER = "https://evil.example.test/entity"
SIG_FAIL = "signature does not verify with any configured IdP certificate"
NS_SAML = "{%s}" % t.SAML
NS_SAMLP = "{%s}" % t.SAMLP


@pytest.fixture(scope="module")
def sp(module_path, request):
    """One httpd for the whole module; its work dir is kept if a test failed."""
    failed = request.session.testsfailed
    sp = Sp.make(module_path)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


@pytest.fixture
def s():
    """A fresh browser."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def sign_in(sp, tenant, s, relay=True, **kw):
    """Start a sign-in at `tenant` in browser s, answer it with a Response
    built from kw (see Tenant.response); returns (flow, xml, ACS response)."""
    ten = sp[tenant]
    flow = ten.start(s)
    xml = ten.response(flow, **kw)
    return flow, xml, ten.answer(s, xml, flow.relay_state if relay else None)


def edited(sp, tenant, s, edit, resign=True, **kw):
    """Like sign_in, but `edit(root)` changes the parsed Response before it is
    (re-)signed with the pinned key, so only the edit is wrong with it."""
    ten = sp[tenant]
    flow = ten.start(s)
    root = t._parse(ten.response(flow, **kw))
    edit(root)
    xml = ten.idp.resign(t._text(root)) if resign else t._text(root)
    return flow, xml, ten.answer(s, xml, flow.relay_state)


def keyinfo_certs(xml: str) -> list[str]:
    """The certificates in the message's KeyInfo, as one-line Base64."""
    return ["".join(el.text.split()) for el in t._parse(xml).iter(f"{{{t.DS}}}X509Certificate")]


def reject(sp, tenant, s, resp, reason, **kw):
    return assert_rejected(sp, sp[tenant], s, resp, reason, **kw)


def malformed(sp, s, resp, reason):
    return assert_rejected(sp, sp["main"], s, resp, reason, status=400)


# ------------------------------------------------------------------ baseline
def test_baseline_sign_in_reaches_the_portal(sp, s):
    flow, _, r = sign_in(sp, "main", s)
    page = assert_signed_in(sp, sp["main"], s, r)
    assert page.headers["X-Echo-UPN"] == UPN
    # the state cookie is cleared, the session cookie is HttpOnly
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert any(c.startswith(flow.state_cookie + "=;") and "Max-Age=0" in c for c in cookies)
    assert any(c.startswith(SESSION_COOKIE + "=") and "HttpOnly" in c for c in cookies)
    assert f'outcome=success tenant=main app=primary idp="{sp.idp.entity_id}"' in sp.log()


@pytest.mark.parametrize("shape", ["adfs", "entra", "okta", "ping", "plain"])
def test_idp_shapes_sign_in(sp, s, shape):
    _, _, r = sign_in(sp, "main", s, shape=shape)
    assert_signed_in(sp, sp["main"], s, r)


# -------------------------------------------------------------------- Issuer
def test_wrong_response_issuer(sp, s):
    _, _, r = sign_in(sp, "main", s, response_issuer=EVIL_ISSUER)
    reject(sp, "main", s, r, f"Issuer '{EVIL_ISSUER}' is not the configured IdP entity ID "
                             f"'{sp.idp.entity_id}'")


def test_wrong_assertion_issuer(sp, s):
    _, _, r = sign_in(sp, "main", s, assertion_issuer=EVIL_ISSUER)
    reject(sp, "main", s, r, f"Issuer '{EVIL_ISSUER}' is not the configured IdP entity ID")


def test_assertion_without_issuer(sp, s):
    _, _, r = sign_in(sp, "main", s, assertion_issuer="")
    reject(sp, "main", s, r, "the Assertion has no Issuer")


def test_http_issuer_for_https_entity_id_gets_the_hint(sp, s):
    http_issuer = sp.idp.entity_id.replace("https:", "http:", 1)
    _, _, r = sign_in(sp, "main", s, issuer=http_issuer)
    hint = "(they differ only in http/https: ADFS's default identifier is http)"
    reject(sp, "main", s, r, [f"Issuer '{http_issuer}' is not the configured IdP entity ID",
                              hint])


# ---------------------------------------------------------------- signatures
def test_unsigned_response_and_assertion(sp, s):
    _, xml, r = sign_in(sp, "main", s, sign_response=False, sign_assertion=False)
    assert "Signature" not in xml
    reject(sp, "main", s, r, "neither the Response nor the Assertion is signed")


@pytest.mark.parametrize("signed", [
    dict(),                                            # both (adfs)
    dict(shape="entra"),                               # Assertion only
    dict(sign_assertion=False),                        # Response only
], ids=["both", "assertion-only", "response-only"])
def test_signed_by_another_key(sp, s, signed):
    _, xml, r = sign_in(sp, "main", s, idp=sp.other_idp, **signed)
    assert sp.other_idp.cert_b64 in keyinfo_certs(xml)  # its own cert in KeyInfo
    reject(sp, "main", s, r, SIG_FAIL)


def test_bad_response_signature_fails_even_with_good_assertion_signature(sp, s):
    def resign_response_with_other_key(root):
        sig = t._own_signature(root)
        t._clear_signature(sig, root.get("ID"))
        return t._text(sp.other_idp._xmlsec_sign(etree.tostring(root)))
    ten = sp["main"]
    flow = ten.start(s)
    xml = resign_response_with_other_key(t._parse(ten.response(flow)))
    r = ten.answer(s, xml, flow.relay_state)
    reject(sp, "main", s, r, SIG_FAIL)


@pytest.mark.parametrize("shape", ["adfs", "entra"])
def test_attribute_value_tampered_after_signing(sp, s, shape):
    ten = sp["main"]
    flow = ten.start(s)
    xml = t.tamper_attribute_value(ten.response(flow, shape=shape), "cip_upn",
                                   t.EVIL_NAME_ID)
    r = ten.answer(s, xml, flow.relay_state)
    reject(sp, "main", s, r, SIG_FAIL)
    _evil_never_signed_in(sp)


@pytest.mark.parametrize("signed", [dict(sign_assertion=False), dict(shape="entra")],
                         ids=["response-signed", "assertion-signed"])
def test_keyinfo_with_another_cert_but_signed_by_pinned_key_passes(sp, s, signed):
    """RESP-2: only the pinned key counts; the certificate KeyInfo carries
    (outside what the signature covers) is ignored. One signature only: an
    Assertion's KeyInfo is covered by a Response signature around it."""
    ten = sp["main"]
    flow = ten.start(s)
    root = t._parse(ten.response(flow, **signed))
    for el in root.iter(f"{{{t.DS}}}X509Certificate"):
        el.text = sp.other_idp.cert_b64
    xml = t._text(root)
    assert keyinfo_certs(xml) == [sp.other_idp.cert_b64]
    assert_signed_in(sp, ten, s, ten.answer(s, xml, flow.relay_state))


def test_keyinfo_cert_is_not_trusted_for_its_own_signature(sp, s):
    """Signed by the key of the certificate the message carries in KeyInfo,
    not the pinned one: refused, whatever KeyInfo says."""
    _, xml, r = sign_in(sp, "main", s, idp=sp.other_idp, include_cert_in_keyinfo=True)
    assert keyinfo_certs(xml) == [sp.other_idp.cert_b64] * 2
    reject(sp, "main", s, r, SIG_FAIL)


def test_expired_pinned_idp_certificate_verifies_nothing(sp, s):
    """Tenant `expired` pins a certificate of the IdP's own key whose notAfter
    is yesterday; the Response is otherwise perfect."""
    _, _, r = sign_in(sp, "expired", s)
    reject(sp, "expired", s, r,
           "no configured IdP certificate is valid now (expired or not yet valid)")


@pytest.mark.parametrize("algs,reason", [
    (dict(sig_alg="rsa-sha1"),
     "signature method 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' is not allowed"),
    (dict(sig_alg="rsa-sha256", digest_alg="sha1"),
     "digest 'http://www.w3.org/2000/09/xmldsig#sha1' is not allowed"),
], ids=["rsa-sha1", "sha1-digest"])
def test_sha1_refused_by_default(sp, s, algs, reason):
    _, _, r = sign_in(sp, "main", s, **algs)
    malformed(sp, s, r, reason)


def test_sha1_accepted_with_allow_sha1_and_logged(sp, s):
    before = sp.log().count("event=signin outcome=sha1 tenant=sha1")
    _, _, r = sign_in(sp, "sha1", s, sig_alg="rsa-sha1", digest_alg="sha1")
    assert_signed_in(sp, sp["sha1"], s, r)
    log = sp.log()
    assert log.count("event=signin outcome=sha1 tenant=sha1") == before + 1
    assert "the IdP signed with SHA-1 (allowed by IdBrokerAllowSHA1)" in log


@pytest.mark.parametrize("where,alg,reason", [
    ("CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
     "canonicalization 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315' is not allowed"),
    ("Transform", "http://www.w3.org/TR/1999/REC-xslt-19991116",
     "transform 'http://www.w3.org/TR/1999/REC-xslt-19991116' is not allowed"),
])
def test_disallowed_signature_algorithms(sp, s, where, alg, reason):
    ten = sp["main"]
    flow = ten.start(s)
    xml = ten.response(flow)
    old = f'{where} Algorithm="{t.EXC_C14N}"'
    assert old in xml
    r = ten.answer(s, xml.replace(old, f'{where} Algorithm="{alg}"', 1), flow.relay_state)
    malformed(sp, s, r, reason)


# ------------------------------------------------------------ signing policy
@pytest.mark.parametrize("tenant,signed,reason", [
    ("sigresp", dict(sign_response=False), "the policy requires a signed Response"),
    ("sigassert", dict(sign_assertion=False), "the policy requires a signed Assertion"),
    ("sigboth", dict(sign_assertion=False),
     "the policy requires both Response and Assertion signed"),
    ("sigboth", dict(sign_response=False),
     "the policy requires both Response and Assertion signed"),
], ids=["response:assertion-only", "assertion:response-only", "both:response-only",
        "both:assertion-only"])
def test_signing_policy_refuses_the_missing_signature(sp, s, tenant, signed, reason):
    _, _, r = sign_in(sp, tenant, s, **signed)
    reject(sp, tenant, s, r, reason)


@pytest.mark.parametrize("tenant,signed", [
    ("sigresp", dict(sign_assertion=False)),
    ("sigassert", dict(sign_response=False)),
    ("sigboth", dict()),
    ("main", dict(sign_assertion=False)),
    ("main", dict(sign_response=False)),
], ids=["response:response-only", "assertion:assertion-only", "both:both",
        "either:response-only", "either:assertion-only"])
def test_signing_policy_accepts_what_it_asks_for(sp, s, tenant, signed):
    _, _, r = sign_in(sp, tenant, s, **signed)
    assert_signed_in(sp, sp[tenant], s, r)


@pytest.mark.parametrize("tenant,reason", [
    ("sigassert", "the policy requires a signed Assertion"),
    ("sigboth", "the policy requires both Response and Assertion signed"),
])
def test_unsigned_assertion_inside_signed_response(sp, s, tenant, reason):
    ten = sp[tenant]
    flow = ten.start(s)
    xml = sp.idp.unsigned_assertion_in_signed_response(
        acs_url=flow.acs_url, audience=flow.audience, in_response_to=flow.request_id,
        attributes=GOOD_ATTRS)
    reject(sp, tenant, s, ten.answer(s, xml, flow.relay_state), reason)


# ------------------------------------------------- document shape (wrapping)
def _evil_never_signed_in(sp):
    assert not [line for line in sp.log().splitlines()
                if "outcome=success" in line and t.EVIL_NAME_ID in line]


XSW_CASES = ([("both", f"XSW{i}") for i in range(1, 9)]
             + [("assertion-only", f"XSW{i}") for i in range(3, 9)]
             + [("response-only", "XSW1"), ("response-only", "XSW2")])
XSW_SIGNED = {"both": {}, "assertion-only": {"shape": "entra"},
              "response-only": {"sign_assertion": False}}


@pytest.mark.parametrize("signed,variant", XSW_CASES,
                         ids=[f"{a}-{b}" for a, b in XSW_CASES])
def test_xml_signature_wrapping_refused(sp, s, signed, variant):
    """Every XSW variant of testidp, on each signing layout it applies to.
    SID-only attributes, so a success would make the evil NameID the user."""
    ten = sp["main"]
    flow = ten.start(s)
    good = ten.response(flow, attributes=SID_ONLY, **XSW_SIGNED[signed])
    xml = t.xsw_variants(good)[variant]
    assert t.naive_name_id(xml) == t.EVIL_NAME_ID
    r = ten.answer(s, xml, flow.relay_state)
    reason = ("occurs twice" if variant in ("XSW7", "XSW8")
              else "the Response holds more than one Assertion")
    malformed(sp, s, r, reason)
    _evil_never_signed_in(sp)


@pytest.mark.parametrize("second_signed", [True, False], ids=["signed", "unsigned"])
def test_two_assertions_refused(sp, s, second_signed):
    ten = sp["main"]
    flow = ten.start(s)
    xml = sp.idp.add_second_assertion(ten.response(flow), signed=second_signed)
    malformed(sp, s, ten.answer(s, xml, flow.relay_state),
              "the Response holds more than one Assertion")
    _evil_never_signed_in(sp)


def test_signature_referencing_another_element_refused(sp, s):
    """A valid signature over the whole Response, placed in the Assertion."""
    ten = sp["main"]
    flow = ten.start(s)
    root = t._parse(ten.response(flow, sign_response=False, sign_assertion=False))
    tpl = t._signature_template(root.get("ID"), "ds", "rsa-sha256", "sha256", True, None)
    t._insert_after_issuer(t._assertion(root), tpl)
    xml = t._text(sp.idp._xmlsec_sign(etree.tostring(root)))
    malformed(sp, s, ten.answer(s, xml, flow.relay_state),
              "a signature references another element than the one it sits in")


def test_signature_outside_response_and_assertion_refused(sp, s):
    """A copy of the Assertion's signature in samlp:Extensions, everything
    (re-)signed so every signature verifies."""
    def add(root):
        ext = etree.Element(NS_SAMLP + "Extensions")
        t._own_signature(root).addnext(ext)
        ext.append(copy.deepcopy(t._own_signature(t._assertion(root))))
    _, _, r = edited(sp, "main", s, add)
    malformed(sp, s, r, "a signature sits somewhere other than on the Response or the Assertion")


def test_two_signatures_on_one_element_refused(sp, s):
    def dup(root):
        sig = t._own_signature(t._assertion(root))
        sig.addnext(copy.deepcopy(sig))
    _, _, r = edited(sp, "main", s, dup, resign=False)
    malformed(sp, s, r, "an element carries more than one signature")


def test_comment_in_name_id_reads_the_full_value(sp, s):
    """jane@example.test<!---->.evil.example, signature intact: the session
    user is the full NameID, never the text before the comment."""
    ten = sp["main"]
    flow = ten.start(s)
    full = "jane@example.test.evil.example"
    xml = t.comment_in_name_id(ten.response(flow, name_id=full, attributes=SID_ONLY),
                               keep="jane@example.test")
    assert t.naive_name_id(xml) == "jane@example.test"
    page = assert_signed_in(sp, ten, s, ten.answer(s, xml, flow.relay_state), user=SID)
    assert page.headers["X-Echo-NameID"] == full
    assert f'outcome=success tenant=main app=primary idp="{sp.idp.entity_id}" ' \
           f'client=127.0.0.1 user="{full}"' in sp.log()


def test_comment_in_upn_attribute_reads_the_full_value(sp, s):
    full = "jane@example.test.evil.example"

    def split(root):
        for at in root.iter(NS_SAML + "Attribute"):
            if at.get("Name") == "cip_upn":
                v = at.find(NS_SAML + "AttributeValue")
                v.text = "jane@example.test"
                c = etree.Comment("")
                c.tail = ".evil.example"
                v.append(c)
    ten = sp["main"]
    flow = ten.start(s)
    root = t._parse(ten.response(flow, attributes=[("cip_upn", [full])]))
    split(root)     # after signing: exclusive c14n drops comments, still valid
    r = ten.answer(s, t._text(root), flow.relay_state)
    assert_signed_in(sp, ten, s, r, user=full)


def test_not_a_response_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    xml = ten.response(flow).replace("samlp:Response", "samlp:LogoutResponse")
    malformed(sp, s, ten.answer(s, xml, flow.relay_state),
              "the message is not a SAML 2.0 Response")


def _extensions(root):
    ext = etree.Element(NS_SAMLP + "Extensions", nsmap={"x": "urn:x"})
    root.find(NS_SAML + "Issuer").addnext(ext)
    return ext


def test_nested_too_deeply_refused(sp, s):
    def deep(root):
        e = _extensions(root)
        for _ in range(60):
            e = etree.SubElement(e, "{urn:x}d")
    _, _, r = edited(sp, "main", s, deep)
    malformed(sp, s, r, "the document is nested too deeply or too large")


def test_too_many_elements_refused(sp, s):
    def many(root):
        ext = _extensions(root)
        for _ in range(20001):
            etree.SubElement(ext, "{urn:x}d")
    _, xml, r = edited(sp, "main", s, many, resign=False)
    assert len(xml) < 256 * 1024
    malformed(sp, s, r, "the document is nested too deeply or too large")


# ------------------------------------------------ Destination, Recipient ...
def test_wrong_destination(sp, s):
    flow, _, r = sign_in(sp, "main", s, destination=sp["main"].base + "/saml/acs2")
    reject(sp, "main", s, r, f"Destination '{sp['main'].base}/saml/acs2' is not the ACS URL "
                             f"'{flow.acs_url}'")


def test_signed_response_without_destination(sp, s):
    _, _, r = sign_in(sp, "main", s, destination=None, sign_response=True)
    reject(sp, "main", s, r, "the signed Response has no Destination")


def test_assertion_without_authn_statement(sp, s):
    _, _, r = sign_in(sp, "main", s, authn_context_class=None)
    reject(sp, "main", s, r, "the Assertion has no AuthnStatement")


def test_wrong_recipient(sp, s):
    flow, _, r = sign_in(sp, "main", s, recipient=sp["main"].base + "/saml/acs2")
    reject(sp, "main", s, r, f"Recipient '{sp['main'].base}/saml/acs2' is not the ACS URL "
                             f"'{flow.acs_url}'")


def test_wrong_audience(sp, s):
    flow, _, r = sign_in(sp, "main", s, audience="https://other-sp.example.test")
    reject(sp, "main", s, r, f"the Audience is not the SP entity ID '{flow.audience}'")


def test_no_audience_restriction(sp, s):
    _, _, r = sign_in(sp, "main", s, audience=None)
    reject(sp, "main", s, r, "the Assertion has no AudienceRestriction")


def test_no_conditions(sp, s):
    _, _, r = edited(sp, "main", s, lambda root: t._remove(
        root.find(f".//{NS_SAML}Conditions")))
    reject(sp, "main", s, r, "the Assertion has no Conditions (an Audience is required)")


# ---------------------------------------------------------------------- time
def test_conditions_expired_beyond_skew(sp, s):
    _, _, r = sign_in(sp, "main", s, not_on_or_after=seconds(-200))
    reject(sp, "main", s, r, "the Assertion has expired (Conditions NotOnOrAfter)")


def test_conditions_not_yet_valid_beyond_skew(sp, s):
    _, _, r = sign_in(sp, "main", s, not_before=seconds(200))
    reject(sp, "main", s, r, "the Assertion is not yet valid (Conditions NotBefore)")


def test_subject_confirmation_expired_beyond_skew(sp, s):
    _, _, r = sign_in(sp, "main", s, subject_not_on_or_after=seconds(-200))
    reject(sp, "main", s, r, "the SubjectConfirmationData has expired or has no NotOnOrAfter")


def test_subject_confirmation_without_not_on_or_after(sp, s):
    _, _, r = sign_in(sp, "main", s, subject_not_on_or_after=None)
    reject(sp, "main", s, r, "the SubjectConfirmationData has expired or has no NotOnOrAfter")


def test_times_within_the_120s_skew_accepted(sp, s):
    _, _, r = sign_in(sp, "main", s, not_before=seconds(60), not_on_or_after=seconds(-60),
                      subject_not_on_or_after=seconds(-60))
    assert_signed_in(sp, sp["main"], s, r)


def test_malformed_time_refused(sp, s):
    _, _, r = edited(sp, "main", s, lambda root: root.find(
        f".//{NS_SAML}Conditions").set("NotOnOrAfter", "tomorrow"))
    reject(sp, "main", s, r, "NotOnOrAfter 'tomorrow' is not a UTC dateTime")


# ------------------------------------------------------------------- Subject
def test_subject_confirmation_in_response_to_mismatch(sp, s):
    _, _, r = edited(sp, "main", s, lambda root: root.find(
        f".//{NS_SAML}SubjectConfirmationData").set("InResponseTo", "_another_request"))
    reject(sp, "main", s, r, "SubjectConfirmationData InResponseTo does not match the request")


def test_no_bearer_subject_confirmation(sp, s):
    _, _, r = edited(sp, "main", s, lambda root: root.find(
        f".//{NS_SAML}SubjectConfirmation").set(
            "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"))
    reject(sp, "main", s, r, "the Subject has no bearer SubjectConfirmation")


# ------------------------------------- InResponseTo, replay, browser binding
def test_unsolicited_response_refused(sp, s):
    _, _, r = sign_in(sp, "main", s, in_response_to=None)
    reject(sp, "main", s, r, "unsolicited Response (no InResponseTo): IdP-initiated sign-in "
                             "is not supported")


def test_unknown_in_response_to_refused(sp, s):
    _, _, r = sign_in(sp, "main", s, in_response_to="_" + "0" * 32)
    reject(sp, "main", s, r, "InResponseTo names no pending request (unknown, expired or "
                             "already used)")


def test_same_response_posted_twice(sp, s):
    ten = sp["main"]
    flow, xml, r = sign_in(sp, "main", s)
    assert_signed_in(sp, ten, s, r)
    with requests.Session() as s2:          # the replaying browser has no session
        s2.trust_env = False
        s2.cookies.set(flow.state_cookie, flow.state_value, path="/saml/")
        r2 = ten.answer(s2, xml, flow.relay_state)
        assert_rejected(sp, ten, s2, r2, "InResponseTo names no pending request (unknown, "
                                         "expired or already used)")


def test_pending_request_is_used_once(sp, s):
    """A second, new Assertion for the same AuthnRequest, with the state
    cookie restored: only the consumed pending request stops it."""
    ten = sp["main"]
    flow, _, r = sign_in(sp, "main", s)
    assert_signed_in(sp, ten, s, r)
    with requests.Session() as s2:
        s2.trust_env = False
        s2.cookies.set(flow.state_cookie, flow.state_value, path="/saml/")
        r2 = ten.answer(s2, ten.response(flow), flow.relay_state)
        assert_rejected(sp, ten, s2, r2, "InResponseTo names no pending request (unknown, "
                                         "expired or already used)")


def test_assertion_replayed_under_a_new_request(sp, s):
    ten = sp["main"]
    aid = t.new_id()
    _, _, r = sign_in(sp, "main", s, assertion_id=aid)
    assert_signed_in(sp, ten, s, r)
    with requests.Session() as s2:          # a second, genuine sign-in ...
        s2.trust_env = False
        _, _, r2 = sign_in(sp, "main", s2, assertion_id=aid)   # ... same Assertion ID
        assert_rejected(sp, ten, s2, r2, "the assertion was already used (replay)")


def test_response_without_the_state_cookie_refused(sp, s):
    """Posted from another browser (no cookies): refused; the pending request
    is not burned, so the right browser still signs in with it."""
    ten = sp["main"]
    flow = ten.start(s)
    xml = ten.response(flow)
    with requests.Session() as other:
        other.trust_env = False
        r = ten.answer(other, xml, flow.relay_state)
        assert_rejected(sp, ten, other, r, "the sign-in state cookie is missing or wrong: the "
                                           "sign-in was not started in this browser")
    assert_signed_in(sp, ten, s, ten.answer(s, xml, flow.relay_state))


def test_response_with_a_wrong_state_cookie_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    s.cookies.set(flow.state_cookie, "0" * len(flow.state_value), path="/saml/")
    r = ten.answer(s, ten.response(flow), flow.relay_state)
    reject(sp, "main", s, r, "the sign-in state cookie is missing or wrong")


def test_wrong_relay_state_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    xml = ten.response(flow)
    wrong = "f" * len(flow.relay_state)
    assert wrong != flow.relay_state
    reject(sp, "main", s, ten.answer(s, xml, wrong),
           "RelayState does not match the pending request")
    assert_signed_in(sp, ten, s, ten.answer(s, xml, flow.relay_state))


@pytest.mark.parametrize("relay", [None, ""], ids=["absent", "empty"])
def test_missing_or_empty_relay_state_accepted(sp, s, relay):
    """Okta's IdP-side quirk: the RelayState may come back empty."""
    ten = sp["main"]
    flow = ten.start(s)
    assert_signed_in(sp, ten, s, ten.answer(s, ten.response(flow), relay))


def test_response_posted_to_another_tenants_acs_refused(sp, s):
    """Tenant main's Response (same host, other port) posted to tenant sha1's
    ACS; main's own ACS then still accepts it."""
    main, other = sp["main"], sp["sha1"]
    flow = main.start(s)
    xml = main.response(flow)
    r = other.answer(s, xml, flow.relay_state)
    assert_rejected(sp, other, s, r, "the Response was posted to another app's ACS than its "
                                     "request named")
    assert_signed_in(sp, main, s, main.answer(s, xml, flow.relay_state))


# ------------------------------------------------------------ malformed input
def test_doctype_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    xml = t.doctype_xxe(ten.response(flow), bomb_levels=0)
    malformed(sp, s, ten.answer(s, xml, flow.relay_state),
              "the SAMLResponse contains a DOCTYPE or entity declaration")


def test_xxe_refused_and_never_fetched(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.setblocking(False)
        url = "http://127.0.0.1:%d/xxe" % listener.getsockname()[1]
        xml = t.doctype_xxe(ten.response(flow), system_uri=url)
        malformed(sp, s, ten.answer(s, xml, flow.relay_state),
                  "the SAMLResponse contains a DOCTYPE or entity declaration")
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_doctype_hidden_in_utf16_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    doc = ("<?xml version='1.0' encoding='UTF-16'?>\n"
           + t.doctype_xxe(ten.response(flow), bomb_levels=0)).encode("utf-16")
    form = {"SAMLResponse": base64.b64encode(doc).decode(), "RelayState": flow.relay_state}
    malformed(sp, s, post(ten.acs, session=s, data=form), "the SAMLResponse is not UTF-8 XML")


def test_truncated_xml_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    xml = ten.response(flow)
    malformed(sp, s, ten.answer(s, xml[: len(xml) // 2], flow.relay_state),
              "the SAMLResponse is not well-formed XML")


def test_base64_garbage_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    r = post(ten.acs, session=s, data={"SAMLResponse": "!!not*base64!!",
                                       "RelayState": flow.relay_state})
    malformed(sp, s, r, "the SAMLResponse is not Base64, or decodes beyond the size limit")


def test_oversized_post_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    r = post(ten.acs, session=s, data={"SAMLResponse": "A" * (600 * 1024),
                                       "RelayState": flow.relay_state})
    assert_rejected(sp, ten, s, r, "the POST body is not a readable form or is larger than "
                                   "the limit", status=(400, 413))


def test_oversized_decoded_response_refused(sp, s):
    """Within the form limit, but decoding to more than 256 KiB."""
    ten = sp["main"]
    flow = ten.start(s)
    big = base64.b64encode(b"<x>" + b"a" * (300 * 1024) + b"</x>").decode()
    r = post(ten.acs, session=s, data={"SAMLResponse": big, "RelayState": flow.relay_state})
    malformed(sp, s, r, "the SAMLResponse is not Base64, or decodes beyond the size limit")


def test_post_without_saml_response_refused(sp, s):
    ten = sp["main"]
    flow = ten.start(s)
    malformed(sp, s, post(ten.acs, session=s, data={"RelayState": flow.relay_state}),
              "no SAMLResponse in the POST")


def test_acs_only_takes_post(sp, s):
    r = get(sp["main"].acs, session=s)
    assert r.status_code == 405
    assert SESSION_COOKIE not in s.cookies


# -------------------------------------------------------------------- Status
def test_status_responder_gives_the_generic_error(sp, s):
    _, _, r = sign_in(sp, "main", s, status=RESPONDER)
    reject(sp, "main", s, r, f"the IdP answered {RESPONDER}")


@pytest.mark.parametrize("top,second", [(RESPONDER, AUTHN_FAILED), (REQUESTER, REQUEST_DENIED)],
                         ids=["AuthnFailed", "RequestDenied"])
def test_cancelled_at_the_idp(sp, s, top, second):
    _, _, r = sign_in(sp, "main", s, status=top, second_status=second)
    reject(sp, "main", s, r, f"the IdP answered {top} / {second}", title=CANCELLED)
    assert "The sign-in was cancelled or refused at your identity provider" in r.text


def test_success_without_assertion_refused(sp, s):
    _, _, r = sign_in(sp, "main", s, include_assertion=False)
    reject(sp, "main", s, r, "the Response carries no Assertion")


def test_response_without_status_code_refused(sp, s):
    _, _, r = edited(sp, "main", s, lambda root: t._remove(
        root.find(f".//{NS_SAMLP}StatusCode")))
    reject(sp, "main", s, r, "the Response has no StatusCode")


def test_encrypted_assertion_without_decryption_key(sp, s):
    _, xml, r = sign_in(sp, "main", s, encrypt_to_cert=sp.td.cert)
    assert "EncryptedAssertion" in xml
    reject(sp, "main", s, r, "encrypted assertion received but no decryption key configured")


# ----------------------------------------------------------- AuthnContext
def test_authn_context_exact_refuses_another_class(sp, s):
    _, _, r = sign_in(sp, "pptexact", s, authn_context_class=PASSWORD)
    reject(sp, "pptexact", s, r, f"the authentication context '{PASSWORD}' is not the "
                                 f"required '{PPT}'")


def test_authn_context_exact_refuses_a_missing_class(sp, s):
    # No AuthnContext at all fails earlier, as an assertion without AuthnStatement.
    _, _, r = sign_in(sp, "pptexact", s, authn_context_class=None)
    reject(sp, "pptexact", s, r, "the Assertion has no AuthnStatement")


def test_authn_context_exact_accepts_the_class(sp, s):
    _, _, r = sign_in(sp, "pptexact", s, authn_context_class=PPT)
    assert_signed_in(sp, sp["pptexact"], s, r)


def test_authn_context_minimum_is_not_enforced(sp, s):
    _, _, r = sign_in(sp, "pptmin", s, authn_context_class=PASSWORD)
    assert_signed_in(sp, sp["pptmin"], s, r)


# ---------------------------------------------------------------- attributes
def attribute_error(sp, s, resp, problems: dict[str, str], secret_values=()):
    """The attribute error page lists each NAME with its problem, never a value."""
    txid = assert_rejected(sp, sp["main"], s, resp, [f"{n}: {why}" for n, why in problems.items()],
                           title=ATTR_ERROR)
    for name, why in problems.items():
        assert f"<li><code>{name}</code>: {why}</li>" in resp.text
    reasons = [line.split(' reason="', 1)[-1] for line in log_lines(sp, txid)]
    for v in secret_values:
        assert v not in resp.text
        assert not [reason for reason in reasons if v in reason]
    assert "outcome=attribute-error" in "".join(log_lines(sp, txid))


def test_attribute_error_missing_upn_and_sid(sp, s):
    _, _, r = sign_in(sp, "main", s, attributes=[("mail", [UPN])])
    missing = "missing (one of UPN or SID is required)"
    attribute_error(sp, s, r, {"cip_upn": missing, "cip_sid": missing})


def test_attribute_error_oid_not_a_guid(sp, s):
    bad = "ObjectGUID_MUST_BE_CONFIGURED"
    _, _, r = sign_in(sp, "main", s, attributes=GOOD_ATTRS + [("cip_oid", [bad])])
    attribute_error(sp, s, r, {"cip_oid": "not a GUID (string or Base64 of 16 bytes)"}, [bad])


def test_attribute_error_multi_valued_upn(sp, s):
    values = ["jane@example.test", "john@example.test"]
    _, _, r = sign_in(sp, "main", s, attributes=[("cip_upn", values)])
    attribute_error(sp, s, r, {"cip_upn": "multi-valued"}, values)


def test_attribute_error_bad_email(sp, s):
    bad = "jane.at.example.test"
    _, _, r = sign_in(sp, "main", s, attributes=GOOD_ATTRS + [("cip_email", [bad])])
    attribute_error(sp, s, r, {"cip_email": "not of the form user@domain"}, [bad])


MS_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/cip_upn"


def test_azure_uri_claims_are_ignored(sp, s):
    """Entra's claims, plus a namespaced cip_upn that must not win."""
    _, _, r = sign_in(sp, "main", s, shape="entra",
                      attributes=GOOD_ATTRS + [(MS_UPN, [t.EVIL_NAME_ID])])
    page = assert_signed_in(sp, sp["main"], s, r, user=UPN)
    assert page.headers["X-Echo-UPN"] == UPN
    assert f"attribute with namespace prefix found: {MS_UPN} is not cip_upn" in sp.log()


def test_azure_uri_claim_is_no_alias(sp, s):
    _, _, r = sign_in(sp, "main", s, shape="entra", attributes=[(MS_UPN, [t.EVIL_NAME_ID])])
    missing = "missing (one of UPN or SID is required)"
    attribute_error(sp, s, r, {"cip_upn": missing, "cip_sid": missing}, [t.EVIL_NAME_ID])


# -------------------------------------------------- protected location itself
@pytest.mark.parametrize("method,headers", [
    ("GET", {"Accept": "application/json"}),
    ("GET", {"X-Requested-With": "XMLHttpRequest"}),
    ("POST", {}),
], ids=["accept-json", "xhr", "post"])
def test_non_browser_request_gets_401_not_a_redirect(sp, s, method, headers):
    r = s.request(method, sp["main"].portal, headers=headers, allow_redirects=False,
                  timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers.get("WWW-Authenticate") == "IdBroker"
    assert "Location" not in r.headers and "SAMLRequest" not in r.text
    assert not any(c.name.startswith("idbroker_state_") for c in s.cookies)


def test_client_sent_identity_headers_are_not_passed_through(sp, s):
    ten = sp["main"]
    _, _, r = sign_in(sp, "main", s)
    assert_signed_in(sp, ten, s, r)
    for name in ("X-IdBroker-cip_upn", "x-idbroker-CIP_UPN"):
        page = ten.portal_get(s, **{name: t.EVIL_NAME_ID, "X-IdBroker-Role": "admin"})
        assert page.status_code == 200 and page.text == PORTAL_TEXT
        assert page.headers["X-Echo-UPN"] == UPN, page.headers
        assert page.headers["X-Echo-User"] == UPN
        assert page.headers.get("X-Echo-Role", "") == "", page.headers   # stripped


def _encrypted_stub(local: str):
    """saml:<local> with an opaque xenc:EncryptedData: nothing to decrypt it with."""
    el = etree.Element(NS_SAML + local)
    ed = etree.SubElement(el, f"{{{t.XENC}}}EncryptedData", nsmap={"xenc": t.XENC})
    etree.SubElement(etree.SubElement(ed, f"{{{t.XENC}}}CipherData"),
                     f"{{{t.XENC}}}CipherValue").text = base64.b64encode(b"x" * 48).decode()
    return el


def test_encrypted_attribute_without_decryption_key(sp, s):
    def add(root):
        root.find(f".//{NS_SAML}AttributeStatement").append(_encrypted_stub("EncryptedAttribute"))
    _, _, r = edited(sp, "main", s, add)
    reject(sp, "main", s, r, "encrypted attribute received but no decryption key configured")


def test_encrypted_name_id_without_decryption_key(sp, s):
    """The NameID encrypted to the SP's certificate, as IdPs do it."""
    def swap(root):
        nid = root.find(f".//{NS_SAML}NameID")
        enc = t._encrypt(nid, sp.td.cert, "aes256-cbc", t.SHAPES["adfs"])
        enc.tag = NS_SAML + "EncryptedID"
        nid.getparent().replace(nid, enc)
    _, xml, r = edited(sp, "main", s, swap)
    assert "EncryptedID" in xml and "NameID" not in xml.replace("EncryptedID", "")
    reject(sp, "main", s, r, "encrypted NameID received but no decryption key configured")
