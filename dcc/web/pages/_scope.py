"""User-scoped lookups of the pages (dcc.services.scope: the authorisation filters of the JSON API). An object
outside the user's scope is reported as not found (404), never forbidden."""

from __future__ import annotations

from dcc.services.scope import (
    board_members,
    case_for_coordinator,
    case_for_physician,
    coordinator_board_refs,
    coordinator_boards,
    delivery_in_scope,
    document_to_sign,
    physician_board_ids,
    professional,
    session_for_coordinator,
    stats_board_ids,
)

__all__ = [
    "coordinator_boards",
    "coordinator_board_refs",
    "stats_board_ids",
    "physician_board_ids",
    "session_for_coordinator",
    "case_for_coordinator",
    "case_for_physician",
    "document_to_sign",
    "delivery_in_scope",
    "professional",
    "board_members",
]
