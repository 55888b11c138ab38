"""Tenant conf files as operators write them, for the integration tests."""
from __future__ import annotations

from pathlib import Path

from pki import write_keypair


def tenant_conf(name: str, base_url: str, key: Path, cert: Path, *,
                signin_id: str | None = None, scope: str | None = None,
                tenant_extra: str = "", app_extra: str = "",
                custom_domain: str | None = None) -> str:
    scope_line = f"        IdBrokerSPEntityScope {scope}\n" if scope else ""
    custom = (f"    <IdBrokerApp custom-domain>\n{custom_domain}    </IdBrokerApp>\n"
              if custom_domain else "")
    return (f"<IdBrokerTenant {name}>\n"
            f"    IdBrokerSignInID {signin_id or name}\n"
            f"    IdBrokerSPKey {key} {cert}\n"
            f"{tenant_extra}"
            f"    <IdBrokerApp primary>\n"
            f"        IdBrokerSPBaseURL {base_url}\n"
            f"{scope_line}{app_extra}"
            f"    </IdBrokerApp>\n"
            f"{custom}"
            f"</IdBrokerTenant>\n")


class TenantDir:
    """A tenants.d directory with one shared SP key pair, included by httpd."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        self.key, self.cert, self.cert_obj = write_keypair(root, "sp")

    def write(self, filename: str, text: str) -> Path:
        path = self.root / filename
        path.write_text(text)
        return path

    def include(self) -> str:
        return f"Include {self.root}/*.conf\n"
