"""Fixtures of the web tests: the app on the `database` fixture (SQLite, and PostgreSQL on CI).

`client` is authenticated (dev bearer token) as `TEST_LOGIN`, a coordinator attached to region A without an
establishment, so that every board of the seeded region is in their scope.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.services.seed import seed_directory
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.auth import issue_dev_token
from dcc.web.deps import get_today
from tests.web.helpers_web import TEST_LOGIN, TODAY, Seeded, web_settings


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    settings = web_settings()
    with database.uow() as uow:
        seed_directory(uow, seed=1, regions=1)
        region = repo.region_by_code(uow.session, "A")
        assert region is not None
        uow.session.add(m.AppUser(login=TEST_LOGIN, role="coordinator", region_id=region.id,
                                  display_name="Coordination régionale (tests)", active=True))
        uow.commit()
    app = create_app(database=database, settings=settings)
    app.dependency_overrides[get_today] = lambda: TODAY
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {issue_dev_token(TEST_LOGIN, settings=settings)}"
        yield test_client


@pytest.fixture
def seeded(database: Database) -> Seeded:
    with database.uow() as uow:
        result = seed_directory(uow, seed=1, regions=1)
        uow.commit()
    return Seeded(database=database, board_ids=result.boards)
