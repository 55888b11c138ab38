"""Self-test of the harness without mod_auth_idbroker: if these fail, module
test failures would be meaningless."""
import time

from harness import _alive, get, validate_saml_metadata

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
KEY = f"""<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
  <ds:X509Certificate>TUlJQnRlc3Q=</ds:X509Certificate>
</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"""
SLO = ('<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
       'Location="https://sp.example.org/saml/slo"/>')
ACS = ('<md:AssertionConsumerService index="0" '
       'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
       'Location="https://sp.example.org/saml/acs"/>')


def sp_metadata(*children: str) -> bytes:
    return (f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" '
            'entityID="https://sp.example.org/saml">'
            '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            + "".join(children) +
            "</md:SPSSODescriptor></md:EntityDescriptor>").encode()


def test_start_and_get(httpd_factory):
    h = httpd_factory(None)
    h.write_config("")
    assert h.configtest().returncode == 0
    h.start()
    r = get(h.url("/index.html"))
    assert r.status_code == 200
    assert "idbroker test" in r.text


def test_reload_and_stop(httpd_factory):
    h = httpd_factory(None)
    h.write_config("")
    h.start()
    pid = h._pid
    h.write_config('Header always set X-Gen "2"\n')
    h.reload()
    # An old-generation child may still answer a connection or two while it
    # winds down (graceful restart); the new config must win within seconds.
    deadline = time.monotonic() + 10
    while get(h.url("/")).headers.get("X-Gen") != "2" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get(h.url("/")).headers.get("X-Gen") == "2"
    h.stop()
    assert not _alive(pid)


def test_configtest_reports_bad_line(httpd_factory):
    h = httpd_factory(None)
    conf = h.write_config("BogusDirective on\n")
    lineno = conf.read_text().splitlines().index("BogusDirective on") + 1
    r = h.configtest()
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert f"line {lineno} of {conf}" in out
    assert "BogusDirective" in out


def test_saml_metadata_valid():
    assert validate_saml_metadata(sp_metadata(KEY, SLO, ACS)) == []


def test_saml_metadata_wrong_order():
    errors = validate_saml_metadata(sp_metadata(ACS, SLO, KEY))
    assert errors and any("KeyDescriptor" in e or "SingleLogoutService" in e for e in errors)


def test_saml_metadata_missing_acs():
    errors = validate_saml_metadata(sp_metadata(KEY, SLO))
    assert errors and any("AssertionConsumerService" in e for e in errors)


def test_saml_metadata_not_xml():
    assert validate_saml_metadata(b"<md:EntityDescriptor")
