"""Test helper: author a PPS plan through the services (open, enter the given items, optionally submit)."""

from __future__ import annotations

from dcc.domain.ports import CdaBuilder, PdfRenderer
from dcc.services import pps as pps_services
from dcc.services.pps import PlanInput, PpsItemInput
from dcc.services.uow import Database


def author_plan(db: Database, case_id: str, items: list[PpsItemInput], *, contact_name: str = "",
                contact_phone: str = "", actor: str = "test", submit: bool = True,
                cda: CdaBuilder | None = None, pdf: PdfRenderer | None = None) -> str | None:
    """Open the case's PPS, replace its items with `items`, and (by default) submit it. Returns the PPS
    document id when submitted."""
    with db.uow() as uow:
        pps_services.open_plan(uow, case_id=case_id, actor=actor)
    with db.uow() as uow:
        pps_services.update_plan(uow, case_id=case_id, actor=actor,
                                 data=PlanInput(items=tuple(items), contact_name=contact_name,
                                                contact_phone=contact_phone))
    if not submit:
        return None
    from dcc import bootstrap

    with db.uow() as uow:
        return pps_services.submit_plan(uow, case_id=case_id, actor=actor, cda=cda or bootstrap.cda_builder(),
                                        pdf=pdf or bootstrap.pdf_renderer())


def decided_kinds(db: Database, case_id: str) -> list[str]:
    """The PPS treatment kinds the case's decision allows."""
    with db.uow() as uow:
        pps_services.open_plan(uow, case_id=case_id, actor="test")
        return pps_services.plan_view(uow, case_id).allowed_treatments
