"""The operator status page (LOG-5, IDPCERT-2, IDPCERT-8): off unless a
<Location> sets `SetHandler idbroker-status`, guarded by that Location's
ordinary Require lines, and showing per tenant and app the active and next SP
key, every IdP certificate with expiry and fingerprints, and the IdP metadata
source with the fetcher's last attempt, outcome and next refresh; as JSON and
as an HTML page with the same facts.

Two tenants: "alpha" with two SP signing keys (the second activates in 30
days) and a pinned IdP (a valid and an expired certificate); "beta" whose
primary app takes its IdP from an IdBrokerIdPMetadataFile (with a hostile
entityID, to see it escaped in the page) and whose custom-domain app takes it
from an IdBrokerIdPMetadataURL served here. Fingerprints and dates are
computed here with `cryptography`, independently of the module.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_status.py
"""
from __future__ import annotations

import datetime as dt
import html as html_lib
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from harness import get, post
from pki import cert_b64, cert_pem, certificate, days, private_key, utc_text, write_keypair
from tenants import TenantDir, tenant_conf
from test_idp_metadata import MetadataServer, metadata
from testidp import TestIdp

STATUS = "/idbroker-status"
DENIED = "/idbroker-status-denied"
LOCATIONS = f"""
<Location {STATUS}>
    SetHandler idbroker-status
    Require ip 127.0.0.1
</Location>
<Location {DENIED}>
    SetHandler idbroker-status
    Require all denied
</Location>
"""
PINNED_ENTITY = "https://idp.alpha.test/entity"
PINNED_SSO = "https://idp.alpha.test/sso"
# The entityID of beta's metadata file: as the module reads it, and as the
# XML attribute carries it.
FILE_ENTITY = 'https://idp.beta.test/<script>alert("x")</script>?a=1&b=2'
FILE_ENTITY_XML = ("https://idp.beta.test/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
                   "?a=1&amp;b=2")
FILE_SSO = "https://idp.beta.test/sso"
URL_ENTITY = "https://idp.gamma.test/entity"


# ------------------------------------------------------------------ helpers
def utc(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def not_after(cert: x509.Certificate) -> dt.datetime:
    return getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after


def not_before(cert: x509.Certificate) -> dt.datetime:
    return getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before


def assert_facts(facts: dict, cert: x509.Certificate, path: Path | None = None):
    """The module's cert facts against the certificate itself."""
    assert facts["sha256"] == cert.fingerprint(hashes.SHA256()).hex().upper()
    assert facts["sha1"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert facts["not_before"] == utc(not_before(cert))
    assert facts["not_after"] == utc(not_after(cert))
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert facts["subject"] == f"CN={cn}"
    if path is not None:
        assert facts["file"] == str(path)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    left = not_after(cert).replace(tzinfo=None) - now
    assert facts["expired"] == (left.total_seconds() < 0)
    assert abs(facts["expires_in_days"] - left.total_seconds() / 86400) <= 1


def metadata_file_xml(cert: x509.Certificate) -> bytes:
    return (f'<?xml version="1.0"?>\n'
            f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{FILE_ENTITY_XML}">\n'
            f' <md:IDPSSODescriptor protocolSupportEnumeration='
            f'"urn:oasis:names:tc:SAML:2.0:protocol">\n'
            f'  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f'{cert_b64(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n'
            f'  <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f'Location="{FILE_SSO}"/>\n'
            f' </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n').encode()


class Rig:
    """httpd with tenants alpha and beta, and everything the tests check."""

    def __init__(self, httpd_factory, module_path, md_server: MetadataServer,
                 status_locations: bool = True):
        self.httpd = httpd = httpd_factory(module_path)
        td = TenantDir(httpd.workdir / "tenants.d")      # td.key/td.cert: alpha's key A
        self.td = td
        self.key_a = (td.key, td.cert, td.cert_obj)
        self.activate_at = utc_text(days(30))
        self.key_b = write_keypair(td.root, "alpha-next", slot=41, cn="alpha-next.test",
                                   not_after=days(400))
        idp_key = private_key("rsa2048", 42)
        self.idp_certs = []
        for name, cert in (("idp", certificate(idp_key, cn="idp.alpha.test", not_after=days(200))),
                           ("idp-old", certificate(idp_key, cn="idp-old.alpha.test",
                                                   not_before=days(-400), not_after=days(-3)))):
            path = td.root / f"{name}.crt"
            path.write_bytes(cert_pem(cert))
            self.idp_certs.append((path, cert))
        base = f"http://127.0.0.1:{httpd.port}"
        td.write("alpha.conf", tenant_conf(
            "alpha", base, td.key, td.cert,
            tenant_extra=(f"    IdBrokerSPKey {self.key_b[0]} {self.key_b[1]} "
                          f"activate-at={self.activate_at}\n"),
            app_extra=(f"        IdBrokerIdPEntityID {PINNED_ENTITY}\n"
                       f"        IdBrokerIdPSSOURL {PINNED_SSO}\n"
                       + "".join(f"        IdBrokerIdPCert {p}\n" for p, _ in self.idp_certs))))

        # beta: metadata from a file (primary) and from a URL (custom domain)
        self.beta_key = write_keypair(td.root, "beta-sp", slot=43, cn="beta-sp.test")
        self.file_cert = certificate(private_key("rsa2048", 44), cn="idp.beta.test")
        self.md_file = httpd.workdir / "beta-idp.xml"
        self.md_file.write_bytes(metadata_file_xml(self.file_cert))
        self.md_file.chmod(0o644)
        self.url_idp = TestIdp(entity_id=URL_ENTITY, slot=45)
        signer = TestIdp(entity_id="https://md-signer.gamma.test/", slot=46)
        self.signer_cert = signer.cert
        self.signer_path = signer.cert_pem_path(td.root)
        md_server.body = metadata([self.url_idp], signer=signer, entity_id=URL_ENTITY)
        self.md_url = md_server.url
        td.write("beta.conf", tenant_conf(
            "beta", f"http://localhost:{httpd.port}", self.beta_key[0], self.beta_key[1],
            signin_id="beta-corp",
            app_extra=f"        IdBrokerIdPMetadataFile {self.md_file}\n",
            custom_domain=(f"        IdBrokerSPBaseURL http://localhost:{httpd.port}/cd\n"
                           f"        IdBrokerIdPMetadataURL {md_server.url}\n"
                           f"        IdBrokerIdPMetadataSigner {self.signer_path}\n"
                           f"        IdBrokerIdPMetadataRefresh 300 600\n"
                           f"        IdBrokerIdPMetadataTimeout 5\n")))
        self.state_dir = httpd.workdir / "state"
        httpd.write_config(f"IdBrokerStateDir {self.state_dir}\n" + td.include()
                           + (LOCATIONS if status_locations else ""))
        httpd.start()

    def status(self, path: str = STATUS, **kw) -> requests.Response:
        return get(self.httpd.url(path), **kw)

    def json(self) -> dict:
        r = self.status(STATUS + "?json")
        assert r.status_code == 200, (r.status_code, r.text, self.httpd.error_log()[-2000:])
        return r.json()

    def wait_fetched(self, timeout: float = 15.0) -> dict:
        """The status document once the watchdog fetched the URL source."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.json()
            state = app(doc, "beta", "custom-domain")["metadata_source"]["state"]
            if state and state.get("last_attempt"):
                return doc
            time.sleep(0.2)
        raise AssertionError(f"never fetched: {self.json()}\n{self.httpd.error_log()[-3000:]}")


def tenant(doc: dict, name: str) -> dict:
    found = [t for t in doc["tenants"] if t["name"] == name]
    assert len(found) == 1, doc
    return found[0]


def app(doc: dict, tenant_name: str, kind: str) -> dict:
    found = [a for a in tenant(doc, tenant_name)["apps"] if a["kind"] == kind]
    assert len(found) == 1, doc
    return found[0]


@pytest.fixture
def md_server():
    s = MetadataServer()
    yield s
    s.close()


@pytest.fixture
def rig(httpd_factory, module_path, md_server) -> Rig:
    return Rig(httpd_factory, module_path, md_server)


# ------------------------------------------------------------------ tests
def test_json_lists_sp_keys_with_the_next_rotation(rig):
    doc = rig.json()
    assert [t["name"] for t in doc["tenants"]] == ["alpha", "beta"]
    alpha = tenant(doc, "alpha")
    assert alpha["signin_id"] == "alpha"
    a = app(doc, "alpha", "primary")
    assert a["sp_base_url"] == f"http://127.0.0.1:{rig.httpd.port}"
    assert a["sp_entity_id"] == f"http://127.0.0.1:{rig.httpd.port}"
    keys = a["sp_keys"]
    assert_facts(keys["active"], rig.key_a[2], rig.key_a[1])
    assert keys["active"]["activate_at"] is None
    assert len(keys["next"]) == 1
    assert_facts(keys["next"][0], rig.key_b[2], rig.key_b[1])
    assert keys["next"][0]["activate_at"] == rig.activate_at
    assert keys["next_rotation"] == rig.activate_at
    assert [k["role"] for k in keys["all"]] == ["active", "next"]
    assert a["metadata_source"] is None
    b = app(doc, "beta", "primary")
    assert tenant(doc, "beta")["signin_id"] == "beta-corp"
    assert_facts(b["sp_keys"]["active"], rig.beta_key[2], rig.beta_key[1])
    assert b["sp_keys"]["next"] == [] and b["sp_keys"]["next_rotation"] is None


def test_json_lists_every_idp_cert_with_expiry(rig):
    idp = app(rig.json(), "alpha", "primary")["idp"]
    assert idp["configured"] is True
    assert (idp["entity_id"], idp["sso_url"], idp["from"]) == (PINNED_ENTITY, PINNED_SSO,
                                                               "configuration")
    assert len(idp["certs"]) == 2
    for facts, (path, cert) in zip(idp["certs"], rig.idp_certs):
        assert_facts(facts, cert, path)
        assert facts["origin"] == "configuration"
    assert [c["expired"] for c in idp["certs"]] == [False, True]
    assert idp["certs"][1]["expires_in_days"] < 0


def test_json_shows_metadata_file_and_url_sources(rig):
    doc = rig.wait_fetched()
    f = app(doc, "beta", "primary")
    src = f["metadata_source"]
    assert src["file"] == str(rig.md_file) and src["path"] == str(rig.md_file)
    assert "url" not in src
    assert src["signer"] is None and src["state"] is None and src["last_error"] is None
    assert f["idp"]["entity_id"] == FILE_ENTITY
    assert f["idp"]["sso_url"] == FILE_SSO
    assert f["idp"]["from"] == str(rig.md_file)
    assert f["idp"]["configured"] is True
    assert len(f["idp"]["certs"]) == 1
    assert_facts(f["idp"]["certs"][0], rig.file_cert)
    assert f["idp"]["certs"][0]["origin"] == "metadata"

    u = app(doc, "beta", "custom-domain")
    src = u["metadata_source"]
    assert src["url"] == rig.md_url and "file" not in src
    assert Path(src["path"]).parent == rig.state_dir
    assert_facts(src["signer"], rig.signer_cert, rig.signer_path)
    assert (src["min_refresh"], src["max_refresh"]) == (300, 600)
    st = src["state"]
    assert st["ok"] is True and st["failures"] == 0 and st["outcome"] == "updated", st
    assert st["last_success"] == st["last_attempt"] == st["last_change"]
    attempt = dt.datetime.strptime(st["last_attempt"], "%Y-%m-%dT%H:%M:%SZ")
    nxt = dt.datetime.strptime(st["next_refresh"], "%Y-%m-%dT%H:%M:%SZ")
    assert dt.timedelta(seconds=300) <= nxt - attempt <= dt.timedelta(seconds=600)
    # The page shows the copy just fetched, in whichever process answers.
    assert u["idp"]["entity_id"] == URL_ENTITY and u["idp"]["from"] == src["path"]
    assert_facts(u["idp"]["certs"][0], rig.url_idp.cert)


def test_html_page_shows_the_same_facts_escaped(rig):
    doc = rig.wait_fetched()
    r = rig.status()
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    page = r.text
    a = app(doc, "alpha", "primary")
    facts = [a["sp_keys"]["active"], *a["sp_keys"]["next"], *a["idp"]["certs"],
             *app(doc, "beta", "primary")["idp"]["certs"],
             app(doc, "beta", "custom-domain")["metadata_source"]["signer"]]
    for f in facts:
        for field in ("sha256", "sha1", "not_after", "subject", "file"):
            assert html_lib.escape(f[field], quote=True) in page, (field, f[field])
    state = app(doc, "beta", "custom-domain")["metadata_source"]["state"]
    for text in ("alpha", "beta-corp", rig.activate_at, PINNED_ENTITY, str(rig.md_file),
                 rig.md_url, state["last_attempt"], state["next_refresh"], state["outcome"]):
        assert html_lib.escape(text) in page, text
    # beta's hostile entityID is text on the page, never markup.
    assert "<script" not in page
    assert html_lib.escape(FILE_ENTITY, quote=True) in page


def test_json_by_query_or_accept_html_otherwise(rig):
    for path, headers in ((STATUS + "?json", {}), (STATUS + "?format=json", {}),
                          (STATUS, {"Accept": "application/json"})):
        r = rig.status(path, headers=headers)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "application/json", (path, headers)
        assert r.headers["Cache-Control"] == "no-store"
        assert r.json()["tenants"]
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for headers in ({}, {"Accept": browser}):
        assert rig.status(headers=headers).headers["Content-Type"].startswith("text/html")
    with requests.Session() as s:
        s.trust_env = False
        head = s.head(rig.httpd.url(STATUS + "?json"), timeout=10)
    assert head.status_code == 200 and head.text == ""
    assert head.headers["Content-Type"] == "application/json"


def test_no_private_key_material_is_shown(rig):
    rig.wait_fetched()
    keys = [rig.key_a[0], rig.key_b[0], rig.beta_key[0]]
    for r in (rig.status(STATUS + "?json"), rig.status()):
        assert "PRIVATE KEY" not in r.text and "-----BEGIN" not in r.text
        for key_path in keys:
            assert str(key_path) not in r.text
            for line in key_path.read_text().splitlines()[1:-1]:
                assert line not in r.text


def test_require_and_methods_apply(rig):
    r = rig.status(DENIED)
    assert r.status_code == 403
    assert "sha256" not in r.text.lower() and "alpha" not in r.text
    r = post(rig.httpd.url(STATUS), data={"a": "b"})
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "HEAD"} <= allow and "POST" not in allow, allow
    assert "alpha" not in r.text


def test_without_sethandler_nothing_is_exposed(httpd_factory, module_path, md_server):
    rig = Rig(httpd_factory, module_path, md_server, status_locations=False)
    for path in (STATUS, STATUS + "?json", DENIED):
        r = rig.status(path, headers={"Accept": "application/json"})
        assert r.status_code == 404, (path, r.status_code)
        assert "alpha" not in r.text and "sha256" not in r.text
