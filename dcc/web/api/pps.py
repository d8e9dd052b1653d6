"""PPS authoring (physician of the care team or coordinating nurse `ide`): open the plan from the board's
decision, enter its items, submit it for the responsible physician's signature, record the hand-over date
(GEN-178); and corrections of signed documents (a new version; the board's proposal never changes there)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from dcc import valuesets
from dcc.services import access, queries
from dcc.services import pps as pps_services
from dcc.services.corrections import CorrectionInput, correct_document
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Today, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import error_responses

router = APIRouter(prefix="/api/v1", tags=["PPS"], route_class=ApiRoute)

CategoryIn = Literal["treatment", "follow_up", "supportive", "social"]


class PpsItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: CategoryIn = Field(description="treatment (JDV_TypeTraitementPPS_CISIS), follow_up "
                                 "(JDV_TypeDeSuivi_CISIS), supportive (JDV_SoinsOncoDeSupport_CISIS), social "
                                 "(JDV_TypeAccompagnementSocioPro_CISIS)")
    code: str = Field(max_length=40, description="Code du jeu de valeurs de la catégorie")
    start: date | None = Field(None, description="Début prévu (ou date unique, avec end égal)")
    end: date | None = Field(None, description="Fin prévue")
    place: str = Field("", max_length=200, description="Lieu")
    responsible_id: str | None = Field(None, max_length=36, description="Professionnel responsable (annuaire)")
    text: str = Field("", max_length=2000, description="Texte libre pour le patient")

    def to_input(self) -> pps_services.PpsItemInput:
        return pps_services.PpsItemInput(category=self.category, code=self.code, start=self.start, end=self.end,
                                         place=self.place, responsible_id=self.responsible_id, text=self.text)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PpsItemIn] = Field(max_length=60)
    contact_name: str = Field("", max_length=200)
    contact_phone: str = Field("", max_length=40)


class PpsItemOut(BaseModel):
    id: str
    category: str
    code: str
    display: str
    start: date | None
    end: date | None
    place: str
    responsible_id: str | None
    text: str


class PlanOut(BaseModel):
    id: str
    case_id: str
    status: str
    status_label: str
    referent_id: str
    contact_name: str
    contact_phone: str
    handed_at: date | None = Field(description="Date de remise au patient (GEN-178)")
    document_id: str | None
    meeting_day: date
    allowed_treatments: list[str] = Field(description="Types de traitement PPS que la décision de la RCP permet")
    updated_by: str
    updated_at: datetime
    items: list[PpsItemOut]


class TodoOut(BaseModel):
    case_id: str
    patient_id: str
    plan_status: str | None


class SubmittedOut(BaseModel):
    document_id: str


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handed_at: date = Field(description="Jour de la remise du PPS au patient (GEN-178)")


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000, description="Motif de la correction (journal d'audit)")
    proposal_text: str | None = Field(None, max_length=4000, description="Refusé : la proposition ne change "
                                      "que par une nouvelle présentation en RCP")
    proposal_codes: list[str] | None = Field(None, max_length=20, description="Refusé (idem)")
    comment: str | None = Field(None, max_length=4000)
    treatment_codes: list[str] | None = Field(None, max_length=20)
    plan_items: list[PpsItemIn] | None = Field(None, max_length=60)
    update_motive: str | None = Field(None, max_length=40, description="JDV_MotifMiseAJour_CISIS (PPS)")


class CorrectedOut(BaseModel):
    document_id: str


def _author(uow: UnitOfWork, user: User, case_id: str, action: str) -> None:
    access.require_role(user, "physician", "ide",
                        message="Seuls un médecin de l'équipe de soins ou un(e) infirmier(e) de coordination "
                                "rédigent le PPS.")
    access.require(uow, user, "case", case_id, access.case_filter(user), action=action)
    if not access.can_author_pps(uow, user, case_id):
        raise access.AccessDenied("Vous ne faites pas partie de l'équipe de soins de ce patient.")


def _plan_out(uow: UnitOfWork, case_id: str) -> PlanOut:
    v = pps_services.plan_view(uow, case_id)
    items = [PpsItemOut(id=i.id, category=i.category, code=i.code,
                        display=valuesets.lookup(pps_services.VALUE_SETS[i.category], i.code).display,
                        start=i.start, end=i.end, place=i.place, responsible_id=i.responsible_id, text=i.text)
             for i in v.items]
    return PlanOut(id=v.id, case_id=v.case_id, status=v.status, status_label=pps_services.STATUS_LABELS[v.status],
                   referent_id=v.referent_id, contact_name=v.contact_name, contact_phone=v.contact_phone,
                   handed_at=v.handed_at, document_id=v.document_id, meeting_day=v.meeting_day,
                   allowed_treatments=v.allowed_treatments, updated_by=v.updated_by, updated_at=v.updated_at,
                   items=items)


@router.get("/pps/todo", response_model=list[TodoOut], summary="PPS à compléter",
            description="Les dossiers discutés dont le PPS reste à rédiger ou à soumettre, dans votre périmètre.")
def todo(uow: Uow, user: CurrentUser) -> list[TodoOut]:
    access.require_role(user, "physician", "ide", message="Seuls les médecins et les IDE rédigent les PPS.")
    rows = pps_services.cases_awaiting_pps(uow)
    return [TodoOut(case_id=c.id, patient_id=c.patient_id, plan_status=p.status if p else None)
            for c, p in rows if access.can_author_pps(uow, user, c.id)]


class PlanStateOut(BaseModel):
    opened: bool = Field(description="false : le PPS n'est pas encore ouvert pour ce dossier")
    plan: PlanOut | None


@router.get("/cases/{case_id}/pps", response_model=PlanStateOut, summary="Le PPS du dossier",
            responses=error_responses(404))
def get_plan(case_id: str, uow: Uow, user: CurrentUser) -> PlanStateOut:
    _author(uow, user, case_id, "pps_read")
    if pps_services.plan_of_case(uow, case_id) is None:
        return PlanStateOut(opened=False, plan=None)
    return PlanStateOut(opened=True, plan=_plan_out(uow, case_id))


@router.post("/cases/{case_id}/pps", response_model=PlanOut, status_code=201, summary="Ouvrir le PPS",
             description="Ouvre le PPS à partir de la décision validée (quorum atteint, dossier discuté) : il "
             "reprend les types de traitement décidés, sans date ni texte.", responses=error_responses(404, 409))
def open_plan(case_id: str, uow: Uow, user: CurrentUser) -> PlanOut:
    _author(uow, user, case_id, "pps_open")
    pps_services.open_plan(uow, case_id=case_id, actor=user.login)
    return _plan_out(uow, case_id)


@router.put("/cases/{case_id}/pps", response_model=PlanOut, summary="Enregistrer le programme",
            description="Remplace les lignes et le contact du PPS (validés : rien n'est écrit en cas d'erreur).",
            responses=error_responses(404, 409, 422))
def update_plan(case_id: str, data: PlanIn, uow: Uow, user: CurrentUser) -> PlanOut:
    _author(uow, user, case_id, "pps_edit")
    pps_services.update_plan(uow, case_id=case_id, actor=user.login, data=pps_services.PlanInput(
        items=tuple(i.to_input() for i in data.items), contact_name=data.contact_name,
        contact_phone=data.contact_phone))
    return _plan_out(uow, case_id)


@router.post("/cases/{case_id}/pps/items", response_model=PlanOut, status_code=201, summary="Ajouter une ligne",
             responses=error_responses(404, 409, 422))
def add_item(case_id: str, data: PpsItemIn, uow: Uow, user: CurrentUser) -> PlanOut:
    _author(uow, user, case_id, "pps_edit")
    pps_services.add_item(uow, case_id=case_id, item=data.to_input(), actor=user.login)
    return _plan_out(uow, case_id)


class RemoveItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(max_length=36, description="La ligne à retirer")


@router.post("/cases/{case_id}/pps/items/remove", response_model=PlanOut, summary="Retirer une ligne",
             responses=error_responses(404, 409))
def remove_item(case_id: str, data: RemoveItemIn, uow: Uow, user: CurrentUser) -> PlanOut:
    _author(uow, user, case_id, "pps_edit")
    pps_services.remove_item(uow, case_id=case_id, item_id=data.item_id, actor=user.login)
    return _plan_out(uow, case_id)


@router.post("/cases/{case_id}/pps/submit", response_model=SubmittedOut, status_code=201,
             summary="Soumettre le PPS à la signature",
             description="Produit le CDA et le PDF du PPS tel que saisi ; brouillon dans la file « à signer » du "
             "médecin responsable. Refusé sans traitement programmé.", responses=error_responses(404, 409, 422))
def submit_plan(case_id: str, uow: Uow, user: CurrentUser) -> SubmittedOut:
    from dcc.bootstrap import cda_builder, pdf_renderer

    _author(uow, user, case_id, "pps_submit")
    doc_id = pps_services.submit_plan(uow, case_id=case_id, actor=user.login, cda=cda_builder(),
                                      pdf=pdf_renderer())
    return SubmittedOut(document_id=doc_id)


@router.post("/cases/{case_id}/pps/handover", response_model=PlanOut, summary="PPS remis au patient",
             description="Enregistre la date de remise du PPS signé au patient (GEN-178). Le document signé ne "
             "change pas ; la date figure dans toute version ultérieure.", responses=error_responses(404, 409, 422))
def handover(case_id: str, data: HandoverIn, uow: Uow, user: CurrentUser, today: Today) -> PlanOut:
    _author(uow, user, case_id, "pps_handover")
    pps_services.record_handover(uow, case_id=case_id, handed_at=data.handed_at, actor=user.login, today=today)
    return _plan_out(uow, case_id)


@router.post("/documents/{document_id}/corrections", response_model=CorrectedOut, status_code=201,
             summary="Corriger un document signé (nouvelle version)",
             description="Crée la version suivante (brouillon à signer). La proposition de la RCP (types de "
             "traitement, texte) ne peut être modifiée que par une nouvelle présentation en RCP ; un PPS peut "
             "changer son programme dans la limite de la proposition, avec un motif de mise à jour.",
             responses=error_responses(404, 409, 422))
def correct(document_id: str, data: CorrectionIn, uow: Uow, user: CurrentUser, response: Response) -> CorrectedOut:
    from dcc.bootstrap import cda_builder, pdf_renderer

    access.require_role(user, "physician", message="Seul un médecin corrige un document signé.")
    access.require(uow, user, "document", document_id, access.document_filter(user), action="correct")
    doc = queries.get_document(uow, document_id)
    if doc.signer_id != user.professional_id and not access.can_decide(uow, user, doc.case_id):
        raise access.AccessDenied("Seuls le médecin responsable et les médecins de la RCP corrigent ses documents.")
    changes = CorrectionInput(
        reason=data.reason, proposal_text=data.proposal_text,
        proposal_codes=tuple(data.proposal_codes) if data.proposal_codes is not None else None,
        comment=data.comment,
        treatment_codes=tuple(data.treatment_codes) if data.treatment_codes is not None else None,
        plan_items=tuple(i.to_input() for i in data.plan_items) if data.plan_items is not None else None,
        update_motive=data.update_motive)
    new_id = correct_document(uow, document_id=document_id, actor=user.login, changes=changes, cda=cda_builder(),
                              pdf=pdf_renderer())
    response.headers["Location"] = f"/api/v1/documents/{new_id}"
    return CorrectedOut(document_id=new_id)
