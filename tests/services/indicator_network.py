"""The network both indicator fixtures start from (tests/services/test_indicators.py, test_indicator_table.py):
two regions, three establishments, four boards, one physician, one patient; and the two users who read the
indicators. Only the skeleton is shared: each test module adds its own sessions and cases, and keeps its
expected figures, worked out by hand, in its own docstrings and asserts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from dcc.adapters.db import models as m
from dcc.services.access import User

MONITOR_A = User(login="obs-a", role="monitor", region_code="RA", establishment_id=None, professional_id=None,
                 display_name="Observateur A")
ADMIN = User(login="admin", role="admin", region_code=None, establishment_id=None, professional_id=None,
             display_name="Admin")


@dataclass(frozen=True)
class Network:
    ids: dict[str, str]  # RA, RB, E1..E3, B1..B4, doc -> id
    doc: m.Professional
    patient: m.Patient
    boards: dict[str, m.Board]


def add_network(s: Session) -> Network:
    """Region RA: establishments E1 (boards B1, B2) and E2 (board B3); region RB: E3 (board B4). One physician
    of E1 (`doc`) is every board's responsible and coordinator; one patient."""
    ids: dict[str, str] = {}
    ra = m.Region(code="RA", name="Région A", dsrc_id="DA", dsrc_name="DSRC A")
    rb = m.Region(code="RB", name="Région B", dsrc_id="DB", dsrc_name="DSRC B")
    s.add_all([ra, rb])
    s.flush()
    ids["RA"], ids["RB"] = ra.id, rb.id
    ests = {}
    for key, region, finess in (("E1", ra, "100000001"), ("E2", ra, "100000002"), ("E3", rb, "100000003")):
        e = m.Establishment(region_id=region.id, finess=finess, name=f"Hôpital {key}", gestionnaire_id="G",
                            gestionnaire_name="3C")
        s.add(e)
        s.flush()
        ests[key] = e
        ids[key] = e.id
    doc = m.Professional(rpps="10000000001", family="Martin", given="Anne", specialty_code="SM54",
                         establishment_id=ests["E1"].id)
    s.add(doc)
    s.flush()
    ids["doc"] = doc.id
    pat = m.Patient(birth_family="DUPONT", birth_given_first="Jean", birth_given_all="Jean",
                    birth_date=date(1950, 1, 1), sex="M", birthplace_insee="75056")
    s.add(pat)
    s.flush()
    boards = {}
    for key, est in (("B1", "E1"), ("B2", "E1"), ("B3", "E2"), ("B4", "E3")):
        b = m.Board(establishment_id=ests[est].id, rcp_id=f"RCP-{key}", name=f"RCP {key}", kind="organ",
                    recurrence="FREQ=WEEKLY", start_time="12:00", responsible_id=doc.id, coordinator_id=doc.id)
        s.add(b)
        s.flush()
        boards[key] = b
        ids[key] = b.id
    return Network(ids=ids, doc=doc, patient=pat, boards=boards)


def add_sessions(s: Session, boards: dict[str, m.Board],
                 rows: tuple[tuple[str, str, datetime, str, str], ...]) -> dict[str, m.Session]:
    """Sessions from (key, board key, start, status, quorum) rows; registration closes on the session's day."""
    sessions = {}
    for key, board, when, status, quorum in rows:
        se = m.Session(board_id=boards[board].id, occurrence=when, starts_at=when,
                       registration_deadline=when.date(), capacity=10, status=status, quorum=quorum)
        s.add(se)
        s.flush()
        sessions[key] = se
    return sessions
