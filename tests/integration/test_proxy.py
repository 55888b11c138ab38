"""The module behind a TLS-terminating reverse proxy (issue 11).

Each deployment is two httpds on 127.0.0.1: a front one (mod_ssl with a test
certificate, mod_proxy_http) that browsers talk to over https, and the
module's one behind it over plain http. The tenant's SP base URL is the
front's public https origin, so every URL the module builds (metadata,
AuthnRequest, Destination check, redirects, OIDC redirect_uri) must be that
one and never the internal http://127.0.0.1:BACKEND.

- `off`: the usual operator setup, ProxyPreserveHost Off (httpd's default)
  with ProxyPassReverse; the backend lists the proxy in IdBrokerTrustedProxy,
  so it routes by the proxy's X-Forwarded-Host and audits the client from
  X-Forwarded-For;
- `on`: ProxyPreserveHost On, no ProxyPassReverse (the module must not need
  it) and no IdBrokerTrustedProxy (the audit log names the socket peer, and
  forwarded headers from that peer are ignored);
- `oidc`: like `off`, with an OpenID Connect tenant (fake_op.py).

Everything is on 127.0.0.1, so the client cannot have an address of its own:
the front's mod_remoteip takes it from X-Client-IP (a stand-in for the
browser's real address, 198.51.100.23) and mod_proxy_http forwards it in
X-Forwarded-For, as it would forward a real one.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_proxy.py
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from lxml import etree

import pki
from acs_fixture import (PORTAL, PORTAL_TEXT, SESSION_COOKIE, UPN, Tenant, log_lines,
                         session_cookie_set)
from fake_op import FakeOp
from harness import Httpd, get, post
from slo_fixture import TOKEN_RE
from tenants import TenantDir, tenant_conf
from testidp import TestIdp

CLIENT_IP = "198.51.100.23"         # the browser's address, as the front sees it
SPOOFED_IP = "203.0.113.9"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
POST_LOGOUT = "/bye.html"


def tls_pair(directory: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for IP 127.0.0.1 (the clients verify it)."""
    key = pki.private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    crt, key_path = directory / "front.crt", directory / "front.key"
    crt.write_bytes(pki.cert_pem(cert))
    key_path.write_bytes(pki.key_pem(key))
    key_path.chmod(0o600)
    return crt, key_path


def front_config(crt: Path, key: Path, backend_port: int, preserve_host: bool,
                 reverse: bool) -> str:
    """The front httpd's configuration below the harness's Listen/ServerName
    (quoted in the report as the operator setup)."""
    return (f"SSLEngine on\n"
            f"SSLCertificateFile {crt}\n"
            f"SSLCertificateKeyFile {key}\n"
            f"# test only: the browser's address (see the module docstring)\n"
            f"RemoteIPHeader X-Client-IP\n"
            f"RemoteIPInternalProxy 127.0.0.1\n"
            f"ProxyPreserveHost {'On' if preserve_host else 'Off'}\n"
            f"ProxyPass / http://127.0.0.1:{backend_port}/\n"
            + (f"ProxyPassReverse / http://127.0.0.1:{backend_port}/\n" if reverse else ""))


@dataclass
class ProxiedTenant(Tenant):
    """acs_fixture's Tenant, reached at the front's public origin."""
    public: str = ""

    @property
    def base(self) -> str:
        return self.public


class Deployment:
    def __init__(self, module_path: str, *, preserve_host: bool, trusted: bool,
                 reverse: bool, oidc: FakeOp | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="idbroker-proxy-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.back = Httpd(self.dir / "back", module_path)
        self.front = Httpd(self.dir / "front", None)
        self.public = f"https://127.0.0.1:{self.front.port}"
        self.internal = f"http://127.0.0.1:{self.back.port}"
        self.idp = TestIdp()
        self.oidc = oidc
        td = TenantDir(self.back.workdir / "tenants.d")
        if oidc is None:
            app = (f"        IdBrokerIdPEntityID {self.idp.entity_id}\n"
                   f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                   f"        IdBrokerIdPCert {self.idp.cert_pem_path(td.root)}\n")
        else:
            secret = td.root / "client.secret"
            secret.write_text(oidc.client_secret + "\n")
            secret.chmod(0o600)
            app = (f"        IdBrokerOIDCIssuer {oidc.issuer}\n"
                   f"        IdBrokerOIDCClientID {oidc.client_id}\n"
                   f"        IdBrokerOIDCClientSecret file:{secret}\n"
                   f"        IdBrokerOIDCScopes openid profile email cip\n")
        td.write("acme.conf", tenant_conf("acme", self.public, td.key, td.cert, app_extra=app,
                                          tenant_extra=f"    IdBrokerPostLogoutURL "
                                                       f"{POST_LOGOUT}\n"))
        self.tenant = ProxiedTenant("acme", self.front.port, self, public=self.public)
        portal = self.back.htdocs / "portal"
        portal.mkdir(mode=0o755)
        (portal / "index.html").write_text(PORTAL_TEXT)
        (portal / "index.html").chmod(0o644)
        (self.back.htdocs / "open").mkdir(mode=0o755)     # another site's directory
        (self.back.htdocs / "bye.html").write_text("signed out\n")
        (self.back.htdocs / "bye.html").chmod(0o644)
        self.back.write_config("IdBrokerAuditLog logs/audit.log\n"
                               + ("IdBrokerTrustedProxy 127.0.0.1\n" if trusted else "")
                               + td.include() + PORTAL.format(htdocs=self.back.htdocs),
                               extra_modules=["authz_user"])
        self.crt, key = tls_pair(self.front.workdir)
        self.front.write_config(front_config(self.crt, key, self.back.port, preserve_host,
                                             reverse),
                                extra_modules=["ssl", "proxy", "proxy_http", "remoteip"])
        self.back.start()
        self.front.start()

    def browser(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.verify = str(self.crt)
        s.headers["X-Client-IP"] = CLIENT_IP
        return s

    def log(self) -> str:
        return self.back.error_log()

    def audit(self, pattern: str) -> list[str]:
        """Audit lines with `pattern` (written at log_transaction, just after
        the response: waited for)."""
        path = self.back.logs / "audit.log"
        deadline = time.monotonic() + 5
        while True:
            lines = [l for l in (path.read_text() if path.exists() else "").splitlines()
                     if pattern in l]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def close(self, keep: bool) -> None:
        self.front.stop()
        self.back.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"\nwork dir kept: {self.dir}")


def deployment(request, module_path, **kw):
    failed = request.session.testsfailed
    d = Deployment(module_path, **kw)
    request.addfinalizer(lambda: d.close(keep=request.session.testsfailed > failed))
    return d


@pytest.fixture(scope="module")
def off(module_path, request):
    return deployment(request, module_path, preserve_host=False, trusted=True, reverse=True)


@pytest.fixture(scope="module")
def on(module_path, request):
    return deployment(request, module_path, preserve_host=True, trusted=False, reverse=False)


def set_cookies(resp: requests.Response, name: str) -> list[str]:
    return [c for c in resp.raw.headers.getlist("Set-Cookie") if c.startswith(name)]


def assert_public(d: Deployment, url: str) -> None:
    assert url.startswith(d.public + "/"), (url, d.public)
    assert str(d.back.port) not in url and not url.startswith("http:"), url


def sign_in(d: Deployment, s: requests.Session, **kw):
    """A sign-in through the proxy; returns (flow, ACS response)."""
    ten = d.tenant
    flow = ten.start(s)
    return flow, ten.answer(s, ten.response(flow, **kw), flow.relay_state)


def assert_signed_in(d: Deployment, s: requests.Session, acs: requests.Response) -> None:
    assert acs.status_code == 303, (acs.status_code, acs.text, d.log()[-2000:])
    # A relative Location resolves against the public origin the browser used.
    assert_public(d, urljoin(d.tenant.acs, acs.headers["Location"]))
    cookie = set_cookies(acs, SESSION_COOKIE + "=")
    assert cookie and "; Secure" in cookie[0], acs.raw.headers.getlist("Set-Cookie")
    page = get(d.tenant.portal, session=s)
    assert page.status_code == 200 and page.text == PORTAL_TEXT, (page.status_code, page.text)
    assert page.headers["X-Echo-User"] == UPN


# ------------------------------------------------------------ ProxyPreserveHost Off
def test_metadata_lists_the_public_https_urls(off):
    r = get(off.public + "/saml/metadata", session=off.browser())
    assert r.status_code == 200, (r.status_code, r.text)
    root = etree.fromstring(r.content)
    assert root.get("entityID") == off.public
    locations = [el.get("Location") for el in root.iter(f"{MD}AssertionConsumerService",
                                                        f"{MD}SingleLogoutService")]
    assert f"{off.public}/saml/acs" in locations, locations
    assert any(loc.startswith(f"{off.public}/saml/logout") for loc in locations), locations
    for loc in locations:
        assert_public(off, loc)


def test_authn_request_names_the_public_acs(off):
    with off.browser() as s:
        flow = off.tenant.start(s)
        assert flow.acs_url == f"{off.public}/saml/acs"
        assert flow.audience == off.public
    # the state cookie only travels over https
    r = get(off.tenant.portal, session=off.browser())
    states = set_cookies(r, "idbroker_state_")
    assert states and all("; Secure" in c for c in states), r.headers


def test_sign_in_through_the_proxy(off):
    with off.browser() as s:
        _, acs = sign_in(off, s)
        assert_signed_in(off, s, acs)
    # the client as the trusted proxy named it in X-Forwarded-For
    lines = off.audit("event=signin outcome=success")
    assert lines and all(f"client={CLIENT_IP} " in l for l in lines), lines


def test_response_for_the_internal_acs_url_is_refused(off):
    with off.browser() as s:
        _, acs = sign_in(off, s, acs_url=f"{off.internal}/saml/acs")
        assert acs.status_code == 403, (acs.status_code, acs.text)
        assert SESSION_COOKIE not in s.cookies
    assert (f"Destination '{off.internal}/saml/acs' is not the ACS URL "
            f"'{off.public}/saml/acs'") in off.log()


def test_logout_checks_the_public_origin_and_redirects_there(off):
    with off.browser() as s:
        _, acs = sign_in(off, s)
        assert_signed_in(off, s, acs)
        confirm = get(off.tenant.base + "/saml/logout", session=s)
        assert confirm.status_code == 200, confirm.text
        token = TOKEN_RE.search(confirm.text).group(1)
        target = f"{off.public}/portal/index.html?after=logout"
        form = {"token": token, "return": target}
        # a form posted from the internal origin is another site's
        r = post(off.tenant.base + "/saml/logout", session=s, data=form,
                 headers={"Origin": off.internal})
        assert r.status_code == 403, (r.status_code, r.text)
        r = post(off.tenant.base + "/saml/logout", session=s, data=form,
                 headers={"Origin": off.public})
        assert r.status_code == 303, (r.status_code, r.text)
        assert r.headers["Location"] == target
        cleared = set_cookies(r, SESSION_COOKIE + "=")
        assert cleared and "Max-Age=0" in cleared[0] and "; Secure" in cleared[0], cleared
        # nothing to end any more: straight to IdBrokerPostLogoutURL
        again = post(off.tenant.base + "/saml/logout", session=s, data=form)
        assert again.status_code == 303
        assert_public(off, urljoin(off.tenant.base + "/saml/logout", again.headers["Location"]))


def test_client_cannot_choose_the_forwarded_host(off):
    """mod_proxy_http appends the Host it was asked for to X-Forwarded-Host:
    the module takes the right-most element, not the client's."""
    r = get(off.public + "/saml/metadata", session=off.browser(),
            headers={"X-Forwarded-Host": "evil.example.test"})
    assert r.status_code == 200, r.text
    assert etree.fromstring(r.content).get("entityID") == off.public
    assert "evil.example.test" not in r.text


def test_forwarded_host_of_no_app_leaves_the_request_alone(off):
    """Even from a trusted proxy, X-Forwarded-Host changes the request's host
    only when a tenant app serves that host and port: another site on the same
    httpd keeps httpd's view (here: mod_dir's trailing-slash redirect, which
    names the request's host)."""
    r = get(f"{off.internal}/open", headers={"X-Forwarded-Host": "other.example.test:8443"})
    assert r.status_code == 301, (r.status_code, r.text[:300])
    assert r.headers["Location"] == f"{off.internal}/open/", r.headers["Location"]
    # the control: the public host of the app is taken from the same header
    r = get(f"{off.internal}/open", headers={"X-Forwarded-Host": f"127.0.0.1:{off.front.port}"})
    assert r.status_code == 301
    assert urlsplit(r.headers["Location"]).netloc == f"127.0.0.1:{off.front.port}", r.headers


# ------------------------------------------------------------ ProxyPreserveHost On
def test_preserve_host_on_works_without_proxy_pass_reverse(on):
    with on.browser() as s:
        flow, acs = sign_in(on, s)
        assert flow.acs_url == f"{on.public}/saml/acs"
        assert_signed_in(on, s, acs)
    # IdBrokerTrustedProxy not set: the socket peer, whatever X-Forwarded-For says
    lines = on.audit("event=signin outcome=success")
    assert lines and all("client=127.0.0.1 " in l for l in lines), lines
    assert CLIENT_IP not in (on.back.logs / "audit.log").read_text()


def test_untrusted_peer_cannot_spoof_forwarded_headers(on):
    """Straight to the backend, as the proxy would ask with ProxyPreserveHost
    Off: from a peer not in IdBrokerTrustedProxy X-Forwarded-Host does not
    make it an SP request, X-Forwarded-For does not name the client."""
    headers = {"X-Forwarded-Host": f"127.0.0.1:{on.front.port}",
               "X-Forwarded-For": SPOOFED_IP}
    r = get(f"{on.internal}/saml/metadata", headers=headers)
    assert r.status_code == 404, (r.status_code, r.text[:300])
    r = get(f"{on.internal}/portal/index.html",
            headers={**headers, "Host": f"127.0.0.1:{on.front.port}"})
    assert r.status_code == 200 and "SAMLRequest" in r.text, (r.status_code, r.text[:300])
    lines = on.audit("event=signin-start outcome=redirect")
    assert lines and all("client=127.0.0.1 " in l for l in lines), lines
    assert SPOOFED_IP not in (on.back.logs / "audit.log").read_text()


# ------------------------------------------------------------ OpenID Connect
@pytest.fixture(scope="module")
def oidc(module_path, request):
    fop = FakeOp().start()
    request.addfinalizer(fop.stop)
    return deployment(request, module_path, preserve_host=False, trusted=True, reverse=True,
                      oidc=fop)


def test_oidc_redirect_uri_is_the_public_one(oidc):
    callback = f"{oidc.public}/oidc/callback"
    with oidc.browser() as s:
        start = get(oidc.tenant.portal, session=s)
        assert start.status_code in (302, 303), (start.status_code, start.text[:300])
        authorize = start.headers["Location"]
        assert parse_qs(urlsplit(authorize).query)["redirect_uri"] == [callback]
        assert all("; Secure" in c for c in start.raw.headers.getlist("Set-Cookie"))
        back = get(authorize)                       # the fake OP answers at once
        assert back.status_code == 303
        assert back.headers["Location"].startswith(callback + "?")
        done = get(back.headers["Location"], session=s)
        assert done.status_code == 303, (done.status_code, done.text, oidc.log()[-2000:])
        assert_public(oidc, urljoin(callback, done.headers["Location"]))
        assert session_cookie_set(done)
        page = get(oidc.tenant.portal, session=s)
        assert page.status_code == 200 and page.text == PORTAL_TEXT
    # the token request repeats the redirect_uri (RFC 6749 4.1.3)
    token = [req for req in oidc.oidc.requests if req[1] == "/token"]
    assert token and token[-1][2].get("redirect_uri") in ([callback], callback), token
