"""Acceptance: the three journeys of the web pages, in Debian's Chromium driven by Playwright.

1. A coordinator registers a case (with the live INS key check) and sees it on a session's agenda.
2. A physician signs a batch of documents after one confirmation.
3. A monitor sees a dead letter; a coordinator requeues it and, once the dispatcher has run against the
   national-record simulator, sees it delivered.

The app runs with uvicorn in a thread on a random loopback port, on a SQLite database seeded by the demo
services. Skipped, with the reason, when /usr/bin/chromium (or playwright) is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.domain.identifiers import nir_key
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

TODAY = date(2026, 3, 2)  # a Monday (the web tests' date)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("browser"), today=TODAY, patients=12)


@pytest.fixture(scope="module")
def app_url(scenario: Scenario) -> Iterator[str]:
    yield from serve(make_app(scenario))


@pytest.fixture
def new_page(chromium_browser: Any, app_url: str) -> Iterator[Any]:
    yield from logged_in_pages(chromium_browser, app_url)


def test_coordinator_registers_a_case_and_sees_it_on_an_agenda(new_page: Any, scenario: Scenario) -> None:
    from dcc.services.referentials import load_baseline

    with scenario.database.uow() as uow:  # as `dcc db upgrade` does: the package's baseline referentials
        load_baseline(uow, actor="test", today=TODAY)
    page = new_page("coord-a", "/coordination/dossiers/nouveau")
    from playwright.sync_api import expect

    page.get_by_role("combobox", name="RCP (obligatoire)", exact=True).select_option(label="RCP Sein")  # a breast case
    first13 = "2690575056123"
    ins = page.get_by_role("textbox", name="Matricule INS (NIR + clé)", exact=True)  # optional: INS not yet known
    ins.fill(first13)
    ins.press("Tab")  # the change event: htmx asks the server to check the field
    expect(page.locator("#aide-ins_matricule")).to_contain_text(f"la clé attendue est {nir_key(first13)}")
    ins.fill(first13 + nir_key(first13))
    ins.press("Tab")
    expect(page.locator("#aide-ins_matricule")).to_contain_text("Clé du NIR valide")
    page.get_by_label("Identité qualifiée").check()
    def required(name: str) -> Any:
        return page.get_by_role("textbox", name=f"{name} (obligatoire)", exact=True)

    required("Nom de naissance").fill("LEGRAND")
    required("Premier prénom de naissance").fill("ODETTE")
    required("Liste des prénoms de naissance").fill("ODETTE MARIE")
    page.locator("#f-birth_date").fill("1969-05-14")
    page.get_by_role("combobox", name="Sexe (obligatoire)", exact=True).select_option("F")
    required("Code INSEE du lieu de naissance").fill("75056")
    # a combobox (the field has a <datalist>): the first letters of a label bring suggestions from the referential
    topo = page.get_by_role("combobox", name="Localisation (code CIM-10) (obligatoire)", exact=True)
    with page.expect_response(re.compile(r"/coordination/referentiels/suggestions/topography_code")):
        topo.press_sequentially("sein")
    expect(page.locator('#suggestions-topography_code option[value="C50.9"]')).to_have_count(1)
    from tests.e2e.a11y import assert_accessible

    assert_accessible(page, label="inscription : suggestions de localisation")
    topo.fill("C50.9")
    topo.press("Tab")
    expect(page.locator("#aide-topography_code")).to_contain_text("C50.9")
    page.locator("#f-laterality").select_option("gauche")  # breast: a paired organ
    required("Question posée à la RCP").fill("Place d'une chimiothérapie néoadjuvante ?")
    page.get_by_role("button", name="Inscrire le dossier").click()

    # assigned at once by the assignment service: the page says where (a first assignment, not a move)
    expect(page.get_by_role("status")).to_contain_text("Dossier inscrit et affecté à la séance du")
    expect(page.get_by_role("heading", level=1)).to_contain_text("LEGRAND")
    sessions = page.get_by_label("Séance", exact=True)
    last = sessions.locator("option").count() - 1  # the furthest session: registrations still open
    sessions.select_option(index=last)
    page.get_by_role("button", name="Déplacer", exact=True).click()

    page.wait_for_url(re.compile(r"/coordination/seances/"))
    expect(page.get_by_role("status")).to_contain_text("Dossier déplacé")
    agenda = page.get_by_role("table", name="Dossiers présentés, dans l'ordre de passage")
    expect(agenda).to_contain_text("LEGRAND")
    expect(agenda).to_contain_text("Place d'une chimiothérapie néoadjuvante ?")


def test_physician_signs_a_batch(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    before = drafts_of(scenario.database, "phys-a1")
    assert len(before) >= 3, "the scenario must leave documents to sign"
    page = new_page("phys-a1", "/medecin/a-signer")
    queue = page.get_by_role("table", name=re.compile("Ma file « à signer »"))
    boxes = queue.locator('input[name="document_ids"]')
    expect(boxes).to_have_count(len(before))
    boxes.nth(0).check()
    boxes.nth(1).check()
    chosen = [boxes.nth(i).get_attribute("value") for i in (0, 1)]
    page.get_by_role("button", name="Signer la sélection…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer la signature")
    page.get_by_role("button", name="Je confirme la signature de 2 documents").click()

    expect(page.get_by_role("status")).to_contain_text("2 document(s) signé(s)")
    expect(queue.locator('input[name="document_ids"]')).to_have_count(len(before) - 2)
    with scenario.database.uow() as uow:
        docs = uow.session.scalars(select(m.Document).where(m.Document.id.in_(chosen))).all()
        assert {d.status for d in docs} == {"signed"}
        assert all(d.pdf.count(b"/ByteRange") >= 1 for d in docs)  # PAdES signature in the PDF
        outbox = uow.session.scalars(select(m.OutboxMessage).where(m.OutboxMessage.document_id.in_(chosen))).all()
        assert len(outbox) == 2 and {o.state for o in outbox} == {"pending"}


def _dead_letter_in_scope_of(scenario: Scenario, login: str) -> str:
    """An outbox message of one of `login`'s boards, turned into a dead letter (as after 8 failures)."""
    from dcc.bootstrap import DemoSignerDirectory, cda_builder
    from dcc.services.documents import sign_documents

    db = scenario.database
    with db.uow() as uow:
        est = uow.session.scalars(select(m.AppUser.establishment_id).where(m.AppUser.login == login)).one()
        docs = list(uow.session.scalars(select(m.Document).join(m.Case, m.Case.id == m.Document.case_id)
                                        .join(m.Board, m.Board.id == m.Case.board_id)
                                        .where(m.Board.establishment_id == est)))
        assert docs, "the scenario must have documents on the coordinator's boards"
        outbox = list(uow.session.scalars(select(m.OutboxMessage).where(
            m.OutboxMessage.document_id.in_([d.id for d in docs]))))
        message_ids = [o.id for o in outbox]
        draft = next(((d.id, d.signer_id) for d in docs if d.status == "draft"), None)
    if not message_ids:
        assert draft is not None
        with db.uow() as uow:
            sign_documents(uow, document_ids=[draft[0]], signer_professional_id=draft[1], cda=cda_builder(),
                           signers=DemoSignerDirectory(scenario.var_dir / "pki"))
        with db.uow() as uow:
            message_ids = list(uow.session.scalars(select(m.OutboxMessage.id).where(
                m.OutboxMessage.document_id == draft[0])))
    with db.uow() as uow:
        msg = uow.session.get(m.OutboxMessage, message_ids[0])
        assert msg is not None
        msg.state, msg.attempts = "dead", 8
        msg.last_error = "HTTP 503 : le service du DMP est indisponible (maintenance programmée)."
        uow.session.add(m.DeliveryAttempt(message_id=msg.id, destination=msg.destination, outcome="transient",
                                          status_code=503, error_code="", excerpt=msg.last_error))
        uow.commit()
        return msg.id


def _dispatch(scenario: Scenario) -> None:
    """What the delivery worker does: send the pending messages to the national-record simulator."""
    from dcc.bootstrap import delivery_transports
    from dcc.config import Settings
    from dcc.services.delivery import dispatch_pending
    from dcc.simulator.app import create_app as simulator_app
    from dcc.simulator.server import start_in_thread

    db = scenario.database
    settings = Settings(env="test", var_dir=scenario.var_dir)
    with start_in_thread(simulator_app(trust_store=settings.resolved_pki_dir / "ca.pem"), log_level="critical") as sim:
        with db.uow() as uow:
            for region in uow.session.scalars(select(m.Region)):
                region.endpoint = sim.url
            uow.commit()
        transports = delivery_transports(db, settings)
        try:
            dispatch_pending(db, transports=transports, max_seconds=60.0)
        finally:
            for transport in transports.values():
                close = getattr(transport, "close", None)
                if close:
                    close()


def test_monitor_sees_a_dead_letter_and_requeues_it_after_confirmation(new_page: Any, scenario: Scenario) -> None:
    from playwright.sync_api import expect

    from tests.e2e.a11y import assert_accessible

    message_id = _dead_letter_in_scope_of(scenario, "coord-a")

    monitor = new_page("monitor-a", "/suivi/envois")
    row = monitor.locator(f"#envoi-{message_id}")
    expect(row).to_contain_text("Le DMP est en erreur ou indisponible (code HTTP 503)")
    expect(row).to_contain_text("maintenance programmée")
    expect(row).to_contain_text("aucune nouvelle tentative n'est prévue")
    expect(row).to_contain_text("DMP région")
    expect(monitor.get_by_role("link", name="Lettre morte", exact=True)).to_be_visible()
    assert_accessible(monitor, label="envois (observateur)")
    row.get_by_role("checkbox", name="Relancer cet envoi").check()
    monitor.get_by_role("button", name=re.compile("Relancer les envois cochés")).click()
    expect(monitor.get_by_role("heading", name=re.compile("Confirmer la relance de 1 envoi"))).to_be_visible()
    assert_accessible(monitor, label="confirmation de relance")
    monitor.get_by_role("button", name="Confirmer la relance").click()
    expect(monitor.get_by_role("status")).to_contain_text("1 envoi remis en file")

    coordinator = new_page("coord-a", "/suivi/envois?etat=pending")
    expect(coordinator.locator(f"#envoi-{message_id}")).to_be_visible()  # now listed as pending

    _dispatch(scenario)

    coordinator.goto("/suivi/envois?etat=delivered")
    expect(coordinator.locator(f"#envoi-{message_id}")).to_be_visible()
    with scenario.database.uow() as uow:
        msg = uow.session.get(m.OutboxMessage, message_id)
        assert msg is not None and msg.state == "delivered"
    monitor.goto("/suivi/envois")
    expect(monitor.locator(f"#envoi-{message_id}")).to_have_count(0)


def test_monitor_dashboard_charts_are_svg(new_page: Any) -> None:
    from playwright.sync_api import expect

    from tests.e2e.a11y import assert_accessible

    page = new_page("monitor-a", "/suivi/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Indicateurs")
    assert_accessible(page, label="indicateurs")
    page.get_by_label("RCP", exact=True).select_option(index=1)
    page.get_by_role("button", name="Afficher").click()
    expect(page.locator("tr.level-board")).to_have_count(1)
    assert_accessible(page, label="indicateurs filtrés")
    with page.expect_download() as download:
        page.get_by_role("link", name="Exporter le tableau (CSV)").click()
    assert download.value.suggested_filename.startswith("indicateurs-rcp-")
    for name in ("seances", "dossiers", "delais"):
        img = page.locator(f'img[src^="/suivi/graphiques/{name}.svg"]')
        expect(img).to_be_visible()
        assert page.evaluate("(el) => el.naturalWidth > 0", img.element_handle())
    answer = page.request.get("/suivi/graphiques/seances.svg")
    assert answer.ok and answer.headers["content-type"].startswith("image/svg+xml")
