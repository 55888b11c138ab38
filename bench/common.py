"""Shared bench plumbing: private httpd instances tuned alike for both
modules, the SP configs (mod_auth_idbroker and mod_auth_mellon), a fast
bulk signer for IdP Responses, a lean raw-socket HTTP client, wrk, and
table printing.

Not a test: nothing here asserts; everything prints numbers.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote_plus

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness  # noqa: E402
import pki  # noqa: E402
from harness import Httpd, free_port  # noqa: E402,F401

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from lxml import etree  # noqa: E402

MODULE = os.environ.get("BENCH_MODULE") or str(REPO / "mod_auth_idbroker.so")
MODULES_DIR = Path("/usr/lib/apache2/modules")
UTC = dt.timezone.utc
PAGE_TEXT = "<html><body>" + "protected page " * 8 + "</body></html>\n"   # ~150 B static page
IDP_ENTITY = "https://idp.bench.test/entity"
IDP_SSO = "https://idp.bench.test/sso"
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/idbroker-bench"))

# Same MPM and worker shape for every server of the run (ours and mellon's).
MPM = ("StartServers 2\nServerLimit 2\nThreadsPerChild 32\nThreadLimit 64\n"
       "MaxRequestWorkers 64\nMinSpareThreads 16\nMaxSpareThreads 64\n"
       "MaxConnectionsPerChild 0\nKeepAlive On\nMaxKeepAliveRequests 0\n"
       "KeepAliveTimeout 30\n")
BASE_MODULES = ["mpm_event", "authz_core", "authn_core", "authz_host", "authz_user",
                "mime", "dir", "unixd", "alias", "socache_shmcb"]


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def workdir(name: str) -> Path:
    d = WORK / name
    if d.exists():
        shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    return d


# ------------------------------------------------------------------ httpd
class BenchHttpd(Httpd):
    """harness.Httpd with a bench config: event MPM, LogLevel warn, no
    access log, the same worker shape for every server."""

    def write_bench_config(self, body: str, extra_modules=(), log_level: str = "warn",
                           idbroker: bool = True) -> None:
        mods = []
        builtin = harness._builtin_modules()
        for name in [*BASE_MODULES, *extra_modules]:
            if name not in builtin:
                mods.append(f"LoadModule {name}_module {MODULES_DIR}/mod_{name}.so")
        if idbroker:
            mods.append(f"LoadModule auth_idbroker_module {MODULE}")
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        (self.htdocs / "page.html").write_text(PAGE_TEXT)
        for sub in ("portal", "open", "mellon-portal"):
            d = self.htdocs / sub
            d.mkdir(mode=0o755, exist_ok=True)
            (d / "page.html").write_text(PAGE_TEXT)
            (d / "page.html").chmod(0o644)
        text = (f"ServerRoot {self.workdir}\n" + "\n".join(mods) + "\n" + user
                + f"Listen 127.0.0.1:{self.port}\nServerName 127.0.0.1:{self.port}\n"
                f"PidFile {self.pidfile}\nDefaultRuntimeDir {self.rundir}\n"
                f"Mutex file:{self.rundir} default\nErrorLog {self.error_log_path}\n"
                f"LogLevel {log_level}\nTypesConfig /etc/mime.types\n" + MPM
                + f"DocumentRoot {self.htdocs}\n"
                f"<Directory {self.htdocs}>\n    Require all granted\n</Directory>\n"
                "DirectoryIndex index.html\n\n" + body + "\n")
        self.conf.write_text(text)
        self.conf.chmod(0o644)

    env_extra: dict = {}

    def _apache(self, *args: str) -> subprocess.CompletedProcess:
        env = {**harness._env(), **self.env_extra}
        return subprocess.run([harness.APACHE_BIN, "-f", str(self.conf), *args],
                              capture_output=True, text=True, env=env, timeout=90)

    def pids(self) -> list[int]:
        """Master first, then its children."""
        master = self._read_pid()
        if not master:
            return []
        out = [master]
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    st = (p / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(st[1]) == master:
                    out.append(int(p.name))
        return out


def rss_kib(pid: int) -> tuple[int, int]:
    """(Rss, Pss) in KiB from smaps_rollup."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


# ------------------------------------------------------------------ keys, IdP
class Idp:
    """The bench IdP: an RSA-2048 signing key and its certificate."""

    def __init__(self, directory: Path, entity_id: str = IDP_ENTITY, slot: int = 40):
        self.entity_id = entity_id
        self.key = pki.private_key("rsa2048", slot)
        self.cert = pki.certificate(self.key, cn="idp.bench.test")
        self.cert_b64 = pki.cert_b64(self.cert)
        self.cert_path = directory / "idp.crt"
        self.cert_path.write_bytes(pki.cert_pem(self.cert))
        self.cert_path.chmod(0o644)
        self.key_path = directory / "idp.key"
        self.key_path.write_bytes(pki.key_pem(self.key))
        self.key_path.chmod(0o600)

    def metadata(self) -> str:
        return (f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">'
                f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
                f'{self.cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
                f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
                f'Location="{IDP_SSO}"/>'
                f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
                f'Location="{IDP_SSO}"/>'
                f'</md:IDPSSODescriptor></md:EntityDescriptor>')


# ------------------------------------------------------------------ Responses
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
RESPONSE_TEMPLATE = (
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" '
    'IssueInstant="{now}" Destination="{acs}" InResponseTo="{irt}">'
    '<saml:Issuer>{issuer}</saml:Issuer>'
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
    '<saml:Assertion ID="{aid}" IssueInstant="{now}" Version="2.0">'
    '<saml:Issuer>{issuer}</saml:Issuer>'
    '<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
    '{user}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
    '<saml:SubjectConfirmationData InResponseTo="{irt}" NotOnOrAfter="{noa}" Recipient="{acs}"/>'
    '</saml:SubjectConfirmation></saml:Subject>'
    '<saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction>'
    '<saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
    '<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{aid}"><saml:AuthnContext>'
    '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'
    '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
    '<saml:AttributeStatement>'
    '<saml:Attribute Name="cip_upn"><saml:AttributeValue>{user}</saml:AttributeValue></saml:Attribute>'
    '<saml:Attribute Name="displayName"><saml:AttributeValue>Bench User {n}</saml:AttributeValue></saml:Attribute>'
    '<saml:Attribute Name="firstName"><saml:AttributeValue>Bench</saml:AttributeValue></saml:Attribute>'
    '<saml:Attribute Name="lastName"><saml:AttributeValue>User {n}</saml:AttributeValue></saml:Attribute>'
    '<saml:Attribute Name="mail"><saml:AttributeValue>{user}</saml:AttributeValue></saml:Attribute>'
    '</saml:AttributeStatement></saml:Assertion></samlp:Response>')
SIGNED_INFO = (
    '<ds:SignedInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:CanonicalizationMethod>'
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></ds:SignatureMethod>'
    '<ds:Reference URI="#{aid}"><ds:Transforms>'
    '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform>'
    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform></ds:Transforms>'
    '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod>'
    '<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>')


def instant(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Signer:
    """Builds Responses with one enveloped RSA-SHA256 signature on the
    Assertion (exclusive c14n, as Entra ID sends them), in-process: lxml
    for c14n, OpenSSL (python3-cryptography) for the signature. ~1 ms each,
    against ~15 ms for an xmlsec1 process per message."""

    def __init__(self, key_pem: bytes, cert_b64: str, issuer: str):
        self.key = serialization.load_pem_private_key(key_pem, None)
        self.cert_b64 = cert_b64
        self.issuer = issuer

    def response(self, *, acs: str, audience: str, irt: str, user: str, n: int,
                 now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(UTC)
        aid = "_a" + uuid.uuid4().hex
        xml = RESPONSE_TEMPLATE.format(
            rid="_r" + uuid.uuid4().hex, aid=aid, now=instant(now), acs=acs, irt=irt,
            issuer=self.issuer, user=user, n=n, aud=audience,
            nb=instant(now - dt.timedelta(minutes=5)),
            noa=instant(now + dt.timedelta(minutes=30)))
        root = etree.fromstring(xml.encode())
        assertion = root[2]
        c14n = etree.tostring(assertion, method="c14n", exclusive=True, with_comments=False)
        digest = base64.b64encode(hashlib.sha256(c14n).digest()).decode()
        signed_info = SIGNED_INFO.format(aid=aid, digest=digest)
        # SignedInfo above is already in exclusive canonical form.
        sig = base64.b64encode(self.key.sign(signed_info.encode(), padding.PKCS1v15(),
                                             hashes.SHA256())).decode()
        sig_el = etree.fromstring(
            f'<ds:Signature xmlns:ds="{NS_DS}">{signed_info}'
            f'<ds:SignatureValue>{sig}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>'
            f'<ds:X509Certificate>{self.cert_b64}</ds:X509Certificate></ds:X509Data>'
            f'</ds:KeyInfo></ds:Signature>')
        assertion.insert(1, sig_el)
        return etree.tostring(root).decode()


_SIGNER: Signer | None = None


def _init_signer(args):
    global _SIGNER
    _SIGNER = Signer(*args)


def _sign_one(job):
    return _SIGNER.response(**job)


def sign_bulk(idp: Idp, jobs: list[dict], procs: int = 2) -> list[str]:
    """Sign many Responses in `procs` processes (outside any timed part)."""
    import multiprocessing as mp
    args = (pki.key_pem(idp.key), idp.cert_b64, idp.entity_id)
    if len(jobs) < 50:
        _init_signer(args)
        return [_sign_one(j) for j in jobs]
    with mp.get_context("fork").Pool(procs, _init_signer, (args,)) as pool:
        return pool.map(_sign_one, jobs, chunksize=64)


# ------------------------------------------------------------------ raw HTTP
class Conn:
    """One keep-alive HTTP/1.1 connection with pre-built requests; parses
    just enough of the answer (status, headers, body by length or chunks)."""

    def __init__(self, port: int):
        self.port = port
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def _read_until(self, token: bytes) -> bytes:
        while True:
            i = self.buf.find(token)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(token):]
                return out
            self._fill()

    def _read_n(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, raw: bytes, retry: bool = True) -> tuple[int, bytes, bytes]:
        """(status, raw header block, body)."""
        if self.sock is None:
            self._connect()
        try:
            self.sock.sendall(raw)
            head = self._read_until(b"\r\n\r\n")
        except (ConnectionError, OSError):
            self.close()
            if not retry:
                raise
            return self.request(raw, retry=False)
        status = int(head[9:12])
        lower = head.lower()
        body = b""
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
        if m:
            body = self._read_n(int(m.group(1)))
        elif b"transfer-encoding: chunked" in lower:
            parts = []
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                parts.append(self._read_n(size))
                self._read_n(2)
            body = b"".join(parts)
        if b"connection: close" in lower:
            self.close()
        return status, head, body

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None


def get_req(port: int, path: str, cookies: str = "", extra: str = "") -> bytes:
    c = f"Cookie: {cookies}\r\n" if cookies else ""
    accept = "" if "accept:" in extra.lower() else "Accept: text/html\r\n"
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n"
            f"{accept}{c}{extra}\r\n").encode()


def post_req(port: int, path: str, form: dict, cookies: str = "") -> bytes:
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in form.items()).encode()
    c = f"Cookie: {cookies}\r\n" if cookies else ""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n"
            f"Accept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n{c}\r\n").encode() + body


def set_cookies(head: bytes) -> dict[str, str]:
    out = {}
    for m in re.finditer(rb"\r\nSet-Cookie:\s*([^=;\s]+)=([^;\r\n]*)", head, re.I):
        out[m.group(1).decode()] = m.group(2).decode()
    return out


def header(head: bytes, name: str) -> str | None:
    m = re.search(rb"\r\n" + name.encode() + rb":\s*([^\r\n]*)", head, re.I)
    return m.group(1).decode() if m else None


# ------------------------------------------------------------------ parallel clients
def run_clients(n_clients: int, items: list, fn, port: int) -> tuple[float, list]:
    """Split items over n_clients processes (one keep-alive connection each),
    start them together, return (wall seconds, results in item order)."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(n_clients + 1)
    q = ctx.Queue()
    chunks = [list(range(i, len(items), n_clients)) for i in range(n_clients)]

    def worker(idx, chunk):
        conn = Conn(port)
        conn._connect()
        barrier.wait()
        t0 = time.perf_counter()
        res = []
        for i in chunk:
            try:
                res.append((i, fn(conn, items[i])))
            except Exception as e:  # noqa: BLE001 - reported as a failed item
                res.append((i, ("error", repr(e))))
                conn.close()
        t1 = time.perf_counter()
        q.put((t0, t1, res))
        conn.close()

    procs = [ctx.Process(target=worker, args=(k, chunks[k])) for k in range(n_clients)]
    for p in procs:
        p.start()
    barrier.wait()
    results = [None] * len(items)
    starts, ends = [], []
    for _ in procs:
        t0, t1, res = q.get()
        starts.append(t0)
        ends.append(t1)
        for i, r in res:
            results[i] = r
    for p in procs:
        p.join()
    return max(ends) - min(starts), results


# ------------------------------------------------------------------ wrk
def wrk(url: str, *, threads: int = 2, conns: int = 16, seconds: int = 10,
        cookie: str | None = None, script: Path | None = None,
        env: dict | None = None, headers: list[str] = ()) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         env={**os.environ, **(env or {})}).stdout
    res = {"raw": out}
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:.*", out)
    res["socket_errors"] = m.group(0) if m else ""
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            res[f"p{pct}_ms"] = v
    return res


# ------------------------------------------------------------------ tables
def table(title: str, header_row: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in header_row]] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header_row))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = [f"\n{title}", line,
           "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |", line]
    for r in cells[1:]:
        out.append("| " + " | ".join(c.rjust(w) if _num(c) else c.ljust(w)
                                     for c, w in zip(r, widths)) + " |")
    out.append(line)
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _num(s: str) -> bool:
    return bool(re.match(r"^[-+]?[\d.,]+\s*(%|x|ms|s|MiB|KiB|/s)?$", s))


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v >= 100:
            return f"{v:,.0f}"
        if v >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v)


def pct(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{100.0 * a / b:.1f} %"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"
