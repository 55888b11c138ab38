#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/seed-*.

    /usr/bin/python3 fuzz/seeds.py            # (re)write every seed-* file
    /usr/bin/python3 fuzz/seeds.py --new-keys # new fixture keys in fuzz_keys.h first

Seeds are valid (or deliberately hostile) inputs made with the project's own
test helpers: SAML Responses, logout messages and metadata by
tests/integration/testidp.py and test_idp_metadata.py (signed for real with
xmlsec1), JWTs signed with python3-cryptography. Everything that must verify
inside a harness is signed with the fixed test keys in fuzz/fuzz_keys.h (the
single copy of them: this script reads the C header) and dated around the
harnesses' pinned clock FZ_NOW, 2030-01-01T00:00:00Z.

Only seed-* files are rewritten; other files in the corpora (regression-*:
inputs that once crashed a target, kept as they are) are left alone.
Signatures and encryption use random nonces, so a rerun changes bytes but not
what the seeds exercise. Needs xmlsec1, python3-lxml, python3-cryptography.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

UTC = dt.timezone.utc
NOW = dt.datetime(2030, 1, 1, tzinfo=UTC)           # FZ_NOW
SP_BASE = "https://sp.fuzz.test"                       # FZ_SP_BASE
ACS = SP_BASE + "/saml/acs"
SLO = SP_BASE + "/saml/logout/callback"
IDP = "https://idp.fuzz.test/entity"                   # FZ_IDP_ENTITY
REQUEST_ID = "_fuzz-request-1"                         # FZ_REQUEST_ID
OP = "https://op.fuzz.test"                            # FZ_OP_ISSUER
CLIENT = "fuzz-client"
NONCE = "fuzz-nonce"
KEYS_H = HERE / "fuzz_keys.h"


# ------------------------------------------------------------------ keys
def new_keys() -> None:
    """Writes fuzz_keys.h with fresh test keys (RSA-2048 SP, IdP and JWS keys,
    a P-256 JWS key; SP and IdP certificates valid 2020..2099)."""
    def kpem(k):
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode()

    def cert(k, cn):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2099, 12, 31))
             .sign(k, hashes.SHA256()))
        return c.public_bytes(serialization.Encoding.PEM).decode()

    def gen():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sp, idp = gen(), gen()
    items = [("SP_KEY", kpem(sp)), ("SP_CERT", cert(sp, "sp.fuzz.test")),
             ("IDP_KEY", kpem(idp)), ("IDP_CERT", cert(idp, "idp.fuzz.test")),
             ("JWS_RSA_KEY", kpem(gen())), ("JWS_EC_KEY", kpem(ec.generate_private_key(ec.SECP256R1())))]
    out = ["/* Fixed key pairs of the fuzz fixtures: TEST KEYS ONLY, published on purpose,",
           " * never to be trusted anywhere. The seed corpus (fuzz/seeds.py) is signed with",
           " * them, so signed seeds verify inside the harnesses. Certificates are valid",
           " * 2020-01-01..2099-12-31; the harnesses pin the clock to FZ_NOW (2030).",
           " * Regenerate with `python3 fuzz/seeds.py --new-keys` (then regenerate the seeds). */",
           "#ifndef FUZZ_KEYS_H", "#define FUZZ_KEYS_H", ""]
    for name, pem in items:
        out.append(f"static const char FZ_{name}_PEM[] =")
        lines = pem.strip().split("\n")
        for i, line in enumerate(lines):
            out.append(f'    "{line}\\n"' + (";" if i == len(lines) - 1 else ""))
        out.append("")
    out.append("#endif")
    KEYS_H.write_text("\n".join(out) + "\n")


def pem(name: str) -> bytes:
    """A PEM block of fuzz_keys.h, e.g. pem("IDP_KEY")."""
    text = KEYS_H.read_text()
    m = re.search(r"FZ_%s_PEM\[\] =\s*((?:\"[^\"]*\"\s*)+);" % name, text)
    if not m:
        raise KeyError(name)
    return "".join(re.findall(r'"([^"]*)"', m.group(1))).replace("\\n", "\n").encode()


def private_key(name: str):
    return serialization.load_pem_private_key(pem(name), None)


# ------------------------------------------------------------------ output
CORPUS = HERE / "corpus"
written: dict[str, int] = {}


def seed(target: str, name: str, data: bytes | str, mode: int | None = None) -> None:
    """fuzz/corpus/<target>/seed-<name>; mode: the harness's leading byte."""
    if isinstance(data, str):
        data = data.encode()
    if mode is not None:
        data = bytes([mode]) + data
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)
    written[target] = written.get(target, 0) + 1


def clear_seeds() -> None:
    for f in CORPUS.glob("*/seed-*"):
        f.unlink()


def b64u(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ------------------------------------------------------------------ SAML
def fixture_idp():
    """A TestIdp carrying the fixture IdP key, so its signatures verify with
    the certificate the harness pins."""
    from testidp import TestIdp
    idp = TestIdp(entity_id=IDP)
    idp.key = private_key("IDP_KEY")
    idp.cert = x509.load_pem_x509_certificate(pem("IDP_CERT"))
    idp.cert_pem = pem("IDP_CERT")
    idp.cert_b64 = base64.b64encode(idp.cert.public_bytes(serialization.Encoding.DER)).decode()
    idp._key_path.write_bytes(pem("IDP_KEY"))
    idp._cert_path.write_bytes(pem("IDP_CERT"))
    return idp


GUID_B64 = base64.b64encode(bytes(range(16))).decode()
SID_BIN = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + b"".join(
    v.to_bytes(4, "little") for v in (1004336348, 1177238915, 682003330, 1109))
ATTRS = [("cip_upn", ["jdoe@corp.example.com"]), ("cip_sid", ["S-1-5-21-1004336348-1177238915-682003330-1109"]),
         ("cip_oid", [GUID_B64]), ("cip_email", ["jane.doe@corp.example.com"]),
         ("displayName", ["Jane Doe"]), ("firstName", ["Jane"]), ("lastName", ["Doe"]),
         ("cip_forest", ["corp.example.com"]), ("cip_domain", ["CORP"]),
         ("groups", ["staff", "vpn-users"])]


def saml_seeds(idp) -> None:
    import testidp as t
    common = dict(acs_url=ACS, audience=SP_BASE, in_response_to=REQUEST_ID, now=NOW,
                  attributes=ATTRS, name_id="jdoe@corp.example.com")
    adfs = idp.response(shape="adfs", **common)
    seed("saml_response", "adfs-signed-both.xml", adfs)
    seed("saml_response", "okta.xml", idp.response(shape="okta", **common))
    seed("saml_response", "entra-assertion-signed.xml", idp.response(shape="entra", **common))
    seed("saml_response", "ping-no-keyinfo.xml", idp.response(shape="ping", **common))
    plain = idp.response(shape="plain", sig_alg="rsa-sha1", digest_alg="sha1", **common)
    seed("saml_response", "plain-sha1.b64", base64.b64encode(plain.encode()).decode())
    seed("saml_response", "encrypted-aes256-gcm.xml",
         idp.response(shape="adfs", sign_response=False, encrypt_to_cert=pem("SP_CERT"),
                      enc_alg="aes256-gcm", **common))
    seed("saml_response", "encrypted-aes128-cbc.xml",
         idp.response(shape="okta", encrypt_to_cert=pem("SP_CERT"), enc_alg="aes128-cbc", **common))
    seed("saml_response", "status-authn-failed.xml",
         idp.response(shape="adfs", status="urn:oasis:names:tc:SAML:2.0:status:Responder",
                      second_status="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
                      status_message="cancelled", **common))
    xsw = t.xsw_variants(adfs)
    for name in ("XSW1", "XSW3", "XSW7"):
        if name in xsw:
            seed("saml_response", f"{name.lower()}.xml", xsw[name])
    seed("saml_response", "comment-in-nameid.xml", t.comment_in_name_id(adfs))
    seed("saml_response", "doctype.xml", t.doctype_xxe(adfs, bomb_levels=0))
    seed("saml_response", "two-assertions.xml", idp.add_second_assertion(adfs, signed=True))


def logout_seeds(idp) -> None:
    # Mode byte: bit 0 request, bit 1 require_signed, bits 2-3 encoding.
    req = dict(destination=SLO, name_id="jdoe@corp.example.com", now=NOW,
               name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
               session_index=["_s1", "_s2", "_s1"])
    signed_req = idp.logout_request(**req)
    seed("saml_logout", "request-post-signed.xml", signed_req, 0b0111)
    seed("saml_logout", "request-post-unsigned-okta.xml",
         idp.logout_request(**{**req, "sign": False, "destination": None}, shape="okta"), 0b0101)
    unsigned_req = idp.logout_request(**{**req, "sign": False})
    seed("saml_logout", "request-redirect-unsigned.xml", unsigned_req, 0b1001)
    seed("saml_logout", "request-redirect-fake-signature.xml", unsigned_req, 0b1111)
    seed("saml_logout", "request-redirect-signed.query",
         idp.redirect_query("SAMLRequest", unsigned_req, "relay-1"), 0b0011)
    seed("saml_logout", "request-nobody.xml",
         idp.logout_request(**{**req, "sign": False, "name_id": "nobody@corp.example.com",
                               "session_index": None}), 0b1001)
    resp = dict(destination=SLO, in_response_to="_fuzz-logout-1", now=NOW)
    seed("saml_logout", "response-post-signed.xml", idp.logout_response(**resp), 0b0110)
    seed("saml_logout", "response-post-partial.xml",
         idp.logout_response(**{**resp, "status": "urn:oasis:names:tc:SAML:2.0:status:Responder",
                                "second_status": "urn:oasis:names:tc:SAML:2.0:status:PartialLogout",
                                "sign": False}), 0b0100)
    unsigned_resp = idp.logout_response(**{**resp, "sign": False})
    seed("saml_logout", "response-redirect-unsigned.xml", unsigned_resp, 0b1000)
    seed("saml_logout", "response-redirect-signed.query",
         idp.redirect_query("SAMLResponse", unsigned_resp, "relay-2"), 0b0010)
    seed("saml_logout", "response-post-value.b64",
         base64.b64encode(unsigned_resp.encode()).decode(), 0b0000)
    # Queries the LogoutRequest pre-check (ib_saml_logout.c) must refuse the
    # way lasso would read them: a field name lasso unescapes, an encoding.
    seed("saml_logout", "request-query-two-fields.txt", "SAML%52equest=&SAMLRequest=x", 0b0001)
    seed("saml_logout", "request-query-encoding.txt",
         idp.redirect_query("SAMLRequest", unsigned_req, sign=False) + "&SAMLEncoding=x", 0b0001)


def metadata_seeds(idp) -> None:
    from test_idp_metadata import metadata
    plain = idp.metadata_xml(sso_url="https://idp.fuzz.test/sso")
    seed("idp_metadata", "testidp.xml", plain, 0b000)
    seed("idp_metadata", "signed.xml",
         metadata([idp], signer=idp, entity_id=IDP, valid_until=NOW + dt.timedelta(days=7),
                  cache_duration="PT6H", sso_url="https://idp.fuzz.test/sso"), 0b111)
    seed("idp_metadata", "unsigned-with-lifetime.xml",
         metadata([idp], signer=None, entity_id=IDP, valid_until=NOW + dt.timedelta(hours=1),
                  cache_duration="P1DT12H30M5.5S", sso_url="https://idp.fuzz.test/sso"), 0b110)
    b64 = idp.cert_b64
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    agg = f"""\ufeff<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="{md}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" validUntil="2030-06-01T00:00:00.123Z" cacheDuration="PT1H">
 <md:EntitiesDescriptor Name="inner" cacheDuration="PT30M">
  <md:EntityDescriptor entityID="https://sp.other.test"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>
  <md:EntityDescriptor entityID="{IDP}" validUntil="2030-03-01T00:00:00Z">
   <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{b64[:64]}
{b64[64:]}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.fuzz.test/slo"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:8443/slo"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.fuzz.test/sso?x=1"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.fuzz.test/soap"/>
   </md:IDPSSODescriptor>
  </md:EntityDescriptor>
 </md:EntitiesDescriptor>
</md:EntitiesDescriptor>
"""
    seed("idp_metadata", "aggregate-bom.xml", agg, 0b010)
    seed("idp_metadata", "aggregate-only-idp.xml", agg.replace("\ufeff", ""), 0b100)


# ------------------------------------------------------------------ JOSE / OIDC
def jws_compact(header: dict, claims: dict, key, alg: str) -> str:
    signing_input = f"{b64u(json.dumps(header, separators=(',', ':')))}." \
                    f"{b64u(json.dumps(claims, separators=(',', ':')))}"
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("RS"):
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), h)
    elif alg.startswith("PS"):
        sig = key.sign(signing_input.encode(),
                       padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    else:
        r, s = utils.decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(h)))
        n = (key.curve.key_size + 7) // 8
        sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    return f"{signing_input}.{b64u(sig)}"


def claims(**over) -> dict:
    now = int(NOW.timestamp())
    c = {"iss": OP, "sub": "00u1abcd", "aud": CLIENT, "exp": now + 300, "iat": now - 10,
         "nbf": now - 10, "nonce": NONCE, "email": "jane.doe@corp.example.com",
         "upn": "jdoe@corp.example.com", "cip_upn": "jdoe@corp.example.com",
         "cip_sid": "S-1-5-21-1-2-3-1109", "groups": ["staff", "vpn"], "amr": ["pwd", "mfa"],
         "email_verified": True, "auth_time": now - 20, "ratio": 0.5,
         "address": {"country": "DE"}}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def jwk_numbers(key) -> dict:
    pub = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
        e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "n": b64u(n), "e": b64u(e)}
    size = (key.curve.key_size + 7) // 8
    crv = {256: "P-256", 384: "P-384", 521: "P-521"}[key.curve.key_size]
    return {"kty": "EC", "crv": crv, "x": b64u(pub.x.to_bytes(size, "big")),
            "y": b64u(pub.y.to_bytes(size, "big"))}


def jose_seeds() -> None:
    rsa_key, ec_key = private_key("JWS_RSA_KEY"), private_key("JWS_EC_KEY")
    # fuzz_jws mode byte: bit 0 harness-signed, bit 1 RS256 only, bit 2 Entra tid, bit 3 RSA JWKS only.
    seed("jws", "rs256.jwt", jws_compact({"alg": "RS256", "kid": "rsa1", "typ": "JWT"}, claims(),
                                         rsa_key, "RS256"), 0b0000)
    seed("jws", "es256-no-kid.jwt", jws_compact({"alg": "ES256"}, claims(aud=[CLIENT, "other"],
                                                azp=CLIENT), ec_key, "ES256"), 0b0000)
    seed("jws", "ps384.jwt", jws_compact({"alg": "PS384", "kid": "rsa1"}, claims(), rsa_key,
                                         "PS384"), 0b0000)
    seed("jws", "es256-policy-rs256-only.jwt", jws_compact({"alg": "ES256", "kid": "ec1"}, claims(),
                                                           ec_key, "ES256"), 0b0010)
    none_header = b64u('{"alg":"none"}')
    seed("jws", "alg-none.jwt", none_header + "." + b64u(json.dumps(claims())) + ".", 0b0000)
    hs_header = b64u('{"alg":"HS256","kid":"rsa1"}')
    seed("jws", "hs256.jwt", hs_header + "." + b64u("{}") + "." + b64u("mac"), 0b0000)
    def harness(header: dict, body: dict | str) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        return json.dumps(header) + "\n" + text
    seed("jws", "signed-rs256.json", harness({"alg": "RS256", "kid": "rsa1"}, claims()), 0b0001)
    seed("jws", "signed-es256-entra.json",
         harness({"alg": "ES256", "kid": "ec1"},
                 claims(tid="9f3a1c2e-5b7d-4e61-8a0f-2c4d6e8b1a3f", iss=OP)), 0b0101)
    seed("jws", "signed-ps512-crit.json", harness({"alg": "PS512", "crit": ["exp"]}, claims()), 0b0001)
    seed("jws", "signed-expired.json",
         harness({"alg": "RS512", "kid": "rsa1"}, claims(exp=int(NOW.timestamp()) - 3600)), 0b1001)
    seed("jws", "signed-bad-claims.json",
         harness({"alg": "PS256"}, '{"iss":1,"aud":[1,{}],"exp":1e400,"iat":-1,"nbf":"x",'
                 '"nonce":null,"sub":"","big":123456789012345678901234567890,"f":-0.0}'), 0b0001)
    seed("jws", "signed-dup-header.json", '{"alg":"RS256","alg":"none"}\n{}', 0b0001)

    rsa_jwk = {**jwk_numbers(rsa_key), "kid": "rsa1", "use": "sig", "alg": "RS256"}
    ec_jwk = {**jwk_numbers(ec_key), "kid": "ec1", "key_ops": ["verify"]}
    p384 = ec.generate_private_key(ec.SECP384R1())
    p521 = ec.generate_private_key(ec.SECP521R1())
    seed("jwks", "fixture.json", json.dumps({"keys": [rsa_jwk, ec_jwk]}))
    seed("jwks", "mixed.json", json.dumps({"keys": [
        {**jwk_numbers(p384), "kid": "p384", "alg": "ES384"},
        {**jwk_numbers(p521), "kid": "p521"},
        {"kty": "oct", "k": b64u("secret"), "kid": "hmac"},
        {"kty": "OKP", "crv": "Ed25519", "x": b64u(bytes(32))},
        {**jwk_numbers(rsa_key), "use": "enc"},
        {**jwk_numbers(rsa_key), "alg": "ES256"},
        {**jwk_numbers(ec_key), "kid": 7},
        {**jwk_numbers(rsa_key), "kid": "with-private", "d": b64u(b"x" * 32), "p": "AQAB"},
        {"kty": "RSA", "n": b64u(b"\x01" * 128), "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "x": b64u(bytes(32)), "y": b64u(bytes(32))},
        "not an object"]}))
    seed("jwks", "not-keys.json", '{"keys":{"kty":"RSA"}}')

    seed("codec", "b64-lines.txt", "TWFu\r\nIGlz\n IGRpc3Rpbmd1aXNoZWQ=", 255)
    seed("codec", "b64url.txt", b64u(bytes(range(40))), 64)
    seed("codec", "b64url-tail-bits.txt", "QR", 8)
    seed("codec", "jwk-n.txt", rsa_jwk["n"], 255)

    disc = {"issuer": OP, "authorization_endpoint": OP + "/authorize",
            "token_endpoint": OP + "/token", "jwks_uri": OP + "/jwks",
            "userinfo_endpoint": OP + "/userinfo", "end_session_endpoint": OP + "/logout?x=1",
            "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"]}
    # fuzz_oidc mode byte: bits 0-1 0 discovery, 1 token, 2 claims, 3 userinfo; bit 2 variant.
    seed("oidc", "discovery.json", json.dumps(disc), 0)
    entra = "https://login.microsoftonline.com/{tenantid}/v2.0"
    ms = "https://login.microsoftonline.com/organizations/oauth2/v2.0"
    seed("oidc", "discovery-entra.json", json.dumps(
        {"issuer": entra, "authorization_endpoint": ms + "/authorize", "token_endpoint": ms + "/token",
         "jwks_uri": "https://login.microsoftonline.com/organizations/discovery/v2.0/keys"}), 4)
    seed("oidc", "discovery-loopback.json", json.dumps(
        {**disc, "authorization_endpoint": "http://127.0.0.1:9000/a", "userinfo_endpoint": ""}), 0)
    seed("oidc", "token.json", json.dumps({"id_token": "a.b.c", "access_token": "at",
                                           "token_type": "bearer", "expires_in": 3600}), 1)
    seed("oidc", "token-error.json", json.dumps({"error": "invalid_grant",
                                                 "error_description": "code\nexpired\u00e9"}), 5)
    seed("oidc", "claims.json", json.dumps(claims()), 2)
    seed("oidc", "claims-entra.json", json.dumps(
        claims(tid="9f3a1c2e-5b7d-4e61-8a0f-2c4d6e8b1a3f", aud=[CLIENT], azp=CLIENT)), 6)
    seed("oidc", "userinfo.json", json.dumps({"sub": "alice", "name": "Alice", "Email": "x",
                                              "groups": ["a", 1, True, None, {}]}), 3)


# ------------------------------------------------------------------ the rest
def identity_seeds() -> None:
    # fuzz_identity mode byte: even = one value; odd = attribute lines
    # (bit 1 admin_flow, bit 2 Microsoft claim names, bit 3 no cip_sid).
    seed("identity", "sid-string.txt", "S-1-5-21-1004336348-1177238915-682003330-1109", 0)
    seed("identity", "sid-binary.txt", base64.b64encode(SID_BIN).decode(), 0)
    seed("identity", "guid-braces.txt", "{67338F11-4996-4980-8339-535F76D0C8FB}", 0)
    seed("identity", "guid-b64.txt", GUID_B64, 0)
    seed("identity", "upn.txt", "jdoe@corp.example.com", 0)
    lines = "\n".join(f"{n}={';'.join(v)}" for n, v in ATTRS)
    seed("identity", "attrs.txt", lines, 1)
    seed("identity", "attrs-azuread.txt", "cip_directory=azuread\ncip_fed_upn=jdoe@corp.example.com\n"
         "displayName=\nhttp://schemas.xmlsoap.org/ws/2005/05/identity/claims/cip_upn=x@y", 3)
    seed("identity", "attrs-ms-claims.txt",
         "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn=jdoe@corp.example.com\n"
         "http://schemas.microsoft.com/identity/claims/objectidentifier=" + GUID_B64 + "\n"
         "cip_sid=" + base64.b64encode(SID_BIN).decode(), 5)
    seed("identity", "attrs-problems.txt", "cip_upn=a@b;c@d\ncip_sid=S-1-x\ncip_oid=nope\n"
         "cip_directory=onprem", 9)


def store_seeds() -> None:
    now = int(NOW.timestamp())
    session = {"v": 1, "t": "acme", "a": "primary", "h": "sp.fuzz.test", "lp": 443, "c": now,
               "l": now, "x": now + 3600, "p": "saml", "idp": IDP, "nid": "jdoe@corp.example.com",
               "nidf": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", "nq": "q",
               "spnq": SP_BASE, "si": "_s1", "ac": "urn:x", "idt": "a.b.c",
               "id": {"cip_upn": "jdoe@corp.example.com", "cip_sid": "S-1-5-21-1-2-3",
                      "displayName": "Jane"}, "aad": True, "fupn": "jdoe@corp.example.com"}
    pending = {"v": 1, "t": "acme", "a": "primary", "id": REQUEST_ID, "acs": ACS, "ret": "/portal/",
               "rs": "relay", "st": "0" * 64, "h": "sp.fuzz.test", "x": now + 300, "n": NONCE,
               "cv": "verifier"}
    handoff = {"v": 1, "t": "acme", "a": "primary", "id": REQUEST_ID, "st": "0" * 64,
               "h": "portal.fuzz.test", "ret": "/", "s": json.dumps(session), "x": now + 60}
    # fuzz_store mode byte: 0 session, 1 pending, 2 hand-off, 3 sealed.
    seed("store", "session.json", json.dumps(session), 0)
    seed("store", "session-numbers.json", json.dumps({**session, "x": 1e300, "c": -1e300,
                                                      "lp": 1e10, "l": "x"}), 0)
    seed("store", "pending.json", json.dumps(pending), 1)
    seed("store", "handoff.json", json.dumps(handoff), 2)
    # A sealed session record, as ib_seal writes it: key "k1" = bytes 0x5a ^ i
    # (fuzz_store.c), under the cache key of cookie "cookie-value".
    hexd = hashlib.sha256(b"cookie-value").hexdigest()
    name = f"{chr(ord('0') + (int(hexd[:2], 16) & 0x3f))}.idb:s:{hexd}"
    key = bytes(0x5A ^ i for i in range(32))
    expiry = (now + 3600) * 1_000_000
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(key).encrypt(nonce, expiry.to_bytes(8, "big") + json.dumps(session).encode(),
                                         f"ib1.k1.{name}".encode())
    seed("store", "sealed.txt", "ib1.k1." + base64.b64encode(sealed).decode(), 3)
    seed("store", "sealed-unknown-key.txt", "ib1.k2." + base64.b64encode(sealed).decode(), 3)


def url_seeds() -> None:
    for i, u in enumerate([
            "https://sp.fuzz.test", "https://SP.Fuzz.Test:443/prefix/app/", "http://127.0.0.1:8080/x",
            "https://portal.fuzz.test/return?to=1", "/portal/page?x=1#frag", "//evil.example/",
            "/\\evil.example", "https://sp.fuzz.test@evil.example/", "https://[::1]:8443/sso",
            "https://evil.example?@sp.fuzz.test", "HTTPS://sp.fuzz.test:00443/a/../saml/acs"]):
        seed("url", f"{i:02d}.txt", u)


def conf_seeds() -> None:
    # fuzz_conf mode byte: bit 0 = 0 conf file; 1 directive lines (bit 1: inside the app).
    tenant = f"""# a tenant with every kind of directive
<IdBrokerTenant acme>
    IdBrokerSignInID Acme-1
    IdBrokerSPKey sp.key sp.crt activate-at=2020-01-01T00:00:00Z
    IdBrokerSPDecryptionKey sp.key sp.crt
    IdBrokerSignRequests On
    IdBrokerSSOBinding redirect
    IdBrokerResponseSigning both
    IdBrokerAuthnContext urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport minimum
    IdBrokerForceAuthn off
    IdBrokerSendNameIDPolicy ON
    IdBrokerAttribute cip_upn "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
    IdBrokerAttribute cip_sid -
    IdBrokerClockSkew 300
    IdBrokerAllowSHA1 Off
    IdBrokerSessionMaxAge 3600
    IdBrokerSessionIdleTimeout 900
    IdBrokerSLOBinding redirect-unsigned
    IdBrokerAllowedOrigin https://portal.acme.test:8443
    IdBrokerPostLogoutURL https://portal.acme.test:8443/bye
    IdBrokerRequireSignedLogout Off
    <IdBrokerApp primary>
        IdBrokerSPBaseURL https://saml.acme.test/idb
        IdBrokerSPEntityScope 67338f11-4996-4980-8339-535f76d0c8fb
        IdBrokerIdPEntityID {IDP}
        IdBrokerIdPSSOURL https://idp.fuzz.test/sso
        IdBrokerIdPSLOURL https://idp.fuzz.test/slo
        IdBrokerIdPCert idp.crt
    </IdBrokerApp>
    <IdBrokerApp custom-domain>
        IdBrokerSPBaseURL https://login.acme.test:8443/sso
        IdBrokerPortalURL https://portal.acme.test:8443
        IdBrokerIdPMetadataURL https://idp.fuzz.test/metadata
        IdBrokerIdPMetadataSigner idp.crt
        IdBrokerIdPMetadataRefresh 600 \\
            14400
        IdBrokerIdPMetadataTimeout 20
    </IdBrokerApp>
</IdBrokerTenant>
<IdBrokerTenant oidc>
    IdBrokerSignInID oidc
    IdBrokerSPKey sp.key sp.crt
    <IdBrokerApp primary>
        IdBrokerSPBaseURL https://oidc.acme.test
        IdBrokerOIDCIssuer https://login.microsoftonline.com/organizations/v2.0
        IdBrokerOIDCProvider entra
        IdBrokerOIDCEntraTenant 9f3a1c2e-5b7d-4e61-8a0f-2c4d6e8b1a3f
        IdBrokerOIDCClientID {CLIENT}
        IdBrokerOIDCClientSecret file:secret.txt
        IdBrokerOIDCScopes openid profile email offline_access
        IdBrokerOIDCRedirectPath /oidc/cb
        IdBrokerOIDCClientAuth client_secret_post
        IdBrokerOIDCUserinfo On
    </IdBrokerApp>
</IdBrokerTenant>
"""
    seed("conf", "tenants.conf", tenant, 0)
    seed("conf", "minimal.conf", "<IdBrokerTenant fuzz>\nIdBrokerSignInID fuzz\nIdBrokerSPKey sp.key sp.crt\n"
         "<IdBrokerApp primary>\nIdBrokerSPBaseURL https://sp.fuzz.test\n</IdBrokerApp>\n"
         "</IdBrokerTenant>\n", 0)
    seed("conf", "directives-tenant.tsv",
         "IdBrokerSignInID\tx-1\nIdBrokerSPKey\tsp.key\tsp.crt\nIdBrokerClockSkew\t600\n"
         "IdBrokerAttribute\tcip_oid\toid claim with spaces\n<IdBrokerApp\tprimary\n"
         "IdBrokerSPBaseURL\thttps://a.test\nIdBrokerIdPMetadataFile\tmd.xml\n</IdBrokerApp\n"
         "IdBrokerPostLogoutURL\t/bye\n", 1)
    seed("conf", "directives-app.tsv",
         "IdBrokerSPBaseURL\thttps://sp.fuzz.test:8443/p\nIdBrokerSPEntityID\thttps://sp.fuzz.test\n"
         "IdBrokerOIDCIssuer\thttps://accounts.google.com\nIdBrokerOIDCProvider\tgoogle\n"
         "IdBrokerOIDCClientID\tc\nIdBrokerOIDCClientSecret\tenv:HOME\n", 3)


def time_seeds() -> None:
    for i, t in enumerate(["2030-01-01T00:00:00Z", "2024-02-29T23:59:59.1234567Z",
                           "2023-02-31T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
                           "P1Y2M3DT4H5M6.7S", "PT6H", "P100Y", "PT", "-P1D"]):
        seed("time", f"{i:02d}.txt", t)


def main() -> None:
    if "--new-keys" in sys.argv[1:]:
        new_keys()
    clear_seeds()
    idp = fixture_idp()
    saml_seeds(idp)
    logout_seeds(idp)
    metadata_seeds(idp)
    jose_seeds()
    identity_seeds()
    store_seeds()
    url_seeds()
    conf_seeds()
    time_seeds()
    total = sum(f.stat().st_size for f in CORPUS.glob("*/*"))
    for target, n in sorted(written.items()):
        print(f"seeds: {target}: {n}")
    print(f"seeds: corpus total {total} bytes")


if __name__ == "__main__":
    main()
