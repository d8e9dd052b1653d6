"""Generation fanned out over Dask (issue 14): with DCC_DASK_ADDRESS set, the `generate_pending_documents` flow
claims the due rows and prefect-dask's DaskTaskRunner runs the batches on that cluster — here a
`distributed.LocalCluster` of 2 worker processes. Every case gets its Fiche RCP exactly once, generated in
the cluster's worker processes (not in the flow's), and every row ends done; a second run finds nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.config import get_settings
from dcc.services import demo as demo_services
from dcc.services.uow import Database
from tests.services.conftest import TODAY
from tests.services.test_generation_queue import _prepare, frcp_per_case


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def configured(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """dcc configured by its environment for this test's database, as on a worker host: the flow's process
    and the Dask worker processes (started afterwards, they inherit it) open it through dcc.bootstrap."""
    import dcc.bootstrap as bootstrap
    from dcc.config import get_settings

    monkeypatch.setenv("DCC_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    bootstrap.database.cache_clear()
    try:
        yield database
    finally:
        bootstrap.database().dispose()
        monkeypatch.undo()
        get_settings.cache_clear()
        bootstrap.database.cache_clear()


def test_generation_fans_out_over_a_dask_cluster(prefect_server: None, configured: Database,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import Client, LocalCluster

    import flows.documents as documents

    database = configured
    _prepare(database, patients=10)
    meeting = demo_services.hold_meetings(database, seed=1, today=TODAY, quorum_failure_rate=0.0)
    cases = sorted(meeting.decided_cases)
    assert len(cases) >= 4
    monkeypatch.setattr(documents, "DASK_BATCH", 2)  # several batches for two workers
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())  # each worker process answers
        assert len(worker_pids) == 2 and os.getpid() not in worker_pids
        monkeypatch.setenv("DCC_DASK_ADDRESS", cluster.scheduler_address)
        get_settings.cache_clear()
        outcome = documents.generate_pending_documents(limit=100)
        again = documents.generate_pending_documents(limit=100)

    assert outcome["counts"]["generated"] == len(cases) and outcome["counts"]["dead"] == 0
    assert len(outcome["created"]) == len(cases) == len(set(outcome["created"]))
    assert outcome["processes"] and set(outcome["processes"]) <= worker_pids, "generated on the Dask workers"
    assert frcp_per_case(database) == {c: 1 for c in cases}, "one Fiche RCP per case, none twice"
    with database.uow() as uow:
        states = dict(uow.session.execute(select(m.GenerationTask.state, func.count())
                                          .group_by(m.GenerationTask.state)).tuples().all())
    assert states == {"done": len(cases)}
    assert again["counts"]["generated"] == 0 and again["created"] == []


def test_without_dask_the_run_generates_in_its_own_process(prefect_server: None, configured: Database,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.documents as documents

    database = configured
    _prepare(database, patients=3)
    meeting = demo_services.hold_meetings(database, seed=1, today=TODAY, quorum_failure_rate=0.0)
    monkeypatch.delenv("DCC_DASK_ADDRESS", raising=False)
    get_settings.cache_clear()
    outcome = documents.generate_pending_documents(limit=100)
    assert outcome["processes"] == [os.getpid()]
    assert frcp_per_case(database) == {c: 1 for c in meeting.decided_cases}
