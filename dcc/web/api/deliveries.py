"""Deliveries (outbox): states and requeue of dead letters. Coordinators see their boards' deliveries,
regional monitors their region's (no patient data in the answer)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from dcc.services import access, deliveries, delivery, list_reads, queries
from dcc.web.deps import CurrentUser, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import DeliveryOut, error_responses

router = APIRouter(prefix="/api/v1/deliveries", tags=["Envois"], route_class=ApiRoute)

DeliveryState = Literal["pending", "delivered", "dead", "held", "blocked"]


@router.get("", response_model=list[DeliveryOut], summary="Lister les envois",
            responses=error_responses(422))
def list_deliveries(
    uow: Uow,
    user: CurrentUser,
    state: Annotated[DeliveryState | None,
                     Query(description="pending, delivered, dead, held ou blocked")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[DeliveryOut]:
    rows = list_reads.visible_deliveries(uow, user, state=state, limit=limit, offset=offset)
    return [DeliveryOut.model_validate(view) for view in rows]


@router.post("/{message_id}/requeue", response_model=DeliveryOut, summary="Relancer une lettre morte",
             description="Par un coordinateur (ses RCP) ou l'observateur régional (sa région) ; tracé.",
             responses=error_responses(404, 409))
def requeue(message_id: str, uow: Uow, user: CurrentUser) -> DeliveryOut:
    access.require(uow, user, "delivery", message_id, access.delivery_filter(user), action="requeue")
    access.require_role(user, *deliveries.REQUEUE_ROLES,
                        message="Seuls un coordinateur ou l'observateur régional peuvent relancer un envoi.")
    delivery.requeue(uow, message_id=message_id, actor=user.login)
    return DeliveryOut.model_validate(queries.get_delivery(uow, message_id))
