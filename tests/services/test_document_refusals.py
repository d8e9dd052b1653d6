"""A document is not generated from incomplete data: the case shows in French what is missing, the other
cases go on, and the case is generated once completed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from dcc.adapters.db import models as m
from dcc.bootstrap import cda_builder, pdf_renderer
from dcc.services.documents import generate_documents

Chain = Any  # tests/services/conftest.py:Chain (conftest modules are not importable by name)


def _discussed_organ_case(chain: Chain) -> str:
    with chain.db.uow() as uow:
        q = (select(m.Case.id).join(m.Decision, m.Decision.case_id == m.Case.id)
             .join(m.Board, m.Board.id == m.Case.board_id)
             .where(m.Decision.case_status == "discussed", m.Board.kind == "organ",
                    m.Board.organe_code != "21483005")  # not a CNS board: UICC has no TNM there
             .order_by(m.Case.id))
        return uow.session.scalars(q).first()  # type: ignore[return-value]


def test_a_case_without_tnm_is_refused_with_its_missing_fields_and_the_others_go_on(chain: Chain) -> None:
    db = chain.db
    case_id = _discussed_organ_case(chain)
    assert case_id
    with db.uow() as uow:  # back to "decided, no documents yet" (drafts may be deleted), then lose the TNM
        uow.session.execute(delete(m.Document).where(m.Document.case_id == case_id))
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        case.tnm_t = case.tnm_n = case.tnm_m = None
        other = uow.session.scalars(select(m.Decision.case_id).where(m.Decision.case_id != case_id)).first()
        uow.session.execute(delete(m.Document).where(m.Document.case_id == other))
        uow.commit()

    with db.uow() as uow:
        result = generate_documents(uow, case_ids=[case_id, other], cda=cda_builder(), pdf=pdf_renderer())
    assert case_id in result.refused and "classification TNM" in result.refused[case_id]
    assert result.created  # the other case's documents were generated
    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None and case.documents_missing == ["classification TNM"]
        assert not uow.session.scalars(select(m.Document).where(m.Document.case_id == case_id)).all()
        events = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "document.refused",
                                                                m.AuditEvent.entity_id == case_id)).all()
        assert len(events) == 1 and events[0].detail["missing"] == ["classification TNM"]

    with db.uow() as uow:  # completed by the coordinator: generated, and the case no longer shows a gap
        case = uow.session.get(m.Case, case_id)
        assert case is not None
        case.tnm_t, case.tnm_n, case.tnm_m = "T2", "N0", "M0"
        uow.commit()
    with db.uow() as uow:
        result = generate_documents(uow, case_ids=[case_id], cda=cda_builder(), pdf=pdf_renderer())
    assert result.created and not result.refused
    with db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        assert case is not None and case.documents_missing == []
