"""Attachments of a case (PDF, JPEG): upload (multipart), list, download, removal before the discussion.
Access as the case (`access.case_filter`); every action is audited by the service. The body limit of the app
lets these uploads through up to 20 Mo (dcc.web.edge.UPLOAD_ROUTES)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from pydantic import BaseModel

from dcc.errors import NotFound
from dcc.services import access, sharing
from dcc.services import attachments as service
from dcc.services.uow import UnitOfWork
from dcc.web.auth import User
from dcc.web.deps import CurrentUser, Uow
from dcc.web.downloads import content_disposition
from dcc.web.routing import ApiRoute
from dcc.web.schemas import error_responses

router = APIRouter(tags=["Pièces jointes"], route_class=ApiRoute)


class AttachmentOut(BaseModel):
    id: str
    case_id: str
    category: str
    category_label: str
    title: str
    filename: str
    media_type: str
    size: int
    sha256: str
    viewer_url: str
    created_by: str
    created_at: datetime
    locked: bool
    shared_document_id: str | None = None


class ShareIn(BaseModel):
    confirm: bool = False
    type_code: str | None = None


class ShareOut(BaseModel):
    attachment_id: str
    document_id: str
    unique_id: str
    type_code: str
    type_label: str
    shared_at: datetime
    shared_by: str


def attachment_out(a: service.AttachmentView) -> AttachmentOut:
    return AttachmentOut(**{k: getattr(a, k) for k in AttachmentOut.model_fields if k != "category_label"},
                         category_label=service.CATEGORIES.get(a.category, a.category))


def require_attachment(uow: UnitOfWork, user: User, attachment_id: str, *, action: str = "read") -> str:
    """The attachment's case id when the user may see that case; otherwise the 404 of a missing attachment."""
    missing = NotFound(f"Pièce jointe « {attachment_id} » introuvable.")
    try:
        case_id = service.attachment_case_id(uow, attachment_id)
        access.require(uow, user, "case", case_id, access.case_filter(user), action=action)
    except NotFound:
        raise missing from None
    return case_id


@router.post("/api/v1/cases/{case_id}/attachments", response_model=AttachmentOut,
             status_code=status.HTTP_201_CREATED, summary="Joindre un fichier (PDF ou JPEG) au dossier",
             description="Type vérifié sur le contenu (PDF ou JPEG), 20 Mo au plus, PDF sans JavaScript ni "
             "fichier incorporé, métadonnées JPEG (dont la position GPS) retirées. Catégories : `pathology` "
             "(compte rendu d'anatomopathologie), `imaging` (compte rendu d'imagerie), `letter` (courrier), "
             "`other`. `viewer_url` : lien https vers la visionneuse d'images de la région (aucune image DICOM "
             "n'est stockée). Refusé (409) une fois le dossier discuté.",
             responses=error_responses(404, 409, 413, 422))
def upload(case_id: str, uow: Uow, user: CurrentUser, file: Annotated[UploadFile, File()],
           category: Annotated[str, Form(max_length=20)], title: Annotated[str, Form(max_length=200)],
           viewer_url: Annotated[str, Form(max_length=500)] = "") -> AttachmentOut:
    access.require(uow, user, "case", case_id, access.case_filter(user), action="attachment")
    data = file.file.read(service.MAX_BYTES + 1)
    view = service.add_attachment(uow, case_id=case_id, data=data, filename=file.filename or "",
                                  title=title, category=category, actor=user.login, viewer_url=viewer_url.strip())
    return attachment_out(view)


@router.get("/api/v1/cases/{case_id}/attachments", response_model=list[AttachmentOut],
            summary="Pièces jointes du dossier", responses=error_responses(404))
def list_attachments(case_id: str, uow: Uow, user: CurrentUser) -> list[AttachmentOut]:
    access.require(uow, user, "case", case_id, access.case_filter(user))
    return [attachment_out(a) for a in service.list_attachments(uow, case_id)]


@router.get("/api/v1/attachments/{attachment_id}", summary="Télécharger une pièce jointe (lecture tracée)",
            responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}}}, **error_responses(404, 409)})
def download(attachment_id: str, uow: Uow, user: CurrentUser) -> Response:
    require_attachment(uow, user, attachment_id)
    view, content = service.read_attachment(uow, attachment_id, actor=user.login)
    return Response(content, media_type=view.media_type, headers={
        "Content-Disposition": content_disposition(view.filename), "Cache-Control": "no-store"})


@router.delete("/api/v1/attachments/{attachment_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Retirer une pièce jointe (avant la discussion du dossier)",
               responses=error_responses(404, 409))
def remove(attachment_id: str, uow: Uow, user: CurrentUser) -> Response:
    require_attachment(uow, user, attachment_id, action="attachment.remove")
    service.remove_attachment(uow, attachment_id, actor=user.login)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/attachments/{attachment_id}/share", response_model=ShareOut,
             status_code=status.HTTP_201_CREATED, summary="Partager une pièce jointe avec le DMP (document CDA N1)",
             description="Réservé à un médecin de l'annuaire, qui devient l'auteur du document ; `confirm` doit "
             "valoir `true`. Types : compte rendu d'anatomopathologie (60568-3), compte rendu d'imagerie "
             "(18748-4), courrier (`type_code` 96349-6 lettre d'adressage ou 11488-4 compte rendu de "
             "consultation) ; « autre » n'est pas partageable. Refusé (409) si déjà partagée, si l'identité n'est "
             "pas qualifiée (INS) ou si le patient s'est opposé à l'alimentation de son DMP. Le dépôt passe par "
             "la file d'envoi (visibilité et masquage comme pour les autres documents).",
             responses=error_responses(404, 409, 422))
def share(attachment_id: str, body: ShareIn, uow: Uow, user: CurrentUser) -> ShareOut:
    require_attachment(uow, user, attachment_id, action="attachment")
    shared = sharing.share_attachment(uow, attachment_id=attachment_id, professional_id=user.professional_id,
                                      actor=user.login, type_code=body.type_code, confirm=body.confirm)
    return ShareOut(**shared.__dict__)
