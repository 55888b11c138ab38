"""SP metadata served by the module (MD-1..7, EP-3, SPKEY-8 publication)."""
from __future__ import annotations

from lxml import etree

from harness import get, post, validate_saml_metadata
from pki import cert_b64, days, utc_text, write_keypair
from tenants import TenantDir, tenant_conf

GUID = "67338f11-4996-4980-8339-535f76d0c8fb"
GUID2 = "99320fce-9f78-4461-95a9-3f49b69f0bb4"
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata",
      "ds": "http://www.w3.org/2000/09/xmldsig#"}
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def start(httpd_factory, module_path, files):
    """Starts httpd with tenant files made by files(td, base_url)."""
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    base = f"http://127.0.0.1:{httpd.port}"
    for name, text in files(td, base):
        td.write(name, text)
    httpd.write_config(td.include())
    httpd.start()
    return httpd, td, base


def fetch(url, **kw):
    r = get(url, **kw)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/samlmetadata+xml"
    assert "max-age=3600" in r.headers["Cache-Control"]
    assert validate_saml_metadata(r.content) == []
    return etree.fromstring(r.content)


def signing_certs(doc):
    return doc.xpath("//md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/"
                     "ds:X509Certificate/text()", namespaces=NS)


def endpoints(doc):
    return [(e.tag.split("}")[1], e.get("Binding"), e.get("Location"), e.get("ResponseLocation"))
            for e in doc.xpath("//md:SingleLogoutService|//md:AssertionConsumerService",
                               namespaces=NS)]


def test_generic_app_metadata_on_both_paths(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path,
                            lambda td, base: [("acme.conf", tenant_conf("acme", base, td.key, td.cert))])
    for path in ("/saml/metadata", "/saml/metadata.xml"):
        doc = fetch(base + path)
        assert doc.get("entityID") == base
        assert signing_certs(doc) == [cert_b64(td.cert_obj)]
        sp = doc.find("md:SPSSODescriptor", NS)
        assert sp.get("AuthnRequestsSigned") == "true"
        assert sp.get("WantAssertionsSigned") == "false"
        assert sp.get("ID").startswith("_")
        assert endpoints(doc) == [
            ("SingleLogoutService", POST, base + "/saml/logout/callback", base + "/saml/logout/callback"),
            ("SingleLogoutService", REDIRECT, base + "/saml/logout/callback", base + "/saml/logout/callback"),
            ("AssertionConsumerService", POST, base + "/saml/acs", None),
        ]
        acs = doc.find(".//md:AssertionConsumerService", NS)
        assert (acs.get("index"), acs.get("isDefault")) == ("0", "true")


def test_scoped_app_uses_guid_in_entity_id_but_never_in_endpoints(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("acme.conf", tenant_conf("acme", base, td.key, td.cert, scope=GUID))])
    doc = fetch(base + "/saml/metadata")
    assert doc.get("entityID") == f"{base}/{GUID}"
    for _, _, location, response_location in endpoints(doc):
        assert GUID not in location and GUID not in (response_location or "")
    assert etree.tostring(fetch(base + f"/saml/metadata?entity={GUID}")) == etree.tostring(doc)


def test_advertisement_phase_publishes_current_and_next_key(httpd_factory, module_path):
    def files(td, base):
        _, old_crt, old = write_keypair(td.root, "old", slot=2, not_before=days(-400), not_after=days(30))
        _, cur_crt, cur = write_keypair(td.root, "cur", slot=3, not_before=days(-20), not_after=days(340))
        _, nxt_crt, nxt = write_keypair(td.root, "next", slot=4, not_before=days(-1), not_after=days(700))
        files.certs = (old, cur, nxt)
        keys = (f"    IdBrokerSPKey old.key old.crt\n"
                f"    IdBrokerSPKey cur.key cur.crt activate-at={utc_text(days(-10))}\n"
                f"    IdBrokerSPKey next.key next.crt activate-at={utc_text(days(10))}\n")
        text = tenant_conf("acme", base, td.key, td.cert, tenant_extra=keys)
        return [("acme.conf", text.replace(f"    IdBrokerSPKey {td.key} {td.cert}\n", ""))]

    httpd, td, base = start(httpd_factory, module_path, files)
    old, cur, nxt = files.certs
    # The superseded key is retired; the active key comes first, then the next one.
    assert signing_certs(fetch(base + "/saml/metadata")) == [cert_b64(cur), cert_b64(nxt)]


def test_expired_future_key_is_not_advertised(httpd_factory, module_path):
    def files(td, base):
        write_keypair(td.root, "dead", slot=2, not_before=days(-400), not_after=days(-1))
        text = tenant_conf("acme", base, td.key, td.cert,
                           tenant_extra=f"    IdBrokerSPKey dead.key dead.crt activate-at={utc_text(days(5))}\n")
        return [("acme.conf", text)]

    httpd, td, base = start(httpd_factory, module_path, files)
    assert signing_certs(fetch(base + "/saml/metadata")) == [cert_b64(td.cert_obj)]


def test_signing_flags_follow_config(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("acme.conf", tenant_conf("acme", base, td.key, td.cert,
                                  tenant_extra="    IdBrokerSignRequests Off\n"
                                               "    IdBrokerResponseSigning assertion\n"))])
    sp = fetch(base + "/saml/metadata").find("md:SPSSODescriptor", NS)
    assert (sp.get("AuthnRequestsSigned"), sp.get("WantAssertionsSigned")) == ("false", "true")


def test_shared_host_selects_scoped_app_by_entity_parameter(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("a.conf", tenant_conf("a", base, td.key, td.cert)),
        ("b.conf", tenant_conf("b", base, td.key, td.cert, scope=GUID))])
    assert fetch(base + "/saml/metadata").get("entityID") == base
    assert fetch(base + f"/saml/metadata?entity={GUID}").get("entityID") == f"{base}/{GUID}"


def test_unknown_or_malformed_scope_is_404_without_details(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("a.conf", tenant_conf("a", base, td.key, td.cert, scope=GUID))])
    for query in (f"entity={GUID2}", "entity=<script>", f"entity={GUID.upper()}"):
        r = get(base + "/saml/metadata?" + query)
        assert r.status_code == 404
        assert r.headers["Cache-Control"] == "no-store"
        assert "Transaction ID" in r.text
        assert "<script>" not in r.text and GUID2 not in r.text and "a.conf" not in r.text


def test_scoped_id_used_as_base_url_is_404_with_log_hint(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("a.conf", tenant_conf("a", base, td.key, td.cert, scope=GUID))])
    r = post(base + f"/{GUID}/saml/acs", data={"SAMLResponse": "x"})
    assert r.status_code == 404
    txid = r.text.split("<code>")[1].split("</code>")[0]
    log = httpd.error_log()
    assert f"txid={txid}" in log
    assert "scoped entity ID used as base URL" in log


def test_metadata_method_and_head(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("a.conf", tenant_conf("a", base, td.key, td.cert))])
    assert post(base + "/saml/metadata").status_code == 405
    head = __import__("requests").head(base + "/saml/metadata", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"] == "application/samlmetadata+xml"


def test_metadata_is_served_only_on_the_apps_host(httpd_factory, module_path):
    httpd, td, base = start(httpd_factory, module_path, lambda td, base: [
        ("a.conf", tenant_conf("a", "https://saml.example.test", td.key, td.cert))])
    # The SP base URL is https://saml.example.test: a TLS terminator in front
    # forwards Host without a port, and that request is served...
    doc = fetch(base + "/saml/metadata", headers={"Host": "saml.example.test"})
    assert doc.find(".//md:AssertionConsumerService", NS).get("Location") == \
        "https://saml.example.test/saml/acs"
    # ...but another host, or the same host on another port, is not ours.
    assert get(base + "/saml/metadata").status_code == 404
    assert get(base + "/saml/metadata", headers={"Host": "saml.example.test:8443"}).status_code == 404
    assert get(base + "/saml/metadata", headers={"Host": "other.example.test"}).status_code == 404


def test_custom_domain_app_has_its_own_metadata(httpd_factory, module_path):
    def files(td, base):
        custom = ("        IdBrokerSPBaseURL https://workspaces.example.test\n"
                  f"        IdBrokerSPEntityScope {GUID2}\n")
        return [("a.conf", tenant_conf("a", "https://saml.example.test", td.key, td.cert,
                                       scope=GUID, custom_domain=custom))]

    httpd, td, base = start(httpd_factory, module_path, files)
    primary = fetch(base + "/saml/metadata", headers={"Host": "saml.example.test"})
    custom = fetch(base + "/saml/metadata", headers={"Host": "workspaces.example.test"})
    assert primary.get("entityID") == f"https://saml.example.test/{GUID}"
    assert custom.get("entityID") == f"https://saml.example.test/{GUID2}"
    assert custom.find(".//md:AssertionConsumerService", NS).get("Location") == \
        "https://workspaces.example.test/saml/acs"
