"""One httpd with mod_auth_idbroker and several tenants, each on its own
127.0.0.1 port, all trusting our TestIdp: the fixture of test_acs_rules.py.

Every tenant's primary app has the SP base URL http://127.0.0.1:PORT and a
protected /portal. The IdP's SSO URL is never contacted: `Tenant.start()`
reads the AuthnRequest out of the module's answer, the test builds the IdP's
Response itself with TestIdp and `Tenant.answer()` POSTs it to /saml/acs.

The portal echoes what the module hands it in response headers (mod_headers):
X-Echo-User (REMOTE_USER), X-Echo-NameID (IDBROKER_nameid), X-Echo-UPN and
X-Echo-Role (the X-IdBroker-cip_upn / X-IdBroker-Role request headers as the
portal sees them), so tests can see who was signed in.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

import pki
from harness import Httpd, free_port, get, post
from tenants import TenantDir, tenant_conf
from testidp import TestIdp, sign_in_request

PORTAL_PATH = "/portal/index.html"
PORTAL_TEXT = "portal page\n"
SESSION_COOKIE = "idbroker_session"
STATE_PREFIX = "idbroker_state_"
GENERIC = "Unable to Process Your Request"
CANCELLED = "Sign-in Was Cancelled"
ATTR_ERROR = "Sign-in Attribute Error"
UPN = "jane@example.test"
GOOD_ATTRS = [("cip_upn", [UPN]), ("displayName", ["Jane Doe"]),
              ("firstName", ["Jane"]), ("lastName", ["Doe"])]

PORTAL = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
    IdBrokerHeaderPrefix X-IdBroker-
    Header always set X-Echo-User "expr=%{{REMOTE_USER}}"
    Header always set X-Echo-NameID "expr=%{{ENV:IDBROKER_nameid}}"
    Header always set X-Echo-UPN "expr=%{{req:X-IdBroker-cip_upn}}"
    Header always set X-Echo-Role "expr=%{{req:X-IdBroker-Role}}"
</Location>
Alias /portal {htdocs}/portal
"""

# name: tenant-level directives (each tenant is served on its own port)
TENANTS = {
    "main": "",
    "sha1": "    IdBrokerAllowSHA1 On\n",
    "sigresp": "    IdBrokerResponseSigning response\n",
    "sigassert": "    IdBrokerResponseSigning assertion\n",
    "sigboth": "    IdBrokerResponseSigning both\n",
    "expired": "",   # its only pinned IdP certificate expired yesterday
    "pptexact": "    IdBrokerAuthnContext PasswordProtectedTransport exact\n",
    "pptmin": "    IdBrokerAuthnContext PasswordProtectedTransport minimum\n",
    # added for test_sessions.py (no test of test_acs_rules.py uses them)
    "second": "",                                       # tenant B for cross-tenant cookies
    "redirect": "    IdBrokerSSOBinding redirect\n",
    "nameidpolicy": "    IdBrokerSendNameIDPolicy On\n",
    "forceauthn": "    IdBrokerForceAuthn On\n",
    "unsignedreq": "    IdBrokerSignRequests Off\n",
}

IDP_SSO_URL = "https://idp.example.test/sso"

# Further protected locations (added for test_sessions.py), each served from
# the same htdocs/portal directory on every tenant's port: path -> directives.
# Every one echoes REMOTE_USER and, with the X-IdBroker- prefix, the identity
# headers the portal gets (X-Echo-<field>).
ECHO_FIELDS = ["cip_upn", "cip_sid", "cip_oid", "cip_email", "cip_domain", "tenant"]
EXTRA_LOCATIONS = {
    # httpd answers a signed-in user that fails authorisation with 401 unless
    # AuthzSendForbiddenOnFailure is On; /attr-jane asks for the 403.
    "/attr-jane": ("    Require idbroker-attr cip_upn jane@example.test\n"
                   "    AuthzSendForbiddenOnFailure On\n"),
    "/attr-domain": "    Require idbroker-attr cip_domain CORP\n",
    "/sid-user": "    Require valid-user\n    IdBrokerRemoteUser cip_sid\n",
    "/ids": "    Require valid-user\n",
}


def extra_locations(htdocs: Path) -> str:
    echo = "".join(f'    Header always set X-Echo-{f} "expr=%{{req:X-IdBroker-{f}}}"\n'
                   for f in ECHO_FIELDS)
    out = ""
    for path, directives in EXTRA_LOCATIONS.items():
        out += (f"<Location {path}>\n    AuthType IdBroker\n{directives}"
                f"    IdBrokerHeaderPrefix X-IdBroker-\n"
                f'    Header always set X-Echo-User "expr=%{{REMOTE_USER}}"\n{echo}'
                f"</Location>\nAlias {path} {htdocs}/portal\n")
    return out


def state_cookie_name(request_id: str) -> str:
    """idbroker_state_ + first 16 hex digits of SHA-256(AuthnRequest ID)."""
    return STATE_PREFIX + hashlib.sha256(request_id.encode()).hexdigest()[:16]


@dataclass
class Flow:
    """One sign-in started by the SP: what its AuthnRequest said."""
    request_id: str
    relay_state: str
    acs_url: str
    audience: str               # the SP entity ID (Issuer of the AuthnRequest)
    state_cookie: str           # name of the state cookie the SP set
    state_value: str

    def __iter__(self):         # (request_id, relay_state, acs_url, audience)
        return iter((self.request_id, self.relay_state, self.acs_url, self.audience))


@dataclass
class Tenant:
    name: str
    port: int
    sp: "Sp" = field(repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def acs(self) -> str:
        return self.base + "/saml/acs"

    @property
    def portal(self) -> str:
        return self.base + PORTAL_PATH

    @property
    def idp(self) -> TestIdp:
        return self.sp.idp

    def start(self, session: requests.Session) -> Flow:
        """GET the portal without a session: the module answers with the
        AuthnRequest (POST form by default) and sets the state cookie."""
        r = get(self.portal, session=session)
        assert r.status_code in (200, 302, 303), (r.status_code, r.text)
        req = sign_in_request(r)
        issuer = req.request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
        name = state_cookie_name(req.request_id)
        value = session.cookies.get(name, path="/saml/")
        assert value, (name, list(session.cookies))
        return Flow(req.request_id, req.relay_state,
                    req.request.get("AssertionConsumerServiceURL"),
                    issuer.text.strip(), name, value)

    def response(self, flow: Flow, idp: TestIdp | None = None, **kw) -> str:
        """A Response answering `flow`, good unless kw says otherwise."""
        kw.setdefault("attributes", GOOD_ATTRS)
        kw.setdefault("acs_url", flow.acs_url)
        kw.setdefault("audience", flow.audience)
        kw.setdefault("in_response_to", flow.request_id)
        return (idp or self.idp).response(**kw)

    def answer(self, session: requests.Session, xml: str, relay: str | None,
               **kw) -> requests.Response:
        return post(self.acs, session=session, data=TestIdp.post_form(xml, relay), **kw)

    def portal_get(self, session: requests.Session, **headers) -> requests.Response:
        return get(self.portal, session=session, headers=headers)

    def portal_api(self, session: requests.Session) -> requests.Response:
        """A non-browser request: 401 without a session, never a new sign-in."""
        return get(self.portal, session=session, headers={"Accept": "application/json"})


class Sp:
    """The httpd and its tenants; `Sp.make(module_path)` starts it."""

    def __init__(self, base: Path, module_path: str):
        self.base_dir = base
        self.httpd = Httpd(base / "httpd", module_path)
        self.td = TenantDir(self.httpd.workdir / "tenants.d")
        self.idp = TestIdp()                                   # the pinned IdP
        self.other_idp = TestIdp(slot=6)                       # same entity ID, other key
        self.idp_cert = self.idp.cert_pem_path(self.td.root)
        self.tenants: dict[str, Tenant] = {}

    @classmethod
    def make(cls, module_path: str) -> "Sp":
        base = Path(tempfile.mkdtemp(prefix="idbroker-acs-", dir="/tmp"))
        base.chmod(0o755)
        sp = cls(base, module_path)
        sp._configure()
        sp.httpd.start()
        return sp

    def _configure(self) -> None:
        h, td = self.httpd, self.td
        expired = pki.certificate(self.idp.key, cn="idp.example.test",
                                  not_before=pki.days(-30), not_after=pki.days(-1))
        expired_path = td.root / "idp-expired.crt"
        expired_path.write_bytes(pki.cert_pem(expired))
        listen = ""
        for name, extra in TENANTS.items():
            port = h.port if name == "main" else free_port()
            if port != h.port:
                listen += f"Listen 127.0.0.1:{port}\n"
            cert = expired_path if name == "expired" else self.idp_cert
            idp_block = (f"        IdBrokerIdPEntityID {self.idp.entity_id}\n"
                         f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                         f"        IdBrokerIdPCert {cert}\n")
            td.write(f"{name}.conf", tenant_conf(name, f"http://127.0.0.1:{port}", td.key,
                                                 td.cert, app_extra=idp_block,
                                                 tenant_extra=extra))
            self.tenants[name] = Tenant(name, port, self)
        portal = h.htdocs / "portal"
        portal.mkdir(mode=0o755, exist_ok=True)
        (portal / "index.html").write_text(PORTAL_TEXT)
        (portal / "index.html").chmod(0o644)
        h.write_config(listen + td.include() + PORTAL.format(htdocs=h.htdocs)
                       + extra_locations(h.htdocs), extra_modules=["authz_user"])

    def __getitem__(self, name: str) -> Tenant:
        return self.tenants[name]

    def log(self) -> str:
        return self.httpd.error_log()

    def close(self, keep: bool) -> None:
        self.httpd.stop()
        if keep or os.environ.get("IDBROKER_KEEP_WORKDIR"):
            print(f"\nhttpd work dir kept: {self.base_dir}")
        else:
            shutil.rmtree(self.base_dir, ignore_errors=True)


# --------------------------------------------------------------- assertions
TXID_RE = re.compile(r"Transaction ID: <code>([0-9a-fA-F-]{36})</code>")


def session_cookie_set(resp: requests.Response) -> bool:
    return any(v.strip().startswith(SESSION_COOKIE + "=")
               for v in resp.raw.headers.getlist("Set-Cookie"))


def log_lines(sp: Sp, txid: str) -> list[str]:
    return [line for line in sp.log().splitlines() if f"txid={txid} " in line]


def assert_rejected(sp: Sp, tenant: Tenant, session: requests.Session,
                    resp: requests.Response, reason: str | list[str], *,
                    status: int | tuple = 403, title: str = GENERIC) -> str:
    """A failed sign-in: status, error page with a Transaction ID that the
    error log has with the precise reason, no session cookie, no portal."""
    statuses = status if isinstance(status, tuple) else (status,)
    tail = "\n".join(sp.log().splitlines()[-6:])
    assert resp.status_code in statuses, (resp.status_code, resp.text, tail)
    assert f"<title>{title}</title>" in resp.text, (resp.text, tail)
    m = TXID_RE.search(resp.text)
    assert m, resp.text
    txid = m.group(1)
    lines = log_lines(sp, txid)
    assert lines, f"txid={txid} not in error.log:\n{tail}"
    for frag in [reason] if isinstance(reason, str) else reason:
        assert any(frag in line for line in lines), (frag, lines)
    assert not session_cookie_set(resp), resp.headers
    assert SESSION_COOKIE not in session.cookies
    assert "outcome=success" not in "\n".join(lines)
    api = tenant.portal_api(session)
    assert api.status_code == 401, (api.status_code, api.text)
    return txid


def assert_signed_in(sp: Sp, tenant: Tenant, session: requests.Session,
                     resp: requests.Response, user: str | None = UPN) -> requests.Response:
    """303 to the portal with a fresh session cookie; the portal then
    answers 200 and sees `user` as REMOTE_USER."""
    tail = "\n".join(sp.log().splitlines()[-6:])
    assert resp.status_code == 303, (resp.status_code, resp.text, tail)
    assert resp.headers["Location"] == PORTAL_PATH
    assert session_cookie_set(resp)
    page = tenant.portal_get(session)
    assert page.status_code == 200 and page.text == PORTAL_TEXT, (page.status_code, page.text)
    if user is not None:
        assert page.headers.get("X-Echo-User") == user, page.headers
    return page


def seconds(n: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=n)
