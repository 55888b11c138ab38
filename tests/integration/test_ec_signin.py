"""An ECDSA P-256 SP key (IdBrokerSPKey with an EC key pair).

HTTP-Redirect: the module signs the query string itself (SAML Bindings
3.4.4.1) with SigAlg ecdsa-sha256 and the signature value as XML Signature
defines it for ECDSA, r || s (32 octets each for P-256), not DER. The
TestIdp (python3-lasso) cannot verify ECDSA, so the signature is checked
here with python3-cryptography against the certificate the SP metadata
publishes, then the sign-in is completed. HTTP-POST: lasso can only make RSA
XML signatures, so httpd refuses to start with an EC key that would have to
sign POST AuthnRequests, naming the fix.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_ec_signin.py
"""
from __future__ import annotations

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

import testidp as t
from acs_fixture import PORTAL, PORTAL_TEXT, Tenant
from harness import get
from pki import cert_b64, write_keypair
from tenants import TenantDir, tenant_conf

ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
IDP_SSO_URL = "https://idp.example.test/sso"


class _Holder:
    def __init__(self, idp):
        self.idp = idp


def _start(httpd_factory, module_path, binding: str, sign: bool = True):
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    ec_key, ec_crt, ec_cert = write_keypair(td.root, "sp-ec", kind="ec256", slot=7)
    idp = t.TestIdp()
    base = f"http://127.0.0.1:{httpd.port}"
    idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                 f"        IdBrokerIdPSSOURL {IDP_SSO_URL}\n"
                 f"        IdBrokerIdPCert {idp.cert_pem_path(td.root)}\n")
    extra = (f"    IdBrokerSSOBinding {binding}\n"
             f"    IdBrokerSignRequests {'On' if sign else 'Off'}\n")
    td.write("ec.conf", tenant_conf("ec", base, ec_key, ec_crt, tenant_extra=extra,
                                    app_extra=idp_block))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755, exist_ok=True)
    (portal / "index.html").write_text(PORTAL_TEXT)
    (portal / "index.html").chmod(0o644)
    httpd.write_config(td.include() + PORTAL.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user"])
    return httpd, idp, ec_cert


def _verify_r_s(cert, params) -> None:
    """Raises InvalidSignature unless Signature is r || s of the octets."""
    sig = params["Signature"]
    assert len(sig) == 64, f"{len(sig)} bytes: not r || s of P-256 (DER would be 70-72)"
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    cert.public_key().verify(encode_dss_signature(r, s), params["signed_octets"],
                             ec.ECDSA(hashes.SHA256()))


def test_p256_key_signs_redirect_authn_request_and_sign_in_completes(httpd_factory,
                                                                     module_path):
    httpd, idp, ec_cert = _start(httpd_factory, module_path, "redirect")
    httpd.start()
    tenant = Tenant("ec", httpd.port, _Holder(idp))
    s = requests.Session()
    first = get(tenant.portal, session=s)
    assert first.status_code in (302, 303), (first.status_code, first.text[:500])
    assert first.headers["Location"].startswith(IDP_SSO_URL + "?SAMLRequest=")
    params = t.redirect_signature_params(first)
    assert params, first.headers["Location"]
    assert params["SigAlg"] == ECDSA_SHA256
    _verify_r_s(ec_cert, params)
    # A signature over other octets (here: RelayState changed) must not pass:
    # the check above is not vacuous.
    tampered = dict(params, signed_octets=params["signed_octets"].replace(b"RelayState=",
                                                                           b"RelayState=x"))
    try:
        _verify_r_s(ec_cert, tampered)
        raise AssertionError("a tampered query verified")
    except InvalidSignature:
        pass
    # The certificate the IdP would verify with is the one the SP publishes.
    md = get(f"http://127.0.0.1:{httpd.port}/saml/metadata", session=requests.Session())
    assert md.status_code == 200, (md.status_code, md.text[:300])
    doc = etree.fromstring(md.content)
    signing = doc.xpath(
        "//md:KeyDescriptor[@use='signing' or not(@use)]//ds:X509Certificate/text()",
        namespaces={"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": t.DS})
    assert cert_b64(ec_cert) in ["".join(x.split()) for x in signing], signing
    assert doc.xpath("//md:SPSSODescriptor/@AuthnRequestsSigned",
                     namespaces={"md": "urn:oasis:names:tc:SAML:2.0:metadata"}) == ["true"]
    # And the sign-in completes with the IdP's answer.
    s2 = requests.Session()
    flow = tenant.start(s2)
    acs = tenant.answer(s2, tenant.response(flow), flow.relay_state)
    assert acs.status_code == 303, (acs.status_code, acs.text[:500], httpd.error_log()[-2000:])
    page = tenant.portal_get(s2)
    assert page.status_code == 200 and page.text == PORTAL_TEXT


def test_p256_key_with_post_binding_refuses_to_start(httpd_factory, module_path):
    httpd, _, _ = _start(httpd_factory, module_path, "post")
    result = httpd._apache("-k", "start")
    log = httpd.error_log() + result.stdout + result.stderr
    assert "cannot use for the XML signature of an HTTP-POST AuthnRequest" in log, log[-2000:]
    assert "IdBrokerSSOBinding redirect" in log


def test_p256_key_with_post_binding_and_unsigned_requests_starts(httpd_factory, module_path):
    """Nothing to sign, nothing to refuse: the config-time check is specific."""
    httpd, idp, _ = _start(httpd_factory, module_path, "post", sign=False)
    httpd.start()
    tenant = Tenant("ec", httpd.port, _Holder(idp))
    s = requests.Session()
    flow = tenant.start(s)
    acs = tenant.answer(s, tenant.response(flow), flow.relay_state)
    assert acs.status_code == 303, (acs.status_code, acs.text[:500])
