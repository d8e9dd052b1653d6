"""The generation dead letters in Chromium: the indicators page loads its generation insert (htmx), the
dead-letter page is accessible at 390 px, and a coordinator requeues a row."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from dcc.bootstrap import cda_builder
from dcc.services import generation
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import (
    Scenario,
    build_scenario,
    chromium_missing_reason,
    make_app,
    serve,
)
from tests.services.test_generation_queue import FailingPdf

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Validated sessions whose documents all failed to generate (one attempt allowed): dead letters."""
    scenario = build_scenario(tmp_path_factory.mktemp("generation"), today=TODAY, patients=6, documents=False)
    out = generation.generate_pending_documents(scenario.database, cda=cda_builder(),
                                                pdf=FailingPdf(failures=10_000),
                                                policy=generation.GenerationPolicy(max_attempts=1))
    assert out.dead > 0
    return scenario


@pytest.fixture(scope="module")
def page_for(scenario: Scenario, chromium_browser: Any) -> Iterator[Any]:
    url = next(serve_iter := serve(make_app(scenario)))

    def open_page(login: str, path: str) -> Any:
        # the pages' CSP stays on: tests/e2e/a11y.py serves axe-core from the page's own origin
        page = chromium_browser.new_context(base_url=url, locale="fr-FR").new_page()
        page.set_default_timeout(15_000)
        page.goto(f"/login?next={path}")
        page.get_by_role("button", name=f"Se connecter en tant que {login}", exact=True).click()
        page.wait_for_url(re.compile(re.escape(path)))
        return page

    yield open_page
    next(serve_iter, None)


def test_the_dashboard_loads_the_generation_insert_and_a_coordinator_requeues(page_for: Any) -> None:
    from playwright.sync_api import expect

    monitor = page_for("monitor-a", "/suivi/")
    insert = monitor.locator("#encart-generation")
    expect(insert.get_by_role("heading", name="Génération des documents")).to_be_visible()
    expect(insert.get_by_role("link", name=re.compile(r"\d+ dossier\(s\) en lettre morte"))).to_be_visible()
    # (the indicators page itself is the monitor pages' concern: only the pages of the generation are checked)

    monitor.goto("/suivi/generation")
    expect(monitor.get_by_role("heading", level=1)).to_contain_text("lettres mortes")
    expect(monitor.get_by_role("button", name=re.compile("Relancer"))).to_have_count(0)
    assert_accessible(monitor, label="lettres mortes de la génération (suivi)")

    coordinator = page_for("coord-a", "/suivi/generation")
    assert_accessible(coordinator, label="lettres mortes de la génération (coordination)")
    before = coordinator.get_by_role("button", name=re.compile("Relancer")).count()
    assert before > 0
    coordinator.get_by_role("button", name=re.compile("Relancer")).first.click()
    expect(coordinator.get_by_role("status")).to_contain_text("Génération remise en file")
    expect(coordinator.get_by_role("button", name=re.compile("Relancer"))).to_have_count(before - 1)
