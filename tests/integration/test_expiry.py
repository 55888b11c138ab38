"""Certificate expiry warnings in the error log (IDPCERT-2, SPKEY-8, LOG-5).

One tenant whose primary app pins an IdP certificate expiring in 10 days and
an expired one, and whose only SP signing key expires in 20 days with no
successor. Right after start the error log holds one line per finding (the
config-check pass httpd runs first logs nothing), with the expiry date and
the SHA-256 and SHA-1 fingerprints computed here independently; a graceful
restart logs every finding once more.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_expiry.py
"""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from pki import cert_pem, certificate, days, private_key, write_keypair
from tenants import TenantDir, tenant_conf

PREFIX = "mod_auth_idbroker: cert-expiry tenant=acme app=primary: "


def expiry_date(cert: x509.Certificate) -> str:
    return cert.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")   # naive UTC


def fingerprints(cert: x509.Certificate) -> tuple[str, str]:
    return (cert.fingerprint(hashes.SHA256()).hex().upper(),
            cert.fingerprint(hashes.SHA1()).hex().upper())


def start(httpd_factory, module_path):
    httpd = httpd_factory(module_path)
    td = TenantDir(httpd.workdir / "tenants.d")
    sp_key, sp_crt, sp_cert = write_keypair(td.root, "sp-soon", not_after=days(20))
    idp_key = private_key("rsa2048", 1)
    certs = {
        "soon": certificate(idp_key, cn="idp-soon.test", not_after=days(10)),
        "old": certificate(idp_key, cn="idp-old.test", not_before=days(-400),
                           not_after=days(-3)),
    }
    paths = {}
    for name, cert in certs.items():
        paths[name] = td.root / f"idp-{name}.crt"
        paths[name].write_bytes(cert_pem(cert))
    idp = ("        IdBrokerIdPEntityID https://idp.example.test/entity\n"
           "        IdBrokerIdPSSOURL https://idp.example.test/sso\n"
           f"        IdBrokerIdPCert {paths['soon']}\n"
           f"        IdBrokerIdPCert {paths['old']}\n")
    base = f"http://127.0.0.1:{httpd.port}"
    td.write("acme.conf", tenant_conf("acme", base, sp_key, sp_crt, app_extra=idp))
    httpd.write_config(td.include())
    httpd.start()
    return httpd, {"sp": (sp_key, sp_crt, sp_cert),
                   **{name: (paths[name], certs[name]) for name in certs}}


def expiry_lines(httpd) -> list[str]:
    return [line for line in httpd.error_log().splitlines() if "cert-expiry" in line]


def lines_with(lines: list[str], *needles: str) -> list[str]:
    return [line for line in lines if all(n in line for n in needles)]


def assert_findings(lines: list[str], files: dict, times: int) -> None:
    """Each finding exactly `times` times, at its level, with its details."""
    sp_key, sp_crt, sp_cert = files["sp"]
    soon_path, soon = files["soon"]
    old_path, old = files["old"]
    expected = [
        (":warn]", PREFIX + f"IdP certificate expires at {expiry_date(soon)}",
         "subject 'CN=idp-soon.test'", f"file {soon_path}", *fingerprints(soon)),
        (":error]", PREFIX + f"IdP certificate expired at {expiry_date(old)}; "
         "it verifies nothing", "subject 'CN=idp-old.test'", f"file {old_path}",
         *fingerprints(old)),
        (":warn]", PREFIX + f"the certificate of the active SP signing key {sp_key} "
         f"expires at {expiry_date(sp_cert)}", f"file {sp_crt}", *fingerprints(sp_cert)),
        (":warn]", PREFIX + f"the active SP signing key {sp_key} expires at "
         f"{expiry_date(sp_cert)}", "no successor is configured",
         "add IdBrokerSPKey NEW.key NEW.crt activate-at=",
         "publish the new metadata to the IdP"),
    ]
    for needles in expected:
        found = lines_with(lines, *needles)
        assert len(found) == times, (needles, found, lines)
    assert len(lines) == times * len(expected), lines


def test_expiry_findings_are_logged_at_start_and_on_graceful_restart(httpd_factory,
                                                                     module_path):
    httpd, files = start(httpd_factory, module_path)
    assert_findings(expiry_lines(httpd), files, times=1)

    httpd.reload()
    assert_findings(expiry_lines(httpd), files, times=2)
