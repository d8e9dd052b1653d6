"""Deliveries (outbox): states and requeue of dead letters."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from dcc.services import delivery, queries
from dcc.web.deps import Actor, Uow
from dcc.web.schemas import DeliveryOut, error_responses

router = APIRouter(prefix="/api/v1/deliveries", tags=["Envois"])

DeliveryState = Literal["pending", "delivered", "dead", "held", "blocked"]


@router.get("", response_model=list[DeliveryOut], summary="Lister les envois",
            responses=error_responses(422))
def list_deliveries(
    uow: Uow,
    state: Annotated[DeliveryState | None,
                     Query(description="pending, delivered, dead, held ou blocked")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeliveryOut]:
    views = queries.list_deliveries(uow, state=state, limit=limit, offset=offset)
    return [DeliveryOut.model_validate(v) for v in views]


@router.post("/{message_id}/requeue", response_model=DeliveryOut, summary="Relancer une lettre morte",
             responses=error_responses(404, 409))
def requeue(message_id: str, uow: Uow, actor: Actor) -> DeliveryOut:
    delivery.requeue(uow, message_id=message_id, actor=actor)
    return DeliveryOut.model_validate(queries.get_delivery(uow, message_id))
