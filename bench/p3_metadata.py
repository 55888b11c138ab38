"""Part 3: an aggregate of 5,000 IdP entities (each with its own signing
certificate; --entities), signed, served by a local HTTP server as
IdBrokerIdPMetadataURL, the middle entity picked with IdBrokerIdPEntityID.

Measured: time until httpd serves requests (cold: no copy on disk; warm: the
copy from the cold run on disk), time until the picked entity is in force
(status page ?json, and each process's "now using" log line), resident memory
per process before and after, and the latency of requests made while the
aggregate loads (new connection per request, so both children are hit)."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

import pki
from common import WORK, Conn, get_req, log, rss_kib, table
from sp import OPEN, PORTAL, IdBrokerSp

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
ENTITY = "https://idp-{i:05d}.bench.test/idp"
UTC = dt.timezone.utc

_KEY = None


def _cert_init():
    global _KEY
    _KEY = pki.private_key("rsa2048", 43)


def _cert(i: int) -> str:
    """One RSA-2048 key for all entities; a certificate of its own per entity
    (serial and subject differ)."""
    now = dt.datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"idp-{i:05d}.bench.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(_KEY.public_key()).serial_number(1000 + i)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(_KEY, hashes.SHA256()))
    import base64
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def aggregate(n: int, pick: int, idp, signer_key_path, signer_cert_path, workdir) -> bytes:
    with get_context("fork").Pool(2, _cert_init) as pool:
        certs = pool.map(_cert, range(n), chunksize=100)
    certs[pick] = idp.cert_b64          # the picked entity signs with the bench IdP's key
    parts = [f'<md:EntitiesDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" ID="_agg" '
             f'Name="urn:bench:aggregate" validUntil="'
             f'{(dt.datetime.now(UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")}">'
             f'<ds:Signature><ds:SignedInfo>'
             f'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
             f'<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
             f'<ds:Reference URI="#_agg"><ds:Transforms>'
             f'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
             f'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
             f'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
             f'<ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/>'
             f'</ds:Signature>\n']
    for i in range(n):
        e = ENTITY.format(i=i)
        parts.append(
            f'<md:EntityDescriptor entityID="{e}"><md:IDPSSODescriptor '
            f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f'{certs[i]}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
            f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{e[:-4]}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>\n')
    parts.append("</md:EntitiesDescriptor>\n")
    unsigned = workdir / "aggregate-unsigned.xml"
    unsigned.write_text("".join(parts))
    proc = subprocess.run(["xmlsec1", "--sign", "--privkey-pem",
                           f"{signer_key_path},{signer_cert_path}",
                           "--id-attr:ID", f"{MD}:EntitiesDescriptor", str(unsigned)],
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace"))
    return proc.stdout


class Server:
    def __init__(self, body: bytes):
        self.body = body
        self.events: list[tuple[str, float]] = []
        srv = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                srv.events.append(("request", time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(srv.body)))
                self.send_header("ETag", '"bench"')
                self.end_headers()
                self.wfile.write(srv.body)
                srv.events.append(("sent", time.monotonic()))

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/aggregate.xml"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Prober:
    """Threads that each send one request per new connection, back to back,
    and record (start, latency, status)."""

    def __init__(self, port: int, paths: list[str]):
        self.port, self.paths = port, paths
        self.samples: list[tuple[float, float, int, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(p,), daemon=True) for p in paths]

    def _loop(self, path):
        raw = get_req(self.port, path, extra="Connection: close\r\n")
        while not self.stop.is_set():
            t0 = time.monotonic()
            wall = time.time()
            try:
                c = Conn(self.port)
                st, _h, _b = c.request(raw, retry=False)
                c.close()
            except OSError:
                st = 0
            t1 = time.monotonic()
            self.samples.append((t0, t1 - t0, st, path, wall))
            time.sleep(0.005)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def _status(port) -> dict | None:
    try:
        c = Conn(port)
        st, _h, body = c.request(get_req(port, "/idbroker-status?json",
                                         extra="Connection: close\r\n"), retry=False)
        c.close()
        return json.loads(body) if st == 200 else None
    except (OSError, ValueError):
        return None


def _in_force(doc, want) -> bool:
    try:
        idp = doc["tenants"][0]["apps"][0]["idp"]
        return bool(idp["configured"]) and idp["entity_id"] == want
    except (KeyError, IndexError, TypeError):
        return False


def _wait_serving(port, t0, timeout=60) -> float | None:
    while time.monotonic() - t0 < timeout:
        try:
            c = Conn(port)
            st, _h, _b = c.request(get_req(port, OPEN, extra="Connection: close\r\n"), retry=False)
            c.close()
            if st == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.01)
    return None


def _loaded_pids(log_text: str) -> dict[int, str]:
    out = {}
    for m in re.finditer(r"^\[([^\]]+)\] \[auth_idbroker:info\] \[pid (\d+)[^\]]*\].*now using", log_text, re.M):
        out[int(m.group(2))] = m.group(1)
    return out


def cycle(sp, server, want, label, timeline) -> dict:
    """Start httpd, probe until every child has the aggregate in force."""
    t0 = time.monotonic()
    server.events.clear()
    sp.httpd.start()
    t_up = _wait_serving(sp.port, t0)
    pids = sp.httpd.pids()
    rss_before = {p: rss_kib(p) for p in pids}
    prober = Prober(sp.port, [PORTAL, PORTAL, OPEN])
    prober.start()
    # "In force everywhere": the first of 30 status polls in a row (new
    # connection each, so both children answer) that show the entity.
    t_force = t_all = None
    streak, t_streak = 0, None
    children = set(pids[1:])
    deadline = t0 + 60
    while time.monotonic() < deadline:
        ok = _in_force(_status(sp.port), want)
        now = time.monotonic() - t0
        if ok:
            t_force = now if t_force is None else t_force
            if streak == 0:
                t_streak = now
            streak += 1
            if streak >= 30:
                t_all = t_streak
                break
        else:
            streak = 0
        time.sleep(0.02)
    time.sleep(1.0)            # a little steady state after the swap
    prober.finish()
    loaded = _loaded_pids(sp.httpd.error_log())
    pids = sp.httpd.pids()
    rss_after = {p: rss_kib(p) for p in pids}
    fetch = [t for k, t in server.events if k == "request"]
    lat = [s[1] * 1000 for s in prober.samples]
    # requests that started while a copy was being fetched or parsed
    w0 = (fetch[0] - t0) if fetch else 0.0
    w1 = t_all if t_all is not None else (t_force or 0.0)
    window = [s for s in prober.samples if w0 <= s[0] - t0 <= w1 + 0.05]
    wl = sorted(s[1] * 1000 for s in window)
    slow = [s for s in prober.samples if s[1] > 0.1]
    # When the slow ones started (wall clock, to set beside the error log's
    # "new copy" and "now using" lines) and what they asked for.
    slow_lines = []
    for s in sorted(slow)[:12]:
        slow_lines.append(f"    slow request: started {dt.datetime.fromtimestamp(s[4]).strftime('%H:%M:%S.%f')} "
                        f"({s[0] - t0:.2f} s), {s[1] * 1000:.0f} ms, {s[3]} -> {s[2]}")
    timeline.append(f"  {label}: httpd serving {t_up:.2f} s after 'apache2 -k start'; "
                    f"fetch {'started ' + format(w0, '.2f') + ' s' if fetch else 'none'}; "
                    f"first status page with the entity {t_force if t_force is None else round(t_force, 2)} s; "
                    f"every child has it {w1:.2f} s; request-path loads logged ('now using'): "
                    f"pids {sorted(p for p in loaded if p in children) or 'none'} of children "
                    f"{sorted(children)}")
    timeline.extend(slow_lines)
    if slow_lines:
        md_lines = [l for l in sp.httpd.error_log().splitlines() if "idp-metadata" in l]
        timeline.extend("    log: " + l[:200] for l in md_lines[-8:])
    return {"t_up": t_up, "t_force": t_force, "t_all": t_all, "fetches": len(fetch),
            "rss_before": rss_before, "rss_after": rss_after, "pids": pids,
            "lat_all": sorted(lat), "lat_window": wl, "n_window": len(window),
            "slow": len(slow), "max": max(lat) if lat else None,
            "statuses": sorted({s[2] for s in prober.samples})}


def _q(vals, q):
    if not vals:
        return None
    return vals[min(len(vals) - 1, int(q * len(vals)))]


def run(idp, signer, args) -> str:
    from common import workdir
    d = workdir("p3-metadata-src")
    t0 = time.monotonic()
    k, c, _ = pki.write_keypair(d, "md-signer", kind="rsa2048", slot=44)
    pick = args.entities // 2           # 2500 of 5,000
    body = aggregate(args.entities, pick, idp, k, c, d)
    t_gen = time.monotonic() - t0
    log(f"part 3: aggregate of {args.entities} entities, {len(body) / 2**20:.2f} MiB, "
        f"made in {t_gen:.1f} s")
    server = Server(body)
    want = ENTITY.format(i=pick)
    app = (f"        IdBrokerIdPMetadataURL {server.url}\n"
           f"        IdBrokerIdPMetadataSigner {c}\n"
           f"        IdBrokerIdPMetadataRefresh 3600 14400\n"
           f"        IdBrokerIdPMetadataTimeout 60\n"
           f"        IdBrokerIdPEntityID {want}\n")
    sp = IdBrokerSp("p3-metadata", idp, idp_pinned=False, app_extra=app, start=False,
                    server_extra="LogLevel warn auth_idbroker:info\n"
                                 f"IdBrokerStateDir {WORK}/p3-metadata/state\n")
    timeline = []
    try:
        cold = cycle(sp, server, want, "cold start (no copy on disk)", timeline)
        sp.httpd.stop()
        warm = cycle(sp, server, want, "warm start (the copy from the cold start on disk)",
                     timeline)
    finally:
        sp.httpd.stop()
        server.close()
    rows = []
    for label, r in (("cold (no copy on disk)", cold), ("warm (copy on disk)", warm)):
        rows.append([label, r["t_up"], r["t_force"], r["t_all"],
                     "met" if (r["t_all"] or r["t_force"] or 99) <= 5 else "MISSED",
                     _q(r["lat_all"], 0.5), _q(r["lat_window"], 0.99), r["max"], r["slow"],
                     "met" if (r["max"] or 0) < 100 else "MISSED"])
    text = table(f"3. IdP metadata: aggregate of {args.entities:,} entities "
                 f"({len(body) / 2**20:.2f} MiB signed, IdBrokerIdPMetadataURL + Signer + EntityID)",
                 ["start", "serving after s", "status page in force s", "every child in force s",
                  "in force <= 5 s", "probe p50 ms", "p99 ms while loading", "max ms",
                  "requests > 100 ms", "no request waits"], rows)
    mem = []
    for label, r in (("cold", cold), ("warm", warm)):
        for i, p in enumerate(r["pids"]):
            b = r["rss_before"].get(p, (0, 0))
            a = r["rss_after"].get(p, (0, 0))
            mem.append([label, "master" if i == 0 else f"child {p}", b[0] / 1024, a[0] / 1024,
                        (a[0] - b[0]) / 1024, a[1] / 1024])
    text += "\n" + table("3b. Resident memory per process (smaps_rollup), MiB",
                         ["start", "process", "RSS at first serve", "RSS in force", "delta",
                          "PSS in force"], mem)
    print("\n".join(timeline), flush=True)
    return text + "\n" + "\n".join(timeline)
