"""Board directory use cases: create a board (RCP) under an establishment, with members and quorum rule."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.calendar import SessionRule
from dcc.domain.quorum import ORGAN_BOARD_REQUIRED, SPECIALTY_GROUPS
from dcc.errors import Conflict, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.uow import UnitOfWork

APPAREIL_VS = "JDV_RCP_Appareil_CISIS"
ORGANE_VS = "JDV_RCP_Organe_CISIS"
TRANSVERSAL_VS = "JDV_TraitementSoins_FRCP_CISIS"
SPECIALTY_VS = "JDV_J01_XdsAuthorSpecialty_CISIS"


class BoardCreation(BaseModel):
    """A new board (RCP). Codes are checked against the CI-SIS value sets by `create_board`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    establishment_id: str = Field(min_length=1, description="Établissement (3C / gestionnaire de RCP)")
    rcp_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$",
                        description="Identifiant de la RCP dans l'annuaire national des RCP")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["organ", "transversal"] = Field(
        description="organ : RCP d'organe ; transversal : RCP transversale")
    appareil_code: str | None = Field(None, description="Code JDV_RCP_Appareil_CISIS (RCP d'organe)")
    organe_code: str | None = Field(None, description="Code JDV_RCP_Organe_CISIS (RCP d'organe)")
    transversal_code: str | None = Field(
        None, description="Code JDV_TraitementSoins_FRCP_CISIS (RCP transversale)")
    recours: bool = Field(False, description="RCP de recours (expertise régionale)")
    pediatric: bool = False
    recurrence: str = Field(min_length=1, max_length=200,
                            description="Règle RFC 5545, ex. FREQ=WEEKLY;BYDAY=TU")
    start_time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                            description="Heure locale (Europe/Paris), HH:MM")
    duration_min: int = Field(90, ge=15, le=600)
    capacity: int = Field(20, ge=1, le=200, description="Nombre de dossiers par séance")
    deadline_working_days: int = Field(2, ge=0, le=20, description="Délai d'inscription en jours ouvrés")
    place: str = Field("", max_length=200)
    video_link: str = Field("", max_length=500)
    required_specialties: list[str] | None = Field(
        None, description="Spécialités exigées au quorum ; par défaut pour une RCP d'organe : chirurgien, "
        "oncologue médical, radiothérapeute")
    responsible_id: str = Field(min_length=1, description="Médecin responsable (signataire des documents)")
    coordinator_id: str = Field(min_length=1, description="Coordonnateur / secrétariat de la RCP")
    member_ids: list[str] = Field(default_factory=list, description="Membres (professionnels) de la RCP")


def _check_code(value_set: str, code: str | None, field: str, *, required: bool,
                kind_label: str) -> str | None:
    if code is None or code == "":
        if required:
            raise ValidationFailed(f"Le champ « {field} » est obligatoire pour une {kind_label}.",
                                   field=field)
        return None
    return valuesets.lookup(value_set, code, field=field).code


def _check_specialties(codes: list[str]) -> list[str]:
    for index, code in enumerate(codes):
        if code not in SPECIALTY_GROUPS and not valuesets.contains(SPECIALTY_VS, code):
            raise ValidationFailed(
                f"La spécialité « {code} » est inconnue (ni groupe {', '.join(sorted(SPECIALTY_GROUPS))}, "
                f"ni code {SPECIALTY_VS}).", field=f"required_specialties[{index}]")
    return list(dict.fromkeys(codes))


def create_board(uow: UnitOfWork, *, data: BoardCreation, actor: str = "system") -> str:
    """Create a board after checking its codes, recurrence, establishment and people. Returns its id."""
    if data.kind == "organ":
        appareil = _check_code(APPAREIL_VS, data.appareil_code, "appareil_code", required=True,
                               kind_label="RCP d'organe")
        organe = _check_code(ORGANE_VS, data.organe_code, "organe_code", required=False,
                             kind_label="RCP d'organe")
        transversal = None
        if data.transversal_code:
            raise ValidationFailed("Une RCP d'organe ne porte pas de code transversal.",
                                   field="transversal_code")
    else:
        transversal = _check_code(TRANSVERSAL_VS, data.transversal_code, "transversal_code", required=True,
                                  kind_label="RCP transversale")
        appareil = organe = None
        for field in ("appareil_code", "organe_code"):
            if getattr(data, field):
                raise ValidationFailed("Une RCP transversale ne porte pas de code d'appareil ni d'organe.",
                                       field=field)
    hh, mm = (int(x) for x in data.start_time.split(":"))
    SessionRule(rrule=data.recurrence, start_time=time(hh, mm), duration_minutes=data.duration_min)
    if data.video_link and not data.video_link.startswith("https://"):
        raise ValidationFailed("Le lien de visioconférence doit commencer par https://.", field="video_link")
    if data.required_specialties is None:
        required = sorted(ORGAN_BOARD_REQUIRED) if data.kind == "organ" else []
    else:
        required = _check_specialties(data.required_specialties)

    if uow.session.get(m.Establishment, data.establishment_id) is None:
        raise ValidationFailed(f"L'établissement « {data.establishment_id} » n'existe pas.",
                               field="establishment_id")
    if repo.board_by_rcp_id(uow.session, data.rcp_id) is not None:
        raise Conflict(f"Une RCP porte déjà l'identifiant national « {data.rcp_id} ».", field="rcp_id")
    people = [data.responsible_id, data.coordinator_id, *data.member_ids]
    found = repo.professionals_by_ids(uow.session, people)
    for field, pid in (("responsible_id", data.responsible_id), ("coordinator_id", data.coordinator_id)):
        if pid not in found:
            raise ValidationFailed(f"Aucun professionnel avec l'identifiant « {pid} ».", field=field)
    for index, pid in enumerate(data.member_ids):
        if pid not in found:
            raise ValidationFailed(f"Aucun professionnel avec l'identifiant « {pid} ».",
                                   field=f"member_ids[{index}]")
    if not found[data.responsible_id].is_physician:
        raise ValidationFailed("Le responsable de la RCP doit être un médecin.", field="responsible_id")

    board = m.Board(
        establishment_id=data.establishment_id, rcp_id=data.rcp_id, name=data.name, kind=data.kind,
        appareil_code=appareil, organe_code=organe, transversal_code=transversal, recours=data.recours,
        pediatric=data.pediatric, recurrence=data.recurrence.strip(), start_time=data.start_time,
        duration_min=data.duration_min, capacity=data.capacity,
        deadline_working_days=data.deadline_working_days,
        place=data.place, video_link=data.video_link, required_specialties=required,
        responsible_id=data.responsible_id, coordinator_id=data.coordinator_id,
    )
    uow.session.add(board)
    uow.session.flush()
    for pid in dict.fromkeys(people):
        uow.session.add(m.BoardMember(board_id=board.id, professional_id=pid))
    uow.session.flush()
    record_audit(uow, actor=actor, action="board.create", entity="board", entity_id=board.id,
                 detail={"rcp_id": data.rcp_id})
    uow.commit()
    return board.id
