"""Acceptance, in Debian's Chromium driven by Playwright: the meeting run from the pages, the documents of a
case page, and the physician's home, sign page and decision form; every page passes axe-core (no serious or
critical violation) and fits 390 px (tests/e2e/a11y.py).

1. A coordinator opens the meeting mode of a session: signs the members in one by one (the quorum answered
   live by htmx), adds a guest (who does not count), enters a decision (refused without a proposal, then
   recorded), and validates the session after the confirmation page.
2. The coordinator's case page lists the documents with their state and downloads a PDF.
3. A physician's home lists what to do in French; the sign page and the decision form are accessible.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import (
    Scenario,
    build_scenario,
    chromium_missing_reason,
    drafts_of,
    logged_in_pages,
    make_app,
    serve,
)

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("meeting"), today=TODAY, patients=12)


@pytest.fixture(scope="module")
def app_url(scenario: Scenario) -> Iterator[str]:
    yield from serve(make_app(scenario))


@pytest.fixture
def new_page(chromium_browser: Any, app_url: str) -> Iterator[Any]:
    yield from logged_in_pages(chromium_browser, app_url)


def _session_with_cases(scenario: Scenario) -> tuple[str, list[str]]:
    """A planned session of region A with undecided cases, and its board's members."""
    with scenario.database.uow() as uow:
        row = uow.session.execute(
            select(m.Session.id, m.Session.board_id).join(m.Case, m.Case.session_id == m.Session.id)
            .join(m.Board, m.Board.id == m.Session.board_id)
            .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
            .join(m.Region, m.Region.id == m.Establishment.region_id)
            .where(m.Region.code == "A", m.Session.status == "planned", m.Case.status == "assigned")
            .order_by(m.Session.starts_at, m.Session.id)).first()
        assert row is not None, "the scenario has no planned session with cases in region A"
        members = list(uow.session.scalars(select(m.BoardMember.professional_id)
                                           .where(m.BoardMember.board_id == row[1])))
    return row[0], members


def test_coordinator_runs_a_meeting(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    session_id, members = _session_with_cases(scenario)
    page = new_page("coord-a", f"/coordination/seances/{session_id}")
    page.get_by_role("link", name="Ouvrir le mode réunion").click()
    page.wait_for_url(re.compile(r"/reunion$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Réunion")
    expect(page.locator(".meeting-case").first).to_contain_text("aucune pièce jointe")
    assert_accessible(page, label="mode réunion")

    for pid in members:  # each change is posted by htmx; the quorum fragment comes back
        with page.expect_response(re.compile(r"/reunion/presence$")):
            page.locator(f"#presence-{pid}-present").check()
    expect(page.locator("#etat-quorum")).to_have_text("atteint")
    assert page.url.endswith("/reunion")  # no page load: the fragment only

    page.get_by_label("Nom", exact=True).fill("Dr Paul Externe")
    page.get_by_label("Qualité").select_option("expert")
    page.get_by_role("button", name="Inscrire l'invité").click()
    expect(page.locator(".flash")).to_contain_text("ne compte pas pour le quorum")
    expect(page.locator("#liste-invites")).to_contain_text("Dr Paul Externe — expert extérieur")
    expect(page.locator("#etat-quorum")).to_have_text("atteint")
    assert_accessible(page, label="mode réunion avec un invité")

    page.locator(".meeting-case").first.get_by_role("link", name=re.compile("Saisir la décision")).click()
    page.wait_for_url(re.compile(r"/reunion/dossiers/.+/decision$"))
    assert_accessible(page, label="décision en réunion")
    page.get_by_role("button", name="Enregistrer la décision").click()
    expect(page.get_by_role("alert")).to_contain_text("doit comporter une proposition")
    assert_accessible(page, label="décision refusée")
    page.get_by_label("Chimiothérapie", exact=True).check()
    page.get_by_label("Texte de la proposition").fill("Chimiothérapie néoadjuvante puis chirurgie.")
    page.get_by_role("button", name="Enregistrer la décision").click()
    page.wait_for_url(re.compile(r"/reunion\?"))
    expect(page.locator(".flash")).to_contain_text("Décision enregistrée")
    expect(page.locator(".meeting-case").first).to_contain_text("discuté en séance : Chimiothérapie")

    page.get_by_role("button", name="Valider la séance…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Valider la séance du")
    assert_accessible(page, label="confirmation de la validation")
    page.get_by_role("button", name="Confirmer la validation").click()
    expect(page.locator(".flash")).to_contain_text("Séance validée")
    with scenario.database.uow() as uow:
        s = uow.session.get(m.Session, session_id)
        assert s is not None and s.status == "validated" and s.quorum == "met"
        assert uow.session.scalars(select(m.MeetingGuest.name).where(
            m.MeetingGuest.session_id == session_id)).all() == ["Dr Paul Externe"]


def test_case_page_lists_documents_and_downloads_a_pdf(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    assert scenario.documents, "the scenario must generate documents"
    page = None
    with scenario.database.uow() as uow:
        case_ids = list(dict.fromkeys(uow.session.scalars(
            select(m.Document.case_id).where(m.Document.id.in_(scenario.documents)).order_by(m.Document.case_id))))
    for case_id in case_ids:
        page = page or new_page("coord-a", "/coordination/")
        answer = page.goto(f"/coordination/dossiers/{case_id}")
        if answer is not None and answer.status == 200:
            break
    else:
        pytest.fail("no case with documents in coord-a's scope")
    assert page is not None
    cards = page.locator("#liste-documents .document-card")
    expect(cards.first).to_contain_text("brouillon, à signer")
    assert_accessible(page, label="dossier : documents")
    with page.expect_download() as download:
        cards.first.get_by_role("link", name=re.compile("Télécharger le PDF")).click()
    assert download.value.suggested_filename.endswith(".pdf")
    with open(download.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"


def test_physician_home_sign_page_and_decision_form(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    drafts = drafts_of(scenario.database, "phys-a1")
    page = new_page("phys-a1", "/medecin/")
    todo = page.locator("#liste-a-faire")
    expect(todo).to_contain_text("à signer")
    assert "FRCP" not in page.content()
    assert_accessible(page, label="accueil médecin")
    if drafts:
        page.goto(f"/medecin/a-signer?apercu={drafts[0]}")
        expect(page.locator("#non-signe")).to_contain_text("Document non signé")
        assert_accessible(page, label="aperçu non signé")
        page.goto("/medecin/a-signer")
        page.locator('input[name="document_ids"]').first.check()
        page.get_by_role("button", name="Signer la sélection…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer la signature", timeout=15_000)
        assert_accessible(page, label="confirmation de signature")
    link = page.locator('a[href^="/medecin/dossiers/"][href$="/decision"]').first
    page.goto("/medecin/")
    if page.locator('a[href^="/medecin/dossiers/"][href$="/decision"]').count():
        link = page.locator('a[href^="/medecin/dossiers/"][href$="/decision"]').first
        link.click()
        page.wait_for_url(re.compile(r"/decision$"))
        expect(page.locator("#f-referential_name")).to_be_visible()  # the guidelines select, or free text
        assert_accessible(page, label="formulaire de décision")
