"""Worklists: the documents of a case with their state and recipients in words (MSSanté recipients named
from the directory), and the physician's to-do list sorted by date with French labels."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from dcc.adapters.db import models as m
from dcc.services import worklists
from tests.services.test_boards import MARCH_11, session_on


class NamedRecipients:
    """CdaBuilder test double: the MSSanté addresses a document names."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    def mailto_recipients(self, cda: bytes) -> list[str]:
        return list(self.addresses)


def _document(w: Any, case_id: str, *, status: str, version: int, signer_id: str, created: datetime,
              destinations: dict[str, str] | None = None, kind: str = "FRCP") -> str:
    with w.db.uow() as uow:
        case = uow.session.get(m.Case, case_id)
        body = f"<doc v='{version}' kind='{kind}'/>".encode()
        doc = m.Document(case_id=case_id, patient_id=case.patient_id, kind=kind, set_id=f"1.2.3.{kind}",
                         version=version, unique_id=f"1.2.3.{kind}.{version}", cda=body, pdf=b"%PDF-1.7",
                         sha256=hashlib.sha256(body).hexdigest(), pdf_sha256="0" * 64, status=status,
                         template_version="t", signer_id=signer_id, created_at=created,
                         signed_at=None if status == "draft" else created)
        uow.session.add(doc)
        uow.session.flush()
        for destination, state in (destinations or {}).items():
            uow.session.add(m.OutboxMessage(document_id=doc.id, destination=destination, state=state))
        uow.commit()
        return doc.id


def test_case_documents_name_each_recipient_and_state(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    members = w.members(w.board("Sein").id)
    signer, gp = members[0], members[1]
    with w.db.uow() as uow:
        uow.session.get(m.Professional, gp.id).mssante = "gp@medecin.mssante.fr"
        uow.commit()
    t = datetime(2025, 3, 11, 18, tzinfo=UTC)
    v1 = _document(w, cid, status="superseded", version=1, signer_id=signer.id, created=t)
    v2 = _document(w, cid, status="signed", version=2, signer_id=signer.id, created=t,
                   destinations={"dmp:A": "pending", "mss:A": "delivered"})
    with w.db.uow() as uow:
        docs = worklists.case_documents(uow, cid, cda=NamedRecipients(["gp@medecin.mssante.fr", "x@autre.fr"]))
    assert [d.id for d in docs] == [v2, v1]  # latest version first
    assert [d.state_label for d in docs] == ["signé", "remplacé"]
    assert docs[0].kind_label == "Fiche RCP"
    lines = {(x.recipient, x.state) for x in docs[0].deliveries}
    assert lines == {("DMP (région A)", "en attente"),
                     (f"MSSanté : Dr {gp.given} {gp.family}, x@autre.fr", "délivré")}


def test_physician_home_is_one_list_sorted_by_date(board_world: Any) -> None:
    w = board_world
    cid = w.register("Sein", 1)
    w.assign()
    s = session_on(w, "Sein", MARCH_11)
    with w.db.uow() as uow:
        presenter = uow.session.get(m.Case, cid).presenter_id
    late = _document(w, cid, status="draft", version=2, signer_id=presenter,
                     created=datetime(2025, 3, 20, 9, tzinfo=UTC))
    _document(w, cid, status="signed", version=1, signer_id=presenter, created=datetime(2025, 3, 1, 9, tzinfo=UTC),
              kind="PPS")
    with w.db.uow() as uow:
        home = worklists.physician_home(uow, presenter, w.today)
    kinds = [(i.kind, i.label) for i in home.items]
    whens = [i.when for i in home.items]
    assert whens == sorted(whens)
    assert ("signer", "Fiche RCP à signer") in kinds
    assert ("annonce", "Consultation d'annonce à enregistrer") in kinds
    assert ("presenter", "Dossier à présenter") in kinds
    assert kinds.index(("annonce", "Consultation d'annonce à enregistrer")) < kinds.index(
        ("presenter", "Dossier à présenter")) < kinds.index(("signer", "Fiche RCP à signer"))
    assert any(i.kind == "seance" and s.id in i.href for i in home.items)
    assert [i.href for i in home.items if i.kind == "signer"] == [f"/medecin/a-signer?apercu={late}"]
