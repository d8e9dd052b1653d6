"""Acceptance, in Debian's Chromium driven by Playwright: a coordinator attaches a pathology report (PDF) and an
imaging report (JPEG with GPS metadata, with a link to the region's image viewer) to a case from its page; a
hostile PDF (JavaScript) is refused in French; meeting mode lists the attachments of the case and downloads
one; a physician confirms and shares a report with the DMP. Every page passes axe-core (no serious or critical
violation) and fits 390 px (tests/e2e/a11y.py)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import (
    Scenario,
    build_scenario,
    chromium_missing_reason,
    make_app,
    serve,
)
from tests.services.test_attachments import jpeg_with_gps, pdf_bytes

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("attachments"), today=TODAY, patients=8)


@pytest.fixture(scope="module")
def app_url(scenario: Scenario) -> Iterator[str]:
    yield from serve(make_app(scenario))


def _session_and_case(scenario: Scenario) -> tuple[str, str]:
    with scenario.database.uow() as uow:
        row = uow.session.execute(
            select(m.Session.id, m.Case.id).join(m.Case, m.Case.session_id == m.Session.id)
            .join(m.Board, m.Board.id == m.Session.board_id)
            .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
            .join(m.Region, m.Region.id == m.Establishment.region_id)
            .where(m.Region.code == "A", m.Session.status == "planned", m.Case.status == "assigned")
            .order_by(m.Session.starts_at, m.Case.id)).first()
        assert row is not None, "the scenario has no planned session with cases in region A"
    return row[0], row[1]


def test_coordinator_attaches_reports_and_meeting_mode_shows_them(chromium_browser: Any, app_url: str,
                                                                   scenario: Scenario, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    session_id, case_id = _session_and_case(scenario)
    files = {"anapath.pdf": pdf_bytes(), "scanner.jpg": jpeg_with_gps(), "piege.pdf": pdf_bytes("js")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    context = chromium_browser.new_context(base_url=app_url, locale="fr-FR", accept_downloads=True)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"/login?next=/coordination/dossiers/{case_id}")
        page.get_by_role("button", name="Se connecter en tant que coord-a", exact=True).click()
        page.wait_for_url(re.compile(f"/coordination/dossiers/{case_id}"))
        section = page.locator("section[aria-labelledby=pieces-jointes]")
        expect(section).to_contain_text("Aucune pièce jointe.")
        assert_accessible(page, label="dossier : pièces jointes (vide)")

        page.get_by_label("Type de pièce").select_option("pathology")
        page.get_by_label("Titre").fill("Compte rendu anatomopathologique")
        page.get_by_label("Fichier PDF ou JPEG (20 Mo au plus)").set_input_files(str(tmp_path / "anapath.pdf"))
        page.get_by_role("button", name="Joindre le fichier").click()
        expect(page.locator(".flash")).to_contain_text("ajoutée au dossier")

        page.get_by_label("Type de pièce").select_option("imaging")
        page.get_by_label("Titre").fill("Scanner thoraco-abdomino-pelvien")
        page.get_by_label("Fichier PDF ou JPEG (20 Mo au plus)").set_input_files(str(tmp_path / "scanner.jpg"))
        page.get_by_label(re.compile("Lien vers la visionneuse")).fill("https://pacs.region.example.fr/etude/42")
        page.get_by_role("button", name="Joindre le fichier").click()
        expect(page.locator(".flash")).to_contain_text("ajoutée au dossier")

        page.get_by_label("Titre").fill("Courrier piégé")
        page.get_by_label("Fichier PDF ou JPEG (20 Mo au plus)").set_input_files(str(tmp_path / "piege.pdf"))
        page.get_by_role("button", name="Joindre le fichier").click()
        expect(page.locator(".flash")).to_contain_text("Pièce jointe refusée")
        expect(page.locator(".flash")).to_contain_text("JavaScript")
        expect(section.locator("ul.attachments > li")).to_have_count(2)
        assert_accessible(page, label="dossier : pièces jointes")

        page.goto(f"/coordination/seances/{session_id}/reunion")
        block = page.locator(f"#dossier-{case_id}")
        expect(block).to_contain_text("Compte rendu anatomopathologique")
        expect(block.get_by_role("link", name=re.compile("Ouvrir la visionneuse"))).to_have_attribute(
            "href", "https://pacs.region.example.fr/etude/42")
        assert_accessible(page, label="mode réunion avec pièces jointes")
        with page.expect_download() as info:
            block.get_by_role("link", name=re.compile("^Compte rendu anatomopathologique")).click()
        saved = tmp_path / "telecharge.pdf"
        info.value.save_as(saved)
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(files["anapath.pdf"]).hexdigest()
    finally:
        context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_physician_shares_a_report_with_the_dmp(chromium_browser: Any, app_url: str, scenario: Scenario) -> None:
    """The physician opens a case's attachments, confirms and shares a report: it is queued once for the DMP,
    and the page says it is shared. Without the confirmation box checked, the browser does not send."""
    from playwright.sync_api import expect

    _, case_id = _session_and_case(scenario)
    data = pdf_bytes()
    with scenario.database.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        patient = uow.session.get(m.Patient, case.patient_id)
        patient.ins_qualified, patient.dmp_opposition = bool(patient.ins_matricule), False
        login = uow.session.scalars(
            select(m.AppUser.login).join(m.BoardMember, m.BoardMember.professional_id == m.AppUser.professional_id)
            .where(m.BoardMember.board_id == case.board_id, m.AppUser.role == "physician")
            .order_by(m.AppUser.login)).first()
        assert login is not None, "no physician account sits on the case's board"
        report = m.Attachment(case_id=case_id, patient_id=case.patient_id, category="pathology",
                              title="CR ACP à partager", filename="acp.pdf", media_type="application/pdf",
                              size=len(data), sha256=hashlib.sha256(data).hexdigest(), content=data,
                              viewer_url="", created_by="coord-a")
        uow.session.add(report)
        uow.commit()
        report_id = report.id
    context = chromium_browser.new_context(base_url=app_url, locale="fr-FR")
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        url = f"/medecin/dossiers/{case_id}/pieces-jointes"
        page.goto(f"/login?next={url}")
        page.get_by_role("button", name=f"Se connecter en tant que {login}", exact=True).click()
        page.wait_for_url(re.compile(url))
        item = page.locator(f"#piece-{report_id}")
        expect(item).to_contain_text("CR ACP à partager")
        assert_accessible(page, label="médecin : pièces jointes du dossier")
        item.get_by_role("button", name=re.compile("^Partager avec le DMP")).click()  # box unchecked: not sent
        expect(page.locator(f"#piece-{report_id}")).not_to_contain_text("Partagée avec le DMP")
        item.get_by_label(re.compile("^Je confirme le partage")).check()
        item.get_by_role("button", name=re.compile("^Partager avec le DMP")).click()
        expect(page.locator(".flash")).to_contain_text("Pièce jointe partagée avec le DMP (CR d")
        expect(page.locator(f"#piece-{report_id}")).to_contain_text("Partagée avec le DMP")
        assert_accessible(page, label="médecin : pièce jointe partagée")
    finally:
        context.close()
    with scenario.database.uow() as uow:
        shared = uow.session.get(m.Attachment, report_id)
        assert shared is not None and shared.shared_document_id is not None
        messages = uow.session.scalars(select(m.OutboxMessage.destination)
                                       .where(m.OutboxMessage.document_id == shared.shared_document_id)).all()
        assert [d.startswith("dmp:") for d in messages] == [True]
