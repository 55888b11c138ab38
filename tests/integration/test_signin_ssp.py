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
    assert "event=signin outcome=success tenant=acme" in httpd.error_log()
