"""Coordinator (3C) journeys in Debian's Chromium driven by Playwright, each page checked by axe-core and at
390 px (tests/e2e/a11y.py): role homes, board directory, sessions, cases, calendars.

Skipped, with the reason, when /usr/bin/chromium (or playwright) is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.e2e.a11y import AXE_JS, assert_accessible
from tests.e2e.browser_scenario import (
    Scenario,
    build_scenario,
    chromium_missing_reason,
    make_app,
    serve,
)

_missing = chromium_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

TODAY = date(2026, 3, 2)  # a Monday (the web tests' date)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("coordinator"), today=TODAY, patients=8, documents=False)


@pytest.fixture(scope="module")
def app_url(scenario: Scenario) -> Iterator[str]:
    from dcc.web.deps import get_now

    app = make_app(scenario)
    # the real time pinned to the scenario's Monday morning: its sessions are still ahead
    app.dependency_overrides[get_now] = lambda: datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    yield from serve(app)


@pytest.fixture
def browser_page(chromium_browser: Any, app_url: str) -> Iterator[Any]:
    context = chromium_browser.new_context(base_url=app_url, locale="fr-FR")
    # axe-core is served from the page's own origin, so the CSP (default-src 'self') stays on and checked
    context.route("**/__axe/axe.min.js",
                  lambda route: route.fulfill(path=str(AXE_JS), content_type="application/javascript"))
    errors: list[str] = []
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def accessible(page: Any, label: str) -> None:
    """axe-core (serious/critical) and 390 px checks of the page as it is now. The caller first waits for an
    element of the page it went to (a check run right after a click may otherwise see the page it left, or a
    document not yet parsed: `add_script_tag` then found no <head>); the load is awaited here too."""
    page.wait_for_load_state()
    page.add_script_tag(url="/__axe/axe.min.js")
    assert_accessible(page, label=label)


def sign_in(page: Any, login: str) -> None:
    page.goto("/")
    page.get_by_role("button", name=f"Se connecter en tant que {login}", exact=True).click()


def test_each_role_lands_on_its_home_from_the_site_root(browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))  # nobody signed in: the login page, not a technical page
    page.get_by_role("button", name="Se connecter en tant que coord-a", exact=True).click()
    expect(page).to_have_url(re.compile(r"/coordination/$"))
    nav = page.get_by_role("navigation", name="Navigation principale")
    for name in ("Calendrier des RCP", "Annuaire des RCP", "Dossiers", "Inscrire un dossier"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    accessible(page, "accueil coordination")
    page.goto("/")  # signed in: `/` is the role's home
    expect(page).to_have_url(re.compile(r"/coordination/$"))


def test_coordinator_creates_a_board_with_members_then_edits_it(browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, "coord-a")
    page.get_by_role("link", name="Annuaire des RCP", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Annuaire des RCP")
    accessible(page, "annuaire des RCP")
    page.get_by_role("link", name="Créer une RCP").click()
    expect(page.get_by_label("Nom de la RCP")).to_be_visible()
    accessible(page, "création d'une RCP")
    page.get_by_label("Nom de la RCP").fill("RCP Sarcomes")
    page.get_by_label("Identifiant national de la RCP").fill("RCP-SARC-NAV")
    page.get_by_label("Appareil (RCP d'organe)").select_option(index=1)
    page.get_by_label("Fréquence").select_option("bimensuelle")
    page.get_by_role("combobox", name="Jour (obligatoire)", exact=True).select_option("TH")
    page.get_by_label("Heure de début").fill("18:00")
    page.get_by_label("Capacité (dossiers par séance)").fill("8")
    page.get_by_label("Lieu (salle)").fill("Salle 4")
    page.get_by_label("Lien de visioconférence").fill("https://visio.example.fr/sarcomes")
    page.get_by_label("Médecin responsable (signataire)").select_option(index=1)
    members = page.get_by_role("group", name="Membres permanents").get_by_role("checkbox")
    members.nth(0).check()
    members.nth(1).check()
    page.get_by_role("button", name="Créer la RCP").click()
    expect(page.get_by_role("status")).to_contain_text("RCP créée")
    expect(page.get_by_role("heading", level=1)).to_have_text("RCP Sarcomes")
    expect(page.get_by_text("toutes les deux semaines, le jeudi, à 18:00")).to_be_visible()
    expect(page.get_by_role("cell", name="responsable", exact=True)).to_be_visible()
    accessible(page, "page de la RCP")
    page.get_by_role("link", name="Modifier la RCP").click()
    expect(page.get_by_role("button", name="Enregistrer les modifications")).to_be_visible()
    accessible(page, "modification de la RCP")
    page.get_by_label("Capacité (dossiers par séance)").fill("10")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_role("status")).to_contain_text("RCP modifiée")
    expect(page.get_by_text("10 dossiers par séance")).to_be_visible()


def test_coordinator_plans_adds_and_cancels_a_session_after_the_preview(browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, "coord-a")
    page.goto("/coordination/rcp")
    page.get_by_role("link", name="RCP Sein", exact=True).click()
    page.get_by_label("Planifier selon le rythme de la RCP, sur (semaines)").fill("10")
    page.get_by_role("button", name="Planifier les séances").click()
    expect(page.get_by_role("status")).to_contain_text("semaine")
    page.get_by_label("Date de la séance supplémentaire").fill("2026-03-27")
    page.get_by_role("button", name="Ajouter une séance").click()
    expect(page.get_by_role("status")).to_contain_text("Séance supplémentaire ajoutée")
    page.go_back()
    page.reload()
    # cancel the first session that has cases: the preview lists them with where they will go
    rows = page.get_by_role("region", name="Séances à venir").get_by_role("row")
    busy = rows.filter(has_not_text="0/").filter(has=page.get_by_role("link", name=re.compile("^Annuler")))
    busy.first.get_by_role("link", name=re.compile("^Annuler")).click()
    expect(page.get_by_role("heading", level=2, name="Conséquences, avant confirmation")).to_be_visible()
    moved = page.get_by_role("table").get_by_role("row")
    assert moved.count() >= 2  # a header and at least one case
    accessible(page, "aperçu de l'annulation")
    page.get_by_role("button", name="Confirmer l'annulation").click()
    expect(page.get_by_role("status")).to_contain_text("annulée")
    accessible(page, "page de la RCP après annulation")


def test_coordinator_finds_a_case_edits_it_and_withdraws_it(browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, "coord-a")
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Dossiers",
                                                                            exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossiers")
    accessible(page, "liste des dossiers")
    page.get_by_label("Statut").select_option("assigned")
    page.get_by_role("button", name="Rechercher").click()
    results = page.get_by_role("region", name=re.compile("dossier"))
    first = results.get_by_role("row").nth(1)
    name = first.get_by_role("link").first.inner_text()
    first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    accessible(page, "page du dossier")
    page.get_by_role("link", name="Modifier le dossier").click()
    expect(page.get_by_role("button", name="Enregistrer les modifications")).to_be_visible()
    accessible(page, "modification du dossier")
    page.get_by_label("Question posée à la RCP").fill("Reprise chirurgicale à discuter ?")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_role("status")).to_contain_text("Dossier modifié")
    expect(page.get_by_text("Reprise chirurgicale à discuter ?")).to_be_visible()
    page.get_by_label("Motif du retrait").fill("Patient pris en charge dans un autre centre.")
    page.get_by_role("button", name="Retirer le dossier de la RCP").click()
    expect(page.get_by_role("status")).to_contain_text("Dossier retiré de la RCP")
    expect(page.locator("#statut-dossier")).to_have_text("retiré")
    accessible(page, "dossier retiré")


def test_user_subscribes_to_their_agenda_and_revokes_it(browser_page: Any, app_url: str) -> None:
    import urllib.error
    import urllib.request

    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, "coord-a")
    page.goto("/coordination/rcp")
    page.get_by_role("link", name="RCP Sein", exact=True).click()
    expect(page.get_by_role("link", name="Séances au format iCalendar (.ics)")).to_be_visible()
    page.get_by_role("link", name="S'abonner à mon agenda").click()
    expect(page.get_by_role("button", name="Créer mon adresse d'abonnement")).to_be_visible()
    accessible(page, "mon agenda")
    page.get_by_role("button", name="Créer mon adresse d'abonnement").click()
    url = page.get_by_label("Adresse d'abonnement (iCalendar)").input_value()
    assert url.startswith(app_url) and url.endswith(".ics")
    accessible(page, "adresse d'abonnement")
    with urllib.request.urlopen(url) as answer:  # a calendar client: no cookie
        body = answer.read().decode("utf-8")
    assert "BEGIN:VEVENT" in body and "SUMMARY:RCP Sein" in body and "RCP RCP" not in body
    page.get_by_role("button", name="Révoquer l'abonnement").click()
    expect(page.get_by_role("status")).to_contain_text("Abonnement révoqué")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(url)
    assert gone.value.code == 404
