"""Many tenants on one httpd (issue "Identity-broker routing"): tenant by
host, `/go/<identifier>` and the identifier form, one shared SAML host whose
ACS hands sign-ins over to each tenant's portal host (EP-7, EID-6), a tenant
with a custom domain and dual apps, and isolation between them all.

Hosts are loopback addresses on one port, so each is its own cookie domain
for `requests` as for a browser:

  127.0.0.1  the shared SAML host S: tenants "beta" and "gamma" both have their
             SP base URL (generic entity ID, one ACS) here, and one IdP app
  127.0.0.2  beta's portal       (IdBrokerPortalURL)
  127.0.0.3  gamma's portal      (IdBrokerPortalURL)
  127.0.0.4  tenant "alpha", primary app, its own IdP
  127.0.0.5  alpha's custom domain, custom-domain app (scoped), another IdP
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

import pytest
import requests

from acs_fixture import GOOD_ATTRS, PORTAL_TEXT, state_cookie_name
from harness import get, post
from tenants import TenantDir
from testidp import TestIdp, sign_in_request

TXID_RE = re.compile(r"Transaction ID: <code>([0-9a-fA-F-]{36})</code>")
GUID = "0f0e1d2c-3b4a-4968-8776-a5b4c3d2e1f0"
SHARED_IDP = "https://idp.shared.test/entity"

PORTAL_LOC = """
<Location /portal>
    AuthType IdBroker
    Require valid-user
    Header always set X-Echo-User "expr=%{{REMOTE_USER}}"
    Header always set X-Echo-Tenant "expr=%{{ENV:IDBROKER_tenant}}"
</Location>
Alias /portal {htdocs}/portal
<Location /go>
    SetHandler idbroker-signin
</Location>
"""


def tenant(name: str, td: TenantDir, apps: str, extra: str = "") -> str:
    return (f"<IdBrokerTenant {name}>\n    IdBrokerSignInID {name}\n"
            f"    IdBrokerSPKey {td.key} {td.cert}\n{extra}{apps}</IdBrokerTenant>\n")


def app(kind: str, base: str, idp: TestIdp, cert, extra: str = "") -> str:
    return (f"    <IdBrokerApp {kind}>\n        IdBrokerSPBaseURL {base}\n{extra}"
            f"        IdBrokerIdPEntityID {idp.entity_id}\n"
            f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
            f"        IdBrokerIdPCert {cert}\n    </IdBrokerApp>\n")


@dataclass
class Site:
    httpd: object
    port: int
    idps: dict

    def url(self, ip: str, path: str) -> str:
        return f"http://127.0.0.{ip}:{self.port}{path}"

    def log(self) -> str:
        return self.httpd.error_log()


@pytest.fixture
def site(httpd_factory, module_path):
    httpd = httpd_factory(module_path)
    port = httpd.port
    td = TenantDir(httpd.workdir / "tenants.d")
    shared = TestIdp(entity_id=SHARED_IDP, slot=31)
    alpha_idp = TestIdp(entity_id="https://idp.alpha.test/entity", slot=32)
    alpha_cd_idp = TestIdp(entity_id="https://idp.alpha-cd.test/entity", slot=33)
    certs = {k: v.cert_pem_path(td.root) for k, v in
             {"shared": shared, "alpha": alpha_idp, "alpha_cd": alpha_cd_idp}.items()}
    s = f"http://127.0.0.1:{port}"
    # beta (declared first on the shared host) allows SHA-1, gamma does not:
    # the shared ACS parses under beta's settings, so gamma's rule must
    # still be applied once the pending request names gamma.
    conf = (tenant("beta", td, app("primary", s, shared, certs["shared"],
                                   f"        IdBrokerPortalURL http://127.0.0.2:{port}\n"),
                   "    IdBrokerAllowSHA1 On\n")
            + tenant("gamma", td, app("primary", s, shared, certs["shared"],
                                      f"        IdBrokerPortalURL http://127.0.0.3:{port}\n"))
            + tenant("alpha", td,
                     app("primary", f"http://127.0.0.4:{port}", alpha_idp, certs["alpha"])
                     + app("custom-domain", f"http://127.0.0.5:{port}", alpha_cd_idp,
                           certs["alpha_cd"], f"        IdBrokerSPEntityScope {GUID}\n")))
    td.write("all.conf", conf)
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755)
    (portal / "index.html").write_text(PORTAL_TEXT)
    listen = "".join(f"Listen 127.0.0.{i}:{port}\n" for i in range(2, 6))
    httpd.write_config(listen + td.include() + PORTAL_LOC.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user", "headers"])
    httpd.start()
    return Site(httpd, port, {"shared": shared, "alpha": alpha_idp, "alpha_cd": alpha_cd_idp})


def start(site: Site, s: requests.Session, ip: str):
    r = get(site.url(ip, "/portal/index.html"), session=s)
    assert r.status_code in (200, 303), (r.status_code, r.text, site.log()[-2000:])
    req = sign_in_request(r)
    issuer = req.request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").text.strip()
    return req, issuer


def respond(site: Site, s: requests.Session, req, audience: str, idp: TestIdp,
            upn: str = "jane@example.test", **kw):
    acs = req.request.get("AssertionConsumerServiceURL")
    xml = idp.response(acs_url=acs, audience=audience, in_response_to=req.request_id,
                       attributes=[("cip_upn", [upn])] + GOOD_ATTRS[1:], **kw)
    return post(acs, session=s, data=TestIdp.post_form(xml, req.relay_state))


def txid_logged(site: Site, resp, fragment: str) -> None:
    m = TXID_RE.search(resp.text)
    assert m, resp.text
    lines = [l for l in site.log().splitlines() if m.group(1) in l]
    assert any(fragment in l for l in lines), (fragment, lines)


def handed_off_sign_in(site: Site, ip: str, upn: str = "jane@example.test"):
    """Portal on 127.0.0.<ip> -> AuthnRequest with the shared ACS -> Response
    at the shared host -> hand-off handle -> redeemed on the portal host."""
    s = requests.Session()
    req, issuer = start(site, s, ip)
    assert req.request.get("AssertionConsumerServiceURL") == site.url("1", "/saml/acs")
    assert issuer == f"http://127.0.0.1:{site.port}"          # the shared generic entity ID
    acs = respond(site, s, req, issuer, site.idps["shared"], upn)
    assert acs.status_code == 303, (acs.status_code, acs.text, site.log()[-2000:])
    handoff = acs.headers["Location"]
    assert handoff.startswith(site.url(ip, "/saml/handoff?h="))
    assert "idbroker_session" not in acs.headers.get("Set-Cookie", "")  # no session on S
    assert "jane" not in handoff                                        # only a handle
    return s, handoff


def test_shared_saml_host_hands_each_tenant_to_its_portal(site):
    for ip, name in (("2", "beta"), ("3", "gamma")):
        s, handoff = handed_off_sign_in(site, ip, upn=f"user@{name}.test")
        r = get(handoff, session=s)
        assert r.status_code == 303 and r.headers["Location"] == "/portal/index.html", r.text
        page = get(site.url(ip, "/portal/index.html"), session=s)
        assert page.status_code == 200 and page.text == PORTAL_TEXT
        assert page.headers["X-Echo-User"] == f"user@{name}.test"
        assert page.headers["X-Echo-Tenant"] == name


def test_handoff_handle_is_single_use(site):
    s, handoff = handed_off_sign_in(site, "2")
    assert get(handoff, session=s).status_code == 303
    again = get(handoff, session=s)
    assert again.status_code == 403
    txid_logged(site, again, "unknown or already redeemed hand-off handle")


def test_handoff_handle_refused_on_another_tenants_host(site):
    s, handoff = handed_off_sign_in(site, "2")
    other = handoff.replace("127.0.0.2", "127.0.0.3")
    r = get(other, session=s)
    assert r.status_code == 403
    txid_logged(site, r, "another tenant or host")
    # ... and it is burnt by the attempt: no second try on the right host
    assert get(handoff, session=s).status_code == 403


def test_handoff_handle_refused_in_another_browser(site):
    _, handoff = handed_off_sign_in(site, "2")
    thief = requests.Session()
    r = get(handoff, session=thief)
    assert r.status_code == 403
    txid_logged(site, r, "state cookie is missing or wrong")
    assert "idbroker_session" not in r.headers.get("Set-Cookie", "")


def test_handoff_handle_expires_after_60_seconds(site):
    """A handle in a URL may leak (history, Referer, logs): it is worth
    something for 60 s at most, even to the browser it was made for."""
    s, handoff = handed_off_sign_in(site, "2")
    time.sleep(61)
    r = get(handoff, session=s)
    assert r.status_code == 403
    assert "idbroker_session" not in r.headers.get("Set-Cookie", "")
    # the store drops the entry at its expiry; the module's own check of the
    # record's time stands behind it
    txid_logged(site, r, "hand-off handle")
    assert get(site.url("2", "/portal/index.html"), session=s,
               headers={"Accept": "application/json"}).status_code == 401


@pytest.mark.parametrize("handle", ["", "zz", "0" * 64, secrets.token_hex(32),
                                    secrets.token_hex(32).upper(), "../../etc/passwd"])
def test_forged_handoff_handles_refused(site, handle):
    r = get(site.url("2", f"/saml/handoff?h={handle}"), session=requests.Session())
    assert r.status_code == 403
    assert "idbroker_session" not in r.headers.get("Set-Cookie", "")


def test_session_of_one_tenant_is_worthless_on_another(site):
    s, handoff = handed_off_sign_in(site, "2")
    get(handoff, session=s)
    cookie = s.cookies.get("idbroker_session")
    assert cookie
    other = get(site.url("3", "/portal/index.html"), headers={
        "Cookie": f"idbroker_session={cookie}", "Accept": "application/json"})
    assert other.status_code == 401
    assert "session belongs to another tenant" in site.log()


def test_session_of_the_primary_host_is_worthless_on_the_custom_domain(site):
    """Same tenant, same port, another host: only the host binding refuses
    it (tenant and port match), which no other test reaches
    (tests/mutation/mutants/56-session-bound-to-host.patch)."""
    s = requests.Session()
    req, issuer = start(site, s, "4")
    assert respond(site, s, req, issuer, site.idps["alpha"]).status_code == 303
    cookie = s.cookies.get("idbroker_session")
    assert cookie
    headers = {"Cookie": f"idbroker_session={cookie}", "Accept": "application/json"}
    home = get(site.url("4", "/portal/index.html"), headers=headers)
    assert home.status_code == 200 and home.headers["X-Echo-Tenant"] == "alpha"
    mark = len(site.log())
    other = get(site.url("5", "/portal/index.html"), headers=headers)
    assert other.status_code == 401 and other.text != PORTAL_TEXT, other.status_code
    assert "session belongs to another tenant, host or port" in site.log()[mark:]


def test_alpha_primary_and_custom_domain_use_their_own_apps(site):
    for ip, idp_key, scoped in (("4", "alpha", False), ("5", "alpha_cd", True)):
        s = requests.Session()
        req, issuer = start(site, s, ip)
        assert req.request.get("AssertionConsumerServiceURL") == site.url(ip, "/saml/acs")
        assert issuer.endswith(GUID) == scoped
        acs = respond(site, s, req, issuer, site.idps[idp_key])
        assert acs.status_code == 303, (acs.text, site.log()[-1500:])
        page = get(site.url(ip, "/portal/index.html"), session=s)
        assert page.status_code == 200 and page.headers["X-Echo-Tenant"] == "alpha"


def test_response_for_custom_domain_app_refused_at_primary_acs(site):
    s = requests.Session()
    req, issuer = start(site, s, "5")
    xml = site.idps["alpha_cd"].response(acs_url=site.url("4", "/saml/acs"), audience=issuer,
                                         in_response_to=req.request_id, attributes=GOOD_ATTRS)
    r = post(site.url("4", "/saml/acs"), session=s, data=TestIdp.post_form(xml, req.relay_state))
    assert r.status_code == 403
    txid_logged(site, r, "another app's ACS")


def test_shared_idp_cannot_sign_in_to_alpha(site):
    s = requests.Session()
    req, issuer = start(site, s, "4")
    r = respond(site, s, req, issuer, site.idps["shared"])
    assert r.status_code == 403


def test_go_identifier_sends_to_the_tenant_portal(site):
    for ident, target in (("beta", "2"), ("GAMMA", "3"), ("alpha", "4")):
        r = get(site.url("1", f"/go/{ident}"))
        assert r.status_code == 303, r.text
        assert r.headers["Location"] == site.url(target, "/")


def test_identifier_form_and_unknown_identifiers(site):
    form = get(site.url("1", "/go"))
    assert form.status_code == 200 and 'name="identifier"' in form.text
    ok = post(site.url("1", "/go"), data={"identifier": " Beta "})
    assert ok.status_code == 303 and ok.headers["Location"] == site.url("2", "/")
    bodies = set()
    for unknown in ("nosuch", "alpha-x", "x" * 65, "<script>alert(1)</script>"):
        r = post(site.url("1", "/go"), data={"identifier": unknown})
        assert r.status_code == 404
        assert "<script>" not in r.text
        bodies.add(r.text)
        r2 = get(site.url("1", f"/go/{unknown}"))
        assert r2.status_code == 404
        bodies.add(r2.text)
    # One page for every unknown identifier: nothing to enumerate tenants by.
    assert len(bodies) == 1
    body = next(iter(bodies))
    for name in ("alpha", "beta", "gamma"):
        assert name not in body


def test_sign_out_on_a_handed_off_portal(site):
    s, handoff = handed_off_sign_in(site, "2")
    get(handoff, session=s)
    confirm = get(site.url("2", "/saml/logout"), session=s)
    assert confirm.status_code == 200, confirm.text
    token = re.search(r'name="token" value="([0-9a-f]+)"', confirm.text).group(1)
    out = post(site.url("2", "/saml/logout"), session=s, data={"token": token})
    assert out.status_code == 303, out.text
    assert out.headers["Location"] in ("/", site.url("2", "/"))
    page = get(site.url("2", "/portal/index.html"), session=s,
               headers={"Accept": "application/json"})
    assert page.status_code == 401


def test_graceful_reload_mid_sign_in_finishes_or_fails_cleanly(site):
    s = requests.Session()
    req, issuer = start(site, s, "4")
    site.httpd.reload()
    # The old child closes its idle keep-alive connections at the graceful
    # restart; a browser would reconnect, so the POST goes on a new one
    # (the cookies stay).
    s.close()
    r = respond(site, s, req, issuer, site.idps["alpha"])
    assert r.status_code in (303, 403), r.text
    if r.status_code == 403:
        txid_logged(site, r, "no pending request")
    fresh = requests.Session()
    req2, issuer2 = start(site, fresh, "4")
    assert respond(site, fresh, req2, issuer2, site.idps["alpha"]).status_code == 303


def test_shared_acs_applies_the_sha1_rule_of_the_tenant_the_response_answers(site):
    sha1 = dict(sig_alg="rsa-sha1", digest_alg="sha1")
    # beta allows SHA-1: its sign-in through the shared ACS is handed off
    s = requests.Session()
    req, issuer = start(site, s, "2")
    ok = respond(site, s, req, issuer, site.idps["shared"], **sha1)
    assert ok.status_code == 303 and "/saml/handoff?h=" in ok.headers["Location"], ok.text
    # gamma does not: the same kind of Response is refused, with the reason
    s = requests.Session()
    req, issuer = start(site, s, "3")
    r = respond(site, s, req, issuer, site.idps["shared"], **sha1)
    assert r.status_code == 403
    txid_logged(site, r, "which this tenant does not allow")
    assert "/saml/handoff" not in r.headers.get("Location", "")
