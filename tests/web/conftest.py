"""Fixtures of the web tests: the app on the `database` fixture (SQLite, and PostgreSQL on CI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from helpers_web import TODAY, Seeded

from dcc.services.seed import seed_directory
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.deps import get_today


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    app = create_app(database=database)
    app.dependency_overrides[get_today] = lambda: TODAY
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def seeded(database: Database) -> Seeded:
    with database.uow() as uow:
        result = seed_directory(uow, seed=1, regions=1)
        uow.commit()
    return Seeded(database=database, board_ids=result.boards)
