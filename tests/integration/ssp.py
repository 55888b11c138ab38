"""A real SimpleSAMLphp IdP (Debian package `simplesamlphp`) for sign-in tests.

Runs under PHP's built-in web server on 127.0.0.1 (no Apache, no system
config): every instance has its own work dir with a config dir (selected via
SIMPLESAMLPHP_CONFIG_DIR), a docroot holding `simplesaml -> /usr/share/
simplesamlphp/www`, its own signing key pair, sessions, temp and log dirs.

    with SimpleSamlIdp(workdir) as idp:          # or the ssp_idp fixtures
        idp.trust_sp(sp_metadata_xml)             # any time, no restart
        r = harness.get(sp_url, session=s)        # SP starts sign-in
        r = browser_login(s, r, "jane", "janepass")
        r = post_to_sp(s, r)                      # the SP's ACS answer

The templates in ssp/ are static PHP that read the JSON files this module
writes (settings.json, users.json, idp.json, sp/*.json) on every request, so
users, IdP options and trusted SPs can all change on a running IdP.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from lxml import etree, html

import pki
from harness import free_port

PHP_BIN = "/usr/bin/php"
SSP_WWW = Path("/usr/share/simplesamlphp/www")
TEMPLATES = Path(__file__).resolve().parent / "ssp"
TIMEOUT = 10.0

NAMEID_FORMATS = {
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "emailAddress": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
}
NAMEFORMAT_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"

# password = username + "pass" unless a user says otherwise
DEFAULT_USERS: dict[str, dict] = {
    "jane": {
        "cip_upn": ["jane@example.test"],
        "cip_sid": ["S-1-5-21-1111111111-2222222222-3333333333-1104"],
        "cip_oid": ["k6vKl3R1nUiJm5+8n1TnVw=="],
        "cip_email": ["jane@example.test"],
        "displayName": ["Jane Doe"],
        "firstName": ["Jane"],
        "lastName": ["Doe"],
    },
    # no cip_upn / cip_sid: the SP must refuse the sign-in (attribute error)
    "nosid": {
        "displayName": ["No Sid"],
        "firstName": ["No"],
        "lastName": ["Sid"],
    },
    "multi": {
        "cip_upn": ["multi@example.test", "multi2@example.test"],
        "cip_sid": ["S-1-5-21-1111111111-2222222222-3333333333-1105"],
        "cip_oid": ["AAECAwQFBgcICQoLDA0ODw=="],
        "cip_email": ["multi@example.test"],
        "displayName": ["Multi Upn"],
        "firstName": ["Multi"],
        "lastName": ["Upn"],
    },
}

_RUNNING: set["SimpleSamlIdp"] = set()


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> Path:
    """Atomic write (the running IdP re-reads these files per request)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.chmod(mode)
    os.replace(tmp, path)
    return path


def _nameid_format(fmt: str | None) -> str:
    if fmt is None:
        return NAMEID_FORMATS["unspecified"]
    return NAMEID_FORMATS.get(fmt, fmt)


def _normalize_users(users: dict) -> dict:
    """{name: attributes} or {name: {"password": p, "attributes": {...}}}
    -> the latter, every attribute value a list of strings."""
    out = {}
    for name, spec in users.items():
        if ":" in name:
            raise ValueError(f"user name {name!r} must not contain ':'")
        if "attributes" in spec and isinstance(spec["attributes"], dict):
            password = spec.get("password", name + "pass")
            attrs = spec["attributes"]
        else:
            password, attrs = name + "pass", spec
        out[name] = {
            "password": password,
            "attributes": {k: [v] if isinstance(v, str) else list(v)
                           for k, v in attrs.items()},
        }
    return out


class SimpleSamlIdp:
    """One SimpleSAMLphp IdP under `php -S 127.0.0.1:PORT` in `workdir`.

    sign_response / sign_assertion / validate_authnrequest map to the hosted
    IdP options saml20.sign.response / saml20.sign.assertion /
    validate.authnrequest. The NameID is the user's (first) cip_upn value in
    `nameid_format` (default unspecified; "persistent", "emailAddress",
    "transient" or a full URN also accepted; users without cip_upn get a
    transient NameID). `idp_options` adds/overrides raw saml20-idp-hosted
    options (e.g. {"signature.algorithm": ..., "sign.logout": False}).
    """

    def __init__(self, workdir: Path, *, sign_response: bool = True,
                 sign_assertion: bool = True, validate_authnrequest: bool = False,
                 users: dict | None = None, nameid_format: str | None = None,
                 validate_logout: bool = False, sign_logout: bool = True,
                 signature_algorithm: str = RSA_SHA256, key_slot: int = 42,
                 idp_options: dict | None = None):
        self.workdir = _mkdir(Path(workdir))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.metadata_url = f"{self.base}/simplesaml/saml2/idp/metadata.php"
        self.entity_id = self.metadata_url
        self.sso_url = f"{self.base}/simplesaml/saml2/idp/SSOService.php"
        self.slo_url = f"{self.base}/simplesaml/saml2/idp/SingleLogoutService.php"
        self.nameid_format = _nameid_format(nameid_format)

        self.config_dir = _mkdir(self.workdir / "config")
        self.metadata_dir = _mkdir(self.config_dir / "metadata")
        self.sp_dir = _mkdir(self.config_dir / "sp")
        self.docroot = _mkdir(self.workdir / "docroot")
        self.log_dir = _mkdir(self.workdir / "log")
        self.tempdir = _mkdir(self.workdir / "tmp")
        self.session_dir = _mkdir(self.workdir / "sessions")
        self.data_dir = _mkdir(self.workdir / "data")
        self.server_log_path = self.workdir / "php-server.log"
        self.php_error_log_path = self.log_dir / "php-errors.log"
        self.log_path = self.log_dir / "simplesamlphp.log"
        link = self.docroot / "simplesaml"
        if not link.is_symlink():
            link.symlink_to(SSP_WWW)

        key = pki.private_key("rsa2048", key_slot)
        self.cert = pki.certificate(key, cn="idp.test")
        self.key_path = _write(self.config_dir / "idp.key", pki.key_pem(key), 0o600)
        self.cert_path = _write(self.config_dir / "idp.crt", pki.cert_pem(self.cert))
        self.cert_b64 = pki.cert_b64(self.cert)

        for name in ("config.php", "authsources.php"):
            _write(self.config_dir / name, (TEMPLATES / name).read_bytes())
        for name in ("saml20-idp-hosted.php", "saml20-sp-remote.php"):
            _write(self.metadata_dir / name, (TEMPLATES / name).read_bytes())
        _write(self.config_dir / "settings.json", json.dumps({
            "port": self.port,
            "baseurlpath": f"{self.base}/simplesaml/",
            "certdir": str(self.config_dir) + "/",
            "logdir": str(self.log_dir) + "/",
            "datadir": str(self.data_dir) + "/",
            "tempdir": str(self.tempdir),
            "sessiondir": str(self.session_dir),
            "secretsalt": os.urandom(16).hex(),
            "adminpassword": "admin-" + os.urandom(8).hex(),
        }, indent=1))

        self.idp_options = {
            "host": "__DEFAULT__",
            "privatekey": str(self.key_path),
            "certificate": str(self.cert_path),
            "auth": "example-userpass",
            "saml20.sign.response": sign_response,
            "saml20.sign.assertion": sign_assertion,
            "signature.algorithm": signature_algorithm,
            "validate.authnrequest": validate_authnrequest,
            "validate.logout": validate_logout,
            "sign.logout": sign_logout,
            "NameIDFormat": self.nameid_format,
            "simplesaml.nameidattribute": "cip_upn",
            "attributes.NameFormat": NAMEFORMAT_BASIC,
            # both are accepted anyway; advertise both in the metadata
            "SingleSignOnServiceBinding": [BINDING_REDIRECT, BINDING_POST],
            "SingleLogoutServiceBinding": [BINDING_REDIRECT, BINDING_POST],
            **(idp_options or {}),
        }
        self._write_idp()
        self.set_users(DEFAULT_USERS if users is None else users)
        self.trusted_sps: list[str] = []
        self._proc: subprocess.Popen | None = None

    # ------------------------------------------------------------ config
    def _write_idp(self) -> None:
        _write(self.config_dir / "idp.json", json.dumps(
            {"entityid": self.entity_id, "metadata": self.idp_options}, indent=1))

    def update_idp_options(self, **options) -> None:
        """Change hosted-IdP options (keys with dots: pass a dict via **{...});
        effective from the next request, no restart."""
        self.idp_options.update(options)
        self._write_idp()

    def set_users(self, users: dict) -> None:
        """Replace the user table: {name: attributes} (password name+"pass")
        or {name: {"password": ..., "attributes": {...}}}. No restart."""
        self.users = _normalize_users(users)
        _write(self.config_dir / "users.json", json.dumps(self.users, indent=1))

    def trust_sp(self, sp_metadata_xml: bytes, **sp_options) -> str:
        """Trust the SP(s) in this SAML metadata (EntityDescriptor or
        EntitiesDescriptor); returns the (first) entityID. SimpleSAMLphp
        parses the XML itself on every request, so this works on a running
        IdP and can be called for several SPs. `sp_options` are raw
        saml20-sp-remote options overriding the XML and the IdP defaults
        (e.g. **{"saml20.sign.assertion": False, "validate.authnrequest": True}).
        The NameID format and source attribute are set here from the IdP's
        settings, whatever the SP metadata's NameIDFormat says."""
        if isinstance(sp_metadata_xml, str):
            sp_metadata_xml = sp_metadata_xml.encode()
        root = etree.fromstring(sp_metadata_xml, etree.XMLParser(
            resolve_entities=False, no_network=True))
        if root.tag == f"{{{MD_NS}}}EntityDescriptor":
            entity_ids = [root.get("entityID")]
        else:
            entity_ids = [e.get("entityID") for e in root.iter(f"{{{MD_NS}}}EntityDescriptor")]
        if not entity_ids or not all(entity_ids):
            raise ValueError("SP metadata without entityID")
        n = len(list(self.sp_dir.glob("*.xml")))
        stem = f"sp{n:03d}"
        overrides = {
            "NameIDFormat": self.nameid_format,
            "simplesaml.nameidattribute": "cip_upn",
            "attributes.NameFormat": NAMEFORMAT_BASIC,
            **sp_options,
        }
        # json first: the xml is what makes the SP visible
        _write(self.sp_dir / f"{stem}.json", json.dumps(overrides, indent=1))
        _write(self.sp_dir / f"{stem}.xml", sp_metadata_xml)
        self.trusted_sps.extend(entity_ids)
        return entity_ids[0]

    def untrust_all(self) -> None:
        for p in self.sp_dir.iterdir():
            p.unlink()
        self.trusted_sps.clear()

    # ------------------------------------------------------------ process
    def _env(self) -> dict:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C",
                "SIMPLESAMLPHP_CONFIG_DIR": str(self.config_dir),
                "PHP_CLI_SERVER_WORKERS": "4", "TZ": "UTC"}

    def log(self) -> str:
        """SimpleSAMLphp's own log (DEBUG, includes the SAML messages)."""
        text = ""
        for p in (self.log_path, self.php_error_log_path, self.server_log_path):
            if p.exists():
                text += f"--- {p.name} ---\n" + p.read_text(errors="replace")
        return text

    def _fail(self, what: str):
        tail = "\n".join(self.log().splitlines()[-40:])
        raise RuntimeError(f"SimpleSAMLphp IdP {what} (port {self.port}, "
                           f"{self.workdir})\n{tail}")

    def start(self) -> "SimpleSamlIdp":
        if self._proc is not None:
            return self
        log = open(self.server_log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                [PHP_BIN, "-d", "display_errors=0", "-d", "log_errors=1",
                 "-d", f"error_log={self.php_error_log_path}",
                 "-S", f"127.0.0.1:{self.port}", "-t", str(self.docroot)],
                cwd=self.workdir, env=self._env(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        _RUNNING.add(self)
        deadline = time.monotonic() + TIMEOUT
        with requests.Session() as s:
            s.trust_env = False
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    self.stop()
                    self._fail("exited right after start")
                try:
                    r = s.get(self.metadata_url, timeout=2, allow_redirects=False)
                    if r.status_code == 200 and b"EntityDescriptor" in r.content:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
        self.stop()
        self._fail(f"metadata not served within {TIMEOUT:.0f}s")

    def stop(self) -> None:
        """Kill php -S and its workers (own process group) and reap it."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The PHP_CLI_SERVER_WORKERS children share the group: make sure none
        # outlived the master, and reap them (harness makes this process a
        # child subreaper, so orphaned workers are re-parented to us).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-proc.pid, os.WNOHANG)
            except ChildProcessError:
                break             # no child of ours left in that group
            if pid == 0:
                time.sleep(0.02)  # still dying

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "SimpleSamlIdp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for idp in list(_RUNNING):
        idp.stop()


# ----------------------------------------------------------------- browser
def _request(session: requests.Session, method: str, url: str, **kw) -> requests.Response:
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 10)
    return session.request(method, url, **kw)


def find_form(response: requests.Response, field: str | None = None):
    """(form element, absolute action URL) of the first form in the page
    (having an input named `field` if given), or (None, None)."""
    ctype = response.headers.get("Content-Type", "")
    if not response.content or ("html" not in ctype and b"<form" not in response.content):
        return None, None
    try:
        doc = html.fromstring(response.content)
    except (etree.ParserError, ValueError):
        return None, None
    for form in doc.forms:
        names = {i.get("name") for i in form.inputs if i.get("name")}
        if field is None or field in names:
            action = form.get("action") or response.url
            return form, urljoin(response.url, action)
    return None, None


def form_fields(response: requests.Response, field: str = "SAMLResponse"):
    """(action URL, method, {name: value}) of the form carrying `field`
    (the SAML auto-POST form), or None. Submit buttons are not included."""
    form, action = find_form(response, field)
    if form is None:
        return None
    return action, (form.get("method") or "get").lower(), dict(form.form_values())


def _submit(session, action: str, method: str, fields: dict) -> requests.Response:
    if method == "post":
        return _request(session, "POST", action, data=fields)
    return _request(session, "GET", action, params=fields)


def browser_login(session: requests.Session, start_response: requests.Response,
                  username: str, password: str, *, max_steps: int = 10) -> requests.Response:
    """Play the browser on the IdP side of a sign-in.

    `start_response` is the SP's answer that starts sign-in: a 3xx to the
    IdP (HTTP-Redirect binding) or an HTML page with an auto-submit form
    carrying SAMLRequest (HTTP-POST binding). Follows it to the IdP, follows
    the IdP's own redirects, fills in the login form (skipped if the IdP
    already has a session) and returns the IdP's final response - normally
    the auto-POST form with SAMLResponse/RelayState for the SP's ACS, which
    is NOT submitted (see post_to_sp). Any other final page (login page again
    after a wrong password, "Unhandled exception" error page, ...) is
    returned as is.
    """
    r = start_response
    if r.is_redirect:
        url = urljoin(r.url, r.headers["Location"])
        r = _request(session, "GET", url)
    else:
        f = form_fields(r, "SAMLRequest")
        if f is None:
            raise AssertionError(
                f"not a sign-in start (status {r.status_code}, no redirect, no "
                f"SAMLRequest form): {r.text[:500]!r}")
        r = _submit(session, *f)
    idp_host = urlsplit(r.url).netloc
    logged_in = False
    for _ in range(max_steps):
        if r.is_redirect:
            url = urljoin(r.url, r.headers["Location"])
            if urlsplit(url).netloc != idp_host:
                return r              # leaving the IdP by redirect
            r = _request(session, "GET", url)
            continue
        if form_fields(r, "SAMLResponse") is not None:
            return r
        form, action = find_form(r, "password")
        if form is None or logged_in:
            return r                  # error page, or login page again
        fields = dict(form.form_values())
        fields.update(username=username, password=password)
        r = _request(session, "POST", action, data=fields)
        logged_in = True
    raise AssertionError(f"IdP did not finish within {max_steps} steps; last: "
                         f"{r.status_code} {r.url}")


def post_to_sp(session: requests.Session, idp_response: requests.Response,
               overrides: dict | None = None) -> requests.Response:
    """Submit the IdP's auto-POST form (SAMLResponse + RelayState) to the
    SP's ACS, without following redirects. `overrides` replaces/adds form
    fields (e.g. a tampered SAMLResponse); a None value removes a field."""
    f = form_fields(idp_response, "SAMLResponse")
    if f is None:
        raise AssertionError(f"no SAMLResponse form in IdP response "
                             f"({idp_response.status_code} {idp_response.url}): "
                             f"{idp_response.text[:800]!r}")
    action, method, fields = f
    for k, v in (overrides or {}).items():
        if v is None:
            fields.pop(k, None)
        else:
            fields[k] = v
    return _request(session, "POST", action, data=fields)


def saml_response_xml(idp_response: requests.Response) -> bytes:
    """The decoded SAMLResponse XML of the IdP's auto-POST form."""
    import base64
    f = form_fields(idp_response, "SAMLResponse")
    if f is None:
        raise AssertionError("no SAMLResponse form in IdP response")
    return base64.b64decode(f[2]["SAMLResponse"])


def is_error_page(response: requests.Response) -> bool:
    """SimpleSAMLphp reports errors as HTTP 200 pages ("Unhandled exception",
    "Metadata not found", ...), all carrying the error's track id."""
    return (b'id="trackid"' in response.content
            or b"Unhandled exception" in response.content)


def error_text(response: requests.Response) -> str:
    """The visible text of a SimpleSAMLphp error page (title, description
    and, with showerrors on, the exception message), whitespace-collapsed."""
    doc = html.fromstring(response.content)
    for bad in doc.xpath("//script|//style|//pre[@id='trackid']"):
        bad.drop_tree()
    return " ".join(doc.text_content().split())


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def ssp_idp_factory(request):
    """Callable `(**SimpleSamlIdp kwargs) -> started SimpleSamlIdp`. Work dirs
    live under a fresh 0755 dir in /tmp; all IdPs are stopped at teardown;
    the dir is removed unless the test failed or IDBROKER_KEEP_WORKDIR is set.
    Use from a test module with `from ssp import ssp_idp_factory, ssp_idp`."""
    base = Path(tempfile.mkdtemp(prefix="idbroker-ssp-", dir="/tmp"))
    base.chmod(0o755)
    made: list[SimpleSamlIdp] = []

    def make(**kw) -> SimpleSamlIdp:
        idp = SimpleSamlIdp(base / f"idp{len(made)}", **kw)
        made.append(idp)
        return idp.start()

    yield make
    for idp in made:
        idp.stop()
    rep = getattr(request.node, "rep_call", None)
    if (rep is None or rep.failed) or os.environ.get("IDBROKER_KEEP_WORKDIR"):
        print(f"\nSimpleSAMLphp work dir kept: {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ssp_idp(ssp_idp_factory) -> SimpleSamlIdp:
    """A started IdP with default options and users."""
    return ssp_idp_factory()
