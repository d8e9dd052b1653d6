"""Flow runs recorded by the flows' state hooks appear in /metrics: the hooks run on real Prefect flow runs
(Prefect's test harness: a temporary local server), and a hook that cannot record logs it without failing
the flow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog.testing
from fastapi.testclient import TestClient
from prefect import flow
from prefect.testing.utilities import prefect_test_harness

import flows.hooks as hooks
from dcc.services.uow import Database


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@flow(name="distribute_pending", **hooks.HOOKS)
def succeeding() -> str:
    return "ok"


@flow(name="distribute_pending", retries=0, **hooks.HOOKS)
def failing() -> None:
    raise RuntimeError("boom")


def test_flow_runs_are_counted_by_flow_and_outcome(prefect_server: None, client: TestClient, database: Database,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "database", lambda: database)
    assert succeeding() == "ok" and succeeding() == "ok"
    with pytest.raises(RuntimeError, match="boom"):
        failing()
    text = client.get("/metrics").text
    assert 'dcc_flow_runs{flow="distribute_pending",outcome="succes"} 2.0' in text
    assert 'dcc_flow_runs{flow="distribute_pending",outcome="echec"} 1.0' in text


def test_a_hook_that_cannot_record_logs_and_the_flow_still_succeeds(
        prefect_server: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Database:
        raise OSError("database down")

    monkeypatch.setattr(hooks, "database", broken)
    with structlog.testing.capture_logs() as logs:
        assert succeeding() == "ok"
    assert [(e["event"], e["log_level"], e["flow"]) for e in logs if e["event"] == "flow.run not recorded"] == [
        ("flow.run not recorded", "error", "distribute_pending")], logs


def test_a_generation_drain_publishes_its_table_artifact_on_a_real_flow_run(
        prefect_server: None, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generate_pending_documents flow on a real Prefect run: it drains the rows a validation committed
    (one case refused: a dead letter with its French reason), its state hook records the run, and the run
    publishes a table artifact with the counts and the failure."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from sqlalchemy import select

    import flows.documents as documents_flow
    from dcc.adapters.db import models as m
    from dcc.services import demo as demo_services
    from tests.services.conftest import TODAY
    from tests.services.test_generation_queue import RefusingPdf, _prepare

    _prepare(database)
    cases = demo_services.hold_meetings(database, seed=1, today=TODAY, quorum_failure_rate=0.0).decided_cases
    monkeypatch.setattr(hooks, "database", lambda: database)
    monkeypatch.setattr(documents_flow, "database", lambda: database)
    monkeypatch.setattr(documents_flow, "pdf_renderer", lambda: RefusingPdf(failures=1))

    state = documents_flow.generate_pending_documents(max_attempts=2, return_state=True)
    outcome = state.result()
    assert state.is_completed()
    counts = outcome["counts"]
    assert (counts["generated"], counts["dead"], counts["documents"]) == (len(cases) - 1, 1, len(cases) - 1)
    [(dead_case, reason)] = outcome["failures"].items()
    assert reason == "Impossible de générer la fiche RCP : champs manquants : classification TNM."

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[documents_flow.ARTIFACT_KEY])))
    [artifact] = [a for a in artifacts if a.flow_run_id == flow_run_id]
    assert artifact.type == "table"
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    by_result = {row["résultat"]: row for row in table}
    assert by_result["dossiers générés"]["nombre"] == len(cases) - 1
    assert by_result["lettres mortes"]["nombre"] == 1
    assert (by_result["échec"]["dossier"], by_result["échec"]["motif"]) == (dead_case, reason)

    with database.uow() as uow:
        runs = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "flow.run",
                                                              m.AuditEvent.entity_id == "generate_pending_documents"))
        assert [(e.detail["outcome"], e.detail["flow_run_id"]) for e in runs] == [("succes", str(flow_run_id))]
