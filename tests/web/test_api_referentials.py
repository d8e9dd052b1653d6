"""Referentials API: search for forms, French errors, versions in force, guidelines, retired codes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from dcc.adapters.referentials import read_path
from dcc.services import referentials as svc
from dcc.services.uow import Database


def _baseline(database: Database) -> None:
    with database.uow() as uow:
        svc.load_baseline(uow, today=date(2026, 3, 2))


def test_search_value_set(client: TestClient, database: Database) -> None:
    _baseline(database)
    r = client.get("/api/v1/referentials/JDV_RCP_Organe_CISIS/search", params={"q": "LYMPHOME non hodg"})
    assert r.status_code == 200, r.text
    assert [(h["code"], h["label"]) for h in r.json()] == [("C3211", "lymphome non hodgkinien")]
    r = client.get("/api/v1/referentials/JDV_RCP_Organe_CISIS/search", params={"q": "lymphome", "limit": 1})
    assert r.status_code == 200 and len(r.json()) == 1


def test_unknown_system_and_bad_queries_in_french(client: TestClient, database: Database) -> None:
    _baseline(database)
    r = client.get("/api/v1/referentials/CIM-99/search", params={"q": "sein"})
    assert r.status_code == 404
    assert r.json()["message"].startswith("Référentiel inconnu : « CIM-99 »")
    r = client.get("/api/v1/referentials/JDV_RCP_Organe_CISIS/search", params={"q": "é"})
    assert r.status_code == 422
    assert r.json()["message"] == "Saisissez au moins 2 lettres ou chiffres pour rechercher."
    r = client.get("/api/v1/referentials/JDV_RCP_Organe_CISIS/search", params={"q": "sein", "limit": 0})
    assert r.status_code == 422 and "entre 1 et 50" in r.json()["message"]
    r = client.get("/api/v1/referentials/JDV_RCP_Organe_CISIS/search")
    assert r.status_code == 422
    r = client.get("/api/v1/referentials/CIM-99/versions")
    assert r.status_code == 404 and "Référentiel inconnu" in r.json()["message"]


def test_versions_guidelines_and_retired_codes(client: TestClient, database: Database, tmp_path: Path) -> None:
    _baseline(database)
    csv = tmp_path / "guides.csv"
    csv.write_text("referentiel;version;date;organe;url\nCancer du sein;2025;2025-04-01;76752008;\n"
                   "Cancer du poumon;2023;2023-09-01;39607008;\n", encoding="utf-8")
    with database.uow() as uow:
        svc.import_referentials(uow, read_path(csv), actor="test", today=date(2026, 3, 2), version="2025")
    r = client.get("/api/v1/referentials")
    assert r.status_code == 200
    by_system = {v["system"]: v for v in r.json()}
    assert by_system["referentiels_regionaux"]["version"] == "2025"
    assert by_system["JDV_RCP_Organe_CISIS"]["source"].startswith("dcc/data/valuesets.json")
    r = client.get("/api/v1/referentials/guidelines", params={"organ": "76752008"})
    assert [(g["name"], g["date"]) for g in r.json()] == [("Cancer du sein", "2025-04-01")]
    r = client.get("/api/v1/referentials/retired-codes")
    assert r.status_code == 200 and r.json() == {"count": 0, "items": []}


def test_requires_authentication(client: TestClient) -> None:
    del client.headers["Authorization"]
    assert client.get("/api/v1/referentials/JDV_RCP_Organe_CISIS/search", params={"q": "sein"}).status_code == 401
