"""EncryptedAssertion with an SP decryption key (RESP-8)."""
from __future__ import annotations

import requests
from lxml import etree

from harness import get, post
from pki import write_keypair
from tenants import TenantDir, tenant_conf
from testidp import TestIdp, sign_in_request

NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata"}
PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
</Location>
"""


def start_sp(httpd_factory, module_path, idp, with_key: bool, second_key: bool = False):
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    base = f"http://127.0.0.1:{httpd.port}"
    dec_key, dec_cert, dec_obj = write_keypair(td.root, "decrypt", slot=7)
    extra = f"    IdBrokerSPDecryptionKey {dec_key} {dec_cert}\n" if with_key else ""
    if second_key:
        next_key, next_cert, next_obj = write_keypair(td.root, "decrypt-next", slot=9)
        extra += f"    IdBrokerSPDecryptionKey {next_key} {next_cert}\n"
        httpd.next_decryption_cert = next_obj
    idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                 "        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                 f"        IdBrokerIdPCert {idp.cert_pem_path(td.root)}\n")
    td.write("acme.conf", tenant_conf("acme", base, td.key, td.cert, tenant_extra=extra,
                                      app_extra=idp_block))
    (httpd.htdocs / "portal").mkdir(mode=0o755)
    (httpd.htdocs / "portal" / "index.html").write_text("portal page\n")
    httpd.write_config(td.include() + PORTAL, extra_modules=["authz_user"])
    httpd.start()
    return httpd, base, dec_obj


def encrypted_sign_in(base, idp, cert):
    s = requests.Session()
    req = sign_in_request(get(base + "/portal/index.html", session=s))
    xml = idp.response(acs_url=base + "/saml/acs", audience=base, in_response_to=req.request_id,
                       attributes=[("cip_upn", ["jane@example.test"])], encrypt_to_cert=cert)
    return s, post(base + "/saml/acs", session=s, data=idp.post_form(xml, req.relay_state))


def test_metadata_publishes_the_encryption_key(httpd_factory, module_path):
    idp = TestIdp()
    httpd, base, dec_cert = start_sp(httpd_factory, module_path, idp, with_key=True)
    doc = etree.fromstring(get(base + "/saml/metadata").content)
    uses = doc.xpath("//md:KeyDescriptor/@use", namespaces=NS)
    assert uses == ["signing", "encryption"]


def test_encrypted_assertion_signs_in_with_the_decryption_key(httpd_factory, module_path):
    idp = TestIdp()
    httpd, base, dec_cert = start_sp(httpd_factory, module_path, idp, with_key=True)
    s, acs = encrypted_sign_in(base, idp, dec_cert)
    assert acs.status_code == 303, (acs.text, httpd.error_log()[-2000:])
    assert get(base + "/portal/index.html", session=s).text == "portal page\n"


def test_encrypted_assertion_to_another_key_is_rejected(httpd_factory, module_path):
    idp = TestIdp()
    httpd, base, dec_cert = start_sp(httpd_factory, module_path, idp, with_key=True)
    _, _, other = write_keypair(httpd.workdir, "other", slot=8)
    s, acs = encrypted_sign_in(base, idp, other)
    assert acs.status_code == 403
    assert "could not be decrypted" in httpd.error_log()


def test_encrypted_assertion_without_a_key_is_a_specific_error(httpd_factory, module_path):
    idp = TestIdp()
    httpd, base, dec_cert = start_sp(httpd_factory, module_path, idp, with_key=False)
    s, acs = encrypted_sign_in(base, idp, dec_cert)
    assert acs.status_code == 403
    assert "encrypted assertion received but no decryption key configured" in httpd.error_log()
    assert "idbroker_session" not in acs.headers.get("Set-Cookie", "")


def test_each_decryption_key_decrypts_again_and_again(httpd_factory, module_path):
    """Two decryption keys (a rollover): assertions to either one, several
    times in a row, decrypt. The keys are made once per process and copied
    per message; a copy that went with an earlier message would fail here."""
    idp = TestIdp()
    httpd, base, dec_cert = start_sp(httpd_factory, module_path, idp, with_key=True,
                                     second_key=True)
    for cert in (dec_cert, httpd.next_decryption_cert) * 3:
        s, acs = encrypted_sign_in(base, idp, cert)
        assert acs.status_code == 303, (acs.text, httpd.error_log()[-2000:])
        assert get(base + "/portal/index.html", session=s).text == "portal page\n"
