"""What a user sees, in a real browser: headless Debian chromium, driven by
npm playwright-core (browser.mjs, next to this file), through the demo
(examples/demo.sh: SAML at its SimpleSAMLphp IdP over HTTP-POST, OpenID
Connect at its own npm oidc-provider) and one more tenant that sends its
AuthnRequest over HTTP-Redirect (a harness httpd with the same portal CGI,
at a SimpleSAMLphp IdP of its own).

One browser run serves every test here: the module fixture starts the
servers, runs browser.mjs once (each scenario in a fresh browser context),
and the tests check what it recorded: status codes, the pages' text and DOM,
every top-level request with its Cookie header and every Set-Cookie, the
browser's cookie jar. A screenshot of each page is kept in
IDBROKER_BROWSER_ARTIFACTS, or else in a `screenshots` dir under the run's
work dir in /tmp (printed at the end; kept whatever the outcome).

Needs /usr/bin/chromium (Debian package `chromium`) and Node.js with npm
(bash tests/deps.sh test); `npm ci` here installs playwright-core (no
browser download). About 20 s.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/browser
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from harness import Httpd, free_port, get
from ssp import SimpleSamlIdp
from tenants import TenantDir, tenant_conf

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEMO = REPO / "examples" / "demo.sh"
PORTAL_CGI = REPO / "examples" / "portal" / "index.py"
CHROMIUM = "/usr/bin/chromium"
NODE_BIN = shutil.which("node") or "/usr/bin/node"
NPM_BIN = shutil.which("npm") or "/usr/bin/npm"
DEMO_TIMEOUT = 600      # the demo's build step may have to compile first
BROWSER_TIMEOUT = 120

SESSION_COOKIE = "idbroker_session"
STATE_PREFIX = "idbroker_state_"
TXID_RE = re.compile(r"Transaction ID:\s*([0-9a-f-]{36})")
# What a rendered page must never show: template markers and printf
# conversions left unfilled, C's NULL through %s.
RAW_MARKERS = ["{{", "}}", "%s", "%d", "%zu", "(null)"]

SAML_USER = ("jane", "janepass")
SAML_BAD_USER = ("nosid", "nosidpass")
JANE = {"cip_upn": "jane@example.test",
        "cip_sid": "S-1-5-21-1111111111-2222222222-3333333333-1104",
        # SimpleSAMLphp and the demo's OP send cip_oid as Base64; the module
        # hands it on as a GUID
        "cip_oid": "97caab93-7574-489d-899b-9fbc9f54e757",
        "cip_email": "jane@example.test", "displayName": "Jane Doe",
        "firstName": "Jane", "lastName": "Doe"}

# (scenario, page) -> status: every page of the SP (module or portal) the
# browser run snaps, checked by test_sp_pages_render.
SP_PAGES = {
    ("saml_post", "portal"): 200,
    ("saml_post", "replayed-response"): 403,
    ("saml_post", "signout-confirm"): 200,
    ("saml_post", "signed-out"): 200,
    ("saml_attribute_error", "attribute-error"): 403,
    ("saml_redirect", "portal"): 200,
    ("oidc", "portal"): 200,
    ("oidc", "signout-confirm"): 200,
    ("oidc", "signed-out"): 200,
    ("oidc_attribute_error", "attribute-error"): 403,
}


# ------------------------------------------------------------------ setup
def ensure_playwright() -> None:
    """`npm ci` here unless node_modules already holds the locked
    playwright-core (a file lock keeps parallel runs apart)."""
    for tool in (NODE_BIN, NPM_BIN):
        if not os.access(tool, os.X_OK):
            pytest.fail(f"{tool} not found: the browser tests need Node.js with npm "
                        "(bash tests/deps.sh test)", pytrace=False)
    want = json.loads((HERE / "package-lock.json").read_text())["packages"]
    want = {k: v.get("version") for k, v in want.items() if k}

    def current() -> bool:
        try:
            have = json.loads((HERE / "node_modules" / ".package-lock.json").read_text())
        except (OSError, ValueError):
            return False
        have = {k: v.get("version") for k, v in have.get("packages", {}).items() if k}
        return have == want

    with open(Path(tempfile.gettempdir()) / "idbroker-browser-npm-ci.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if current():
            return
        proc = subprocess.run(
            [NPM_BIN, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "NPM_CONFIG_UPDATE_NOTIFIER": "false",
                 "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
        if proc.returncode != 0 or not current():
            pytest.fail(f"npm ci in {HERE} failed (exit {proc.returncode}):\n"
                        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}", pytrace=False)


def distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def demo(*args: str, timeout: float = DEMO_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DEMO), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def redirect_tenant(workdir: Path, module_path: str, idp: SimpleSamlIdp) -> tuple[Httpd, str]:
    """An httpd with tenant `redir` (IdBrokerSSOBinding redirect) at `idp`,
    protecting the demo's portal CGI."""
    httpd = Httpd(workdir, module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    base = f"http://127.0.0.1:{httpd.port}"
    td.write("redir.conf", tenant_conf(
        "redir", base, td.key, td.cert,
        tenant_extra="    IdBrokerSSOBinding redirect\n",
        app_extra=(f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                   f"        IdBrokerIdPSSOURL {idp.sso_url}\n"
                   f"        IdBrokerIdPCert {idp.cert_path}\n")))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755)
    shutil.copy(PORTAL_CGI, portal / "index.py")
    (portal / "index.py").chmod(0o755)
    httpd.write_config(
        td.include()
        + f"ScriptSock {httpd.rundir}/cgid.sock\n"
        + f"<Directory {portal}>\n    Options +ExecCGI\n    AddHandler cgi-script .py\n"
          "    DirectoryIndex index.py\n</Directory>\n"
        + "<Location /portal>\n    AuthType IdBroker\n    Require valid-user\n</Location>\n",
        extra_modules=["authz_user", "cgid"])
    httpd.start()
    idp.trust_sp(get(base + "/saml/metadata").content)
    return httpd, base


class BrowserRun:
    """What browser.mjs recorded, plus the servers it ran against."""

    def __init__(self, results: dict, cfg: dict, demo_dir: Path, demo_out: str,
                 ports: dict, httpd: Httpd, idp: SimpleSamlIdp, node_out: str):
        self.results, self.cfg, self.demo_dir, self.demo_out = results, cfg, demo_dir, demo_out
        self.ports, self.httpd, self.idp, self.node_out = ports, httpd, idp, node_out

    def scenario(self, name: str) -> dict:
        sc = self.results["scenarios"].get(name)
        assert sc is not None, f"scenario {name} did not run:\n{self.node_out}"
        assert sc["ok"], (f"browser scenario {name} failed at {sc.get('url')}: {sc['error']}\n"
                          f"requests: {nav_summary(sc)}\nlogs:\n{self.logs()}")
        return sc

    def page(self, scenario: str, name: str) -> dict:
        sc = self.scenario(scenario)
        found = [p for p in sc["pages"] if p["name"] == name]
        assert found, f"{scenario}: no page {name} in {[p['name'] for p in sc['pages']]}"
        return found[-1]

    def demo_log(self) -> str:
        path = self.demo_dir / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return (f"--- demo error.log ---\n{self.demo_log()[-3000:]}\n"
                f"--- redirect tenant error.log ---\n{self.httpd.error_log()[-1500:]}")

    def secrets(self) -> list[str]:
        """Every session and state cookie value and SAMLResponse any scenario
        saw, and the demo's OIDC client secret."""
        out = []
        for sc in self.results["scenarios"].values():
            for nav in sc["navigations"]:
                for line in nav["set_cookie"]:
                    name, _, rest = line.partition("=")
                    value = rest.split(";", 1)[0]
                    if (name == SESSION_COOKIE or name.startswith(STATE_PREFIX)) and value:
                        out.append(value)
                if nav["post_data"] and "SAMLResponse=" in nav["post_data"]:
                    out += parse_qs(nav["post_data"]).get("SAMLResponse", [])
                q = parse_qs(urlsplit(nav["url"]).query)
                out += q.get("SAMLResponse", []) + q.get("code", [])
        secret = self.demo_dir / "op" / "client.secret"
        if secret.exists():
            out.append(secret.read_text().strip())
        return sorted(set(out))


def nav_summary(sc: dict) -> str:
    return "\n".join(f"  {n['method']} {n['url'][:110]} -> {n['status']}"
                     f"{' ' + n['location'][:80] if n['location'] else ''}"
                     for n in sc["navigations"])


def set_cookies(nav: dict, name_prefix: str) -> list[str]:
    return [c for c in nav["set_cookie"] if c.startswith(name_prefix)]


def cookie_header(nav: dict) -> dict[str, str]:
    out = {}
    for part in (nav["cookie"] or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


def jar(cookies: list[dict], name: str) -> dict | None:
    return next((c for c in cookies if c["name"] == name), None)


@pytest.fixture(scope="module")
def run(module_path, request):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium "
                    "(bash tests/deps.sh test)", pytrace=False)
    ensure_playwright()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="idbroker-browser-", dir="/tmp"))
    work.chmod(0o755)
    shots = Path(os.environ.get("IDBROKER_BROWSER_ARTIFACTS") or work / "screenshots")
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    demo_dir = work / "demo"
    port, idp_port, oidc_port, op_port = distinct_free_ports(4)
    ports = {"port": port, "idp": idp_port, "oidc": oidc_port, "op": op_port}
    idp = httpd = None
    timing = ""
    failed_before = request.session.testsfailed
    try:
        r = demo("--port", str(port), "--idp-port", str(idp_port), "--oidc-port",
                 str(oidc_port), "--op-port", str(op_port), "--dir", str(demo_dir))
        if r.returncode != 0:
            pytest.fail(f"examples/demo.sh failed (exit {r.returncode}):\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}", pytrace=False)
        demo_started = time.monotonic()
        idp = SimpleSamlIdp(work / "ssp").start()
        httpd, redir_base = redirect_tenant(work / "httpd", module_path, idp)
        cfg = {
            "chromium": CHROMIUM,
            "shots": str(shots),
            "saml": {"base": f"http://127.0.0.1:{port}",
                     "portal": f"http://127.0.0.1:{port}/portal/",
                     "idp_origin": f"http://127.0.0.1:{idp_port}"},
            "saml_redirect": {"base": redir_base, "portal": f"{redir_base}/portal/",
                              "idp_origin": idp.base},
            "oidc": {"base": f"http://127.0.0.1:{oidc_port}",
                     "portal": f"http://127.0.0.1:{oidc_port}/portal/",
                     "issuer": f"http://127.0.0.1:{op_port}"},
            # another site than 127.0.0.1; browser.mjs serves its page itself
            "cross_site": f"http://localhost:{free_port()}",
            "users": {"saml": list(SAML_USER), "saml_bad": list(SAML_BAD_USER),
                      "oidc": "jane", "oidc_bad": "nosid"},
        }
        (work / "browser-config.json").write_text(json.dumps(cfg, indent=1))
        home = work / "home"
        home.mkdir()
        results_path = work / "browser-results.json"
        proc = subprocess.run(
            [NODE_BIN, str(HERE / "browser.mjs"), str(work / "browser-config.json"),
             str(results_path)], cwd=HERE, capture_output=True, text=True,
            timeout=BROWSER_TIMEOUT, stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                 "TZ": "UTC", "XDG_CONFIG_HOME": str(home / ".config"),
                 "XDG_CACHE_HOME": str(home / ".cache")})
        node_out = proc.stdout + proc.stderr
        if proc.returncode != 0 or not results_path.exists():
            pytest.fail(f"browser.mjs failed (exit {proc.returncode}):\n{node_out[-4000:]}",
                        pytrace=False)
        results = json.loads(results_path.read_text())
        timing = (f"browser tests: demo start {demo_started - started:.1f}s, "
                  f"browser run {results['runtime_ms'] / 1000:.1f}s "
                  f"(chromium {results['browser_version']}); screenshots in {shots}")
        yield BrowserRun(results, cfg, demo_dir, r.stdout, ports, httpd, idp, node_out)
    finally:
        demo("--stop", "--dir", str(demo_dir), timeout=60)
        if httpd is not None:
            httpd.stop()
        if idp is not None:
            idp.stop()
        failed = request.session.testsfailed > failed_before
        if failed or os.environ.get("IDBROKER_KEEP_WORKDIR"):
            note = f"browser tests: work dir kept: {work}"
        else:
            for entry in work.iterdir():
                if entry != shots:
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() \
                        else entry.unlink()
            note = ""
        report(request, [timing or f"browser tests: screenshots in {shots}", note])


def report(request, lines: list[str]) -> None:
    """Lines for the terminal even when the tests pass (outside capture)."""
    lines = [line for line in lines if line]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None:
        print("\n" + "\n".join(lines))
        return
    with capman.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


# ------------------------------------------------------------------ the demo
def test_demo_prints_both_tenants(run):
    out = run.demo_out
    p = run.ports
    assert f"Portal:          http://127.0.0.1:{p['port']}/portal/" in out, out
    assert f"OIDC portal:     http://127.0.0.1:{p['oidc']}/portal/" in out, out
    assert "jane / janepass" in out and "nosid / nosidpass" in out, out
    assert f"issuer http://127.0.0.1:{p['op']}, client demo-portal" in out, out
    assert f"redirect URI http://127.0.0.1:{p['oidc']}/oidc/callback" in out, out
    assert f"examples/demo.sh --stop --dir {run.demo_dir}" in out, out


# ------------------------------------------------------------------ sign-in
def assert_portal_shows(page: dict, tenant: str, protocol: str, idp: str,
                        fields: dict[str, str]) -> None:
    text = page["text"]
    assert page["title"] == "Signed in as Jane Doe - sample portal", page["title"]
    assert f"through tenant {tenant}, with {protocol} at the identity provider {idp}" in text, text
    for name, value in {"tenant": tenant, "idp": idp, **fields}.items():
        assert re.search(rf"IDBROKER_{name}\t[^\n]*\t{re.escape(value)}(\n|$)", text), \
            (name, value, text)


def test_saml_post_binding_signs_in(run):
    sc = run.scenario("saml_post")
    navs = sc["navigations"]
    t = run.cfg["saml"]
    # the module answers the portal with its self-submitting AuthnRequest form
    assert (navs[0]["method"], navs[0]["url"], navs[0]["status"]) == ("GET", t["portal"], 200)
    assert navs[1]["method"] == "POST" and navs[1]["url"].startswith(t["idp_origin"]), \
        nav_summary(sc)
    assert navs[1]["origin"] == t["base"], navs[1]
    assert sc["observed"]["acs"]["status"] == 303, nav_summary(sc)
    assert sc["observed"]["acs"]["location"] == "/portal/"
    assert_portal_shows(run.page("saml_post", "portal"), "demo", "SAML 2.0",
                        f"{t['idp_origin']}/simplesaml/saml2/idp/metadata.php", JANE)
    assert "event=signin outcome=success tenant=demo" in run.demo_log()


def test_saml_redirect_binding_signs_in(run):
    sc = run.scenario("saml_redirect")
    t = run.cfg["saml_redirect"]
    first = sc["navigations"][0]
    assert (first["method"], first["url"], first["status"]) == ("GET", t["portal"], 303), \
        nav_summary(sc)
    loc = urlsplit(first["location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == run.idp.sso_url, first["location"]
    q = parse_qs(loc.query)
    assert {"SAMLRequest", "RelayState", "SigAlg", "Signature"} <= set(q), q.keys()
    assert q["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert sc["observed"]["acs"]["status"] == 303, nav_summary(sc)
    assert_portal_shows(run.page("saml_redirect", "portal"), "redir", "SAML 2.0",
                        run.idp.entity_id, JANE)


def test_oidc_signs_in(run):
    sc = run.scenario("oidc")
    t = run.cfg["oidc"]
    first = sc["navigations"][0]
    assert (first["url"], first["status"]) == (t["portal"], 303), nav_summary(sc)
    assert first["location"].startswith(f"{t['issuer']}/auth?"), first["location"]
    q = parse_qs(urlsplit(first["location"]).query)
    assert q["redirect_uri"] == [f"{t['base']}/oidc/callback"]
    assert q["client_id"] == ["demo-portal"]
    assert q["scope"] == ["openid profile email cip"]
    assert q["code_challenge_method"] == ["S256"]
    assert sc["observed"]["callback"]["status"] == 303, nav_summary(sc)
    assert_portal_shows(run.page("oidc", "portal"), "oidcdemo", "OpenID Connect", t["issuer"],
                        {**JANE, "cip_domain": "EXAMPLE", "cip_forest": "example.test"})
    assert "event=signin outcome=success tenant=oidcdemo" in run.demo_log()


# ------------------------------------------------------------------ cookies
def test_state_cookie_reaches_the_acs_with_the_idps_post(run):
    """The IdP's auto-submitted POST to the ACS comes from another origin
    of the same site (both on 127.0.0.1, ports apart): the browser sends the
    state cookie with it. Over plain http the module marks it SameSite=Lax
    (None needs Secure), so an IdP on another site could only work over
    https; the cookie is scoped to /saml/ and dropped once used."""
    sc = run.scenario("saml_post")
    t = run.cfg["saml"]
    set_lines = set_cookies(sc["navigations"][0], STATE_PREFIX)
    assert len(set_lines) == 1, sc["navigations"][0]["set_cookie"]
    name, _, rest = set_lines[0].partition("=")
    value = rest.split(";", 1)[0]
    attrs = [a.strip().lower() for a in rest.split(";")[1:]]
    assert {"path=/saml/", "httponly", "samesite=lax", "max-age=600"} <= set(attrs), set_lines
    acs = sc["observed"]["acs"]
    assert acs["origin"] == t["idp_origin"], acs        # cross-origin POST ...
    assert acs["fetch_site"] == "same-site", acs
    assert cookie_header(acs).get(name) == value, acs["cookie"]   # ... carries the state
    assert f"{name}=; Path=/saml/; HttpOnly; SameSite=Lax; Max-Age=0" in acs["set_cookie"], \
        acs["set_cookie"]
    assert jar(sc["observed"]["cookies_signed_in"], name) is None
    # the Redirect binding's ACS POST as well
    redir = run.scenario("saml_redirect")["observed"]["acs"]
    assert any(k.startswith(STATE_PREFIX) for k in cookie_header(redir)), redir["cookie"]


def test_oidc_state_cookie_reaches_the_callback(run):
    sc = run.scenario("oidc")
    first, cb = sc["navigations"][0], sc["observed"]["callback"]
    set_lines = set_cookies(first, STATE_PREFIX)
    assert len(set_lines) == 1, first["set_cookie"]
    name, _, rest = set_lines[0].partition("=")
    assert "SameSite=Lax" in rest and "HttpOnly" in rest, set_lines
    assert cookie_header(cb).get(name) == rest.split(";", 1)[0], cb["cookie"]


def test_session_cookie_is_lax_and_httponly(run):
    sc = run.scenario("saml_post")
    c = jar(sc["observed"]["cookies_signed_in"], SESSION_COOKIE)
    assert c is not None, sc["observed"]["cookies_signed_in"]
    assert (c["sameSite"], c["httpOnly"], c["path"], c["domain"], c["expires"]) == \
        ("Lax", True, "/", "127.0.0.1", -1), c
    assert not c["secure"]          # plain http demo
    # from a page of another site: a link (top-level GET) keeps the session,
    # a form POST is sent without the cookie and gets no portal
    get_nav = sc["observed"]["cross_site_get"]
    assert cookie_header(get_nav).get(SESSION_COOKIE) == c["value"], get_nav
    assert sc["observed"]["cross_site_get_status"] == 200
    post_nav = sc["observed"]["cross_site_post"]
    assert post_nav is not None and post_nav["origin"] == run.cfg["cross_site"], post_nav
    assert SESSION_COOKIE not in cookie_header(post_nav), post_nav["cookie"]
    assert post_nav["status"] != 200, post_nav
    oc = jar(run.scenario("oidc")["observed"]["cookies_signed_in"], SESSION_COOKIE)
    assert oc is not None and (oc["sameSite"], oc["httpOnly"]) == ("Lax", True), oc


# ------------------------------------------------------------------ sign-out
@pytest.mark.parametrize("scenario", ["saml_post", "oidc"])
def test_sign_out(run, scenario):
    sc = run.scenario(scenario)
    t = run.cfg["saml" if scenario == "saml_post" else "oidc"]
    confirm = run.page(scenario, "signout-confirm")
    assert confirm["title"] == "Sign out", confirm["title"]
    html = confirm["html"]
    assert re.search(r'<form[^>]*method="post"', html, re.I), html
    assert re.search(r'name="token" value="[0-9a-f]{16,}"', html), html
    assert re.search(r"<button[^>]*>Sign out</button>", html), html
    # the button: the local session ends, the IdP/OP signs out and sends the
    # browser back to the post-logout URL, the start page
    done = run.page(scenario, "signed-out")
    assert done["url"].split("?")[0] == f"{t['base']}/", done["url"]
    assert done["title"] == "mod_auth_idbroker sign-in demo", done["title"]
    assert jar(sc["observed"]["cookies_signed_out"], SESSION_COOKIE) is None
    old = sc["observed"]["session_before_signout"]
    assert old, sc["observed"]
    api = get(t["portal"], headers={"Cookie": f"{SESSION_COOKIE}={old}",
                                    "Accept": "application/json"})
    assert api.status_code == 401, (api.status_code, api.text[:300])
    # and signed out at the identity provider: the portal asks for the login again
    if scenario == "saml_post":
        assert "/loginuserpass.php" in sc["observed"]["after_signout_url"], sc["observed"]
        assert "event=logout outcome=success tenant=demo" in run.demo_log(), run.logs()
    else:
        assert sc["observed"]["after_signout_url"].startswith(f"{t['issuer']}/interaction/")


# ------------------------------------------------------------------ error pages
@pytest.mark.parametrize("scenario,names", [
    ("saml_attribute_error", ["cip_upn", "cip_sid"]),
    ("oidc_attribute_error", ["email", "cip_sid"]),
])
def test_attribute_error_page(run, scenario, names):
    sc = run.scenario(scenario)
    page = run.page(scenario, "attribute-error")
    assert page["status"] == 403
    assert page["title"] == "Sign-in Attribute Error", page["title"]
    for name in names:
        assert f"{name}: missing" in page["text"], page["text"]
    assert "No Sid" not in page["text"]          # names, never the user's values
    txid = TXID_RE.search(page["text"])
    assert txid, page["text"]
    assert txid.group(1) in run.demo_log(), run.logs()
    assert jar(sc["observed"]["cookies"], SESSION_COOKIE) is None, sc["observed"]["cookies"]


def test_replayed_saml_response_gets_the_error_page(run):
    page = run.page("saml_post", "replayed-response")
    assert page["status"] == 403
    assert page["title"] == "Unable to Process Your Request", page["title"]
    txid = TXID_RE.search(page["text"])
    assert txid, page["text"]
    log = [line for line in run.demo_log().splitlines() if txid.group(1) in line]
    assert log, run.logs()


@pytest.mark.parametrize("scenario,name", list(SP_PAGES))
def test_sp_pages_render(run, scenario, name):
    """Each page of the module and the portal: the status it should have, a
    title, visible text, a screenshot; no template marker left, no cookie
    value, SAMLResponse, code or client secret in the page."""
    page = run.page(scenario, name)
    assert page["status"] == SP_PAGES[(scenario, name)], (page["status"], page["url"])
    assert page["title"].strip(), page["url"]
    assert len(page["text"].strip()) > 5, page
    for marker in RAW_MARKERS:
        assert marker not in page["text"], (marker, page["text"])
        assert marker not in page["html"], (marker, page["html"][:3000])
    for secret in run.secrets():
        assert secret not in page["text"] and secret not in page["html"], \
            (f"{secret[:16]}... shown", page["url"])
    shot = Path(page["screenshot"])
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
    assert shot.stat().st_size > 2000, shot


def test_idp_and_op_pages_render(run):
    for scenario in ("saml_post", "saml_redirect", "saml_attribute_error", "oidc",
                     "oidc_attribute_error"):
        for page in run.scenario(scenario)["pages"]:
            if page["kind"] in ("idp", "op"):
                assert page["status"] == 200, page["url"]
                assert Path(page["screenshot"]).is_file()


# ------------------------------------------------------------------ last: --stop
def test_demo_stop_stops_everything(run):
    r = demo("--stop", "--dir", str(run.demo_dir), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stopped httpd, the local IdP and the local OpenID Provider" in r.stdout, r.stdout
    for name, port in run.ports.items():
        assert not port_open(port), f"{name} port {port} still open after --stop"
