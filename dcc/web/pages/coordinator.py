"""Coordinator pages: board calendar, session agenda (move a case), case registration with live
validation, attendance and quorum, session validation. Actions call the services the JSON API calls."""

from __future__ import annotations

import calendar as cal
import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from dcc.domain.identifiers import (
    nir_birth_incoherence,
    nir_birthplace_incoherence,
    nir_key,
    nir_sex_incoherence,
    validate_ins_oid,
    validate_nir,
    validate_rpps,
)
from dcc.domain.quorum import requirement_label
from dcc.domain.states import CaseStatus, SessionStatus
from dcc.errors import DccError, IdentityConflict, NotFound, UndecidedCases
from dcc.services import (
    access,
    codes,
    consent,
    coordination,
    identity,
    queries,
    referentials,
    treatment_start,
    worklists,
)
from dcc.services import attachments as attachment_services
from dcc.services import boards as board_services
from dcc.services.documents import regenerate_case_documents
from dcc.services.schemas import AttendanceInput, CaseRegistration
from dcc.web.deps import CdaBuilderDep, DocumentBuilders, Now, Today, Uow
from dcc.web.pages import _decision
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import (
    CsrfForm,
    PageRoute,
    PageUser,
    after_validation,
    fr_datetime,
    local,
    redirect,
    render,
    require_role,
)

router = APIRouter(prefix="/coordination", route_class=PageRoute, include_in_schema=False)
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]

INS_OIDS = [("1.2.250.1.213.1.4.8", "INS-NIR (identifiant national de santé)"),
            ("1.2.250.1.213.1.4.10", "INS-NIR de test"),
            ("1.2.250.1.213.1.4.11", "INS-NIR de démonstration"),
            ("1.2.250.1.213.1.4.9", "INS-NIA (identifiant d'attente)")]


# -------------------------------------------------------------------------------------- calendar


def _parse_day(value: str | None, today: date) -> date:
    try:
        return date.fromisoformat(value) if value else today
    except ValueError:
        return today


@router.get("/", response_class=HTMLResponse)
def board_calendar(request: Request, user: Coordinator, uow: Uow, today: Today,
                   vue: Annotated[str, Query()] = "mois", jour: Annotated[str | None, Query()] = None,
                   rcp: Annotated[str | None, Query()] = None) -> Response:
    day = _parse_day(jour, today)
    boards = scope.coordinator_boards(uow, user)
    board_ids = {b.id for b in boards}
    board_id = rcp if rcp in board_ids else None
    if vue == "semaine":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=6)
        prev_day, next_day = start - timedelta(days=7), start + timedelta(days=7)
    else:
        vue = "mois"
        first = day.replace(day=1)
        last = first.replace(day=cal.monthrange(first.year, first.month)[1])
        start = first - timedelta(days=first.weekday())
        end = last + timedelta(days=6 - last.weekday())
        prev_day = (first - timedelta(days=1)).replace(day=1)
        next_day = last + timedelta(days=1)
    sessions = [s for s in queries.list_sessions(uow, board_id=board_id, start=start, end=end)
                if s.board_id in board_ids]
    by_day: dict[date, list[queries.SessionView]] = {}
    for s in sessions:
        loc = local(s.starts_at)
        assert loc is not None
        by_day.setdefault(loc.date(), []).append(s)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    weeks = [days[i:i + 7] for i in range(0, len(days), 7)]
    pending = _pending_cases(uow, board_ids)
    return render(request, "coordinator/calendar.html.j2", {
        "vue": vue, "day": day, "start": start, "end": end, "weeks": weeks, "days": days, "by_day": by_day,
        "boards": boards, "board_id": board_id or "", "prev_day": prev_day, "next_day": next_day,
        "today": today, "pending": pending,
    })


def _pending_cases(uow: Any, board_ids: set[str]) -> list[coordination.PendingRow]:
    return coordination.pending_cases(uow, board_ids)


# ---------------------------------------------------------------------------------------- agenda


def _agenda_context(uow: Any, user: PageUser, session_id: str, today: date) -> dict[str, Any]:
    s, board = scope.session_for_coordinator(uow, user, session_id)
    agenda = queries.session_agenda(uow, session_id)
    others = [o for o in queries.list_sessions(uow, board_id=board.id, start=today, end=None)
              if o.id != session_id and o.status == SessionStatus.PLANNED]
    members = scope.board_members(uow, board.id)
    modes = {a.professional_id: a.mode for a in agenda.attendance}
    return {"agenda": agenda, "board": board, "others": others, "members": members, "modes": modes,
            "missing_labels": [requirement_label(c) for c in agenda.session.quorum_missing],
            "required_labels": [requirement_label(c) for c in board.required_specialties]}


@router.get("/seances/{session_id}", response_class=HTMLResponse)
def session_agenda(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today) -> Response:
    return render(request, "coordinator/session.html.j2", _agenda_context(uow, user, session_id, today))


@router.post("/seances/{session_id}/presences", response_class=HTMLResponse)
def record_attendance(request: Request, session_id: str, user: Coordinator, uow: Uow,
                      today: Today, now: Now, form: CsrfForm) -> Response:
    _, board = scope.session_for_coordinator(uow, user, session_id)
    members = {p.id for p in scope.board_members(uow, board.id)}
    attendance = {pid: str(form.get(f"presence-{pid}") or "absent") for pid in members}
    try:
        data = AttendanceInput(attendance=attendance)
        status = board_services.record_attendance(uow, session_id=session_id, data=data, actor=user.login,
                                                  now=now)
    except (ValidationError, DccError) as exc:
        message = exc.message if isinstance(exc, DccError) else "Présence invalide : choisissez un mode par membre."
        ctx = _agenda_context(uow, user, session_id, today) | {"error": message}
        return render(request, "coordinator/session.html.j2", ctx,
                      status_code=exc.status_code if isinstance(exc, DccError) else 422)
    label = "atteint" if status == "met" else "non atteint"
    return redirect(f"/coordination/seances/{session_id}", f"Présences enregistrées : quorum {label}.")


@router.post("/seances/{session_id}/valider", response_class=HTMLResponse)
def validate_session(request: Request, session_id: str, user: Coordinator, uow: Uow, today: Today,
                     now: Now, form: CsrfForm) -> Response:
    scope.session_for_coordinator(uow, user, session_id)
    try:
        summary = board_services.validate_session(uow, session_id=session_id, today=today,
                                                  confirm=form.get("confirmer") == "oui", actor=user.login,
                                                  now=now)
    except DccError as exc:
        ctx = _agenda_context(uow, user, session_id, today) | {"error": exc.message}
        if isinstance(exc, UndecidedCases):  # the confirmation step: the same form, confirmed
            ctx["undecided"] = [i for i in ctx["agenda"].items if i.case_id in exc.case_ids]
        return render(request, "coordinator/session.html.j2", ctx, status_code=exc.status_code)
    return redirect(f"/coordination/seances/{session_id}", after_validation(session_id, summary))


@router.post("/dossiers/{case_id}/deplacer", response_class=HTMLResponse)
def move_case(request: Request, case_id: str, user: Coordinator, uow: Uow, today: Today,
              form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    target = str(form.get("session_id") or "")
    origin = str(form.get("depuis") or "")
    back = f"/coordination/seances/{origin}" if origin else f"/coordination/dossiers/{case_id}"
    if not target:
        return redirect(back, "Choisissez la séance de destination.")
    try:
        result = board_services.move_case(uow, case_id=case_id, session_id=target, today=today,
                                          force=form.get("forcer") == "oui", actor=user.login)
    except DccError as exc:
        return redirect(back, f"Déplacement refusé : {exc.message}")
    return redirect(f"/coordination/seances/{result.session_id}", f"Dossier déplacé. {result.reason}")


# ------------------------------------------------------------------- patient's choices about the DMP


@router.post("/dossiers/{case_id}/opposition", response_class=HTMLResponse)
def dmp_opposition(request: Request, case_id: str, user: Coordinator, uow: Uow, form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    opposed = form.get("opposition") == "oui"
    reason = str(form.get("motif") or "").strip()
    back = f"/coordination/dossiers/{case_id}"
    if len(reason) > 500:
        return redirect(back, "Précision trop longue (500 caractères au plus).")
    changed = consent.record_opposition(uow, patient_id=case.patient_id, actor=user.login, opposed=opposed,
                                        reason=reason)
    if opposed:
        return redirect(back, f"Opposition au DMP enregistrée : {changed} envoi(s) vers le DMP bloqué(s) ; le "
                              "médecin traitant et les correspondants reçoivent toujours le compte rendu.")
    return redirect(back, f"Opposition levée : {changed} envoi(s) vers le DMP relancé(s).")


@router.post("/dossiers/{case_id}/secret-mineur", response_class=HTMLResponse)
def minor_secret(request: Request, case_id: str, user: Coordinator, uow: Uow, now: Now, form: CsrfForm) -> Response:
    """The minor patient's secret from their legal representatives (CSP art. L1111-5), recorded or lifted
    after an explicit confirmation; the service refuses it for an adult (French message shown)."""
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    secret = form.get("secret") == "oui"
    back = f"/coordination/dossiers/{case_id}"
    if form.get("confirmation") != "oui":
        return redirect(back, "Cochez la case de confirmation : rien n'a été enregistré.")
    try:
        updates = consent.record_minor_secret(uow, patient_id=case.patient_id, actor=user.login, secret=secret,
                                              now=now)
    except DccError as exc:
        return redirect(back, f"Secret non enregistré : {exc.message}")
    queued = (f"{len(updates)} mise(s) à jour des métadonnées au DMP en file d'envoi ; les documents pas encore "
              "déposés le porteront à leur dépôt.")
    if secret:
        return redirect(back, "Secret vis-à-vis des représentants légaux enregistré : les documents du patient "
                              f"sont invisibles à ses représentants légaux dans le DMP. {queued}")
    return redirect(back, "Secret vis-à-vis des représentants légaux levé : ses représentants légaux voient à "
                          f"nouveau les documents du patient dans le DMP. {queued}")


@router.post("/dossiers/{case_id}/identite", response_class=HTMLResponse)
def identity_qualified(request: Request, case_id: str, user: Coordinator, uow: Uow,
                       builders: DocumentBuilders, form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    cda, pdf = builders
    try:
        released = consent.qualify_identity(uow, case.patient_id, user.login, cda=cda, pdf=pdf)
    except DccError as exc:
        return redirect(f"/coordination/dossiers/{case_id}", exc.message)
    return redirect(f"/coordination/dossiers/{case_id}",
                    f"Identité qualifiée (INS) : {released} envoi(s) en attente relancé(s) ; documents non "
                    "signés régénérés.")


@router.post("/dossiers/{case_id}/regenerer", response_class=HTMLResponse)
def regenerate(request: Request, case_id: str, user: Coordinator, uow: Uow,
               builders: DocumentBuilders, form: CsrfForm) -> Response:
    scope.case_for_coordinator(uow, user, case_id)
    back = f"/coordination/dossiers/{case_id}"
    cda, pdf = builders
    try:
        result = regenerate_case_documents(uow, case_id, user.login, cda, pdf)
    except DccError as exc:
        return redirect(back, f"Régénération refusée : {exc.message}")
    if result.refused:
        return redirect(back, f"Documents toujours non générés : {result.refused}")
    return redirect(back, f"Documents régénérés : {len(result.created)} brouillon(s) remplace(nt) "
                          f"{len(result.removed)} ancien(s).")


@router.post("/dossiers/{case_id}/documents/{document_id}/{choice}", response_class=HTMLResponse)
def document_visibility(request: Request, case_id: str, document_id: str, choice: str, user: Coordinator,
                        uow: Uow, form: CsrfForm) -> Response:
    case, _ = scope.case_for_coordinator(uow, user, case_id)
    doc = queries.get_document(uow, document_id)
    if doc.case_id != case.id or choice not in ("annonce", "masquage"):
        raise NotFound(f"Document « {document_id} » introuvable.")
    back = f"/coordination/dossiers/{case_id}"
    try:
        if choice == "annonce":
            consent.record_announcement(uow, document_id=doc.id, when=access.now_utc(), actor=user.login)
            return redirect(back, f"Consultation d'annonce enregistrée : le document {doc.kind} v{doc.version} "
                                  "devient visible du patient dans son DMP.")
        masked = form.get("masquer") == "oui"
        consent.record_masking(uow, document_id=doc.id, actor=user.login, masked=masked)
    except DccError as exc:
        return redirect(back, exc.message)
    return redirect(back, f"Document {doc.kind} v{doc.version} " + ("masqué aux professionnels."
                                                                   if masked else "à nouveau visible des "
                                                                   "professionnels."))


# ---------------------------------------------------------------------------------- registration

CHECKBOXES = ("urgent", "standard", "pathology_report", "family_history", "patient_consent", "parental_consent",
              "force")
PATIENT_FIELDS = ("ins_matricule", "ins_oid", "birth_family", "birth_given_first", "birth_given_all",
                  "birth_date", "sex", "birthplace_insee", "birthplace_city", "used_family", "used_given")


def _registration_payload(form: dict[str, Any]) -> dict[str, Any]:
    def text(key: str) -> str:
        value = form.get(key)
        return str(value[0] if isinstance(value, list) else value or "").strip()

    patient: dict[str, Any] = {k: text(k) for k in PATIENT_FIELDS}
    patient["ins_qualified"] = form.get("ins_qualified") == "oui"
    if not patient["ins_matricule"]:
        patient["ins_matricule"] = None  # INS not (yet) known: the patient is matched on their traits
    if not patient["ins_oid"]:
        del patient["ins_oid"]  # the schema's default (INS-NIR)
    chosen = text("patient_id")
    identity_given = any(patient[k] for k in ("birth_family", "birth_given_first", "birth_date"))
    payload: dict[str, Any] = {
        "board_id": text("board_id"), "requester_rpps": text("requester_rpps"),
        "topography_code": text("topography_code").upper(), "phase": text("phase") or "initial",
        "question": text("question"), "motive": text("motive"), "summary": text("summary"),
        "discovery_mode": text("discovery_mode"), "earliest_date": text("earliest_date"),
    }
    for key in ("presenter_rpps", "morphology_code", "tnm_t", "tnm_n", "tnm_m", "performance_status",
                "referential_name", "referential_version", "referential_date", "imaging_date",
                "tnm_edition", "tnm_stage", "laterality", "diagnosis_date"):
        if text(key):
            payload[key] = text(key)
    for key in CHECKBOXES:
        payload[key] = form.get(key) == "oui"
    if chosen:  # an existing patient picked in the search or among the proposed candidates
        payload["patient_id"] = chosen
    if identity_given or not chosen:
        payload["patient"] = patient
    payload["new_patient"] = form.get("new_patient") == "oui" and not chosen
    return payload


def _error_map(exc: ValidationError) -> dict[str, str]:
    from dcc.web.app import validation_error_body

    errors: dict[str, str] = {}
    body = validation_error_body(exc.errors())  # type: ignore[arg-type]
    for detail in body.get("details") or [{"field": body.get("field"), "message": body["message"]}]:
        name = (detail.get("field") or "formulaire").removeprefix("patient.")
        message = detail["message"]
        if message.startswith("Champ « "):
            message = message.split(" : ", 1)[-1]
            message = message[:1].upper() + message[1:]
        errors.setdefault(name, message)
    return errors


def _form_context(uow: Any, user: PageUser, today: date, values: dict[str, Any],
                  errors: dict[str, str] | None = None) -> dict[str, Any]:
    me = scope.professional(uow, user.professional_id)
    defaults = {"requester_rpps": me.rpps if me else "", "earliest_date": today.isoformat(),
                "ins_oid": "1.2.250.1.213.1.4.8", "phase": "initial", "sex": "",
                "pathology_report": "oui", "family_history": "oui", "patient_consent": "oui",
                "parental_consent": "oui"}
    return {"boards": scope.coordinator_boards(uow, user), "values": defaults | values, "errors": errors or {},
            "ins_oids": INS_OIDS, "today": today, "candidates": [], "hidden_candidates": 0,
            "propose_new": False}


@router.get("/dossiers/nouveau", response_class=HTMLResponse)
def registration_form(request: Request, user: Coordinator, uow: Uow, today: Today,
                      rcp: Annotated[str | None, Query()] = None) -> Response:
    return render(request, "coordinator/case_form.html.j2",
                  _form_context(uow, user, today, {"board_id": rcp or ""}))


@router.post("/dossiers/nouveau", response_class=HTMLResponse)
def register_case(request: Request, user: Coordinator, uow: Uow, today: Today, form: CsrfForm) -> Response:
    values = {k: v for k, v in form.items() if k != "csrf_token"}
    payload = _registration_payload(form)
    board_ids = {b.id for b in scope.coordinator_boards(uow, user)}
    if payload["board_id"] not in board_ids:
        errors = {"board_id": "Choisissez une RCP de votre région."}
        return render(request, "coordinator/case_form.html.j2", _form_context(uow, user, today, values, errors),
                      status_code=422)
    try:
        data = CaseRegistration.model_validate(payload)
        # registered, then assigned at once by the scheduled flow's service (limited to this case)
        done = coordination.register_and_assign(uow, data=data, today=today, actor=user.login)
    except ValidationError as exc:
        return render(request, "coordinator/case_form.html.j2",
                      _form_context(uow, user, today, values, _error_map(exc)), status_code=422)
    except IdentityConflict as exc:
        # Identity vigilance: the conflict is stated; candidates the coordinator may see can be picked.
        field = (exc.field or "formulaire").removeprefix("patient.")
        errors = {"formulaire" if field == "patient" else field: exc.message}
        candidates = identity.visible_patients(uow, exc.candidates, scope=access.patient_filter(user))
        ctx = _form_context(uow, user, today, values, errors) | {
            "candidates": candidates, "hidden_candidates": len(exc.candidates) - len(candidates),
            "propose_new": field == "patient"}
        return render(request, "coordinator/case_form.html.j2", ctx, status_code=exc.status_code)
    except DccError as exc:
        errors = {(exc.field or "formulaire").removeprefix("patient."): exc.message}
        return render(request, "coordinator/case_form.html.j2", _form_context(uow, user, today, values, errors),
                      status_code=exc.status_code)
    if done.session_starts_at is not None:  # a first assignment, not a move
        message = (f"Dossier inscrit et affecté à la séance du {fr_datetime(done.session_starts_at)} "
                   f"({done.board_name}). {done.reason}")
    else:
        message = f"Dossier inscrit, en attente d'affectation : {done.reason or 'aucune séance possible.'}"
    return redirect(f"/coordination/dossiers/{done.case_id}", message.strip())


@router.get("/patients/recherche", response_class=HTMLResponse)
def patient_search(request: Request, user: Coordinator, uow: Uow,
                   q: Annotated[str, Query(max_length=100)] = "") -> Response:
    """htmx: the patients of the coordinator's scope matching `q` (name, birth date, INS), to pick one."""
    hits: list[identity.PatientHit] = []
    message = ""
    if len(q.strip()) < 2:
        message = "Saisissez au moins 2 caractères (nom, date de naissance JJ/MM/AAAA ou INS)."
    else:
        hits = identity.search_patients(uow, q=q, scope=access.patient_filter(user))
        for hit in hits:
            access.record_read(uow, user, action="patient.search", entity="patient", entity_id=hit.id,
                               patient_ids=[hit.id])
        if not hits:
            message = "Aucun patient de votre périmètre ne correspond."
    return render(request, "coordinator/_patient_hits.html.j2", {"hits": hits, "message": message,
                                                                 "chosen": ""})


@router.post("/dossiers/verifier", response_class=HTMLResponse)
def check_field(request: Request, user: Coordinator, uow: Uow, form: CsrfForm) -> Response:
    """htmx: check the field that changed (HX-Trigger-Name) and answer its French message."""
    name = request.headers.get("hx-trigger-name") or str(form.get("champ") or "")
    value = str(form.get(name) or "").strip()
    ok, message = _check_one(uow, name, value, form)
    return render(request, "coordinator/_field_message.html.j2", {"ok": ok, "message": message, "name": name})


def _check_one(uow: Any, name: str, value: str, form: dict[str, Any]) -> tuple[bool, str]:
    if not value:
        return True, ""
    try:
        if name == "ins_matricule":
            compact = value.replace(" ", "")
            if len(compact) == 13:
                return False, f"Il manque la clé : pour ce NIR, la clé attendue est {nir_key(compact)}."
            validate_nir(value)
            return True, "Clé du NIR valide."
        if name == "ins_oid":
            validate_ins_oid(value)
            return True, ""
        if name in ("requester_rpps", "presenter_rpps"):
            rpps = validate_rpps(value, field=name)
            prof = coordination.professional_by_rpps(uow, rpps)
            if prof is None:
                return False, f"Aucun professionnel avec le RPPS {rpps} dans l'annuaire."
            return True, f"Dr {prof.given} {prof.family}."
        if name in ("topography_code", "morphology_code"):  # the version in force in the database
            system, label = referentials.CHECKED_FIELDS[name]
            value = value.upper() if name == "topography_code" else value
            code = codes.check(uow, [codes.CodedEntry(name, label, system, value)])[(system, value)]
            return True, f"{code.code} : {code.display}."
        if name == "birthplace_insee":
            if not re.fullmatch(r"\d{5}|2[AB]\d{3}", value):
                return False, "Le code INSEE de la commune compte 5 caractères (ex. 44109, 2A004)."
            return _coherence(form, name, value)
        if name == "sex":
            return _coherence(form, name, value)
        if name in ("birth_date", "earliest_date", "imaging_date", "referential_date", "diagnosis_date"):
            try:
                when = date.fromisoformat(value)
            except ValueError:
                return False, "Date invalide (format attendu : AAAA-MM-JJ)."
            if name == "birth_date" and when > date.today():
                return False, "La date de naissance est dans le futur."
            if name == "diagnosis_date" and when > date.today():
                return False, "La date du diagnostic est dans le futur."
            if name == "birth_date":
                return _coherence(form, name, value)
            return True, ""
    except DccError as exc:
        return False, exc.message
    return True, ""


def _coherence(form: dict[str, Any], name: str, value: str) -> tuple[bool, str]:
    """Identity vigilance, live: does the trait that changed agree with the NIR typed in the form?"""
    try:
        nir = validate_nir(str(form.get("ins_matricule") or ""))
    except DccError:
        return True, ""  # no valid NIR yet: the NIR field has its own message
    try:
        birth = date.fromisoformat(value if name == "birth_date" else str(form.get("birth_date") or ""))
    except ValueError:
        birth = None
    if name == "sex":
        message = nir_sex_incoherence(nir, value)
    elif name == "birth_date" and birth is not None:
        message = nir_birth_incoherence(nir, birth)
    elif name == "birthplace_insee" and birth is not None:
        message = nir_birthplace_incoherence(nir, value.upper(), birth)
    else:
        message = None
    return (False, message) if message else (True, "")


def _case_context(uow: Any, user: PageUser, case_id: str, today: date, cda: Any,
                  error: str = "", first_treatment_value: str | None = None) -> dict[str, Any]:
    case, board = scope.case_for_coordinator(uow, user, case_id)
    view = queries.get_case(uow, case_id)
    sessions = [s for s in queries.list_sessions(uow, board_id=board.id, start=today, end=None)
                if s.status == SessionStatus.PLANNED and s.id != case.session_id]
    current = queries.session_status(uow, case.session_id) if case.session_id else None
    label = _decision.topography_label(uow, case.topography_code)
    decision = view.decision
    regenerable = (case.status == CaseStatus.DECIDED and decision is not None and decision.locked
                   and all(d.status == "draft" for d in view.documents)
                   and bool(view.documents or case.documents_missing))
    if first_treatment_value is None:
        first_treatment_value = case.first_treatment_date.isoformat() if case.first_treatment_date else ""
    return {"view": view, "case": case, "board": board, "sessions": sessions, "current": current,
            "topography_label": label, "has_ins": view.has_ins, "regenerable": regenerable,
            "minor_secret": identity.minor_secret(uow, case.patient_id),
            "attachments": attachment_services.list_attachments(uow, case_id),
            "attachment_categories": attachment_services.CATEGORIES,
            "documents": worklists.case_documents(uow, case_id, cda=cda),
            "today": today, "first_treatment_error": error, "first_treatment_value": first_treatment_value}


@router.get("/dossiers/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, user: Coordinator, uow: Uow, today: Today,
              cda: CdaBuilderDep) -> Response:
    return render(request, "coordinator/case.html.j2", _case_context(uow, user, case_id, today, cda))


@router.post("/dossiers/{case_id}/premier-traitement", response_class=HTMLResponse)
def first_treatment(request: Request, case_id: str, user: Coordinator, uow: Uow, today: Today,
                    cda: CdaBuilderDep, form: CsrfForm) -> Response:
    """The day the case's first treatment started (empty: cleared, « non renseignée »), for the network's
    indicators; refused before the diagnosis date or in the future (French message on the page)."""
    scope.case_for_coordinator(uow, user, case_id)
    raw = str(form.get("first_treatment_date") or "").strip()
    try:
        when = date.fromisoformat(raw) if raw else None
    except ValueError:
        when, error = None, f"Date du premier traitement invalide : « {raw[:20]} » (attendu AAAA-MM-JJ)."
    else:
        error = ""
    if not error:
        try:
            treatment_start.record_first_treatment(uow, user, case_id=case_id, when=when, today=today)
        except DccError as exc:
            uow.rollback()
            error = exc.message
            status = exc.status_code
        else:
            return redirect(f"/coordination/dossiers/{case_id}", "Date du premier traitement enregistrée."
                            if when else "Date du premier traitement effacée (non renseignée).")
    else:
        status = 422
    return render(request, "coordinator/case.html.j2",
                  _case_context(uow, user, case_id, today, cda, error=error, first_treatment_value=raw[:20]),
                  status_code=status)
