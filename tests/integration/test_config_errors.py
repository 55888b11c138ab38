"""Every bad tenant config fails `apache2 -t` with FILE:LINE and a message
that says what to fix (issue: Foundation)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import pytest

from pki import cert_pem, certificate, private_key, key_pem, write_keypair
from tenants import TenantDir, tenant_conf

GUID = "67338f11-4996-4980-8339-535f76d0c8fb"
BASE = "https://saml.example.test"


@dataclass
class Case:
    files: Callable[[TenantDir], list[tuple[str, str]]]
    bad_file: str      # which file the error must name
    marker: str        # the error must name the first line containing this
    message: str       # a distinctive part of the message


def one(text_fn):
    return lambda td: [("t1.conf", text_fn(td))]


def conf(td, **kw):
    kw.setdefault("base_url", BASE)
    name = kw.pop("name", "acme")
    return tenant_conf(name, kw.pop("base_url"), td.key, td.cert, **kw)


def without_line(text: str, prefix: str) -> str:
    return "".join(l for l in text.splitlines(True) if not l.strip().startswith(prefix))


def write(td, name, data: bytes):
    path = td.root / name
    path.write_bytes(data)
    return path


def idp_cert_with_key(td):
    key = private_key("rsa2048", 1)
    return write(td, "idp-with-key.pem", cert_pem(certificate(key)) + key_pem(key))


def idp_two_certs(td):
    key = private_key("rsa2048", 1)
    return write(td, "idp-two.pem", cert_pem(certificate(key)) + cert_pem(certificate(key)))


def mismatched_pair(td):
    k, _, _ = write_keypair(td.root, "k1", slot=0)
    _, c, _ = write_keypair(td.root, "k2", slot=1)
    return k, c


def idp_block(cert, sso="https://idp.example.test/sso"):
    return (f"        IdBrokerIdPEntityID https://idp.example.test/entity\n"
            f"        IdBrokerIdPSSOURL {sso}\n"
            f"        IdBrokerIdPCert {cert}\n")


CASES = {
    "missing-signin-id": Case(
        one(lambda td: without_line(conf(td), "IdBrokerSignInID")),
        "t1.conf", "<IdBrokerTenant", "has no IdBrokerSignInID"),
    "bad-signin-id": Case(
        one(lambda td: conf(td, signin_id="acme_corp")),
        "t1.conf", "IdBrokerSignInID", "may contain only letters, digits and '-'"),
    "duplicate-signin-id": Case(
        lambda td: [("t1.conf", conf(td, name="one", signin_id="acme")),
                    ("t2.conf", conf(td, name="two", signin_id="ACME"))],
        "t2.conf", "IdBrokerSignInID", "is already used by tenant 'one'"),
    "duplicate-tenant-name": Case(
        lambda td: [("t1.conf", conf(td, signin_id="a1")),
                    ("t2.conf", conf(td, signin_id="a2"))],
        "t2.conf", "<IdBrokerTenant", "tenant 'acme' is already defined"),
    "uppercase-guid": Case(
        one(lambda td: conf(td, scope=GUID.upper())),
        "t1.conf", "IdBrokerSPEntityScope", "is not a lowercase GUID"),
    "duplicate-guid": Case(
        lambda td: [("t1.conf", conf(td, name="one", scope=GUID)),
                    ("t2.conf", conf(td, name="two", scope=GUID))],
        "t2.conf", "IdBrokerSPEntityScope", "is already used by the primary app of tenant 'one'"),
    "missing-key-file": Case(
        one(lambda td: conf(td).replace(str(td.key), "/nonexistent/sp.key")),
        "t1.conf", "IdBrokerSPKey", "cannot read '/nonexistent/sp.key'"),
    "garbage-key": Case(
        one(lambda td: conf(td).replace(str(td.key), str(write(td, "junk.key", b"hello")))),
        "t1.conf", "IdBrokerSPKey", "is not a PEM private key"),
    "cert-key-mismatch": Case(
        one(lambda td: (lambda kc: tenant_conf("acme", BASE, kc[0], kc[1]))(mismatched_pair(td))),
        "t1.conf", "IdBrokerSPKey", "does not belong to the key"),
    "weak-rsa-key": Case(
        one(lambda td: (lambda k: tenant_conf("acme", BASE, k[0], k[1]))(
            write_keypair(td.root, "weak", kind="rsa1024"))),
        "t1.conf", "IdBrokerSPKey", "use at least 2048 bits"),
    "bad-activate-at": Case(
        one(lambda td: conf(td, tenant_extra=f"    IdBrokerSPKey {td.key} {td.cert} activate-at=2024-03-23T17:00\n")),
        "t1.conf", "activate-at=2024-03-23", "is not a UTC instant"),
    "base-url-plain-http": Case(
        one(lambda td: conf(td, base_url="http://saml.example.test")),
        "t1.conf", "IdBrokerSPBaseURL", "must use https"),
    "base-url-with-query": Case(
        one(lambda td: conf(td, base_url="https://saml.example.test/?x=1")),
        "t1.conf", "IdBrokerSPBaseURL", "must not contain a ?query"),
    "idp-cert-with-private-key": Case(
        one(lambda td: conf(td, app_extra=idp_block(idp_cert_with_key(td)))),
        "t1.conf", "IdBrokerIdPCert", "contains a private key"),
    "idp-cert-file-with-two-certs": Case(
        one(lambda td: conf(td, app_extra=idp_block(idp_two_certs(td)))),
        "t1.conf", "IdBrokerIdPCert", "holds 2 certificates"),
    "idp-sso-url-not-https": Case(
        one(lambda td: conf(td, app_extra=idp_block(td.cert, sso="http://idp.example.test/sso"))),
        "t1.conf", "IdBrokerIdPSSOURL", "must use https"),
    "incomplete-idp": Case(
        one(lambda td: conf(td, app_extra="        IdBrokerIdPEntityID https://idp.example.test/e\n")),
        "t1.conf", "<IdBrokerApp", "missing: IdBrokerIdPSSOURL IdBrokerIdPCert"),
    "directive-outside-tenant": Case(
        one(lambda td: "IdBrokerSignInID stray\n"),
        "t1.conf", "IdBrokerSignInID", "belongs inside an <IdBrokerTenant NAME> section"),
    "tenant-directive-inside-app": Case(
        one(lambda td: conf(td, app_extra="        IdBrokerSSOBinding post\n")),
        "t1.conf", "IdBrokerSSOBinding", "applies to the whole tenant"),
    "unknown-app-kind": Case(
        one(lambda td: conf(td).replace("<IdBrokerApp primary>", "<IdBrokerApp secondary>")),
        "t1.conf", "<IdBrokerApp", "the app is 'primary' or 'custom-domain'"),
    "bad-response-signing": Case(
        one(lambda td: conf(td, tenant_extra="    IdBrokerResponseSigning sometimes\n")),
        "t1.conf", "IdBrokerResponseSigning", "takes either, response, assertion or both"),
    "directive-given-twice": Case(
        one(lambda td: conf(td, tenant_extra="    IdBrokerSignInID again\n")),
        "t1.conf", "IdBrokerSignInID again", "is given twice"),
    "no-primary-app": Case(
        one(lambda td: re.sub(r"    <IdBrokerApp primary>.*</IdBrokerApp>\n", "", conf(td), flags=re.S)),
        "t1.conf", "<IdBrokerTenant", "has no <IdBrokerApp primary> section"),
    "no-sp-key": Case(
        one(lambda td: without_line(conf(td), "IdBrokerSPKey")),
        "t1.conf", "<IdBrokerTenant", "has no SP signing key"),
    "tenant-inside-virtualhost": Case(
        one(lambda td: "<VirtualHost 127.0.0.1:1>\n" + conf(td) + "</VirtualHost>\n"),
        "t1.conf", "<IdBrokerTenant", "cannot occur within"),
}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_bad_tenant_config_fails_configtest_with_file_and_line(case_id, httpd_factory, module_path):
    case = CASES[case_id]
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    written = {name: td.write(name, text) for name, text in case.files(td)}
    httpd.write_config(td.include())

    result = httpd.configtest()
    output = result.stdout + result.stderr

    assert result.returncode != 0, output
    bad = written[case.bad_file]
    lines = bad.read_text().splitlines()
    expected_line = next(i for i, l in enumerate(lines, 1) if case.marker in l)
    assert f"on line {expected_line} of {bad}" in output, output
    assert case.message in output, output


def test_valid_tenant_config_passes_configtest(httpd_factory, module_path):
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    td.write("acme.conf", conf(td, scope=GUID, app_extra=idp_block(td.cert)))
    td.write("beta.conf", conf(td, name="beta"))
    httpd.write_config(td.include())
    result = httpd.configtest()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Syntax OK" in result.stdout + result.stderr
