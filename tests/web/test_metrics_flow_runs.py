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
