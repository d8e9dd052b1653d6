"""Helpers of the browser tests (and of tests/web/test_pages.py): a database seeded through the demo
services, the web app served by uvicorn in a thread on a random loopback port, Debian's Chromium.

Not a conftest.py: the test modules import what they need from it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.bootstrap import migrate
from dcc.services import boards as board_services
from dcc.services import demo as demo_services
from dcc.services.documents import generate_documents
from dcc.services.seed import seed_directory, seed_patients, seed_users
from dcc.services.uow import Database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SESSION_SECRET = "cle-des-tests-navigateur-" + "x" * 32


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return "Chromium de Debian absent (/usr/bin/chromium) : apt-get install -y chromium (fait par .ci/run)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright non installé (extra dev du pyproject)"
    return None


@dataclass
class Scenario:
    database: Database
    today: date
    var_dir: Path
    decided: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)


def build_scenario(var_dir: Path, *, today: date, patients: int = 10, seed: int = 3,
                   documents: bool = True) -> Scenario:
    """Seed a fresh SQLite database the way `dcc demo` does (directory, demo users, patients, sessions, cases,
    meetings, draft documents), stopping before the signature so the physicians have a "à signer" queue."""
    var_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{var_dir / 'dcc.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.uow() as uow:
        seeded = seed_directory(uow, seed=seed, regions=2)
        patient_ids = seed_patients(uow, seed=seed, count=patients, region_codes=seeded.regions)
        seed_users(uow, region_codes=seeded.regions)
        uow.commit()
    with db.uow() as uow:
        board_services.plan_sessions(uow, today=today, horizon_weeks=6)
    demo_services.register_demo_cases(db, patient_ids=patient_ids, seed=seed, today=today)
    with db.uow() as uow:
        board_services.assign_cases(uow, today=today)
    meeting = demo_services.hold_meetings(db, seed=seed, today=today, quorum_failure_rate=0.0)
    scenario = Scenario(database=db, today=today, var_dir=var_dir, decided=list(meeting.decided_cases))
    # A second wave of cases, assigned but not yet discussed: the physicians' "upcoming cases".
    demo_services.register_demo_cases(db, patient_ids=patient_ids[: patients // 2], seed=seed + 1, today=today)
    with db.uow() as uow:
        board_services.assign_cases(uow, today=today)
    if documents and scenario.decided:
        from dcc.bootstrap import cda_builder, pdf_renderer

        with db.uow() as uow:
            result = generate_documents(uow, case_ids=scenario.decided, cda=cda_builder(), pdf=pdf_renderer())
        scenario.documents = list(result.created)
    return scenario


def make_app(scenario: Scenario) -> Any:
    """The app as `make serve` builds it (dev authentication), with the pages wired in if create_app does not
    do it yet, today's date pinned and the demo PKI under the scenario's directory."""
    from dcc.bootstrap import DemoSignerDirectory, cda_builder
    from dcc.config import Settings
    from dcc.web.app import create_app
    from dcc.web.deps import get_today
    from dcc.web.pages import mount_static, pages_router

    settings = Settings(env="test", auth_mode="dev", session_secret=SESSION_SECRET, var_dir=scenario.var_dir)
    app = create_app(database=scenario.database, settings=settings)
    paths = {getattr(r, "path", "") for r in app.routes}
    if "/coordination/" not in paths:
        app.include_router(pages_router)
    if "/static" not in paths:
        mount_static(app)
    app.dependency_overrides[get_today] = lambda: scenario.today
    app.state.cda_builder = cda_builder()
    app.state.signer_directory = DemoSignerDirectory(scenario.var_dir / "pki")
    return app


def user_id(db: Database, login: str) -> m.AppUser:
    with db.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == login)).one()
        uow.session.expunge_all()
        return user


def drafts_of(db: Database, login: str) -> list[str]:
    """Ids of the draft documents in the "à signer" queue of `login`."""
    with db.uow() as uow:
        prof_id = uow.session.scalars(select(m.AppUser.professional_id).where(m.AppUser.login == login)).one()
        return list(uow.session.scalars(select(m.Document.id).where(
            m.Document.status == "draft", m.Document.signer_id == prof_id)).all())


def serve(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on 127.0.0.1:<random port>; yields its base URL."""
    from dcc.simulator.server import start_in_thread

    server = start_in_thread(app, log_level="warning")
    try:
        yield server.url
    finally:
        server.stop()


def logged_in_pages(chromium_browser: Any, app_url: str) -> Iterator[Any]:
    """The body of a `new_page` fixture: yields `open_page(login, path)`, a fresh browser context logged in
    as `login` (the development login) and landed on `path`; closes them all afterwards and fails the test if
    the CSP (default-src 'self', no inline script or style) blocked anything on our pages."""
    import re

    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(login: str, path: str) -> Any:
        context = chromium_browser.new_context(base_url=app_url, locale="fr-FR")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"/login?next={path}")
        page.get_by_role("button", name=f"Se connecter en tant que {login}", exact=True).click()
        page.wait_for_url(re.compile(re.escape(path.split("?")[0])))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
