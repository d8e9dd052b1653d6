"""The case page's form for a minor's secret from their legal representatives (CSP art. L1111-5): recorded and
lifted only with the confirmation box, refused in French for an adult, out of scope for another region's
coordinator, the state shown on the page. (The browser journey: tests/e2e/test_minor_secret_journey.py.)"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.web.test_pages import _region_a_case, app, as_user, csrf, template_dir  # noqa: F401 (fixtures)

RECORD = "Enregistrer le secret demandé par le patient mineur"
LIFT = "Le patient lève le secret"


def _born(app: Any, patient_id: str, birth: date) -> None:  # noqa: F811
    with app.state.database.uow() as uow:
        patient = uow.session.get(m.Patient, patient_id)
        assert patient is not None
        patient.birth_date = birth
        uow.commit()


def _secret(app: Any, patient_id: str) -> tuple[bool, list[str]]:  # noqa: F811
    with app.state.database.uow() as uow:
        patient = uow.session.get(m.Patient, patient_id)
        assert patient is not None
        actions = list(uow.session.scalars(select(m.AuditEvent.action).where(m.AuditEvent.entity_id == patient_id)
                                           .order_by(m.AuditEvent.at)))
        return patient.secret_from_legal_representatives, actions


def _coordinator_on_case(app: Any, as_user: Any, age: int) -> tuple[str, Any, str, str]:  # noqa: F811
    """A case of coord-a whose patient is `age` this year: (patient id, coord-a's client, case URL, page)."""
    case, patient = _region_a_case(app, decided=True)
    _born(app, patient.id, date(date.today().year - age, 1, 1))
    client = as_user("coord-a")
    url = f"/coordination/dossiers/{case.id}"
    page = client.get(url)
    assert page.status_code == 200
    return patient.id, client, url, page.text


def test_coordinator_records_and_lifts_a_minor_s_secret_with_confirmation(as_user: Any, app: Any) -> None:  # noqa: F811
    patient_id, client, url, page = _coordinator_on_case(app, as_user, 13)
    assert "Aucun secret vis-à-vis des représentants légaux" in page and RECORD in page
    token = csrf(page)

    # without the confirmation box: nothing recorded, a French message
    answer = client.post(f"{url}/secret-mineur", data={"csrf_token": token, "secret": "oui"})
    assert answer.status_code == 303
    assert "Cochez la case de confirmation" in client.get(answer.headers["location"]).text
    assert _secret(app, patient_id) == (False, [])

    answer = client.post(f"{url}/secret-mineur", data={"csrf_token": token, "secret": "oui", "confirmation": "oui"})
    after = client.get(answer.headers["location"]).text
    assert "Secret vis-à-vis des représentants légaux enregistré" in after
    assert "Le patient mineur a demandé le secret" in after and LIFT in after and RECORD not in after
    assert _secret(app, patient_id) == (True, ["patient.minor_secret"])

    answer = client.post(f"{url}/secret-mineur", data={"csrf_token": token, "secret": "non", "confirmation": "oui"})
    after = client.get(answer.headers["location"]).text
    assert "Secret vis-à-vis des représentants légaux levé" in after and RECORD in after
    assert _secret(app, patient_id) == (False, ["patient.minor_secret", "patient.minor_secret_lifted"])


def test_an_adult_s_secret_is_refused_in_french_and_other_regions_cannot_post(as_user: Any, app: Any) -> None:  # noqa: F811
    patient_id, client, url, page = _coordinator_on_case(app, as_user, 40)
    token = csrf(page)
    answer = client.post(f"{url}/secret-mineur", data={"csrf_token": token, "secret": "oui", "confirmation": "oui"})
    assert answer.status_code == 303
    after = client.get(answer.headers["location"]).text
    assert "Secret non enregistré : Le patient est majeur" in after
    assert _secret(app, patient_id) == (False, [])

    _born(app, patient_id, date(date.today().year - 13, 1, 1))
    for who in ("coord-b", "phys-b1"):  # another region's coordinator; a physician has no coordination pages
        other = as_user(who)
        home = other.get("/accueil", follow_redirects=True)
        answer = other.post(f"{url}/secret-mineur", data={"csrf_token": csrf(home.text), "secret": "oui",
                                                           "confirmation": "oui"})
        assert answer.status_code in (403, 404), (who, answer.status_code)
    assert _secret(app, patient_id) == (False, [])
