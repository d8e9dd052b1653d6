"""Issue 12 acceptance: one week of a board, run through the pages only, in Debian's Chromium (Playwright).

Monday: a coordinator creates a board with its members, plans its sessions (rhythm + an extra session),
registers five cases (one for a patient found with the patient search, one refused for an identity conflict),
moves one case, cancels a session after the preview of the re-assignment. Thursday evening: the meeting
(sign-in sheet with a guest, live quorum, decisions, validation after confirmation). Friday: a physician
completes and submits the PPS, signs it and the Fiche RCP; the coordinator downloads both PDFs; a monitor sees
the deliveries, the flow runs, and requeues a dead letter; a physician of another region uses break-the-glass
and the monitor sees it in the audit trail.

Every page of the journey goes through axe-core and the 390 px check (tests/e2e/a11y.py), and a screenshot of
each step is written to $DCC_SCREENSHOTS_DIR (default var/screenshots/week-journey/NN-step.png).

Only the set-up (directory, users, patients), the clock (the app's `get_now`/`get_today` dependencies) and the
queue drains Prefect runs in production (document generation, delivery, the flows' state hook) call services.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.bootstrap import migrate
from dcc.domain.identifiers import nir_key
from dcc.services.seed import seed_directory, seed_patients, seed_users
from dcc.services.uow import Database
from tests.e2e.a11y import assert_accessible
from tests.e2e.browser_scenario import (
    Scenario,
    chromium_missing_reason,
    make_app,
    serve,
)

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

MONDAY = date(2026, 3, 2)
MONDAY_MORNING = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
THURSDAY_MEETING = datetime(2026, 3, 5, 17, 30, tzinfo=UTC)  # 18:30 in Paris, the session started at 18:00
FRIDAY_MORNING = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
NIR13 = "2690575056123"  # a woman born in May 1969 in Paris (75056)


@dataclass
class Clock:
    now: datetime

    def today(self) -> date:
        return self.now.date()


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scenario, Clock, str]]:
    """A directory, its users and patients, no session nor case; the app with its clock pinned to `Clock`."""
    from dcc.web.deps import get_now, get_today

    var_dir = tmp_path_factory.mktemp("week")
    url = f"sqlite:///{var_dir / 'dcc.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.uow() as uow:
        seeded = seed_directory(uow, seed=5, regions=2)
        seed_patients(uow, seed=5, count=6, region_codes=seeded.regions)
        seed_users(uow, region_codes=seeded.regions)
        uow.commit()
    scenario = Scenario(database=db, today=MONDAY, var_dir=var_dir)
    clock = Clock(MONDAY_MORNING)
    app = make_app(scenario)
    app.dependency_overrides[get_now] = lambda: clock.now
    app.dependency_overrides[get_today] = clock.today
    for base_url in serve(app):
        yield scenario, clock, base_url


class Journey:
    """The browser, one context per signed-in user, the numbered screenshots and the accessibility checks."""

    def __init__(self, browser: Any, base_url: str, shots: Path) -> None:
        self.browser, self.base_url, self.shots = browser, base_url, shots
        self.step = 0
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def sign_in(self, login: str, path: str) -> Any:
        context = self.browser.new_context(base_url=self.base_url, locale="fr-FR")
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"/login?next={path}")
        page.get_by_role("button", name=f"Se connecter en tant que {login}", exact=True).click()
        page.wait_for_url(re.compile(re.escape(path.split("?")[0])))
        return page

    def check(self, page: Any, name: str) -> None:
        """axe-core + 390 px on the page as it is now, then its screenshot NN-name.png."""
        assert_accessible(page, label=name)
        self.step += 1
        page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"), full_page=True)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def journey(week: tuple[Scenario, Clock, str], chromium_browser: Any) -> Iterator[Journey]:
    shots = Path(os.environ.get("DCC_SCREENSHOTS_DIR") or ROOT / "var" / "screenshots" / "week-journey")
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    j = Journey(chromium_browser, week[2], shots)
    yield j
    j.close()
    # the CSP (default-src 'self', no inline script) must block nothing on our pages
    assert not [e for e in j.errors if "Content Security Policy" in e], j.errors


# ------------------------------------------------------------------------------------------------ set-up reads

def _prof(db: Database, login: str) -> m.Professional:
    with db.uow() as uow:
        prof_id = uow.session.scalars(select(m.AppUser.professional_id).where(m.AppUser.login == login)).one()
        prof = uow.session.get(m.Professional, prof_id)
        assert prof is not None
        uow.session.expunge_all()
        return prof


def _quorum_members(db: Database, login: str) -> list[str]:
    """`login` and physicians of their establishment: a surgeon, a medical oncologist, a radiotherapist (the
    organ board's quorum)."""
    from dcc.domain.quorum import ORGAN_BOARD_REQUIRED, acceptable_codes

    me = _prof(db, login)
    chosen = [me.id]
    with db.uow() as uow:
        people = list(uow.session.scalars(select(m.Professional).where(
            m.Professional.establishment_id == me.establishment_id).order_by(m.Professional.id)))
        for requirement in sorted(ORGAN_BOARD_REQUIRED):
            codes = acceptable_codes(requirement)
            if any(p.specialty_code in codes for p in people if p.id in chosen):
                continue
            match = next((p for p in people if p.specialty_code in codes and p.id not in chosen), None)
            assert match is not None, f"the seeded establishment has no {requirement}"
            chosen.append(match.id)
    return chosen


def _drain_generation(db: Database) -> None:
    """What the generate_pending_documents flow does after a validation (Prefect in production)."""
    from dcc.bootstrap import cda_builder, pdf_renderer
    from dcc.services.generation import generate_pending_documents

    out = generate_pending_documents(db, cda=cda_builder(), pdf=pdf_renderer())
    assert not out.failures, out.failures


def _dispatch(scenario: Scenario, *, run_id: str, faults: str | None = None, max_attempts: int = 8) -> Any:
    """What the distribute_pending flow does: send the pending messages to the national-record simulator (with
    its fault injection: `fail=1` answers 503 to everything); the flows' state hook (flows/hooks.py) then
    records the run for the monitors' flow runs page."""
    from dcc.bootstrap import delivery_transports
    from dcc.config import Settings
    from dcc.services.delivery import RetryPolicy, dispatch_pending
    from dcc.simulator.app import create_app as simulator_app
    from dcc.simulator.server import start_in_thread
    from flows import hooks

    db = scenario.database
    settings = Settings(env="test", var_dir=scenario.var_dir)
    with start_in_thread(simulator_app(faults=faults, trust_store=settings.resolved_pki_dir / "ca.pem"),
                         log_level="critical") as sim:
        with db.uow() as uow:
            for region in uow.session.scalars(select(m.Region)):
                region.endpoint = sim.url
            uow.commit()
        transports = delivery_transports(db, settings)
        try:
            result = dispatch_pending(db, transports=transports, max_seconds=60.0,
                                      policy=RetryPolicy(max_attempts=max_attempts))
        finally:
            for transport in transports.values():
                close = getattr(transport, "close", None)
                if close:
                    close()
    start = datetime.now(UTC)
    flow = SimpleNamespace(name="distribute_pending")
    run = SimpleNamespace(id=run_id, start_time=start)
    state = SimpleNamespace(name="Completed", timestamp=start, result=lambda raise_on_failure=False: result)
    # the hook opens the configured database; here, the journey's
    with patch.object(hooks, "database", lambda: db):
        hooks.on_completion(flow, run, state)
    return result


# ------------------------------------------------------------------------------------------------------ journey

def _case_id(url: str) -> str:
    match = re.search(r"/coordination/dossiers/([^/?#]+)", url)
    assert match is not None, url
    return match.group(1)


def _register(page: Any, board: str, *, family: str, given: str, birth: str, sex: str, insee: str,
              question: str, ins: str = "") -> None:
    page.goto("/coordination/dossiers/nouveau")
    page.get_by_role("combobox", name="RCP (obligatoire)", exact=True).select_option(label=board)
    if ins:
        page.get_by_role("textbox", name="Matricule INS (NIR + clé)", exact=True).fill(ins)
        page.get_by_label("Identité qualifiée").check()

    def required(name: str) -> Any:
        return page.get_by_role("textbox", name=f"{name} (obligatoire)", exact=True)

    required("Nom de naissance").fill(family)
    required("Premier prénom de naissance").fill(given)
    required("Liste des prénoms de naissance").fill(given)
    page.locator("#f-birth_date").fill(birth)
    page.get_by_role("combobox", name="Sexe (obligatoire)", exact=True).select_option(sex)
    required("Code INSEE du lieu de naissance").fill(insee)
    # the topography field offers referential suggestions: a combobox
    page.get_by_role("combobox", name="Localisation (code CIM-10) (obligatoire)", exact=True).fill("C50.9")
    page.locator("#f-laterality").select_option("gauche")
    page.get_by_label("TNM : T").fill("T2")  # the Fiche RCP needs the TNM the coordinator entered
    page.get_by_label("TNM : N").fill("N0")
    page.get_by_label("TNM : M").fill("M0")
    page.get_by_label("Édition de la TNM (UICC)").fill("8")
    required("Question posée à la RCP").fill(question)


def test_a_week_of_a_board_through_the_pages(journey: Journey, week: tuple[Scenario, Clock, str]) -> None:
    from playwright.sync_api import expect

    scenario, clock, _ = week
    db = scenario.database
    j = journey
    members = _quorum_members(db, "phys-a1")
    responsible = _prof(db, "phys-a1")

    # ---- Monday: the coordinator creates the board with its members
    coord = j.sign_in("coord-a", "/coordination/")
    j.check(coord, "accueil-coordination")
    coord.get_by_role("link", name="Annuaire des RCP", exact=True).click()
    j.check(coord, "annuaire-rcp")
    coord.get_by_role("link", name="Créer une RCP").click()
    coord.get_by_label("Nom de la RCP").fill("RCP Sein de la semaine")
    coord.get_by_label("Identifiant national de la RCP").fill("RCP-SEIN-SEMAINE")
    coord.get_by_label("Appareil (RCP d'organe)").select_option(index=1)
    coord.get_by_label("Fréquence").select_option("hebdomadaire")
    coord.get_by_role("combobox", name="Jour (obligatoire)", exact=True).select_option("TH")
    coord.get_by_label("Heure de début").fill("18:00")
    coord.get_by_label("Capacité (dossiers par séance)").fill("8")
    coord.get_by_label("Lieu (salle)").fill("Salle 2")
    coord.get_by_label("Médecin responsable (signataire)").select_option(responsible.id)
    for prof_id in members:
        coord.locator(f"#membre-{prof_id}").check()
    j.check(coord, "creation-rcp")
    coord.get_by_role("button", name="Créer la RCP").click()
    expect(coord.get_by_role("status")).to_contain_text("RCP créée")
    expect(coord.get_by_role("heading", level=1)).to_have_text("RCP Sein de la semaine")
    board_url = coord.url

    # ---- plans its sessions: the rhythm over 3 weeks, and an extra session
    coord.get_by_label("Planifier selon le rythme de la RCP, sur (semaines)").fill("3")
    coord.get_by_role("button", name="Planifier les séances").click()
    expect(coord.get_by_role("status")).to_contain_text("semaine")
    coord.goto(board_url)
    coord.get_by_label("Date de la séance supplémentaire").fill("2026-03-24")
    coord.get_by_role("button", name="Ajouter une séance").click()
    expect(coord.get_by_role("status")).to_contain_text("Séance supplémentaire ajoutée")
    coord.goto(board_url)
    sessions = coord.get_by_role("region", name="Séances à venir").get_by_role("row")
    expect(sessions).to_have_count(5)  # a header, 3 planned Thursdays, the extra Tuesday
    j.check(coord, "rcp-seances-planifiees")

    # ---- registers five cases
    first = f"{NIR13}{nir_key(NIR13)}"
    _register(coord, "RCP Sein de la semaine", family="LEGRAND", given="ODETTE", birth="1969-05-14", sex="F",
              insee="75056", question="Place d'une chimiothérapie néoadjuvante ?", ins=first)
    j.check(coord, "inscription-1")
    coord.get_by_role("button", name="Inscrire le dossier").click()
    expect(coord.get_by_role("status")).to_contain_text(
        "Dossier inscrit et affecté à la séance du jeudi 5 mars 2026 à 18:00")
    expect(coord.get_by_role("heading", level=1)).to_contain_text("LEGRAND")
    case1 = _case_id(coord.url)
    j.check(coord, "dossier-1-inscrit")

    for n, (family, given, birth, question, nir) in enumerate([
            ("MARCHAND", "LUCIE", "1958-11-02", "Radiothérapie adjuvante ?", "2581144109078"),
            ("BERNARD", "ALICE", "1974-02-20", "Hormonothérapie seule ?", "2740244109045")], start=2):
        _register(coord, "RCP Sein de la semaine", family=family, given=given, birth=birth, sex="F",
                  insee="44109", question=question, ins=nir + nir_key(nir))
        coord.get_by_role("button", name="Inscrire le dossier").click()
        expect(coord.get_by_role("status")).to_contain_text("Dossier inscrit et affecté à la séance du")
        expect(coord.get_by_role("heading", level=1)).to_contain_text(family)
        j.check(coord, f"dossier-{n}-inscrit")
        if n == 2:
            case2 = _case_id(coord.url)

    # the fourth: a known patient, found with the patient search, for the thoracic board (a lung nodule; one
    # open case per patient and board: LEGRAND's breast case is still open)
    coord.goto("/coordination/dossiers/nouveau")
    coord.get_by_role("combobox", name="RCP (obligatoire)", exact=True).select_option(label="RCP Thorax")
    with coord.expect_response(re.compile(r"/coordination/patients/recherche")):
        coord.get_by_label("Rechercher un patient").fill("LEGRAND")
    hit = coord.locator("#resultats-patients").get_by_role("radio", name=re.compile("LEGRAND ODETTE"))
    expect(hit).to_be_visible()
    hit.check()
    j.check(coord, "recherche-patient")
    coord.get_by_role("combobox", name="Localisation (code CIM-10) (obligatoire)", exact=True).fill("C34.1")
    coord.locator("#f-laterality").select_option("droite")
    coord.get_by_role("textbox", name="Question posée à la RCP (obligatoire)", exact=True).fill(
        "Nodule pulmonaire : métastase ou second cancer primitif ?")
    coord.get_by_role("button", name="Inscrire le dossier").click()
    expect(coord.get_by_role("status")).to_contain_text("Dossier inscrit")
    expect(coord.get_by_role("heading", level=1)).to_contain_text("LEGRAND")
    case4 = _case_id(coord.url)
    assert case4 != case1
    j.check(coord, "dossier-4-patient-existant")

    # the fifth: LEGRAND's INS with another birth name — refused (identity vigilance), nothing written
    with db.uow() as uow:
        patients_before = len(uow.session.scalars(select(m.Patient.id)).all())
        cases_before = len(uow.session.scalars(select(m.Case.id)).all())
    _register(coord, "RCP Sein de la semaine", family="DURAND", given="ODETTE", birth="1969-05-14", sex="F",
              insee="75056", question="Chirurgie d'emblée ?", ins=first)
    coord.get_by_role("button", name="Inscrire le dossier").click()
    expect(coord.get_by_role("alert")).to_contain_text("est déjà connue avec d'autres traits")
    j.check(coord, "inscription-refusee-identite")
    with db.uow() as uow:
        assert len(uow.session.scalars(select(m.Patient.id)).all()) == patients_before
        assert len(uow.session.scalars(select(m.Case.id)).all()) == cases_before

    # ---- moves one case to the next Thursday
    coord.goto(f"/coordination/dossiers/{case2}")
    target = coord.locator("#f-session_id option", has_text="jeudi 12 mars 2026 à 18:00")
    coord.locator("#f-session_id").select_option(target.get_attribute("value"))
    coord.get_by_role("button", name="Déplacer", exact=True).click()
    coord.wait_for_url(re.compile(r"/coordination/seances/"))
    expect(coord.get_by_role("status")).to_contain_text("Dossier déplacé")
    j.check(coord, "dossier-deplace")

    # ---- cancels that session: the preview says where its case goes, then the confirmation
    coord.goto(board_url)
    coord.get_by_role("link", name=re.compile(r"Annuler la séance du jeudi 12 mars 2026")).click()
    expect(coord.get_by_role("heading", level=2, name="Conséquences, avant confirmation")).to_be_visible()
    expect(coord.get_by_role("table")).to_contain_text("MARCHAND")
    expect(coord.get_by_role("table")).to_contain_text("jeudi 19 mars 2026 à 18:00")  # the next session
    j.check(coord, "annulation-apercu")
    coord.get_by_role("button", name="Confirmer l'annulation").click()
    expect(coord.get_by_role("status")).to_contain_text("annulée")
    j.check(coord, "annulation-confirmee")

    # ---- Thursday 18:30: the meeting of 05/03
    clock.now = THURSDAY_MEETING
    coord.goto(board_url)
    coord.get_by_role("link", name=re.compile("5 mars 2026")).first.click()
    coord.get_by_role("link", name="Ouvrir le mode réunion").click()
    coord.wait_for_url(re.compile(r"/reunion$"))
    j.check(coord, "reunion")
    for prof_id in members:
        with coord.expect_response(re.compile(r"/reunion/presence$")):
            coord.locator(f"#presence-{prof_id}-present").check()
    expect(coord.locator("#etat-quorum")).to_have_text("atteint")
    coord.get_by_label("Nom", exact=True).fill("Dr Paul Externe")
    coord.get_by_label("Qualité").select_option("expert")
    coord.get_by_role("button", name="Inscrire l'invité").click()
    expect(coord.locator(".flash")).to_contain_text("ne compte pas pour le quorum")
    expect(coord.locator("#liste-invites")).to_contain_text("Dr Paul Externe")
    j.check(coord, "reunion-presences-invite")

    decided = 0
    while coord.get_by_role("link", name=re.compile("Saisir la décision")).count():
        coord.get_by_role("link", name=re.compile("Saisir la décision")).first.click()
        coord.wait_for_url(re.compile(r"/reunion/dossiers/.+/decision$"))
        if decided == 0:
            j.check(coord, "decision")
        coord.get_by_label("Chimiothérapie", exact=True).check()
        coord.get_by_label("Texte de la proposition").fill("Chimiothérapie néoadjuvante puis chirurgie.")
        coord.get_by_role("button", name="Enregistrer la décision").click()
        coord.wait_for_url(re.compile(r"/reunion\?"))
        expect(coord.locator(".flash")).to_contain_text("Décision enregistrée")
        decided += 1
    assert decided == 2  # LEGRAND and BERNARD (MARCHAND went to the 19/03 session)
    j.check(coord, "reunion-decisions")
    coord.get_by_role("button", name="Valider la séance…").click()
    expect(coord.get_by_role("heading", level=1)).to_contain_text("Valider la séance du")
    j.check(coord, "validation-confirmation")
    coord.get_by_role("button", name="Confirmer la validation").click()
    expect(coord.locator(".flash")).to_contain_text("Séance validée")
    j.check(coord, "seance-validee")

    _drain_generation(db)  # the generate_pending_documents flow (Prefect in production)

    # ---- Friday: the physician completes and submits the PPS, then signs it and the Fiche RCP
    clock.now = FRIDAY_MORNING
    phys = j.sign_in("phys-a1", "/medecin/")
    j.check(phys, "accueil-medecin")
    phys.goto("/pps/")
    j.check(phys, "pps-a-completer")
    phys.goto(f"/pps/dossiers/{case1}")
    phys.get_by_role("button", name="Ouvrir le PPS").click()
    expect(phys.get_by_role("status")).to_contain_text("PPS ouvert")
    treatment = phys.locator("form[action$='/lignes']").first
    # the treatments offered are the ones the board decided (chemotherapy)
    expect(treatment.locator("select[name='code'] option")).to_have_count(1)
    treatment.locator("select[name='code']").select_option(index=0)
    treatment.get_by_label("Début (ou date unique)").fill("2026-03-16")
    treatment.get_by_label("Lieu", exact=True).fill("Hôpital de jour")
    treatment.get_by_role("button", name="Ajouter").click()
    expect(phys.get_by_role("status")).to_contain_text("Ligne ajoutée")
    phys.get_by_label("Nom", exact=True).fill("IDE de coordination")
    phys.get_by_label("Téléphone").fill("02 40 00 00 00")
    phys.get_by_role("button", name="Enregistrer le contact").click()
    expect(phys.get_by_role("status")).to_contain_text("Contact enregistré")
    j.check(phys, "pps-complete")
    phys.get_by_role("button", name="Soumettre à la signature du médecin responsable").click()
    expect(phys.get_by_role("status")).to_contain_text("PPS soumis")
    j.check(phys, "pps-soumis")

    with db.uow() as uow:
        docs = {d.kind: d.id for d in uow.session.scalars(select(m.Document).where(
            m.Document.case_id == case1, m.Document.status == "draft"))}
    assert len(docs) == 2, docs  # the Fiche RCP and the PPS of the first case
    phys.goto("/medecin/a-signer")
    j.check(phys, "a-signer")
    for document_id in docs.values():
        phys.locator(f'input[name="document_ids"][value="{document_id}"]').check()
    phys.get_by_role("button", name="Signer la sélection…").click()
    expect(phys.get_by_role("heading", level=1)).to_have_text("Confirmer la signature")
    j.check(phys, "signature-confirmation")
    phys.get_by_role("button", name="Je confirme la signature de 2 documents").click()
    expect(phys.get_by_role("status")).to_contain_text("2 document(s) signé(s)")
    j.check(phys, "documents-signes")

    # ---- the coordinator downloads both PDFs from the case page
    coord.goto(f"/coordination/dossiers/{case1}")
    cards = coord.locator("#liste-documents .document-card")
    expect(cards).to_have_count(2)
    j.check(coord, "dossier-documents")
    for i in range(2):
        with coord.expect_download() as download:
            cards.nth(i).get_by_role("link", name=re.compile("Télécharger le PDF")).click()
        assert download.value.suggested_filename.endswith(".pdf")
        with open(download.value.path(), "rb") as fh:
            body = fh.read()
        assert body.startswith(b"%PDF-") and b"/ByteRange" in body  # signed (PAdES)

    # ---- the DMP is down when the dispatcher runs: with one attempt allowed, the messages become dead letters
    _dispatch(scenario, run_id="run-panne", faults="fail=1.0", max_attempts=1)
    with db.uow() as uow:
        dead = uow.session.scalars(select(m.OutboxMessage.id).where(
            m.OutboxMessage.document_id.in_(list(docs.values())), m.OutboxMessage.state == "dead")
            .order_by(m.OutboxMessage.id)).all()
    assert dead, "the failed dispatch must leave dead letters"

    # ---- the monitor: the deliveries, the flow runs, a dead letter requeued, then delivered
    monitor = j.sign_in("monitor-a", "/suivi/envois")
    expect(monitor.locator(f"#envoi-{dead[0]}")).to_contain_text("aucune nouvelle tentative n'est prévue")
    j.check(monitor, "envois-lettres-mortes")
    monitor.goto("/suivi/flux")
    expect(monitor.locator("#run-run-panne")).to_contain_text("distribute_pending")
    j.check(monitor, "executions-des-flux")
    monitor.goto("/suivi/envois")
    monitor.locator(f"#envoi-{dead[0]}").get_by_role("checkbox", name="Relancer cet envoi").check()
    monitor.get_by_role("button", name=re.compile("Relancer les envois cochés")).click()
    expect(monitor.get_by_role("heading", name=re.compile("Confirmer la relance de 1 envoi"))).to_be_visible()
    j.check(monitor, "relance-confirmation")
    monitor.get_by_role("button", name="Confirmer la relance").click()
    expect(monitor.get_by_role("status")).to_contain_text("1 envoi remis en file")
    j.check(monitor, "relance-faite")
    result = _dispatch(scenario, run_id="run-reprise")  # the DMP is back
    assert result.delivered >= 1
    monitor.goto("/suivi/envois?etat=delivered")
    expect(monitor.locator(f"#envoi-{dead[0]}")).to_be_visible()
    j.check(monitor, "envois-delivres")
    monitor.goto("/suivi/flux")
    expect(monitor.locator("#run-run-reprise")).to_contain_text("distribute_pending")

    # ---- a physician of region B: break-the-glass on the first case
    other = j.sign_in("phys-b1", f"/urgence/dossiers/{case1}")
    expect(other.get_by_role("heading", level=1)).to_have_text("Introuvable")
    j.check(other, "urgence-demande")
    other.get_by_label("Motif").select_option("ETREAT")
    other.get_by_label("Justification").fill("Patiente aux urgences, inconsciente, traitement en cours inconnu.")
    other.get_by_role("button", name="Demander l'accès d'urgence").click()
    expect(other.locator("#bandeau-urgence")).to_contain_text("Accès d'urgence (bris de glace)")
    expect(other.get_by_role("heading", level=1)).to_contain_text("LEGRAND")
    j.check(other, "urgence-dossier")

    monitor.goto("/suivi/audit")
    monitor.get_by_label("Action").select_option("break_glass.start")
    monitor.get_by_role("button", name="Filtrer").click()
    entry = monitor.locator("li.break-glass").first
    expect(entry).to_contain_text("Bris de glace")
    expect(entry).to_contain_text("phys-b1")
    j.check(monitor, "audit-bris-de-glace")
