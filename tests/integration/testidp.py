"""A test IdP of our own for the SP's ACS tests.

`TestIdp.response()` builds SAML 2.0 Responses shaped like the ones real IdPs
send (ADFS, Entra ID, Okta, PingFederate, or a plain textbook one), signed for
real with the `xmlsec1` command-line tool (enveloped, exclusive c14n, assertion
first, then the response) and optionally encrypted to the SP's certificate.
Module-level helpers turn a signed response into hostile variants: the eight
XML signature wrapping attacks (XSW1..XSW8), comment injection, DOCTYPE/XXE,
tampering and signature stripping. `sign_in_request()` decodes the
AuthnRequest the SP sends the browser to the IdP with.

Parameter convention of `response()`: a parameter left out gets what the shape's
IdP would send; for the ones documented "None omits", passing None leaves the
attribute or element out, for hostile tests.

Needs the Debian packages xmlsec1, python3-lxml and python3-cryptography.
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import os
import secrets
import shutil
import string
import subprocess
import tempfile
import uuid
import weakref
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

import pki

UTC = dt.timezone.utc
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = DS + "enveloped-signature"

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
ATTRNAME_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
CONSENT_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:consent:unspecified"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

SIG_ALGS = {
    "rsa-sha1": DS + "rsa-sha1",
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "rsa-sha512": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}
DIGEST_ALGS = {"sha1": DS + "sha1", "sha256": XENC + "sha256", "sha512": XENC + "sha512"}
ENC_ALGS = {  # name: (Algorithm URI, key bytes, GCM?)
    "aes128-cbc": (XENC + "aes128-cbc", 16, False),
    "aes256-cbc": (XENC + "aes256-cbc", 32, False),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", 16, True),
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", 32, True),
}
RSA_OAEP = XENC + "rsa-oaep-mgf1p"
ENTRA_TENANT = "9f3a1c2e-5b7d-4e61-8a0f-2c4d6e8b1a3f"
EVIL_NAME_ID = "admin@example.test"


class _Default:
    def __repr__(self):
        return "DEFAULT"


DEFAULT = _Default()   # "what the shape's IdP would send"; None omits


def entra_entity_id(tenant: str = ENTRA_TENANT) -> str:
    """Entra ID's issuer for a tenant: use as TestIdp(entity_id=...)."""
    return f"https://sts.windows.net/{tenant}/"


# ------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class Shape:
    """What tells one IdP's Responses apart from another's (SPEC §19)."""
    protocol_prefix: str            # samlp / saml2p
    assertion_prefix: str | None    # None: default namespace on Issuer and Assertion
    ids: str                        # ID style: guid (_+GUID), okta (id+digits), ping, hex
    fraction_digits: int            # of IssueInstant seconds
    ds_prefix: str | None = "ds"    # None: <Signature xmlns="...xmldsig#">
    consent: str | None = None      # Consent attribute on the Response
    issuer_format: str | None = None
    name_id_format: str | None = None
    attr_name_format: str | None = None
    xsi_string: bool = False        # AttributeValue xsi:type="xs:string"
    authn_first: bool = False       # AuthnStatement before AttributeStatement
    sign_response: bool = True      # default of response(sign_response=None)
    cert_in_keyinfo: bool = True    # default of response(include_cert_in_keyinfo=None)
    ms_claims: bool = False         # Entra's tenantid/objectidentifier/... claims


SHAPES: dict[str, Shape] = {
    "adfs": Shape("samlp", None, "guid", 3, consent=CONSENT_UNSPECIFIED),
    "entra": Shape("samlp", None, "guid", 7, ds_prefix=None, name_id_format=NAMEID_EMAIL,
                   sign_response=False, ms_claims=True),
    "okta": Shape("saml2p", "saml2", "okta", 3, issuer_format=NAMEID_ENTITY,
                  name_id_format=NAMEID_UNSPECIFIED, attr_name_format=ATTRNAME_UNSPECIFIED,
                  xsi_string=True, authn_first=True),
    "ping": Shape("samlp", "saml", "ping", 3, name_id_format=NAMEID_UNSPECIFIED,
                  attr_name_format=ATTRNAME_BASIC, xsi_string=True, authn_first=True,
                  cert_in_keyinfo=False),
    # textbook SAML (simpleSAMLphp-like): no fractional seconds, URI NameFormat
    "plain": Shape("samlp", "saml", "hex", 0, name_id_format=NAMEID_EMAIL,
                   attr_name_format=ATTRNAME_URI, authn_first=True),
}


def new_id(style: str = "guid") -> str:
    """A fresh XML ID (an NCName) in one IdP's style."""
    if style == "guid":
        return "_" + str(uuid.uuid4())
    if style == "okta":
        return "id" + "".join(secrets.choice(string.digits) for _ in range(26))
    if style == "ping":
        tail = string.ascii_letters + string.digits + "-._"
        return secrets.choice(string.ascii_letters) + "".join(secrets.choice(tail) for _ in range(26))
    return "_" + secrets.token_hex(20)


def instant(t: dt.datetime, fraction_digits: int = 0) -> str:
    """xs:dateTime in UTC with the given number of fractional-second digits."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits:
        text += "." + f"{t.microsecond:06d}{'0' * fraction_digits}"[:fraction_digits]
    return text + "Z"


def default_attributes(name_id: str) -> list[tuple[str, list[str]]]:
    return [("mail", [name_id]), ("givenName", ["Jane"]), ("sn", ["Doe"]),
            ("groups", ["staff", "vpn-users"])]


def _entra_claims(issuer: str, name_id: str) -> list[tuple[str, list[str]]]:
    tenant = issuer.rstrip("/").rsplit("/", 1)[-1] if "sts.windows.net/" in issuer else ENTRA_TENANT
    return [
        ("http://schemas.microsoft.com/identity/claims/tenantid", [tenant]),
        ("http://schemas.microsoft.com/identity/claims/objectidentifier",
         [str(uuid.uuid5(uuid.NAMESPACE_URL, name_id))]),
        ("http://schemas.microsoft.com/identity/claims/identityprovider", [issuer]),
        ("http://schemas.microsoft.com/claims/authnmethodsreferences",
         ["http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"]),
    ]


# ---------------------------------------------------------------- xml bits
def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _parse(xml: str | bytes) -> etree._Element:
    """Parse without ever resolving entities, loading DTDs or the network."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    return etree.fromstring(xml.encode() if isinstance(xml, str) else xml, parser)


def _text(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")


def _sub(parent, ns, local, text=None, attrs=(), nsmap=None):
    """Child element; attrs are (name, value) pairs, None values skipped."""
    el = etree.SubElement(parent, _q(ns, local), nsmap=nsmap)
    for k, v in attrs:
        if v is not None:
            el.set(k, v)
    if text is not None:
        el.text = text
    return el


def _remove(el) -> None:
    """Remove an element, keeping its tail text in place."""
    parent = el.getparent()
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _assertion(root):
    """The first Assertion that is a child of the Response: what a naive SP reads."""
    return root.find(_q(SAML, "Assertion"))


def _own_signature(el):
    return el.find(_q(DS, "Signature"))


def _name_id_el(assertion):
    return assertion.find(f"{_q(SAML, 'Subject')}/{_q(SAML, 'NameID')}")


def _set_name_id(assertion, value: str) -> None:
    nid = _name_id_el(assertion)
    for child in list(nid):
        nid.remove(child)
    nid.text = value


def naive_name_id(xml: str) -> str | None:
    """The NameID a naive SP sees: first Assertion child of the Response,
    first text node of its Subject/NameID (what XSW and comment injection fool)."""
    a = _assertion(_parse(xml))
    nid = None if a is None else _name_id_el(a)
    return None if nid is None else nid.text


def _insert_after_issuer(parent, el) -> None:
    """Schema order: Issuer, Signature, ... (Signature first if no Issuer)."""
    first = parent[0] if len(parent) else None
    if first is not None and first.tag == _q(SAML, "Issuer"):
        first.addnext(el)
    else:
        parent.insert(0, el)


def _signature_template(ref_id: str, ds_prefix: str | None, sig_alg: str, digest_alg: str,
                        key_info: bool, inclusive_prefixes: str | None) -> etree._Element:
    sig = etree.Element(_q(DS, "Signature"), nsmap={ds_prefix: DS})
    si = _sub(sig, DS, "SignedInfo")
    _sub(si, DS, "CanonicalizationMethod", attrs=[("Algorithm", EXC_C14N)])
    _sub(si, DS, "SignatureMethod", attrs=[("Algorithm", SIG_ALGS[sig_alg])])
    ref = _sub(si, DS, "Reference", attrs=[("URI", "#" + ref_id)])
    transforms = _sub(ref, DS, "Transforms")
    _sub(transforms, DS, "Transform", attrs=[("Algorithm", ENVELOPED)])
    c14n = _sub(transforms, DS, "Transform", attrs=[("Algorithm", EXC_C14N)])
    if inclusive_prefixes:  # Okta: keeps xs in scope for xsi:type="xs:string"
        _sub(c14n, EXC_C14N, "InclusiveNamespaces", attrs=[("PrefixList", inclusive_prefixes)],
             nsmap={"ec": EXC_C14N})
    _sub(ref, DS, "DigestMethod", attrs=[("Algorithm", DIGEST_ALGS[digest_alg])])
    _sub(ref, DS, "DigestValue")
    _sub(sig, DS, "SignatureValue")
    if key_info:
        _sub(_sub(_sub(sig, DS, "KeyInfo"), DS, "X509Data"), DS, "X509Certificate")
    return sig


def _clear_signature(sig, ref_id: str) -> None:
    """Turn a signature back into a template for ref_id (re-signing)."""
    sig.find(f".//{_q(DS, 'Reference')}").set("URI", "#" + ref_id)
    for local in ("DigestValue", "SignatureValue", "X509Certificate"):
        for el in sig.iter(_q(DS, local)):
            el.text = None
    for obj in sig.findall(_q(DS, "Object")):
        sig.remove(obj)


def _xmlsec1() -> str:
    path = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
    if not os.path.exists(path):
        raise RuntimeError("xmlsec1 not found: apt-get install xmlsec1")
    return path


_ID_ATTRS = ["--id-attr:ID", f"{SAMLP}:Response", "--id-attr:ID", f"{SAML}:Assertion",
             "--id-attr:ID", f"{SAMLP}:AuthnRequest", "--id-attr:ID", f"{SAMLP}:LogoutRequest",
             "--id-attr:ID", f"{SAMLP}:LogoutResponse"]
_SIG_XPATH = {  # --node-xpath for verify_signature(which=...)
    "response": f"/*/*[local-name()='Signature' and namespace-uri()='{DS}']",
    "assertion": f"/*/*[local-name()='Assertion']/*[local-name()='Signature' and namespace-uri()='{DS}']",
}


def verify_signature(xml: str | bytes, cert_pem: Path, which: str | None = None
                     ) -> subprocess.CompletedProcess:
    """`xmlsec1 --verify` with the given certificate. which: "response" (the
    Response's own Signature), "assertion" (that of the first Assertion child)
    or None (the first Signature in document order). ID attributes of
    Response, Assertion, AuthnRequest, LogoutRequest/Response are known, so
    this checks the SP's POST-binding AuthnRequest too. returncode 0 = valid."""
    cmd = [_xmlsec1(), "--verify", "--pubkey-cert-pem", str(cert_pem), *_ID_ATTRS]
    if which:
        cmd += ["--node-xpath", _SIG_XPATH[which]]
    data = xml.encode() if isinstance(xml, str) else xml
    return subprocess.run([*cmd, "-"], input=data, capture_output=True, timeout=30)


# ---------------------------------------------------------------- the IdP
class TestIdp:
    """An IdP with its own signing key and self-signed certificate."""
    __test__ = False  # not a pytest test class

    def __init__(self, entity_id: str = "https://idp.example.test/entity",
                 key_kind: str = "rsa2048", slot: int = 5):
        self.entity_id = entity_id
        self.key_kind, self.slot = key_kind, slot
        self.key = pki.private_key(key_kind, slot)
        host = urlsplit(entity_id).hostname or "idp.test"
        self.cert: x509.Certificate = pki.certificate(self.key, cn=host)
        self.cert_pem: bytes = pki.cert_pem(self.cert)
        self.cert_b64: str = pki.cert_b64(self.cert)
        self._dir = Path(tempfile.mkdtemp(prefix="testidp-"))
        weakref.finalize(self, shutil.rmtree, str(self._dir), True)
        self._key_path = self._dir / "idp.key"
        self._key_path.write_bytes(pki.key_pem(self.key))
        self._key_path.chmod(0o600)
        self._cert_path = self._dir / "idp.crt"
        self._cert_path.write_bytes(self.cert_pem)

    def cert_pem_path(self, directory: Path) -> Path:
        """Write the signing certificate (PEM) for IdBrokerIdPCert."""
        path = Path(directory) / f"testidp-{self.key_kind}-{self.slot}.crt"
        path.write_bytes(self.cert_pem)
        path.chmod(0o644)
        return path

    def metadata_xml(self, sso_url: str = "https://idp.example.test/sso") -> str:
        """IdP metadata: signing certificate and SSO endpoints (both bindings)."""
        ed = etree.Element(_q(MD, "EntityDescriptor"), nsmap={"md": MD, "ds": DS})
        ed.set("entityID", self.entity_id)
        idp = _sub(ed, MD, "IDPSSODescriptor",
                   attrs=[("protocolSupportEnumeration", SAMLP)])
        kd = _sub(idp, MD, "KeyDescriptor", attrs=[("use", "signing")])
        _sub(_sub(_sub(kd, DS, "KeyInfo"), DS, "X509Data"), DS, "X509Certificate", self.cert_b64)
        for binding in (BINDING_REDIRECT, BINDING_POST):
            _sub(idp, MD, "SingleSignOnService", attrs=[("Binding", binding), ("Location", sso_url)])
        return _text(ed)

    # ---- signing
    def _default_sig_alg(self) -> str:
        return "ecdsa-sha256" if isinstance(self.key, ec.EllipticCurvePrivateKey) else "rsa-sha256"

    def _xmlsec_sign(self, data: bytes) -> etree._Element:
        """Sign the first ds:Signature template in document order."""
        proc = subprocess.run(
            [_xmlsec1(), "--sign", "--privkey-pem", f"{self._key_path},{self._cert_path}",
             *_ID_ATTRS, "-"], input=data, capture_output=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"xmlsec1 --sign failed: {proc.stderr.decode(errors='replace')}")
        return _parse(proc.stdout)

    def _sign_element(self, el: etree._Element) -> etree._Element:
        """Sign el (its own Signature template) as a document of its own and
        put the result where el was. Exclusive c14n makes that equivalent to
        signing it in place, and the Response is then signed around it."""
        signed = self._xmlsec_sign(etree.tostring(el, with_tail=False))
        parent = el.getparent()
        if parent is not None:
            signed.tail = el.tail
            parent.replace(el, signed)
        return signed

    def resign(self, xml: str) -> str:
        """Re-sign every Assertion (child of the Response) and the Response
        that carry a signature, with their own algorithms, after an edit."""
        root = _parse(xml)
        for a in root.findall(_q(SAML, "Assertion")):
            sig = _own_signature(a)
            if sig is not None:
                _clear_signature(sig, a.get("ID"))
                self._sign_element(a)
        sig = _own_signature(root)
        if sig is not None:
            _clear_signature(sig, root.get("ID"))
            root = self._xmlsec_sign(etree.tostring(root))
        return _text(root)

    # ---- the Response
    def response(self, *, acs_url: str, audience: str | list[str] | None,
                 in_response_to: str | None,
                 name_id: str = "jane@example.test", name_id_format=DEFAULT,
                 name_qualifier: str | None = None, sp_name_qualifier: str | None = None,
                 name_id_raw_xml: str | None = None,
                 attributes: list[tuple] | None = None,
                 shape: str = "adfs",
                 sign_response: bool | None = None, sign_assertion: bool = True,
                 issuer: str | None = None, response_issuer: str | None = None,
                 assertion_issuer: str | None = None, issuer_format=DEFAULT,
                 destination=DEFAULT, recipient=DEFAULT,
                 now: dt.datetime | None = None,
                 not_before=DEFAULT, not_on_or_after=DEFAULT, subject_not_on_or_after=DEFAULT,
                 session_not_on_or_after: dt.datetime | None = None,
                 status: str = SUCCESS, second_status: str | None = None,
                 status_message: str | None = None, include_assertion: bool | None = None,
                 authn_context_class: str | None = PPT,
                 session_index: str | None = None,
                 assertion_id: str | None = None, response_id: str | None = None,
                 include_cert_in_keyinfo: bool | None = None,
                 sig_alg: str | None = None, digest_alg: str = "sha256",
                 encrypt_to_cert: x509.Certificate | Path | str | bytes | None = None,
                 enc_alg: str = "aes256-cbc") -> str:
        """A signed SAML Response as XML text (no XML declaration; UTF-8 when
        encoded). Parameters left out get the shape's defaults:

        audience: str or list (one Audience each); None omits AudienceRestriction.
        in_response_to: None omits it (unsolicited response).
        name_id_format, issuer_format: shape default; None omits Format.
        name_id_raw_xml: raw XML content of NameID (e.g. 'jane@example.test<!---->.x'),
            replaces name_id; signed as is.
        attributes: [(name, [values]) or (name, [values], NameFormat)]; a 2-tuple
            gets the shape's NameFormat, a None NameFormat omits it. None: default
            attributes; []: no AttributeStatement (Entra still adds its claims).
        sign_response: None = shape default (Entra: False, others True).
        issuer: both Issuers (default entity_id); response_issuer/assertion_issuer
            override one, "" omits it.
        destination, recipient: default acs_url; None omits.
        now: base time (default now); IssueInstant/AuthnInstant = now,
            not_before = now-5min, not_on_or_after = subject_not_on_or_after =
            now+5min; None omits the attribute.
        status/second_status/status_message: the Status; include_assertion
            defaults to True only for Success.
        authn_context_class: None omits the AuthnStatement.
        session_index: default the assertion ID; "" omits it.
        include_cert_in_keyinfo: None = shape default (ping: no KeyInfo at all).
        sig_alg: rsa-sha1|rsa-sha256|rsa-sha512|ecdsa-sha256 (default by key).
        digest_alg: sha1|sha256|sha512.
        encrypt_to_cert: certificate (object, PEM bytes or path) to encrypt the
            signed Assertion to (EncryptedAssertion, RSA-OAEP + enc_alg).
        """
        sh = SHAPES[shape]
        now = now or dt.datetime.now(UTC)
        d = sh.fraction_digits
        issuer = issuer or self.entity_id
        r_issuer = issuer if response_issuer is None else response_issuer
        a_issuer = issuer if assertion_issuer is None else assertion_issuer
        issuer_format = sh.issuer_format if issuer_format is DEFAULT else issuer_format
        sign_response = sh.sign_response if sign_response is None else sign_response
        key_info = sh.cert_in_keyinfo if include_cert_in_keyinfo is None else include_cert_in_keyinfo
        sig_alg = sig_alg or self._default_sig_alg()
        include_assertion = (status == SUCCESS) if include_assertion is None else include_assertion
        pick = lambda v, dflt: dflt if v is DEFAULT else v  # noqa: E731
        destination, recipient = pick(destination, acs_url), pick(recipient, acs_url)
        ts = lambda t: None if t is None else instant(t, d)  # noqa: E731
        inclusive = "xs" if sh.xsi_string else None
        a_nsmap = {sh.assertion_prefix: SAML}

        def template(ref_id):
            return _signature_template(ref_id, sh.ds_prefix, sig_alg, digest_alg, key_info, inclusive)

        # ---- Assertion: built, then signed, as a document of its own
        assertion = None
        if include_assertion:
            aid = assertion_id or new_id(sh.ids)
            a = etree.Element(_q(SAML, "Assertion"), nsmap=a_nsmap)
            for k, v in (("ID", aid), ("IssueInstant", ts(now)), ("Version", "2.0")):
                a.set(k, v)
            if a_issuer != "":
                _sub(a, SAML, "Issuer", a_issuer, [("Format", issuer_format)])
            if sign_assertion:
                _insert_after_issuer(a, template(aid))
            subject = _sub(a, SAML, "Subject")
            nid = _sub(subject, SAML, "NameID", name_id,
                       [("Format", pick(name_id_format, sh.name_id_format)),
                        ("NameQualifier", name_qualifier), ("SPNameQualifier", sp_name_qualifier)])
            if name_id_raw_xml is not None:
                frag = _parse(f"<x>{name_id_raw_xml}</x>")
                nid.text = frag.text
                nid.extend(list(frag))
            sc = _sub(subject, SAML, "SubjectConfirmation", attrs=[("Method", BEARER)])
            _sub(sc, SAML, "SubjectConfirmationData", attrs=[
                ("InResponseTo", in_response_to),
                ("NotOnOrAfter", ts(pick(subject_not_on_or_after, now + dt.timedelta(minutes=5)))),
                ("Recipient", recipient)])
            cond = _sub(a, SAML, "Conditions", attrs=[
                ("NotBefore", ts(pick(not_before, now - dt.timedelta(minutes=5)))),
                ("NotOnOrAfter", ts(pick(not_on_or_after, now + dt.timedelta(minutes=5))))])
            if audience is not None:
                ar = _sub(cond, SAML, "AudienceRestriction")
                for aud in [audience] if isinstance(audience, str) else audience:
                    _sub(ar, SAML, "Audience", aud)
            attrs = default_attributes(name_id) if attributes is None else list(attributes)
            if sh.ms_claims:
                have = {item[0] for item in attrs}
                attrs += [c for c in _entra_claims(issuer, name_id) if c[0] not in have]
            statements = []
            if authn_context_class is not None:
                authn = etree.Element(_q(SAML, "AuthnStatement"))
                authn.set("AuthnInstant", ts(now))
                if session_index != "":
                    authn.set("SessionIndex", session_index or aid)
                if session_not_on_or_after is not None:
                    authn.set("SessionNotOnOrAfter", ts(session_not_on_or_after))
                _sub(_sub(authn, SAML, "AuthnContext"), SAML, "AuthnContextClassRef",
                     authn_context_class)
                statements.append(authn)
            if attrs:
                st = etree.Element(_q(SAML, "AttributeStatement"))
                for name, values, *fmt in attrs:
                    fmt = pick(fmt[0], sh.attr_name_format) if fmt else sh.attr_name_format
                    at = _sub(st, SAML, "Attribute", attrs=[("Name", name), ("NameFormat", fmt)])
                    for v in [values] if isinstance(values, str) else values:
                        if sh.xsi_string:
                            av = _sub(at, SAML, "AttributeValue", v, nsmap={"xs": XS, "xsi": XSI})
                            av.set(_q(XSI, "type"), "xs:string")
                        else:
                            _sub(at, SAML, "AttributeValue", v)
                statements.insert(len(statements) if sh.authn_first else 0, st)
            a.extend(statements)
            if sign_assertion:
                a = self._sign_element(a)
            assertion = a if encrypt_to_cert is None else _encrypt(a, encrypt_to_cert, enc_alg, sh)

        # ---- Response around it
        rid = response_id or new_id(sh.ids)
        root = etree.Element(_q(SAMLP, "Response"), nsmap={sh.protocol_prefix: SAMLP})
        for k, v in (("ID", rid), ("Version", "2.0"), ("IssueInstant", ts(now)),
                     ("Destination", destination), ("Consent", sh.consent),
                     ("InResponseTo", in_response_to)):
            if v is not None:
                root.set(k, v)
        if r_issuer != "":
            _sub(root, SAML, "Issuer", r_issuer, [("Format", issuer_format)], nsmap=a_nsmap)
        if sign_response:
            root.append(template(rid))
        st = _sub(root, SAMLP, "Status")
        code = _sub(st, SAMLP, "StatusCode", attrs=[("Value", status)])
        if second_status:
            _sub(code, SAMLP, "StatusCode", attrs=[("Value", second_status)])
        if status_message is not None:
            _sub(st, SAMLP, "StatusMessage", status_message)
        if assertion is not None:
            root.append(assertion)
        if sign_response:
            root = self._xmlsec_sign(etree.tostring(root))
        return _text(root)

    def unsigned_assertion_in_signed_response(self, **kw) -> str:
        """Signed Response, unsigned Assertion (for IdBrokerResponseSigning
        assertion|both, which must refuse it)."""
        return self.response(**{**kw, "sign_response": True, "sign_assertion": False})

    def add_second_assertion(self, signed_xml: str, signed: bool,
                             name_id: str = EVIL_NAME_ID) -> str:
        """A second Assertion (new ID, NameID name_id) right after the first;
        signed=True signs it with this IdP's key. A Response signature is
        re-signed, so every signature in the result is valid: an SP must
        refuse the message for carrying two assertions."""
        root = _parse(signed_xml)
        first = _assertion(root)
        second = copy.deepcopy(first)
        sid = "_" + str(uuid.uuid4())
        authn = second.find(_q(SAML, "AuthnStatement"))
        if authn is not None and authn.get("SessionIndex") == first.get("ID"):
            authn.set("SessionIndex", sid)
        second.set("ID", sid)
        _set_name_id(second, name_id)
        sig = _own_signature(second)
        if sig is not None and not signed:
            _remove(sig)
        first.addnext(second)
        if signed:
            if sig is None:
                sig = _signature_template(sid, "ds", self._default_sig_alg(), "sha256", True, None)
                _insert_after_issuer(second, sig)
            _clear_signature(sig, sid)
            self._sign_element(second)
        rsig = _own_signature(root)
        if rsig is not None:
            _clear_signature(rsig, root.get("ID"))
            root = self._xmlsec_sign(etree.tostring(root))
        return _text(root)

    @staticmethod
    def post_form(xml: str, relay_state: str | None) -> dict:
        """Form fields of the HTTP-POST binding, for requests.post(data=...)."""
        form = {"SAMLResponse": base64.b64encode(xml.encode("utf-8")).decode()}
        if relay_state is not None:
            form["RelayState"] = relay_state
        return form


    # ---- single logout (LogoutRequest / LogoutResponse, both bindings)
    def logout_request(self, *, destination: str | None, name_id: str,
                       name_id_format: str | None = None, name_qualifier: str | None = None,
                       sp_name_qualifier: str | None = None,
                       session_index: str | list[str] | None = None,
                       issuer: str | None = None, shape: str = "adfs",
                       request_id: str | None = None, now: dt.datetime | None = None,
                       not_on_or_after=DEFAULT, reason: str | None = None,
                       sign: bool = True, sig_alg: str | None = None,
                       digest_alg: str = "sha256") -> str:
        """An IdP-initiated LogoutRequest as XML text. sign=True: enveloped
        XML signature (for the HTTP-POST binding; for HTTP-Redirect build it
        with sign=False and sign the query, see redirect_query). None omits
        Destination, Format, the qualifiers, SessionIndex (a list: one
        element each); not_on_or_after defaults to now+5min (None omits)."""
        sh = SHAPES[shape]
        now = now or dt.datetime.now(UTC)
        rid = request_id or new_id(sh.ids)
        noa = now + dt.timedelta(minutes=5) if not_on_or_after is DEFAULT else not_on_or_after
        root = etree.Element(_q(SAMLP, "LogoutRequest"), nsmap={sh.protocol_prefix: SAMLP})
        for k, v in (("ID", rid), ("Version", "2.0"),
                     ("IssueInstant", instant(now, sh.fraction_digits)),
                     ("Destination", destination), ("Consent", sh.consent),
                     ("NotOnOrAfter", None if noa is None else instant(noa, sh.fraction_digits)),
                     ("Reason", reason)):
            if v is not None:
                root.set(k, v)
        a_nsmap = {sh.assertion_prefix: SAML}
        _sub(root, SAML, "Issuer", issuer or self.entity_id, [("Format", sh.issuer_format)],
             nsmap=a_nsmap)
        if sign:
            root.append(_signature_template(rid, sh.ds_prefix, sig_alg or self._default_sig_alg(),
                                            digest_alg, sh.cert_in_keyinfo, None))
        _sub(root, SAML, "NameID", name_id,
             [("Format", name_id_format), ("NameQualifier", name_qualifier),
              ("SPNameQualifier", sp_name_qualifier)], nsmap=a_nsmap)
        for si in [session_index] if isinstance(session_index, str) else (session_index or []):
            _sub(root, SAMLP, "SessionIndex", si)
        if sign:
            root = self._xmlsec_sign(etree.tostring(root))
        return _text(root)

    def logout_response(self, *, destination: str | None, in_response_to: str | None,
                        status: str = SUCCESS, second_status: str | None = None,
                        status_message: str | None = None, issuer: str | None = None,
                        shape: str = "adfs", response_id: str | None = None,
                        now: dt.datetime | None = None, sign: bool = True,
                        sig_alg: str | None = None, digest_alg: str = "sha256") -> str:
        """The IdP's LogoutResponse to the SP's LogoutRequest, as XML text;
        sign as for logout_request(). None omits Destination/InResponseTo."""
        sh = SHAPES[shape]
        now = now or dt.datetime.now(UTC)
        rid = response_id or new_id(sh.ids)
        root = etree.Element(_q(SAMLP, "LogoutResponse"), nsmap={sh.protocol_prefix: SAMLP})
        for k, v in (("ID", rid), ("Version", "2.0"),
                     ("IssueInstant", instant(now, sh.fraction_digits)),
                     ("Destination", destination), ("Consent", sh.consent),
                     ("InResponseTo", in_response_to)):
            if v is not None:
                root.set(k, v)
        _sub(root, SAML, "Issuer", issuer or self.entity_id, [("Format", sh.issuer_format)],
             nsmap={sh.assertion_prefix: SAML})
        if sign:
            root.append(_signature_template(rid, sh.ds_prefix, sig_alg or self._default_sig_alg(),
                                            digest_alg, sh.cert_in_keyinfo, None))
        st = _sub(root, SAMLP, "Status")
        code = _sub(st, SAMLP, "StatusCode", attrs=[("Value", status)])
        if second_status:
            _sub(code, SAMLP, "StatusCode", attrs=[("Value", second_status)])
        if status_message is not None:
            _sub(st, SAMLP, "StatusMessage", status_message)
        if sign:
            root = self._xmlsec_sign(etree.tostring(root))
        return _text(root)

    def redirect_query(self, field: str, xml: str, relay_state: str | None = None, *,
                       sign: bool = True, sig_alg: str = "rsa-sha256") -> str:
        """The query string of the HTTP-Redirect binding: field (SAMLRequest
        or SAMLResponse) = DEFLATE + Base64 of xml, RelayState, and if sign,
        SigAlg and Signature over "field=..&RelayState=..&SigAlg=.." as
        sent (URL-encoded), RSA PKCS#1 v1.5 with the IdP's key."""
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = comp.compress(xml.encode("utf-8")) + comp.flush()
        parts = [f"{field}={quote(base64.b64encode(data).decode(), safe='')}"]
        if relay_state is not None:
            parts.append(f"RelayState={quote(relay_state, safe='')}")
        if sign:
            parts.append(f"SigAlg={quote(SIG_ALGS[sig_alg], safe='')}")
            octets = "&".join(parts).encode()
            digest = {"rsa-sha1": hashes.SHA1(), "rsa-sha256": hashes.SHA256(),
                      "rsa-sha512": hashes.SHA512()}[sig_alg]
            sig = self.key.sign(octets, padding.PKCS1v15(), digest)
            parts.append(f"Signature={quote(base64.b64encode(sig).decode(), safe='')}")
        return "&".join(parts)

    @staticmethod
    def post_form_for(field: str, xml: str, relay_state: str | None) -> dict:
        """Like post_form, for any field (SAMLRequest or SAMLResponse)."""
        form = {field: base64.b64encode(xml.encode("utf-8")).decode()}
        if relay_state is not None:
            form["RelayState"] = relay_state
        return form

def _load_cert(cert) -> x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return cert
    if isinstance(cert, bytes) and cert.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(cert)
    return x509.load_pem_x509_certificate(Path(cert).read_bytes())


def _encrypt(assertion, cert, enc_alg: str, sh: Shape) -> etree._Element:
    """EncryptedAssertion: the Assertion under a random AES key, that key
    under the certificate's RSA key (RSA-OAEP-MGF1P, SHA-1), as IdPs send it."""
    alg_uri, key_len, gcm = ENC_ALGS[enc_alg]
    plaintext = etree.tostring(assertion, with_tail=False)
    key = os.urandom(key_len)
    if gcm:
        iv = os.urandom(12)
        data = iv + AESGCM(key).encrypt(iv, plaintext, None)
    else:
        iv = os.urandom(16)
        padder = sym_padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        data = iv + enc.update(padder.update(plaintext) + padder.finalize()) + enc.finalize()
    wrapped = _load_cert(cert).public_key().encrypt(
        key, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
    ea = etree.Element(_q(SAML, "EncryptedAssertion"), nsmap={sh.assertion_prefix: SAML})
    ed = _sub(ea, XENC, "EncryptedData", attrs=[("Type", XENC + "Element")],
              nsmap={"xenc": XENC})
    _sub(ed, XENC, "EncryptionMethod", attrs=[("Algorithm", alg_uri)])
    ek = _sub(_sub(ed, DS, "KeyInfo", nsmap={"ds": DS}), XENC, "EncryptedKey")
    em = _sub(ek, XENC, "EncryptionMethod", attrs=[("Algorithm", RSA_OAEP)])
    _sub(em, DS, "DigestMethod", attrs=[("Algorithm", DIGEST_ALGS["sha1"])])
    _sub(_sub(ek, XENC, "CipherData"), XENC, "CipherValue", base64.b64encode(wrapped).decode())
    _sub(_sub(ed, XENC, "CipherData"), XENC, "CipherValue", base64.b64encode(data).decode())
    return ea


# ------------------------------------------------------- hostile variants
def _evil_copy(assertion, evil: str, new_id: bool) -> etree._Element:
    """Unsigned copy of an assertion with the evil NameID."""
    e = copy.deepcopy(assertion)
    sig = _own_signature(e)
    if sig is not None:
        _remove(sig)
    _set_name_id(e, evil)
    if new_id:
        e.set("ID", "_evil" + secrets.token_hex(16))
    return e


def _unsigned_copy(el) -> etree._Element:
    c = copy.deepcopy(el)
    sig = _own_signature(c)
    if sig is not None:
        _remove(sig)
    return c


def _drop_response_signature(root) -> None:
    sig = _own_signature(root)
    if sig is not None:
        _remove(sig)


def _xsw_response(root, evil: str, before_signature: bool) -> None:
    """XSW1/2: an unsigned copy of the signed Response (original ID) goes
    into ds:Signature/ds:Object (XSW1) or right before ds:Signature (XSW2);
    the outer Response gets a new ID and an unsigned evil Assertion (new ID)."""
    sig = _own_signature(root)
    clone = _unsigned_copy(root)
    if before_signature:
        sig.addprevious(clone)
    else:
        _sub(sig, DS, "Object").append(clone)
    root.set("ID", "_evil" + secrets.token_hex(16))
    a = _assertion(root)
    a.getparent().replace(a, _evil_copy(a, evil, new_id=True))


def _xsw3(root, evil):   # evil assertion (new ID, unsigned) before the signed one
    a = _assertion(root)
    a.addprevious(_evil_copy(a, evil, new_id=True))


def _xsw4(root, evil):   # signed assertion wrapped inside the evil one
    a = _assertion(root)
    e = _evil_copy(a, evil, new_id=True)
    a.addprevious(e)
    e.append(a)


def _xsw5(root, evil):   # evil in place keeps the signature; signed copy appended to Response
    a = _assertion(root)
    root.append(_unsigned_copy(a))
    _set_name_id(a, evil)
    a.set("ID", "_evil" + secrets.token_hex(16))


def _xsw6(root, evil):   # evil in place keeps the signature; signed copy inside that ds:Signature
    a = _assertion(root)
    _own_signature(a).append(_unsigned_copy(a))
    _set_name_id(a, evil)
    a.set("ID", "_evil" + secrets.token_hex(16))


def _xsw7(root, evil):   # signed assertion hidden in samlp:Extensions; evil, same ID, in its place
    a = _assertion(root)
    a.addprevious(_evil_copy(a, evil, new_id=False))
    ext = etree.SubElement(root, _q(SAMLP, "Extensions"))
    _insert_after_issuer(root, ext)
    ext.append(a)


def _xsw8(root, evil):   # evil in place, same ID, signature kept; signed copy in its ds:Object
    a = _assertion(root)
    _sub(_own_signature(a), DS, "Object").append(_unsigned_copy(a))
    _set_name_id(a, evil)


_XSW = {
    "XSW1": lambda r, e: _xsw_response(r, e, before_signature=False),
    "XSW2": lambda r, e: _xsw_response(r, e, before_signature=True),
    "XSW3": _xsw3, "XSW4": _xsw4, "XSW5": _xsw5, "XSW6": _xsw6, "XSW7": _xsw7, "XSW8": _xsw8,
}


def xsw_variants(signed_xml: str, evil_name_id: str = EVIL_NAME_ID) -> dict[str, str]:
    """The XML signature wrapping attacks of "On Breaking SAML" (XSW1..XSW8,
    as SAML Raider applies them, with schema-valid Extensions/Object
    placement). In each, the first Assertion child of the Response (what a
    naive SP reads, see naive_name_id) carries evil_name_id, while the
    original signature value still verifies over the original content
    wherever the reference ID now points.

    XSW1/2 attack the Response signature (needs a signed Response with a
    plain Assertion): the evil Assertion is unsigned. XSW3..8 attack the
    Assertion signature (needs a signed Assertion); a Response signature
    cannot survive them and is removed. Variants that do not apply to the
    message are left out of the result (ValueError if none does). XSW7 and
    XSW8 carry the same ID twice; the others use a fresh ID for the evil
    element.

    Under xmlsec's verifier (lasso, xmlsec1) the original signature still
    verifies in XSW2..XSW5, the wrapping attack proper: only checking that
    the element consumed is the element signed stops them. XSW1/6/8 put the
    signed copy inside ds:Signature, which the enveloped-signature transform
    digests to nothing (or xmlsec rejects outright); XSW7/8 repeat an ID.
    Those target verifiers that implement the transform or ID lookup naively."""
    probe = _parse(signed_xml)
    a = _assertion(probe)
    out = {}
    for name, apply in _XSW.items():
        root = _parse(signed_xml)
        if name in ("XSW1", "XSW2"):
            if _own_signature(root) is None or a is None:
                continue
        else:
            if a is None or _own_signature(a) is None:
                continue
            _drop_response_signature(root)
        apply(root, evil_name_id)
        out[name] = _text(root)
    if not out:
        raise ValueError("no XSW variant applies: needs a signed Response or a signed, "
                         "unencrypted Assertion")
    return out


def comment_in_name_id(signed_xml: str, keep: str | None = None) -> str:
    """Split the NameID text with an empty comment after `keep` (default:
    before its last "."): jane@example.test.evil.example with keep
    "jane@example.test" becomes jane@example.test<!---->.evil.example.
    Exclusive c14n drops comments, so the signature stays valid; a naive
    SP reading the first text node sees only `keep`."""
    root = _parse(signed_xml)
    nid = _name_id_el(_assertion(root))
    text = nid.text or ""
    cut = len(keep) if keep is not None else text.rfind(".")
    if keep is not None and not text.startswith(keep) or cut <= 0:
        raise ValueError(f"cannot split NameID {text!r} at {keep!r}")
    nid.text = text[:cut]
    comment = etree.Comment("")
    comment.tail = text[cut:]
    nid.insert(0, comment)
    return _text(root)


def doctype_xxe(xml: str, system_uri: str = "file:///etc/passwd", bomb_levels: int = 9) -> str:
    """Prepend a DOCTYPE declaring an external entity (system_uri: a file, or
    an http://127.0.0.1 listener to catch out-of-band fetches) and an entity
    expansion bomb (10**bomb_levels "lol"s; 0: none), both referenced from
    the NameID. Note: libxml2 without XML_PARSE_HUGE refuses a bomb of 2+
    levels even when not substituting ("entity reference loop"), so use
    bomb_levels=0 to see whether the SP refuses the DOCTYPE as such."""
    root = _parse(xml)
    nid = _name_id_el(_assertion(root))
    nid.append(etree.Entity("xxe"))
    decls = [f'<!ENTITY xxe SYSTEM "{system_uri}">']
    if bomb_levels:
        nid.append(etree.Entity(f"lol{bomb_levels}"))
        decls.append('<!ENTITY lol0 "lol">')
        decls += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, bomb_levels + 1)]
    qname = f"{root.prefix}:{etree.QName(root).localname}" if root.prefix else etree.QName(root).localname
    return f"<!DOCTYPE {qname} [\n  " + "\n  ".join(decls) + "\n]>\n" + _text(root)


def tamper_attribute_value(signed_xml: str, name: str, new: str) -> str:
    """Change the first value of attribute `name` (breaks the signature)."""
    root = _parse(signed_xml)
    for at in _assertion(root).iter(_q(SAML, "Attribute")):
        if at.get("Name") == name:
            at.find(_q(SAML, "AttributeValue")).text = new
            return _text(root)
    raise KeyError(name)


def strip_signatures(xml: str) -> str:
    """Remove every ds:Signature."""
    root = _parse(xml)
    for sig in list(root.iter(_q(DS, "Signature"))):
        _remove(sig)
    return _text(root)


# ------------------------------------------------- the SP's AuthnRequest
@dataclass
class SignInRequest:
    """What the SP sent the browser to the IdP with."""
    binding: str                 # "redirect" or "post"
    url: str                     # IdP SSO URL (redirect: without the query)
    xml: bytes                   # the decoded AuthnRequest
    request: etree._Element
    request_id: str
    relay_state: str | None
    sig_alg: str | None = None   # redirect binding: SigAlg
    signature: bytes | None = None       # redirect binding: decoded Signature
    signed_octets: bytes | None = None   # redirect binding: what Signature signs


def sign_in_request(sp_response) -> SignInRequest:
    """Decode the SP's sign-in start: a 302/303 to the IdP with SAMLRequest
    (DEFLATE + Base64) and RelayState in the query, or an HTML page whose
    form carries SAMLRequest (Base64) and RelayState as hidden inputs."""
    if sp_response.status_code in (301, 302, 303, 307):
        loc = sp_response.headers["Location"]
        parts = urlsplit(loc)
        raw = {}
        for piece in parts.query.split("&"):
            k, _, v = piece.partition("=")
            raw.setdefault(unquote(k), v)
        if "SAMLRequest" not in raw:
            raise ValueError(f"redirect without SAMLRequest: {loc}")
        xml = zlib.decompress(base64.b64decode(unquote(raw["SAMLRequest"])), -15)
        signed = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg")
                          if k in raw)
        return _sign_in("redirect", urlunsplit(parts._replace(query="", fragment="")), xml,
                        unquote_plus(raw["RelayState"]) if "RelayState" in raw else None,
                        sig_alg=unquote(raw["SigAlg"]) if "SigAlg" in raw else None,
                        signature=(base64.b64decode(unquote(raw["Signature"]))
                                   if "Signature" in raw else None),
                        signed_octets=signed.encode() if "Signature" in raw else None)
    import lxml.html
    page = lxml.html.fromstring(sp_response.content)
    inputs = page.xpath('//input[@name="SAMLRequest"]')
    if not inputs:
        raise ValueError(f"no SAMLRequest in the SP's response ({sp_response.status_code})")
    form = next(inputs[0].iterancestors("form"), None)
    relay = page.xpath('//input[@name="RelayState"]')
    return _sign_in("post", form.get("action") if form is not None else None,
                    base64.b64decode(inputs[0].get("value")),
                    relay[0].get("value") if relay else None)


def _sign_in(binding, url, xml, relay_state, **sig) -> SignInRequest:
    req = _parse(xml)
    return SignInRequest(binding, url, xml, req, req.get("ID"), relay_state, **sig)


def decode_authn_request(sp_response) -> etree._Element:
    return sign_in_request(sp_response).request


def authn_request_id_from(sp_response) -> tuple[str, str | None]:
    """(AuthnRequest ID, RelayState) of the SP's sign-in start."""
    r = sign_in_request(sp_response)
    return r.request_id, r.relay_state


def redirect_signature_params(sp_response) -> dict:
    """{"SigAlg": uri, "Signature": bytes, "signed_octets": bytes} of a signed
    redirect-binding request, {} otherwise."""
    r = sign_in_request(sp_response)
    if r.signature is None:
        return {}
    return {"SigAlg": r.sig_alg, "Signature": r.signature, "signed_octets": r.signed_octets}


# ------------------------------------------------------------ schema check
_PROTOCOL_WRAPPER = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
 <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="{t}/xml.xsd"/>
 <xs:import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation="{t}/xmldsig-core-schema.xsd"/>
 <xs:import namespace="http://www.w3.org/2001/04/xmlenc#" schemaLocation="{t}/xenc-schema.xsd"/>
 <xs:import namespace="urn:oasis:names:tc:SAML:2.0:protocol" schemaLocation="{o}/saml-schema-protocol-2.0.xsd"/>
</xs:schema>"""


@functools.lru_cache(maxsize=1)
def saml_protocol_schema() -> etree.XMLSchema:
    """Compiled OASIS SAML 2.0 protocol schema, offline (harness's resolver)."""
    from harness import OPENSAML, XMLTOOLING, _parser
    wrapper = _PROTOCOL_WRAPPER.format(t=XMLTOOLING.as_uri(), o=OPENSAML.as_uri())
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), _parser()))


def validate_saml_protocol(xml: str | bytes) -> list[str]:
    """Schema-validate a SAML protocol message offline (as
    harness.validate_saml_metadata does for metadata); [] means valid."""
    from harness import _parser
    try:
        doc = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, _parser())
    except etree.XMLSyntaxError as e:
        return [f"not well-formed: {e}"]
    schema = saml_protocol_schema()
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


# ------------------------------------------- the SP's logout messages
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_PARTIAL_LOGOUT = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"


@dataclass
class SamlMessage:
    """A SAML message the SP sent the browser off with (any binding)."""
    binding: str                 # "redirect" or "post"
    url: str                     # where to (redirect: without the query)
    field: str                   # SAMLRequest or SAMLResponse
    xml: bytes
    root: etree._Element
    relay_state: str | None
    sig_alg: str | None = None           # redirect binding: SigAlg
    signature: bytes | None = None       # redirect binding: decoded Signature
    signed_octets: bytes | None = None   # redirect binding: what Signature signs


def saml_message(sp_response) -> SamlMessage:
    """Decode the SP's outgoing SAMLRequest or SAMLResponse: a 3xx whose
    Location carries it (DEFLATE + Base64, HTTP-Redirect) or an HTML page
    whose form carries it (Base64, HTTP-POST)."""
    if sp_response.status_code in (301, 302, 303, 307):
        loc = sp_response.headers["Location"]
        parts = urlsplit(loc)
        raw = {}
        for piece in parts.query.split("&"):
            k, _, v = piece.partition("=")
            raw.setdefault(unquote(k), v)
        field = next((f for f in ("SAMLRequest", "SAMLResponse") if f in raw), None)
        if field is None:
            raise ValueError(f"redirect without SAMLRequest/SAMLResponse: {loc}")
        xml = zlib.decompress(base64.b64decode(unquote(raw[field])), -15)
        signed = "&".join(f"{k}={raw[k]}" for k in (field, "RelayState", "SigAlg") if k in raw)
        return SamlMessage("redirect", urlunsplit(parts._replace(query="", fragment="")), field,
                           xml, _parse(xml),
                           unquote_plus(raw["RelayState"]) if "RelayState" in raw else None,
                           sig_alg=unquote(raw["SigAlg"]) if "SigAlg" in raw else None,
                           signature=(base64.b64decode(unquote(raw["Signature"]))
                                      if "Signature" in raw else None),
                           signed_octets=signed.encode() if "Signature" in raw else None)
    import lxml.html
    page = lxml.html.fromstring(sp_response.content)
    for field in ("SAMLRequest", "SAMLResponse"):
        inputs = page.xpath(f'//input[@name="{field}"]')
        if inputs:
            break
    else:
        raise ValueError(f"no SAMLRequest/SAMLResponse in the SP's answer "
                         f"({sp_response.status_code}): {sp_response.text[:300]!r}")
    form = next(inputs[0].iterancestors("form"), None)
    relay = page.xpath('//input[@name="RelayState"]')
    xml = base64.b64decode(inputs[0].get("value"))
    return SamlMessage("post", form.get("action") if form is not None else None, field,
                       xml, _parse(xml), relay[0].get("value") if relay else None)


def verify_redirect_signature(msg: SamlMessage, cert) -> bool:
    """True if msg (HTTP-Redirect) carries an RSA signature by cert's key
    (object, PEM bytes or path) over its signed octets."""
    if msg.signature is None or msg.sig_alg is None:
        return False
    digest = {SIG_ALGS["rsa-sha1"]: hashes.SHA1(), SIG_ALGS["rsa-sha256"]: hashes.SHA256(),
              SIG_ALGS["rsa-sha512"]: hashes.SHA512()}.get(msg.sig_alg)
    if digest is None:
        return False
    from cryptography.exceptions import InvalidSignature
    try:
        _load_cert(cert).public_key().verify(msg.signature, msg.signed_octets,
                                             padding.PKCS1v15(), digest)
        return True
    except InvalidSignature:
        return False
