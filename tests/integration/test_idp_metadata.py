"""IdP metadata from a URL or a file (IDPCERT-7): the SP takes the IdP's
entity ID, SSO URL and signing certificates from metadata, refreshes it in
the background, keeps the last good copy whenever a refresh fails, and lets
an IdP roll its signing certificate over with no failed sign-in and no
restart.

A small HTTP server on 127.0.0.1 (MetadataServer) serves the metadata; each
test changes what it answers. The test IdP (testidp.py) signs Responses with
one of two keys of the same entity; the "metadata signer" is a third key whose
certificate the SP pins with IdBrokerIdPMetadataSigner.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from lxml import etree

import pki
from acs_fixture import GOOD_ATTRS, PORTAL, PORTAL_PATH, PORTAL_TEXT, Tenant
from harness import get
from tenants import TenantDir, tenant_conf
from testidp import (DS, MD, SAMLP, TestIdp, _signature_template, _sub, _xmlsec1)

ENTITY = "https://idp.rollover.test/entity"
SSO = "https://idp.rollover.test/sso"


# ------------------------------------------------------------ the metadata
def metadata(idps: list[TestIdp], *, signer: TestIdp | None, entity_id: str = ENTITY,
             valid_until: dt.datetime | None = None, cache_duration: str | None = None,
             sso_url: str = SSO) -> bytes:
    """An EntityDescriptor listing each IdP key as a signing certificate,
    signed by `signer` (enveloped, over the document element) when given."""
    doc_id = "_md" + uuid.uuid4().hex
    root = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap={"md": MD, "ds": DS})
    root.set("entityID", entity_id)
    root.set("ID", doc_id)
    if valid_until is not None:
        root.set("validUntil", valid_until.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if cache_duration is not None:
        root.set("cacheDuration", cache_duration)
    role = _sub(root, MD, "IDPSSODescriptor", attrs=[("protocolSupportEnumeration", SAMLP)])
    for idp in idps:
        kd = _sub(role, MD, "KeyDescriptor", attrs=[("use", "signing")])
        _sub(_sub(_sub(kd, DS, "KeyInfo"), DS, "X509Data"), DS, "X509Certificate", idp.cert_b64)
    for binding in ("HTTP-Redirect", "HTTP-POST"):
        _sub(role, MD, "SingleSignOnService",
             attrs=[("Binding", f"urn:oasis:names:tc:SAML:2.0:bindings:{binding}"),
                    ("Location", sso_url)])
    if signer is None:
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    root.insert(0, _signature_template(doc_id, "ds", "rsa-sha256", "sha256", True, None))
    proc = subprocess.run(
        [_xmlsec1(), "--sign", "--privkey-pem", f"{signer._key_path},{signer._cert_path}",
         "--id-attr:ID", f"{MD}:EntityDescriptor", "-"],
        input=etree.tostring(root), capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def tampered(signed: bytes, new_entity_sso: str = "https://evil.example/sso") -> bytes:
    """A signed document with its SSO URL changed after signing."""
    return signed.replace(SSO.encode(), new_entity_sso.encode())


class MetadataServer:
    """Answers GET /md.xml with whatever the test set: body, status, delay.
    Honours If-None-Match with the ETag of the current body."""

    def __init__(self):
        self.body = b""
        self.status = 200
        self.delay = 0.0
        self.hits = 0
        self.conditional_hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.hits += 1
                if server.delay:
                    time.sleep(server.delay)
                etag = f'"{hash(server.body) & 0xffffffff:x}"'
                if server.status == 200 and self.headers.get("If-None-Match") == etag:
                    server.conditional_hits += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(server.status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("ETag", etag)
                body = server.body if server.status == 200 else b"oops"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/md.xml"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def md_server():
    s = MetadataServer()
    yield s
    s.close()


# ------------------------------------------------------------ the SP
class Holder:
    """What acs_fixture.Tenant needs of its Sp: the IdP that answers."""

    def __init__(self, idp: TestIdp):
        self.idp = idp


class MdSp:
    def __init__(self, httpd, state_dir: Path, idp: TestIdp):
        self.httpd = httpd
        self.state_dir = state_dir
        self.holder = Holder(idp)
        self.tenant = Tenant("acme", httpd.port, self.holder)

    def state(self) -> dict:
        files = list(self.state_dir.glob("idp-acme-primary-*.state.json"))
        return json.loads(files[0].read_text()) if files else {}

    def wait_state(self, pred, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.state()
            if st and pred(st):
                return st
            time.sleep(0.1)
        raise AssertionError(f"state never matched: {self.state()}\n{self.httpd.error_log()[-3000:]}")

    def sign_in(self, idp: TestIdp) -> requests.Response:
        s = requests.Session()
        flow = self.tenant.start(s)
        xml = self.tenant.response(flow, idp=idp)
        acs = self.tenant.answer(s, xml, flow.relay_state)
        if acs.status_code != 303:
            return acs
        return self.tenant.portal_get(s)


def make_sp(httpd_factory, module_path, idp, source_lines: str, state_dir: Path | None = None,
            start: bool = True) -> MdSp:
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    state_dir = state_dir or httpd.workdir / "state"
    td.write("acme.conf", tenant_conf("acme", f"http://127.0.0.1:{httpd.port}", td.key, td.cert,
                                      app_extra=source_lines.format(dir=td.root)))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755, exist_ok=True)
    (portal / "index.html").write_text(PORTAL_TEXT)
    httpd.write_config(f"IdBrokerStateDir {state_dir}\n" + td.include()
                       + PORTAL.format(htdocs=httpd.htdocs), extra_modules=["authz_user"])
    sp = MdSp(httpd, state_dir, idp)
    sp.td = td
    if start:
        httpd.start()
    return sp


def url_source(url: str, signer_cert: Path, refresh="1 2", timeout=2) -> str:
    return (f"        IdBrokerIdPMetadataURL {url}\n"
            f"        IdBrokerIdPMetadataSigner {signer_cert}\n"
            f"        IdBrokerIdPMetadataRefresh {refresh}\n"
            f"        IdBrokerIdPMetadataTimeout {timeout}\n")


@pytest.fixture
def keys():
    """Two signing keys of one IdP entity, and the metadata signer."""
    old = TestIdp(entity_id=ENTITY, slot=21)
    new = TestIdp(entity_id=ENTITY, slot=22)
    signer = TestIdp(entity_id="https://md-signer.test/", slot=23)
    # A directory of this test's own: keys are made per pytest process, so a
    # fixed path under /tmp would be overwritten by another run's signer.
    signer.pem_dir = Path(tempfile.mkdtemp(prefix="idbroker-md-signer-", dir="/tmp"))
    signer.pem_dir.chmod(0o755)
    yield old, new, signer
    shutil.rmtree(signer.pem_dir, ignore_errors=True)


def eventually(pred, timeout: float) -> bool:
    """pred() became true within timeout seconds (bounded: a background
    parse of a one-entity copy takes milliseconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


def signed_in(resp: requests.Response) -> bool:
    return resp.status_code == 200 and resp.text == PORTAL_TEXT


# ------------------------------------------------------------ tests
def test_metadata_file_source_is_reloaded_when_it_changes(httpd_factory, module_path, keys):
    old, new, _ = keys
    httpd = httpd_factory(module_path)
    md_file = httpd.workdir / "idp-metadata.xml"
    md_file.write_bytes(metadata([old], signer=None))
    md_file.chmod(0o644)
    sp = make_sp(httpd_factory, module_path, old, f"        IdBrokerIdPMetadataFile {md_file}\n")
    r = sp.sign_in(old)
    assert signed_in(r), (r.status_code, r.text, sp.httpd.error_log()[-2000:])
    assert not signed_in(sp.sign_in(new))          # the new key is not trusted yet
    tmp = md_file.with_suffix(".tmp")
    tmp.write_bytes(metadata([new], signer=None))
    tmp.chmod(0o644)
    tmp.rename(md_file)
    # A request that notices the new copy has it parsed in the background and
    # is served with the copy in force meanwhile: each process swaps the new
    # one in within moments, never making a request wait for the parse.
    assert eventually(lambda: signed_in(sp.sign_in(new)), timeout=10.0)
    assert eventually(lambda: not signed_in(sp.sign_in(old)), timeout=10.0)   # the old one is gone
    assert eventually(lambda: "now using" in sp.httpd.error_log(), timeout=10.0)


def test_metadata_gives_sso_url_and_entity_without_pinned_values(httpd_factory, module_path,
                                                                   md_server, keys):
    old, _, signer = keys
    md_server.body = metadata([old], signer=signer, sso_url="https://idp.rollover.test/other-sso")
    sp = make_sp(httpd_factory, module_path, old,
                 url_source(md_server.url, signer.cert_pem_path(signer.pem_dir)))
    sp.wait_state(lambda st: st.get("ok"))
    start = get(sp.tenant.portal, session=requests.Session())
    assert 'action="https://idp.rollover.test/other-sso"' in start.text, start.text
    assert signed_in(sp.sign_in(old))


def test_rollover_via_metadata_under_continuous_sign_ins(httpd_factory, module_path,
                                                         md_server, keys):
    """old cert -> both -> new cert, while sign-ins never stop: none fails."""
    old, new, signer = keys
    md_server.body = metadata([old], signer=signer)
    sp = make_sp(httpd_factory, module_path, old,
                 url_source(md_server.url, signer.cert_pem_path(signer.pem_dir)))
    sp.wait_state(lambda st: st.get("ok"))
    pid_before = sp.httpd._read_pid()

    current = {"idp": old}
    results: list[tuple[str, int]] = []
    stop = threading.Event()

    def sign_in_loop():
        while not stop.is_set():
            idp = current["idp"]
            r = sp.sign_in(idp)
            results.append(("old" if idp is old else "new", r.status_code if not signed_in(r) else 0))

    workers = [threading.Thread(target=sign_in_loop) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        time.sleep(1.5)
        # A change is recorded only once the new copy is in force in the
        # fetching process; changes are >= 2 s apart, so the state's 1 s
        # resolution tells each one from the last.
        before = sp.state()["last_change"]
        md_server.body = metadata([old, new], signer=signer)     # IdP publishes the new cert
        sp.wait_state(lambda st: st.get("ok") and st.get("last_change", "") > before)
        time.sleep(1.0)
        current["idp"] = new                                      # IdP switches its key
        time.sleep(1.5)
        first_change = sp.state()["last_change"]
        md_server.body = metadata([new], signer=signer)           # and retires the old one
        sp.wait_state(lambda st: st.get("ok") and st.get("last_change", "") > first_change)
        time.sleep(1.5)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
    failures = [r for r in results if r[1] != 0]
    assert not failures, (failures[:5], len(results), sp.httpd.error_log()[-3000:])
    assert sum(1 for r in results if r[0] == "old") >= 3
    assert sum(1 for r in results if r[0] == "new") >= 3
    # No restart happened, and the retired certificate verifies nothing now.
    assert sp.httpd._read_pid() == pid_before
    assert sp.httpd.error_log().count("resuming normal operations") == 1
    assert not signed_in(sp.sign_in(old))   # the last copy is in force: the old cert is out
    assert signed_in(sp.sign_in(new))


BAD_REFRESHES = {
    "garbage": (dict(body=b"<html>maintenance</html>"), "not SAML 2.0 metadata"),
    "unsigned": ("unsigned", "not signed"),
    "bad-signature": ("tampered", "metadata signature"),
    "expired": ("expired", "expired at"),
    "http-500": (dict(status=500), "HTTP status 500"),
    "timeout": (dict(delay=3.0), "imeout"),
    "doctype": (dict(body=b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                     b'"file:///etc/passwd">]><x>&e;</x>'), "DOCTYPE"),
}


@pytest.mark.parametrize("case", list(BAD_REFRESHES))
def test_failed_refresh_keeps_the_last_good_copy(httpd_factory, module_path, md_server, keys, case):
    old, new, signer = keys
    good = metadata([old], signer=signer)
    md_server.body = good
    sp = make_sp(httpd_factory, module_path, old,
                 url_source(md_server.url, signer.cert_pem_path(signer.pem_dir), timeout=1))
    sp.wait_state(lambda st: st.get("ok"))
    change, reason = BAD_REFRESHES[case]
    if change == "unsigned":
        md_server.body = metadata([new], signer=None)
    elif change == "tampered":
        md_server.body = tampered(metadata([old, new], signer=signer))
    elif change == "expired":
        md_server.body = metadata([new], signer=signer,
                                  valid_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    else:
        for k, v in change.items():
            setattr(md_server, k, v)
    st = sp.wait_state(lambda st: not st.get("ok"), timeout=20)
    assert reason in st["outcome"], st
    assert st["failures"] >= 1
    log = sp.httpd.error_log()
    assert "refresh from" in log and "stays" in log, log[-2000:]
    r = sp.sign_in(old)
    assert signed_in(r), (r.status_code, r.text, log[-2000:])
    if change not in ("unsigned", "expired"):
        return
    assert not signed_in(sp.sign_in(new))       # nothing from the refused copy is trusted


def test_httpd_started_while_metadata_url_is_down_uses_backing_file(httpd_factory, module_path,
                                                                    md_server, keys):
    old, _, signer = keys
    shared = Path(tempfile.mkdtemp(prefix="idbroker-md-state-", dir="/tmp"))
    shared.chmod(0o755)
    state_dir = shared / "state"
    md_server.body = metadata([old], signer=signer)
    lines = url_source(md_server.url, signer.cert_pem_path(signer.pem_dir))
    first = make_sp(httpd_factory, module_path, old, lines, state_dir=state_dir)
    first.wait_state(lambda st: st.get("ok"))
    first.httpd.stop()
    md_server.status = 500
    second = make_sp(httpd_factory, module_path, old, lines, state_dir=state_dir)
    r = second.sign_in(old)
    assert signed_in(r), (r.status_code, r.text, second.httpd.error_log()[-2000:])
    second.wait_state(lambda st: not st.get("ok"))
    assert signed_in(second.sign_in(old))
    assert "the copy in force" in second.httpd.error_log()
    shutil.rmtree(shared, ignore_errors=True)


def test_conditional_get_after_first_fetch(httpd_factory, module_path, md_server, keys):
    old, _, signer = keys
    md_server.body = metadata([old], signer=signer)
    sp = make_sp(httpd_factory, module_path, old,
                 url_source(md_server.url, signer.cert_pem_path(signer.pem_dir)))
    sp.wait_state(lambda st: st.get("ok"))
    # The server counts the request before it answers 304; the state says
    # so once httpd has checked the copy it holds and saved.
    sp.wait_state(lambda st: md_server.conditional_hits >= 1 and st.get("ok")
                  and st.get("outcome") == "unchanged")
    assert md_server.conditional_hits >= 1


def test_without_metadata_copy_sign_in_is_not_configured(httpd_factory, module_path, md_server, keys):
    old, _, signer = keys
    md_server.status = 500
    sp = make_sp(httpd_factory, module_path, old,
                 url_source(md_server.url, signer.cert_pem_path(signer.pem_dir)))
    sp.wait_state(lambda st: not st.get("ok"))
    r = get(sp.tenant.portal, session=requests.Session())
    assert r.status_code == 503 and "Sign-in Is Not Configured" in r.text
    assert "sign-in through this app is unavailable" in sp.httpd.error_log()


@pytest.mark.parametrize("lines,message", [
    ("        IdBrokerIdPMetadataURL http://127.0.0.1:9/md.xml\n", "plain http"),
    ("        IdBrokerIdPMetadataURL ftp://idp.example.test/md.xml\n", "not an absolute"),
    ("        IdBrokerIdPMetadataRefresh 10 5\n        IdBrokerIdPMetadataFile /x.xml\n",
     "MAX must not be below MIN"),
    ("        IdBrokerIdPMetadataTimeout 5\n", "neither IdBrokerIdPMetadataURL"),
    ("        IdBrokerIdPMetadataURL https://idp.example.test/md\n"
     "        IdBrokerIdPMetadataFile /x.xml\n", "exclude each other"),
])
def test_metadata_source_config_errors(httpd_factory, module_path, lines, message):
    sp = make_sp(httpd_factory, module_path, TestIdp(), lines, start=False)
    proc = sp.httpd.configtest()
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout, proc.stderr


# ------------------------------------------------------------ https and IdBrokerIdPMetadataCA
def _tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it issued for 127.0.0.1, written as
    ca.pem, server.crt and server.key in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, srv_key = pki.private_key("rsa2048", 31), pki.private_key("rsa2048", 32)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IdBroker Test Metadata CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
           .issuer_name(ca_name)
           .public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - dt.timedelta(days=1))
           .not_valid_after(now + dt.timedelta(days=30))
           .add_extension(x509.SubjectAlternativeName(
               [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
               critical=False)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                          critical=False)
           .sign(ca_key, hashes.SHA256()))
    ca_path, crt_path, key_path = directory / "ca.pem", directory / "server.crt", directory / "server.key"
    ca_path.write_bytes(pki.cert_pem(ca))
    ca_path.chmod(0o644)
    crt_path.write_bytes(pki.cert_pem(srv))
    key_path.write_bytes(pki.key_pem(srv_key))
    key_path.chmod(0o600)
    return ca_path, crt_path, key_path


def https_metadata_server(directory: Path) -> tuple[MetadataServer, str, Path]:
    """A MetadataServer whose connections speak TLS with a certificate from a
    test CA no system store knows. Returns (server, https URL, CA file)."""
    import ssl

    ca_path, crt_path, key_path = _tls_files(directory)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt_path, key_path)
    server = MetadataServer()
    plain_accept = server.httpd.get_request

    def tls_accept():
        conn, addr = plain_accept()
        conn.settimeout(5)
        # A client that refuses the certificate makes this raise an SSLError
        # (an OSError), which socketserver drops quietly.
        return ctx.wrap_socket(conn, server_side=True), addr

    server.httpd.get_request = tls_accept
    return server, f"https://127.0.0.1:{server.httpd.server_address[1]}/md.xml", ca_path


def test_https_metadata_is_verified_against_the_configured_ca(httpd_factory, module_path, keys):
    """Over https, unsigned metadata is allowed, but only from a server whose
    certificate verifies: against the system store (which knows no test CA)
    the fetch fails before any request is sent; with IdBrokerIdPMetadataCA
    naming the CA it succeeds and sign-in works."""
    old, _, _ = keys
    tls_dir = Path(tempfile.mkdtemp(prefix="idbroker-md-tls-", dir="/tmp"))
    tls_dir.chmod(0o755)
    server, url, ca_path = https_metadata_server(tls_dir)
    try:
        server.body = metadata([old], signer=None)
        lines = (f"        IdBrokerIdPMetadataURL {url}\n"
                 "        IdBrokerIdPMetadataRefresh 1 2\n"
                 "        IdBrokerIdPMetadataTimeout 2\n")

        # (a) No IdBrokerIdPMetadataCA: the TLS handshake fails verification.
        sp = make_sp(httpd_factory, module_path, old, lines)
        st = sp.wait_state(lambda st: not st.get("ok") and st.get("failures", 0) >= 1)
        assert "certificate" in st["outcome"], st
        log = sp.httpd.error_log()
        assert f"refresh from {url} failed" in log and "certificate" in log, log[-2000:]
        assert server.hits == 0                      # no HTTP request went out
        r = get(sp.tenant.portal, session=requests.Session())
        assert r.status_code == 503 and "Sign-in Is Not Configured" in r.text
        sp.httpd.stop()

        # (b) With IdBrokerIdPMetadataCA: fetched, and sign-in works.
        sp = make_sp(httpd_factory, module_path, old,
                     lines + "        IdBrokerIdPMetadataCA {dir}/ca.pem\n", start=False)
        shutil.copyfile(ca_path, sp.td.root / "ca.pem")
        (sp.td.root / "ca.pem").chmod(0o644)
        sp.httpd.start()
        st = sp.wait_state(lambda st: st.get("ok"))
        assert st["outcome"] in ("updated", "unchanged"), st
        assert server.hits >= 1
        r = sp.sign_in(old)
        assert signed_in(r), (r.status_code, r.text, sp.httpd.error_log()[-2000:])
    finally:
        server.close()
        shutil.rmtree(tls_dir, ignore_errors=True)
