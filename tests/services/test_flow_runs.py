"""Recent flow runs: from dcc's own `flow.run` audit rows (no Prefect server), and from a real Prefect API
(Prefect's test harness: a temporary local server) with the counts the flows' hooks recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from dcc.services import flow_runs
from dcc.services.access import AccessDenied, User
from dcc.services.audit import record_audit
from dcc.services.uow import Database

MONITOR = User(login="obs-a", role="monitor", region_code="A", establishment_id=None, professional_id=None,
               display_name="Observateur")


def test_runs_from_the_audit_rows(database: Database) -> None:
    with database.uow() as uow:
        record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id="distribute_pending",
                     detail={"outcome": "succes", "flow_run_id": "run-1", "state": "Completed",
                             "started_at": "2026-03-02T10:00:00+00:00", "ended_at": "2026-03-02T10:01:30+00:00",
                             "duration_s": 90.0, "counts": {"delivered": 4, "dead": 1}})
        record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id="plan_sessions",
                     detail={"outcome": "echec", "flow_run_id": "run-2", "state": "Failed"})  # an older hook's row
        uow.commit()
    with database.uow() as uow:
        result = flow_runs.recent_runs(uow, MONITOR)
    assert result.source == "audit"
    newest, oldest = result.runs
    assert (newest.flow, newest.state, newest.failed, newest.duration_s) == ("plan_sessions", "en échec", True, None)
    assert (oldest.flow, oldest.state, oldest.failed) == ("distribute_pending", "terminé", False)
    assert oldest.started_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC) and oldest.duration_s == 90.0
    assert oldest.counts == {"delivered": 4, "dead": 1} and oldest.ui_url == ""
    assert flow_runs.fr_duration(90.0) == "1 min 30 s" and flow_runs.fr_duration(None) == "non renseignée"
    coordinator = User(login="c", role="coordinator", region_code="A", establishment_id=None,
                       professional_id=None, display_name="C")
    with database.uow() as uow, pytest.raises(AccessDenied):
        flow_runs.recent_runs(uow, coordinator)


@dataclass
class Outcome:
    generated: list[str]
    refused: dict[str, str]


def test_counts_of_what_flows_return() -> None:
    assert flow_runs.counts_of(3) == {"result": 3}
    assert flow_runs.counts_of(["a", "b"]) == {"items": 2}
    assert flow_runs.counts_of({"delivered": 2, "dead": 0, "detail": "x", "ok": True}) == {"delivered": 2, "dead": 0}
    assert flow_runs.counts_of(Outcome(generated=["d1"], refused={"c1": "non", "c2": "non"})) == {
        "generated": 1, "refused": 2}
    assert flow_runs.counts_of(None) == {}


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_runs_from_a_real_prefect_api(prefect_server: None, sqlite_database: Database,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    import flows.hooks as hooks
    from dcc.adapters import prefect_runs

    monkeypatch.setattr(hooks, "database", lambda: sqlite_database)

    @flow(name="distribute_pending", **hooks.HOOKS)
    def succeeding() -> dict[str, int]:
        from prefect.artifacts import create_table_artifact

        published.append(str(create_table_artifact(key="distribution-envois", table=[{"résultat": "envois remis",
                                                                                     "nombre": 3}])))
        return {"delivered": 3, "dead": 1}

    published: list[str] = []

    @flow(name="plan_sessions", retries=0, **hooks.HOOKS)
    def failing() -> None:
        raise RuntimeError("boom")

    succeeding()
    with pytest.raises(RuntimeError):
        failing()
    api_url = prefect_runs.configured_api_url()
    assert api_url
    with sqlite_database.uow() as uow:
        result = flow_runs.recent_runs(uow, MONITOR, prefect_reader=prefect_runs.read_recent_runs,
                                       prefect_ui=prefect_runs.ui_url(api_url))
    assert result.source == "prefect"
    by_flow = {r.flow: r for r in result.runs}
    ok, ko = by_flow["distribute_pending"], by_flow["plan_sessions"]
    assert (ok.state, ok.failed, ko.state, ko.failed) == ("terminé", False, "en échec", True)
    assert ok.counts == {"delivered": 3, "dead": 1}  # recorded by the hook, matched by the run id
    assert ok.duration_s is not None and ok.duration_s >= 0
    assert ok.ui_url.endswith(f"/runs/flow-run/{ok.run_id}") and not ok.ui_url.startswith(api_url + "/runs")
    assert len(published) == 1 and ok.artifact_url == ok.ui_url.split("/runs/")[0] + \
        f"/artifacts/artifact/{published[0]}"
    assert ko.artifact_url == ""  # the failing run published nothing
