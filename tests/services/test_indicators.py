"""Indicators per region, establishment and board, checked against a small fixture whose expected figures are
worked out by hand below (never taken from the code under test)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from dcc.adapters.db import models as m
from dcc.errors import ValidationFailed
from dcc.services import indicators
from dcc.services.access import AccessDenied, User
from dcc.services.uow import Database
from tests.services.indicator_network import ADMIN, MONITOR_A, add_network, add_sessions


def at(y: int, mo: int, d: int, h: int = 10) -> datetime:
    return datetime(y, mo, d, h, 0, tzinfo=UTC)


def build(db: Database) -> dict[str, str]:
    """Region RA: establishments E1 (boards B1, B2) and E2 (board B3); region RB: E3 (board B4).

    Sessions (all of 2026):
      B1: S1 15 Jan held, quorum met; S2 12 Feb validated, quorum not met; S3 10 Mar planned; S4 20 Jan cancelled
      B2: S5 5 Feb held, quorum met
      B3: S6 25 Feb validated, quorum met
      B4 (region RB): S7 3 Feb held, quorum met
    Cases (created -> session, decision):
      C1 B1 created 2 Jan -> S1 (15 Jan): discussed        delay 13
      C2 B1 created 8 Jan -> S1 (15 Jan): registered only  delay 7
      C3 B1 created 1 Feb -> S2 (12 Feb): discussed        delay 11
      C4 B1 created 1 Mar -> S3 (planned)                  no delay (session not held)
      C5 B2 created 20 Jan -> S5 (5 Feb): discussed        delay 16
      C6 B3 created 30 Dec 2025 -> S6 (25 Feb): discussed  delay 57 (created before the period)
      C7 B4 created 10 Jan -> S7 (3 Feb): discussed        (region RB: outside monitor A's scope)
    """
    with db.uow() as uow:
        s = uow.session
        net = add_network(s)
        ids, doc, pat, boards = net.ids, net.doc, net.patient, net.boards
        sessions = add_sessions(s, boards, (
                ("S1", "B1", at(2026, 1, 15), "held", "met"), ("S2", "B1", at(2026, 2, 12), "validated", "not_met"),
                ("S3", "B1", at(2026, 3, 10), "planned", "unknown"), ("S4", "B1", at(2026, 1, 20), "cancelled", "met"),
                ("S5", "B2", at(2026, 2, 5), "held", "met"), ("S6", "B3", at(2026, 2, 25), "validated", "met"),
                ("S7", "B4", at(2026, 2, 3), "held", "met")))
        for _key, board, created, session, decision in (
                ("C1", "B1", at(2026, 1, 2), "S1", "discussed"), ("C2", "B1", at(2026, 1, 8), "S1", "registered"),
                ("C3", "B1", at(2026, 2, 1), "S2", "discussed"), ("C4", "B1", at(2026, 3, 1), "S3", None),
                ("C5", "B2", at(2026, 1, 20), "S5", "discussed"), ("C6", "B3", at(2025, 12, 30), "S6", "discussed"),
                ("C7", "B4", at(2026, 1, 10), "S7", "discussed")):
            c = m.Case(patient_id=pat.id, board_id=boards[board].id, session_id=sessions[session].id,
                       requester_id=doc.id, presenter_id=doc.id, topography_code="C50.9",
                       earliest_date=created.date(), created_at=created,
                       status="decided" if decision else "assigned")
            s.add(c)
            s.flush()
            if decision:
                s.add(m.Decision(case_id=c.id, session_id=sessions[session].id, case_status=decision))
        uow.commit()
    return ids


def by_id(result: indicators.Indicators) -> dict[tuple[str, str], indicators.Figures]:
    return {(row.level, row.id): row.figures for row in result.rows}


def test_region_establishment_and_board_figures(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        result = indicators.compute(uow, MONITOR_A, start=date(2026, 1, 1), end=date(2026, 3, 31))
    rows = by_id(result)
    assert {k for k in rows if k[0] == "region"} == {("region", ids["RA"])}  # region B is out of scope
    b1 = rows[("board", ids["B1"])]
    # B1: S1 and S2 held (S3 planned, S4 cancelled), quorum met at S1 only
    assert (b1.held, b1.quorum_met, b1.quorum_rate) == (2, 1, 0.5)
    # B1: C1..C4 created in the period; decisions at held sessions: C1, C3 discussed, C2 registered only
    assert (b1.cases_registered, b1.discussed, b1.registered_only) == (4, 2, 1)
    assert sorted(b1.delays) == [7, 11, 13] and b1.delay_median == 11
    e1 = rows[("establishment", ids["E1"])]
    # E1 = B1 + B2: held 2+1, quorum 1+1, cases 4+1, discussed 2+1, delays 7, 11, 13, 16 -> median (11+13)/2
    assert (e1.held, e1.quorum_met, e1.cases_registered, e1.discussed, e1.registered_only) == (3, 2, 5, 3, 1)
    assert e1.delay_median == 12
    e2 = rows[("establishment", ids["E2"])]
    # E2 = B3: S6 held with quorum; C6 created before the period (not counted as registered) but its delay
    # to S6 counts (30 Dec -> 25 Feb = 1 + 31 + 25 = 57 days)
    assert (e2.held, e2.quorum_met, e2.cases_registered, e2.discussed, e2.delays) == (1, 1, 0, 1, [57])
    ra = rows[("region", ids["RA"])]
    assert (ra.held, ra.quorum_met, ra.cases_registered, ra.discussed, ra.registered_only) == (4, 3, 5, 4, 1)
    assert ra.quorum_rate == 0.75
    assert sorted(ra.delays) == [7, 11, 13, 16, 57] and ra.delay_median == 13
    assert (result.total.held, result.total.cases_registered) == (4, 5)
    # months: January S1 held (B1); February S2, S5, S6 held; March none held
    assert [(mf.month, mf.held, mf.quorum_met) for mf in result.months] == [
        (date(2026, 1, 1), 1, 1), (date(2026, 2, 1), 3, 2), (date(2026, 3, 1), 0, 0)]
    # cases registered per month: Jan C1, C2, C5; Feb C3; Mar C4
    assert [mf.cases_registered for mf in result.months] == [3, 1, 1]
    assert result.total.delay_buckets() == [("0 à 7 j", 1), ("8 à 14 j", 2), ("15 à 21 j", 1),
                                            ("22 à 28 j", 0), ("plus de 28 j", 1)]


def test_filters_narrow_the_figures(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        only_b2 = indicators.compute(uow, MONITOR_A, start=date(2026, 1, 1), end=date(2026, 3, 31),
                                     board_id=ids["B2"])
        january = indicators.compute(uow, MONITOR_A, start=date(2026, 1, 1), end=date(2026, 1, 31),
                                     establishment_id=ids["E1"])
        region_b = indicators.compute(uow, ADMIN, start=date(2026, 1, 1), end=date(2026, 3, 31),
                                      region_id=ids["RB"])
    assert (only_b2.total.held, only_b2.total.cases_registered, only_b2.total.delays) == (1, 1, [16])
    assert [r.level for r in only_b2.rows] == ["region", "establishment", "board"]
    # January, E1: S1 held (B1, quorum met); cases created C1, C2 (B1), C5 (B2); decisions at S1: C1, C2
    assert (january.total.held, january.total.quorum_met, january.total.cases_registered) == (1, 1, 3)
    assert (january.total.discussed, january.total.registered_only, sorted(january.total.delays)) == (1, 1, [7, 13])
    # region B for the admin: S7 held with quorum, C7 created 10 Jan -> 3 Feb = 21 + 3 = 24 days
    assert (region_b.total.held, region_b.total.cases_registered, region_b.total.delays) == (1, 1, [24])


def test_out_of_scope_or_bad_filters_are_refused(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        with pytest.raises(ValidationFailed, match="hors de votre périmètre"):
            indicators.compute(uow, MONITOR_A, start=date(2026, 1, 1), end=date(2026, 3, 31), board_id=ids["B4"])
        with pytest.raises(ValidationFailed, match="précède"):
            indicators.compute(uow, MONITOR_A, start=date(2026, 3, 1), end=date(2026, 1, 1))
        physician = User(login="p", role="physician", region_code="RA", establishment_id=None,
                         professional_id=None, display_name="P")
        with pytest.raises(AccessDenied):
            indicators.compute(uow, physician, start=date(2026, 1, 1), end=date(2026, 3, 31))


def test_csv_export(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        result = indicators.compute(uow, MONITOR_A, start=date(2026, 1, 1), end=date(2026, 3, 31),
                                    establishment_id=ids["E1"])
    text = indicators.to_csv(result)
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert lines[0] == ["Indicateurs du 01/01/2026 au 31/03/2026"]
    assert lines[1][:5] == ["Niveau", "Nom", "Région", "Établissement", "Séances tenues"]
    b1 = next(line for line in lines[1:] if line[1] == "RCP B1")
    # held 2, quorum 1 (50,0 %), cases 4, discussed 2, registered 1, median delay 11
    assert b1 == ["RCP", "RCP B1", "Région A", "Hôpital E1", "2", "1", "50,0", "4", "2", "1", "11,0"]
    assert lines[-1][:6] == ["Total", "Périmètre filtré", "", "", "3", "2"]
