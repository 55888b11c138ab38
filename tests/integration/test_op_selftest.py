"""Self-test of the OpenID Provider fixture (op.py: npm oidc-provider under
Node.js) without the module: python plays the RP. If these fail, the OIDC
sign-in tests built on op.py are meaningless."""
from __future__ import annotations

import time

import pytest
import requests

from harness import free_port
from op import (SCOPE, browser_login, decode_jwt, error_text, find_form, follow_logout,
                redirect_params)
from op import oidc_op, oidc_op_factory  # noqa: F401  (pytest fixtures)

CIP_CLAIMS = ("cip_upn", "cip_sid", "cip_oid", "cip_email", "displayName",
              "firstName", "lastName")


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False
        yield s


def rp_urls():
    """Redirect URIs of an RP that exists only as configuration."""
    base = f"http://127.0.0.1:{free_port()}"
    return f"{base}/oidc/callback", f"{base}/loggedout"


def sign_in(op, session, client, login="jane", **params):
    """Code flow up to the token response; returns (auth request, tokens)."""
    req = op.auth_request(client, **params)
    r = browser_login(session, req.url, login)
    assert r.status_code == 303, (r.status_code, r.text[:500], op.log()[-2000:])
    assert r.headers["Location"].startswith(client.redirect_uri + "?")
    q = redirect_params(r)
    assert q["state"] == req.state and q["iss"] == op.issuer and "code" in q, q
    t = op.exchange_code(client, q["code"], req.code_verifier)
    assert t.status_code == 200, (t.status_code, t.text)
    return req, t.json()


def test_discovery_and_jwks(oidc_op):
    op = oidc_op
    d = requests.get(op.discovery_url, timeout=5).json()
    assert d["issuer"] == op.issuer == f"http://127.0.0.1:{op.port}"
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                 "jwks_uri", "end_session_endpoint"):
        assert d[name].startswith(op.issuer + "/"), name
    assert d["response_types_supported"] == ["code"]
    assert d["grant_types_supported"] == ["authorization_code"]
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert sorted(d["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic", "client_secret_post"]
    assert {"RS256", "ES256"} <= set(d["id_token_signing_alg_values_supported"])
    assert set(SCOPE.split()) <= set(d["scopes_supported"])
    assert "offline_access" not in d["scopes_supported"]
    assert set(CIP_CLAIMS + ("cip_domain", "cip_forest")) <= set(d["claims_supported"])
    for off in ("device_authorization_endpoint", "registration_endpoint",
                "introspection_endpoint", "revocation_endpoint",
                "pushed_authorization_request_endpoint"):
        assert off not in d, off
    jwks = op.jwks()
    assert [k["kid"] for k in jwks["keys"]] == op.kids
    assert [k["alg"] for k in jwks["keys"]] == ["RS256", "ES256"]
    assert not any("d" in k for k in jwks["keys"]), "private key material in JWKS"


@pytest.mark.parametrize("auth_method,alg", [("client_secret_basic", "RS256"),
                                             ("client_secret_post", "ES256")])
def test_code_flow(oidc_op, session, auth_method, alg):
    op = oidc_op
    cb, out = rp_urls()
    client = op.add_client(redirect_uris=[cb], post_logout_redirect_uris=[out],
                           token_endpoint_auth_method=auth_method,
                           id_token_signed_response_alg=alg)
    req, tokens = sign_in(op, session, client)
    assert tokens["token_type"].lower() == "bearer"
    assert "refresh_token" not in tokens
    header, _ = decode_jwt(tokens["id_token"])
    assert header["alg"] == alg and header["kid"] == op.signing_key(alg).kid
    claims = op.verify_id_token(tokens["id_token"], client, nonce=req.nonce)
    assert claims["sub"] == "jane" and claims["aud"] == client.client_id
    assert claims["cip_upn"] == "jane@example.test"
    for name in CIP_CLAIMS + ("email", "name", "cip_domain"):
        assert name in claims, name
    ui = requests.get(op.userinfo_endpoint, timeout=5,
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert ui.status_code == 200, ui.text
    info = ui.json()
    assert info["sub"] == "jane"
    assert {k: info[k] for k in CIP_CLAIMS} == {k: claims[k] for k in CIP_CLAIMS}
    # a code works once
    q = op.exchange_code(client, "not-a-code", req.code_verifier)
    assert q.status_code == 400 and q.json()["error"] == "invalid_grant"


def test_client_auth_and_pkce_enforced(oidc_op, session):
    op = oidc_op
    cb, _ = rp_urls()
    client = op.add_client(redirect_uris=[cb])
    # no code_challenge: refused, back at the RP
    req = op.auth_request(client, code_challenge=None, code_challenge_method=None)
    r = browser_login(session, req.url, "jane")
    assert r.status_code == 303 and redirect_params(r)["error"] == "invalid_request", r.headers
    # wrong verifier, wrong secret, wrong auth method
    req = op.auth_request(client)
    code = redirect_params(browser_login(session, req.url, "jane"))["code"]
    t = op.exchange_code(client, code, "x" * 43)
    assert t.status_code == 400 and t.json()["error"] == "invalid_grant", t.text
    req = op.auth_request(client)
    code = redirect_params(browser_login(session, req.url, "jane"))["code"]
    t = op.exchange_code(client, code, req.code_verifier, client_secret="wrong")
    assert t.status_code == 401 and t.json()["error"] == "invalid_client", t.text
    t = op.exchange_code(client, code, req.code_verifier, auth_method="client_secret_post")
    assert t.status_code == 401 and t.json()["error"] == "invalid_client", t.text
    # unregistered redirect_uri: error page at the OP, no redirect
    req = op.auth_request(client, redirect_uri=cb + "/other")
    r = browser_login(session, req.url, "jane")
    assert r.status_code == 400 and "redirect_uri" in error_text(r), r.text[:500]


def test_documented_login_steps(oidc_op, session):
    """The exact requests op.py's docstring describes (what a test that does
    not use browser_login relies on)."""
    op = oidc_op
    cb, _ = rp_urls()
    client = op.add_client(redirect_uris=[cb])
    req = op.auth_request(client)
    r = session.get(req.url, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/interaction/")
    interaction = op.issuer + r.headers["Location"]
    r = session.get(interaction, allow_redirects=False)
    assert r.status_code == 200
    action, method, fields = find_form(r, "login")
    assert (action, method, fields) == (interaction + "/login", "post", {"login": ""})
    r = session.post(action, data={"login": "jane"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == op.issuer + "/auth/" + \
        interaction.rsplit("/", 1)[1]
    r = session.get(r.headers["Location"], allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith(cb + "?code=")
    # the one-step variant: GET /interaction/UID?login=NAME
    with requests.Session() as s2:
        r = s2.get(op.auth_request(client).url, allow_redirects=False)
        r = s2.get(op.issuer + r.headers["Location"], params={"login": "multi"},
                   allow_redirects=False)
        assert r.status_code == 303
        r = s2.get(r.headers["Location"], allow_redirects=False)
        assert r.status_code == 303 and "code" in redirect_params(r)


def test_login_form_variants(oidc_op, session):
    op = oidc_op
    cb, _ = rp_urls()
    client = op.add_client(redirect_uris=[cb])
    # unknown account: the form again, with an error
    r = browser_login(session, op.auth_request(client).url, "nobody")
    assert r.status_code == 200 and find_form(r, "login") and "unknown account" in r.text
    # Cancel: access_denied at the RP
    req = op.auth_request(client)
    r = browser_login(session, req.url, "jane", deny=True)
    q = redirect_params(r)
    assert q["error"] == "access_denied" and q["state"] == req.state, q
    # account without cip claims; accounts can change on a running OP
    op.add_account("late", {"cip_upn": "late@example.test", "cip_sid": "S-1-5-21-9"})
    with requests.Session() as s2:
        req, tokens = sign_in(op, s2, client, login="nosid")
        claims = op.verify_id_token(tokens["id_token"], client, nonce=req.nonce)
        assert claims["sub"] == "nosid" and "cip_upn" not in claims and "cip_sid" not in claims
    req, tokens = sign_in(op, session, client, login="late")
    assert decode_jwt(tokens["id_token"])[1]["cip_upn"] == "late@example.test"
    # OP session: the next sign-in needs no form; prompt=login asks again
    r = browser_login(session, op.auth_request(client).url, "ignored")
    assert r.status_code == 303 and "code" in redirect_params(r)
    req, tokens = sign_in(op, session, client, login="jane", prompt="login")
    assert decode_jwt(tokens["id_token"])[1]["sub"] == "jane"


def test_key_rotation(oidc_op_factory, session):
    op = oidc_op_factory()
    cb, _ = rp_urls()
    client = op.add_client(redirect_uris=[cb])
    _, tokens = sign_in(op, session, client)
    old_kid = decode_jwt(tokens["id_token"])[0]["kid"]
    assert old_kid == op.signing_key("RS256").kid

    new_kids = op.rotate_keys()
    assert len(new_kids) == 2 and old_kid not in new_kids
    assert [k["kid"] for k in op.jwks()["keys"]] == new_kids
    # same process, OP session kept: no login form this time
    req = op.auth_request(client)
    r = browser_login(session, req.url, "not-asked")
    assert r.status_code == 303, r.text[:300]
    t = op.exchange_code(client, redirect_params(r)["code"], req.code_verifier).json()
    header, _ = decode_jwt(t["id_token"])
    assert header["kid"] == new_kids[0] != old_kid
    op.verify_id_token(t["id_token"], client, nonce=req.nonce)

    # overlap: old keys still published, new key signs
    newest = op.rotate_keys(["RS256"], keep_old=True)
    assert [k["kid"] for k in op.jwks()["keys"]] == newest + new_kids
    _, t = sign_in(op, session, client)
    assert decode_jwt(t["id_token"])[0]["kid"] == newest[0]

    # a real restart keeps the port and keys, but ends the OP session
    op.restart()
    assert [k["kid"] for k in op.jwks()["keys"]] == newest + new_kids
    r = browser_login(session, op.auth_request(client).url, "jane")
    assert r.status_code == 303 and "code" in redirect_params(r)
    assert op.log().count("login \"jane\"") == 2  # before and after restart


def test_rp_initiated_logout(oidc_op, session):
    op = oidc_op
    cb, out = rp_urls()
    client = op.add_client(redirect_uris=[cb], post_logout_redirect_uris=[out])
    _, tokens = sign_in(op, session, client)
    url = requests.Request("GET", op.end_session_endpoint, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": out,
        "state": "bye"}).prepare().url
    r = follow_logout(session, url)
    assert r.status_code == 303 and r.headers["Location"] == f"{out}?state=bye", \
        (r.status_code, r.headers, r.text[:300])
    # the OP session is gone: the form comes back
    r = browser_login(session, op.auth_request(client).url, "jane")
    assert r.status_code == 303
    assert op.log().count("login \"jane\"") == 2
    # client_id instead of id_token_hint; unregistered URI is refused
    url = requests.Request("GET", op.end_session_endpoint, params={
        "client_id": client.client_id, "post_logout_redirect_uri": out}).prepare().url
    r = follow_logout(session, url)
    assert r.status_code == 303 and r.headers["Location"] == out
    url = requests.Request("GET", op.end_session_endpoint, params={
        "client_id": client.client_id, "post_logout_redirect_uri": out + "x"}).prepare().url
    r = follow_logout(session, url)
    assert r.status_code == 400 and "post_logout_redirect_uri" in error_text(r)
    # no post_logout_redirect_uri: the OP's own "Signed out" page
    r = follow_logout(session, op.end_session_endpoint)
    assert r.status_code == 200 and 'id="signed-out"' in r.text


def test_token_lifetime_and_clock(oidc_op_factory, session):
    op = oidc_op_factory(id_token_ttl=30, clock_offset=-7200)
    cb, _ = rp_urls()
    client = op.add_client(redirect_uris=[cb])
    _, tokens = sign_in(op, session, client)
    claims = decode_jwt(tokens["id_token"])[1]
    now = time.time()
    assert claims["exp"] - claims["iat"] == 30
    assert abs(claims["iat"] - (now - 7200)) < 10, (claims, now)
    op.set_options(clock_offset=0)
    _, tokens = sign_in(op, session, client, prompt="login")
    assert abs(decode_jwt(tokens["id_token"])[1]["iat"] - time.time()) < 10
