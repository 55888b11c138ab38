"""idbroker-tenant: new tenants, and metadata without a running server."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness import get

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("IDBROKER_TENANT_CLI") or str(REPO / "idbroker-tenant")


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def tenants_dir(httpd_factory, module_path):
    httpd = httpd_factory(module_path)
    d = httpd.workdir / "tenants.d"
    d.mkdir(mode=0o755)
    return httpd, d


def test_new_writes_key_cert_and_a_conf_httpd_accepts(tenants_dir):
    httpd, d = tenants_dir
    out = cli("new", "acme", "--sp-base", f"http://127.0.0.1:{httpd.port}", "--scoped",
              "--dir", str(d)).stdout
    conf = (d / "acme.conf").read_text()
    guid = re.search(r"IdBrokerSPEntityScope ([0-9a-f-]{36})\n", conf).group(1)
    assert guid in out
    assert "IdBrokerSignInID acme" in conf

    key_path, crt_path = d / "acme-keys/sp-signing.key", d / "acme-keys/sp-signing.crt"
    assert key_path.stat().st_mode & 0o077 == 0, "the private key must be owner-only"
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
    assert key.key_size == 3072
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    lifetime = cert.not_valid_after - cert.not_valid_before
    assert 364 <= lifetime.days <= 366

    httpd.write_config(f"Include {d}/*.conf\n")
    result = httpd.configtest()
    assert result.returncode == 0, result.stderr


def test_new_makes_a_fresh_guid_each_time(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    cli("new", "t", "--sp-base", "https://saml.example.test", "--scoped", "--dir", str(a))
    cli("new", "t", "--sp-base", "https://saml.example.test", "--scoped", "--dir", str(b))
    guid = lambda d: re.search(r"IdBrokerSPEntityScope (\S+)", (d / "t.conf").read_text()).group(1)
    assert guid(a) != guid(b)


def test_new_without_scoped_is_generic(tmp_path):
    cli("new", "t", "--sp-base", "https://saml.example.test", "--dir", str(tmp_path))
    assert "\n        IdBrokerSPEntityScope" not in (tmp_path / "t.conf").read_text()
    md = cli("metadata", str(tmp_path / "t.conf")).stdout
    assert 'entityID="https://saml.example.test"' in md


def test_new_refuses_to_overwrite_and_bad_input(tmp_path):
    cli("new", "t", "--sp-base", "https://saml.example.test", "--dir", str(tmp_path))
    before = (tmp_path / "t.conf").read_text()
    again = cli("new", "t", "--sp-base", "https://saml.example.test", "--dir", str(tmp_path), check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    assert (tmp_path / "t.conf").read_text() == before
    bad_url = cli("new", "u", "--sp-base", "http://saml.example.test", "--dir", str(tmp_path), check=False)
    assert bad_url.returncode == 1 and "must use https" in bad_url.stderr
    bad_id = cli("new", "v", "--signin-id", "no spaces!", "--sp-base", "https://s.example.test",
                 "--dir", str(tmp_path), check=False)
    assert bad_id.returncode == 1 and "IdBrokerSignInID" in bad_id.stderr
    assert not (tmp_path / "u.conf").exists() and not (tmp_path / "v.conf").exists()
    assert cli("frobnicate", check=False).returncode == 2


def test_metadata_is_byte_identical_to_what_the_server_serves(tenants_dir):
    httpd, d = tenants_dir
    cli("new", "acme", "--sp-base", f"http://127.0.0.1:{httpd.port}", "--scoped", "--dir", str(d))
    offline = cli("metadata", str(d / "acme.conf")).stdout.encode()
    httpd.write_config(f"Include {d}/*.conf\n")
    httpd.start()
    served = get(httpd.url("/saml/metadata")).content
    assert offline == served


def test_metadata_reports_config_errors_with_file_and_line(tmp_path):
    cli("new", "t", "--sp-base", "https://saml.example.test", "--dir", str(tmp_path))
    conf = tmp_path / "t.conf"
    conf.write_text(conf.read_text().replace("IdBrokerSignInID t", "IdBrokerSignInID t_t"))
    result = cli("metadata", str(conf), check=False)
    line = next(i for i, l in enumerate(conf.read_text().splitlines(), 1) if "IdBrokerSignInID t_t" in l)
    assert result.returncode == 1
    assert f"{conf}:{line}: IdBrokerSignInID 't_t' may contain only" in result.stderr
    assert result.stdout == ""


def test_metadata_at_a_given_instant_shows_the_rotation(tmp_path):
    cli("new", "t", "--sp-base", "https://saml.example.test", "--dir", str(tmp_path))
    cli("new", "n", "--sp-base", "https://saml.example.test", "--dir", str(tmp_path))
    conf = tmp_path / "t.conf"
    # Borrow n's key pair as t's next key, activating in 100 days.
    import datetime as dt
    when = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=101)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conf.write_text(conf.read_text().replace(
        "IdBrokerSPKey t-keys/sp-signing.key t-keys/sp-signing.crt",
        "IdBrokerSPKey t-keys/sp-signing.key t-keys/sp-signing.crt\n"
        f"    IdBrokerSPKey n-keys/sp-signing.key n-keys/sp-signing.crt activate-at={when}"))
    now_md = cli("metadata", str(conf)).stdout
    later_md = cli("metadata", str(conf), "--at", after).stdout
    assert now_md.count("<md:KeyDescriptor") == 2
    assert later_md.count("<md:KeyDescriptor") == 1
    n_cert = "".join((tmp_path / "n-keys/sp-signing.crt").read_text().splitlines()[1:-1])
    assert n_cert in later_md


# ---- add-app, rotate-key, show, check ---------------------------------------------

import datetime as dt  # noqa: E402

import pki  # noqa: E402

GUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def utc_in(days: float) -> str:
    return pki.utc_text(pki.days(days))


def leftovers(d: Path) -> list[str]:
    """Temporary copies an editing command might have left behind."""
    return [p.name for p in d.iterdir() if ".tmp-" in p.name]


def new_tenant(d: Path, name: str = "t", base: str = "https://saml.example.test",
               scoped: bool = True) -> Path:
    d.mkdir(exist_ok=True)
    cli("new", name, "--sp-base", base, *(["--scoped"] if scoped else []), "--dir", str(d))
    return d / f"{name}.conf"


def test_add_app_inserts_a_custom_domain_keeping_every_other_byte(tenants_dir):
    httpd, d = tenants_dir
    conf = new_tenant(d, "acme", f"http://127.0.0.1:{httpd.port}")
    conf.chmod(0o640)
    before = conf.read_bytes()
    primary_guid = re.search(rf"IdBrokerSPEntityScope ({GUID_RE})", before.decode()).group(1)

    out = cli("add-app", str(conf), "custom-domain", "--sp-base",
              f"http://localhost:{httpd.port}", "--scoped").stdout
    after = conf.read_bytes()
    cut = before.index(b"</IdBrokerTenant>")
    assert after.startswith(before[:cut]) and after.endswith(before[cut:])
    added = after[cut:len(after) - len(before) + cut].decode()
    assert "<IdBrokerApp custom-domain>" in added and "</IdBrokerApp>" in added
    assert f"IdBrokerSPBaseURL http://localhost:{httpd.port}\n" in added
    guid = re.search(rf"\n\s+IdBrokerSPEntityScope ({GUID_RE})\n", added).group(1)
    assert guid != primary_guid and guid in out
    assert conf.stat().st_mode & 0o777 == 0o640, "the file keeps its mode"
    assert leftovers(d) == []

    # The result reads back: in the CLI, and in httpd.
    assert "OK" in cli("check", str(conf)).stdout
    md = cli("metadata", str(conf), "--app", "custom-domain").stdout
    assert f'entityID="http://127.0.0.1:{httpd.port}/{guid}"' in md
    assert f'Location="http://localhost:{httpd.port}/saml/acs"' in md
    httpd.write_config(f"Include {d}/*.conf\n")
    result = httpd.configtest()
    assert result.returncode == 0, result.stderr


def test_add_app_without_scoped_shares_the_generic_entity_id(tmp_path):
    conf = new_tenant(tmp_path, scoped=False)
    cli("add-app", str(conf), "custom-domain", "--sp-base", "https://ws.example.test")
    text = conf.read_text()
    assert not re.search(r"^\s*IdBrokerSPEntityScope", text, re.M)
    md = cli("metadata", str(conf), "--app", "custom-domain").stdout
    assert 'entityID="https://saml.example.test"' in md


def test_add_app_keeps_crlf_line_endings(tmp_path):
    conf = new_tenant(tmp_path)
    conf.write_bytes(conf.read_bytes().replace(b"\n", b"\r\n"))
    cli("add-app", str(conf), "custom-domain", "--sp-base", "https://ws.example.test", "--scoped")
    data = conf.read_bytes()
    assert b"<IdBrokerApp custom-domain>\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")
    assert cli("check", str(conf)).returncode == 0


def test_add_app_refuses_an_existing_app(tmp_path):
    conf = new_tenant(tmp_path)
    cli("add-app", str(conf), "custom-domain", "--sp-base", "https://ws.example.test")
    before = conf.read_bytes()
    again = cli("add-app", str(conf), "custom-domain", "--sp-base", "https://ws2.example.test",
                check=False)
    assert again.returncode == 1 and "already has a custom-domain app" in again.stderr
    primary = cli("add-app", str(conf), "primary", "--sp-base", "https://ws3.example.test",
                  check=False)
    assert primary.returncode == 1 and "already has a primary app" in primary.stderr
    assert conf.read_bytes() == before
    assert cli("add-app", str(conf), "other", "--sp-base", "https://x.example.test",
               check=False).returncode == 1
    assert cli("add-app", str(conf), "custom-domain", check=False).returncode == 2


def test_add_app_rolls_back_when_the_result_would_be_invalid(tmp_path):
    conf = new_tenant(tmp_path)
    before = conf.read_bytes()
    # Valid URL, but the same as the primary's: only reading the result back finds it.
    same = cli("add-app", str(conf), "custom-domain", "--sp-base", "https://saml.example.test",
               check=False)
    assert same.returncode == 1
    assert "needs its own IdBrokerSPBaseURL" in same.stderr
    assert f"{conf}:" in same.stderr and ".tmp-" not in same.stderr, "errors name the real file"
    assert conf.read_bytes() == before and leftovers(tmp_path) == []
    bad = cli("add-app", str(conf), "custom-domain", "--sp-base", "http://ws.example.test",
              check=False)
    assert bad.returncode == 1 and "--sp-base" in bad.stderr
    assert conf.read_bytes() == before


def test_add_app_refuses_a_file_that_is_already_invalid(tmp_path):
    conf = new_tenant(tmp_path)
    conf.write_text(conf.read_text().replace("IdBrokerSignInID t", "IdBrokerSignInID t_t"))
    before = conf.read_bytes()
    r = cli("add-app", str(conf), "custom-domain", "--sp-base", "https://ws.example.test",
            check=False)
    assert r.returncode == 1 and f"{conf}:" in r.stderr and "IdBrokerSignInID" in r.stderr
    assert conf.read_bytes() == before


def test_rotate_key_schedules_a_new_key_after_the_last_tenant_key(tmp_path):
    conf = new_tenant(tmp_path)
    conf.chmod(0o600)
    before = conf.read_bytes()
    at = utc_in(30)
    stamp = at.replace("-", "").replace(":", "")
    out = cli("rotate-key", str(conf), "--at", at).stdout

    key_path = tmp_path / f"t-keys/sp-signing-{stamp}.key"
    crt_path = tmp_path / f"t-keys/sp-signing-{stamp}.crt"
    assert key_path.stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
    assert key.key_size == 3072
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    # Valid from now, for a year after it takes over.
    assert abs((cert.not_valid_after - pki.days(395).replace(tzinfo=None)).days) <= 1

    old_line = b"IdBrokerSPKey t-keys/sp-signing.key t-keys/sp-signing.crt\n"
    cut = before.index(old_line) + len(old_line)
    after = conf.read_bytes()
    assert after.startswith(before[:cut]) and after.endswith(before[cut:])
    added = after[cut:len(after) - len(before) + cut].decode()
    assert (f"    IdBrokerSPKey t-keys/sp-signing-{stamp}.key t-keys/sp-signing-{stamp}.crt "
            f"activate-at={at}\n") in added
    assert conf.stat().st_mode & 0o777 == 0o600 and leftovers(tmp_path) == []

    # What to do next: give the IdP the new metadata before the instant.
    assert f"Before {at}" in out and f"idbroker-tenant metadata {conf}" in out
    # Now both keys are published; after the instant only the new one.
    assert cli("metadata", str(conf)).stdout.count("<md:KeyDescriptor") == 2
    later = cli("metadata", str(conf), "--at", utc_in(31)).stdout
    assert later.count("<md:KeyDescriptor") == 1
    assert "".join(crt_path.read_text().splitlines()[1:-1]) in later
    assert "OK" in cli("check", str(conf)).stdout


def test_rotate_key_refuses_past_or_conflicting_instants(tmp_path):
    conf = new_tenant(tmp_path)
    before = conf.read_bytes()
    keys_before = sorted(p.name for p in (tmp_path / "t-keys").iterdir())
    past = cli("rotate-key", str(conf), "--at", utc_in(-1), check=False)
    assert past.returncode == 1 and "not in the future" in past.stderr
    malformed = cli("rotate-key", str(conf), "--at", "2030-01-01 00:00", check=False)
    assert malformed.returncode == 1 and "UTC instant" in malformed.stderr
    assert cli("rotate-key", str(conf), check=False).returncode == 2
    assert conf.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "t-keys").iterdir()) == keys_before

    cli("rotate-key", str(conf), "--at", utc_in(60))
    scheduled = conf.read_bytes()
    earlier = cli("rotate-key", str(conf), "--at", utc_in(30), check=False)
    assert earlier.returncode == 1 and "already scheduled" in earlier.stderr
    assert conf.read_bytes() == scheduled
    # A later one is a further rotation, after the first.
    cli("rotate-key", str(conf), "--at", utc_in(90))
    assert len(re.findall(r"^\s*IdBrokerSPKey ", conf.read_text(), re.M)) == 3


def test_rotate_key_refuses_app_level_keys_and_symlinks(tmp_path):
    conf = new_tenant(tmp_path)
    text = conf.read_text()
    key_line = "    IdBrokerSPKey t-keys/sp-signing.key t-keys/sp-signing.crt\n"
    conf.write_text(text.replace(key_line, "").replace(
        "        IdBrokerSPBaseURL", key_line.replace("    ", "        ", 1)
        + "        IdBrokerSPBaseURL"))
    assert cli("check", str(conf)).returncode == 0
    app_only = cli("rotate-key", str(conf), "--at", utc_in(30), check=False)
    assert app_only.returncode == 1 and "no IdBrokerSPKey at tenant level" in app_only.stderr

    other = new_tenant(tmp_path / "real", "u")
    link = tmp_path / "real" / "link.conf"  # beside it: relative paths resolve alike
    link.symlink_to(other)
    keys_before = sorted(p.name for p in (tmp_path / "real/u-keys").iterdir())
    linked = cli("rotate-key", str(link), "--at", utc_in(30), check=False)
    assert linked.returncode == 1 and "symbolic link" in linked.stderr
    # The new key pair is removed again with the refusal.
    assert sorted(p.name for p in (tmp_path / "real/u-keys").iterdir()) == keys_before


def test_rotate_key_dir_outside_the_tenant_is_written_absolute(tmp_path):
    conf = new_tenant(tmp_path / "conf")
    elsewhere = tmp_path / "vault"
    at = utc_in(20)
    stamp = at.replace("-", "").replace(":", "")
    cli("rotate-key", str(conf), "--at", at, "--dir", str(elsewhere))
    assert f"IdBrokerSPKey {elsewhere.resolve()}/sp-signing-{stamp}.key" in conf.read_text()
    assert (elsewhere / f"sp-signing-{stamp}.key").stat().st_mode & 0o777 == 0o600
    inside = tmp_path / "conf" / "next-keys"
    at2 = utc_in(40)
    stamp2 = at2.replace("-", "").replace(":", "")
    cli("rotate-key", str(conf), "--at", at2, "--dir", str(inside))
    assert f"IdBrokerSPKey next-keys/sp-signing-{stamp2}.key" in conf.read_text()
    assert cli("check", str(conf)).returncode == 0


def show_values(out: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z -]+): (.*)$", out, re.M))


def test_show_prints_what_to_paste_into_a_saml_idp(tmp_path):
    conf = new_tenant(tmp_path)
    guid = re.search(rf"IdBrokerSPEntityScope ({GUID_RE})", conf.read_text()).group(1)
    at = utc_in(10)
    cli("rotate-key", str(conf), "--at", at)
    out = cli("show", str(conf)).stdout
    v = show_values(out)
    assert v["SP entity ID"] == f"https://saml.example.test/{guid}"
    assert v["ACS URL"] == "https://saml.example.test/saml/acs"
    assert v["SLO URL"] == "https://saml.example.test/saml/logout/callback"
    assert v["metadata URL"] == f"https://saml.example.test/saml/metadata?entity={guid}"
    assert (tmp_path / "t-keys/sp-signing.crt").read_text() in out
    stamp = at.replace("-", "").replace(":", "")
    assert f"next SP signing certificate (active from {at})" in out
    assert (tmp_path / f"t-keys/sp-signing-{stamp}.crt").read_text() in out
    assert "PRIVATE KEY" not in out

    missing = cli("show", str(conf), "--app", "custom-domain", check=False)
    assert missing.returncode == 1 and "has no custom-domain app" in missing.stderr
    cli("add-app", str(conf), "custom-domain", "--sp-base", "https://ws.example.test")
    cd = show_values(cli("show", str(conf), "--app", "custom-domain").stdout)
    assert cd["ACS URL"] == "https://ws.example.test/saml/acs"
    assert cd["SP entity ID"] == "https://saml.example.test"

    # A portal on its own host (hand-off from the shared SAML host).
    assert "portal URL" not in v
    conf.write_text(conf.read_text().replace(
        "        IdBrokerSPBaseURL https://saml.example.test\n",
        "        IdBrokerSPBaseURL https://saml.example.test\n"
        "        IdBrokerPortalURL https://portal.example.test\n"))
    assert show_values(cli("show", str(conf)).stdout)["portal URL"] == "https://portal.example.test"


def oidc_tenant(d: Path, secret: str) -> Path:
    conf = new_tenant(d, scoped=False, base="https://portal.example.test")
    (d / "op.secret").write_text(secret + "\n")
    (d / "op.secret").chmod(0o600)
    conf.write_text(re.sub(
        r"        # The IdP connection.*?(    </IdBrokerApp>)",
        "        IdBrokerOIDCIssuer https://op.example.test\n"
        "        IdBrokerOIDCClientID portal-client\n"
        "        IdBrokerOIDCClientSecret file:op.secret\n"
        "        IdBrokerOIDCRedirectPath /auth/cb\n\\1",
        conf.read_text(), flags=re.S).replace(
        "    <IdBrokerApp primary>", "    IdBrokerPostLogoutURL /bye\n    <IdBrokerApp primary>"))
    return conf


def test_show_prints_what_to_register_at_an_openid_provider(tmp_path):
    secret = "s3cr3t-never-printed-4711"
    conf = oidc_tenant(tmp_path, secret)
    r = cli("show", str(conf))
    v = show_values(r.stdout)
    assert v["protocol"] == "OpenID Connect"
    assert v["redirect URI"] == "https://portal.example.test/auth/cb"
    assert v["post-logout redirect URI"] == "https://portal.example.test/bye"
    assert v["issuer"] == "https://op.example.test"
    assert v["client ID"] == "portal-client"
    assert secret not in r.stdout + r.stderr


def test_check_accepts_a_valid_file_and_reports_warnings(tmp_path):
    conf = new_tenant(tmp_path)
    r = cli("check", str(conf))
    assert r.returncode == 0 and "OK" in r.stdout
    assert "no IdP connection configured yet" in r.stderr  # a warning, not an error

    # A complete connection, an IdP certificate about to expire, a readable key.
    _, crt, _ = pki.write_keypair(tmp_path, "idp", not_after=pki.days(10))
    conf.write_text(conf.read_text().replace(
        "        # IdBrokerIdPEntityID https://idp.example.com/entity\n",
        "        IdBrokerIdPEntityID https://idp.example.test/entity\n"
        "        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
        f"        IdBrokerIdPCert {crt.name}\n"))
    (tmp_path / "t-keys/sp-signing.key").chmod(0o644)
    r = cli("check", str(conf))
    assert r.returncode == 0 and "OK" in r.stdout
    assert "no IdP connection" not in r.stderr
    assert re.search(r"warning: .*tenant=t app=primary: .*expires", r.stderr), r.stderr
    assert "sp-signing.key is readable by every local user" in r.stderr


def test_check_fails_with_file_and_line(tmp_path):
    conf = new_tenant(tmp_path)
    conf.write_text(conf.read_text().replace("IdBrokerSignInID t", "IdBrokerSignInID t_t"))
    line = next(i for i, l in enumerate(conf.read_text().splitlines(), 1) if "t_t" in l)
    r = cli("check", str(conf), check=False)
    assert r.returncode == 1 and "OK" not in r.stdout
    assert f"{conf}:{line}: IdBrokerSignInID 't_t' may contain only" in r.stderr

    two = tmp_path / "two.conf"
    a, b = new_tenant(tmp_path / "a", "a"), new_tenant(tmp_path / "b", "b")
    two.write_text(a.read_text().replace("a-keys/", "a/a-keys/")
                   + b.read_text().replace("b-keys/", "b/b-keys/"))
    r = cli("check", str(two), check=False)
    assert r.returncode == 1 and "defines 2 tenants" in r.stderr
    assert cli("check", check=False).returncode == 2
