"""Dev-mode authentication: bearer tokens, the demo login page with CSRF, the session cookie, logout, and the
configuration guards (no dev mode in production)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dcc.adapters.db import models as m
from dcc.errors import ConfigurationError
from dcc.services.seed import seed_directory, seed_users
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.auth import UserCache, issue_dev_token
from tests.web.helpers_web import web_settings


@pytest.fixture
def app_client(database: Database) -> TestClient:
    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=2)
        seed_users(uow, region_codes=["A", "B"])
        uow.commit()
    return TestClient(create_app(database=database, settings=web_settings()))


def test_api_requires_authentication(app_client: TestClient) -> None:
    with app_client as client:
        r = client.get("/api/v1/boards")
        assert r.status_code == 401
        assert r.json()["code"] == "non_authentifie"
        assert "Authentification requise" in r.json()["message"]
        r = client.get("/api/v1/boards", headers={"Authorization": "Bearer pas-un-jeton"})
        assert r.status_code == 401 and r.json()["message"] == "Jeton d'accès invalide."
        forged = issue_dev_token("admin", settings=web_settings(session_secret="une-autre-cle-" + "y" * 30))
        assert client.get("/api/v1/boards", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        assert client.get("/healthz").status_code == 200  # public


def test_dev_token_authenticates_and_audit_names_the_user(database: Database) -> None:
    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=2)
        seed_users(uow, region_codes=["A", "B"])
        uow.commit()
    # no account kept between requests: a deactivation takes effect at the next request
    app_client = TestClient(create_app(database=database, settings=web_settings(), user_cache=UserCache(0)))
    token = issue_dev_token("coord-a", settings=web_settings())
    with app_client as client:
        r = client.get("/api/v1/boards", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()
        unknown = issue_dev_token("personne", settings=web_settings())
        r = client.get("/api/v1/boards", headers={"Authorization": f"Bearer {unknown}"})
        assert r.status_code == 401
    # a deactivated account loses access at the next request
    with database.uow() as uow:
        user = uow.session.query(m.AppUser).filter(m.AppUser.login == "coord-a").one()
        user.active = False
        uow.commit()
    with app_client as client:
        assert client.get("/api/v1/boards", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def _set_account(database: Database, login: str, **values: object) -> None:
    with database.uow() as uow:
        user = uow.session.query(m.AppUser).filter(m.AppUser.login == login).one()
        for name, value in values.items():
            setattr(user, name, value)
        uow.commit()


def test_role_change_and_deactivation_take_effect_within_the_cache_delay(app_client: TestClient,
                                                                         database: Database) -> None:
    """A process keeps an account DELAY seconds after reading it: a role change or a deactivation is seen
    within that delay, never later; a new account is seen at once."""
    delay = 5.0
    now = [100.0]
    app = create_app(database=database, settings=web_settings(), user_cache=UserCache(delay, clock=lambda: now[0]))
    headers = {"Authorization": f"Bearer {issue_dev_token('coord-a', settings=web_settings())}"}
    with TestClient(app) as client:
        assert client.get("/coordination/", headers=headers).status_code == 200  # read at t=100, kept until 105
        _set_account(database, "coord-a", role="monitor")
        now[0] = 104.9  # within the delay: the account as read
        assert client.get("/coordination/", headers=headers).status_code == 200
        now[0] = 105.0  # the delay has run out: read again, now a monitor (page refused to the role)
        r = client.get("/coordination/", headers=headers)
        assert r.status_code == 403 and "rôle" in r.text
        assert client.get("/api/v1/boards", headers=headers).status_code == 200  # still a user (monitor)
        _set_account(database, "coord-a", active=False)
        now[0] = 109.9  # read again at t=105: kept until 110
        assert client.get("/api/v1/boards", headers=headers).status_code == 200
        now[0] = 110.0
        r = client.get("/api/v1/boards", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "non_authentifie"
        now[0] = 111.0  # a deactivated account is not kept: reactivated, it works at the next request
        _set_account(database, "coord-a", active=True, role="coordinator")
        assert client.get("/coordination/", headers=headers).status_code == 200


def test_logout_drops_the_kept_account(app_client: TestClient, database: Database) -> None:
    """Logging out ends the session at once, and the next login reads the account afresh (not the kept one)."""
    now = [0.0]
    app = create_app(database=database, settings=web_settings(), user_cache=UserCache(60, clock=lambda: now[0]))
    with TestClient(app) as client:
        r = client.post("/login/dev", data={"login": "coord-a", "csrf_token": _csrf(client.get("/login").text)},
                        follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/coordination/").status_code == 200  # kept for 60 s
        _set_account(database, "coord-a", role="monitor")
        r = client.post("/logout", data={"csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/api/v1/boards").status_code == 401  # the session no longer names the user
        r = client.post("/login/dev", data={"login": "coord-a", "csrf_token": _csrf(client.get("/login").text)},
                        follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/coordination/").status_code == 403  # read afresh: a monitor now


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_login_page_csrf_session_cookie_and_logout(app_client: TestClient, database: Database) -> None:
    with app_client as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert '<html lang="fr">' in page.text
        for login in ("coord-a", "phys-a1", "phys-a2", "phys-b1", "monitor-a", "admin"):
            assert f'value="{login}"' in page.text
        assert "<script" not in page.text
        token = _csrf(page.text)

        # without (or with a wrong) CSRF token: refused
        r = client.post("/login/dev", data={"login": "phys-a1"}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.json()["message"]
        r = client.post("/login/dev", data={"login": "phys-a1", "csrf_token": "faux"}, follow_redirects=False)
        assert r.status_code == 403
        # cross-site post: refused even with the token
        r = client.post("/login/dev", data={"login": "phys-a1", "csrf_token": token},
                        headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
        assert r.status_code == 403

        r = client.post("/login/dev", data={"login": "phys-a1", "csrf_token": token, "next": "//evil.example"},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "dcc_session=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()  # dev mode only
        assert client.get("/api/v1/boards").status_code == 200  # the session cookie authenticates

        # logout needs the CSRF token too
        assert client.post("/logout", follow_redirects=False).status_code == 403
        token = _csrf(client.get("/login").text)
        r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/api/v1/boards").status_code == 401

        r = client.post("/login/dev", data={"login": "inconnu", "csrf_token": _csrf(client.get("/login").text)})
        assert r.status_code == 403 and "inconnu" in r.text
    with database.uow() as uow:
        actions = [(e.actor, e.action) for e in uow.session.query(m.AuditEvent).order_by(m.AuditEvent.id)]
    assert ("phys-a1", "auth.login") in actions
    assert ("phys-a1", "auth.logout") in actions
    assert ("anonymous", "auth.login_refused") in actions


def test_dev_mode_refused_in_production(database: Database) -> None:
    with pytest.raises(ConfigurationError, match="interdit en production"):
        create_app(database=database, settings=web_settings(env="production"))
    with pytest.raises(ConfigurationError):
        issue_dev_token("admin", settings=web_settings(env="production"))
    with pytest.raises(ConfigurationError, match="DCC_OIDC_DISCOVERY_URL"):
        create_app(database=database, settings=web_settings(auth_mode="oidc"))
    with pytest.raises(ConfigurationError, match="DCC_SESSION_SECRET"):
        create_app(database=database, settings=web_settings(env="production", auth_mode="oidc",
                                                             session_secret="",
                                                             oidc_discovery_url="https://idp.example/.well-known",
                                                             oidc_client_id="dcc"))


def test_oidc_mode_refuses_dev_tokens(database: Database) -> None:
    token = issue_dev_token("admin", settings=web_settings())
    app = create_app(database=database, settings=web_settings(
        auth_mode="oidc", oidc_discovery_url="http://127.0.0.1:9/.well-known/openid-configuration",
        oidc_client_id="dcc"))
    with TestClient(app) as client:
        r = client.get("/api/v1/boards", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_cli_prints_a_token(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from dcc.cli.auth import auth_app
    from dcc.config import get_settings

    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=1)
        seed_users(uow, region_codes=["A"])
        uow.commit()
    monkeypatch.setenv("DCC_DATABASE_URL", database.url)
    monkeypatch.setenv("DCC_SESSION_SECRET", "cle-de-test-" + "x" * 32)
    monkeypatch.setenv("DCC_AUTH_MODE", "dev")
    monkeypatch.setenv("DCC_ENV", "test")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(auth_app, ["token", "--user", "monitor-a"])
        assert result.exit_code == 0, result.output
        token = result.output.strip()
        result = CliRunner().invoke(auth_app, ["token", "--user", "personne"])
        assert result.exit_code == 2
    finally:
        get_settings.cache_clear()
    with TestClient(create_app(database=database, settings=web_settings())) as client:
        r = client.get("/api/v1/deliveries", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
