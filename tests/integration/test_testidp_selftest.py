"""Self-test of testidp.py without mod_auth_idbroker: its Responses must be
what real IdPs send (schema-valid, signatures verifiable by xmlsec1, accepted
by another SP implementation, lasso), and its hostile variants must be the
attacks they claim to be. If these fail, ACS test results mean nothing."""
from __future__ import annotations

import base64
import re
import zlib
from urllib.parse import quote

import lasso
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

import pki
import testidp as t
from harness import validate_saml_metadata

SP = "https://sp.example.test/sp"
ACS = "https://sp.example.test/saml/acs"
REQ = "_a3f1c0de5b7d4e6189"
NS = {"samlp": t.SAMLP, "saml": t.SAML, "ds": t.DS, "xenc": t.XENC}


@pytest.fixture(scope="module")
def idp():
    return t.TestIdp()


@pytest.fixture(scope="module")
def idp_cert(idp, tmp_path_factory):
    return idp.cert_pem_path(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="module")
def sp_keys():
    key = pki.private_key("rsa2048", 6)
    return key, pki.certificate(key, cn="sp.example.test")


@pytest.fixture(scope="module")
def lasso_sp(idp, sp_keys):
    """lasso as an independent SP that trusts the TestIdp (by its metadata)."""
    key, cert = sp_keys
    md = (f'<md:EntityDescriptor xmlns:md="{t.MD}" xmlns:ds="{t.DS}" entityID="{SP}">'
          f'<md:SPSSODescriptor protocolSupportEnumeration="{t.SAMLP}">'
          '<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
          f'{pki.cert_b64(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
          f'<md:AssertionConsumerService index="0" Binding="{t.BINDING_POST}" Location="{ACS}"/>'
          '</md:SPSSODescriptor></md:EntityDescriptor>')
    assert validate_saml_metadata(md.encode()) == []
    server = lasso.Server.newFromBuffers(md, pki.key_pem(key).decode(), None,
                                         pki.cert_pem(cert).decode())
    server.addProviderFromBuffer(lasso.PROVIDER_ROLE_IDP, idp.metadata_xml())

    def consume(xml: str) -> lasso.Login:
        login = lasso.Login(server)
        login.processAuthnResponseMsg(idp.post_form(xml, None)["SAMLResponse"])
        login.acceptSso()
        return login
    return consume


def response(idp, **kw) -> str:
    kw = {"acs_url": ACS, "audience": SP, "in_response_to": REQ, **kw}
    return idp.response(**kw)


def parse(xml: str):
    return etree.fromstring(xml.encode())


def assertion_of(root):
    return root.find("saml:Assertion", NS)


def verified(xml, cert, which=None) -> bool:
    return t.verify_signature(xml, cert, which).returncode == 0


# ------------------------------------------------------------------ shapes
# shape: (Response prefix, Assertion prefix, ID pattern, IssueInstant pattern,
#         NameFormat, AuthnStatement first, signed Response, cert in KeyInfo)
SHAPE_FACTS = {
    "adfs": ("samlp", None, r"_[0-9a-f-]{36}", r"\.\d{3}Z", None, False, True, True),
    "entra": ("samlp", None, r"_[0-9a-f-]{36}", r"\.\d{7}Z", None, False, False, True),
    "okta": ("saml2p", "saml2", r"id\d{26}", r"\.\d{3}Z", t.ATTRNAME_UNSPECIFIED, True, True, True),
    "ping": ("samlp", "saml", r"[A-Za-z][\w.-]{26}", r"\.\d{3}Z", t.ATTRNAME_BASIC, True, True,
             False),
    "plain": ("samlp", "saml", r"_[0-9a-f]{40}", r":\d\dZ", t.ATTRNAME_URI, True, True, True),
}


@pytest.mark.parametrize("shape", list(t.SHAPES))
def test_shape_valid_signed_and_accepted(idp, idp_cert, lasso_sp, shape):
    xml = response(idp, shape=shape)
    assert t.validate_saml_protocol(xml) == []
    p_prefix, a_prefix, id_re, instant_re, name_format, authn_first, signed_resp, cert = \
        SHAPE_FACTS[shape]
    root = parse(xml)
    a = assertion_of(root)
    assert root.prefix == p_prefix and a.prefix == a_prefix
    assert a.find("saml:Issuer", NS).prefix == a_prefix
    assert re.fullmatch(id_re, root.get("ID")) and re.fullmatch(id_re, a.get("ID"))
    assert re.search(instant_re, root.get("IssueInstant"))
    assert root.get("Destination") == ACS and root.get("InResponseTo") == REQ
    assert {at.get("NameFormat") for at in a.iterfind(".//saml:Attribute", NS)} == {name_format}
    # schema order: Issuer, Signature, Subject, Conditions, statements
    kids = [etree.QName(c).localname for c in a]
    assert kids[:4] == ["Issuer", "Signature", "Subject", "Conditions"]
    assert kids[4:] == (["AuthnStatement", "AttributeStatement"] if authn_first
                        else ["AttributeStatement", "AuthnStatement"])
    assert a.find("saml:AuthnStatement", NS).get("SessionIndex") == a.get("ID")
    assert (root.find("ds:Signature", NS) is not None) == signed_resp
    assert (a.find("ds:Signature//ds:X509Certificate", NS) is not None) == cert
    assert verified(xml, idp_cert, "assertion")
    if signed_resp:
        assert verified(xml, idp_cert, "response")
    login = lasso_sp(xml)
    assert login.nameIdentifier.content == "jane@example.test"


def test_shape_details(idp):
    adfs = parse(response(idp, shape="adfs"))
    assert adfs.get("Consent") == t.CONSENT_UNSPECIFIED
    assert assertion_of(adfs).find(".//saml:NameID", NS).get("Format") is None
    assert adfs.find("saml:Issuer", NS).nsmap[None] == t.SAML

    entra_idp = t.TestIdp(entity_id=t.entra_entity_id())
    entra = parse(response(entra_idp, shape="entra", attributes=[("mail", ["j@x.test"])]))
    a = assertion_of(entra)
    assert entra.find("saml:Issuer", NS).text == "https://sts.windows.net/%s/" % t.ENTRA_TENANT
    assert a.find(".//saml:NameID", NS).get("Format") == t.NAMEID_EMAIL
    assert a.find("ds:Signature", NS).prefix is None
    claims = {at.get("Name"): at.findtext("saml:AttributeValue", namespaces=NS)
              for at in a.iterfind(".//saml:Attribute", NS)}
    assert claims["http://schemas.microsoft.com/identity/claims/tenantid"] == t.ENTRA_TENANT
    assert "http://schemas.microsoft.com/identity/claims/objectidentifier" in claims
    assert "http://schemas.microsoft.com/claims/authnmethodsreferences" in claims

    okta = parse(response(idp, shape="okta"))
    a = assertion_of(okta)
    assert okta.find("saml:Issuer", NS).get("Format") == t.NAMEID_ENTITY
    assert a.find("saml:Issuer", NS).get("Format") == t.NAMEID_ENTITY
    assert a.find(".//saml:NameID", NS).get("Format") == t.NAMEID_UNSPECIFIED
    assert a.find(".//saml:AttributeValue", NS).get(f"{{{t.XSI}}}type") == "xs:string"
    assert a.find(".//ds:Transform/{%s}InclusiveNamespaces" % t.EXC_C14N, NS) is not None

    ping = parse(response(idp, shape="ping"))
    assert assertion_of(ping).find("ds:Signature/ds:KeyInfo", NS) is None


def test_tampered_attribute_rejected(idp, idp_cert, lasso_sp):
    for shape in ("entra", "okta"):
        bad = t.tamper_attribute_value(response(idp, shape=shape), "mail", "boss@example.test")
        assert "boss@example.test" in bad
        assert not verified(bad, idp_cert, "assertion")
        with pytest.raises(lasso.Error):
            lasso_sp(bad)
    with pytest.raises(lasso.Error):
        lasso_sp(t.strip_signatures(response(idp, shape="okta")))


@pytest.mark.parametrize("enc_alg", ["aes256-cbc", "aes128-gcm"])
def test_encrypted_assertion(idp, sp_keys, idp_cert, lasso_sp, enc_alg):
    xml = response(idp, shape="okta", encrypt_to_cert=sp_keys[1], enc_alg=enc_alg,
                   attributes=[("mail", ["jane@example.test"]), ("role", ["a", "b"], None)])
    root = parse(xml)
    assert assertion_of(root) is None and b"jane@example.test" not in xml.encode()
    assert root.find("saml:EncryptedAssertion/xenc:EncryptedData", NS) is not None
    assert t.validate_saml_protocol(xml) == []
    assert verified(xml, idp_cert, "response")
    login = lasso_sp(xml)
    assert login.nameIdentifier.content == "jane@example.test"


@pytest.mark.parametrize("sig_alg,digest_alg", [("rsa-sha1", "sha1"), ("rsa-sha512", "sha512")])
def test_algorithms(idp, idp_cert, lasso_sp, sig_alg, digest_alg):
    xml = response(idp, shape="plain", sig_alg=sig_alg, digest_alg=digest_alg)
    assert t.SIG_ALGS[sig_alg] in xml and t.DIGEST_ALGS[digest_alg] in xml
    assert verified(xml, idp_cert, "response") and verified(xml, idp_cert, "assertion")
    lasso_sp(xml)


def test_ec_key(tmp_path):
    ec_idp = t.TestIdp(key_kind="ec256", slot=5)
    xml = response(ec_idp, shape="okta")
    assert t.SIG_ALGS["ecdsa-sha256"] in xml
    cert = ec_idp.cert_pem_path(tmp_path)
    assert verified(xml, cert, "response") and verified(xml, cert, "assertion")


def test_options(idp, idp_cert):
    xml = response(idp, shape="adfs", destination=None, recipient=None, in_response_to=None,
                   audience=[SP, "urn:other"], response_issuer="", not_before=None,
                   name_qualifier="nq", sp_name_qualifier=SP, session_index="",
                   name_id_format=t.NAMEID_EMAIL, include_cert_in_keyinfo=False)
    root = parse(xml)
    a = assertion_of(root)
    assert root.get("Destination") is None and root.get("InResponseTo") is None
    assert root.find("saml:Issuer", NS) is None
    scd = a.find(".//saml:SubjectConfirmationData", NS)
    assert scd.get("Recipient") is None and scd.get("InResponseTo") is None
    assert [e.text for e in a.iterfind(".//saml:Audience", NS)] == [SP, "urn:other"]
    assert a.find("saml:Conditions", NS).get("NotBefore") is None
    nid = a.find(".//saml:NameID", NS)
    assert (nid.get("NameQualifier"), nid.get("SPNameQualifier"), nid.get("Format")) == \
        ("nq", SP, t.NAMEID_EMAIL)
    assert a.find("saml:AuthnStatement", NS).get("SessionIndex") is None
    assert root.find("ds:Signature/ds:KeyInfo", NS) is None
    assert t.validate_saml_protocol(xml) == []
    assert verified(xml, idp_cert, "response") and verified(xml, idp_cert, "assertion")


def test_error_status(idp):
    xml = response(idp, shape="okta", status="urn:oasis:names:tc:SAML:2.0:status:Responder",
                   second_status="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
                   status_message="no")
    root = parse(xml)
    assert assertion_of(root) is None
    codes = [c.get("Value") for c in root.iter(f"{{{t.SAMLP}}}StatusCode")]
    assert codes[1].endswith("AuthnFailed")
    assert t.validate_saml_protocol(xml) == []


def test_signature_breaks_on_edit_and_resign_repairs(idp, idp_cert):
    xml = response(idp, shape="ping").replace(SP, "https://evil.example.test/sp")
    assert not verified(xml, idp_cert, "response")
    fixed = idp.resign(xml)
    assert verified(fixed, idp_cert, "response") and verified(fixed, idp_cert, "assertion")


# ------------------------------------------------------------- hostile
def sig_value(el) -> str:
    return el.find("ds:Signature/ds:SignatureValue", NS).text


XSW_VERIFIED_BY_XMLSEC = {"XSW2", "XSW3", "XSW4", "XSW5"}


def test_xsw_variants_both_signed(idp, idp_cert):
    xml = response(idp, shape="okta")
    root = parse(xml)
    resp_sig, assertion_sig = sig_value(root), sig_value(assertion_of(root))
    variants = t.xsw_variants(xml, evil_name_id="admin@example.test")
    assert list(variants) == [f"XSW{i}" for i in range(1, 9)]
    for name, v in variants.items():
        vroot = parse(v)                      # still well-formed
        assert "admin@example.test" in v, name
        assert t.naive_name_id(v) == "admin@example.test", name
        original = resp_sig if name in ("XSW1", "XSW2") else assertion_sig
        assert original in v, name
        ids = [e.get("ID") for e in vroot.iter() if e.get("ID")]
        assert (len(ids) != len(set(ids))) == (name in ("XSW7", "XSW8")), name  # duplicate IDs
        # XSW2..5 are the wrapping attack proper: the original signature still
        # verifies (resolved by ID) while the naive SP reads the evil Assertion.
        # XSW1/6/8 keep the signed copy inside ds:Signature, which the
        # enveloped-signature transform (as xmlsec implements it) digests to
        # nothing / rejects; XSW7/8 repeat an ID, which xmlsec1 refuses.
        which = "response" if name in ("XSW1", "XSW2") else None
        assert verified(v, idp_cert, which) == (name in XSW_VERIFIED_BY_XMLSEC), name


def test_xsw_variants_only_where_they_apply(idp):
    entra = t.xsw_variants(response(idp, shape="entra"))           # assertion signed only
    assert list(entra) == [f"XSW{i}" for i in range(3, 9)]
    resp_only = t.xsw_variants(response(idp, shape="adfs", sign_assertion=False))
    assert list(resp_only) == ["XSW1", "XSW2"]
    for v in [*entra.values(), *resp_only.values()]:
        assert t.naive_name_id(v) == t.EVIL_NAME_ID
    with pytest.raises(ValueError):
        t.xsw_variants(response(idp, sign_response=False, sign_assertion=False))


def test_xsw_structures(idp):
    v = t.xsw_variants(response(idp, shape="adfs"))
    r = {k: parse(x) for k, x in v.items()}
    assert r["XSW1"].find("ds:Signature/ds:Object/samlp:Response", NS) is not None
    assert r["XSW2"][1].tag == f"{{{t.SAMLP}}}Response"
    assert len(r["XSW3"].findall("saml:Assertion", NS)) == 2
    assert assertion_of(r["XSW4"]).find("saml:Assertion/ds:Signature", NS) is not None
    assert r["XSW5"][-1].tag == f"{{{t.SAML}}}Assertion"
    assert assertion_of(r["XSW6"]).find("ds:Signature/saml:Assertion", NS) is not None
    assert r["XSW7"].find("samlp:Extensions/saml:Assertion/ds:Signature", NS) is not None
    assert assertion_of(r["XSW8"]).find("ds:Signature/ds:Object/saml:Assertion", NS) is not None


def test_comment_in_name_id_keeps_signature(idp, idp_cert):
    xml = response(idp, shape="okta", name_id="jane@example.test.evil.example")
    hostile = t.comment_in_name_id(xml, keep="jane@example.test")
    assert "jane@example.test<!---->.evil.example" in hostile
    assert t.naive_name_id(hostile) == "jane@example.test"
    assert verified(hostile, idp_cert, "assertion") and verified(hostile, idp_cert, "response")
    # the same thing signed as is, via raw NameID content
    raw = response(idp, shape="adfs", name_id_raw_xml="jane@example.test<!---->.evil.example")
    assert "jane@example.test<!---->.evil.example" in raw
    assert verified(raw, idp_cert, "assertion") and verified(raw, idp_cert, "response")


def test_second_assertion(idp, idp_cert):
    for signed in (True, False):
        xml = idp.add_second_assertion(response(idp, shape="ping"), signed=signed)
        assertions = parse(xml).findall("saml:Assertion", NS)
        assert len(assertions) == 2
        assert (assertions[1].find("ds:Signature", NS) is not None) == signed
        assert verified(xml, idp_cert, "response")
        assert t.validate_saml_protocol(xml) == []


def test_unsigned_assertion_in_signed_response(idp, idp_cert):
    xml = idp.unsigned_assertion_in_signed_response(acs_url=ACS, audience=SP,
                                                    in_response_to=REQ, shape="okta")
    root = parse(xml)
    assert assertion_of(root).find("ds:Signature", NS) is None
    assert verified(xml, idp_cert, "response")


def test_doctype_xxe(idp):
    xml = response(idp, shape="adfs")
    hostile = t.doctype_xxe(xml)
    assert hostile.startswith("<!DOCTYPE samlp:Response [")
    assert '<!ENTITY xxe SYSTEM "file:///etc/passwd">' in hostile
    assert '<!ENTITY lol9 "&lol8;&lol8;' in hostile and "&xxe;&lol9;</NameID>" in hostile
    # well-formed: parses when nothing is substituted or fetched (huge_tree
    # lifts libxml2's amplification guard, which trips on the bomb as such)
    safe = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    assert etree.fromstring(hostile.encode(), safe).getroottree().docinfo.internalDTD is not None
    plain = t.doctype_xxe(xml, system_uri="http://127.0.0.1:9/x", bomb_levels=0)
    assert "lol" not in plain and "&xxe;</NameID>" in plain
    etree.fromstring(plain.encode(), etree.XMLParser(resolve_entities=False, no_network=True))


# ------------------------------------------------------- the SP's request
def authn_request_xml(request_id: str) -> bytes:
    return (f'<samlp:AuthnRequest xmlns:samlp="{t.SAMLP}" xmlns:saml="{t.SAML}" ID="{request_id}" '
            f'Version="2.0" IssueInstant="2025-01-01T00:00:00Z" AssertionConsumerServiceURL="{ACS}">'
            f"<saml:Issuer>{SP}</saml:Issuer></samlp:AuthnRequest>").encode()


def fake_response(status: int, headers=None, body=b"") -> requests.Response:
    r = requests.Response()
    r.status_code, r._content = status, body
    r.headers.update(headers or {})
    return r


def test_sign_in_redirect_binding(sp_keys):
    key, _ = sp_keys
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    saml = deflater.compress(authn_request_xml("_req42")) + deflater.flush()
    signed = (f"SAMLRequest={quote(base64.b64encode(saml), safe='')}"
              f"&RelayState={quote('/app/?a=1&b=2', safe='')}"
              f"&SigAlg={quote(t.SIG_ALGS['rsa-sha256'], safe='')}")
    sig = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    loc = f"https://idp.example.test/sso?{signed}&Signature={quote(base64.b64encode(sig), safe='')}"
    r = fake_response(303, {"Location": loc})
    assert t.authn_request_id_from(r) == ("_req42", "/app/?a=1&b=2")
    req = t.sign_in_request(r)
    assert req.binding == "redirect" and req.url == "https://idp.example.test/sso"
    assert t.decode_authn_request(r).get("AssertionConsumerServiceURL") == ACS
    params = t.redirect_signature_params(r)
    assert params["SigAlg"] == t.SIG_ALGS["rsa-sha256"]
    key.public_key().verify(params["Signature"], params["signed_octets"], padding.PKCS1v15(),
                            hashes.SHA256())


def test_sign_in_post_binding():
    b64 = base64.b64encode(authn_request_xml("_req43")).decode()
    page = (f'<!DOCTYPE html><html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="https://idp.example.test/sso">'
            f'<input type="hidden" name="SAMLRequest" value="{b64}"/>'
            f'<input type="hidden" name="RelayState" value="r&amp;1"/></form></body></html>')
    r = fake_response(200, {"Content-Type": "text/html"}, page.encode())
    assert t.authn_request_id_from(r) == ("_req43", "r&1")
    req = t.sign_in_request(r)
    assert req.binding == "post" and req.url == "https://idp.example.test/sso"
    assert t.redirect_signature_params(r) == {}


def test_idp_metadata_valid(idp):
    assert validate_saml_metadata(idp.metadata_xml().encode()) == []
