"""Physician pages: my upcoming cases, the decision form, the "à signer" queue (PDF preview, sign one,
sign a batch after one confirmation), and the documents I signed whose announcement consultation is still
to be recorded. Actions call the services the JSON API calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import DccError, NotFound
from dcc.services import access, consent, queries, worklists
from dcc.services.documents import sign_documents
from dcc.web.deps import Now, Today, Uow
from dcc.web.pages import _decision
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, form_list, redirect, render, require_role

router = APIRouter(prefix="/medecin", route_class=PageRoute, include_in_schema=False)
Physician = Annotated[PageUser, Depends(require_role("physician"))]


def _to_sign(uow: Any, user: PageUser) -> list[dict[str, Any]]:
    return [{"doc": d, "patient": d.patient} for d in worklists.documents_to_sign(uow, user.professional_id)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Physician, uow: Uow, today: Today) -> Response:
    from dcc.web.pages.pps import todo_rows

    pps = todo_rows(uow, user)
    data = worklists.physician_home(uow, user.professional_id, today,
                                    pps_rows=[(r["case"], r["patient"]) for r in pps])
    return render(request, "physician/home.html.j2", {
        "home": data, "upcoming": data.upcoming, "items": data.items,
        "to_sign": len(worklists.documents_to_sign(uow, user.professional_id)),
        "to_announce": worklists.signed_not_announced(uow, user.professional_id),
        "signed": worklists.signed_by(uow, user.professional_id, limit=20), "rows": pps})


@router.post("/documents/{document_id}/annonce", response_class=HTMLResponse)
def announce(request: Request, document_id: str, user: Physician, uow: Uow, form: CsrfForm) -> Response:
    access.require(uow, user, "document", document_id, access.consent_document_filter(user), action="announcement")
    doc = queries.get_document(uow, document_id)
    try:
        consent.record_announcement(uow, document_id=document_id, when=access.now_utc(), actor=user.login)
    except DccError as exc:
        return redirect("/medecin/", exc.message)
    return redirect("/medecin/", "Consultation d'annonce enregistrée : la "
                                 f"{worklists.document_kind_label(doc.kind)} v{doc.version} devient visible du "
                                 "patient dans son DMP.")


# -------------------------------------------------------------------------------------- decision

def _decision_context(uow: Any, user: PageUser, case_id: str, values: dict[str, Any] | None = None,
                      error: str = "", edited: tuple[str, str, bool] | None = None) -> dict[str, Any]:
    case = scope.case_for_physician(uow, user, case_id)
    if case.session_id is None:
        raise NotFound("Ce dossier n'est inscrit à aucune séance.")
    return _decision.context(uow, case, values=values, error=error, form_action=f"/medecin/dossiers/{case_id}/decision",
                             back="/medecin/", back_label="Mes dossiers", edited=edited)


@router.get("/dossiers/{case_id}/decision", response_class=HTMLResponse)
def decision_form(request: Request, case_id: str, user: Physician, uow: Uow) -> Response:
    return render(request, "physician/decision.html.j2", _decision_context(uow, user, case_id))


@router.post("/dossiers/{case_id}/decision", response_class=HTMLResponse)
def record_decision(request: Request, case_id: str, user: Physician, uow: Uow, now: Now, form: CsrfForm) -> Response:
    case = scope.case_for_physician(uow, user, case_id)
    values = _decision.posted_values(form)
    edited = _decision.edit_entries(uow, values, form)  # « Ajouter » / « Retirer » a drug or act without htmx
    if edited:
        return render(request, "physician/decision.html.j2",
                      _decision_context(uow, user, case_id, values, edited=edited))
    error, status = _decision.record(uow, case, values, actor=user.login, now=now)
    if error:
        return render(request, "physician/decision.html.j2", _decision_context(uow, user, case_id, values, error),
                      status_code=status)
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


def _settings(request: Request) -> Any:
    from dcc.config import get_settings

    return getattr(request.app.state, "settings", None) or get_settings()


def _pin_mode(request: Request) -> str:
    """"pin": the page asks for the card PIN; "pinpad": the reader's PIN pad will; "": no card (pkcs12,
    esignsante)."""
    settings = _settings(request)
    if settings.signer != "pkcs11":
        return ""
    return "pinpad" if settings.pkcs11_pin_pad else "pin"


@router.post("/a-signer/confirmer", response_class=HTMLResponse)
def confirm(request: Request, user: Physician, uow: Uow, form: CsrfForm) -> Response:
    selected = _selected(uow, user, form_list(form, "document_ids"))
    if not selected:
        return redirect("/medecin/a-signer", "Sélectionnez au moins un document à signer.")
    return render(request, "physician/confirm.html.j2", {"rows": selected, "pin_mode": _pin_mode(request)})


@router.post("/a-signer/signer", response_class=HTMLResponse)
def sign(request: Request, user: Physician, uow: Uow, form: CsrfForm) -> Response:
    if form.get("confirmation") != "oui":
        return redirect("/medecin/a-signer", "Signature annulée : elle n'a pas été confirmée.")
    selected = _selected(uow, user, form_list(form, "document_ids"))
    if not selected or not user.professional_id:
        return redirect("/medecin/a-signer", "Aucun document de votre file « à signer » n'a été sélectionné.")
    pin_mode = _pin_mode(request)
    pin = str(form.get("pin") or "")
    if pin_mode == "pin" and not (4 <= len(pin) <= 16 and pin.isdigit()):
        return render(request, "physician/confirm.html.j2", {
            "rows": selected, "pin_mode": pin_mode,
            "error": "Saisissez le code PIN de votre carte (4 à 16 chiffres) : aucun document n'a été signé."},
            status_code=422)
    state = request.app.state
    if pin_mode == "pin":
        from dcc import bootstrap

        cda = getattr(state, "cda_builder", None) or bootstrap.cda_builder()
        signers = bootstrap.signer_directory(_settings(request).model_copy(update={"pkcs11_pin": pin}))
    elif getattr(state, "cda_builder", None) is None or getattr(state, "signer_directory", None) is None:
        from dcc import bootstrap

        cda, signers = bootstrap.cda_builder(), bootstrap.signer_directory()
    else:
        cda, signers = state.cda_builder, state.signer_directory
    try:
        # PAdES signing is blocking (and runs its own event loop): this plain `def` runs in the thread pool.
        signed = sign_documents(uow, document_ids=[r["doc"].id for r in selected],
                                signer_professional_id=user.professional_id, cda=cda, signers=signers)
    except DccError as exc:
        return redirect("/medecin/a-signer", f"Signature refusée : {exc.message}")
    from dcc.adapters.orchestration import emit_documents_signed

    emit_documents_signed(signed)  # delivery starts now, not at the next minute
    return redirect("/medecin/a-signer", f"{len(signed)} document(s) signé(s) et mis en file d'envoi.")


@router.get("/documents/{document_id}/document.pdf")
def document_pdf(document_id: str, user: Physician, uow: Uow) -> Response:
    """A document of my patients (care team), signed or not, as a download; the read is audited."""
    doc = worklists.read_document(uow, user, document_id)
    return Response(doc.content, media_type=doc.media_type, headers={
        "Content-Disposition": f'attachment; filename="{doc.filename}"', "Cache-Control": "no-store"})
