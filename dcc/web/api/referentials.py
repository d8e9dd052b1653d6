"""Referentials: versions in force (monitors), search for forms, regional guidelines, retired codes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dcc.services import access, referentials
from dcc.web.deps import CurrentUser, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import error_responses

router = APIRouter(prefix="/api/v1/referentials", tags=["Référentiels"], route_class=ApiRoute)


class VersionOut(BaseModel):
    system: str
    kind: str
    title: str
    oid: str
    version: str
    effective_date: date | None
    source: str
    concept_count: int
    imported_at: datetime
    diff: dict[str, Any] = Field(description="Rapport de différences avec la version précédente")


class HitOut(BaseModel):
    code: str
    label: str
    code_system: str
    score: int
    attributes: dict[str, Any]


class GuidelineOut(BaseModel):
    name: str
    version: str
    date: date
    organ: str
    url: str


class RetiredFlagOut(BaseModel):
    kind: str = Field(description="case (dossier non encore discuté) ou document (non signé)")
    id: str
    case_id: str
    board_id: str
    field: str
    code: str
    system: str


class RetiredFlagsOut(BaseModel):
    count: int
    items: list[RetiredFlagOut]


def _version(v: referentials.VersionView) -> VersionOut:
    return VersionOut(system=v.system, kind=v.kind, title=v.title, oid=v.oid, version=v.version,
                      effective_date=v.effective_date, source=v.source, concept_count=v.concept_count,
                      imported_at=v.imported_at, diff=v.diff)


@router.get("", response_model=list[VersionOut], summary="Version en vigueur de chaque référentiel")
def list_versions(uow: Uow, user: CurrentUser) -> list[VersionOut]:
    return [_version(v) for v in referentials.versions_in_force(uow)]


@router.get("/guidelines", response_model=list[GuidelineOut], summary="Référentiels régionaux en vigueur")
def list_guidelines(uow: Uow, user: CurrentUser,
                    organ: str | None = Query(None, max_length=40, description="Code organe (JDV_RCP_Organe)"),
                    ) -> list[GuidelineOut]:
    return [GuidelineOut(name=g.name, version=g.version, date=g.date, organ=g.organ, url=g.url)
            for g in referentials.list_guidelines(uow, organ=organ)]


@router.get("/retired-codes", response_model=RetiredFlagsOut,
            summary="Dossiers et documents non signés utilisant un code retiré")
def retired_codes(uow: Uow, user: CurrentUser) -> RetiredFlagsOut:
    access.require_role(user, "coordinator", "admin", message="Seuls un coordinateur ou un administrateur "
                        "voient les codes retirés à corriger.")
    boards = [b.id for b in access.visible_boards(uow, user)]
    flags = referentials.retired_code_flags(uow, board_ids=boards)
    return RetiredFlagsOut(count=len(flags), items=[RetiredFlagOut(**f.__dict__) for f in flags])


@router.get("/{system}/versions", response_model=list[VersionOut], summary="Historique des versions",
            responses=error_responses(404))
def version_history(system: str, uow: Uow, user: CurrentUser) -> list[VersionOut]:
    return [_version(v) for v in referentials.version_history(uow, system)]


@router.get("/{system}/search", response_model=list[HitOut], summary="Rechercher un code (formulaires)",
            responses=error_responses(404, 422))
def search(system: str, uow: Uow, user: CurrentUser,
           q: str = Query(..., max_length=200, description="Début de mots du libellé ou du code, sans "
                          "tenir compte des accents ni de la casse"),
           limit: int = Query(20, description="Nombre de résultats (1 à 50)")) -> list[HitOut]:
    return [HitOut(code=h.code, label=h.label, code_system=h.code_system, score=h.score, attributes=h.attributes)
            for h in referentials.search(uow, system, q, limit=limit)]
