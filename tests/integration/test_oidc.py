"""OpenID Connect sign-in against a real OpenID Provider (npm oidc-provider,
tests/integration/op.py): the portal gets the same identity as with SAML."""
from __future__ import annotations

import requests
import pytest

from harness import get, post
from op import browser_login, follow_logout, oidc_op, oidc_op_factory  # noqa: F401
from tenants import TenantDir, tenant_conf

PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
    IdBrokerHeaderPrefix X-IdBroker-
    Header always set X-Echo-User "expr=%{{REMOTE_USER}}"
    Header always set X-Echo-SID "expr=%{{ENV:IDBROKER_cip_sid}}"
    Header always set X-Echo-OID "expr=%{{ENV:IDBROKER_cip_oid}}"
    Header always set X-Echo-Name "expr=%{{req:X-IdBroker-displayName}}"
    Header always set X-Echo-Protocol "expr=%{{ENV:IDBROKER_protocol}}"
</Location>
Alias /portal {htdocs}/portal
"""


def rp(httpd_factory, module_path, op, *, auth="client_secret_basic", alg="RS256",
       app_extra="", tenant_extra=""):
    httpd = httpd_factory(module_path)
    base = f"http://127.0.0.1:{httpd.port}"
    client = op.add_client(redirect_uris=[f"{base}/oidc/callback"],
                           post_logout_redirect_uris=[f"{base}/"],
                           token_endpoint_auth_method=auth, id_token_signed_response_alg=alg)
    td = TenantDir(httpd.workdir / "tenants.d")
    secret = td.root / "client.secret"
    secret.write_text(client.client_secret + "\n")
    secret.chmod(0o600)
    lines = (f"        IdBrokerOIDCIssuer {op.issuer}\n"
             f"        IdBrokerOIDCClientID {client.client_id}\n"
             f"        IdBrokerOIDCClientSecret file:{secret}\n"
             f"        IdBrokerOIDCScopes openid profile email cip\n"
             f"        IdBrokerOIDCClientAuth {auth}\n" + app_extra)
    td.write("acme.conf", tenant_conf("acme", base, td.key, td.cert, app_extra=lines,
                                      tenant_extra=tenant_extra))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755)
    (portal / "index.html").write_text("portal page\n")
    httpd.write_config(td.include() + PORTAL.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user", "headers"])
    httpd.start()
    return httpd, base, client


def sign_in(base, user="jane"):
    s = requests.Session()
    start = get(base + "/portal/index.html", session=s)
    assert start.status_code == 303, start.text
    back = browser_login(s, start, user)
    assert back.status_code in (302, 303), back.text
    return s, get(back.headers["Location"], session=s)


@pytest.mark.parametrize("auth,alg", [("client_secret_basic", "RS256"),
                                      ("client_secret_post", "ES256")])
def test_oidc_sign_in_gives_the_portal_the_saml_identity(httpd_factory, module_path, oidc_op,
                                                         auth, alg):
    httpd, base, _ = rp(httpd_factory, module_path, oidc_op, auth=auth, alg=alg)
    s, cb = sign_in(base)
    assert cb.status_code == 303, (cb.status_code, cb.text, httpd.error_log()[-3000:])
    assert cb.headers["Location"] == "/portal/index.html"
    page = get(base + "/portal/index.html", session=s)
    assert page.status_code == 200 and page.text == "portal page\n"
    assert page.headers["X-Echo-User"] == "jane@example.test"
    assert page.headers["X-Echo-Protocol"] == "oidc"
