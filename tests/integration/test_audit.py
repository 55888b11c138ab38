"""The audit log (docs/audit-log.md): IdBrokerAuditLog FILE|"|COMMAND"|syslog|off
[format=kv|json] writes one line per sign-in, sign-out and rejected attempt;
IdBrokerTrustedProxy decides when X-Forwarded-For names the client.

Two httpds (each with a SAML tenant `acme` that signs in and out against our
TestIdp, and a tenant `bare` without an IdP connection):
- `kv`: IdBrokerAuditLog logs/audit.log, IdBrokerTrustedProxy 127.0.0.1 10.0.0.0/8
  (the test client is a trusted proxy);
- `js`: IdBrokerAuditLog "|cat >> logs/audit.json" format=json, and
  IdBrokerTrustedProxy 10.0.0.0/8 only (the test client is not trusted).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_audit.py
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

import pytest
import requests

import testidp as t
from acs_fixture import (PORTAL, PORTAL_TEXT, SESSION_COOKIE, TXID_RE, UPN, Sp,
                         assert_signed_in, get, post)
from harness import free_port
from slo_fixture import SloTenant, browser, confirm_token, session_cookie
from tenants import tenant_conf

IDP_SLO_URL = "https://idp.example.test/slo"
FIELDS = ["time", "txid", "event", "outcome", "tenant", "app", "protocol", "idp", "user",
          "client", "reason"]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KV_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ "]+)')


class AuditSp(Sp):
    """acs_fixture's Sp with the audit directives and two tenants."""

    def __init__(self, base: Path, module_path: str, server_extra: str):
        super().__init__(base, module_path)
        self.server_extra = server_extra
        self.idps = {"main": self.idp}

    def _configure(self) -> None:
        h, td = self.httpd, self.td
        acme_block = (f"        IdBrokerIdPEntityID {self.idp.entity_id}\n"
                      f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                      f"        IdBrokerIdPSLOURL {IDP_SLO_URL}\n"
                      f"        IdBrokerIdPCert {self.idp_cert}\n")
        bare_port = free_port()
        td.write("acme.conf", tenant_conf("acme", f"http://127.0.0.1:{h.port}", td.key,
                                          td.cert, app_extra=acme_block))
        td.write("bare.conf", tenant_conf("bare", f"http://127.0.0.1:{bare_port}", td.key,
                                          td.cert))
        self.tenants["acme"] = SloTenant("acme", h.port, self)
        self.tenants["bare"] = SloTenant("bare", bare_port, self)
        portal = h.htdocs / "portal"
        portal.mkdir(mode=0o755, exist_ok=True)
        (portal / "index.html").write_text(PORTAL_TEXT)
        (portal / "index.html").chmod(0o644)
        h.write_config(f"Listen 127.0.0.1:{bare_port}\n" + self.server_extra + td.include()
                       + PORTAL.format(htdocs=h.htdocs), extra_modules=["authz_user"])

    @classmethod
    def make(cls, module_path: str, server_extra: str) -> "AuditSp":
        base = Path(tempfile.mkdtemp(prefix="idbroker-audit-", dir="/tmp"))
        base.chmod(0o755)
        sp = cls(base, module_path, server_extra)
        sp._configure()
        sp.httpd.start()
        return sp

    @property
    def audit_path(self) -> Path:
        return self.httpd.logs / ("audit.json" if "json" in self.server_extra else "audit.log")

    def audit_text(self) -> str:
        try:
            return self.audit_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _make(module_path, request, extra):
    failed = request.session.testsfailed
    sp = AuditSp.make(module_path, extra)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


@pytest.fixture(scope="module")
def kv(module_path, request):
    yield from _make(module_path, request,
                     "IdBrokerAuditLog logs/audit.log\n"
                     "IdBrokerTrustedProxy 127.0.0.1 10.0.0.0/8\n")


@pytest.fixture(scope="module")
def js(module_path, request):
    yield from _make(module_path, request,
                     'IdBrokerAuditLog "|/bin/sh -c \'cat >> logs/audit.json\'" format=json\n'
                     "IdBrokerTrustedProxy 10.0.0.0/8\n")


@pytest.fixture
def s():
    with browser() as session:
        yield session


# ------------------------------------------------------------------ helpers
def kv_unquote(value: str) -> str:
    """A quoted kv value: \\" \\\\ \\n \\r \\t and \\xHH escapes."""
    simple = {"n": "\n", "r": "\r", "t": "\t"}

    def one(m):
        esc = m.group(1)
        return chr(int(esc[1:], 16)) if esc.startswith("x") else simple.get(esc, esc)
    return re.sub(r'\\(x[0-9a-f]{2}|.)', one, value[1:-1])


def parse_kv(line: str) -> dict:
    out = {}
    for key, value in KV_RE.findall(line):
        out[key] = kv_unquote(value) if value.startswith('"') else None if value == "-" else value
    assert list(out) == FIELDS, line
    return out


def records(sp: AuditSp) -> list[dict]:
    lines = sp.audit_text().splitlines()
    if sp.audit_path.suffix == ".json":
        return [json.loads(line) for line in lines]
    return [parse_kv(line) for line in lines]


def wait_for(sp: AuditSp, pred, what: str) -> list[dict]:
    """The records matching pred, once there are any: a line is written when
    the request is logged, just after the response (and through a pipe)."""
    deadline = time.monotonic() + 5
    while True:
        found = [r for r in records(sp) if pred(r)]
        if found or time.monotonic() > deadline:
            assert found, f"no audit record {what}:\n{sp.audit_text()}"
            return found
        time.sleep(0.05)


def mark(sp: AuditSp) -> int:
    return len(records(sp))


def since(sp: AuditSp, n: int, settle: float = 0.3) -> list[dict]:
    time.sleep(settle)
    return records(sp)[n:]


def sign_in(sp: AuditSp, s, headers=None, **kw) -> requests.Response:
    ten = sp["acme"]
    flow = ten.start(s)
    xml = ten.response(flow, **kw)
    r = post(ten.acs, session=s, data=t.TestIdp.post_form(xml, flow.relay_state),
             headers=headers or {})
    return r, xml, flow


def txid_of(resp) -> str:
    m = TXID_RE.search(resp.text)
    assert m, resp.text
    return m.group(1)


# ------------------------------------------------------------ sign-in: kv
def test_signin_success_line(kv, s):
    n = mark(kv)
    r, _, _ = sign_in(kv, s, headers={"X-Forwarded-For": "198.51.100.23, 10.1.2.3"})
    assert_signed_in(kv, kv["acme"], s, r)
    rec = wait_for(kv, lambda x: x["event"] == "signin" and x["outcome"] == "success",
                   "for the sign-in")[-1]
    assert TIME_RE.match(rec["time"]), rec
    assert rec == {**rec, "txid": None, "tenant": "acme", "app": "primary", "protocol": "saml",
                   "idp": kv.idp.entity_id, "user": UPN, "client": "198.51.100.23",
                   "reason": None}
    new = since(kv, n)
    # the sign-in start (its own request) and the sign-in: nothing else
    assert [(x["event"], x["outcome"]) for x in new] == [("signin-start", "redirect"),
                                                        ("signin", "success")], new
    assert new[0]["client"] == "127.0.0.1" and new[0]["tenant"] == "acme"


@pytest.mark.parametrize("case,kw,code", [
    ("other-key", {"idp": t.TestIdp(slot=6)}, "bad-signature"),
    ("expired", {"not_on_or_after": "past"}, "expired"),
    ("wrong-audience", {"audience": "https://elsewhere.example.test"}, "bad-audience"),
    ("cancelled", {"status": "urn:oasis:names:tc:SAML:2.0:status:Responder",
                   "second_status": "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"},
     "cancelled"),
])
def test_rejected_signin_line_matches_page_and_error_log(kv, s, case, kw, code):
    import datetime as dt
    if kw.get("not_on_or_after") == "past":
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)
        kw = {"now": past - dt.timedelta(minutes=5), "not_on_or_after": past,
              "subject_not_on_or_after": dt.datetime.now(dt.timezone.utc)
              + dt.timedelta(minutes=5)}
    n = mark(kv)
    r, _, _ = sign_in(kv, s, **kw)
    assert r.status_code in (400, 403), (r.status_code, r.text)
    txid = txid_of(r)
    rec = wait_for(kv, lambda x: x["txid"] == txid, f"with txid {txid}")
    assert len(rec) == 1, rec                       # one line per attempt
    rec = rec[0]
    assert (rec["event"], rec["outcome"], rec["tenant"], rec["reason"]) == \
        ("signin", "rejected", "acme", code), rec
    assert f"txid={txid} " in kv.httpd.error_log()
    assert [x["event"] for x in since(kv, n)] == ["signin-start", "signin"]


def test_replayed_assertion_line(kv, s):
    aid = t.new_id()
    r, _, _ = sign_in(kv, s, assertion_id=aid)
    assert_signed_in(kv, kv["acme"], s, r)
    with browser() as s2:
        r2, _, _ = sign_in(kv, s2, assertion_id=aid)
        txid = txid_of(r2)
    rec = wait_for(kv, lambda x: x["txid"] == txid, "for the replay")[0]
    assert (rec["event"], rec["outcome"], rec["reason"]) == ("signin", "rejected", "replay")
    assert rec["user"] == UPN or rec["user"] == "jane@example.test"


def test_attribute_error_line(kv, s):
    r, _, _ = sign_in(kv, s, attributes=[("mail", [UPN])])
    assert r.status_code == 403, r.text
    txid = txid_of(r)
    rec = wait_for(kv, lambda x: x["txid"] == txid, "for the attribute error")[0]
    assert (rec["event"], rec["outcome"], rec["reason"]) == \
        ("signin", "attribute-error", "attribute-error"), rec


def test_page_without_event_line(kv, s):
    """'Sign-in Is Not Configured' comes from the page alone (no event): the
    line is still written, for the tenant the host names."""
    r = get(kv["bare"].portal, session=s)
    assert r.status_code == 503, r.text
    txid = txid_of(r)
    rec = wait_for(kv, lambda x: x["txid"] == txid, "for the not-configured page")[0]
    assert (rec["event"], rec["outcome"], rec["tenant"], rec["app"], rec["reason"]) == \
        ("signin-start", "error", "bare", "primary", "not-configured"), rec


def test_metadata_is_no_attempt(kv, s):
    n = mark(kv)
    assert get(kv["acme"].base + "/saml/metadata").status_code == 200
    assert get(kv["acme"].base + "/saml/metadata?entity=NOT-A-GUID").status_code == 404
    assert since(kv, n) == []


def test_user_value_is_escaped(kv, s):
    """A NameID with a quote, a backslash and a tab, refused (no UPN): the
    line stays one parseable line and the value comes back exactly."""
    evil = 'ja"ne\\x\tz@example.test'
    r, _, _ = sign_in(kv, s, name_id=evil, attributes=[("mail", [UPN])])
    txid = txid_of(r)
    wait_for(kv, lambda x: x["txid"] == txid, "for the evil NameID")
    line = next(l for l in kv.audit_text().splitlines() if f"txid={txid} " in l)
    assert '\t' not in line and 'user="ja\\"ne\\\\x\\tz@example.test"' in line, line
    assert parse_kv(line)["user"] == evil


# ------------------------------------------------------------ client address
@pytest.mark.parametrize("xff,client", [
    ("198.51.100.23", "198.51.100.23"),
    ("6.6.6.6, 198.51.100.23", "198.51.100.23"),       # right-most untrusted wins
    ("198.51.100.23, 10.9.8.7, 10.1.2.3", "198.51.100.23"),
    ("10.0.0.1, 10.0.0.2", "10.0.0.1"),                # all trusted: the left-most
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("192.0.2.9:8080", "192.0.2.9"),
    ("198.51.100.23, not-an-ip", "127.0.0.1"),         # garbage: the peer
    ("evil.example.com", "127.0.0.1"),
])
def test_trusted_proxy_forwarded_for(kv, s, xff, client):
    r = get(kv["bare"].portal, session=s, headers={"X-Forwarded-For": xff})
    txid = txid_of(r)
    rec = wait_for(kv, lambda x: x["txid"] == txid, "for the request")[0]
    assert rec["client"] == client, (xff, rec)


def test_untrusted_peer_forwarded_for_ignored(js, s):
    r = get(js["bare"].portal, session=s, headers={"X-Forwarded-For": "198.51.100.23"})
    txid = txid_of(r)
    rec = wait_for(js, lambda x: x["txid"] == txid, "for the request")[0]
    assert rec["client"] == "127.0.0.1", rec


# ------------------------------------------------------------ json format
def test_json_signin_and_failure(js, s):
    r, _, _ = sign_in(js, s)
    assert_signed_in(js, js["acme"], s, r)
    ok = wait_for(js, lambda x: x["event"] == "signin" and x["outcome"] == "success",
                  "for the sign-in")[-1]
    assert list(ok) == FIELDS
    assert ok["txid"] is None and ok["reason"] is None and ok["user"] == UPN
    assert TIME_RE.match(ok["time"]) and ok["protocol"] == "saml" and ok["client"] == "127.0.0.1"
    with browser() as s2:
        r2, _, _ = sign_in(js, s2, idp=t.TestIdp(slot=6))
        txid = txid_of(r2)
    bad = wait_for(js, lambda x: x["txid"] == txid, "for the failure")[0]
    assert (bad["event"], bad["outcome"], bad["reason"]) == ("signin", "rejected",
                                                            "bad-signature")
    for line in js.audit_text().splitlines():
        json.loads(line)            # every line one JSON object


# ------------------------------------------------------------ sign-out
def logout_roundtrip(sp: AuditSp, s):
    ten = sp["acme"]
    r, _, _ = sign_in(sp, s)
    assert_signed_in(sp, ten, s, r)
    cookie = session_cookie(r)
    token = confirm_token(ten, s)
    out = post(ten.logout_url, session=s, data={"token": token})
    assert out.status_code in (200, 302, 303), (out.status_code, out.text)
    msg = t.saml_message(out)
    xml = ten.idp.logout_response(destination=ten.callback, in_response_to=msg.root.get("ID"))
    back = post(ten.callback, session=s, data=t.TestIdp.post_form_for("SAMLResponse", xml,
                                                                      msg.relay_state))
    assert back.status_code in (302, 303), (back.status_code, back.text)
    return cookie, token, r, out


@pytest.mark.parametrize("fx", ["kv", "js"])
def test_logout_lines(request, s, fx):
    sp = request.getfixturevalue(fx)
    n = mark(sp)
    logout_roundtrip(sp, s)
    wait_for(sp, lambda x: x["event"] == "logout" and x["outcome"] == "success", "for logout")
    new = [(x["event"], x["outcome"]) for x in since(sp, n)]
    assert new == [("signin-start", "redirect"), ("signin", "success"),
                   ("logout", "sent-to-idp"), ("logout", "success")], new
    sent = [x for x in since(sp, n, 0) if x["outcome"] == "sent-to-idp"][-1]
    assert sent["user"] == UPN and sent["tenant"] == "acme", sent


def test_refused_logout_line(kv, s):
    r, _, _ = sign_in(kv, s)
    assert_signed_in(kv, kv["acme"], s, r)
    bad = post(kv["acme"].logout_url, session=s, data={"token": "0" * 64})
    assert bad.status_code == 403, bad.text
    txid = txid_of(bad)
    rec = wait_for(kv, lambda x: x["txid"] == txid, "for the refused logout")[0]
    assert (rec["event"], rec["outcome"], rec["reason"]) == ("logout", "rejected",
                                                            "logout-token"), rec


# ------------------------------------------------------------ no secrets
@pytest.mark.parametrize("fx", ["kv", "js"])
def test_no_secret_values(request, fx):
    sp = request.getfixturevalue(fx)
    with browser() as s:
        ten = sp["acme"]
        flow = ten.start(s)
        xml = ten.response(flow)
        form = t.TestIdp.post_form(xml, flow.relay_state)
        r = post(ten.acs, session=s, data=form)
        assert_signed_in(sp, ten, s, r)
        cookie = session_cookie(r)
        token = confirm_token(ten, s)
        with browser() as s2:           # a refused one too: its Response is in no line
            bad = sign_in(sp, s2, idp=t.TestIdp(slot=6))[1]
    time.sleep(0.3)
    text = sp.audit_text()
    assert text
    secrets = {"SAMLResponse": form["SAMLResponse"], "its first 40 characters":
               form["SAMLResponse"][:40], "session cookie": cookie,
               "state cookie": flow.state_value, "RelayState": flow.relay_state,
               "AuthnRequest ID": flow.request_id, "logout token": token,
               "refused Response": t.TestIdp.post_form(bad, None)["SAMLResponse"][:40]}
    for what, value in secrets.items():
        assert value and value not in text, what
    assert "<saml" not in text and "Assertion" not in text


# ------------------------------------------------------------ configuration
@pytest.mark.parametrize("directive,message", [
    ("IdBrokerAuditLog logs/a.log format=xml", "unknown option 'format=xml'"),
    ("IdBrokerAuditLog syslog:mail", "'mail' is no syslog facility"),
    ("IdBrokerAuditLog logs/a.log\nIdBrokerAuditLog logs/b.log", "is given twice"),
    ("IdBrokerTrustedProxy 10.0.0.0/33", "is not an IP address or network"),
    ("IdBrokerTrustedProxy proxy.example.com", "is not an IP address or network"),
    ("<VirtualHost 127.0.0.1:1>\nIdBrokerAuditLog logs/a.log\n</VirtualHost>",
     "cannot occur within"),
])
def test_bad_audit_directives_fail_configtest(httpd_factory, module_path, directive, message):
    h = httpd_factory(module_path)
    h.write_config(directive + "\n")
    result = h.configtest()
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert message in out, out
    assert f"of {h.conf}" in out, out


def test_audit_off_writes_nothing(httpd_factory, module_path):
    h = httpd_factory(module_path)
    h.write_config("IdBrokerAuditLog off\nIdBrokerTrustedProxy 127.0.0.1\n")
    assert h.configtest().returncode == 0
    h.start()
    assert get(h.url("/")).status_code == 200
    assert not list(h.logs.glob("audit*"))
