"""Decision, PPS and case forms in Debian's Chromium driven by Playwright, each page checked by axe-core and at
390 px (tests/e2e/a11y.py), on a database whose referentials were updated by import:

1. A physician names drugs and acts in the proposal: suggestions as they type (htmx, from the referential
   search), « Ajouter » with the keyboard (Enter in the field), a French error for an unknown code, « Retirer »,
   a treatment kind that only the imported value-set version has; the decision is recorded with the coded
   entries and their referential versions.
2. A nurse of the care team adds a PPS line whose kind only the imported version of its value set has.
3. A coordinator enters the first-treatment date on the case page: refused in the future and before the
   diagnosis (French messages), then recorded.

Skipped, with the reason, when /usr/bin/chromium (or playwright) is missing.
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
    logged_in_pages,
    make_app,
    serve,
)

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

TODAY = date(2026, 3, 2)
NEW_TREATMENT = ("TEST-RT-01", "protonthérapie régionale (test)")
NEW_SUPPORT = ("TEST-SUP-01", "Atelier régional d'activité physique adaptée (test)")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    from tests.services.test_proposal_entries import load_drugs_and_acts
    from tests.web.test_form_choices import import_version

    path = tmp_path_factory.mktemp("proposal")
    scenario = build_scenario(path, today=TODAY, patients=8, documents=False)
    refs = tmp_path_factory.mktemp("referentials")
    load_drugs_and_acts(scenario.database, refs)
    import_version(scenario.database, refs, "JDV_TypeTraitement_FRCP_CISIS", drop="C15195", add=NEW_TREATMENT)
    with scenario.database.uow() as uow:
        support = uow.session.scalars(select(m.ReferentialConcept.code).where(
            m.ReferentialConcept.system == "JDV_SoinsOncoDeSupport_CISIS").order_by(m.ReferentialConcept.id)).all()
    import_version(scenario.database, refs, "JDV_SoinsOncoDeSupport_CISIS", drop=support[-1], add=NEW_SUPPORT)
    return scenario


@pytest.fixture(scope="module")
def app_url(scenario: Scenario) -> Iterator[str]:
    yield from serve(make_app(scenario))


@pytest.fixture
def new_page(chromium_browser: Any, app_url: str) -> Iterator[Any]:
    yield from logged_in_pages(chromium_browser, app_url)


def _undecided_case_of(scenario: Scenario, login: str) -> str:
    with scenario.database.uow() as uow:
        prof = uow.session.scalars(select(m.AppUser.professional_id).where(m.AppUser.login == login)).one()
        case_id = uow.session.scalars(
            select(m.Case.id).join(m.BoardMember, m.BoardMember.board_id == m.Case.board_id)
            .where(m.BoardMember.professional_id == prof, m.Case.status == "assigned",
                   m.Case.session_id.is_not(None)).order_by(m.Case.id)).first()
    assert case_id is not None, f"no undecided case for {login}"
    return case_id


def _decided_case_of(scenario: Scenario, login: str) -> str:
    with scenario.database.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == login)).one()
        q = (select(m.Case.id).join(m.Board, m.Board.id == m.Case.board_id)
             .join(m.Decision, m.Decision.case_id == m.Case.id)
             .where(m.Case.status == "decided", m.Decision.case_status == "discussed", m.Decision.quorum == "met"))
        if user.establishment_id:
            q = q.where(m.Board.establishment_id == user.establishment_id)
        case_id = uow.session.scalars(q.order_by(m.Case.id)).first()
    assert case_id is not None, f"no decided case for {login}"
    return case_id


def test_physician_names_drugs_and_acts_in_the_proposal(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    case_id = _undecided_case_of(scenario, "phys-a1")
    page = new_page("phys-a1", f"/medecin/dossiers/{case_id}/decision")
    drugs = page.get_by_role("group", name="Médicaments proposés")
    expect(drugs).to_contain_text("Aucun médicament codé.")
    assert_accessible(page, label="formulaire de décision")
    field = page.get_by_label("Ajouter un médicament")
    # suggestions as you type: the datalist is filled by htmx from the referential search (ATC, then UCD)
    with page.expect_response(re.compile(r"/decision/suggestions/medicament\?")):
        field.press_sequentially("carbo", delay=30)
    expect(page.locator("#suggestions-drug_query option")).to_have_count(2)
    assert page.locator("#suggestions-drug_query option").first.get_attribute("value") == "L01XA02"
    # keyboard: the code, then Enter adds it (the field's button, not the form's first submit button)
    field.fill("L01XA02")
    with page.expect_response(re.compile(r"/decision/entrees/medicament$")):
        field.press("Enter")
    expect(drugs.get_by_role("status")).to_have_text("Ajouté : carboplatine (ATC L01XA02).")
    expect(drugs.get_by_role("listitem")).to_contain_text(["carboplatine"])
    page.get_by_label("Ajouter un médicament").fill("9261234")
    page.get_by_role("button", name="Ajouter le médicament").click()
    expect(drugs.get_by_role("listitem")).to_have_count(2)
    # an unknown code: a French error next to the field, the list unchanged
    page.get_by_label("Ajouter un médicament").fill("L01ZZ99")
    page.get_by_role("button", name="Ajouter le médicament").click()
    expect(drugs.get_by_role("status")).to_contain_text(
        "le code « L01ZZ99 » n'appartient pas au référentiel ATC en vigueur")
    expect(page.get_by_label("Ajouter un médicament")).to_have_attribute("aria-invalid", "true")
    expect(drugs.get_by_role("listitem")).to_have_count(2)
    assert_accessible(page, label="médicament refusé")
    drugs.get_by_role("button", name="Retirer carboplatine (ATC L01XA02)").click()
    expect(drugs.get_by_role("status")).to_have_text("Retiré : carboplatine (ATC L01XA02).")
    expect(drugs.get_by_role("listitem")).to_have_count(1)
    expect(drugs.get_by_role("listitem")).to_contain_text(["CARBOPLATINE 10 MG/ML SOL INJ"])
    acts = page.get_by_role("group", name="Actes proposés (CCAM)")
    page.get_by_label("Ajouter un acte").fill("QEFA005")
    page.get_by_role("button", name="Ajouter l'acte").click()
    expect(acts.get_by_role("listitem")).to_contain_text(["Tumorectomie du sein"])
    # the treatment kinds come from the imported version: its new kind is offered, the retired one is not
    expect(page.get_by_label("Curiethérapie", exact=True)).to_have_count(0)
    page.get_by_label("Protonthérapie régionale (test)", exact=True).check()
    page.get_by_label("Texte de la proposition").fill("Tumorectomie puis carboplatine.")
    # the refused code is still typed in its field: saving says so instead of dropping it silently
    page.get_by_role("button", name="Enregistrer la décision").click()
    expect(page.get_by_role("alert")).to_contain_text("« L01ZZ99 » a été saisi mais pas ajouté")
    expect(page.get_by_role("group", name="Médicaments proposés").get_by_role("listitem")).to_contain_text(
        ["CARBOPLATINE 10 MG/ML SOL INJ"])  # the form comes back as it was posted
    assert_accessible(page, label="formulaire de décision complété")
    page.get_by_label("Ajouter un médicament").fill("")
    page.get_by_role("button", name="Enregistrer la décision").click()
    page.wait_for_url(re.compile(r"/medecin/\?"))
    expect(page.locator(".flash")).to_contain_text("Décision enregistrée")
    with scenario.database.uow() as uow:
        proposal, entries = uow.session.execute(select(m.Decision.proposal_codes, m.Decision.proposal_entries)
                                                .where(m.Decision.case_id == case_id)).one()
        versions = dict(uow.session.execute(select(m.ReferentialVersion.system, m.ReferentialVersion.version)
                                            .where(m.ReferentialVersion.system.in_(["UCD", "CCAM"]))).all())
    assert proposal == ["TEST-RT-01"]
    assert [(e["system"], e["code"], e["version"]) for e in entries] == [
        ("UCD", "9261234", versions["UCD"]), ("CCAM", "QEFA005", versions["CCAM"])]
    page.goto(f"/medecin/dossiers/{case_id}/decision")  # shown again on the decision page
    expect(page.get_by_role("group", name="Actes proposés (CCAM)")).to_contain_text("Tumorectomie du sein")


def test_nurse_adds_a_pps_line_of_the_imported_version(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    case_id = _decided_case_of(scenario, "ide-a")
    page = new_page("ide-a", f"/pps/dossiers/{case_id}")
    page.get_by_role("button", name="Ouvrir le PPS").click()
    expect(page.locator(".flash")).to_contain_text("PPS ouvert")
    support = page.get_by_role("region", name="Soins de support")
    support.get_by_label("Type").select_option(label=NEW_SUPPORT[1])
    support.get_by_label("Précisions pour le patient").fill("Deux séances par semaine.")
    support.get_by_role("button", name="Ajouter").click()
    expect(page.locator(".flash")).to_contain_text("Ligne ajoutée")
    expect(page.get_by_role("region", name="Soins de support").get_by_role("cell", name=NEW_SUPPORT[1], exact=True)
           ).to_be_visible()
    assert_accessible(page, label="PPS avec une ligne du référentiel importé")


def test_coordinator_enters_the_first_treatment_date(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    case_id = _decided_case_of(scenario, "coord-a")
    with scenario.database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None and case.diagnosis_date is not None
        diagnosed = case.diagnosis_date
    page = new_page("coord-a", f"/coordination/dossiers/{case_id}")
    section = page.get_by_role("region", name="Premier traitement")
    expect(section.locator("#date-premier-traitement")).to_have_text("non renseignée")
    assert_accessible(page, label="page du dossier, premier traitement")
    field = page.get_by_label("Premier traitement commencé le")
    field.fill("2026-03-03")  # the pages' today is 2 March 2026
    page.get_by_role("button", name="Enregistrer la date du premier traitement").click()
    expect(page.get_by_role("alert")).to_have_text("La date du premier traitement ne peut pas être dans le futur.")
    expect(page.get_by_label("Premier traitement commencé le")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, label="date du premier traitement refusée")
    page.get_by_label("Premier traitement commencé le").fill(
        date.fromordinal(diagnosed.toordinal() - 1).isoformat())
    page.get_by_role("button", name="Enregistrer la date du premier traitement").click()
    expect(page.get_by_role("alert")).to_contain_text(f"précède la date du diagnostic ({diagnosed:%d/%m/%Y})")
    page.get_by_label("Premier traitement commencé le").fill("2026-02-27")
    page.get_by_role("button", name="Enregistrer la date du premier traitement").click()
    expect(page.locator(".flash")).to_contain_text("Date du premier traitement enregistrée")
    expect(page.locator("#date-premier-traitement")).to_have_text("27 février 2026 (saisie par coord-a)")
    with scenario.database.uow() as uow:
        stored = uow.session.get(m.Case, case_id)
        assert stored is not None and stored.first_treatment_date == date(2026, 2, 27)


