"""The absolute session lifetime ends access by itself (SESS-1)."""
from __future__ import annotations

import time

import pytest
import requests

from harness import get, post
from tenants import TenantDir, tenant_conf
from testidp import TestIdp, sign_in_request

LIFETIME = 60
PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
</Location>
"""


@pytest.mark.slow
def test_session_ends_after_its_absolute_lifetime(httpd_factory, module_path):
    idp = TestIdp()
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    base = f"http://127.0.0.1:{httpd.port}"
    td.write("acme.conf", tenant_conf(
        "acme", base, td.key, td.cert,
        tenant_extra=f"    IdBrokerSessionMaxAge {LIFETIME}\n",
        app_extra=(f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                   "        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                   f"        IdBrokerIdPCert {idp.cert_pem_path(td.root)}\n")))
    (httpd.htdocs / "portal").mkdir(mode=0o755)
    (httpd.htdocs / "portal" / "index.html").write_text("portal page\n")
    httpd.write_config(td.include() + PORTAL, extra_modules=["authz_user"])
    httpd.start()

    s = requests.Session()
    req = sign_in_request(get(base + "/portal/index.html", session=s))
    xml = idp.response(acs_url=base + "/saml/acs", audience=base, in_response_to=req.request_id,
                       attributes=[("cip_upn", ["jane@example.test"])])
    acs = post(base + "/saml/acs", session=s, data=idp.post_form(xml, req.relay_state))
    assert acs.status_code == 303
    assert get(base + "/portal/index.html", session=s).status_code == 200

    time.sleep(LIFETIME + 2)
    after = get(base + "/portal/index.html", session=s)
    assert after.status_code == 200 and "SAMLRequest" in after.text  # a new sign-in, not the page
    assert "portal page" not in after.text
    assert get(base + "/portal/index.html", session=s,
               headers={"Accept": "application/json"}).status_code == 401
