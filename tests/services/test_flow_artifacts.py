"""The drain flows' table artifacts (flows/artifacts.py): what each flow publishes under its key, and a failure
to publish logged under the flow's own event, never raised (the run's work is already committed)."""

from __future__ import annotations

from typing import Any

import prefect.artifacts
import pytest
import structlog

import flows.delivery as delivery_flow
import flows.documents as documents_flow

DELIVERY = {"counts": {"delivered": 2, "dead": 1}, "failures": [
    {"etat": "lettre morte", "message_id": "m1", "destination": "dmp:A", "motif": "Document refusé"}]}
GENERATION: Any = {"counts": {"generated": 3}, "failures": {"c1": "Champs manquants"}, "created": ["d1"]}


def test_each_flow_publishes_its_rows_under_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[str, list[dict[str, Any]]]] = []

    def fake(*, key: str, table: list[dict[str, Any]], description: str) -> str:
        published.append((key, table))
        return f"art-{len(published)}"

    monkeypatch.setattr(prefect.artifacts, "create_table_artifact", fake)
    assert delivery_flow.publish_artifact(DELIVERY) == "art-1"
    assert documents_flow.publish_artifact(GENERATION) == "art-2"
    assert [key for key, _ in published] == ["distribution-envois", "generation-documents"]
    assert published[0][1][0] == {"résultat": "envois remis", "nombre": 2, "envoi": "", "destination": "",
                                  "motif": ""}
    assert published[0][1][-1]["motif"] == "Document refusé"
    assert published[1][1] == [{"résultat": "dossiers générés", "nombre": 3, "dossier": "", "motif": ""},
                               {"résultat": "échec", "nombre": 1, "dossier": "c1", "motif": "Champs manquants"}]


def test_a_failure_to_publish_is_logged_under_the_flow_s_event_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(**_: Any) -> str:
        raise ConnectionError("Prefect API unreachable")

    monkeypatch.setattr(prefect.artifacts, "create_table_artifact", down)
    with structlog.testing.capture_logs() as logs:
        assert delivery_flow.publish_artifact(DELIVERY) is None
        assert documents_flow.publish_artifact(GENERATION) is None
    assert [(e["event"], e["log_level"]) for e in logs] == [("delivery.artifact_not_published", "error"),
                                                           ("generation.artifact_not_published", "error")]
