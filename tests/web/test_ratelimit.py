"""Rate limits per user on expensive endpoints: token buckets, 429 with Retry-After, OpenAPI, configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.services.seed import seed_directory
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.auth import issue_dev_token
from dcc.web.deps import get_today
from dcc.web.ratelimit import RULES, Bucket, RateLimiter, RateLimitSettings
from tests.web.helpers_web import TEST_LOGIN, TODAY, web_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"render": Bucket(2, 60), "search": Bucket(1, 6), "sign": Bucket(1, 1)}, clock=clock)
    assert limiter.take("a", "render") == 0.0
    assert limiter.take("a", "render") == 0.0
    assert limiter.take("a", "render") == pytest.approx(1.0)  # 60 a minute: one token a second
    assert limiter.take("b", "render") == 0.0  # per user
    assert limiter.take("a", "search") == 0.0  # per bucket
    assert limiter.take("a", "search") == pytest.approx(10.0)
    clock.now += 0.5
    assert limiter.take("a", "render") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a", "render") == 0.0
    clock.now += 3600  # never more than the burst
    assert [limiter.take("a", "render") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.take("a", "render") > 0


def test_rules_match_route_templates() -> None:
    limiter = RateLimiter(RateLimitSettings(_env_file=None).buckets())  # type: ignore[call-arg]
    rule = limiter.rule_for("GET", "/api/v1/documents/abc-123/pdf")
    assert rule is not None and rule.bucket == "render"
    assert limiter.rule_for("HEAD", "/api/v1/documents/abc/pdf") == rule
    assert limiter.rule_for("GET", "/api/v1/documents/abc") is None  # metadata: cheap
    assert limiter.rule_for("GET", "/api/v1/documents/a/b/pdf") is None
    assert limiter.rule_for("POST", "/api/v1/boards") is None
    search = limiter.rule_for("GET", "/api/v1/sessions")
    assert search is not None and search.bucket == "search"
    assert limiter.rule_for("GET", "/api/v1/sessions/xyz") is None
    graph = limiter.rule_for("GET", "/suivi/graphiques/quorum.svg")
    assert graph is not None and graph.bucket == "render"
    with pytest.raises(ValueError):
        RateLimiter({"render": Bucket(1, 1)})  # rules name buckets that are not configured
    with pytest.raises(ValueError):
        Bucket(0, 1)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCC_RATE_LIMIT_SEARCH_BURST", "5")
    monkeypatch.setenv("DCC_RATE_LIMIT_RENDER_PER_MINUTE", "6")
    monkeypatch.setenv("DCC_RATE_LIMIT_ENABLED", "false")
    limiter = RateLimiter.from_settings()
    assert limiter.buckets["search"] == Bucket(5, 120.0)
    assert limiter.buckets["render"] == Bucket(30, 6.0)
    assert limiter.enabled is False


def _all_routes(routes: list[object]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, APIRoute):
            out |= {(method, route.path) for method in route.methods}
        elif getattr(route, "original_router", None) is not None:
            out |= _all_routes(list(route.original_router.routes))  # type: ignore[attr-defined]
    return out


@pytest.fixture
def limited(database: Database) -> Iterator[tuple[TestClient, FakeClock, dict[str, str]]]:
    """The app with small limits (search: 3 in a row, then 1 every 10 s) and a fake clock."""
    settings = web_settings()
    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=1)
        region = repo.region_by_code(uow.session, "A")
        assert region is not None
        for login in (TEST_LOGIN, "coord-bis"):
            uow.session.add(m.AppUser(login=login, role="coordinator", region_id=region.id,
                                      display_name=login, active=True))
        uow.commit()
    clock = FakeClock()
    limiter = RateLimiter({"render": Bucket(2, 6), "search": Bucket(3, 6), "sign": Bucket(1, 6)}, clock=clock)
    app = create_app(database=database, settings=settings, rate_limiter=limiter)
    app.dependency_overrides[get_today] = lambda: TODAY
    tokens = {login: f"Bearer {issue_dev_token(login, settings=settings)}" for login in (TEST_LOGIN, "coord-bis")}
    with TestClient(app) as client:
        yield client, clock, tokens


def test_429_with_retry_after_per_user(limited: tuple[TestClient, FakeClock, dict[str, str]]) -> None:
    client, clock, tokens = limited
    me = {"Authorization": tokens[TEST_LOGIN]}
    for _ in range(3):
        assert client.get("/api/v1/boards", headers=me).status_code == 200
    r = client.get("/api/v1/sessions", headers=me)  # same bucket (lists)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "10"
    assert r.json() == {"code": "trop_de_requetes", "message": "Trop de requêtes : vous avez atteint la limite "
                        "autorisée pour cette opération. Réessayez dans 10 secondes."}
    assert r.headers["cache-control"] == "no-store" and "content-security-policy" in r.headers
    # other users, other buckets and cheap endpoints are not affected
    assert client.get("/api/v1/boards", headers={"Authorization": tokens["coord-bis"]}).status_code == 200
    board = client.get("/api/v1/boards", headers={"Authorization": tokens["coord-bis"]}).json()[0]["id"]
    assert client.get(f"/api/v1/boards/{board}", headers=me).status_code == 200
    assert client.get(f"/api/v1/boards/{board}/calendar.ics", headers=me).status_code == 200
    # anonymous requests answer 401 and take no token
    for _ in range(5):
        assert client.get("/api/v1/boards").status_code == 401
    assert client.get("/api/v1/boards", headers={"Authorization": "Bearer faux"}).status_code == 401
    clock.now += 4
    assert client.get("/api/v1/boards", headers=me).headers["retry-after"] == "6"
    clock.now += 6
    assert client.get("/api/v1/boards", headers=me).status_code == 200
    assert client.get("/api/v1/boards", headers=me).status_code == 429
    # 429 answers are counted in the metrics
    assert 'status="429"' in client.get("/metrics").text


def test_pages_get_a_french_html_page(limited: tuple[TestClient, FakeClock, dict[str, str]]) -> None:
    client, _, tokens = limited
    me = {"Authorization": tokens[TEST_LOGIN]}
    limiter: RateLimiter = client.app.state.rate_limiter  # type: ignore[attr-defined]
    limiter.take(TEST_LOGIN, "render")
    limiter.take(TEST_LOGIN, "render")
    r = client.get("/suivi/graphiques/quorum.svg", headers=me)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("text/html")
    assert "Trop de requêtes" in r.text and r.headers["retry-after"] == "10"


def test_openapi_documents_429_on_limited_routes(limited: tuple[TestClient, FakeClock, dict[str, str]]) -> None:
    client, _, _ = limited
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (("/api/v1/boards", "get"), ("/api/v1/documents/{document_id}/pdf", "get"),
                         ("/api/v1/audit", "get"), ("/api/v1/sessions/{session_id}/validate", "post")):
        answer = paths[path][method]["responses"]["429"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
        assert "Retry-After" in answer["headers"]
    assert "429" not in paths["/api/v1/cases"]["post"]["responses"]
    assert "429" not in paths["/api/v1/documents/{document_id}"]["get"]["responses"]


def test_every_rendering_and_list_rule_names_a_route(limited: tuple[TestClient, FakeClock, dict[str, str]]) -> None:
    client, _, _ = limited
    routes = _all_routes(list(client.app.routes))  # type: ignore[attr-defined]
    stale = [r for r in RULES if r.bucket != "sign" and (r.method, r.path) not in routes]
    assert stale == []
    signing = [r for r in RULES if r.bucket == "sign" and (r.method, r.path) in routes]
    assert signing, "at least the signing page is limited"


def test_disabled_limits(database: Database) -> None:
    settings = web_settings()
    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=1)
        region = repo.region_by_code(uow.session, "A")
        assert region is not None
        uow.session.add(m.AppUser(login=TEST_LOGIN, role="coordinator", region_id=region.id,
                                  display_name=TEST_LOGIN, active=True))
        uow.commit()
    limiter = RateLimiter({"render": Bucket(1, 1), "search": Bucket(1, 1), "sign": Bucket(1, 1)}, enabled=False)
    app = create_app(database=database, settings=settings, rate_limiter=limiter)
    with TestClient(app) as client:
        me = {"Authorization": f"Bearer {issue_dev_token(TEST_LOGIN, settings=settings)}"}
        assert all(client.get("/api/v1/boards", headers=me).status_code == 200 for _ in range(5))
        assert "429" not in client.get("/openapi.json").json()["paths"]["/api/v1/boards"]["get"]["responses"]
