#!/usr/bin/python3
"""The demo's sample portal: a CGI behind `AuthType IdBroker` that shows the
identity mod_auth_idbroker hands it.

The module puts the signed-in user in REMOTE_USER and every identity field in
an IDBROKER_<field> environment variable (IDBROKER_cip_upn, IDBROKER_tenant,
...). This page lists them all, HTML-escaped, or returns them as JSON when
the request prefers application/json (Accept: application/json):

    {"remote_user": "jane@example.test",
     "identity": {"tenant": "demo", "protocol": "saml", ..., "cip_upn": ...}}

Standard library only; runs under mod_cgid as the httpd user.
"""
from __future__ import annotations

import html
import json
import os
import sys

# (field, what it is), in the order shown; any other IDBROKER_* variable the
# module sets (e.g. cip_directory for Entra ID) is listed after these.
FIELDS = [
    ("tenant", "Tenant the user signed in to"),
    ("protocol", "Federation protocol"),
    ("idp", "Identity provider (entity ID)"),
    ("nameid", "NameID from the IdP (OpenID Connect: the sub claim)"),
    ("nameid_format", "NameID format"),
    ("cip_upn", "User principal name"),
    ("cip_sid", "Windows security identifier (SID)"),
    ("cip_oid", "Object GUID"),
    ("cip_email", "Email address"),
    ("displayName", "Display name"),
    ("firstName", "First name"),
    ("lastName", "Last name"),
    ("cip_forest", "AD forest"),
    ("cip_domain", "AD domain"),
]
# Fields the module sets only for some IdPs.
OTHER_FIELDS = {
    "cip_directory": "Directory type (set for Entra ID)",
    "cip_fed_upn": "Federated UPN (set for Entra ID)",
}
PREFIX = "IDBROKER_"
# How the page names the protocol the module reports in IDBROKER_protocol.
PROTOCOLS = {
    "saml": ("SAML 2.0", "SAML response"),
    "saml2": ("SAML 2.0", "SAML response"),
    "oidc": ("OpenID Connect", "ID token"),
}

STYLE = """
body { font-family: system-ui, sans-serif; line-height: 1.5; max-width: 56rem;
       margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; background: #fff; }
a { color: #0645ad; }
a:focus { outline: 3px solid #ffbf47; outline-offset: 2px; }
code { background: #f2f2f2; padding: 0 .2em; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
caption { text-align: left; font-weight: bold; padding: .25rem 0; }
th, td { border: 1px solid #767676; padding: .35rem .6rem; text-align: left;
         vertical-align: top; }
thead th { background: #f2f2f2; }
td.value { font-family: ui-monospace, monospace; word-break: break-all; }
.empty { color: #595959; font-style: italic; font-family: system-ui, sans-serif; }
.note { border-left: 4px solid #0645ad; padding: .5rem 1rem; background: #f5f8ff; }
"""


def env() -> dict[str, str]:
    """The CGI environment as text; bytes that are not UTF-8 are shown as
    U+FFFD rather than failing the page."""
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in os.environb.items()}


def identity(e: dict[str, str]) -> dict[str, str]:
    out = {name: e.get(PREFIX + name, "") for name, _ in FIELDS}
    for key in sorted(e):
        if key.startswith(PREFIX) and key[len(PREFIX):] not in out:
            out[key[len(PREFIX):]] = e[key]
    return out


def accept_q(accept: str) -> dict[str, float]:
    """{media type: q} from an Accept header (highest q per type)."""
    out: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = part.split(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for p in params:
            k, _, v = p.partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v.strip())
                except ValueError:
                    q = 0.0
        out[media] = max(out.get(media, 0.0), q)
    return out


def wants_json(accept: str) -> bool:
    """JSON if the client asks for application/json and prefers it to
    text/html (a browser's Accept lists text/html, so it gets the page)."""
    q = accept_q(accept)
    q_json, q_html = q.get("application/json", 0.0), q.get("text/html", 0.0)
    return q_json > 0 and q_json > q_html


def respond(status: str, ctype: str, body: str, extra: list[tuple[str, str]] = ()) -> None:
    data = body.encode("utf-8")
    headers = [("Status", status), ("Content-Type", ctype),
               ("Content-Length", str(len(data))), ("Cache-Control", "no-store"),
               ("Vary", "Accept"), ("X-Content-Type-Options", "nosniff"),
               ("Referrer-Policy", "no-referrer"), *extra]
    out = sys.stdout.buffer
    out.write("".join(f"{k}: {v}\r\n" for k, v in headers).encode("latin-1", "replace"))
    out.write(b"\r\n")
    out.write(data)
    out.flush()


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def cell(value: str) -> str:
    return esc(value) if value else '<span class="empty">(empty)</span>'


def page(remote_user: str, ident: dict[str, str]) -> str:
    known = {**dict(FIELDS), **OTHER_FIELDS}
    rows = "\n".join(
        f"      <tr>\n"
        f"        <th scope=\"row\"><code>{esc(PREFIX + name)}</code></th>\n"
        f"        <td>{esc(known.get(name, 'Other field set by the module'))}</td>\n"
        f"        <td class=\"value\">{cell(value)}</td>\n"
        f"      </tr>"
        for name, value in ident.items())
    who = ident.get("displayName") or remote_user
    protocol = ident.get("protocol", "")
    proto_name, message = PROTOCOLS.get(protocol, (protocol or "an unknown protocol",
                                                  "answer"))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Signed in as {esc(who)} - sample portal</title>
  <style>{STYLE}</style>
</head>
<body>
  <header>
    <h1>Sample portal</h1>
  </header>
  <main>
    <p class="note" role="status">
      You are signed in as <strong>{esc(who)}</strong>
      (<code>REMOTE_USER</code> = <code>{cell(remote_user)}</code>)
      through tenant <strong>{cell(ident.get("tenant", ""))}</strong>,
      with <strong>{esc(proto_name)}</strong> at the identity provider
      <code>{cell(ident.get("idp", ""))}</code>.
    </p>
    <p><a id="signout" href="/saml/logout">Sign out</a></p>

    <h2>The identity this page received</h2>
    <p>
      mod_auth_idbroker checked the identity provider's {esc(message)} and
      passed the result to this CGI script as environment variables. A portal
      reads the same variables (or, with <code>IdBrokerHeaderPrefix</code>,
      request headers).
    </p>
    <table>
      <caption>Identity fields from mod_auth_idbroker</caption>
      <thead>
        <tr>
          <th scope="col">Variable</th>
          <th scope="col">Meaning</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
{rows}
      </tbody>
    </table>

    <h2>The same as JSON</h2>
    <p>
      Ask for <code>Accept: application/json</code> to get these fields as a
      JSON object. Without a session the module answers such requests with
      <code>401</code> instead of starting a sign-in; with the session cookie
      (<code>idbroker_session</code>) they reach this page.
    </p>

    <h2>More</h2>
    <ul>
      <li><a href="/saml/logout">Sign out</a>: the module asks you to confirm,
        ends this session and, when the identity provider has a logout
        endpoint, signs you out there too.</li>
      <li><a href="/">Demo start page</a></li>
      <li><a href="/saml/metadata">This service provider's SAML metadata</a></li>
    </ul>
  </main>
</body>
</html>
"""


def main() -> None:
    e = env()
    remote_user = e.get("REMOTE_USER", "")
    ident = identity(e)
    json_wanted = wants_json(e.get("HTTP_ACCEPT", ""))
    if not remote_user:
        msg = ("This page received no identity: it must be served behind "
               "AuthType IdBroker (see the demo's httpd.conf).")
        if json_wanted:
            respond("500 Internal Server Error", "application/json",
                    json.dumps({"error": msg}) + "\n")
        else:
            respond("500 Internal Server Error", "text/plain; charset=utf-8", msg + "\n")
        return
    if json_wanted:
        respond("200 OK", "application/json",
                json.dumps({"remote_user": remote_user, "identity": ident}, indent=1) + "\n")
        return
    respond("200 OK", "text/html; charset=utf-8", page(remote_user, ident),
            [("Content-Security-Policy",
              "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")])


if __name__ == "__main__":
    main()
