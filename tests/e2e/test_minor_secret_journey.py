"""Acceptance, in Debian's Chromium driven by Playwright: a minor patient asks for the secret from their legal
representatives (CSP art. L1111-5; DMP integration guide EX_2.1-1050). The coordinator records it from the case
page after confirming: the page shows it, the document already in the DMP simulator gets an ITI-57 metadata
update and the next submission carries INVISIBLE_REPRESENTANTS_LEGAUX; lifting it from the page removes the
code the same way. An adult's secret is refused in French. Every page passes axe-core (tests/e2e/a11y.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.simulator.app import create_app as create_simulator
from dcc.simulator.server import RunningServer, start_in_thread
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import Scenario, build_scenario, chromium_missing_reason, make_app, serve
from tests.services.delivery_worker import make_documents, transport
from tests.services.test_consent import run

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

TODAY = date(2026, 3, 2)
CODE = "INVISIBLE_REPRESENTANTS_LEGAUX"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("minor-secret"), today=TODAY, patients=8, documents=False)


@pytest.fixture(scope="module")
def app_url(scenario: Scenario) -> Iterator[str]:
    yield from serve(make_app(scenario))


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA the test's sender identity creates under tmp_path / "id"
    with start_in_thread(create_simulator(trust_store=tmp_path / "id"), log_level="critical") as server:
        yield server


def _stored(sim: RunningServer) -> dict[str, list[str]]:
    """uniqueId → confidentiality codes of every document the simulator holds."""
    return {d["unique_id"]: d["confidentiality"] for d in httpx.get(f"{sim.url}/_state", timeout=10).json()}


def _coordinated_cases(scenario: Scenario) -> list[tuple[str, str]]:
    """(case id, patient id) of the decided cases on coord-a's boards whose patient has an INS, one per patient."""
    with scenario.database.uow() as uow:
        establishment = uow.session.scalars(select(m.AppUser.establishment_id)
                                            .where(m.AppUser.login == "coord-a")).one()
        rows = uow.session.execute(
            select(m.Case.id, m.Case.patient_id).join(m.Board, m.Board.id == m.Case.board_id)
            .join(m.Patient, m.Patient.id == m.Case.patient_id)
            .where(m.Board.establishment_id == establishment, m.Case.status == "decided",
                   m.Patient.ins_matricule.is_not(None))
            .order_by(m.Case.id)).all()
    seen: dict[str, str] = {}
    for case_id, patient_id in rows:
        seen.setdefault(patient_id, case_id)
    assert len(seen) >= 2, "the scenario needs two patients with decided cases on coord-a's boards"
    return [(c, p) for p, c in seen.items()]


def _prepare(scenario: Scenario, patient_id: str, birth: date) -> None:
    with scenario.database.uow() as uow:
        patient = uow.session.get(m.Patient, patient_id)
        assert patient is not None
        patient.birth_date, patient.ins_qualified, patient.dmp_opposition = birth, True, False
        uow.commit()


def _unique_id(scenario: Scenario, document_id: str) -> str:
    with scenario.database.uow() as uow:
        doc = uow.session.get(m.Document, document_id)
        assert doc is not None
        return doc.unique_id


def test_coordinator_records_then_lifts_a_minor_s_secret(chromium_browser: Any, app_url: str, scenario: Scenario,
                                                          sim: RunningServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    (case_id, patient_id), (adult_case_id, adult_id) = _coordinated_cases(scenario)[:2]
    this_year = date.today().year  # the service judges minority on the real date (the page passes now)
    _prepare(scenario, patient_id, date(this_year - 14, 1, 1))
    _prepare(scenario, adult_id, date(this_year - 30, 1, 1))
    db = scenario.database
    xds = transport(f"{sim.url}/xds/iti41", tmp_path / "id", db)
    try:
        # a document of the minor already in the DMP before the request
        sent_before = _unique_id(scenario, make_documents(db, 1, case_ids=[case_id])[0])
        run(db, xds)
        assert CODE not in _stored(sim)[sent_before]

        context = chromium_browser.new_context(base_url=app_url, locale="fr-FR")
        errors: list[str] = []
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda msg: errors.append(f"{msg.text} ({msg.location.get('url')})")
                    if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
            page.goto(f"/login?next=/coordination/dossiers/{adult_case_id}")
            page.get_by_role("button", name="Se connecter en tant que coord-a", exact=True).click()
            page.wait_for_url(re.compile(f"/coordination/dossiers/{adult_case_id}"))

            # an adult: refused in French, nothing recorded
            block = page.locator("#bloc-secret-mineur")
            block.get_by_label(re.compile("^Je confirme que le patient mineur demande le secret")).check()
            block.get_by_role("button", name="Enregistrer le secret demandé par le patient mineur").click()
            expect(page.locator(".flash")).to_contain_text("Secret non enregistré : Le patient est majeur")
            expect(page.locator("#etat-secret-mineur")).to_contain_text("Aucun secret")

            # the minor: without the box checked the browser does not send; then confirmed
            page.goto(f"/coordination/dossiers/{case_id}")
            block = page.locator("#bloc-secret-mineur")
            expect(block).to_contain_text("article L1111-5 du code de la santé publique")
            expect(page.locator("#etat-secret-mineur")).to_contain_text("Aucun secret")
            assert_accessible(page, label="dossier : secret du mineur (non demandé)")
            record = block.get_by_role("button", name="Enregistrer le secret demandé par le patient mineur")
            record.click()
            expect(page.locator("#etat-secret-mineur")).to_contain_text("Aucun secret")
            block.get_by_label(re.compile("^Je confirme que le patient mineur demande le secret")).check()
            record.click()
            expect(page.locator(".flash")).to_contain_text("Secret vis-à-vis des représentants légaux enregistré")
            expect(page.locator(".flash")).to_contain_text("1 mise(s) à jour des métadonnées au DMP en file")
            expect(page.locator("#etat-secret-mineur")).to_contain_text(
                "Le patient mineur a demandé le secret vis-à-vis de ses représentants légaux")
            assert_accessible(page, label="dossier : secret du mineur enregistré")

            # the document already sent is updated (ITI-57); the next one is submitted with the code
            sent_after = _unique_id(scenario, make_documents(db, 1, case_ids=[case_id])[0])
            stats = run(db, xds)
            assert stats.metadata_updates == 1
            stored = _stored(sim)
            assert CODE in stored[sent_before] and CODE in stored[sent_after]

            # lifted, confirmed, from the page: both lose the code
            page.reload()
            block = page.locator("#bloc-secret-mineur")
            block.get_by_label(re.compile("^Je confirme que le patient lève le secret")).check()
            block.get_by_role("button", name="Le patient lève le secret").click()
            expect(page.locator(".flash")).to_contain_text("Secret vis-à-vis des représentants légaux levé")
            expect(page.locator("#etat-secret-mineur")).to_contain_text("Aucun secret")
            assert_accessible(page, label="dossier : secret du mineur levé")
        finally:
            context.close()
        assert not errors, errors  # the app serves no favicon: the browser's own request for it is let be
        run(db, xds)
        stored = _stored(sim)
        assert CODE not in stored[sent_before] and CODE not in stored[sent_after]
    finally:
        xds.close()
    with db.uow() as uow:
        actions = list(uow.session.scalars(select(m.AuditEvent.action).where(
            m.AuditEvent.entity_id.in_([patient_id, adult_id]), m.AuditEvent.action.like("patient.minor_secret%"))
            .order_by(m.AuditEvent.at)))
    assert actions == ["patient.minor_secret", "patient.minor_secret_lifted"]
