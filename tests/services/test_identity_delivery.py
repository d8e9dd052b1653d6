"""No INS, no national record: a patient registered without INS is never sent to the DMP."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dcc.adapters.db import models as m
from dcc.services.delivery import REASON_INS, SUBMIT, _gate


def test_a_patient_without_ins_is_held_even_if_marked_qualified() -> None:
    patient = m.Patient(ins_matricule=None, ins_oid=None, ins_qualified=True, birth_family="A",
                        birth_given_first="B", birth_given_all="B", birth_date=date(1970, 1, 1), sex="F",
                        birthplace_insee="44109", dmp_opposition=False)
    doc = m.Document(replaces_id=None)
    msg = m.OutboxMessage(destination="dmp:A", kind=SUBMIT)
    decision = _gate(None, msg, doc, patient, None, datetime(2026, 3, 2, tzinfo=UTC))  # type: ignore[arg-type]
    assert decision.action == "hold" and decision.reason == REASON_INS
