"""SAML sign-in end to end against a real SimpleSAMLphp IdP."""
from __future__ import annotations

import requests
import pytest

from harness import get
from ssp import browser_login, post_to_sp, ssp_idp, ssp_idp_factory  # noqa: F401
from tenants import TenantDir, tenant_conf

GUID = "67338f11-4996-4980-8339-535f76d0c8fb"
PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
    IdBrokerHeaderPrefix X-IdBroker-
    Header always set X-Echo-User "expr=%{{REMOTE_USER}}"
    Header always set X-Echo-SID "expr=%{{ENV:IDBROKER_cip_sid}}"
    Header always set X-Echo-OID "expr=%{{ENV:IDBROKER_cip_oid}}"
    Header always set X-Echo-Name "expr=%{{req:X-IdBroker-displayName}}"
    Header always set X-Echo-Tenant "expr=%{{ENV:IDBROKER_tenant}}"
</Location>
Alias /portal {htdocs}/portal
"""


def sp_with_idp(httpd_factory, module_path, idp, *, scope=None, tenant_extra=""):
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    base = f"http://127.0.0.1:{httpd.port}"
    idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                 f"        IdBrokerIdPSSOURL {idp.sso_url}\n"
                 f"        IdBrokerIdPCert {idp.cert_path}\n")
    td.write("acme.conf", tenant_conf("acme", base, td.key, td.cert, scope=scope,
                                      app_extra=idp_block, tenant_extra=tenant_extra))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755)
    (portal / "index.html").write_text("portal page\n")
    httpd.write_config(td.include() + PORTAL.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user"])
    httpd.start()
    idp.trust_sp(get(base + "/saml/metadata").content)
    return httpd, base


def sign_in(base, user="jane", path="/portal/index.html"):
    s = requests.Session()
    start = get(base + path, session=s)
    assert start.status_code in (200, 303), start.text
    idp_answer = browser_login(s, start, user, user + "pass")
    return s, post_to_sp(s, idp_answer)


def test_attribute_error_page_lists_names_not_values(httpd_factory, module_path, ssp_idp):
    httpd, base = sp_with_idp(httpd_factory, module_path, ssp_idp)
    s, acs = sign_in(base, user="nosid")
    assert acs.status_code == 403
    assert "Sign-in Attribute Error" in acs.text
    assert "cip_upn" in acs.text and "cip_sid" in acs.text
    assert "No Sid" not in acs.text  # the user's displayName: no values on the page
    assert "idbroker_session" not in acs.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("scope", [None, GUID])
def test_sign_in_reaches_the_portal(httpd_factory, module_path, ssp_idp, binding, scope):
    httpd, base = sp_with_idp(httpd_factory, module_path, ssp_idp, scope=scope,
                              tenant_extra=f"    IdBrokerSSOBinding {binding}\n")
    s, acs = sign_in(base)
    assert acs.status_code == 303, (acs.status_code, acs.text, httpd.error_log()[-3000:])
    assert acs.headers["Location"] == "/portal/index.html"
    page = get(base + "/portal/index.html", session=s)
    assert page.status_code == 200 and page.text == "portal page\n"
    # The portal sees the normalised identity (SimpleSAMLphp sends cip_oid as Base64).
    assert page.headers["X-Echo-User"] == "jane@example.test"
    assert page.headers["X-Echo-SID"] == "S-1-5-21-1111111111-2222222222-3333333333-1104"
    assert page.headers["X-Echo-OID"] == "97caab93-7574-489d-899b-9fbc9f54e757"
    assert page.headers["X-Echo-Name"] == "Jane Doe"
    assert page.headers["X-Echo-Tenant"] == "acme"
    assert "event=signin outcome=success tenant=acme" in httpd.error_log()
