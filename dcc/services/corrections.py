"""Corrections: a signed document never changes; correcting it creates its next version.

The new version keeps the `setId`, takes `versionNumber + 1` and a new uniqueId, and carries a
`relatedDocument typeCode="RPLC"` pointing at the version it replaces (`Document.replaces_id`). It is a
draft in the responsible physician's "to sign" queue; when it is signed (`sign_documents`), the previous
version becomes `superseded` in the same transaction, and its outbox message carries the replacement (the
transport sends an ITI-41 RPLC association).

A PPS revised after a change of treatment follows the same path with its update motive
(JDV_MotifMiseAJour_CISIS), which is then mandatory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.adapters.db.guards import set_actor
from dcc.domain import documents as d
from dcc.domain.clock import aware, now_utc
from dcc.domain.ports import CdaBuilder, PdfRenderer, SignerDirectory
from dcc.errors import Conflict, IncompleteData, NotFound, ValidationFailed
from dcc.services import codes
from dcc.services import pps as pps_services
from dcc.services.audit import record_audit
from dcc.services.content import Loader, frcp_content, new_oid
from dcc.services.documents import require_meeting_started, sha256, sign_documents
from dcc.services.pps import PpsItemInput
from dcc.services.uow import Database, UnitOfWork

FRCP_TREATMENTS = "JDV_TypeTraitement_FRCP_CISIS"
PPS_TREATMENTS = "JDV_TypeTraitementPPS_CISIS"
PPS_UPDATE_MOTIVES = "JDV_MotifMiseAJour_CISIS"
CORRECTABLE = (d.DocumentStatus.SIGNED.value, d.DocumentStatus.DELIVERED.value)
DEMO_MOTIVE = "MED-560"  # Réajustement du programme thérapeutique et de suivi


@dataclass(frozen=True)
class CorrectionInput:
    """What changes in the new version. `None` keeps the current value.

    The board's proposal (`proposal_codes`, `proposal_text`) is never corrected here: only a new presentation
    in RCP changes it (refused with a French message naming the field). `comment` corrects the Fiche RCP's
    comment. For a PPS, the plan may change within the decided proposal: `treatment_codes` (PPS treatment
    kinds among those the decision holds: an unchanged kind keeps its entry, a new one is added without any
    date, place or text) or `plan_items` (the whole plan, as dcc.services.pps validates it);
    `update_motive` (JDV_MotifMiseAJour_CISIS) is mandatory for a PPS.
    """

    reason: str  # why the document is corrected (audit log)
    proposal_text: str | None = None
    proposal_codes: tuple[str, ...] | None = None  # JDV_TypeTraitement_FRCP_CISIS
    comment: str | None = None
    treatment_codes: tuple[str, ...] | None = None  # PPS only
    update_motive: str | None = None  # PPS only, mandatory there
    plan_items: tuple[PpsItemInput, ...] | None = None  # PPS only: the corrected plan


PROPOSAL_LOCKED = "la proposition de la RCP ne peut être modifiée que par une nouvelle présentation en RCP"


def _check(uow: UnitOfWork, doc: m.Document, changes: CorrectionInput) -> None:
    if doc.kind not in (d.DocumentKind.FRCP.value, d.DocumentKind.PPS.value):  # an attachment shared as N1
        raise ValidationFailed("Une pièce jointe partagée avec le DMP ne se corrige pas dans dcc : c'est le "
                               "document de son auteur, tel qu'il a été joint au dossier.", field="document")
    if not changes.reason.strip():
        raise ValidationFailed("Indiquez le motif de la correction.", field="reason")
    # A correction fixes how a decision was written down, never the decision itself (INCa: a proposal
    # changes only through a new discussion of the case in RCP).
    if changes.proposal_codes is not None:
        raise ValidationFailed(f"Types de traitement proposés (proposal_codes) : {PROPOSAL_LOCKED}.",
                               field="proposal_codes")
    if changes.proposal_text is not None:
        raise ValidationFailed(f"Texte de la proposition (proposal_text) : {PROPOSAL_LOCKED}.",
                               field="proposal_text")
    if doc.kind == d.DocumentKind.PPS.value:
        if not changes.update_motive:
            raise ValidationFailed("Le motif de mise à jour du PPS est obligatoire "
                                   "(JDV_MotifMiseAJour_CISIS).", field="update_motive")
        codes.check(uow, [codes.CodedEntry("update_motive", "motif de mise à jour", PPS_UPDATE_MOTIVES,
                                           changes.update_motive)]
                    + [codes.CodedEntry("treatment_codes", "traitements programmés", PPS_TREATMENTS, code)
                       for code in changes.treatment_codes or ()])
        if changes.treatment_codes is not None and not changes.treatment_codes:
            raise ValidationFailed("Le PPS corrigé doit contenir au moins un traitement programmé.",
                                   field="treatment_codes")
        if changes.treatment_codes is not None and changes.plan_items is not None:
            raise ValidationFailed("Indiquez soit les traitements programmés, soit le programme complet.",
                                   field="treatment_codes")
    else:
        if changes.treatment_codes is not None or changes.update_motive is not None or changes.plan_items is not None:
            raise ValidationFailed("Les traitements programmés et le motif de mise à jour ne concernent que "
                                   "le PPS.", field="treatment_codes")
        if changes.comment is None:
            raise ValidationFailed("Aucune correction indiquée pour la fiche RCP.")


def _latest_of_set(uow: UnitOfWork, set_id: str) -> m.Document:
    q = select(m.Document).where(m.Document.set_id == set_id).order_by(m.Document.version.desc()).limit(1)
    latest = uow.session.scalars(q).first()
    assert latest is not None
    return latest


def _correct_decision(uow: UnitOfWork, decision: m.Decision, changes: CorrectionInput, *, actor: str,
                      patient_id: str) -> None:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in (("comment", changes.comment),):
        if value is not None and getattr(decision, name) != value:
            before[name], after[name] = getattr(decision, name), value
            setattr(decision, name, value)
    if after:
        record_audit(uow, actor=actor, action="decision.correct", entity="decision", entity_id=decision.id,
                     patient_id=patient_id,
                     detail={"before": before, "after": after, "reason": changes.reason})


def _planned_treatments(current: tuple[PpsItemInput, ...], codes: tuple[str, ...]) -> tuple[PpsItemInput, ...]:
    """The plan with its treatments replaced by `codes`: an unchanged kind keeps its entry (dates, place,
    text, responsible), a new kind is added bare (nothing invented: no date, place nor text); follow-up,
    supportive care and social support are kept."""
    treatments = [i for i in current if i.category == "treatment"]
    out: list[PpsItemInput] = []
    for code in codes:
        same = next((t for t in treatments if t.code == code), None)
        out.append(same if same is not None else PpsItemInput(category="treatment", code=code))
    return (*out, *(i for i in current if i.category != "treatment"))


def correct_document(uow: UnitOfWork, *, document_id: str, actor: str, changes: CorrectionInput,
                     cda: CdaBuilder, pdf: PdfRenderer, now: datetime | None = None) -> str:
    """Create the next version of a signed document with `changes` applied; returns the new document's id.

    The new version is a draft waiting in the responsible physician's queue; the previous one stays
    valid until the new one is signed (then it becomes `superseded`). It is dated `now` (default: the real
    time; never later than it), which must not be before the meeting the document reports.
    """
    real = now_utc()
    now = aware(now) if now is not None else real
    if now > real:
        raise ValueError("correct_document: `now` is in the future (a new version is dated when created)")
    set_actor(uow.session, actor)
    old = uow.session.get(m.Document, document_id)
    if old is None:
        raise NotFound(f"Document « {document_id} » introuvable.")
    if old.status not in CORRECTABLE:
        raise Conflict(f"Seul un document signé peut être corrigé : le document « {old.unique_id} » est au "
                       f"statut « {old.status} ».")
    latest = _latest_of_set(uow, old.set_id)
    if latest.id != old.id:
        raise Conflict(f"Une version plus récente (version {latest.version}, statut « {latest.status} ») "
                       "de ce document existe déjà : corrigez la dernière version.")
    _check(uow, old, changes)
    case = uow.session.get(m.Case, old.case_id)
    if case is None:
        raise NotFound(f"Dossier « {old.case_id} » introuvable.")
    decision = repo.decision_of_case(uow.session, case.id)
    if decision is None or not decision.locked:
        raise IncompleteData(["décision validée de la RCP"], what="la nouvelle version")
    require_meeting_started(uow, decision, now, "la nouvelle version")
    board = uow.session.get(m.Board, case.board_id)
    assert board is not None
    _correct_decision(uow, decision, changes, actor=actor, patient_id=case.patient_id)

    ids = d.DocumentIds(unique_id_root=new_oid(), set_id_root=old.set_id, version=old.version + 1,
                        replaces_unique_id=old.unique_id)
    loader = Loader(uow)
    content: d.FrcpContent | d.PpsContent
    if old.kind == d.DocumentKind.FRCP.value:
        content = frcp_content(loader, case, decision, ids=ids, now=now)
        missing = d.missing_fields_frcp(content)
        if missing:
            raise IncompleteData(missing, what="la nouvelle version de la fiche RCP")
        cda_bytes, pdf_bytes = cda.build_frcp(content), pdf.render_frcp(content)
    else:
        plan = pps_services.plan_of_case(uow, case.id)
        if plan is None:
            raise IncompleteData(["programme personnalisé de soins rédigé"], what="la nouvelle version du PPS")
        items = changes.plan_items
        if changes.treatment_codes is not None:
            items = _planned_treatments(pps_services.current_input(uow, plan).items, changes.treatment_codes)
        if items is not None:  # the plan changes within the decided proposal (validated: nothing written else)
            data = pps_services.PlanInput(items=items, contact_name=plan.contact_name,
                                          contact_phone=plan.contact_phone)
            pps_services.validate_plan(uow, decision, data)
            if not any(i.category == "treatment" for i in items):
                raise ValidationFailed("Le PPS corrigé doit contenir au moins un traitement programmé.",
                                       field="plan_items")
            pps_services._replace_items(uow, plan, items)
            plan.updated_by, plan.updated_at = actor, now
        cda_bytes, pdf_bytes = pps_services.render_plan(uow, case, decision, plan, ids=ids, now=now, cda=cda,
                                                        pdf=pdf, update_motive=changes.update_motive,
                                                        what="la nouvelle version du PPS")

    new = m.Document(
        case_id=case.id, patient_id=case.patient_id, kind=old.kind, set_id=old.set_id, version=ids.version,
        unique_id=ids.unique_id_root, cda=cda_bytes, pdf=pdf_bytes, sha256=sha256(cda_bytes),
        pdf_sha256=sha256(pdf_bytes), status=d.DocumentStatus.DRAFT.value,
        template_version=pdf.template_version, signer_id=board.responsible_id, replaces_id=old.id,
    )
    uow.session.add(new)
    uow.session.flush()
    detail: dict[str, Any] = {"unique_id": new.unique_id, "version": new.version, "replaces": old.unique_id,
                              "reason": changes.reason}
    if changes.update_motive:
        detail["update_motive"] = changes.update_motive
    if changes.treatment_codes is not None:
        detail["treatment_codes"] = list(changes.treatment_codes)
    if changes.plan_items is not None:
        detail["plan_items"] = [pps_services._item_dict(i) for i in changes.plan_items]
    record_audit(uow, actor=actor, action="document.correct", entity="document", entity_id=new.id,
                 patient_id=case.patient_id, detail=detail)
    uow.commit()
    return new.id


# ---------------------------------------------------------------- demo


def _demo_candidate(uow: UnitOfWork) -> m.Document | None:
    """A signed PPS (else a signed FRCP) that is the latest version of its set, oldest first."""
    for kind in (d.DocumentKind.PPS.value, d.DocumentKind.FRCP.value):
        q = (select(m.Document).where(m.Document.kind == kind, m.Document.status.in_(CORRECTABLE))
             .order_by(m.Document.created_at, m.Document.id))
        for doc in uow.session.scalars(q):
            if _latest_of_set(uow, doc.set_id).id == doc.id:
                return doc
    return None


def demo_correction(db: Database, *, today: date, signers: SignerDirectory, cda: CdaBuilder,
                    pdf: PdfRenderer) -> dict[str, Any]:
    """Demo: correct one signed PPS (else FRCP), and sign version 2 with the same physician.

    PPS: update motive MED-560 « Réajustement du programme thérapeutique et de suivi », first planned
    treatment postponed by a week (the proposal is unchanged). FRCP: comment completed. `today` (the demo's
    date) goes in the correction's reason (audit log); the new version is dated and signed now. The caller
    passes the adapters (ports).

    Returns `{"corrected": False, "reason": ...}` when there is nothing to correct, else
    `{"corrected": True, "kind", "case_id", "set_id", "update_motive" (PPS) , "plan_change" (PPS),
    "previous": {"document_id", "unique_id", "version", "status"}, "current": {... same keys ...},
    "outbox": [destinations of the new version]}`.
    """
    with db.uow() as uow:
        old = _demo_candidate(uow)
        if old is None:
            return {"corrected": False, "reason": "Aucun document signé à corriger."}
        old_id, kind = old.id, old.kind
        out: dict[str, Any] = {"corrected": True, "kind": kind, "case_id": old.case_id, "set_id": old.set_id}
        if kind == d.DocumentKind.PPS.value:
            plan = pps_services.plan_of_case(uow, old.case_id)
            assert plan is not None
            current = pps_services.current_input(uow, plan).items
            first = next(i for i in current if i.category == "treatment")
            # the team postpones the first treatment by a week (within the decided proposal)
            moved = dataclasses.replace(
                first, start=first.start + timedelta(days=7) if first.start else None,
                end=first.end + timedelta(days=7) if first.end else None,
                text=(first.text + " " if first.text else "") + "Début décalé d'une semaine à la demande du patient.")
            items = tuple(moved if i is first else i for i in current)
            changes = CorrectionInput(
                reason=f"Démonstration du {today:%d/%m/%Y} : réajustement du calendrier du programme.",
                plan_items=items, update_motive=DEMO_MOTIVE)
            motive = valuesets.lookup(PPS_UPDATE_MOTIVES, DEMO_MOTIVE)
            out["update_motive"] = {"code": motive.code, "display": motive.display}
            out["plan_change"] = {"treatment": first.code,
                                  "from": [first.start.isoformat() if first.start else None,
                                           first.end.isoformat() if first.end else None],
                                  "to": [moved.start.isoformat() if moved.start else None,
                                         moved.end.isoformat() if moved.end else None]}
        else:
            changes = CorrectionInput(reason=f"Démonstration du {today:%d/%m/%Y} : commentaire complété.",
                                      comment="Bilan biologique complet à prévoir avant le début du traitement.")
        new_id = correct_document(uow, document_id=old_id, actor="demo", changes=changes, cda=cda, pdf=pdf)
        new = uow.session.get(m.Document, new_id)
        assert new is not None
        signer_id = new.signer_id  # the board's responsible physician, who signed version 1
    with db.uow() as uow:
        sign_documents(uow, document_ids=[new_id], signer_professional_id=signer_id, cda=cda, signers=signers)
    with db.uow() as uow:
        for key, doc_id in (("previous", old_id), ("current", new_id)):
            doc = uow.session.get(m.Document, doc_id)
            assert doc is not None
            out[key] = {"document_id": doc.id, "unique_id": doc.unique_id, "version": doc.version,
                        "status": doc.status}
        out["outbox"] = sorted(o.destination for o in repo.outbox_for_documents(uow.session, [new_id]))
    return out


__all__ = ["CorrectionInput", "correct_document", "demo_correction"]
