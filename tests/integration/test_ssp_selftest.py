"""Self-test of the SimpleSAMLphp IdP fixture (ssp.py) without the module:
a fake SP (metadata + hand-made AuthnRequests) signs in against the real
IdP. If these fail, the sign-in tests built on ssp.py are meaningless."""
from __future__ import annotations

import base64
import datetime as dt
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote_plus

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

import pki
from harness import free_port, get
from ssp import (NAMEID_FORMATS, RSA_SHA256, browser_login, error_text, form_fields,
                 is_error_page, post_to_sp, saml_response_xml)
from ssp import ssp_idp, ssp_idp_factory  # noqa: F401  (pytest fixtures)

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
}
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"


class FakeSP:
    """Entity ID, ACS, SLO and (optionally) a signing key of an SP that
    exists only as metadata; nothing listens on its port unless serve()."""

    def __init__(self, port: int | None = None, key_slot: int | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.entity_id = f"{self.base}/sp"
        self.acs = f"{self.base}/saml/acs"
        self.slo = f"{self.base}/saml/slo"
        self.key = pki.private_key("rsa2048", key_slot) if key_slot is not None else None
        self.cert = pki.certificate(self.key, cn="fake-sp.test") if self.key else None

    def metadata(self) -> bytes:
        key = ""
        if self.cert is not None:
            key = (f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
                   f"<ds:X509Certificate>{pki.cert_b64(self.cert)}</ds:X509Certificate>"
                   "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>")
        return (f'<md:EntityDescriptor xmlns:md="{NS["md"]}" xmlns:ds="{NS["ds"]}" '
                f'entityID="{self.entity_id}">'
                f'<md:SPSSODescriptor protocolSupportEnumeration="{NS["samlp"]}" '
                f'AuthnRequestsSigned="{"true" if self.cert else "false"}">{key}'
                f'<md:SingleLogoutService Binding="{REDIRECT}" Location="{self.slo}"/>'
                "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
                "</md:NameIDFormat>"
                f'<md:AssertionConsumerService index="0" Binding="{POST}" '
                f'Location="{self.acs}"/>'
                "</md:SPSSODescriptor></md:EntityDescriptor>").encode()

    def authn_request(self, idp, req_id: str = "_abc", nameid_policy: str | None = None) -> bytes:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        policy = (f'<samlp:NameIDPolicy Format="{nameid_policy}" AllowCreate="true"/>'
                  if nameid_policy else "")
        return (f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
                f'ID="{req_id}" Version="2.0" IssueInstant="{now}" '
                f'Destination="{idp.sso_url}" AssertionConsumerServiceURL="{self.acs}" '
                f'ProtocolBinding="{POST}"><saml:Issuer>{self.entity_id}</saml:Issuer>'
                f"{policy}</samlp:AuthnRequest>").encode()

    def redirect_start(self, idp, xml: bytes, relay_state: str = "rs-1",
                       sign: bool = False) -> requests.Response:
        """What an SP answers to start sign-in with HTTP-Redirect: a 302."""
        co = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = co.compress(xml) + co.flush()
        query = (f"SAMLRequest={quote_plus(base64.b64encode(deflated).decode())}"
                 f"&RelayState={quote_plus(relay_state)}")
        if sign:
            query += f"&SigAlg={quote_plus(RSA_SHA256)}"
            sig = self.key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
            query += f"&Signature={quote_plus(base64.b64encode(sig).decode())}"
        return fake_response(302, {"Location": f"{idp.sso_url}?{query}"}, b"", self.base + "/app/")

    def post_start(self, idp, xml: bytes, relay_state: str = "rs-post") -> requests.Response:
        """What an SP answers to start sign-in with HTTP-POST: a self-
        submitting form."""
        body = (f'<html><body onload="document.forms[0].submit()">'
                f'<form method="post" action="{idp.sso_url}">'
                f'<input type="hidden" name="SAMLRequest" '
                f'value="{base64.b64encode(xml).decode()}"/>'
                f'<input type="hidden" name="RelayState" value="{relay_state}"/>'
                '<input type="submit" value="Continue"/></form></body></html>').encode()
        return fake_response(200, {"Content-Type": "text/html; charset=utf-8"}, body,
                             self.base + "/app/")


def fake_response(status: int, headers: dict, body: bytes, url: str) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers)
    r._content = body
    r.url = url
    r.encoding = "utf-8"
    return r


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False
        yield s


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def attributes(resp: etree._Element) -> dict[str, list[str]]:
    out = {}
    for a in resp.iterfind(".//saml:Attribute", NS):
        assert a.get("NameFormat") == BASIC, a.get("Name")
        out[a.get("Name")] = [v.text for v in a.iterfind("saml:AttributeValue", NS)]
    return out


def sign_in(idp, sp, session, user="jane", password=None, **req):
    start = sp.redirect_start(idp, sp.authn_request(idp, **req))
    return browser_login(session, start, user, password or user + "pass")


# --------------------------------------------------------------------- tests
def test_metadata(ssp_idp):
    idp = ssp_idp
    r = get(idp.metadata_url)
    assert r.status_code == 200
    md = parse(r.content)
    assert md.get("entityID") == idp.entity_id == idp.metadata_url
    certs = [c.text.strip() for c in md.iterfind(
        ".//md:KeyDescriptor[@use='signing']//ds:X509Certificate", NS)]
    assert certs == [idp.cert_b64]
    assert idp.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    sso = {s.get("Binding"): s.get("Location")
           for s in md.iterfind(".//md:SingleSignOnService", NS)}
    assert sso[REDIRECT] == sso[POST] == idp.sso_url
    slo = md.find(".//md:SingleLogoutService", NS)
    assert slo.get("Location") == idp.slo_url
    assert idp.base == f"http://127.0.0.1:{idp.port}"


def test_sign_in_jane(ssp_idp, session):
    idp, sp = ssp_idp, FakeSP()
    assert idp.trust_sp(sp.metadata()) == sp.entity_id
    r = sign_in(idp, sp, session)
    action, method, fields = form_fields(r)
    assert (action, method) == (sp.acs, "post")
    assert fields["RelayState"] == "rs-1"
    resp = parse(base64.b64decode(fields["SAMLResponse"]))
    assert resp.tag == f"{{{NS['samlp']}}}Response"
    assert resp.get("InResponseTo") == "_abc"
    assert resp.get("Destination") == sp.acs
    assert resp.find("samlp:Status/samlp:StatusCode", NS).get("Value") == SUCCESS
    assert resp.findtext("saml:Issuer", namespaces=NS) == idp.entity_id
    a = resp.find("saml:Assertion", NS)
    assert a.findtext(".//saml:Audience", namespaces=NS) == sp.entity_id
    nameid = a.find("saml:Subject/saml:NameID", NS)
    assert nameid.text == "jane@example.test"
    assert nameid.get("Format") == NAMEID_FORMATS["unspecified"]
    scd = a.find(".//saml:SubjectConfirmationData", NS)
    assert scd.get("InResponseTo") == "_abc" and scd.get("Recipient") == sp.acs
    attrs = attributes(resp)
    assert attrs["cip_upn"] == ["jane@example.test"]
    assert attrs["cip_sid"] == ["S-1-5-21-1111111111-2222222222-3333333333-1104"]
    assert attrs["cip_oid"] == ["k6vKl3R1nUiJm5+8n1TnVw=="]
    assert attrs["displayName"] == ["Jane Doe"]
    # signed with the key whose certificate is idp.cert_path
    assert resp.find("ds:Signature", NS) is not None
    assert a.find("ds:Signature", NS) is not None
    assert resp.findtext("ds:Signature//ds:X509Certificate", namespaces=NS) == idp.cert_b64
    assert resp.find("ds:Signature//ds:SignatureMethod", NS).get("Algorithm") == RSA_SHA256


@pytest.mark.parametrize("sign_response,sign_assertion",
                         [(True, False), (False, True), (False, False)])
def test_signing_options(ssp_idp_factory, session, sign_response, sign_assertion):
    idp = ssp_idp_factory(sign_response=sign_response, sign_assertion=sign_assertion)
    sp = FakeSP()
    idp.trust_sp(sp.metadata())
    resp = parse(saml_response_xml(sign_in(idp, sp, session)))
    assert (resp.find("ds:Signature", NS) is not None) == sign_response
    assert (resp.find("saml:Assertion/ds:Signature", NS) is not None) == sign_assertion


def test_wrong_password_stays_on_login_page(ssp_idp, session):
    idp, sp = ssp_idp, FakeSP()
    idp.trust_sp(sp.metadata())
    r = sign_in(idp, sp, session, password="wrong")
    assert r.status_code == 200
    assert r.url.startswith(f"{idp.base}/simplesaml/module.php/core/loginuserpass.php")
    assert form_fields(r) is None
    assert form_fields(r, "password") is not None
    assert "Incorrect username or password" in r.text
    assert not is_error_page(r)


def test_post_binding_nameid_policy_and_sso_session(ssp_idp, session):
    """SP starts with an auto-submit form (HTTP-POST binding) and asks for
    an unspecified NameID; a second sign-in in the same browser session
    needs no password (the IdP session is reused)."""
    idp, sp = ssp_idp, FakeSP()
    idp.trust_sp(sp.metadata())
    policy = NAMEID_FORMATS["unspecified"]
    start = sp.post_start(idp, sp.authn_request(idp, "_post1", nameid_policy=policy))
    r = browser_login(session, start, "jane", "janepass")
    fields = form_fields(r)[2]
    assert fields["RelayState"] == "rs-post"
    resp = parse(base64.b64decode(fields["SAMLResponse"]))
    assert resp.get("InResponseTo") == "_post1"
    assert resp.findtext(".//saml:NameID", namespaces=NS) == "jane@example.test"

    start = sp.post_start(idp, sp.authn_request(idp, "_post2"))
    r = browser_login(session, start, "nobody", "not-used")
    resp = parse(saml_response_xml(r))
    assert resp.get("InResponseTo") == "_post2"
    assert resp.findtext(".//saml:NameID", namespaces=NS) == "jane@example.test"


def test_several_sps_trusted_on_running_idp(ssp_idp, session):
    idp, sp1, sp2 = ssp_idp, FakeSP(), FakeSP()
    r = sign_in(idp, sp2, session)                       # not trusted yet
    assert is_error_page(r) and form_fields(r) is None
    assert "Metadata not found" in error_text(r), error_text(r)
    idp.trust_sp(sp1.metadata())
    idp.trust_sp(sp2.metadata())
    assert idp.trusted_sps == [sp1.entity_id, sp2.entity_id]
    for sp in (sp1, sp2):
        resp = parse(saml_response_xml(sign_in(idp, sp, session)))
        assert resp.findtext(".//saml:Audience", namespaces=NS) == sp.entity_id


def test_users_nosid_and_multi(ssp_idp, session):
    idp, sp = ssp_idp, FakeSP()
    idp.trust_sp(sp.metadata())
    resp = parse(saml_response_xml(sign_in(idp, sp, session, "nosid")))
    attrs = attributes(resp)
    assert "cip_upn" not in attrs and "cip_sid" not in attrs
    assert attrs["displayName"] == ["No Sid"]
    # no cip_upn: SimpleSAMLphp falls back to a random transient NameID
    assert resp.find(".//saml:NameID", NS).get("Format") == NAMEID_FORMATS["transient"]

    with requests.Session() as s2:
        s2.trust_env = False
        resp = parse(saml_response_xml(sign_in(idp, sp, s2, "multi")))
    assert attributes(resp)["cip_upn"] == ["multi@example.test", "multi2@example.test"]
    assert resp.findtext(".//saml:NameID", namespaces=NS) == "multi@example.test"


def test_custom_users_and_persistent_nameid(ssp_idp_factory, session):
    idp = ssp_idp_factory(nameid_format="persistent", users={
        "bob": {"password": "secret", "attributes": {"cip_upn": "bob@example.test"}}})
    sp = FakeSP()
    idp.trust_sp(sp.metadata())
    resp = parse(saml_response_xml(sign_in(idp, sp, session, "bob", "secret")))
    nameid = resp.find(".//saml:NameID", NS)
    assert (nameid.text, nameid.get("Format")) == ("bob@example.test",
                                                   NAMEID_FORMATS["persistent"])
    assert attributes(resp) == {"cip_upn": ["bob@example.test"]}


def test_validate_authnrequest(ssp_idp_factory, session):
    idp = ssp_idp_factory(validate_authnrequest=True)
    sp = FakeSP(key_slot=43)
    idp.trust_sp(sp.metadata())
    r = browser_login(session, sp.redirect_start(idp, sp.authn_request(idp)), "jane", "janepass")
    assert is_error_page(r) and form_fields(r) is None
    assert "no signature found on message" in error_text(r), error_text(r)
    start = sp.redirect_start(idp, sp.authn_request(idp, "_signed"), sign=True)
    resp = parse(saml_response_xml(browser_login(session, start, "jane", "janepass")))
    assert resp.get("InResponseTo") == "_signed"


def test_post_to_sp(ssp_idp, session):
    """post_to_sp submits the IdP's form to the ACS, with overrides."""
    received = []

    class ACS(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers["Content-Length"])
            received.append((self.path, parse_qs(self.rfile.read(n).decode())))
            self.send_response(303)
            self.send_header("Location", "/app/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ACS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        idp, sp = ssp_idp, FakeSP(port=server.server_address[1])
        idp.trust_sp(sp.metadata())
        r = sign_in(idp, sp, session)
        saml_response = form_fields(r)[2]["SAMLResponse"]
        out = post_to_sp(session, r)
        assert out.status_code == 303 and out.headers["Location"] == "/app/"
        out = post_to_sp(session, r, {"SAMLResponse": "dGFtcGVyZWQ=", "RelayState": None})
        assert out.status_code == 303
    finally:
        server.shutdown()
        server.server_close()
    assert received[0] == ("/saml/acs", {"SAMLResponse": [saml_response],
                                         "RelayState": ["rs-1"]})
    assert received[1] == ("/saml/acs", {"SAMLResponse": ["dGFtcGVyZWQ="]})


def test_stop_leaves_no_process(ssp_idp_factory):
    import os
    idp = ssp_idp_factory()
    pgid = idp._proc.pid
    idp.stop()
    assert not idp.running
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
