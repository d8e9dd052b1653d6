"""Physician pages: my upcoming cases, the decision form, the "à signer" queue (PDF preview, sign one,
sign a batch after one confirmation), and the documents I signed whose announcement consultation is still
to be recorded. Actions call the services the JSON API calls."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.states import SessionStatus
from dcc.errors import DccError, NotFound
from dcc.services import access, consent, queries
from dcc.services import boards as board_services
from dcc.services.documents import sign_documents
from dcc.services.schemas import DecisionInput
from dcc.web.deps import Now, Today, Uow
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import PageRoute, PageUser, check_csrf, form_list, redirect, render, require_role

router = APIRouter(prefix="/medecin", route_class=PageRoute, include_in_schema=False)
Physician = Annotated[PageUser, Depends(require_role("physician"))]


def _upcoming(uow: Any, user: PageUser, today: date) -> list[dict[str, Any]]:
    board_ids = scope.physician_board_ids(uow, user)
    if not board_ids:
        return []
    sessions = [s for s in queries.list_sessions(uow, board_id=None, start=today - timedelta(days=7), end=None)
                if s.board_id in board_ids and s.status in (SessionStatus.PLANNED, SessionStatus.HELD)]
    out = []
    for s in sessions:
        agenda = queries.session_agenda(uow, s.id)
        for item in agenda.items:
            out.append({"session": s, "item": item})
    return out


def _to_sign(uow: Any, user: PageUser) -> list[dict[str, Any]]:
    if not user.professional_id:
        return []
    docs = repo.documents_to_sign(uow.session, user.professional_id)
    docs = [d for d in docs if d.status == "draft" and d.signer_id == user.professional_id]
    cases = {c.id: c for c in uow.session.scalars(select(m.Case).where(m.Case.id.in_([d.case_id for d in docs])))}
    patients = repo.patients_by_ids(uow.session, [d.patient_id for d in docs])
    return [{"doc": d, "case": cases.get(d.case_id), "patient": queries.display_name(patients[d.patient_id])}
            for d in docs]


def _to_announce(uow: Any, user: PageUser) -> list[dict[str, Any]]:
    """Documents I signed whose announcement consultation is not recorded yet: the patient cannot see them
    in the DMP until then."""
    if not user.professional_id:
        return []
    docs = repo.signed_not_announced(uow.session, user.professional_id)
    patients = repo.patients_by_ids(uow.session, [d.patient_id for d in docs])
    return [{"doc": d, "patient": queries.display_name(patients[d.patient_id])} for d in docs]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Physician, uow: Uow, today: Today) -> Response:
    from dcc.web.pages.pps import todo_rows

    return render(request, "physician/home.html.j2", {"upcoming": _upcoming(uow, user, today),
                                                      "to_sign": len(_to_sign(uow, user)),
                                                      "to_announce": _to_announce(uow, user),
                                                      "rows": todo_rows(uow, user)})


@router.post("/documents/{document_id}/annonce", response_class=HTMLResponse)
async def announce(request: Request, document_id: str, user: Physician, uow: Uow) -> Response:
    await check_csrf(request)
    access.require(uow, user, "document", document_id, access.consent_document_filter(user), action="announcement")
    doc = queries.get_document(uow, document_id)
    try:
        consent.record_announcement(uow, document_id=document_id, when=access.now_utc(), actor=user.login)
    except DccError as exc:
        return redirect("/medecin/", exc.message)
    return redirect("/medecin/", f"Consultation d'annonce enregistrée : le document {doc.kind} v{doc.version} "
                                 "devient visible du patient dans son DMP.")


# -------------------------------------------------------------------------------------- decision

TREATMENTS = valuesets.concepts("JDV_TypeTraitement_FRCP_CISIS")


def _decision_context(uow: Any, user: PageUser, case_id: str, values: dict[str, Any] | None = None,
                      error: str = "") -> dict[str, Any]:
    case = scope.case_for_physician(uow, user, case_id)
    if case.session_id is None:
        raise NotFound("Ce dossier n'est inscrit à aucune séance.")
    view = queries.get_case(uow, case_id)
    session = queries.session_status(uow, case.session_id)
    decision = view.decision
    if values is None:
        values = {"case_status": decision.case_status if decision else "discussed",
                  "proposal_codes": list(decision.proposal_codes) if decision else [],
                  "proposal_text": decision.proposal_text if decision else "",
                  "conform": {True: "oui", False: "non", None: ""}[decision.conform_to_referential]
                  if decision else "",
                  "departure_justification": decision.departure_justification if decision else "",
                  "trial_proposed": "oui" if decision and decision.trial_proposed else "",
                  "trial_name": decision.trial_name if decision else "",
                  "comment": decision.comment if decision else ""}
    topo = valuesets.contains("JDV_Tumeur_CISIS", case.topography_code)
    return {"case": case, "view": view, "session": session, "values": values, "error": error,
            "treatments": TREATMENTS, "locked": bool(decision and decision.locked) or session.status == "validated",
            "topography_label": valuesets.lookup("JDV_Tumeur_CISIS", case.topography_code).display if topo else ""}


@router.get("/dossiers/{case_id}/decision", response_class=HTMLResponse)
def decision_form(request: Request, case_id: str, user: Physician, uow: Uow) -> Response:
    return render(request, "physician/decision.html.j2", _decision_context(uow, user, case_id))


@router.post("/dossiers/{case_id}/decision", response_class=HTMLResponse)
async def record_decision(request: Request, case_id: str, user: Physician, uow: Uow, now: Now) -> Response:
    form = await check_csrf(request)
    case = scope.case_for_physician(uow, user, case_id)
    values: dict[str, Any] = {
              "case_status": str(form.get("case_status") or ""), "proposal_codes": form_list(form, "proposal_codes"),
              "proposal_text": str(form.get("proposal_text") or ""), "conform": str(form.get("conform") or ""),
              "departure_justification": str(form.get("departure_justification") or ""),
              "trial_proposed": str(form.get("trial_proposed") or ""), "trial_name": str(form.get("trial_name") or ""),
              "comment": str(form.get("comment") or "")}
    try:
        data = DecisionInput(
            session_id=case.session_id or "", case_status=values["case_status"],
            proposal_codes=values["proposal_codes"], proposal_text=values["proposal_text"],
            conform_to_referential={"oui": True, "non": False}.get(values["conform"]),
            departure_justification=values["departure_justification"],
            trial_proposed=values["trial_proposed"] == "oui", trial_name=values["trial_name"],
            comment=values["comment"])
        board_services.record_decision(uow, case_id=case_id, data=data, actor=user.login, now=now)
    except ValidationError as exc:
        from dcc.web.app import validation_error_body

        message = validation_error_body(exc.errors())["message"]  # type: ignore[arg-type]
        return render(request, "physician/decision.html.j2",
                      _decision_context(uow, user, case_id, values, message), status_code=422)
    except DccError as exc:
        return render(request, "physician/decision.html.j2",
                      _decision_context(uow, user, case_id, values, exc.message), status_code=exc.status_code)
    return redirect("/medecin/", "Décision enregistrée.")


# ---------------------------------------------------------------------------------------- to sign


@router.get("/a-signer", response_class=HTMLResponse)
def to_sign(request: Request, user: Physician, uow: Uow, apercu: str | None = None) -> Response:
    rows = _to_sign(uow, user)
    preview = next((r for r in rows if r["doc"].id == apercu), None)
    return render(request, "physician/to_sign.html.j2", {"rows": rows, "preview": preview})


@router.get("/documents/{document_id}/apercu.pdf")
def preview_pdf(document_id: str, user: Physician, uow: Uow) -> Response:
    """The PDF shown inline in the preview frame (same origin only); the API serves it as an attachment."""
    doc = scope.document_to_sign(uow, user, document_id)
    return Response(doc.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{doc.kind.lower()}-v{doc.version}.pdf"',
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"})


def _selected(uow: Any, user: PageUser, ids: list[str]) -> list[dict[str, Any]]:
    rows = {r["doc"].id: r for r in _to_sign(uow, user)}
    return [rows[i] for i in dict.fromkeys(ids) if i in rows]


@router.post("/a-signer/confirmer", response_class=HTMLResponse)
async def confirm(request: Request, user: Physician, uow: Uow) -> Response:
    form = await check_csrf(request)
    ids = form_list(form, "document_ids")
    selected = _selected(uow, user, ids)
    if not selected:
        return redirect("/medecin/a-signer", "Sélectionnez au moins un document à signer.")
    return render(request, "physician/confirm.html.j2", {"rows": selected})


@router.post("/a-signer/signer", response_class=HTMLResponse)
async def sign(request: Request, user: Physician, uow: Uow) -> Response:
    form = await check_csrf(request)
    if form.get("confirmation") != "oui":
        return redirect("/medecin/a-signer", "Signature annulée : elle n'a pas été confirmée.")
    selected = _selected(uow, user, form_list(form, "document_ids"))
    if not selected or not user.professional_id:
        return redirect("/medecin/a-signer", "Aucun document de votre file « à signer » n'a été sélectionné.")
    state = request.app.state
    if getattr(state, "cda_builder", None) is None or getattr(state, "signer_directory", None) is None:
        from dcc import bootstrap

        cda, signers = bootstrap.cda_builder(), bootstrap.signer_directory()
    else:
        cda, signers = state.cda_builder, state.signer_directory
    try:
        # PAdES signing is blocking (and runs its own event loop): off the server's loop.
        signed = await run_in_threadpool(
            sign_documents, uow, document_ids=[r["doc"].id for r in selected],
            signer_professional_id=user.professional_id, cda=cda, signers=signers)
    except DccError as exc:
        return redirect("/medecin/a-signer", f"Signature refusée : {exc.message}")
    from dcc.adapters.orchestration import emit_documents_signed

    await run_in_threadpool(emit_documents_signed, signed)  # delivery starts now, not at the next minute
    return redirect("/medecin/a-signer", f"{len(signed)} document(s) signé(s) et mis en file d'envoi.")
