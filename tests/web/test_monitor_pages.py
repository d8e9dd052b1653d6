"""The regional monitor's pages through the test client: indicators with filters and CSV export, deliveries,
flow runs, audit trail, alerts; and break-the-glass from a physician's "Introuvable" page."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

import csv
import io
from typing import Any

from tests.web.test_pages import app, as_user, csrf, template_dir  # noqa: F401  (shared fixtures)


def test_dashboard_filters_and_csv_export(as_user: Any) -> None:
    client = as_user("monitor-a")
    page = client.get("/suivi/?du=2025-09-01&au=2026-03-02")
    assert page.status_code == 200
    assert "Par région, établissement et RCP" in page.text
    assert 'href="/suivi/indicateurs.csv?du=2025-09-01&amp;au=2026-03-02"' in page.text
    export = client.get("/suivi/indicateurs.csv?du=2025-09-01&au=2026-03-02")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["Indicateurs du 01/09/2025 au 02/03/2026"]
    levels = {line[0] for line in lines[2:]}
    assert {"Région", "Établissement", "RCP", "Total"} <= levels
    # the page's total of held sessions is the CSV's
    total = lines[-1]
    assert f'id="kpi-seances">{total[4]}<' in page.text
    # one board only: its CSV line is the only board line
    board_line = next(line for line in lines[2:] if line[0] == "RCP")
    board_id = page.text.split('id="ind-board-')[1].split('"')[0]
    only = client.get(f"/suivi/indicateurs.csv?du=2025-09-01&au=2026-03-02&rcp={board_id}")
    board_lines = [line for line in csv.reader(io.StringIO(only.content.decode("utf-8-sig")), delimiter=";")
                   if line and line[0] == "RCP"]
    assert board_lines == [board_line]


def test_dashboard_refuses_bad_filters_in_french(as_user: Any) -> None:
    client = as_user("monitor-a")
    answer = client.get("/suivi/?du=2026-03-01&au=2026-01-01")
    assert answer.status_code == 422 and "La date de fin précède la date de début." in answer.text
    assert client.get("/suivi/?du=pas-une-date").status_code == 422
    assert "hors de votre périmètre" in client.get("/suivi/?rcp=inconnue").text
    assert client.get("/suivi/indicateurs.csv?rcp=inconnue").status_code == 422


def _dead_letter(app: Any, client: Any) -> tuple[str, str]:
    """A dead letter on a case of region A (a case the coordinator's pages show)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from tests.web.helpers_web import add_document

    db = app.state.database
    with db.uow() as uow:
        case = uow.session.scalars(select(m.Case).join(m.Board, m.Board.id == m.Case.board_id)
                                   .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
                                   .join(m.Region, m.Region.id == m.Establishment.region_id)
                                   .where(m.Region.code == "A").order_by(m.Case.id)).first()
        assert case is not None
        patient = uow.session.get(m.Patient, case.patient_id)
        assert patient is not None
        family = patient.used_family or patient.birth_family
        case_id = case.id
    _, msgs = add_document(db, case_id=case_id, unique_id="1.2.250.1.999.77.1", destinations={"dmp:A": "dead"})
    with db.uow() as uow:
        msg = uow.session.get(m.OutboxMessage, msgs["dmp:A"])
        assert msg is not None
        msg.attempts, msg.last_error = 3, "HTTP 503 [Retry-After : 60 s]"
        uow.commit()
    return msgs["dmp:A"], family


def test_monitor_sees_dead_letters_in_words_and_requeues_after_confirmation(as_user: Any, app: Any) -> None:
    import html as html_lib

    from dcc.adapters.db import models as m

    client = as_user("monitor-a")
    message_id, family = _dead_letter(app, client)
    page = client.get("/suivi/envois?etat=dead")
    text = html_lib.unescape(page.text)
    assert page.status_code == 200
    assert f'id="envoi-{message_id}"' in text
    assert "Fiche RCP (version 1)" in text and "DMP région Pays de la Loire" in text
    assert "aucune nouvelle tentative n'est prévue" in text and "Retry-After" not in text
    assert family not in text  # initials only
    token = csrf(page.text)
    confirm = client.post("/suivi/envois/relancer", data={"csrf_token": token, "envoi": [message_id]})
    assert confirm.status_code == 200 and "Confirmer la relance de 1 envoi" in confirm.text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.OutboxMessage, message_id).state == "dead"  # nothing before confirmation
    done = client.post("/suivi/envois/relancer", data={"csrf_token": token, "envoi": [message_id],
                                                        "confirme": "oui"})
    assert done.status_code == 303 and "1%20envoi%20remis%20en%20file" in done.headers["location"]
    with app.state.database.uow() as uow:
        assert uow.session.get(m.OutboxMessage, message_id).state == "pending"
        from sqlalchemy import select

        actors = [e.actor for e in uow.session.scalars(select(m.AuditEvent).where(
            m.AuditEvent.action == "delivery.requeue", m.AuditEvent.entity_id == message_id))]
    assert actors == ["monitor-a"]


def test_requeue_needs_the_csrf_token(as_user: Any) -> None:
    client = as_user("monitor-a")
    assert client.post("/suivi/envois/relancer", data={"envoi": ["x"], "confirme": "oui"}).status_code == 403


def _case_outside_team(app: Any, physician: str) -> tuple[str, str]:
    """A case of region A whose patient is outside `physician`'s care team (their region is B)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.services import access

    with app.state.database.uow() as uow:
        user = uow.session.scalars(select(m.AppUser).where(m.AppUser.login == physician)).one()
        me = access.User(login=physician, role="physician", region_code="B", establishment_id=None,
                         professional_id=user.professional_id, display_name=user.display_name)
        case = uow.session.scalars(select(m.Case).where(~access.case_filter(me)).order_by(m.Case.id)).first()
        assert case is not None
        return case.id, case.patient_id


def test_break_the_glass_from_the_introuvable_page(as_user: Any, app: Any) -> None:
    import html as html_lib

    from sqlalchemy import select

    from dcc.adapters.db import models as m

    client = as_user("phys-b1")
    case_id, patient_id = _case_outside_team(app, "phys-b1")
    page = client.get(f"/urgence/dossiers/{case_id}")
    assert page.status_code == 404 and "Introuvable" in page.text
    assert "Demander l'accès d'urgence" in html_lib.unescape(page.text)
    assert 'value="ETREAT"' in page.text and 'value="OPPOSITION"' not in page.text
    token = csrf(page.text)
    refused = client.post(f"/urgence/dossiers/{case_id}/acces", data={"csrf_token": token, "motif": "ETREAT",
                                                                     "justification": "vite"})
    assert refused.status_code == 422 and "10 caractères" in html_lib.unescape(refused.text)
    with app.state.database.uow() as uow:
        assert not list(uow.session.scalars(select(m.BreakGlass)))  # nothing written
    granted = client.post(f"/urgence/dossiers/{case_id}/acces", data={
        "csrf_token": token, "motif": "ETREAT", "justification": "Patient aux urgences, inconscient."})
    assert granted.status_code == 303
    view = client.get(granted.headers["location"])
    assert view.status_code == 200 and 'id="bandeau-urgence"' in view.text
    assert "Urgence thérapeutique" in html_lib.unescape(view.text)
    monitor = as_user("monitor-a")
    audit = monitor.get("/suivi/audit?action=break_glass.start")
    assert audit.status_code == 200 and "Bris de glace" in audit.text and "phys-b1" in audit.text
    assert patient_id in audit.text
    export = monitor.get("/suivi/audit/export.fhir.json?action=break_glass.start")
    assert export.headers["content-type"].startswith("application/fhir+json")
    bundle = export.json()
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == 1
    assert bundle["entry"][0]["resource"]["agent"][0]["who"]["identifier"]["value"] == "phys-b1"


def test_a_physicians_404_on_a_case_offers_the_emergency_access(as_user: Any) -> None:
    page = as_user("phys-b1").get("/medecin/dossiers/inconnu/decision")
    assert page.status_code == 404
    assert 'href="/urgence/dossiers/inconnu"' in page.text
    assert "/urgence/" not in as_user("coord-a").get("/coordination/dossiers/inconnu").text


def test_audit_alerts_and_flow_runs_pages_for_monitors_and_admins(as_user: Any, app: Any) -> None:
    from dcc.services.audit import record_audit

    with app.state.database.uow() as uow:
        record_audit(uow, actor="prefect", action="flow.run", entity="flow", entity_id="distribute_pending",
                     detail={"outcome": "succes", "flow_run_id": "run-9", "duration_s": 12.5,
                             "counts": {"delivered": 7}})
        uow.commit()
    for who in ("monitor-a", "admin"):
        client = as_user(who)
        runs = client.get("/suivi/flux")
        assert runs.status_code == 200, who
        assert "distribute_pending" in runs.text and "délivrés : 7" in runs.text and "12,5 s" in runs.text
        assert "aucun serveur Prefect n'est configuré" in runs.text
        assert client.get("/suivi/alertes").status_code == 200
        assert client.get("/suivi/audit?utilisateur=prefect").status_code == 200
    assert as_user("coord-a").get("/suivi/audit").status_code == 403
    assert as_user("phys-a1").get("/suivi/flux").status_code == 403
    bad = as_user("monitor-a").get("/suivi/audit?du=2026-02-01&au=2026-01-01")
    assert bad.status_code == 422 and "précède" in bad.text
