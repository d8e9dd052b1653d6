"""Browser journeys of the monitor pages and break-the-glass (Debian's Chromium driven by Playwright), every
page through axe-core and the 390 px check: a physician of region B asks for an emergency access from the
"Introuvable" page of a region A case and reads it under a banner; the monitor of region A sees it in the
audit trail (highlighted, exported as FHIR) and the alerts, and reads the flow runs."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.services import access
from dcc.services.audit import record_audit
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import Scenario
from tests.e2e.test_browser_journeys import (  # noqa: F401  (shared fixtures)
    app_url,
    new_page,
    pytestmark,
    scenario,
)


def _case_outside_team(scenario: Scenario, login: str) -> str:
    with scenario.database.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == login)).one()
        me = access.User(login=login, role="physician", region_code="B", establishment_id=None,
                         professional_id=user.professional_id, display_name=user.display_name)
        case = uow.session.scalars(select(m.Case).where(~access.case_filter(me)).order_by(m.Case.id)).first()
        assert case is not None
        return case.id


def test_break_the_glass_then_the_monitor_sees_it(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    case_id = _case_outside_team(scenario, "phys-b1")
    physician = new_page("phys-b1", f"/urgence/dossiers/{case_id}")
    expect(physician.get_by_role("heading", level=1)).to_have_text("Introuvable")
    assert_accessible(physician, label="introuvable + demande d'accès d'urgence")
    physician.get_by_label("Motif").select_option("ETREAT")
    physician.get_by_label("Justification").fill("Patient aux urgences, inconscient, traitement en cours inconnu.")
    physician.get_by_role("button", name="Demander l'accès d'urgence").click()
    expect(physician.locator("#bandeau-urgence")).to_contain_text("Accès d'urgence (bris de glace)")
    expect(physician.locator("#bandeau-urgence")).to_contain_text("Urgence thérapeutique")
    expect(physician.get_by_role("heading", level=1)).to_contain_text("Dossier de")
    assert_accessible(physician, label="dossier en accès d'urgence")

    monitor = new_page("monitor-a", "/suivi/audit")
    monitor.get_by_label("Action").select_option("break_glass.start")
    monitor.get_by_role("button", name="Filtrer").click()
    entry = monitor.locator("li.break-glass").first
    expect(entry).to_contain_text("Bris de glace")
    expect(entry).to_contain_text("phys-b1")
    assert_accessible(monitor, label="journal d'audit filtré")
    with monitor.expect_download() as download:
        monitor.get_by_role("link", name="Exporter en FHIR AuditEvent (JSON)").click()
    bundle = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["agent"][0]["who"]["identifier"]["value"] for e in bundle["entry"]] == ["phys-b1"]

    monitor_b = new_page("monitor-b", "/suivi/alertes")  # the alert goes to the physician's region
    expect(monitor_b.locator("li.break-glass").first).to_contain_text("Accès d'urgence")
    assert_accessible(monitor_b, label="alertes")


def test_flow_runs_page(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    with scenario.database.uow() as uow:
        record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id="distribute_pending",
                     detail={"outcome": "succes", "flow_run_id": "run-b1", "duration_s": 75.0,
                             "counts": {"delivered": 5, "dead": 1}})
        record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id="assign_cases",
                     detail={"outcome": "echec", "flow_run_id": "run-b2"})
        uow.commit()
    page = new_page("monitor-a", "/suivi/flux")
    expect(page.locator("#run-run-b1")).to_contain_text("délivrés : 5, lettres mortes : 1")
    expect(page.locator("#run-run-b1")).to_contain_text("1 min 15 s")
    expect(page.locator("#run-run-b2")).to_contain_text("en échec")
    assert_accessible(page, label="exécutions des flux")
    page.get_by_role("link", name=re.compile("^Alertes$")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alertes à examiner")
    assert_accessible(page, label="alertes (observateur A)")
    page.get_by_role("link", name=re.compile("^Référentiels$")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Référentiels en vigueur")
    expect(page.locator("#referentiels tbody tr").first).to_contain_text("première version chargée")
    assert_accessible(page, label="référentiels en vigueur")
