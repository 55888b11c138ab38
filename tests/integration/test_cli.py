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
