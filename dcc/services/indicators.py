"""Activity indicators of the boards (regional monitor, coordinator, admin): one scoped read per screen.

For a period [start, end] (Europe/Paris days, both included) and the boards in the user's scope
(`access.board_filter`), optionally narrowed to a region, an establishment or a board:

* sessions held (status held or validated, by their start) and, among them, those whose quorum was met;
* cases registered (by their creation day);
* decisions of the held sessions: discussed cases vs cases recorded as standard (registered only);
* the delay, in days, between a case's registration and the held session it was assigned to.

Figures come per board, per establishment, per region and in total, and per month for the charts. No clinical
field and no patient is read.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import BindParameter, bindparam, select

from dcc.adapters.db import models as m
from dcc.adapters.db.statements import StatementsByFilter
from dcc.domain.calendar import PARIS
from dcc.errors import ValidationFailed
from dcc.services import access
from dcc.services.uow import UnitOfWork

MAX_DAYS = 3 * 366
DELAY_BUCKETS = ((0, 7, "0 à 7 j"), (8, 14, "8 à 14 j"), (15, 21, "15 à 21 j"), (22, 28, "22 à 28 j"),
                 (29, 10_000, "plus de 28 j"))


@dataclass
class Figures:
    """The indicators of one group (a board, an establishment, a region, a month or the whole scope)."""

    held: int = 0
    quorum_met: int = 0
    cases_registered: int = 0
    discussed: int = 0
    registered_only: int = 0
    delays: list[int] = field(default_factory=list)

    @property
    def quorum_rate(self) -> float | None:
        return self.quorum_met / self.held if self.held else None

    @property
    def delay_median(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    @property
    def delay_mean(self) -> float | None:
        return statistics.fmean(self.delays) if self.delays else None

    def add(self, other: Figures) -> None:
        self.held += other.held
        self.quorum_met += other.quorum_met
        self.cases_registered += other.cases_registered
        self.discussed += other.discussed
        self.registered_only += other.registered_only
        self.delays.extend(other.delays)

    def delay_buckets(self) -> list[tuple[str, int]]:
        return [(label, sum(1 for d in self.delays if lo <= d <= hi)) for lo, hi, label in DELAY_BUCKETS]


@dataclass
class Row:
    """One line of the indicators table: level is "region", "establishment" or "board"."""

    level: str
    id: str
    name: str
    region: str
    establishment: str
    figures: Figures


@dataclass
class MonthFigures(Figures):
    month: date = date.min


@dataclass
class Indicators:
    start: date
    end: date
    total: Figures
    rows: list[Row]
    months: list[MonthFigures]
    # the choices of the filters (within the user's scope): (id, label)
    regions: list[tuple[str, str]]
    establishments: list[tuple[str, str]]
    boards: list[tuple[str, str]]

    # the dashboard's historical names
    @property
    def held(self) -> int:
        return self.total.held


def _month(d: date) -> date:
    return d.replace(day=1)


def _day(dt: datetime) -> date:
    return dt.astimezone(PARIS).date()


def month_start(today: date, months: int) -> date:
    """The first day of the month `months - 1` months before today's month."""
    first = _month(today)
    for _ in range(months - 1):
        first = _month(first - timedelta(days=1))
    return first


@dataclass(frozen=True)
class Named:
    """A board or an establishment as the indicators name it."""

    id: str
    name: str


@dataclass(frozen=True)
class RegionRef:
    id: str
    code: str
    name: str


@dataclass
class Scope:
    """The boards a user may read, narrowed by the filters, and the choices of the filters."""

    rows: list[tuple[Named, Named, RegionRef]]  # (board, establishment, region), by region, establishment, board
    regions: list[tuple[str, str]]
    establishments: list[tuple[str, str]]
    boards: list[tuple[str, str]]


_SCOPE = (select(m.Board.id, m.Board.name, m.Establishment.id, m.Establishment.name, m.Region.id, m.Region.code,
                 m.Region.name)
          .join(m.Establishment, m.Establishment.id == m.Board.establishment_id)
          .join(m.Region, m.Region.id == m.Establishment.region_id))
_SCOPE_STATEMENTS = StatementsByFilter()


def scoped_boards(uow: UnitOfWork, user: access.User, *, region_id: str | None = None,
                  establishment_id: str | None = None, board_id: str | None = None) -> Scope:
    """The boards in the user's scope (`access.board_filter`) narrowed to a region, an establishment or a
    board; a filter naming something outside the scope (or unknown) is refused with a French message."""
    condition = access.board_filter(user)
    scoped = _SCOPE_STATEMENTS.get(condition, lambda: _SCOPE.where(condition).order_by(
        m.Region.code, m.Establishment.name, m.Board.name))
    all_boards = [(Named(bid, bname), Named(eid, ename), RegionRef(rid, rcode, rname))
                  for bid, bname, eid, ename, rid, rcode, rname in uow.session.connection().execute(scoped)]
    regions = sorted({(r.id, f"{r.code} — {r.name}") for _, _, r in all_boards}, key=lambda x: x[1])
    establishments = sorted({(e.id, e.name) for _, e, r in all_boards if not region_id or r.id == region_id},
                            key=lambda x: x[1])
    for value, choices, label in ((region_id, regions, "Région"), (establishment_id, establishments,
                                                                    "Établissement")):
        if value and value not in {c[0] for c in choices}:
            raise ValidationFailed(f"{label} inconnu(e) ou hors de votre périmètre.", field=label.lower())
    boards_rows = [(b, e, r) for b, e, r in all_boards
                   if (not region_id or r.id == region_id) and (not establishment_id or e.id == establishment_id)]
    board_choices = [(b.id, b.name) for b, _, _ in boards_rows]
    if board_id:
        if board_id not in {c[0] for c in board_choices}:
            raise ValidationFailed("RCP inconnue ou hors de votre périmètre.", field="rcp")
        boards_rows = [row for row in boards_rows if row[0].id == board_id]
    return Scope(rows=boards_rows, regions=regions, establishments=establishments, boards=board_choices)


# The statements of `compute`, built once (the dashboard is a frequent page): boards, period and sessions are
# parameters.
_BOARDS: BindParameter[list[str]] = bindparam("boards", expanding=True)
_START = bindparam("start", type_=m.Session.starts_at.type)
_END = bindparam("end", type_=m.Session.starts_at.type)
_HELD = ("held", "validated")
_HELD_SESSIONS = select(m.Session.id, m.Session.board_id, m.Session.starts_at, m.Session.quorum).where(
    m.Session.board_id.in_(_BOARDS), m.Session.starts_at >= _START, m.Session.starts_at < _END,
    m.Session.status.in_(_HELD))
_DECISIONS_OF_SESSIONS = select(m.Decision.session_id, m.Decision.case_status).where(
    m.Decision.session_id.in_(bindparam("ids", expanding=True)))
_CASES_REGISTERED = select(m.Case.board_id, m.Case.created_at).where(
    m.Case.board_id.in_(_BOARDS), m.Case.created_at >= _START, m.Case.created_at < _END)
_CASES_DISCUSSED = (select(m.Case.board_id, m.Case.created_at, m.Session.starts_at)
                    .join(m.Session, m.Session.id == m.Case.session_id)
                    .where(m.Case.board_id.in_(_BOARDS), m.Session.status.in_(_HELD),
                           m.Session.starts_at >= _START, m.Session.starts_at < _END))


def compute(uow: UnitOfWork, user: access.User, *, start: date, end: date, region_id: str | None = None,
            establishment_id: str | None = None, board_id: str | None = None) -> Indicators:
    """The indicators of the boards in the user's scope for [start, end] (see the module docstring).

    A filter naming something outside the scope (or unknown) is refused with a French message."""
    access.require_role(user, "monitor", "coordinator", "admin",
                        message="Les indicateurs sont réservés aux observateurs, coordinateurs et administrateurs.")
    if end < start:
        raise ValidationFailed("La date de fin précède la date de début.", field="au")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed("La période ne peut dépasser trois ans.", field="du")
    scope = scoped_boards(uow, user, region_id=region_id, establishment_id=establishment_id, board_id=board_id)
    boards_rows, regions, establishments, board_choices = (scope.rows, scope.regions, scope.establishments,
                                                           scope.boards)
    board_ids = [b.id for b, _, _ in boards_rows]

    per_board: dict[str, Figures] = {bid: Figures() for bid in board_ids}
    months: dict[date, MonthFigures] = {}
    cursor = _month(start)
    while cursor <= end:
        months[cursor] = MonthFigures(month=cursor)
        cursor = _month(cursor + timedelta(days=32))
    start_dt = datetime.combine(start, datetime.min.time(), tzinfo=PARIS)
    end_dt = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)

    connection = uow.session.connection()
    period = {"boards": board_ids, "start": start_dt, "end": end_dt}
    sessions = list(connection.execute(_HELD_SESSIONS, period)) if board_ids else []
    held_by_id = {s.id: s for s in sessions}
    for s in sessions:
        groups = (per_board[s.board_id], months[_month(_day(s.starts_at))])
        for g in groups:
            g.held += 1
            g.quorum_met += s.quorum == "met"
    if held_by_id:
        for session_id, case_status in connection.execute(_DECISIONS_OF_SESSIONS, {"ids": list(held_by_id)}):
            s = held_by_id[session_id]
            for g in (per_board[s.board_id], months[_month(_day(s.starts_at))]):
                if case_status == "discussed":
                    g.discussed += 1
                else:
                    g.registered_only += 1
    if board_ids:
        for board_of_case, created in connection.execute(_CASES_REGISTERED, period):
            per_board[board_of_case].cases_registered += 1
            months[_month(_day(created))].cases_registered += 1
        for board_of_case, created, starts in connection.execute(_CASES_DISCUSSED, period):
            delay = max(0, (_day(starts) - _day(created)).days)
            per_board[board_of_case].delays.append(delay)
            months[_month(_day(starts))].delays.append(delay)

    rows: list[Row] = []
    total = Figures()
    by_region: dict[str, list[tuple[Named, Named, RegionRef]]] = {}
    for b, e, r in boards_rows:
        by_region.setdefault(r.id, []).append((b, e, r))
    for region_rows in by_region.values():
        r = region_rows[0][2]
        region_fig = Figures()
        region_row = Row("region", r.id, f"{r.code} — {r.name}", r.name, "", region_fig)
        rows.append(region_row)
        by_est: dict[str, list[tuple[Named, Named, RegionRef]]] = {}
        for b, e, _ in region_rows:
            by_est.setdefault(e.id, []).append((b, e, r))
        for est_rows in by_est.values():
            e = est_rows[0][1]
            est_fig = Figures()
            rows.append(Row("establishment", e.id, e.name, r.name, e.name, est_fig))
            for b, _, _ in est_rows:
                rows.append(Row("board", b.id, b.name, r.name, e.name, per_board[b.id]))
                est_fig.add(per_board[b.id])
            region_fig.add(est_fig)
        total.add(region_fig)
    return Indicators(start=start, end=end, total=total, rows=rows, months=list(months.values()),
                      regions=regions, establishments=establishments, boards=board_choices)


LEVEL_LABELS = {"region": "Région", "establishment": "Établissement", "board": "RCP"}
CSV_HEADER = ["Niveau", "Nom", "Région", "Établissement", "Séances tenues", "Séances avec quorum",
              "Taux de quorum (%)", "Dossiers inscrits", "Dossiers discutés", "Dossiers enregistrés (standard)",
              "Délai médian inscription → séance (jours)"]


def _fr(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}".replace(".", ",")


def to_csv(ind: Indicators) -> str:
    """The indicators table as CSV for a spreadsheet in French (`;` separator, decimal comma, UTF-8 BOM)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([f"Indicateurs du {ind.start:%d/%m/%Y} au {ind.end:%d/%m/%Y}"])
    writer.writerow(CSV_HEADER)

    def line(level: str, name: str, region: str, est: str, f: Figures) -> list[str]:
        rate = f.quorum_rate
        return [level, name, region, est, str(f.held), str(f.quorum_met), _fr(rate * 100 if rate is not None
                                                                                 else None),
                str(f.cases_registered), str(f.discussed), str(f.registered_only), _fr(f.delay_median)]

    rows: Iterable[Row] = ind.rows
    for row in rows:
        writer.writerow(line(LEVEL_LABELS[row.level], row.name, row.region, row.establishment, row.figures))
    writer.writerow(line("Total", "Périmètre filtré", "", "", ind.total))
    return out.getvalue()
