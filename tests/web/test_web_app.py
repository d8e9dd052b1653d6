"""The app shell: health, landing page, metrics, security headers, error shapes, body limit, migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dcc.errors import DatabaseNotMigrated
from dcc.services.uow import Database
from dcc.web import app as web_app
from dcc.web.app import create_app


def test_healthz_pings_the_database(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


def test_root_sends_people_to_their_home_not_a_technical_page(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)  # `client` is a coordinator
    assert r.status_code == 303
    assert r.headers["location"] == "/coordination/"


def test_security_headers_on_every_answer(client: TestClient) -> None:
    for path in ("/", "/healthz", "/api/v1/boards", "/api/v1/cases/inconnu"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/api/v1/boards").headers["cache-control"] == "no-store"


def test_metrics_expose_requests_documents_and_outbox(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/api/v1/cases/inconnu")
    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'dcc_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    # the route template, never the id, is the label
    assert 'route="/api/v1/cases/{case_id}",status="404"' in text
    assert "dcc_database_up 1.0" in text
    assert 'dcc_outbox_messages{state="dead"} 0.0' in text


def test_unknown_route_answers_french_json(client: TestClient) -> None:
    r = client.get("/nulle-part")
    assert r.status_code == 404
    assert r.json() == {"code": "introuvable", "message": "Ressource introuvable."}
    r = client.delete("/api/v1/boards")
    assert r.status_code == 405
    assert r.json()["code"] == "methode_non_autorisee"


def test_malformed_json_is_422_in_french(client: TestClient) -> None:
    r = client.post("/api/v1/cases", content=b"{pas du json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["code"] == "donnee_invalide"
    assert "JSON valide" in r.json()["message"]


def test_missing_body_is_422_in_french(client: TestClient) -> None:
    r = client.post("/api/v1/cases")
    assert r.status_code == 422
    assert r.json()["message"] == "Le corps de la requête est obligatoire."


def test_body_too_large_declared(client: TestClient) -> None:
    r = client.post("/api/v1/cases", content=b"x" * (1024 * 1024 + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "requete_trop_volumineuse"
    assert "taille maximale" in r.json()["message"]
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_body_too_large_streamed_without_length(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536 * 2  # 20 × 128 KiB, chunked: no Content-Length

    r = client.post("/api/v1/cases", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "requete_trop_volumineuse"


def test_openapi_documents_errors_with_the_error_model(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "ErrorOut" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith("4"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorOut"), (method, path, status)
    assert "404" in schema["paths"]["/api/v1/cases/{case_id}"]["get"]["responses"]
    assert "422" in schema["paths"]["/api/v1/cases"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/v1/deliveries/{message_id}/requeue"]["post"]["responses"]


def test_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'vide.sqlite3'}", check_migrated=False)
    try:
        with pytest.raises(DatabaseNotMigrated, match="dcc db upgrade"):
            create_app(database=db)
    finally:
        db.dispose()


def test_factory_exits_with_the_french_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def unmigrated() -> Database:
        raise DatabaseNotMigrated("La base de données n'est pas à jour (version vide, attendue 0001). "
                                  "Lancez `dcc db upgrade` avant de démarrer.")

    monkeypatch.setattr(web_app, "_default_database", unmigrated)
    with pytest.raises(SystemExit) as exc:
        create_app()
    assert "Lancez `dcc db upgrade`" in str(exc.value.code)
