"""The nightly `compute_indicators` flow on a real (test) Prefect API: thin (months only), idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.services.uow import Database
from tests.services.test_indicator_table import build


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_nightly_flow_fills_and_replaces_months(prefect_server: None, sqlite_database: Database,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.hooks as hooks
    import flows.indicators as indicator_flows

    monkeypatch.setattr(hooks, "database", lambda: sqlite_database)
    monkeypatch.setattr(indicator_flows, "database", lambda: sqlite_database)
    ids = build(sqlite_database)
    expected = {"2026-02-01": 4, "2026-03-01": 4}  # two months, four boards each
    assert indicator_flows.compute_indicators(months_back=1, today=date(2026, 3, 17)) == expected
    assert indicator_flows.compute_indicators(months_back=1, today=date(2026, 3, 17)) == expected
    with sqlite_database.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.IndicatorMonth)) == 8  # replaced, not added
        march_b1 = uow.session.scalars(select(m.IndicatorMonth).where(
            m.IndicatorMonth.board_id == ids["B1"], m.IndicatorMonth.month == date(2026, 3, 1))).one()
        # worked out by hand in test_indicator_table.build: 5 new cases, 5 opinions, 2 dead letters
        assert (march_b1.new_cases, march_b1.opinions, march_b1.dead_letters) == (5, 5, 2)
