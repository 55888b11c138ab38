"""The two service providers under test, on private httpd instances with the
same MPM settings: mod_auth_idbroker (shmcb or sealed redis sessions) and
mod_auth_mellon (its own SP key/cert, IdP metadata of the bench IdP).

Sign-in steps are split so the bench can time the browser's requests and
keep Response signing out of the timed part:
  start(conn, item)  -> what the SP sent the browser to the IdP with (timed)
  decode(start)      -> request ID, relay state, ACS, audience      (untimed)
  finish(conn, item) -> POST of the signed Response to the ACS     (timed)
"""
from __future__ import annotations

import base64
import html
import re
import secrets
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pki
from common import (BenchHttpd, Conn, Idp, get_req, header, post_req, set_cookies,
                    workdir)

PORTAL = "/portal/page.html"
OPEN = "/open/page.html"
MELLON_PORTAL = "/mellon-portal/page.html"


def _keypair(d: Path, kind: str) -> tuple[Path, Path, str]:
    key, crt, cert = pki.write_keypair(d, "sp-" + kind, kind=kind, slot=41)
    return key, crt, pki.cert_b64(cert)


# ---------------------------------------------------------------- ours
class IdBrokerSp:
    kind = "idbroker"

    def __init__(self, name: str, idp: Idp, *, key_kind: str = "rsa2048",
                 cache: str | None = None, store_key: bool = False,
                 sign_requests: bool = True, extra_modules=(), app_extra: str = "",
                 server_extra: str = "", idp_pinned: bool = True, start: bool = True,
                 session_max_age: int = 86400, sso_binding: str = "post"):
        self.dir = workdir(name)
        self.httpd = BenchHttpd(self.dir / "httpd", None)
        self.port = self.httpd.port
        self.idp = idp
        self.sso_binding = sso_binding
        td = self.dir / "tenant"
        td.mkdir(mode=0o755)
        self.key, self.crt, _ = _keypair(td, key_kind)
        lines = [f"IdBrokerSessionCache {cache}"] if cache else []
        if store_key:
            kf = td / "store.key"
            kf.write_text(secrets.token_hex(32) + "\n")
            kf.chmod(0o600)
            lines.append(f"IdBrokerStoreKey bench {kf}")
        pinned = (f"        IdBrokerIdPEntityID {idp.entity_id}\n"
                  f"        IdBrokerIdPSSOURL https://idp.bench.test/sso\n"
                  f"        IdBrokerIdPCert {idp.cert_path}\n") if idp_pinned else ""
        tenant = (f"<IdBrokerTenant bench>\n"
                  f"    IdBrokerSignInID bench\n"
                  f"    IdBrokerSPKey {self.key} {self.crt}\n"
                  f"    IdBrokerSignRequests {'On' if sign_requests else 'Off'}\n"
                  f"    IdBrokerSSOBinding {sso_binding}\n"
                  f"    IdBrokerSessionMaxAge {session_max_age}\n"
                  f"    <IdBrokerApp primary>\n"
                  f"        IdBrokerSPBaseURL http://127.0.0.1:{self.port}\n"
                  f"{pinned}{app_extra}"
                  f"    </IdBrokerApp>\n</IdBrokerTenant>\n")
        body = ("\n".join(lines) + "\n" + server_extra + tenant
                + "<Location /portal>\n    AuthType IdBroker\n    Require valid-user\n"
                  "</Location>\n"
                  "<Location /idbroker-status>\n    SetHandler idbroker-status\n"
                  "    Require ip 127.0.0.1\n</Location>\n")
        self.httpd.write_bench_config(body, extra_modules=extra_modules)
        self.acs = f"http://127.0.0.1:{self.port}/saml/acs"
        self.audience = None
        if start:
            self.httpd.start()

    # ---- sign-in steps
    def start(self, conn: Conn, _item=None):
        st, head, body = conn.request(get_req(self.port, PORTAL))
        if self.sso_binding == "redirect" and st in (302, 303):
            # HTTP-Redirect: the AuthnRequest (and its signature) is the URL.
            return ("ok", set_cookies(head), header(head, "Location").encode())
        if st != 200:
            return ("fail", st, body[-300:].decode(errors="replace"))
        return ("ok", set_cookies(head), body)

    def decode(self, started) -> dict | None:
        if started is None or started[0] != "ok":
            return None
        cookies, body = started[1], started[2]
        page = body.decode()
        if self.sso_binding == "redirect":
            q = parse_qs(urlsplit(page).query)
            if "SAMLRequest" not in q:
                return None
            xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15).decode()
            relay = q.get("RelayState", [None])[0]
            m = None
        else:
            m = re.search(r'name="SAMLRequest" value="([^"]+)"', page)
            r = re.search(r'name="RelayState" value="([^"]*)"', page)
            if not m:
                return None
            xml = base64.b64decode(html.unescape(m.group(1))).decode()
            relay = html.unescape(r.group(1)) if r else None
        rid = re.search(r'\sID="([^"]+)"', xml).group(1)
        if self.audience is None:
            self.audience = re.search(r"<(?:\w+:)?Issuer[^>]*>([^<]+)<", xml).group(1)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items()
                           if k.startswith("idbroker_state_"))
        return {"irt": rid, "relay": relay,
                "cookie": cookie, "acs": self.acs, "audience": self.audience}

    def finish(self, conn: Conn, item):
        form = {"SAMLResponse": base64.b64encode(item["xml"].encode()).decode()}
        if item.get("relay"):
            form["RelayState"] = item["relay"]
        st, head, body = conn.request(post_req(self.port, "/saml/acs", form, item["cookie"]))
        sess = set_cookies(head).get("idbroker_session")
        if st == 303 and sess:
            return ("ok", sess)
        return ("fail", st, body[-400:].decode(errors="replace"))

    def session_cookie(self, value: str) -> str:
        return f"idbroker_session={value}"

    def protected(self) -> str:
        return PORTAL


# ---------------------------------------------------------------- mellon
class MellonSp:
    kind = "mellon"

    def __init__(self, name: str, idp: Idp, *, key_kind: str = "rsa2048",
                 cache_size: int = 1000, entry_size: int = 32768, start: bool = True,
                 tuned: bool = True):
        self.dir = workdir(name)
        self.httpd = BenchHttpd(self.dir / "httpd", None)
        self.port = self.httpd.port
        self.idp = idp
        md = self.dir / "mellon"
        md.mkdir(mode=0o755)
        self.key, self.crt, cert_b64 = _keypair(md, key_kind)
        self.key.chmod(0o644)   # mellon reads it in the child (www-data) on first use
        base = f"http://127.0.0.1:{self.port}/mellon-portal/mellon"
        self.entity = f"{base}/metadata"
        self.acs = f"{base}/postResponse"
        sp_md = (f'<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
                 f'entityID="{self.entity}"><SPSSODescriptor AuthnRequestsSigned="true" '
                 f'WantAssertionsSigned="true" '
                 f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                 f'<KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
                 f'<ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data>'
                 f'</ds:KeyInfo></KeyDescriptor>'
                 f'<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
                 f'Location="{base}/logout"/>'
                 f'<AssertionConsumerService index="0" isDefault="true" '
                 f'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{self.acs}"/>'
                 f'</SPSSODescriptor></EntityDescriptor>')
        (md / "sp.xml").write_text(sp_md)
        (md / "idp.xml").write_text(idp.metadata())
        for f in md.iterdir():
            if f.suffix in (".xml", ".crt"):
                f.chmod(0o644)
        body = (f"MellonCacheSize {cache_size}\nMellonCacheEntrySize {entry_size}\n"
                f"MellonLockFile {self.httpd.rundir}/mellon.lock\n"
                f"<Location /mellon-portal>\n"
                f"    AuthType Mellon\n    MellonEnable auth\n    Require valid-user\n"
                f"    MellonEndpointPath /mellon-portal/mellon\n"
                f"    MellonSPPrivateKeyFile {self.key}\n    MellonSPCertFile {self.crt}\n"
                f"    MellonSPMetadataFile {md}/sp.xml\n"
                f"    MellonIdPMetadataFile {md}/idp.xml\n"
                f"    MellonSecureCookie Off\n    MellonUser NAME_ID\n"
                f"    MellonSessionLength 86400\n"
                f"</Location>\n")
        self.httpd.write_bench_config(body, extra_modules=["auth_mellon"], idbroker=False)
        self.audience = self.entity
        self.tuned = tuned
        if tuned:
            # mellon 0.18 builds a LassoServer for every request that needs one
            # (its per-request merged dir config owns it), and xmlsec then
            # loads the system CA bundle each time (~60 ms). Pointing OpenSSL's
            # default paths at an empty bundle removes that: "tuned mellon".
            empty = self.dir / "empty-ca.pem"
            empty.write_text("")
            empty.chmod(0o644)
            self.httpd.env_extra = {"SSL_CERT_FILE": str(empty),
                                    "SSL_CERT_DIR": str(self.dir / "no-ca-dir")}
        if start:
            self.httpd.start()

    def start(self, conn: Conn, _item=None):
        """The browser's way in: protected page -> /login -> 303 to the IdP."""
        st, head, body = conn.request(get_req(self.port, MELLON_PORTAL))
        cookies = set_cookies(head)
        hops = 0
        while st in (302, 303) and hops < 3:
            loc = header(head, "Location")
            if loc is None or not loc.startswith(f"http://127.0.0.1:{self.port}/") and \
                    not loc.startswith("/"):
                return ("ok", cookies, loc or "")
            path = loc.split(f"127.0.0.1:{self.port}", 1)[-1]
            ck = "; ".join(f"{k}={v}" for k, v in cookies.items())
            st, head, body = conn.request(get_req(self.port, path, ck))
            cookies.update(set_cookies(head))
            hops += 1
        if st in (302, 303):
            return ("ok", cookies, header(head, "Location") or "")
        if st == 200 and b"SAMLRequest" in body:
            return ("ok", cookies, body.decode(errors="replace"))
        return ("fail", st, body[-300:].decode(errors="replace"))

    def decode(self, started) -> dict | None:
        if started is None or started[0] != "ok":
            return None
        cookies, where = started[1], started[2]
        if where.startswith("http"):
            q = parse_qs(urlsplit(where).query)
            xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15).decode()
            relay = q.get("RelayState", [None])[0]
        else:
            m = re.search(r'name="SAMLRequest" value="([^"]+)"', where)
            xml = base64.b64decode(html.unescape(m.group(1))).decode()
            r = re.search(r'name="RelayState" value="([^"]*)"', where)
            relay = html.unescape(r.group(1)) if r else None
        rid = re.search(r'\sID="([^"]+)"', xml).group(1)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return {"irt": rid, "relay": relay, "cookie": cookie, "acs": self.acs,
                "audience": self.entity}

    def finish(self, conn: Conn, item):
        form = {"SAMLResponse": base64.b64encode(item["xml"].encode()).decode()}
        if item.get("relay"):
            form["RelayState"] = item["relay"]
        st, head, body = conn.request(post_req(self.port, "/mellon-portal/mellon/postResponse",
                                               form, item["cookie"]))
        sess = set_cookies(head).get("mellon-cookie")
        if st in (302, 303) and sess and sess != "cookietest":
            return ("ok", sess)
        return ("fail", st, body[-400:].decode(errors="replace"))

    def session_cookie(self, value: str) -> str:
        return f"mellon-cookie={value}"

    def protected(self) -> str:
        return MELLON_PORTAL


# ---------------------------------------------------------------- one sign-in
def sign_in_once(sp, signer, user: str = "bench0@example.test") -> str | None:
    """One real SAML sign-in (untimed): the session cookie value, or None."""
    from common import log
    conn = Conn(sp.port)
    started = sp.start(conn)
    item = sp.decode(started)
    if item is None:
        log(f"{sp.kind}: sign-in start failed: {started}")
        return None
    item["xml"] = signer.response(acs=item["acs"], audience=item["audience"],
                                  irt=item["irt"], user=user, n=0)
    res = sp.finish(conn, item)
    conn.close()
    if res[0] != "ok":
        log(f"{sp.kind}: sign-in failed: {res}\n{sp.httpd.error_log()[-1500:]}")
        return None
    return res[1]
