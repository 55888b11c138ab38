"""One httpd with mod_auth_idbroker whose tenants are set up for single
logout against our TestIdp: the fixture of the TestIdp half of test_logout.py.

Built like acs_fixture.Sp (each tenant on its own 127.0.0.1 port, a
protected /portal echoing REMOTE_USER), with logout directives per tenant.
The IdP's SLO URL (https://idp.example.test/slo) is never contacted: tests
read the SP's LogoutRequest out of its answer (POST form or redirect),
build the IdP's messages with TestIdp and deliver them to
/saml/logout/callback themselves.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from acs_fixture import (PORTAL, PORTAL_TEXT, SESSION_COOKIE, Sp, Tenant, assert_signed_in,
                         get, post)
from tenants import tenant_conf
from testidp import TestIdp, entra_entity_id

IDP_SLO_URL = "https://idp.example.test/slo"
POST_LOGOUT = "/bye.html"
ALLOWED_ORIGIN = "https://portal.example.test"
SCOPE = "3b0e2d51-8f4c-4b7a-9d21-6c5e8f0a7b34"
CALLBACK = "/saml/logout/callback"

_COMMON = (f"    IdBrokerPostLogoutURL {POST_LOGOUT}\n"
           f"    IdBrokerAllowedOrigin {ALLOWED_ORIGIN}\n")

# name: (tenant directives, app directives, IdP SLO URL?, scoped?, IdP)
SLO_TENANTS = {
    "post": ("    IdBrokerSLOBinding post\n", True, False, "main"),
    "redirect": ("    IdBrokerSLOBinding redirect\n", True, False, "main"),
    "unsigned": ("    IdBrokerSLOBinding redirect-unsigned\n", True, False, "main"),
    "lax": ("    IdBrokerRequireSignedLogout Off\n", True, False, "main"),
    "scoped": ("    IdBrokerSLOBinding post\n", True, True, "main"),
    "entra": ("    IdBrokerSLOBinding redirect\n", True, False, "entra"),
    "noslo": ("", False, False, "main"),
}


@dataclass
class SloTenant(Tenant):
    idp_name: str = "main"
    has_slo: bool = True

    @property
    def idp(self) -> TestIdp:
        return self.sp.idps[self.idp_name]

    @property
    def callback(self) -> str:
        return self.base + CALLBACK

    @property
    def logout_url(self) -> str:
        return self.base + "/saml/logout"


class SloSp(Sp):
    """The httpd and its SLO tenants; `SloSp.make(module_path)` starts it."""

    def __init__(self, base: Path, module_path: str):
        super().__init__(base, module_path)
        self.idps = {"main": self.idp,
                     "entra": TestIdp(entity_id=entra_entity_id(), slot=7)}

    def _configure(self) -> None:
        h, td = self.httpd, self.td
        listen = ""
        first = True
        for name, (extra, slo, scoped, idp_name) in SLO_TENANTS.items():
            port = h.port if first else self._free_port()
            if not first:
                listen += f"Listen 127.0.0.1:{port}\n"
            first = False
            idp = self.idps[idp_name]
            cert = idp.cert_pem_path(td.root)
            idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                         f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                         + (f"        IdBrokerIdPSLOURL {IDP_SLO_URL}\n" if slo else "")
                         + f"        IdBrokerIdPCert {cert}\n")
            td.write(f"{name}.conf", tenant_conf(name, f"http://127.0.0.1:{port}", td.key,
                                                 td.cert, app_extra=idp_block,
                                                 scope=SCOPE if scoped else None,
                                                 tenant_extra=_COMMON + extra))
            self.tenants[name] = SloTenant(name, port, self, idp_name=idp_name, has_slo=slo)
        portal = h.htdocs / "portal"
        portal.mkdir(mode=0o755, exist_ok=True)
        (portal / "index.html").write_text(PORTAL_TEXT)
        (portal / "index.html").chmod(0o644)
        (h.htdocs / "bye.html").write_text("signed out\n")
        (h.htdocs / "bye.html").chmod(0o644)
        h.write_config(listen + td.include() + PORTAL.format(htdocs=h.htdocs),
                       extra_modules=["authz_user"])

    @staticmethod
    def _free_port() -> int:
        from harness import free_port
        return free_port()

    @classmethod
    def make(cls, module_path: str) -> "SloSp":
        base = Path(tempfile.mkdtemp(prefix="idbroker-slo-", dir="/tmp"))
        base.chmod(0o755)
        sp = cls(base, module_path)
        sp._configure()
        sp.httpd.start()
        return sp


# ------------------------------------------------------------------ helpers
def browser() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def session_cookie(resp: requests.Response) -> str:
    for header in resp.raw.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no session cookie set: {resp.raw.headers.getlist('Set-Cookie')}")


def sign_in(sp: SloSp, tenant: SloTenant, s: requests.Session, **kw) -> str:
    """A good sign-in (kw: TestIdp.response options); returns the cookie."""
    flow = tenant.start(s)
    r = tenant.answer(s, tenant.response(flow, **kw), flow.relay_state)
    assert_signed_in(sp, tenant, s, r)
    return session_cookie(r)


def cookie_works(tenant: SloTenant, cookie: str) -> bool:
    """A non-browser request with only this session cookie reaches the portal."""
    r = get(tenant.portal, headers={"Cookie": f"{SESSION_COOKIE}={cookie}",
                                    "Accept": "application/json"})
    assert r.status_code in (200, 401), (r.status_code, r.text)
    return r.status_code == 200 and r.text == PORTAL_TEXT


TOKEN_RE = re.compile(r'<input type="hidden" name="token" value="([0-9a-f]+)">')


def confirm_token(tenant: SloTenant, s: requests.Session) -> str:
    """GET /saml/logout: the confirmation page; returns its form's token."""
    r = get(tenant.logout_url, session=s)
    assert r.status_code == 200, (r.status_code, r.headers, r.text)
    assert 'action="/saml/logout"' in r.text and 'method="post"' in r.text, r.text
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    m = TOKEN_RE.search(r.text)
    assert m, r.text
    return m.group(1)


def logout(tenant: SloTenant, s: requests.Session, extra: dict | None = None,
           headers: dict | None = None) -> requests.Response:
    """Confirm page, then POST its form (plus `extra` fields)."""
    token = confirm_token(tenant, s)
    return post(tenant.logout_url, session=s, data={"token": token, **(extra or {})},
                headers=headers or {})
