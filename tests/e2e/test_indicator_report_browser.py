"""The network's monthly indicators page in Chromium (Playwright): the charts load as server-rendered SVG
images, each followed by its table; axe-core and the 390 px check."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

from datetime import date
from typing import Any

from dcc.services import indicator_table
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import Scenario
from tests.e2e.test_browser_journeys import (  # noqa: F401  (shared fixtures)
    app_url,
    new_page,
    pytestmark,
    scenario,
)


def test_report_page_in_a_browser(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    with scenario.database.uow() as uow:
        for month in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)):
            indicator_table.refresh_month(uow, month)
    page = new_page("monitor-a", "/suivi/rapport?du=2026-01&au=2026-03")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rapport d'activité des RCP")
    for name in ("activite", "delais", "qualite"):
        image = page.locator(f'img[src^="/suivi/rapport/graphiques/{name}.svg"]')
        expect(image).to_be_visible()
        image.scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        expect(page.locator(f"#tab-{name} tbody tr")).to_have_count(3)  # January to March
    expect(page.locator("#tab-activite tbody tr").first).to_contain_text("janvier 2026")
    assert_accessible(page, label="rapport d'activité")
    page.get_by_label("RCP", exact=True).select_option(index=1)
    page.get_by_role("button", name="Afficher").click()
    expect(page.locator("tr.level-board")).to_have_count(1)
    assert_accessible(page, label="rapport d'activité, une RCP")
