"""Boards (RCP): directory and calendar export. Scoped by the user (dcc.services.access)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dcc.errors import ValidationFailed
from dcc.services import access, directory, list_reads, queries
from dcc.services.directory import BoardCreation
from dcc.web.deps import CurrentUser, Uow
from dcc.web.routing import ApiRoute
from dcc.web.schemas import BoardDetailOut, BoardOut, CreatedOut, MemberOut, error_responses

router = APIRouter(prefix="/api/v1/boards", tags=["RCP"], route_class=ApiRoute)


@router.get("", response_model=list[BoardOut], summary="Lister les RCP")
def list_boards(uow: Uow, user: CurrentUser) -> list[BoardOut]:
    return [BoardOut.model_validate(b) for b in list_reads.visible_board_rows(uow, user)]


@router.post("", response_model=CreatedOut, status_code=status.HTTP_201_CREATED, summary="Créer une RCP",
             responses=error_responses(409, 413, 422))
def create_board(data: BoardCreation, uow: Uow, user: CurrentUser, response: Response) -> CreatedOut:
    access.require_role(user, "admin", "coordinator", message="Seuls un administrateur ou un coordinateur "
                        "peuvent créer une RCP.")
    if not access.can_manage_establishment(uow, user, data.establishment_id):
        raise ValidationFailed(f"L'établissement « {data.establishment_id} » n'existe pas.", field="establishment_id")
    board_id = directory.create_board(uow, data=data, actor=user.login)
    response.headers["Location"] = f"/api/v1/boards/{board_id}"
    return CreatedOut(id=board_id)


@router.get("/{board_id}", response_model=BoardDetailOut, summary="Une RCP et ses membres",
            responses=error_responses(404))
def get_board(board_id: str, uow: Uow, user: CurrentUser) -> BoardDetailOut:
    access.require(uow, user, "board", board_id, access.board_filter(user))
    view = queries.get_board(uow, board_id)
    base = BoardOut.model_validate(view.board).model_dump()
    return BoardDetailOut(**base, members=[MemberOut.model_validate(mb) for mb in view.members])


@router.get("/{board_id}/calendar.ics", summary="Calendrier des séances (iCalendar)",
            response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}, **error_responses(404)})
def board_calendar(board_id: str, uow: Uow, user: CurrentUser) -> Response:
    access.require(uow, user, "board", board_id, access.board_filter(user))
    board, ics = queries.board_calendar(uow, board_id)
    filename = f"rcp-{board.rcp_id}.ics"
    return Response(ics, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
