"""Test PKI: SP key pairs and IdP certificates with any validity window,
written as the files operators would give the module."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

UTC = dt.timezone.utc


@lru_cache(maxsize=None)
def private_key(kind: str = "rsa2048", slot: int = 0):
    """Key generation is slow; tests share keys by (kind, slot)."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(kind)


def certificate(key, cn: str = "sp.test", not_before: dt.datetime | None = None,
                not_after: dt.datetime | None = None) -> x509.Certificate:
    now = dt.datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(days=1))
            .not_valid_after(not_after or now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_b64(cert: x509.Certificate) -> str:
    """The Base64 DER text that metadata carries in ds:X509Certificate."""
    import base64
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def write_keypair(directory: Path, name: str, kind: str = "rsa2048", slot: int = 0,
                  **validity) -> tuple[Path, Path, x509.Certificate]:
    """Writes NAME.key and NAME.crt; returns (key path, cert path, cert)."""
    key = private_key(kind, slot)
    cert = certificate(key, **validity)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(key_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert_pem(cert))
    return key_path, cert_path, cert


def days(n: float) -> dt.datetime:
    return dt.datetime.now(UTC) + dt.timedelta(days=n)


def utc_text(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
