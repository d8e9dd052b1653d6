"""schemathesis over the app's OpenAPI schema, in process (ASGI), with valid dev tokens: no server error and no
undocumented status on any operation.

The database is the access matrix's world (regions A and B, demo users, cases on sessions, documents in every
state, dead letters) on SQLite, and on PostgreSQL when DCC_TEST_DATABASE_URL is set. Generated path parameters
(and the audit's `patient` query) are replaced half of the time by ids of real objects, so the checks reach past
the 404s. Examples per operation and user: `DCC_SCHEMATHESIS_EXAMPLES` (default 12, derandomized so that a run
is reproducible; `DCC_SCHEMATHESIS_RANDOM=1` explores with fresh seeds).
"""

from __future__ import annotations

import os
import shutil
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, status_code_conformance

from dcc.adapters.db import repositories as repo
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.auth import issue_dev_token
from dcc.web.deps import get_today
from dcc.web.ratelimit import RateLimiter, RateLimitSettings
from tests.conftest import reset_postgresql
from tests.web.helpers_web import TODAY, web_settings
from tests.web.test_access_matrix import World, build_world

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("DCC_SCHEMATHESIS_EXAMPLES", "12"))
RANDOM = os.environ.get("DCC_SCHEMATHESIS_RANDOM", "") == "1"
LOGINS = ("coord-a", "phys-a1")  # a coordinator and a physician of region A
CHECKS = [not_a_server_error, status_code_conformance]

# path parameter (and query parameter naming an object) -> kind of object
KINDS = {"board_id": "board_id", "session_id": "session_id", "case_id": "case_id", "document_id": "document_id",
         "message_id": "message_id", "patient_id": "patient_id", "patient": "patient_id"}


@pytest.fixture(scope="module", params=["sqlite"] + (["postgresql"] if os.environ.get("DCC_TEST_DATABASE_URL") else []))
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world on SQLite, and on PostgreSQL when DCC_TEST_DATABASE_URL is set (as the `database` fixture)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("schemathesis") / "dcc.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("pg_database_url"))
        reset_postgresql(db)  # the baseline referentials stay: the forms validate codes against them
    yield build_world(db)
    db.dispose()


@pytest.fixture(scope="module")
def known(world: World) -> dict[str, list[str]]:
    """Ids of real objects per kind: the world's, plus every session of its two boards (planned ones too, so
    that cancel, move and expected attendance are exercised past their first 409)."""
    out = {kind: [world.ids[name] for name in names] for kind, names in world.kinds.items()}
    with world.db.uow() as uow:
        for board in ("board_a", "board_b"):
            out["session_id"] += [s.id for s in repo.sessions_of_board(uow.session, world.ids[board])]
    out["session_id"] = list(dict.fromkeys(out["session_id"]))
    return out


@pytest.fixture(scope="module")
def api(world: World) -> schemathesis.BaseSchema:
    # generous limits: the limiter is on (429 is documented where it applies) but does not starve the run
    limits = RateLimitSettings(render_burst=10_000, search_burst=10_000)
    app = create_app(database=world.db, settings=web_settings(),
                     rate_limiter=RateLimiter.from_settings(limits))
    app.dependency_overrides[get_today] = lambda: TODAY
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _run_operation(operation: Any, known: dict[str, list[str]], token: str, statuses: Counter[int]) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=operation.as_strategy(), data=st.data())
    def check(case: Any, data: st.DataObject) -> None:
        for location in ("path_parameters", "query"):
            values = getattr(case, location)
            for name in list(values or {}):
                ids = known.get(KINDS.get(name, ""), [])
                if ids and data.draw(st.booleans(), label=f"real {name}"):
                    values[name] = data.draw(st.sampled_from(ids), label=name)
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()


def test_no_server_error_and_no_undocumented_status(api: schemathesis.BaseSchema,
                                                    known: dict[str, list[str]]) -> None:
    tokens = {login: issue_dev_token(login, settings=web_settings()) for login in LOGINS}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 25
    failures: list[str] = []
    for login in LOGINS:
        statuses: Counter[int] = Counter()
        for operation in operations:
            try:
                _run_operation(operation, known, tokens[login], statuses)
            except Exception as exc:  # collect every failing operation, then report them all
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                failures.append(f"--- {login} {operation.label}\n{detail}")
        # the token works (no 401) and the run gets past validation and scopes
        assert statuses[401] == 0 and sum(n for code, n in statuses.items() if code < 300) > 2 * len(operations), (
            login, statuses)
    assert not failures, "\n\n".join(failures)
