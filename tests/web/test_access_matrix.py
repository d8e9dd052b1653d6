"""Authorisation matrix: roles × regions × object states × every object endpoint and method → zero unauthorised 2xx.

The routes are enumerated from the app (`app.routes`): a new endpoint must be added to `EXPECTED` (object
routes) or `COLLECTIONS` (no object in the path), or this test fails. Unauthorised requests run first (before
any authorised request changes the state), then authorised ones must not be refused (401/403/404).
Also: list endpoints return only what the user may see; break-the-glass grants, then expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.identifiers import nir_key
from dcc.services import boards as board_services
from dcc.services.schemas import CaseRegistration, PatientIdentity
from dcc.services.seed import seed_directory, seed_users
from dcc.services.uow import Database
from dcc.web.app import create_app
from dcc.web.auth import issue_dev_token
from dcc.web.deps import get_today
from tests.web.helpers_web import TODAY, web_settings

CDA = b"<?xml version='1.0' encoding='UTF-8'?><ClinicalDocument xmlns='urn:hl7-org:v3'/>"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n%%EOF\n"
ROLES = ("coord-a", "phys-a1", "phys-a2", "phys-b1", "ide-a", "monitor-a", "admin")


@dataclass
class World:
    db: Database
    ids: dict[str, str] = field(default_factory=dict)  # object name -> id
    kinds: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> object names
    professionals: dict[str, str] = field(default_factory=dict)  # login -> professional id


def _registration(board: m.Board, requester_rpps: str, n: int) -> CaseRegistration:
    first13 = f"2750344109{n:03d}"
    return CaseRegistration(
        board_id=board.id,
        patient=PatientIdentity(
            ins_matricule=first13 + nir_key(first13), ins_oid="1.2.250.1.213.1.4.10", ins_qualified=True,
            birth_family=f"MARTIN{'' if n == 1 else 'EZ'}", birth_given_first="CLAIRE",
            birth_given_all="CLAIRE ANNE", birth_date=datetime(1975, 3, 12).date(), sex="F",
            birthplace_insee="44109", birthplace_city="NANTES"),
        requester_rpps=requester_rpps, topography_code="C50.9", laterality="gauche",
        question="Quelle stratégie thérapeutique proposer en première intention ?", earliest_date=TODAY)


def _document(case: m.Case, signer_id: str, n: int, *, status: str, masked: bool = False) -> m.Document:
    signed = status != "draft"
    return m.Document(case_id=case.id, patient_id=case.patient_id, kind="FRCP", set_id=f"1.2.250.1.999.9.{n}",
                      version=1, unique_id=f"1.2.250.1.999.9.{n}.1", cda=CDA, pdf=PDF,
                      sha256=hashlib.sha256(CDA).hexdigest(), pdf_sha256=hashlib.sha256(PDF).hexdigest(),
                      status=status, template_version="test-1", signer_id=signer_id, masked_ps=masked,
                      signed_at=datetime(2026, 3, 3, 14, 0, tzinfo=UTC) if signed else None)


def _attachment(uow: Any, case: m.Case) -> str:
    a = m.Attachment(case_id=case.id, patient_id=case.patient_id, category="letter", title="Courrier",
                     filename="courrier.pdf", media_type="application/pdf", size=len(PDF),
                     sha256=hashlib.sha256(PDF).hexdigest(), content=PDF, created_by="test")
    uow.session.add(a)
    uow.session.flush()
    return str(a.id)


def build_world(db: Database) -> World:
    """Regions A and B, the demo users, one case per region assigned to a session, documents in every state
    (region A: draft, signed, masked; region B: signed), one dead letter per region. The referring GP of
    patient A is phys-a2 (care team, not a board member)."""
    w = World(db=db)
    with db.uow() as uow:
        seed_directory(uow, seed=1, regions=2)
        seed_users(uow, region_codes=["A", "B"])
        uow.commit()
        for u in uow.session.scalars(select(m.AppUser)):
            if u.professional_id:
                w.professionals[u.login] = u.professional_id
    with db.uow() as uow:
        board_services.plan_sessions(uow, today=TODAY, horizon_weeks=6)
    boards: dict[str, m.Board] = {}
    with db.uow() as uow:
        for region, login in (("A", "phys-a1"), ("B", "phys-b1")):
            prof = uow.session.get(m.Professional, w.professionals[login])
            assert prof is not None
            board = uow.session.scalars(select(m.Board).where(m.Board.establishment_id == prof.establishment_id,
                                                              m.Board.responsible_id == prof.id)
                                        .order_by(m.Board.rcp_id)).first()
            assert board is not None
            boards[region] = board
            members = [p for p in repo.board_members(uow.session, board.id) if p.id != prof.id]
            w.ids[f"board_{region.lower()}"] = board.id
            w.ids[f"requester_{region.lower()}"] = members[0].rpps
        uow.session.expunge_all()
    for n, region in enumerate(("A", "B"), start=1):
        with db.uow() as uow:
            w.ids[f"case_{region.lower()}"] = board_services.register_case(
                uow, data=_registration(boards[region], w.ids[f"requester_{region.lower()}"], n), actor="test")
    with db.uow() as uow:
        board_services.assign_cases(uow, today=TODAY)
    with db.uow() as uow:
        cases = {r: uow.session.get(m.Case, w.ids[f"case_{r.lower()}"]) for r in ("A", "B")}
        for region, case in cases.items():
            assert case is not None and case.session_id, "the case must be on a session's agenda"
            w.ids[f"session_{region.lower()}"] = case.session_id
            w.ids[f"patient_{region.lower()}"] = case.patient_id
        case_a, case_b = cases["A"], cases["B"]
        assert case_a is not None and case_b is not None
        patient_a = uow.session.get(m.Patient, case_a.patient_id)
        assert patient_a is not None
        patient_a.referring_gp_id = w.professionals["phys-a2"]
        docs = {"draft_a": _document(case_a, w.professionals["phys-a1"], 1, status="draft"),
                "signed_a": _document(case_a, w.professionals["phys-a1"], 2, status="signed"),
                "masked_a": _document(case_a, w.professionals["phys-a1"], 3, status="signed", masked=True),
                "signed_b": _document(case_b, w.professionals["phys-b1"], 4, status="signed")}
        uow.session.add_all(docs.values())
        uow.session.flush()
        for name, doc in docs.items():
            w.ids[name] = doc.id
        for name, doc, dest in (("msg_a", docs["signed_a"], "dmp:A"), ("msg_b", docs["signed_b"], "dmp:B")):
            msg = m.OutboxMessage(document_id=doc.id, destination=dest, state="dead", attempts=3,
                                  last_error="XDSRegistryError : refus")
            uow.session.add(msg)
            uow.session.flush()
            w.ids[name] = msg.id
        for name, case in (("attachment_a", case_a), ("attachment_b", case_b)):
            w.ids[name] = _attachment(uow, case)
        uow.commit()
    w.kinds = {"board_id": ["board_a", "board_b"], "session_id": ["session_a", "session_b"],
               "case_id": ["case_a", "case_b"], "document_id": ["draft_a", "signed_a", "masked_a", "signed_b"],
               "message_id": ["msg_a", "msg_b"], "patient_id": ["patient_a", "patient_b"],
               "attachment_id": ["attachment_a", "attachment_b"]}
    return w


# -------------------------------------------------------------------------------- the expected rights

Rule = Callable[[str, str], bool]  # (login, object name) -> allowed


def allow(table: dict[str, set[str]]) -> Rule:
    return lambda login, obj: obj in table.get(login, set())


BOARD_DIRECTORY = allow({"coord-a": {"board_a"}, "phys-a1": {"board_a"}, "phys-a2": {"board_a"},
                         "phys-b1": {"board_b"}, "ide-a": {"board_a"}, "monitor-a": {"board_a"},
                         "admin": {"board_a", "board_b"}})
AGENDA = allow({"coord-a": {"session_a"}, "phys-a1": {"session_a"}, "phys-b1": {"session_b"}})
SESSION_MANAGE = AGENDA  # coordinator of the board's 3C, or the board's responsible physician
SESSION_COORDINATE = allow({"coord-a": {"session_a"}})  # cancel, move, expected attendance: the coordinator only
CASE_READ = allow({"coord-a": {"case_a"}, "phys-a1": {"case_a"}, "phys-a2": {"case_a"}, "phys-b1": {"case_b"},
                   "ide-a": {"case_a"}})
# the PPS: a physician of the care team or the coordinating nurse of the board's establishment; never the 3C
PPS_AUTHOR = allow({"phys-a1": {"case_a"}, "phys-a2": {"case_a"}, "phys-b1": {"case_b"}, "ide-a": {"case_a"}})
DECIDE = allow({"coord-a": {"case_a"}, "phys-a1": {"case_a"}, "phys-b1": {"case_b"}})
CASE_COORDINATE = allow({"coord-a": {"case_a"}})  # move to a session, force a case not ready
DOCUMENT_READ = allow({"coord-a": {"draft_a", "signed_a", "masked_a"}, "phys-a1": {"draft_a", "signed_a", "masked_a"},
                       "phys-a2": {"signed_a"}, "phys-b1": {"signed_b"}, "ide-a": {"draft_a", "signed_a"}})
# a new version of a signed document: its signer or a physician of the deciding board (not the referring GP,
# never the nurse, the 3C or a monitor)
CORRECT = allow({"phys-a1": {"draft_a", "signed_a", "masked_a"}, "phys-b1": {"signed_b"}})
REQUEUE = allow({"coord-a": {"msg_a"}, "monitor-a": {"msg_a"}})  # the monitor too, in its region (issue 12)
PATIENT_READ = allow({"coord-a": {"patient_a"}, "phys-a1": {"patient_a"}, "phys-a2": {"patient_a"},
                      "phys-b1": {"patient_b"}, "ide-a": {"patient_a"}})
# break-the-glass: a physician outside the patient's care team
BREAK_GLASS = allow({"phys-a1": {"patient_b"}, "phys-a2": {"patient_b"}, "phys-b1": {"patient_a"}})
# consent and visibility recorded for the patient: coordinator of the boards or care team, never by break-the-glass
CONSENT = allow({"coord-a": {"patient_a"}, "phys-a1": {"patient_a"}, "phys-a2": {"patient_a"},
                 "phys-b1": {"patient_b"}})
VISIBILITY = allow({"coord-a": {"draft_a", "signed_a", "masked_a"}, "phys-a1": {"draft_a", "signed_a", "masked_a"},
                    "phys-a2": {"draft_a", "signed_a", "masked_a"}, "phys-b1": {"signed_b"}})
AUDIT_TRAIL = allow({"admin": {"patient_a", "patient_b"}, "coord-a": {"patient_a"}, "phys-a1": {"patient_a"},
                     "phys-a2": {"patient_a"}, "phys-b1": {"patient_b"}})

EXPECTED: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/boards/{board_id}"): BOARD_DIRECTORY,
    ("GET", "/api/v1/boards/{board_id}/calendar.ics"): BOARD_DIRECTORY,
    ("GET", "/api/v1/sessions/{session_id}"): AGENDA,
    ("POST", "/api/v1/sessions/{session_id}/attendance"): SESSION_MANAGE,
    ("POST", "/api/v1/sessions/{session_id}/validate"): SESSION_MANAGE,
    ("POST", "/api/v1/sessions/{session_id}/cancel"): SESSION_COORDINATE,
    ("POST", "/api/v1/sessions/{session_id}/move"): SESSION_COORDINATE,
    ("POST", "/api/v1/sessions/{session_id}/expected-attendance"): SESSION_COORDINATE,
    ("GET", "/api/v1/cases/{case_id}"): CASE_READ,
    ("POST", "/api/v1/cases/{case_id}/decision"): DECIDE,
    ("POST", "/api/v1/cases/{case_id}/move"): CASE_COORDINATE,
    ("POST", "/api/v1/cases/{case_id}/force"): CASE_COORDINATE,
    ("POST", "/api/v1/cases/{case_id}/regenerate"): CASE_COORDINATE,
    ("PUT", "/api/v1/cases/{case_id}/tumour"): CASE_COORDINATE,
    ("GET", "/api/v1/documents/{document_id}"): DOCUMENT_READ,
    ("GET", "/api/v1/documents/{document_id}/cda"): DOCUMENT_READ,
    ("GET", "/api/v1/documents/{document_id}/pdf"): DOCUMENT_READ,
    ("POST", "/api/v1/deliveries/{message_id}/requeue"): REQUEUE,
    ("GET", "/api/v1/patients/{patient_id}"): PATIENT_READ,
    ("POST", "/api/v1/patients/{patient_id}/break-glass"): BREAK_GLASS,
    ("POST", "/api/v1/patients/{patient_id}/dmp-opposition"): CONSENT,
    ("POST", "/api/v1/patients/{patient_id}/identity-qualification"): CONSENT,
    ("POST", "/api/v1/patients/{patient_id}/legal-representatives-secret"): CONSENT,
    ("POST", "/api/v1/documents/{document_id}/announcement"): VISIBILITY,
    ("POST", "/api/v1/documents/{document_id}/masking"): VISIBILITY,
    ("GET", "/api/v1/audit"): AUDIT_TRAIL,
    ("GET", "/api/v1/audit/fhir"): AUDIT_TRAIL,
    ("GET", "/api/v1/cases/{case_id}/pps"): PPS_AUTHOR,
    ("POST", "/api/v1/cases/{case_id}/pps"): PPS_AUTHOR,
    ("PUT", "/api/v1/cases/{case_id}/pps"): PPS_AUTHOR,
    ("POST", "/api/v1/cases/{case_id}/pps/items"): PPS_AUTHOR,
    ("POST", "/api/v1/cases/{case_id}/pps/items/remove"): PPS_AUTHOR,
    ("POST", "/api/v1/cases/{case_id}/pps/submit"): PPS_AUTHOR,
    ("POST", "/api/v1/cases/{case_id}/pps/handover"): PPS_AUTHOR,
    # the first-treatment date: the care team (as the PPS) or the board's coordinator
    ("PUT", "/api/v1/cases/{case_id}/first-treatment"): allow({"coord-a": {"case_a"}, "phys-a1": {"case_a"},
                                                              "phys-a2": {"case_a"}, "phys-b1": {"case_b"},
                                                              "ide-a": {"case_a"}}),
    ("POST", "/api/v1/documents/{document_id}/corrections"): CORRECT,
    # attachments: same access as their case (coordinator of the board, care team, establishment's nurse)
    ("GET", "/api/v1/cases/{case_id}/attachments"): CASE_READ,
    ("POST", "/api/v1/cases/{case_id}/attachments"): CASE_READ,
    ("GET", "/api/v1/attachments/{attachment_id}"): allow({"coord-a": {"attachment_a"}, "phys-a1": {"attachment_a"},
                                                        "phys-a2": {"attachment_a"}, "phys-b1": {"attachment_b"},
                                                        "ide-a": {"attachment_a"}}),
}
EXPECTED[("DELETE", "/api/v1/attachments/{attachment_id}")] = EXPECTED[("GET", "/api/v1/attachments/{attachment_id}")]
# sharing with the DMP: whoever sees the attachment reaches the service, which lets only a physician share (422)
EXPECTED[("POST", "/api/v1/attachments/{attachment_id}/share")] = EXPECTED[
    ("GET", "/api/v1/attachments/{attachment_id}")]
# routes whose object is named by a required query parameter
QUERY_OBJECT = {"/api/v1/audit": ("patient", "patient_id"), "/api/v1/audit/fhir": ("patient", "patient_id")}
# routes without an object: checked by test_lists_are_scoped / test_creation_rights
COLLECTIONS = {("GET", "/api/v1/boards"), ("POST", "/api/v1/boards"), ("GET", "/api/v1/sessions"),
               ("POST", "/api/v1/cases"), ("GET", "/api/v1/deliveries"), ("GET", "/api/v1/audit/alerts"),
               ("GET", "/api/v1/patients/search"),  # search: scoped by test_identity_api
               ("GET", "/api/v1/pps/todo"),
               # referentials: reference data, no patient object (retired codes: coordinators and admins only,
               # read over the boards the coordinator sees)
               ("GET", "/api/v1/referentials"), ("GET", "/api/v1/referentials/guidelines"),
               ("GET", "/api/v1/referentials/retired-codes")}
# routes whose path parameter names reference data, not an object under access rules
REFERENCE_DATA = {("GET", "/api/v1/referentials/{system}/versions"), ("GET", "/api/v1/referentials/{system}/search")}


def _body(w: World, method: str, path: str, obj: str) -> dict[str, Any] | None:
    if path.endswith("attendance"):  # attendance and expected-attendance
        return {"attendance": {w.professionals["phys-a1"]: "present"}}
    if path.endswith("/sessions/{session_id}/move"):
        return {"starts_at": datetime.combine(TODAY + timedelta(days=45), datetime.min.time()).replace(
            hour=13).isoformat()}
    if path.endswith("/cases/{case_id}/move"):
        return {"session_id": w.ids["session_a" if obj == "case_a" else "session_b"], "force": True}
    if path.endswith("/tumour"):
        return {"topography_code": "C50.9", "laterality": "gauche"}
    if path.endswith("/decision"):
        session = w.ids["session_a" if obj == "case_a" else "session_b"]
        return {"session_id": session, "case_status": "discussed", "proposal_codes": ["387713003"],
                "proposal_text": "Chimiothérapie adjuvante.", "conform_to_referential": True}
    if path.endswith("/dmp-opposition"):
        return {"opposed": True, "reason": "refus exprimé en consultation"}
    if path.endswith("/masking"):
        return {"masked": True}
    if path.endswith("/legal-representatives-secret"):
        return {"secret": True}
    if path.endswith("/announcement"):
        return {}
    if path.endswith("/attachments/{attachment_id}/share"):
        return {"confirm": True}
    if path.endswith("/cases/{case_id}/pps") and method == "PUT":
        return {"items": []}
    if path.endswith("/pps/items"):
        return {"category": "treatment", "code": "387713003"}
    if path.endswith("/pps/items/remove"):
        return {"item_id": "inconnu"}
    if path.endswith("/pps/handover"):
        return {"handed_at": TODAY.isoformat()}
    if path.endswith("/first-treatment"):
        return {"first_treatment_date": TODAY.isoformat()}
    if path.endswith("/corrections"):
        return {"reason": "Erreur de saisie.", "comment": "Commentaire corrigé."}
    if path.endswith("/break-glass"):
        return {"reason_code": "ETREAT", "text": "Patient admis aux urgences cette nuit, dossier nécessaire."}
    return None


def _app_and_tokens(db: Database) -> tuple[TestClient, dict[str, str]]:
    settings = web_settings()
    app = create_app(database=db, settings=settings)
    app.dependency_overrides[get_today] = lambda: TODAY
    tokens = {login: issue_dev_token(login, settings=settings) for login in ROLES}
    return TestClient(app), tokens


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's API routes, walking included routers (FastAPI ≥ 0.150 includes them lazily)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif getattr(route, "original_router", None) is not None:
            out += _api_routes(list(route.original_router.routes))
    return out


def _object_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path template, object parameter) of every API route that names one object."""
    out: list[tuple[str, str, str]] = []
    unclassified: list[str] = []
    routes = [r for r in _api_routes(list(client.app.routes)) if r.path.startswith("/api/")]  # type: ignore[attr-defined]
    # cross-check with the OpenAPI description: no route escapes the walk
    documented = {(method.upper(), path) for path, ops in client.get("/openapi.json").json()["paths"].items()
                  for method in ops if path.startswith("/api/")}
    walked = {(method, r.path) for r in routes for method in r.methods - {"HEAD", "OPTIONS"}}
    assert documented <= walked, documented - walked
    for route in routes:
        params = [p.name for p in route.dependant.path_params]
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            key = (method, route.path)
            if (key in COLLECTIONS and not params) or key in REFERENCE_DATA:
                continue
            if key not in EXPECTED:
                unclassified.append(f"{method} {route.path}")
                continue
            param = params[0] if params else QUERY_OBJECT[route.path][1]
            assert len(params) <= 1, f"{method} {route.path}: several objects in the path, extend the matrix"
            out.append((method, route.path, param))
    assert not unclassified, f"routes missing from the access matrix (add them to EXPECTED/COLLECTIONS): {unclassified}"
    return out


def _call(client: TestClient, w: World, token: str, method: str, path: str, param: str, obj: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if path in QUERY_OBJECT:
        query_name, _ = QUERY_OBJECT[path]
        return client.request(method, path, params={query_name: w.ids[obj]}, headers=headers)
    target = w.ids[obj]
    if method == "DELETE" and param == "attachment_id":  # a fresh attachment of the same case per call
        with w.db.uow() as uow:
            original = uow.session.get(m.Attachment, target)
            case = uow.session.get(m.Case, original.case_id) if original is not None else None
            assert case is not None
            target = _attachment(uow, case)
            uow.commit()
    url = path.replace("{" + param + "}", target)
    if method == "POST" and path.endswith("/attachments"):
        return client.post(url, headers=headers, files={"file": ("cr.pdf", PDF, "application/pdf")},
                           data={"category": "letter", "title": "Courrier"})
    body = _body(w, method, path, obj)
    return client.request(method, url, json=body, headers=headers)


def test_every_object_endpoint_refuses_the_unauthorised(database: Database) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    with client:
        routes = _object_routes(client)
        assert len(routes) == len(EXPECTED)
        unauthorised: list[str] = []
        wrongly_refused: list[str] = []
        checked = 0
        for phase in ("refused", "allowed"):
            for method, path, param in routes:
                rule = EXPECTED[(method, path)]
                for login in ROLES:
                    for obj in w.kinds[param]:
                        if rule(login, obj) != (phase == "allowed"):
                            continue
                        r = _call(client, w, tokens[login], method, path, param, obj)
                        checked += 1
                        where = f"{login} {method} {path} [{obj}] -> {r.status_code} {r.text[:120]}"
                        if phase == "refused" and 200 <= r.status_code < 300:
                            unauthorised.append(where)
                        if phase == "refused" and r.status_code not in (403, 404, 409):
                            wrongly_refused.append("unexpected refusal status: " + where)
                        if phase == "allowed" and r.status_code in (401, 403, 404):
                            wrongly_refused.append(where)
        # anonymous: 401 everywhere
        for method, path, param in routes:
            obj = w.kinds[param][0]
            url = path.replace("{" + param + "}", w.ids[obj])
            params = {QUERY_OBJECT[path][0]: w.ids[obj]} if path in QUERY_OBJECT else None
            r = client.request(method, url, params=params, json=_body(w, method, path, obj))
            if r.status_code != 401:
                unauthorised.append(f"anonymous {method} {path} -> {r.status_code}")
    assert checked > 150
    assert unauthorised == []
    assert wrongly_refused == []


def test_refusals_answer_404_like_missing_objects_and_are_audited(database: Database) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    with client:
        headers = {"Authorization": f"Bearer {tokens['phys-b1']}"}
        hidden = client.get(f"/api/v1/cases/{w.ids['case_a']}", headers=headers)
        missing = client.get("/api/v1/cases/inconnu", headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["code"] == missing.json()["code"] == "introuvable"
        monitor = {"Authorization": f"Bearer {tokens['monitor-a']}"}
        assert client.get(f"/api/v1/documents/{w.ids['signed_a']}/pdf", headers=monitor).status_code == 404
    with database.uow() as uow:
        refused = [(e.actor, e.entity, e.entity_id, e.patient_id) for e in repo.audit_events(uow.session)
                   if e.action == "access.refused"]
    assert ("phys-b1", "case", w.ids["case_a"], w.ids["patient_a"]) in refused
    assert ("monitor-a", "document", w.ids["signed_a"], w.ids["patient_a"]) in refused


def test_lists_are_scoped(database: Database) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    with database.uow() as uow:
        region_of_board = {b.id: e.region_id for b, e in uow.session.execute(
            select(m.Board, m.Establishment).join(m.Establishment, m.Establishment.id == m.Board.establishment_id))}
        region_a = repo.region_by_code(uow.session, "A")
        assert region_a is not None
        region_a_id = region_a.id
    with client:
        def get(login: str, path: str, **params: str) -> list[dict[str, Any]]:
            r = client.get(path, params=params, headers={"Authorization": f"Bearer {tokens[login]}"})
            assert r.status_code == 200, (login, path, r.text)
            return list(r.json())

        all_boards = {b["id"] for b in get("admin", "/api/v1/boards")}
        assert len(all_boards) == len(region_of_board)
        for login in ("monitor-a", "phys-a2"):
            assert {b["id"] for b in get(login, "/api/v1/boards")} == {
                b for b, r in region_of_board.items() if r == region_a_id}
        coord = {b["id"] for b in get("coord-a", "/api/v1/boards")}
        assert w.ids["board_a"] in coord and w.ids["board_b"] not in coord
        assert coord < {b for b, r in region_of_board.items() if r == region_a_id}

        assert {d["id"] for d in get("coord-a", "/api/v1/deliveries")} == {w.ids["msg_a"]}
        assert {d["id"] for d in get("monitor-a", "/api/v1/deliveries")} == {w.ids["msg_a"]}
        for login in ("phys-a1", "phys-b1", "admin"):
            assert get(login, "/api/v1/deliveries") == []
        assert "patient" not in str(get("monitor-a", "/api/v1/deliveries")[0].keys())

        sessions_a2 = {s["board_id"] for s in get("phys-a2", "/api/v1/sessions")}
        assert w.ids["board_a"] not in sessions_a2
        assert {s["board_id"] for s in get("phys-b1", "/api/v1/sessions")} <= {
            b for b, r in region_of_board.items() if r != region_a_id}
        r = client.get("/api/v1/sessions", params={"board": w.ids["board_b"]},
                       headers={"Authorization": f"Bearer {tokens['coord-a']}"})
        assert r.status_code == 404

        # a case lists only the documents the user may open (phys-a2: referring GP, not the masked one)
        case = client.get(f"/api/v1/cases/{w.ids['case_a']}",
                          headers={"Authorization": f"Bearer {tokens['phys-a2']}"}).json()
        assert {d["id"] for d in case["documents"]} == {w.ids["signed_a"]}


def test_creation_rights(database: Database) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    with database.uow() as uow:
        board_b = uow.session.get(m.Board, w.ids["board_b"])
        assert board_b is not None
        board_b_est = board_b.establishment_id
        requester_b = w.ids["requester_b"]
    with client:
        def post_case(login: str, board: str, requester: str, n: int) -> int:
            from tests.web.helpers_web import case_payload
            payload = case_payload(w.ids[board], requester, first13=f"18005441090{n:02d}")
            return client.post("/api/v1/cases", json=payload,
                               headers={"Authorization": f"Bearer {tokens[login]}"}).status_code

        assert post_case("monitor-a", "board_a", w.ids["requester_a"], 1) == 403
        assert post_case("admin", "board_a", w.ids["requester_a"], 2) == 403
        assert post_case("coord-a", "board_b", requester_b, 3) == 422  # board out of scope: as if unknown
        assert post_case("phys-a1", "board_b", requester_b, 4) == 422
        assert post_case("phys-a1", "board_a", w.ids["requester_a"], 5) == 422  # not in their own name
        with database.uow() as uow:
            own = uow.session.get(m.Professional, w.professionals["phys-a1"])
            assert own is not None
            own_rpps = own.rpps
        assert post_case("phys-a1", "board_a", own_rpps, 6) == 201
        assert post_case("coord-a", "board_a", w.ids["requester_a"], 7) == 201

        payload = {"establishment_id": board_b_est, "rcp_id": "990001", "name": "RCP Test", "kind": "transversal",
                   "transversal_code": "ORG-129", "recurrence": "FREQ=WEEKLY;BYDAY=MO", "start_time": "12:30",
                   "responsible_id": w.professionals["phys-b1"], "coordinator_id": w.professionals["phys-b1"],
                   "member_ids": [w.professionals["phys-b1"]]}
        for login, expected in (("phys-b1", 403), ("monitor-a", 403), ("coord-a", 422)):
            r = client.post("/api/v1/boards", json=payload, headers={"Authorization": f"Bearer {tokens[login]}"})
            assert r.status_code == expected, (login, r.text)
        r = client.post("/api/v1/boards", json=payload, headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert r.status_code == 201, r.text


def test_break_glass_grants_then_expires(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    headers = {"Authorization": f"Bearer {tokens['phys-b1']}"}
    case_url = f"/api/v1/cases/{w.ids['case_a']}"
    masked_url = f"/api/v1/documents/{w.ids['masked_a']}"
    with client:
        assert client.get(case_url, headers=headers).status_code == 404
        bad = client.post(f"/api/v1/patients/{w.ids['patient_a']}/break-glass", headers=headers,
                          json={"reason_code": "CURIOSITE", "text": "Je voulais simplement voir le dossier."})
        assert bad.status_code == 422 and bad.json()["field"] == "reason_code"
        r = client.post(f"/api/v1/patients/{w.ids['patient_a']}/break-glass", headers=headers,
                        json={"reason_code": "ETREAT", "text": "Patiente admise aux urgences de Strasbourg."})
        assert r.status_code == 201, r.text
        expires = datetime.fromisoformat(r.json()["expires_at"])
        assert timedelta(hours=3, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=4)
        assert client.get(case_url, headers=headers).status_code == 200
        assert client.get(masked_url, headers=headers).status_code == 200  # masked documents too
        record = client.get(f"/api/v1/patients/{w.ids['patient_a']}", headers=headers).json()
        assert w.ids["masked_a"] in {d["id"] for d in record["documents"]}
        # the break-the-glass user is not the care team: no audit trail
        assert client.get("/api/v1/audit", params={"patient": w.ids["patient_a"]}, headers=headers).status_code == 404

        alerts = client.get("/api/v1/audit/alerts", headers={"Authorization": f"Bearer {tokens['monitor-a']}"})
        assert alerts.status_code == 200
        assert [a["physician_login"] for a in alerts.json()] == []  # phys-b1 belongs to region B
        alerts_b = [e for e in _audit(database) if e.action == "alert.monitor"]
        assert len(alerts_b) == 1 and alerts_b[0].detail["region"] == "B"
        notices = [e for e in _audit(database) if e.action == "notice.patient"]
        assert len(notices) == 1 and notices[0].patient_id == w.ids["patient_a"]
        start = [e for e in _audit(database) if e.action == "break_glass.start"]
        assert start[0].detail["reason_code"] == "ETREAT" and "urgences" in start[0].detail["text"]

        # four hours later: access gone
        from dcc.services import access

        later = datetime.now(UTC) + timedelta(hours=4, minutes=1)
        monkeypatch.setattr(access, "now_utc", lambda: later)
        assert client.get(case_url, headers=headers).status_code == 404
        assert client.get(masked_url, headers=headers).status_code == 404

        # a monitor may not break the glass; a member of the care team need not
        r = client.post(f"/api/v1/patients/{w.ids['patient_a']}/break-glass",
                        headers={"Authorization": f"Bearer {tokens['monitor-a']}"},
                        json={"reason_code": "ETREAT", "text": "Patiente admise aux urgences de Nantes."})
        assert r.status_code == 403
        r = client.post(f"/api/v1/patients/{w.ids['patient_a']}/break-glass",
                        headers={"Authorization": f"Bearer {tokens['phys-a1']}"},
                        json={"reason_code": "ETREAT", "text": "Patiente admise aux urgences de Nantes."})
        assert r.status_code == 409


def _audit(db: Database) -> list[m.AuditEvent]:
    with db.uow() as uow:
        rows = repo.audit_events(uow.session)
        uow.session.expunge_all()
        return rows


def test_clinical_reads_are_audited_and_exported_as_fhir(database: Database) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    with client:
        headers = {"Authorization": f"Bearer {tokens['phys-a1']}"}
        for url in (f"/api/v1/cases/{w.ids['case_a']}", f"/api/v1/sessions/{w.ids['session_a']}",
                    f"/api/v1/documents/{w.ids['signed_a']}", f"/api/v1/documents/{w.ids['signed_a']}/cda",
                    f"/api/v1/documents/{w.ids['signed_a']}/pdf"):
            assert client.get(url, headers=headers).status_code == 200, url
        actions = [(e.actor, e.action, e.patient_id) for e in _audit(database)]
        for action in ("case.read", "session.agenda_read", "document.read", "document.cda_read",
                       "document.pdf_read"):
            assert ("phys-a1", action, w.ids["patient_a"]) in actions, action

        trail = client.get("/api/v1/audit", params={"patient": w.ids["patient_a"]},
                           headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert trail.status_code == 200
        assert {"case.read", "document.pdf_read", "case.register"} <= {e["action"] for e in trail.json()}
        assert all(e["patient_id"] == w.ids["patient_a"] for e in trail.json())

        fhir = client.get("/api/v1/audit/fhir", params={"patient": w.ids["patient_a"]},
                          headers={"Authorization": f"Bearer {tokens['coord-a']}"}).json()
        assert fhir["resourceType"] == "Bundle"
        events = [e["resource"] for e in fhir["entry"]]
        assert all(e["resourceType"] == "AuditEvent" for e in events)
        read = next(e for e in events if {"system": "urn:dcc:audit-action", "code": "case.read"} in e["subtype"])
        assert read["action"] == "R" and read["outcome"] == "0"
        assert read["agent"][0]["who"]["identifier"]["value"] == "phys-a1"
        assert read["entity"][0]["what"]["reference"] == f"Patient/{w.ids['patient_a']}"
        assert read["recorded"].startswith("20")
        # reading the trail is itself audited
        assert ("admin", "audit.read", w.ids["patient_a"]) in [(e.actor, e.action, e.patient_id)
                                                              for e in _audit(database)]


def test_a_read_fails_when_its_audit_entry_cannot_be_written(database: Database,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    w = build_world(database)
    client, tokens = _app_and_tokens(database)
    from dcc.services import access

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(access, "record_audit", broken)
    monkeypatch.setattr(access, "record_audits", broken)  # a read of several patients appends them at once
    monkeypatch.setattr(access, "record_audits_grouped", broken)  # SQLite: the reads' group commit
    with TestClient(client.app, raise_server_exceptions=False) as c:
        r = c.get(f"/api/v1/documents/{w.ids['signed_a']}/pdf",
                  headers={"Authorization": f"Bearer {tokens['phys-a1']}"})
    assert r.status_code == 500
    assert r.content != PDF and b"%PDF" not in r.content
