"""Flow runs recorded by the flows' state hooks appear in /metrics."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

import flows.hooks as hooks
from dcc.services.uow import Database


def test_flow_runs_are_counted_by_flow_and_outcome(client: TestClient, database: Database,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "database", lambda: database)
    flow = SimpleNamespace(name="distribute_pending")
    for _ in range(2):
        hooks.on_completion(flow, SimpleNamespace(id="run-1"), SimpleNamespace(name="Completed"))
    hooks.on_failure(flow, SimpleNamespace(id="run-2"), SimpleNamespace(name="Failed"))
    text = client.get("/metrics").text
    assert 'dcc_flow_runs{flow="distribute_pending",outcome="succes"} 2.0' in text
    assert 'dcc_flow_runs{flow="distribute_pending",outcome="echec"} 1.0' in text
