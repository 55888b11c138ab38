"""SP signing-key rotation on schedule under load (SPKEY rotation, MD-3):
one httpd, one tenant with key A (no activation instant) and key B
`activate-at` a few seconds ahead. Sign-ins run continuously in several
threads (each its own browser, up to 5 a second each) from well before the
instant until well after it, with the SP metadata polled alongside; the test
proves, with no restart or reload of httpd:

- no sign-in fails (SP AuthnRequest -> TestIdp Response -> ACS -> portal 200);
- every AuthnRequest is signed, and by exactly one of the two keys: A when
  the SP answered before the instant, B when the request was sent at or after
  it, either only when the request was in flight across it (the client and
  httpd read the same CLOCK_REALTIME, so the bracket [sent, answered] holds
  the module's ib_now());
- the metadata lists A then B before the instant (advertisement phase) and B
  alone after it (ib_sp_keys_published: the active key, then future keys);
- a session made with key A, and a sign-in started under A but answered
  under B, keep working after the switch;
- the error log has one start, no restart/reload/crashed child, one success
  line per sign-in and no rejection.

Parametrized over the SSO binding: HTTP-POST (enveloped XML signature, checked
with xmlsec1) and HTTP-Redirect (query signature, checked with cryptography).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_rotation.py
"""
from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
import time
import traceback
from dataclasses import dataclass, field

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

import testidp as t
from acs_fixture import (GOOD_ATTRS, PORTAL, PORTAL_PATH, PORTAL_TEXT, UPN,
                         session_cookie_set, state_cookie_name)
from harness import _alive, get, post, validate_saml_metadata
from pki import cert_b64, utc_text, write_keypair
from tenants import TenantDir, tenant_conf

LEAD = 8.0          # seconds from configuring httpd to key B's activation instant
TAIL = 5.0          # seconds of sign-ins after the instant
THREADS = 4         # sign-in workers, each with its own requests.Session
MIN_CLEAR = 10      # at least this many sign-ins > 1 s before and > 1 s after
MIN_CYCLE = 0.2     # seconds: each worker starts at most 5 sign-ins a second
# Cache room. Each sign-in leaves pending, session, replay and NameID index
# entries; a roomy cache keeps every session of this run alive, so the test
# is about key rotation only. (It once also hid a bug: all keys shared one
# first byte, so shmcb put them all in one subcache; see ib_store.c.)
# {run}: httpd's run dir.
CACHE = "shmcb:{run}/idbroker-cache(67108864)"
DISTINCT_USERS = True   # each sign-in its own NameID, as real traffic
TENANT = "rot"
IDP_SSO_URL = "https://idp.example.test/sso"
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": t.DS}
RSA_SHA256 = t.SIG_ALGS["rsa-sha256"]
RESTART_MARKERS = ("SIGHUP", "SIGUSR1", "Graceful restart", "caught SIGTERM",
                   "SIGWINCH", "exit signal", "resuming normal operations")


# ------------------------------------------------------------------ helpers
@dataclass
class Key:
    name: str           # "A" or "B"
    cert_path: object   # PEM file, for xmlsec1 --pubkey-cert-pem
    cert: object        # cryptography x509.Certificate

    @property
    def b64(self) -> str:
        return cert_b64(self.cert)


@dataclass
class Rig:
    """The running httpd, its one tenant, both SP keys and the instant."""
    httpd: object
    base: str
    a: Key
    b: Key
    instant: float      # key B's activate-at, epoch seconds (whole)
    idp: t.TestIdp
    binding: str

    @property
    def portal(self) -> str:
        return self.base + PORTAL_PATH

    @property
    def acs(self) -> str:
        return self.base + "/saml/acs"


@dataclass
class Record:
    """One timed exchange: [sent, answered] brackets the module's clock."""
    sent: float
    answered: float = 0.0
    signer: str | None = None       # "A", "B", or None (not exactly one verified)
    detail: str = ""
    error: str | None = None
    certs: list[str] = field(default_factory=list)   # metadata records only


def new_session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def start_rig(httpd_factory, module_path, binding: str, cache: str | None = CACHE,
              lead: float = LEAD, log_level: str = "info") -> Rig:
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")           # td.key/td.cert: key A
    _, b_crt, b_cert = write_keypair(td.root, "next", slot=31)   # a key no other test uses
    idp = t.TestIdp()
    instant = float(math.ceil(time.time() + lead - 0.5))   # whole seconds, lead +- 0.5 s
    base = f"http://127.0.0.1:{httpd.port}"
    idp_block = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                 f"        IdBrokerIdPSSOURL {IDP_SSO_URL}\n"
                 f"        IdBrokerIdPCert {idp.cert_pem_path(td.root)}\n")
    extra = (f"    IdBrokerSPKey next.key next.crt "
             f"activate-at={utc_text(_utc(instant))}\n"
             f"    IdBrokerSSOBinding {binding}\n")
    td.write(f"{TENANT}.conf", tenant_conf(TENANT, base, td.key, td.cert,
                                           tenant_extra=extra, app_extra=idp_block))
    portal = httpd.htdocs / "portal"
    portal.mkdir(mode=0o755, exist_ok=True)
    (portal / "index.html").write_text(PORTAL_TEXT)
    (portal / "index.html").chmod(0o644)
    cache_line = ("IdBrokerSessionCache " + cache.format(run=httpd.rundir) + "\n"
                  if cache else "")
    provider = cache.split(":", 1)[0] if cache else "shmcb"     # shmcb: always loaded
    httpd.write_config(cache_line + td.include() + PORTAL.format(htdocs=httpd.htdocs),
                       extra_modules=["authz_user"] + ([] if provider == "shmcb"
                                                       else ["socache_" + provider]),
                       log_level=log_level)
    httpd.start()
    return Rig(httpd, base, Key("A", td.cert, td.cert_obj), Key("B", b_crt, b_cert),
               instant, idp, binding)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def signer_of(rig: Rig, r: requests.Response, req: t.SignInRequest) -> tuple[str | None, str]:
    """Which SP key signed the AuthnRequest: verified against both certs,
    exactly one must verify. (None, why) otherwise."""
    ok = []
    if rig.binding == "post":
        sig = req.request.find(f"{{{t.DS}}}Signature")
        if sig is None:
            return None, "POST AuthnRequest without ds:Signature"
        for k in (rig.a, rig.b):
            if t.verify_signature(req.xml, k.cert_path).returncode == 0:
                ok.append(k)
        embedded = ["".join(x.text.split()) for x in sig.iter(f"{{{t.DS}}}X509Certificate")]
        if len(ok) == 1 and embedded and embedded != [ok[0].b64]:
            return None, f"KeyInfo certificate is not the signing key {ok[0].name}'s"
    else:
        params = t.redirect_signature_params(r)
        if not params:
            return None, "redirect AuthnRequest without a query signature"
        if params["SigAlg"] != RSA_SHA256:
            return None, f"SigAlg {params['SigAlg']}"
        if req.request.find(f"{{{t.DS}}}Signature") is not None:
            return None, "redirect binding with an XML signature too"
        for k in (rig.a, rig.b):
            try:
                k.cert.public_key().verify(params["Signature"], params["signed_octets"],
                                           padding.PKCS1v15(), hashes.SHA256())
                ok.append(k)
            except InvalidSignature:
                pass
    if len(ok) != 1:
        return None, f"verified with {[k.name for k in ok] or 'neither key'}"
    return ok[0].name, ""


def start_flow(rig: Rig, s: requests.Session, rec: Record):
    """GET the portal without a session: the SP's AuthnRequest. Fills
    rec.answered/signer; returns the parsed request."""
    r = get(rig.portal, session=s)
    rec.answered = time.time()
    assert r.status_code == (200 if rig.binding == "post" else 303), (r.status_code, r.text[:300])
    req = t.sign_in_request(r)
    assert req.binding == rig.binding and req.url == IDP_SSO_URL, (req.binding, req.url)
    assert s.cookies.get(state_cookie_name(req.request_id), path="/saml/"), list(s.cookies)
    rec.signer, rec.detail = signer_of(rig, r, req)
    return req


_users = itertools.count(1)


def next_user() -> str:
    return f"user{next(_users)}@example.test" if DISTINCT_USERS else UPN


def finish_flow(rig: Rig, s: requests.Session, req: t.SignInRequest,
                user: str = UPN) -> None:
    """The IdP's answer to req at the ACS (for `user`), then the portal with
    the session, which must see `user` as REMOTE_USER."""
    issuer = req.request.find(f"{{{t.SAML}}}Issuer").text.strip()
    attrs = [("cip_upn", [user])] + [a for a in GOOD_ATTRS if a[0] != "cip_upn"]
    xml = rig.idp.response(acs_url=req.request.get("AssertionConsumerServiceURL"),
                           audience=issuer, in_response_to=req.request_id,
                           name_id=user, attributes=attrs)
    a = post(rig.acs, session=s, data=t.TestIdp.post_form(xml, req.relay_state))
    assert a.status_code == 303 and a.headers.get("Location") == PORTAL_PATH, \
        (a.status_code, a.headers, a.text[:300])
    assert session_cookie_set(a), a.headers
    assert_portal(rig, s, user)


def assert_portal(rig: Rig, s: requests.Session, user: str = UPN) -> None:
    page = get(rig.portal, session=s)
    assert page.status_code == 200 and page.text == PORTAL_TEXT, (page.status_code, page.text[:300])
    assert page.headers.get("X-Echo-User") == user, page.headers


def one_sign_in(rig: Rig, s: requests.Session) -> Record:
    s.cookies.clear()                   # a fresh browser, same keep-alive pool
    rec = Record(sent=time.time())
    try:
        finish_flow(rig, s, start_flow(rig, s, rec), next_user())
    except Exception:                   # noqa: BLE001 - every failure is reported
        rec.error = traceback.format_exc(limit=3)
    return rec


def signing_certs(content: bytes) -> list[str]:
    doc = etree.fromstring(content)
    return ["".join(c.split()) for c in
            doc.xpath("//md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/"
                      "ds:X509Certificate/text()", namespaces=NS)]


def fetch_metadata(rig: Rig, s: requests.Session) -> Record:
    rec = Record(sent=time.time())
    try:
        r = get(rig.base + "/saml/metadata", session=s)
        rec.answered = time.time()
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert validate_saml_metadata(r.content) == []
        rec.certs = signing_certs(r.content)
    except Exception:                   # noqa: BLE001
        rec.error = traceback.format_exc(limit=3)
    return rec


def names(rig: Rig, certs: list[str]) -> list[str]:
    by_b64 = {rig.a.b64: "A", rig.b.b64: "B"}
    return [by_b64.get(c, "?") for c in certs]


def restart_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in RESTART_MARKERS)]


# ---------------------------------------------------------------- the test
@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_sp_key_rotation_under_continuous_sign_ins(httpd_factory, module_path, binding):
    rig = start_rig(httpd_factory, module_path, binding)
    T = rig.instant
    pid = rig.httpd._read_pid()
    assert pid and rig.httpd._pid == pid
    assert time.time() < T - 4, "httpd start took too long for the lead time"

    # Well before the instant: a sign-in, and the advertisement-phase
    # metadata: A (active) then B (scheduled).
    early = new_session()
    early_rec = Record(sent=time.time())
    finish_flow(rig, early, start_flow(rig, early, early_rec))
    assert early_rec.signer == "A", early_rec.detail
    with new_session() as s:
        md = fetch_metadata(rig, s)
    assert md.error is None, md.error
    assert names(rig, md.certs) == ["A", "B"]

    stop_at = T + TAIL
    sign_ins: list[Record] = []
    metadata: list[Record] = [md]
    lock = threading.Lock()

    def worker():
        with new_session() as s:
            while time.time() < stop_at:
                rec = one_sign_in(rig, s)
                with lock:
                    sign_ins.append(rec)
                time.sleep(max(0.0, rec.sent + MIN_CYCLE - time.time()))

    def poll_metadata():
        with new_session() as s:
            while time.time() < stop_at:
                rec = fetch_metadata(rig, s)
                with lock:
                    metadata.append(rec)
                time.sleep(0.1)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    threads.append(threading.Thread(target=poll_metadata, daemon=True))
    for th in threads:
        th.start()

    # Just before the instant: a sign-in started under A that the IdP answers
    # only after it, and a session made under A (both jane, each in its own
    # browser); after the instant the first completes and the second works.
    straddle, a_session = new_session(), new_session()
    try:
        # The whole sign-in (several requests and xmlsec1 runs, on cores
        # the workers share) first, well before the instant; the one
        # request of the straddling start close to it.
        time.sleep(max(0.0, T - 3.0 - time.time()))
        a_rec = Record(sent=time.time())
        finish_flow(rig, a_session, start_flow(rig, a_session, a_rec))
        a_made = time.time()
        time.sleep(max(0.0, T - 1.5 - time.time()))
        straddle_rec = Record(sent=time.time())
        straddle_req = start_flow(rig, straddle, straddle_rec)
        time.sleep(max(0.0, T + 1.0 - time.time()))
        straddle_answered = time.time()
        finish_flow(rig, straddle, straddle_req)
        a_checked = time.time()
        assert_portal(rig, a_session)
    finally:
        for th in threads:
            th.join(timeout=TAIL + 30)
        for sess in (early, straddle, a_session):
            sess.close()
    assert not any(th.is_alive() for th in threads), "a worker hung"

    # ---- sign-ins: none failed, each signed by exactly the key in force
    failed = [r for r in sign_ins if r.error]
    assert not failed, f"{len(failed)} of {len(sign_ins)} sign-ins failed; first:\n{failed[0].error}"
    unverified = [r for r in sign_ins if r.signer is None]
    assert not unverified, [r.detail for r in unverified[:5]]
    early_wrong = [(r.sent - T, r.answered - T, r.signer) for r in sign_ins
                   if r.answered < T and r.signer != "A"]
    late_wrong = [(r.sent - T, r.answered - T, r.signer) for r in sign_ins
                  if r.sent >= T and r.signer != "B"]
    assert not early_wrong, f"answered before the instant but not signed by A: {early_wrong[:5]}"
    assert not late_wrong, f"sent after the instant but not signed by B: {late_wrong[:5]}"
    clear_before = [r for r in sign_ins if r.answered < T - 1]
    clear_after = [r for r in sign_ins if r.sent > T + 1]
    assert len(clear_before) >= MIN_CLEAR and len(clear_after) >= MIN_CLEAR, \
        (len(clear_before), len(clear_after), len(sign_ins))
    assert all(r.signer == "A" for r in clear_before)
    assert all(r.signer == "B" for r in clear_after)
    assert straddle_rec.answered < T and straddle_rec.signer == "A", \
        (straddle_rec.answered - T, straddle_rec.signer)
    assert a_made < T and a_rec.signer == "A", (a_made - T, a_rec.signer)
    assert straddle_answered >= T + 1.0 and a_checked >= T + 1.0

    # ---- metadata: A, B before the instant; B alone after it
    assert all(m.error is None for m in metadata), [m.error for m in metadata if m.error][:1]
    md_before = [m for m in metadata if m.answered < T]
    md_after = [m for m in metadata if m.sent >= T]
    assert md_before and md_after, (len(md_before), len(md_after))
    assert {tuple(names(rig, m.certs)) for m in md_before} == {("A", "B")}
    assert {tuple(names(rig, m.certs)) for m in md_after} == {("B",)}
    with new_session() as s:
        final_md = fetch_metadata(rig, s)
    assert final_md.error is None and names(rig, final_md.certs) == ["B"], final_md

    # ---- same httpd throughout: no restart, reload or crashed child
    assert rig.httpd._read_pid() == pid and _alive(pid)
    log = rig.httpd.error_log()
    assert [line for line in restart_lines(log)
            if "resuming normal operations" not in line] == [], restart_lines(log)
    assert log.count("resuming normal operations") == 1, restart_lines(log)
    total = len(sign_ins) + 3                     # + early, straddle, A session
    assert log.count(f"event=signin outcome=success tenant={TENANT} ") == total
    assert log.count(f"event=signin-start outcome=redirect tenant={TENANT} ") == total
    assert "outcome=error" not in log and "outcome=rejected" not in log

    in_flight = [r for r in sign_ins if r.sent < T <= r.answered]
    print(f"\n[{binding}] sign-ins: {len(sign_ins)} (A: "
          f"{sum(r.signer == 'A' for r in sign_ins)}, B: {sum(r.signer == 'B' for r in sign_ins)}; "
          f"> 1 s before: {len(clear_before)}, > 1 s after: {len(clear_after)}, in flight at "
          f"the instant: {len(in_flight)} -> {[r.signer for r in in_flight]}); "
          f"metadata fetches: {len(metadata)} ({len(md_before)} before, {len(md_after)} after)")
