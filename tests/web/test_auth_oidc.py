"""OIDC: the real authorization-code flow with PKCE against a local provider (oidc-provider-mock, its WSGI app
served in a thread on loopback). The provider is wrapped to enforce PKCE (S256), which the mock itself does not
check, so a client that forgot the verifier would fail here."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import User as MockUser
from oidc_provider_mock import app as mock_app
from werkzeug.serving import make_server

from dcc.adapters.db import models as m
from dcc.services.seed import seed_directory, seed_users
from dcc.services.uow import Database
from dcc.web.app import create_app
from tests.web.helpers_web import web_settings


@dataclass
class PkceGuard:
    """WSGI middleware: remembers each code's challenge and refuses a token request without the right
    verifier (RFC 7636, S256)."""

    app: Any
    challenges: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/authorize":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if environ["REQUEST_METHOD"] == "GET":
                assert query.get("code_challenge_method") == ["S256"], query
                self.pending.append(query["code_challenge"][0])

            def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
                for name, value in headers:
                    if name.lower() == "location" and "code=" in value:
                        code = parse_qs(urlsplit(value).query)["code"][0]
                        self.challenges[code] = parse_qs(environ.get("QUERY_STRING", ""))["code_challenge"][0]
                return start_response(status, headers, *args)

            return self.app(environ, capture)
        if path == "/oauth2/token":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            form = parse_qs(body.decode())
            code = form.get("code", [""])[0]
            verifier = form.get("code_verifier", [""])[0]
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if code and (not verifier or self.challenges.get(code) != digest):
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "invalid_grant", "error_description": "PKCE verification failed"}']
            self.verified.append(code)
            import io

            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


@dataclass
class Provider:
    url: str
    guard: PkceGuard


@pytest.fixture
def provider(database: Database) -> Iterator[Provider]:
    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=1)
        seed_users(uow, region_codes=["A"])
        uow.commit()
        rpps = uow.session.query(m.Professional).filter(m.Professional.login == "phys-a1").one().rpps
    users = [MockUser(sub="psc-phys-a1", claims={"preferred_username": rpps, "SubjectNameID": "8" + rpps,
                                                  "family_name": "Test", "given_name": "Médecin"}),
             MockUser(sub="psc-inconnu", claims={"preferred_username": "10000000009"})]
    guard = PkceGuard(mock_app(user_claims=users, require_nonce=True))
    server = make_server("127.0.0.1", 0, guard, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}", guard=guard)
    finally:
        server.shutdown()
        thread.join(5)


def _client(database: Database, provider: Provider, **overrides: Any) -> TestClient:
    settings = web_settings(auth_mode="oidc", oidc_discovery_url=f"{provider.url}/.well-known/openid-configuration",
                             oidc_client_id="dcc-test", oidc_client_secret="secret", **overrides)
    return TestClient(create_app(database=database, settings=settings), base_url="https://testserver")


def _login(client: TestClient, sub: str) -> httpx.Response:
    r = client.get("/login", params={"next": "/api/v1/boards"}, follow_redirects=False)
    assert r.status_code == 302, r.text
    authorize = r.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["response_type"] == ["code"] and query["nonce"][0] and query["state"][0]
    assert "openid" in query["scope"][0].split()
    with httpx.Client() as browser:
        form = browser.get(authorize)
        assert form.status_code == 200
        consent = browser.post(authorize, data={"sub": sub}, follow_redirects=False)
    assert consent.status_code == 302, consent.text
    callback = urlsplit(consent.headers["location"])
    assert callback.path == "/auth/callback"
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def test_authorization_code_flow_with_pkce(database: Database, provider: Provider) -> None:
    with _client(database, provider) as client:
        assert client.get("/api/v1/boards").status_code == 401
        r = _login(client, "psc-phys-a1")
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/api/v1/boards"
        assert provider.guard.verified, "the token request carried the PKCE verifier"
        assert client.get("/api/v1/boards").status_code == 200
    with database.uow() as uow:
        login = [e for e in uow.session.query(m.AuditEvent) if e.action == "auth.login"]
        assert login and login[-1].actor == "phys-a1" and login[-1].detail["mode"] == "oidc"


def test_psc_subject_name_id_claim(database: Database, provider: Provider) -> None:
    with _client(database, provider, oidc_national_id_claim="SubjectNameID") as client:
        assert _login(client, "psc-phys-a1").status_code == 303
        assert client.get("/api/v1/boards").status_code == 200


def test_unknown_professional_is_refused(database: Database, provider: Provider) -> None:
    with _client(database, provider) as client:
        r = _login(client, "psc-inconnu")
        assert r.status_code == 403
        assert "Aucun compte dcc actif" in r.text
        assert client.get("/api/v1/boards").status_code == 401


def test_forged_state_is_refused(database: Database, provider: Provider) -> None:
    with _client(database, provider) as client:
        client.get("/login", follow_redirects=False)
        r = client.get("/auth/callback", params={"code": "volé", "state": "forgé"}, follow_redirects=False)
        assert r.status_code == 403
        assert client.get("/api/v1/boards").status_code == 401


def test_oidc_cookie_is_secure(database: Database, provider: Provider) -> None:
    with _client(database, provider) as client:
        r = client.get("/login", follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
