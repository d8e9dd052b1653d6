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
from dcc.errors import Conflict, IncompleteData, NotFound, UnknownCode, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.content import Loader, frcp_content, new_oid, pps_content
from dcc.services.documents import require_meeting_started, sha256, sign_documents
from dcc.services.uow import Database, UnitOfWork

FRCP_TREATMENTS = "JDV_TypeTraitement_FRCP_CISIS"
PPS_TREATMENTS = "JDV_TypeTraitementPPS_CISIS"
PPS_UPDATE_MOTIVES = "JDV_MotifMiseAJour_CISIS"
CORRECTABLE = (d.DocumentStatus.SIGNED.value, d.DocumentStatus.DELIVERED.value)
DEMO_MOTIVE = "MED-560"  # Réajustement du programme thérapeutique et de suivi


@dataclass(frozen=True)
class CorrectionInput:
    """What changes in the new version. `None` keeps the current value.

    `proposal_*` and `comment` correct the board's decision (FRCP, and the PPS derived from it);
    `treatment_codes` replaces the PPS's planned treatments (JDV_TypeTraitementPPS_CISIS);
    `update_motive` (JDV_MotifMiseAJour_CISIS) is mandatory for a PPS.
    """

    reason: str  # why the document is corrected (audit log)
    proposal_text: str | None = None
    proposal_codes: tuple[str, ...] | None = None  # JDV_TypeTraitement_FRCP_CISIS
    comment: str | None = None
    treatment_codes: tuple[str, ...] | None = None  # PPS only
    update_motive: str | None = None  # PPS only, mandatory there


def _check(doc: m.Document, changes: CorrectionInput) -> None:
    if not changes.reason.strip():
        raise ValidationFailed("Indiquez le motif de la correction.", field="reason")
    for code in changes.proposal_codes or ():
        if not valuesets.contains(FRCP_TREATMENTS, code):
            raise UnknownCode(field="proposal_codes", value=code, value_set=FRCP_TREATMENTS)
    if changes.proposal_codes is not None and not changes.proposal_codes:
        raise ValidationFailed("La proposition thérapeutique corrigée doit contenir au moins un traitement.",
                               field="proposal_codes")
    if doc.kind == d.DocumentKind.PPS.value:
        if not changes.update_motive:
            raise ValidationFailed("Le motif de mise à jour du PPS est obligatoire "
                                   "(JDV_MotifMiseAJour_CISIS).", field="update_motive")
        if not valuesets.contains(PPS_UPDATE_MOTIVES, changes.update_motive):
            raise UnknownCode(field="update_motive", value=changes.update_motive,
                              value_set=PPS_UPDATE_MOTIVES)
        for code in changes.treatment_codes or ():
            if not valuesets.contains(PPS_TREATMENTS, code):
                raise UnknownCode(field="treatment_codes", value=code, value_set=PPS_TREATMENTS)
        if changes.treatment_codes is not None and not changes.treatment_codes:
            raise ValidationFailed("Le PPS corrigé doit contenir au moins un traitement programmé.",
                                   field="treatment_codes")
    else:
        if changes.treatment_codes is not None or changes.update_motive is not None:
            raise ValidationFailed("Les traitements programmés et le motif de mise à jour ne concernent que "
                                   "le PPS.", field="treatment_codes")
        if changes.proposal_text is None and changes.proposal_codes is None and changes.comment is None:
            raise ValidationFailed("Aucune correction indiquée pour la fiche RCP.")


def _latest_of_set(uow: UnitOfWork, set_id: str) -> m.Document:
    q = select(m.Document).where(m.Document.set_id == set_id).order_by(m.Document.version.desc()).limit(1)
    latest = uow.session.scalars(q).first()
    assert latest is not None
    return latest


def _current_frcp(uow: UnitOfWork, case_id: str) -> m.Document | None:
    frcps = [doc for doc in repo.documents_of_case(uow.session, case_id)
             if doc.kind == d.DocumentKind.FRCP.value and doc.status != d.DocumentStatus.SUPERSEDED.value]
    return max(frcps, key=lambda doc: doc.version) if frcps else None


def _correct_decision(uow: UnitOfWork, decision: m.Decision, changes: CorrectionInput, *, actor: str,
                      patient_id: str) -> None:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in (("proposal_text", changes.proposal_text), ("comment", changes.comment),
                        ("proposal_codes", list(changes.proposal_codes) if changes.proposal_codes is not None
                         else None)):
        if value is not None and getattr(decision, name) != value:
            before[name], after[name] = getattr(decision, name), value
            setattr(decision, name, value)
    if after:
        record_audit(uow, actor=actor, action="decision.correct", entity="decision", entity_id=decision.id,
                     patient_id=patient_id,
                     detail={"before": before, "after": after, "reason": changes.reason})


def _planned_treatments(current: tuple[d.PlannedTreatment, ...], codes: tuple[str, ...], *, place: str,
                        first_start: date) -> tuple[d.PlannedTreatment, ...]:
    """The new planned treatments: an unchanged code keeps its entry (dates, text); a new code takes the
    dates of the treatment it replaces at the same position, or follows the previous one."""
    out: list[d.PlannedTreatment] = []
    for i, code in enumerate(codes):
        same = next((t for t in current if t.kind.code == code), None)
        if same is not None:
            out.append(same)
            continue
        concept = valuesets.lookup(PPS_TREATMENTS, code, field="treatment_codes")
        slot = current[i] if i < len(current) else None
        if slot is not None and slot.start is not None:
            start = slot.start
        elif out and out[-1].end is not None:
            start = out[-1].end + timedelta(days=10)
        else:
            start = first_start
        out.append(d.PlannedTreatment(kind=concept, start=start, end=start + timedelta(days=60),
                                      text=f"{concept.display.capitalize()} prévue à partir du "
                                           f"{start.strftime('%d/%m/%Y')}.",
                                      place=slot.place if slot is not None else place))
    return tuple(out)


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
    _check(old, changes)
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
        frcp = _current_frcp(uow, case.id)
        if frcp is None:
            raise IncompleteData(["fiche RCP de référence"], what="la nouvelle version du PPS")
        content = pps_content(loader, case, decision, ids=ids, now=now, frcp_unique_id=frcp.unique_id,
                              update_motive=changes.update_motive)
        if changes.treatment_codes is not None:
            first = content.treatments[0].start if content.treatments and content.treatments[0].start else \
                now.date() + timedelta(days=14)
            content = dataclasses.replace(content, treatments=_planned_treatments(
                content.treatments, changes.treatment_codes, place=content.custodian.name, first_start=first))
        missing = d.missing_fields_pps(content)
        if missing:
            raise IncompleteData(missing, what="la nouvelle version du PPS")
        cda_bytes, pdf_bytes = cda.build_pps(content), pdf.render_pps(content)

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


def _other_treatment(code: str) -> str:
    return "C93352" if code == "C15632" else "C15632"  # thérapie ciblée <-> chimiothérapie


def demo_correction(db: Database, *, today: date, signers: SignerDirectory, cda: CdaBuilder,
                    pdf: PdfRenderer) -> dict[str, Any]:
    """Demo: correct one signed PPS (else FRCP), and sign version 2 with the same physician.

    PPS: update motive MED-560 « Réajustement du programme thérapeutique et de suivi », first planned
    treatment changed. FRCP: proposal text completed. `today` (the demo's date) goes in the correction's
    reason (audit log); the new version is dated and signed now. The caller passes the adapters (ports).

    Returns `{"corrected": False, "reason": ...}` when there is nothing to correct, else
    `{"corrected": True, "kind", "case_id", "set_id", "update_motive" (PPS) , "treatment_change" (PPS),
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
            decision = repo.decision_of_case(uow.session, old.case_id)
            assert decision is not None
            from dcc.services.content import pps_treatment_codes

            codes = pps_treatment_codes(decision.proposal_codes) or ["C15632"]
            new_first = _other_treatment(codes[0])
            new_codes = tuple(dict.fromkeys([new_first, *codes[1:]]))
            changes = CorrectionInput(
                reason=f"Démonstration du {today:%d/%m/%Y} : changement de traitement après la RCP.",
                treatment_codes=new_codes, update_motive=DEMO_MOTIVE)
            motive = valuesets.lookup(PPS_UPDATE_MOTIVES, DEMO_MOTIVE)
            out["update_motive"] = {"code": motive.code, "display": motive.display}
            out["treatment_change"] = {"from": codes[0], "to": new_first}
        else:
            changes = CorrectionInput(reason=f"Démonstration du {today:%d/%m/%Y} : proposition complétée.",
                                      proposal_text="Proposition thérapeutique validée en RCP (précisée : "
                                                    "bilan biologique complet avant le début du traitement).")
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
