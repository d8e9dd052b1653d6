"""The network's monthly indicators (table indicator_month), checked against a fixture whose expected figures
are worked out by hand in the docstrings and comments below — never computed with the code under test.

Runs on SQLite and, with DCC_TEST_DATABASE_URL, on PostgreSQL (the `database` fixture)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.errors import Conflict, NotFound, ValidationFailed
from dcc.services import indicator_table, treatment_start
from dcc.services.access import AccessDenied, User
from dcc.services.uow import Database
from tests.services.indicator_network import ADMIN, MONITOR_A, add_network, add_sessions

PARIS = ZoneInfo("Europe/Paris")
MARCH = date(2026, 3, 1)


def paris(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


def utc(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def build(db: Database) -> dict[str, str]:
    """Region RA: establishment E1 (boards B1, B2), E2 (board B3, no activity); region RB: E3 (board B4).

    Sessions (Paris times):
      B1  S1 5 Mar 12:00 held, quorum met        S2 19 Mar validated, quorum NOT met
          S3 26 Mar held, quorum unknown (no attendance sheet yet)   S4 12 Mar cancelled (quorum "met": ignored)
          S5 26 Feb validated, quorum met (February)
      B2  S6 31 Mar 23:30 (CEST) validated, met  -> still March in Paris (21:30 UTC)
      B4  S7 10 Mar validated, met (region RB)

    Cases (created, UTC) -> session, decision; diagnosis date; first treatment:
      C1  B1 10 Feb       -> S1 discussed, conform yes, trial yes; dx 3 Feb; 1st treatment 20 Mar
      C2  B1 28 Feb 23:30 UTC (= 1 Mar 00:30 Paris) -> S1 discussed, conform not stated; no dx; 1st tt 1 Mar
      C3  B1 1 Mar        -> S1 registered (standard), conform yes; dx 5 Jan; 1st tt 20 Feb
      C4  B1 2 Mar        -> S1 discussed, conform no; dx 1 Mar; no 1st tt
      C5  B1 3 Mar        -> S1 discussed, conform yes; dx 23 Feb; 1st tt 5 Mar (the RCP day)
      C6  B1 10 Mar       -> S2 discussed (no quorum: not an opinion), status represented
      C7  B1 20 Mar, re-presents C6 -> S3, no decision yet
      C9  B1 31 Mar 22:30 UTC (= 1 Apr 00:30 Paris): April, pending
      C10 B1 1 Feb        -> S5 (February) discussed
      C8  B2 15 Mar       -> S6 discussed, conform not stated, trial yes; dx 1 Mar; 1st tt 2 Apr
      C11 B4 1 Mar        -> S7 discussed; dx 1 Mar (region RB)

    Fiche RCP submissions to the DMP (dmp:RA), first delivery:
      C1 v1 delivered 12 Mar 10:00 UTC (Paris day 12 = RCP day 5 + 7: within 7 days); an MSSanté copy too
      C2 v1 dead; v2 delivered 11 Mar 06:00 UTC (day 11, +6: within)
      C3 v1 delivered 13 Mar (+8: late)
      C4 v1 pending (not delivered)
      C5 v1 blocked (patient opposed: not expected)
      C8 v1 delivered 7 Apr 21:30 UTC = 7 Apr 23:30 Paris (RCP day 31 Mar + 7: within)
      C10 v1 (February) an MSSanté message dead (February: not a March dead letter)
    Document generation: C4's task dead (S1, March); C10's task dead (S5, February).
    """
    with db.uow() as uow:
        s = uow.session
        net = add_network(s)
        ids, doc, pat, boards = net.ids, net.doc, net.patient, net.boards
        other = m.Professional(rpps="10000000002", family="Durand", given="Luc", specialty_code="SM54",
                               establishment_id=ids["E1"])
        s.add(other)
        s.flush()
        ids["other"] = other.id
        sessions = add_sessions(s, boards, (
                ("S1", "B1", paris(2026, 3, 5), "held", "met"),
                ("S2", "B1", paris(2026, 3, 19), "validated", "not_met"),
                ("S3", "B1", paris(2026, 3, 26), "held", "unknown"),
                ("S4", "B1", paris(2026, 3, 12), "cancelled", "met"),
                ("S5", "B1", paris(2026, 2, 26), "validated", "met"),
                ("S6", "B2", paris(2026, 3, 31, 23, 30), "validated", "met"),
                ("S7", "B4", paris(2026, 3, 10), "validated", "met")))
        cases: dict[str, m.Case] = {}
        for key, board, created, session, dx, treated, status in (
                ("C1", "B1", utc(2026, 2, 10), "S1", date(2026, 2, 3), date(2026, 3, 20), "decided"),
                ("C2", "B1", utc(2026, 2, 28, 23, 30), "S1", None, date(2026, 3, 1), "decided"),
                ("C3", "B1", utc(2026, 3, 1), "S1", date(2026, 1, 5), date(2026, 2, 20), "decided"),
                ("C4", "B1", utc(2026, 3, 2), "S1", date(2026, 3, 1), None, "decided"),
                ("C5", "B1", utc(2026, 3, 3), "S1", date(2026, 2, 23), date(2026, 3, 5), "decided"),
                ("C6", "B1", utc(2026, 3, 10), "S2", date(2026, 3, 1), None, "represented"),
                ("C7", "B1", utc(2026, 3, 20), "S3", date(2026, 3, 1), None, "assigned"),
                ("C9", "B1", utc(2026, 3, 31, 22, 30), None, None, None, "pending"),
                ("C10", "B1", utc(2026, 2, 1), "S5", date(2026, 1, 20), None, "decided"),
                ("C8", "B2", utc(2026, 3, 15), "S6", date(2026, 3, 1), date(2026, 4, 2), "decided"),
                ("C11", "B4", utc(2026, 3, 1), "S7", date(2026, 3, 1), None, "decided")):
            c = m.Case(patient_id=pat.id, board_id=boards[board].id,
                       session_id=sessions[session].id if session else None, requester_id=doc.id,
                       presenter_id=doc.id, topography_code="C50.9", earliest_date=created.date(),
                       created_at=created, diagnosis_date=dx, first_treatment_date=treated, status=status,
                       represented_from_id=cases["C6"].id if key == "C7" else None)
            s.add(c)
            s.flush()
            cases[key] = c
            ids[key] = c.id
        for key, session, status, conform, trial in (
                ("C1", "S1", "discussed", True, True), ("C2", "S1", "discussed", None, False),
                ("C3", "S1", "registered", True, False), ("C4", "S1", "discussed", False, False),
                ("C5", "S1", "discussed", True, False), ("C6", "S2", "discussed", True, True),
                ("C10", "S5", "discussed", True, False), ("C8", "S6", "discussed", None, True),
                ("C11", "S7", "discussed", True, False)):
            s.add(m.Decision(case_id=cases[key].id, session_id=sessions[session].id, case_status=status,
                             conform_to_referential=conform, trial_proposed=trial))
        for n, (key, version, messages) in enumerate((
                ("C1", 1, [("dmp:RA", "delivered", utc(2026, 3, 12)), ("mss:RA", "delivered", utc(2026, 3, 6))]),
                ("C2", 1, [("dmp:RA", "dead", None)]),
                ("C2", 2, [("dmp:RA", "delivered", utc(2026, 3, 11, 6))]),
                ("C3", 1, [("dmp:RA", "delivered", utc(2026, 3, 13))]),
                ("C4", 1, [("dmp:RA", "pending", None)]),
                ("C5", 1, [("dmp:RA", "blocked", None)]),
                ("C8", 1, [("dmp:RA", "delivered", utc(2026, 4, 7, 21, 30))]),
                ("C10", 1, [("mss:RA", "dead", None)]))):
            d = m.Document(case_id=cases[key].id, patient_id=pat.id, kind="FRCP", set_id=f"set-{key}",
                           version=version, unique_id=f"2.25.{n}", cda=b"<x/>", pdf=b"%PDF", sha256="0" * 64,
                           pdf_sha256="0" * 64, status="signed", template_version="t", signer_id=doc.id,
                           signed_at=utc(2026, 3, 6))
            s.add(d)
            s.flush()
            for destination, state, delivered in messages:
                s.add(m.OutboxMessage(document_id=d.id, destination=destination, state=state,
                                      delivered_at=delivered))
        for key, session in (("C4", "S1"), ("C10", "S5")):
            s.add(m.GenerationTask(case_id=cases[key].id, session_id=sessions[session].id,
                                   board_id=cases[key].board_id, state="dead", last_error="refusé"))
        uow.commit()
    return ids


def rows_of(db: Database, month: date) -> dict[str, SimpleNamespace]:
    """The stored rows of `month` by board, as plain values."""
    with db.uow() as uow:
        return {r.board_id: SimpleNamespace(**{c.key: getattr(r, c.key) for c in m.IndicatorMonth.__table__.columns})
                for r in uow.session.scalars(select(m.IndicatorMonth).where(m.IndicatorMonth.month == month))}


def test_march_per_board_by_hand(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        assert indicator_table.refresh_month(uow, date(2026, 3, 17)) == 4  # one row per board, even idle ones
    rows = rows_of(database, MARCH)
    b1 = rows[ids["B1"]]
    # registered in March (Paris): C2 (1 Mar 00:30 Paris), C3, C4, C5, C6 are new; C7 re-presents C6;
    # C1 (February) and C9 (1 Apr 00:30 Paris) are not March's
    assert (b1.new_cases, b1.re_presentations) == (5, 1)
    # held in March: S1 (met), S2 (not met), S3 (unknown); S4 cancelled, S5 February
    assert (b1.sessions_held, b1.quorum_met, b1.quorum_unknown) == (3, 1, 1)
    # opinions = decisions at quorate March sessions: S1's C1..C5 (C6 at S2 had no quorum)
    assert (b1.opinions, b1.discussed, b1.registered_only) == (5, 4, 1)
    # conform: yes C1, C3, C5; no C4; not stated C2. Trial: C1 (C6's does not count)
    assert (b1.conform_yes, b1.conform_no, b1.conform_missing, b1.trial_proposed) == (3, 1, 1, 1)
    # discussed C1, C2, C4, C5 (RCP day 5 Mar): C1 tt 20 Mar before, C5 tt 5 Mar (same day) before,
    # C2 tt 1 Mar after, C4 no date; C3 is registered only (left out)
    assert (b1.before_treatment, b1.after_treatment, b1.treatment_missing) == (2, 1, 1)
    # diagnosis -> 5 Mar: C1 3 Feb = 25 + 5 = 30; C3 5 Jan = 26 + 28 + 5 = 59; C4 1 Mar = 4;
    # C5 23 Feb = 5 + 5 = 10; C2 no diagnosis date
    assert (b1.delays_diagnosis_rcp, b1.diagnosis_missing) == ([4, 10, 30, 59], 1)
    # RCP 5 Mar -> first treatment: C1 20 Mar = 15, C5 5 Mar = 0
    assert b1.delays_rcp_treatment == [0, 15]
    # DMP: C1 day 12 (+7) within, C2 v2 day 11 (+6) within, C3 day 13 (+8) late, C4 pending; C5 blocked
    assert (b1.dmp_expected, b1.dmp_within_7d, b1.dmp_late, b1.dmp_not_delivered) == (4, 2, 1, 1)
    # dead letters of March meetings: C2 v1's DMP message, C4's generation (C10's are February's)
    assert b1.dead_letters == 2
    b2 = rows[ids["B2"]]
    # S6 31 Mar 23:30 Paris: March. C8: dx 1 Mar -> 31 Mar = 30; tt 2 Apr = 2 days after; DMP 7 Apr 23:30
    # Paris = 7 days after: within
    assert (b2.new_cases, b2.sessions_held, b2.quorum_met, b2.opinions, b2.discussed) == (1, 1, 1, 1, 1)
    assert (b2.conform_yes, b2.conform_no, b2.conform_missing, b2.trial_proposed) == (0, 0, 1, 1)
    assert (b2.before_treatment, b2.delays_diagnosis_rcp, b2.delays_rcp_treatment) == (1, [30], [2])
    assert (b2.dmp_expected, b2.dmp_within_7d, b2.dead_letters) == (1, 1, 0)
    b3 = rows[ids["B3"]]
    assert (b3.new_cases, b3.sessions_held, b3.opinions, b3.delays_diagnosis_rcp) == (0, 0, 0, [])
    b4 = rows[ids["B4"]]
    # S7 10 Mar; C11 dx 1 Mar -> 9 days, no first treatment
    assert (b4.new_cases, b4.opinions, b4.delays_diagnosis_rcp, b4.treatment_missing) == (1, 1, [9], 1)


def test_february_is_its_own_month(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        indicator_table.refresh_month(uow, date(2026, 2, 1))
    b1 = rows_of(database, date(2026, 2, 1))[ids["B1"]]
    # registered in February (Paris): C1 (10 Feb), C10 (1 Feb); C2 is 1 Mar in Paris
    assert (b1.new_cases, b1.sessions_held, b1.quorum_met, b1.opinions) == (2, 1, 1, 1)
    # C10 at S5 (26 Feb): dx 20 Jan -> 11 + 26 = 37 days; no first-treatment date; MSSanté + generation dead
    assert (b1.delays_diagnosis_rcp, b1.treatment_missing, b1.dead_letters) == ([37], 1, 2)
    assert (b1.dmp_expected, b1.conform_yes) == (0, 1)


def test_recomputing_a_month_replaces_its_rows(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        indicator_table.refresh_month(uow, MARCH)
        indicator_table.refresh_month(uow, MARCH)
    with database.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.IndicatorMonth)) == 4
    # the care team enters C4's first treatment (6 Mar) afterwards; the night's run replaces March
    coordinator = User(login="coord-a", role="coordinator", region_code="RA", establishment_id=ids["E1"],
                       professional_id=None, display_name="Coord")
    with database.uow() as uow:
        treatment_start.record_first_treatment(uow, coordinator, case_id=ids["C4"], when=date(2026, 3, 6),
                                               today=date(2026, 4, 10))
    with database.uow() as uow:
        indicator_table.refresh_month(uow, MARCH)
        assert uow.session.scalar(select(func.count()).select_from(m.IndicatorMonth)) == 4
    b1 = rows_of(database, MARCH)[ids["B1"]]
    # C4 is now discussed on 5 Mar before its treatment on 6 Mar (1 day): before 3, missing 0
    assert (b1.before_treatment, b1.after_treatment, b1.treatment_missing) == (3, 1, 0)
    assert b1.delays_rcp_treatment == [0, 1, 15]


def test_report_sums_boards_establishments_regions(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        indicator_table.refresh_month(uow, date(2026, 2, 1))
        indicator_table.refresh_month(uow, MARCH)
        rep = indicator_table.report(uow, MONITOR_A, start=date(2026, 3, 1), end=date(2026, 3, 31))
        two_months = indicator_table.report(uow, MONITOR_A, start=date(2026, 2, 1), end=date(2026, 3, 31),
                                            board_id=ids["B1"])
        with_april = indicator_table.report(uow, ADMIN, start=date(2026, 3, 1), end=date(2026, 4, 30))
    levels = {(r.level, r.id): r.counts for r in rep.rows}
    assert {k for k in levels if k[0] == "region"} == {("region", ids["RA"])}  # RB is out of monitor A's scope
    e1 = levels[("establishment", ids["E1"])]
    # E1 = B1 + B2: diagnosis delays 4, 10, 30, 59 and 30 -> median 30, p90 = 5th of 5 (ceil 4.5) = 59
    assert (e1.diagnosis_rcp_median, e1.diagnosis_rcp_p90) == (30, 59)
    # RCP -> treatment 0, 15 and 2 -> 0, 2, 15: median 2, p90 = 3rd of 3 = 15
    assert (e1.rcp_treatment_median, e1.rcp_treatment_p90) == (2, 15)
    # B1 alone: 0, 15 -> median 7.5, p90 = 2nd of 2 = 15; diagnosis 4, 10, 30, 59 -> median 20, p90 59
    b1 = levels[("board", ids["B1"])]
    assert (b1.rcp_treatment_median, b1.rcp_treatment_p90, b1.diagnosis_rcp_median) == (7.5, 15, 20)
    # quorum 2 of 4 held; conformity 3 yes / 1 no (2 not stated) = 75 %; trials 2 of 6 opinions;
    # before treatment 3 / (3 + 1); DMP 3 within of 5 expected
    ra = levels[("region", ids["RA"])]
    assert (ra.quorum_rate, ra.conform_rate, ra.conform_missing) == (0.5, 0.75, 2)
    assert (ra.trial_proposed, ra.opinions, ra.before_treatment_rate, ra.dmp_rate) == (2, 6, 0.75, 0.6)
    assert (rep.total.new_cases, rep.total.dead_letters) == (6, 2)
    assert rep.not_computed == []
    # B1 over February and March: months in order; February 1 opinion, March 5
    assert [(mo, c.opinions) for mo, c in two_months.months] == [(date(2026, 2, 1), 1), (date(2026, 3, 1), 5)]
    assert sorted(two_months.total.delays_diagnosis_rcp) == [4, 10, 30, 37, 59]
    # April was never computed: said, not shown as zeros
    assert with_april.not_computed == [date(2026, 4, 1)]
    assert with_april.total.opinions == 7  # 6 in RA + C11 in RB (admin)


def test_report_refuses_bad_filters(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        with pytest.raises(ValidationFailed, match="hors de votre périmètre"):
            indicator_table.report(uow, MONITOR_A, start=MARCH, end=MARCH, board_id=ids["B4"])
        with pytest.raises(ValidationFailed, match="précède"):
            indicator_table.report(uow, MONITOR_A, start=MARCH, end=date(2026, 1, 1))
        physician = User(login="p", role="physician", region_code="RA", establishment_id=None,
                         professional_id=None, display_name="P")
        with pytest.raises(AccessDenied):
            indicator_table.report(uow, physician, start=MARCH, end=MARCH)


def test_annual_report_csv(database: Database) -> None:
    ids = build(database)
    with database.uow() as uow:
        indicator_table.refresh_month(uow, MARCH, now=datetime(2026, 4, 1, 23, 45, tzinfo=UTC))
        rep = indicator_table.report(uow, MONITOR_A, start=MARCH, end=date(2026, 3, 31),
                                     establishment_id=ids["E1"])
    text = indicator_table.to_report_csv(rep)
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert lines[0] == ["Rapport d'activité RCP du 01/03/2026 au 31/03/2026"]
    assert lines[1] == ["Calculé le 02/04/2026 à 01:45"]  # 23:45 UTC = 01:45 Paris (CEST)
    header = lines[2]
    assert header[:8] == ["Niveau", "Région", "Établissement", "RCP", "Nouveaux dossiers inscrits",
                          "Représentations", "Séances tenues", "Séances avec quorum"]
    b1 = dict(zip(header, next(line for line in lines if line[3:4] == ["RCP B1"]), strict=True))
    assert (b1["Niveau"], b1["Région"], b1["Établissement"]) == ("RCP", "Région A", "Hôpital E1")
    assert (b1["Nouveaux dossiers inscrits"], b1["Représentations"], b1["Séances tenues"]) == ("5", "1", "3")
    assert b1["Taux de quorum (%)"] == "33,3"  # 1 of 3
    assert b1["Taux de conformité (%)"] == "75,0"  # 3 / (3 + 1)
    assert b1["Conformité non renseignée"] == "1"
    assert b1["Taux de proposition d'essai (%)"] == "20,0"  # 1 of 5
    assert b1["Délai diagnostic → RCP, médiane (jours)"] == "20,0"
    assert b1["Délai RCP → 1er traitement, médiane (jours)"] == "7,5"
    assert b1["Délai RCP → 1er traitement, 90e centile (jours)"] == "15,0"
    assert b1["Date du 1er traitement non renseignée"] == "1"
    assert b1["Taux de versement au DMP sous 7 jours (%)"] == "50,0"  # 2 of 4
    assert b1["Lettres mortes"] == "2"
    total = next(line for line in lines if line[:1] == ["Total"])
    assert dict(zip(header, total, strict=True))["Avis rendus (quorum atteint)"] == "6"
    march = next(line for line in lines if line[:1] == ["mars 2026"])
    assert dict(zip(header, march, strict=True))["Séances tenues"] == "4"


def test_months_to_refresh() -> None:
    assert indicator_table.months_to_refresh(date(2026, 1, 15), 2) == [
        date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)]


# ------------------------------------------------------------------------------ first-treatment date


def test_first_treatment_date_rules(database: Database) -> None:
    ids = build(database)
    physician = User(login="phys", role="physician", region_code="RA", establishment_id=None,
                     professional_id=ids["doc"], display_name="Dr Martin")
    stranger = User(login="phys2", role="physician", region_code="RA", establishment_id=None,
                    professional_id=ids["other"], display_name="Dr Durand")
    today = date(2026, 4, 10)
    with database.uow() as uow:
        with pytest.raises(ValidationFailed, match="dans le futur"):
            treatment_start.record_first_treatment(uow, physician, case_id=ids["C4"], when=date(2026, 4, 11),
                                                   today=today)
        with pytest.raises(ValidationFailed, match=r"précède la date du diagnostic \(01/03/2026\)"):
            treatment_start.record_first_treatment(uow, physician, case_id=ids["C4"], when=date(2026, 2, 28),
                                                   today=today)
        with pytest.raises(Conflict, match="représenté"):
            treatment_start.record_first_treatment(uow, physician, case_id=ids["C6"], when=date(2026, 3, 20),
                                                   today=today)
        with pytest.raises(NotFound):  # outside the care team: not even visible
            treatment_start.record_first_treatment(uow, stranger, case_id=ids["C4"], when=date(2026, 3, 20),
                                                   today=today)
    with database.uow() as uow:
        assert uow.session.get(m.Case, ids["C4"]).first_treatment_date is None  # nothing written
        treatment_start.record_first_treatment(uow, physician, case_id=ids["C4"], when=date(2026, 3, 1),
                                               today=today)  # the diagnosis day itself is allowed
    with database.uow() as uow:
        case = uow.session.get(m.Case, ids["C4"])
        assert (case.first_treatment_date, case.first_treatment_by) == (date(2026, 3, 1), "phys")
        audit = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "case.first_treatment")).all()
        assert [(a.entity_id, a.detail) for a in audit] == [(ids["C4"], {"before": None, "after": "2026-03-01"})]
        treatment_start.record_first_treatment(uow, physician, case_id=ids["C4"], when=None, today=today)
    with database.uow() as uow:
        case = uow.session.get(m.Case, ids["C4"])
        assert (case.first_treatment_date, case.first_treatment_by) == (None, None)
