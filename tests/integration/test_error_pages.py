"""Error pages per tenant (docs/error-pages.md): IdBrokerErrorTemplate FILE and
IdBrokerSupportContact TEXT, the texts of ib_strings.c in the browser's
language, and template checks at configuration time.

One httpd, four SAML tenants trusting our TestIdp, each on its own port:
`branded` (template and support contact), `plain` (the built-in page),
`contact` (the built-in page with a support contact) and `nolist` (a template
without {{details}}). `branded` and `plain` read cip_email from an attribute
named like a script, so the IdP can put markup into an attribute error.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_error_pages.py
"""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

import testidp as t
from acs_fixture import (ATTR_ERROR, GENERIC, PORTAL, PORTAL_TEXT, SESSION_COOKIE, TXID_RE, UPN,
                         Sp, Tenant, log_lines, post)
from harness import free_port, get
from tenants import TenantDir, tenant_conf

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("IDBROKER_TENANT_CLI") or str(REPO / "idbroker-tenant")
def quote_fn(text: str) -> str:
    """TEXT as one quoted argument of a conf file."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


SUPPORT = 'Acme IT <help@acme.example> & "desk" +1 555 0100'
TEMPLATE = """<!DOCTYPE html>
<html lang="{{lang}}"><head><meta charset="utf-8"><title>Acme – {{title}}</title></head>
<body class="acme">
<h1 id="t">{{ title }}</h1>
<p id="m">{{message}}</p>
<p id="x">Reference <b>{{txid}}</b> at <time>{{time}}</time> ({{reason_class}})</p>
<p id="s">{{support}}</p>
<div id="d">{{details}}</div>
</body></html>
"""
# A template written before {{details}} existed.
TEMPLATE_WITHOUT_DETAILS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{title}}</title></head>
<body class="nolist"><h1>{{title}}</h1><p id="m">{{message}}</p><p>{{txid}}</p></body></html>
"""
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_VALUE = "<img src=x onerror=alert(2)>"
MAP_EMAIL = f"    IdBrokerAttribute cip_email {quote_fn(HOSTILE_NAME)}\n"
ATTR_MESSAGE = ("Your identity provider signed you in, but these attributes could not be "
                "used. Ask your administrator to check them:")
MISSING = "missing (one of UPN or SID is required)"
MISSING_KEYS = [("cip_upn", MISSING), ("cip_sid", MISSING)]
DETAILS_RE = re.compile(r'<div id="d">(.*?)</div>', re.S)
FIELD_RE = {k: re.compile(rf'<(?:p|h1|b|time) id="{k}">(.*?)</') for k in "tms"}
TIME_RE = re.compile(r"<time>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)</time>")
TPL_TXID_RE = re.compile(r"Reference <b>([0-9a-f-]{36})</b>")
REASON_RE = re.compile(r"</time> \(([a-z-]+)\)")


class PagesSp(Sp):
    def _configure(self) -> None:
        h, td = self.httpd, self.td
        (td.root / "branded.html").write_text(TEMPLATE, encoding="utf-8")
        (td.root / "nolist.html").write_text(TEMPLATE_WITHOUT_DETAILS, encoding="utf-8")
        extras = {
            "branded": (f"    IdBrokerErrorTemplate branded.html\n"
                        f"    IdBrokerSupportContact {quote(SUPPORT)}\n" + MAP_EMAIL),
            "plain": MAP_EMAIL,
            "contact": f"    IdBrokerSupportContact {quote(SUPPORT)}\n",
            "nolist": "    IdBrokerErrorTemplate nolist.html\n",
        }
        listen = ""
        for name, extra in extras.items():
            port = h.port if name == "branded" else free_port()
            if port != h.port:
                listen += f"Listen 127.0.0.1:{port}\n"
            idp = (f"        IdBrokerIdPEntityID {self.idp.entity_id}\n"
                   f"        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
                   f"        IdBrokerIdPCert {self.idp_cert}\n")
            td.write(f"{name}.conf", tenant_conf(name, f"http://127.0.0.1:{port}", td.key,
                                                 td.cert, app_extra=idp, tenant_extra=extra))
            self.tenants[name] = Tenant(name, port, self)
        portal = h.htdocs / "portal"
        portal.mkdir(mode=0o755, exist_ok=True)
        (portal / "index.html").write_text(PORTAL_TEXT)
        (portal / "index.html").chmod(0o644)
        h.write_config(listen + td.include() + PORTAL.format(htdocs=h.htdocs),
                       extra_modules=["authz_user"])

    @classmethod
    def make(cls, module_path: str) -> "PagesSp":
        base = Path(tempfile.mkdtemp(prefix="idbroker-pages-", dir="/tmp"))
        base.chmod(0o755)
        sp = cls(base, module_path)
        sp._configure()
        sp.httpd.start()
        return sp


def quote(text: str) -> str:
    return quote_fn(text)


@pytest.fixture(scope="module")
def sp(module_path, request):
    failed = request.session.testsfailed
    sp = PagesSp.make(module_path)
    yield sp
    sp.close(keep=request.session.testsfailed > failed)


def browser():
    import requests
    s = requests.Session()
    s.trust_env = False
    return s


def refused(sp, name: str, headers=None, **kw):
    """A sign-in whose Response the SP refuses (kw: TestIdp.response options;
    default: signed by another key)."""
    ten = sp[name]
    kw.setdefault("idp", t.TestIdp(slot=6))
    with browser() as s:
        flow = ten.start(s)
        xml = ten.response(flow, **kw)
        return post(ten.acs, session=s, data=t.TestIdp.post_form(xml, flow.relay_state),
                    headers=headers or {})


# ------------------------------------------------------------------ templates
def test_tenant_template_used_and_txid_matches_log(sp):
    r = refused(sp, "branded")
    assert r.status_code == 403, r.text
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    assert 'class="acme"' in r.text and "{{" not in r.text and "}}" not in r.text, r.text
    assert "<title>Acme – Unable to Process Your Request</title>" in r.text
    assert FIELD_RE["t"].search(r.text).group(1) == GENERIC
    assert FIELD_RE["m"].search(r.text).group(1) == "There was an unexpected error."
    txid = TPL_TXID_RE.search(r.text).group(1)
    lines = log_lines(sp, txid)
    assert any("signature" in line for line in lines), (txid, lines)
    assert any("event=signin outcome=rejected tenant=branded" in line for line in lines)
    when = dt.datetime.strptime(TIME_RE.search(r.text).group(1), "%Y-%m-%dT%H:%M:%SZ")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert abs((now - when).total_seconds()) < 60
    assert REASON_RE.search(r.text).group(1) == "error"
    # every value HTML-escaped
    assert FIELD_RE["s"].search(r.text).group(1) == \
        "Acme IT &lt;help@acme.example&gt; &amp; &quot;desk&quot; +1 555 0100"


def test_template_reason_class(sp):
    r = refused(sp, "branded", idp=sp.idp, status="urn:oasis:names:tc:SAML:2.0:status:Responder",
                second_status="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
    assert REASON_RE.search(r.text).group(1) == "cancelled", r.text
    assert FIELD_RE["t"].search(r.text).group(1) == "Sign-in Was Cancelled"


def test_other_tenant_keeps_the_built_in_page(sp):
    r = refused(sp, "plain")
    assert r.status_code == 403
    assert f"<title>{GENERIC}</title>" in r.text and 'class="acme"' not in r.text
    txid = TXID_RE.search(r.text).group(1)
    assert log_lines(sp, txid)
    assert "Support" not in r.text and "acme.example" not in r.text
    assert '<html lang="en">' in r.text


def test_built_in_page_shows_the_support_contact(sp):
    r = refused(sp, "contact")
    assert TXID_RE.search(r.text), r.text
    assert ("<p>Support: Acme IT &lt;help@acme.example&gt; &amp; &quot;desk&quot; "
            "+1 555 0100</p>") in r.text, r.text


def test_metadata_errors_of_a_tenant_host_use_its_template(sp):
    r = get(sp["branded"].base + "/saml/metadata?entity=NOT-A-GUID")
    assert r.status_code == 404
    assert 'class="acme"' in r.text and FIELD_RE["t"].search(r.text).group(1) == "Not Found"
    assert REASON_RE.search(r.text).group(1) == "not-found"
    r = get(sp["plain"].base + "/saml/metadata?entity=NOT-A-GUID")
    assert "<title>Not Found</title>" in r.text


# ------------------------------------------------------------------ attribute errors
def attribute_refused(sp, name: str, attributes, headers=None):
    """A sign-in the IdP completes with unusable attributes: the attribute
    error page (ATTR-3/4), which the module builds with its list."""
    ten = sp[name]
    with browser() as s:
        flow = ten.start(s)
        xml = ten.response(flow, attributes=attributes)
        r = post(ten.acs, session=s, data=t.TestIdp.post_form(xml, flow.relay_state),
                 headers=headers or {})
        assert SESSION_COOKIE not in s.cookies
    assert r.status_code == 403, (r.status_code, r.text)
    return r


def items(problems) -> str:
    return "".join(f"<li><code>{n}</code>: {why}</li>\n" for n, why in problems)


def test_attribute_error_uses_the_tenant_template_with_the_list(sp):
    r = attribute_refused(sp, "branded", [("mail", [UPN])])
    assert r.headers["Cache-Control"] == "no-store"
    assert "Accept-Language" in r.headers.get("Vary", "")
    assert 'class="acme"' in r.text and "{{" not in r.text and "}}" not in r.text, r.text
    assert f"<title>Acme – {ATTR_ERROR}</title>" in r.text and '<html lang="en">' in r.text
    assert FIELD_RE["t"].search(r.text).group(1) == ATTR_ERROR
    assert FIELD_RE["m"].search(r.text).group(1) == ATTR_MESSAGE
    assert REASON_RE.search(r.text).group(1) == "attribute"
    assert DETAILS_RE.search(r.text).group(1) == f'<ul lang="en">\n{items(MISSING_KEYS)}</ul>\n'
    assert FIELD_RE["s"].search(r.text).group(1) == \
        "Acme IT &lt;help@acme.example&gt; &amp; &quot;desk&quot; +1 555 0100"
    assert TIME_RE.search(r.text)
    # the page's Transaction ID is the one of the (unchanged) attribute-error log line
    txid = TPL_TXID_RE.search(r.text).group(1)
    lines = log_lines(sp, txid)
    assert any("event=signin outcome=attribute-error tenant=branded" in line
               and f"cip_upn: {MISSING}; cip_sid: {MISSING}" in line for line in lines), lines
    assert not any(f"txid={txid} status=" in line for line in lines), lines  # one log line


def test_attribute_error_built_in_page(sp):
    r = attribute_refused(sp, "plain", [("mail", [UPN])])
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'class="acme"' not in r.text and "{{" not in r.text
    assert r.text.startswith('<!DOCTYPE html>\n<html lang="en">'), r.text
    assert f"<title>{ATTR_ERROR}</title>" in r.text
    assert f"<h1>{ATTR_ERROR}</h1>\n<p>{ATTR_MESSAGE}</p>\n<ul lang=\"en\">\n" \
           f"{items(MISSING_KEYS)}</ul>\n<p>Transaction ID: <code>" in r.text, r.text
    assert "Support" not in r.text
    assert log_lines(sp, TXID_RE.search(r.text).group(1))


def test_attribute_error_in_german(sp):
    de = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    r = attribute_refused(sp, "plain", [("mail", [UPN])], headers=de)
    assert '<html lang="de">' in r.text, r.text
    assert "<title>Attributfehler bei der Anmeldung</title>" in r.text
    assert "<h1>Attributfehler bei der Anmeldung</h1>" in r.text
    assert "aber diese Attribute konnten nicht verwendet werden" in r.text
    assert "<p>Vorgangsnummer: <code>" in r.text
    # the reasons stay English, marked as such for screen readers
    assert f'<ul lang="en">\n{items(MISSING_KEYS)}</ul>' in r.text
    r = attribute_refused(sp, "branded", [("mail", [UPN])], headers=de)
    assert '<html lang="de">' in r.text, r.text
    assert FIELD_RE["t"].search(r.text).group(1) == "Attributfehler bei der Anmeldung"
    assert REASON_RE.search(r.text).group(1) == "attribute"


def test_attribute_error_built_in_page_shows_the_support_contact(sp):
    r = attribute_refused(sp, "contact", [("cip_upn", [UPN, "john@example.test"])])
    assert items([("cip_upn", "multi-valued")]) in r.text, r.text
    assert ("<p>Support: Acme IT &lt;help@acme.example&gt; &amp; &quot;desk&quot; "
            "+1 555 0100</p>") in r.text, r.text
    assert "john@example.test" not in r.text       # names, never values


@pytest.mark.parametrize("name", ["branded", "plain"])
def test_attribute_error_escapes_a_hostile_attribute_name(sp, name):
    """The IdP sends an attribute named like a script (the tenant reads
    cip_email from it) with markup as its value: the name is shown escaped,
    the value not at all."""
    r = attribute_refused(sp, name, [("cip_upn", [UPN]), (HOSTILE_NAME, [HOSTILE_VALUE])])
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<li><code>{escaped}</code>: not of the form user@domain</li>" in r.text, r.text
    assert "<script" not in r.text and "<img" not in r.text and "onerror" not in r.text
    txid = (TPL_TXID_RE if name == "branded" else TXID_RE).search(r.text).group(1)
    assert any("outcome=attribute-error" in line for line in log_lines(sp, txid))


def test_template_without_details_gets_the_list_in_the_message(sp):
    r = attribute_refused(sp, "nolist", [("mail", [UPN])])
    assert 'class="nolist"' in r.text and "<ul" not in r.text, r.text
    assert FIELD_RE["m"].search(r.text).group(1) == \
        f"{ATTR_MESSAGE} cip_upn: {MISSING}; cip_sid: {MISSING}"


def test_other_error_pages_leave_details_empty(sp):
    r = refused(sp, "branded")
    assert DETAILS_RE.search(r.text).group(1) == "", r.text


# ------------------------------------------------------------------ languages
@pytest.mark.parametrize("header,lang", [
    ("de", "de"), ("de-AT,de;q=0.9,en;q=0.5", "de"), ("en-US,en;q=0.9,de;q=0.8", "en"),
    ("fr-FR,fr;q=0.9", "en"), ("fr, de;q=0.1", "de"), ("de;q=0, en", "en"), ("*", "en"),
])
def test_accept_language(sp, header, lang):
    r = refused(sp, "plain", headers={"Accept-Language": header})
    assert f'<html lang="{lang}">' in r.text, r.text
    if lang == "de":
        assert "<title>Ihre Anfrage konnte nicht bearbeitet werden</title>" in r.text
        assert "<p>Vorgangsnummer: <code>" in r.text
    else:
        assert f"<title>{GENERIC}</title>" in r.text
    assert "Accept-Language" in r.headers.get("Vary", "")


def test_template_gets_the_translated_texts(sp):
    r = refused(sp, "branded", headers={"Accept-Language": "de"})
    assert FIELD_RE["t"].search(r.text).group(1) == "Ihre Anfrage konnte nicht bearbeitet werden"
    assert FIELD_RE["m"].search(r.text).group(1) == "Es ist ein unerwarteter Fehler aufgetreten."


# ------------------------------------------------------------------ config checks
BAD_TEMPLATES = {
    "unknown-marker": ("<p>{{title}}</p>\n<p>{{ nope }}</p>\n", 2, "unknown marker {{ nope }}"),
    "unclosed": ("<p>{{title}}</p>\n\n<p>{{txid</p>\n", 3, "'{{' without a closing '}}'"),
    "not-utf8": (b"<p>{{title}}</p>\n<p>caf\xe9</p>\n", 2, "is not UTF-8"),
    "nul": (b"<p>\x00</p>\n", 1, "contains a NUL byte"),
    "triple": ("{{{title}}}\n", 1, "unknown marker {{{title}}"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEMPLATES))
def test_bad_template_fails_configtest_with_file_and_line(case, httpd_factory, module_path):
    text, line, message = BAD_TEMPLATES[case]
    h = httpd_factory(module_path)
    td = TenantDir(h.workdir / "tenants.d")
    tpl = td.root / "page.html"
    tpl.write_bytes(text if isinstance(text, bytes) else text.encode())
    conf = td.write("t1.conf", tenant_conf("acme", "https://saml.example.test", td.key, td.cert,
                                           tenant_extra="    IdBrokerErrorTemplate page.html\n"))
    h.write_config(td.include())
    result = h.configtest()
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    conf_line = next(i for i, l in enumerate(conf.read_text().splitlines(), 1)
                     if "IdBrokerErrorTemplate" in l)
    assert f"on line {conf_line} of {conf}" in out, out
    assert f"{tpl}:{line}: {message}" in out, out
    # the CLI reads tenant files with the same code
    cli = subprocess.run([CLI, "check", str(conf)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"{tpl}:{line}: {message}" in cli.stdout + cli.stderr


@pytest.mark.parametrize("extra,message", [
    ("    IdBrokerErrorTemplate missing.html\n", "IdBrokerErrorTemplate: cannot read"),
    ("    IdBrokerErrorTemplate big.html\n", "larger than 65536 bytes"),
    ('    IdBrokerSupportContact "' + "x" * 300 + '"\n', "takes 1 to 256 characters"),
    ("    IdBrokerSupportContact a\n    IdBrokerSupportContact b\n", "is given twice"),
    ("    <IdBrokerApp custom-domain>\n        IdBrokerErrorTemplate big.html\n"
     "    </IdBrokerApp>\n", "applies to the whole tenant"),
])
def test_bad_page_directives(httpd_factory, module_path, extra, message):
    h = httpd_factory(module_path)
    td = TenantDir(h.workdir / "tenants.d")
    (td.root / "big.html").write_text("x" * 65537)
    td.write("t1.conf", tenant_conf("acme", "https://saml.example.test", td.key, td.cert,
                                    tenant_extra=extra))
    h.write_config(td.include())
    result = h.configtest()
    out = result.stdout + result.stderr
    assert result.returncode != 0 and message in out, out


def test_template_without_txid_warns_but_passes(httpd_factory, module_path):
    h = httpd_factory(module_path)
    td = TenantDir(h.workdir / "tenants.d")
    (td.root / "page.html").write_text("<h1>{{title}}</h1>\n")
    td.write("t1.conf", tenant_conf("acme", "https://saml.example.test", td.key, td.cert,
                                    tenant_extra="    IdBrokerErrorTemplate page.html\n"))
    h.write_config(td.include())
    result = h.configtest()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "has no {{txid}}" in out, out
