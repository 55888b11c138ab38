#!/usr/bin/python3
"""The parts of examples/demo.sh that are easier in Python than in bash.

    demo_helper.py tenant-info CONF...
        one line per tenant: CONF TAB NAME TAB SP-BASE-URL TAB SCOPE-GUID|-
    demo_helper.py apply-idp --metadata FILE --cert-dir DIR CONF...
        read the IdP's entity ID, SSO URL (HTTP-POST preferred, else
        HTTP-Redirect), optional SLO URL and signing certificates from SAML
        metadata; write the certificates as DIR/idp-signing-N.pem and put the
        IdP connection into the primary app of every tenant in CONF...
    demo_helper.py ssp-setup --idp-dir DIR --port N --templates DIR --users FILE
        write the config of the local SimpleSAMLphp IdP (key pair made once)
    demo_helper.py fetch URL OUT [--metadata]
    demo_helper.py wait-url URL --contains TEXT [--timeout S]
    demo_helper.py trust-sp --idp-dir DIR FILE...
        make the local IdP trust exactly the SPs in these metadata files
    demo_helper.py op-setup --op-dir DIR --port N --client-id ID --rp-base URL
                            [--node PATH]
        write the config of the local OpenID Provider (tests/integration/op/
        server.js): signing key, cookie key and client secret made once (the
        secret also in DIR/client.secret), the client registered for the
        RP at URL, the demo users
    demo_helper.py entity-id FILE

Errors go to stderr as "demo: ...", exit code 1. Only the standard library,
lxml, the openssl command and (for op-setup) node are used.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from lxml import etree

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEFORMAT_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SSP_WWW = Path("/usr/share/simplesamlphp/www")

# The lines apply-idp writes into a tenant conf, so the next run can take
# them out again: a block between two markers, and the operator's own IdP
# directives it had to switch off (commented out with a prefix).
MARK_BEGIN = "# >>> examples/demo.sh: IdP connection, rewritten on every demo start"
MARK_END = "# <<< examples/demo.sh"
OFF = "# [off: examples/demo.sh] "
CERT_PREFIX = "idp-signing-"
APP_IDP_DIRECTIVES = {"idbrokeridpentityid", "idbrokeridpssourl", "idbrokeridpslourl",
                      "idbrokeridpcert"}
TENANT_IDP_DIRECTIVES = {"idbrokerssobinding"}


class Fail(Exception):
    pass


def xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    data = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mkdir_755(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def conf_value(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


# ------------------------------------------------------------ tenant confs
def directive(line: str) -> tuple[str, str] | None:
    """(lower-case name, rest) of a directive or section line; None for
    blank lines and comments."""
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    name, _, rest = s.partition(" ")
    if "\t" in name:
        name, _, more = name.partition("\t")
        rest = more + " " + rest
    return name.lower(), rest.strip()


def tenant_info(conf: Path) -> list[tuple[str, str, str]]:
    """[(tenant name, primary SP base URL, scope GUID or "")]."""
    out = []
    tenant = app = None
    base = scope = ""
    for line in conf.read_text().splitlines():
        d = directive(line)
        if d is None:
            continue
        name, rest = d
        if name == "<idbrokertenant":
            tenant, app = conf_value(rest.rstrip(">")), None
            base = scope = ""
        elif name == "<idbrokerapp":
            app = conf_value(rest.rstrip(">"))
        elif name == "</idbrokerapp>":
            app = None
        elif name == "</idbrokertenant>":
            if tenant is not None:
                out.append((tenant, base, scope))
            tenant = None
        elif app == "primary" and name == "idbrokerspbaseurl":
            base = conf_value(rest)
        elif app == "primary" and name == "idbrokerspentityscope":
            scope = conf_value(rest)
    if not out:
        raise Fail(f"{conf}: no <IdBrokerTenant> section")
    for tenant, base, _ in out:
        if not base:
            raise Fail(f"{conf}: tenant {tenant} has no <IdBrokerApp primary> "
                       f"with an IdBrokerSPBaseURL")
    return out


def cmd_tenant_info(args) -> None:
    for conf in args.confs:
        for tenant, base, scope in tenant_info(Path(conf)):
            print(f"{conf}\t{tenant}\t{base}\t{scope or '-'}")


def restore_conf(lines: list[str]) -> list[str]:
    """The conf as it was before any earlier apply-idp."""
    out, skipping = [], False
    for line in lines:
        s = line.strip()
        if s.startswith(MARK_BEGIN[:24]):
            skipping = True
            continue
        if skipping:
            if s.startswith(MARK_END):
                skipping = False
            continue
        if s.startswith(OFF):
            indent = line[:len(line) - len(line.lstrip())]
            line = indent + s[len(OFF):]
        out.append(line)
    return out


def apply_to_conf(conf: Path, idp: dict, cert_refs: list[str], source: str) -> int:
    """Puts the IdP connection into every tenant's primary app; returns the
    number of tenants changed."""
    lines = restore_conf(conf.read_text().splitlines())
    out: list[str] = []
    in_tenant = False
    app = None
    done = 0
    for line in lines:
        d = directive(line)
        indent = line[:len(line) - len(line.lstrip())]
        name = d[0] if d else None
        if name == "<idbrokertenant":
            in_tenant, app = True, None
        elif name == "</idbrokertenant>":
            in_tenant = False
        elif in_tenant and name == "<idbrokerapp":
            app = conf_value(d[1].rstrip(">"))
            if app == "primary":
                out += [indent + MARK_BEGIN,
                        f"{indent}# (from {source})",
                        f"{indent}IdBrokerSSOBinding {idp['binding']}",
                        indent + MARK_END]
        elif in_tenant and name == "</idbrokerapp>":
            if app == "primary":
                inner = indent + "    "
                out += [inner + MARK_BEGIN,
                        f"{inner}# (from {source})",
                        f"{inner}IdBrokerIdPEntityID {idp['entity_id']}",
                        f"{inner}IdBrokerIdPSSOURL {idp['sso_url']}"]
                if idp["slo_url"]:
                    out.append(f"{inner}IdBrokerIdPSLOURL {idp['slo_url']}")
                out += [f"{inner}IdBrokerIdPCert {ref}" for ref in cert_refs]
                out.append(inner + MARK_END)
                done += 1
            app = None
        elif in_tenant and name is not None and (
                (app is None and name in TENANT_IDP_DIRECTIVES)
                or (app == "primary" and name in APP_IDP_DIRECTIVES)):
            line = indent + OFF + line.strip()
        out.append(line)
    if done == 0:
        raise Fail(f"{conf}: no <IdBrokerApp primary> section to connect the IdP to")
    write_atomic(conf, "\n".join(out) + "\n", conf.stat().st_mode & 0o777)
    return done


def safe_conf_token(what: str, value: str | None) -> str:
    if not value:
        raise Fail(f"the IdP metadata has no {what}")
    if re.search(r"[\s\"'\\<>\x00-\x1f\x7f]", value):
        raise Fail(f"the IdP's {what} contains spaces, quotes or control characters, "
                   f"which a tenant conf cannot hold: {value!r}")
    return value


def pick_endpoint(descriptor, tag: str) -> tuple[str | None, str | None]:
    """(location, "post"|"redirect") of the first HTTP-POST endpoint, else
    the first HTTP-Redirect one; (None, None) if neither exists."""
    found = {}
    for ep in descriptor.findall(f"{{{MD}}}{tag}"):
        binding, loc = ep.get("Binding"), ep.get("Location")
        if loc and binding in (BINDING_POST, BINDING_REDIRECT):
            found.setdefault(binding, loc.strip())
    if BINDING_POST in found:
        return found[BINDING_POST], "post"
    if BINDING_REDIRECT in found:
        return found[BINDING_REDIRECT], "redirect"
    return None, None


def parse_idp_metadata(path: Path) -> dict:
    try:
        root = etree.parse(str(path), xml_parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as e:
        raise Fail(f"{path}: not readable SAML metadata: {e}") from None
    if root.tag == f"{{{MD}}}EntityDescriptor":
        entities = [root]
    elif root.tag == f"{{{MD}}}EntitiesDescriptor":
        entities = list(root.iter(f"{{{MD}}}EntityDescriptor"))
    else:
        raise Fail(f"{path}: not SAML metadata (root element {root.tag})")
    idps = []
    for ed in entities:
        for desc in ed.findall(f"{{{MD}}}IDPSSODescriptor"):
            if SAML2_PROTOCOL in (desc.get("protocolSupportEnumeration") or "").split():
                idps.append((ed, desc))
                break
    if not idps:
        raise Fail(f"{path}: no SAML 2.0 identity provider (IDPSSODescriptor) in it")
    if len(idps) > 1:
        names = ", ".join(ed.get("entityID") or "?" for ed, _ in idps)
        raise Fail(f"{path}: holds {len(idps)} identity providers ({names}); "
                   f"save the one to use in a file of its own")
    ed, desc = idps[0]
    sso_url, binding = pick_endpoint(desc, "SingleSignOnService")
    if sso_url is None:
        bindings = sorted({ep.get("Binding") or "?" for ep in
                           desc.findall(f"{{{MD}}}SingleSignOnService")})
        raise Fail(f"{path}: no SingleSignOnService with the HTTP-POST or HTTP-Redirect "
                   f"binding (found: {', '.join(bindings) or 'none'})")
    slo_url, _ = pick_endpoint(desc, "SingleLogoutService")
    certs: list[bytes] = []
    for kd in desc.findall(f"{{{MD}}}KeyDescriptor"):
        if kd.get("use") not in (None, "signing"):
            continue
        for x in kd.iter(f"{{{DS}}}X509Certificate"):
            try:
                der = base64.b64decode("".join((x.text or "").split()), validate=True)
            except ValueError:
                raise Fail(f"{path}: a signing X509Certificate is not valid Base64") from None
            if der and der not in certs:
                certs.append(der)
    if not certs:
        raise Fail(f"{path}: the IdP publishes no signing certificate "
                   f"(KeyDescriptor use=\"signing\" or without use)")
    return {
        "entity_id": safe_conf_token("entityID", ed.get("entityID")),
        "sso_url": safe_conf_token("SSO URL", sso_url),
        "binding": binding,
        "slo_url": safe_conf_token("SLO URL", slo_url) if slo_url else None,
        "certs": certs,
    }


def pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def describe_cert(path: Path) -> str:
    """'subject, valid until ...' from openssl; fails on a non-certificate."""
    proc = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-subject",
                           "-enddate", "-nameopt", "oneline"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise Fail(f"the IdP metadata holds a signing certificate openssl cannot read "
                   f"({path}): {proc.stderr.strip()}")
    fields = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return f"{fields.get('subject', '?').strip()}, valid until {fields.get('notAfter', '?')}"


def cmd_apply_idp(args) -> None:
    metadata = Path(args.metadata)
    idp = parse_idp_metadata(metadata)
    cert_dir = Path(args.cert_dir)
    for old in cert_dir.glob(CERT_PREFIX + "*.pem"):
        if old.is_symlink() or not old.is_file():
            raise Fail(f"{old} is in the way of the IdP certificates the demo writes")
        old.unlink()
    cert_paths = []
    for i, der in enumerate(idp["certs"], 1):
        path = cert_dir / f"{CERT_PREFIX}{i}.pem"
        write_atomic(path, pem(der))
        cert_paths.append(path)
    descriptions = [describe_cert(p) for p in cert_paths]
    source = args.source or str(metadata)
    for conf in map(Path, args.confs):
        refs = [os.path.relpath(p, conf.parent) for p in cert_paths]
        apply_to_conf(conf, idp, refs, source)
    print(f"  IdP entity ID:   {idp['entity_id']}")
    print(f"  IdP SSO URL:     {idp['sso_url']}  (IdBrokerSSOBinding {idp['binding']})")
    print(f"  IdP SLO URL:     {idp['slo_url'] or '(none in the metadata)'}")
    for path, der, desc in zip(cert_paths, idp["certs"], descriptions):
        fp = hashlib.sha256(der).hexdigest().upper()
        print(f"  IdP certificate: {path}\n"
              f"                   {desc}\n"
              f"                   SHA-256 {':'.join(fp[i:i + 2] for i in range(0, 64, 2))}")


# ------------------------------------------------------------ local IdP
def openssl_keypair(key: Path, cert: Path, cn: str) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:3072", "-sha256", "-nodes",
                    "-days", "3650", "-subj", f"/CN={cn}", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o600)
    cert.chmod(0o644)


def keypair_ok(key: Path, cert: Path) -> bool:
    if not (key.is_file() and cert.is_file()):
        return False
    check = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-checkend",
                            str(30 * 86400)], capture_output=True, check=False)
    return check.returncode == 0


def cmd_ssp_setup(args) -> None:
    if not SSP_WWW.is_dir():
        raise Fail(f"{SSP_WWW} not found: is the simplesamlphp package installed?")
    idp_dir = mkdir_755(Path(args.idp_dir))
    templates = Path(args.templates)
    config = mkdir_755(idp_dir / "config")
    metadata = mkdir_755(config / "metadata")
    mkdir_755(config / "sp")
    docroot = mkdir_755(idp_dir / "docroot")
    dirs = {name: mkdir_755(idp_dir / name) for name in ("log", "tmp", "sessions", "data")}
    link = docroot / "simplesaml"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(SSP_WWW)

    key, cert = config / "idp.key", config / "idp.crt"
    if not keypair_ok(key, cert):   # made once: the SP pins this certificate
        openssl_keypair(key, cert, "demo-idp.127.0.0.1")

    for name in ("config.php", "authsources.php"):
        write_atomic(config / name, (templates / name).read_bytes())
    for name in ("saml20-idp-hosted.php", "saml20-sp-remote.php"):
        write_atomic(metadata / name, (templates / name).read_bytes())
    users = json.loads(Path(args.users).read_text())
    write_atomic(config / "users.json", json.dumps(users, indent=1))

    base = f"http://127.0.0.1:{args.port}"
    write_atomic(config / "settings.json", json.dumps({
        "port": args.port,
        "baseurlpath": f"{base}/simplesaml/",
        "certdir": f"{config}/",
        "logdir": f"{dirs['log']}/",
        "datadir": f"{dirs['data']}/",
        "tempdir": str(dirs["tmp"]),
        "sessiondir": str(dirs["sessions"]),
        "secretsalt": secrets.token_hex(16),
        "adminpassword": "admin-" + secrets.token_hex(8),
    }, indent=1))
    write_atomic(config / "idp.json", json.dumps({
        "entityid": f"{base}/simplesaml/saml2/idp/metadata.php",
        "metadata": {
            "host": "__DEFAULT__",
            "privatekey": str(key),
            "certificate": str(cert),
            "auth": "example-userpass",
            "saml20.sign.response": True,
            "saml20.sign.assertion": True,
            "signature.algorithm": RSA_SHA256,
            "validate.authnrequest": False,
            # Logout both ways signed and checked, over either binding: the
            # module refuses an unsigned LogoutResponse, and SimpleSAMLphp
            # signs HTTP-Redirect messages only when told to.
            "sign.logout": True,
            "validate.logout": True,
            "NameIDFormat": NAMEID_UNSPECIFIED,
            "simplesaml.nameidattribute": "cip_upn",
            "attributes.NameFormat": NAMEFORMAT_BASIC,
            "SingleSignOnServiceBinding": [BINDING_REDIRECT, BINDING_POST],
            "SingleLogoutServiceBinding": [BINDING_REDIRECT, BINDING_POST],
        },
    }, indent=1))


# ------------------------------------------------------------ local OP
# The local OpenID Provider's users: login name (= sub) -> claims. The demo's
# OIDC tenant asks for the scopes openid profile email cip and takes cip_upn
# from `email`; `cip` carries the other cip_* claims under their own names.
OP_ACCOUNTS = {
    "jane": {
        "email": "jane@example.test",
        "email_verified": True,
        "name": "Jane Doe",
        "given_name": "Jane",
        "family_name": "Doe",
        "preferred_username": "jane",
        "cip_upn": "jane@example.test",
        "cip_sid": "S-1-5-21-1111111111-2222222222-3333333333-1104",
        "cip_oid": "k6vKl3R1nUiJm5+8n1TnVw==",
        "cip_email": "jane@example.test",
        "cip_domain": "EXAMPLE",
        "cip_forest": "example.test",
    },
    # no email, no cip_upn, no cip_sid: the module refuses the sign-in
    "nosid": {
        "name": "No Sid",
        "given_name": "No",
        "family_name": "Sid",
        "preferred_username": "nosid",
    },
}
NODE_RSA_JWK = ("const c=require('node:crypto');"
                "const {privateKey}=c.generateKeyPairSync('rsa',{modulusLength:2048});"
                "process.stdout.write(JSON.stringify(privateKey.export({format:'jwk'})))")


def new_rsa_jwk(node: str) -> dict:
    """A fresh RS256 signing key as a private JWK, made by node's crypto."""
    try:
        proc = subprocess.run([node, "-e", NODE_RSA_JWK], capture_output=True, text=True,
                              check=False, timeout=60)
        if proc.returncode != 0:
            raise Fail(f"{node} could not make an RSA key: {proc.stderr.strip()[-500:]}")
        jwk = json.loads(proc.stdout)
    except (subprocess.TimeoutExpired, ValueError) as e:
        raise Fail(f"{node} could not make an RSA key: {e}") from None
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or "d" not in jwk:
        raise Fail(f"{node} made no RSA private key")
    jwk.update(kid=f"demo-rs256-{secrets.token_hex(4)}", alg="RS256", use="sig")
    return jwk


def cmd_op_setup(args) -> None:
    op_dir = mkdir_755(Path(args.op_dir))
    state_path = op_dir / "state.json"
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        state = {}
    # Made once, so a restart keeps the client secret the tenant conf names,
    # the OP's cookies and the ID tokens' key.
    if not isinstance(state.get("key"), dict) or "d" not in state["key"]:
        state["key"] = new_rsa_jwk(args.node)
    state.setdefault("cookie_key", secrets.token_urlsafe(32))
    state.setdefault("client_secret", secrets.token_urlsafe(32))
    write_atomic(state_path, json.dumps(state, indent=1), 0o600)
    write_atomic(op_dir / "client.secret", state["client_secret"] + "\n", 0o600)
    base = args.rp_base.rstrip("/")
    write_atomic(op_dir / "config.json", json.dumps({
        "port": args.port,
        "issuer": f"http://127.0.0.1:{args.port}",
        "cookie_keys": [state["cookie_key"]],
        "keys": [state["key"]],
        "clients": [{
            "client_id": args.client_id,
            "client_secret": state["client_secret"],
            "redirect_uris": [f"{base}/oidc/callback"],
            "post_logout_redirect_uris": [f"{base}/"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "RS256",
        }],
        "accounts": OP_ACCOUNTS,
    }, indent=1), 0o600)


def metadata_entity_ids(data: bytes, what: str) -> list[str]:
    try:
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as e:
        raise Fail(f"{what}: not XML: {e}") from None
    if root.tag == f"{{{MD}}}EntityDescriptor":
        ids = [root.get("entityID")]
    elif root.tag == f"{{{MD}}}EntitiesDescriptor":
        ids = [e.get("entityID") for e in root.iter(f"{{{MD}}}EntityDescriptor")]
    else:
        raise Fail(f"{what}: not SAML metadata (root element {root.tag})")
    if not ids or not all(ids):
        raise Fail(f"{what}: SAML metadata without an entityID")
    return ids


def cmd_trust_sp(args) -> None:
    sp_dir = mkdir_755(Path(args.idp_dir) / "config" / "sp")
    for old in sp_dir.iterdir():
        old.unlink()
    overrides = {
        # The module reads the user from cip_upn; SimpleSAMLphp sends it as
        # the NameID too (users without it get a transient NameID).
        "NameIDFormat": NAMEID_UNSPECIFIED,
        "simplesaml.nameidattribute": "cip_upn",
        "attributes.NameFormat": NAMEFORMAT_BASIC,
    }
    for n, name in enumerate(args.files):
        data = Path(name).read_bytes()
        ids = metadata_entity_ids(data, name)
        # json first: the xml is what makes the SP visible to the IdP
        write_atomic(sp_dir / f"sp{n:03d}.json", json.dumps(overrides, indent=1))
        write_atomic(sp_dir / f"sp{n:03d}.xml", data)
        for entity_id in ids:
            print(f"  IdP trusts SP:   {entity_id}")


# ------------------------------------------------------------ http
def http_get(url: str, timeout: float) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def cmd_fetch(args) -> None:
    try:
        status, body = http_get(args.url, 10)
    except (OSError, urllib.error.URLError) as e:
        raise Fail(f"GET {args.url}: {e}") from None
    if status != 200:
        raise Fail(f"GET {args.url}: HTTP {status}")
    if args.metadata:
        metadata_entity_ids(body, args.url)
    write_atomic(Path(args.out), body)


def cmd_wait_url(args) -> None:
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body = http_get(args.url, 2)
            if status == 200 and args.contains.encode() in body:
                return
            last = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        time.sleep(0.1)
    raise Fail(f"{args.url} did not answer within {args.timeout:.0f}s ({last})")


def cmd_entity_id(args) -> None:
    print(metadata_entity_ids(Path(args.file).read_bytes(), args.file)[0])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="demo_helper.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tenant-info")
    p.add_argument("confs", nargs="+")
    p.set_defaults(fn=cmd_tenant_info)
    p = sub.add_parser("apply-idp")
    p.add_argument("--metadata", required=True)
    p.add_argument("--cert-dir", required=True)
    p.add_argument("--source", help="where the metadata came from, for the conf comment")
    p.add_argument("confs", nargs="+")
    p.set_defaults(fn=cmd_apply_idp)
    p = sub.add_parser("ssp-setup")
    p.add_argument("--idp-dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--templates", required=True)
    p.add_argument("--users", required=True)
    p.set_defaults(fn=cmd_ssp_setup)
    p = sub.add_parser("trust-sp")
    p.add_argument("--idp-dir", required=True)
    p.add_argument("files", nargs="+")
    p.set_defaults(fn=cmd_trust_sp)
    p = sub.add_parser("op-setup")
    p.add_argument("--op-dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--rp-base", required=True)
    p.add_argument("--node", default="node")
    p.set_defaults(fn=cmd_op_setup)
    p = sub.add_parser("fetch")
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("--metadata", action="store_true", help="require SAML metadata")
    p.set_defaults(fn=cmd_fetch)
    p = sub.add_parser("wait-url")
    p.add_argument("url")
    p.add_argument("--contains", default="")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(fn=cmd_wait_url)
    p = sub.add_parser("entity-id")
    p.add_argument("file")
    p.set_defaults(fn=cmd_entity_id)
    args = ap.parse_args(argv)
    try:
        args.fn(args)
    except Fail as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"demo: {args.cmd}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
