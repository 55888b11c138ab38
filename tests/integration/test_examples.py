"""examples/tenants/: one complete tenant file per provider. Each must pass
`idbroker-tenant check` and `apachectl -t` as shipped, once the files it names
(SP key pair, IdP certificate, client secret) exist, and the IdP-side values
its comments tell operators to enter must be the ones the file really yields."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import pki

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "tenants"
CLI = os.environ.get("IDBROKER_TENANT_CLI") or str(REPO / "idbroker-tenant")
PROVIDERS = [
    "adfs.conf", "entra-saml.conf", "entra-saml-aad.conf", "entra-oidc.conf",
    "okta-saml.conf", "okta-oidc.conf", "pingfederate.conf", "google-oidc.conf",
    "generic-saml.conf",
]
SECRET = "placeholder-client-secret-0123456789"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def directives(conf: Path) -> list[list[str]]:
    """The directive lines of a tenant file, as argument lists (no comments)."""
    out = []
    for line in conf.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "<")):
            out.append(shlex.split(line))
    return out


def materialize(conf: Path, scratch: Path) -> None:
    """Writes every file `conf` names: SP key pairs made by `idbroker-tenant
    new` (so they are what operators get), IdP certificates from pki, client
    secrets. A file directive this does not know fails the test, so a new
    example cannot slip through untested."""
    base = conf.parent
    scratch = scratch / conf.stem
    scratch.mkdir(exist_ok=True)
    made = 0
    for args in directives(conf):
        name = args[0].lower()
        if name in ("idbrokerspkey", "idbrokerspdecryptionkey"):
            made += 1
            r = cli("new", f"placeholder{made}", "--sp-base", "https://saml.example.com",
                    "--dir", str(scratch))
            assert r.returncode == 0, r.stderr
            pair = scratch / f"placeholder{made}-keys"
            for src, dst in ((pair / "sp-signing.key", args[1]), (pair / "sp-signing.crt", args[2])):
                target = base / dst
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)  # keeps the key's 0600
        elif name in ("idbrokeridpcert", "idbrokeridpmetadatasigner", "idbrokeridpmetadataca"):
            target = base / args[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(pki.cert_pem(pki.certificate(pki.private_key(), cn="idp.example.com")))
        elif name == "idbrokeroidcclientsecret":
            assert args[1].startswith("file:"), "examples keep secrets in files"
            target = base / args[1][len("file:"):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(SECRET + "\n")
            target.chmod(0o600)
        elif name == "idbrokeridpmetadatafile":
            pytest.fail(f"{conf.name}: teach materialize() to write IdP metadata files")


@pytest.fixture
def workdir(httpd_factory, module_path):
    httpd = httpd_factory(module_path)
    d = httpd.workdir / "tenants"
    d.mkdir()
    scratch = httpd.workdir / "scratch"
    scratch.mkdir()
    return httpd, d, scratch


def test_every_provider_has_an_example():
    assert sorted(p.name for p in EXAMPLES.glob("*.conf")) == sorted(PROVIDERS)


@pytest.mark.parametrize("example", PROVIDERS)
def test_example_passes_check_and_configtest(workdir, example):
    httpd, d, scratch = workdir
    conf = d / example
    shutil.copy(EXAMPLES / example, conf)
    materialize(conf, scratch)

    checked = cli("check", str(conf))
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout
    assert "warning" not in checked.stderr, "a shipped example is complete: " + checked.stderr

    httpd.write_config(f"Include {conf}\n")
    tested = httpd.configtest()
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Syntax OK" in tested.stdout + tested.stderr


@pytest.mark.parametrize("example", PROVIDERS)
def test_example_comments_give_the_values_the_file_yields(workdir, example):
    """What the comments tell operators to enter at the IdP matches `show`."""
    _, d, scratch = workdir
    conf = d / example
    shutil.copy(EXAMPLES / example, conf)
    materialize(conf, scratch)
    shown = cli("show", str(conf))
    assert shown.returncode == 0, shown.stderr
    values = dict(re.findall(r"^([A-Za-z -]+): (.*)$", shown.stdout, re.M))
    text = (EXAMPLES / example).read_text()
    if values["protocol"] == "OpenID Connect":
        assert values["redirect URI"] in text
        assert SECRET not in shown.stdout + shown.stderr
    else:
        assert values["SP entity ID"] in text
        assert urlsplit(values["ACS URL"]).path in text
        assert urlsplit(values["SLO URL"]).path in text
        assert "-----BEGIN CERTIFICATE-----" in shown.stdout


def test_all_examples_load_together(workdir):
    """Distinct tenant names, sign-in IDs and scope GUIDs: the examples can
    be included side by side, as a broker serving all of them would."""
    httpd, d, scratch = workdir
    for example in PROVIDERS:
        shutil.copy(EXAMPLES / example, d / example)
    for example in PROVIDERS:
        materialize(d / example, scratch)
    httpd.write_config(f"Include {d}/*.conf\n")
    tested = httpd.configtest()
    assert tested.returncode == 0, tested.stdout + tested.stderr
