"""The regional network's monthly indicators (INCa / 3C annual activity report), one row per board × month.

`refresh_month` computes a month (Europe/Paris) for every board and replaces that month's rows (idempotent);
the nightly `compute_indicators` flow calls it. `report` reads the rows of a period within the user's scope
and sums them per board, establishment, region and month; `to_report_csv` writes the annual activity
report's table. No patient and no case id is stored: counts, and the delays as lists of day counts.

What is counted, for board B and month M:

* new cases: case entries of B registered in M that are not a re-presentation; re-presentations: the entries
  registered in M that re-present an earlier one (its session had no quorum);
* sessions held in M (held or validated), those whose quorum was met, those without an attendance sheet
  (quorum « non renseigné »);
* the board's opinions of M: decisions at the sessions held in M **with their quorum met** (INCa: a valid RCP
  needs its quorum; a decision without it is re-presented and counted when it is); among them discussed vs
  registered (standard cases), conform to a referential yes / no / non renseigné, trial proposals;
* discussed before the first treatment: among the *discussed* opinions (a standard case may start before
  its registration: HAS 2006, « prise en charge standard »), the RCP day on or before the first-treatment
  date, after it, or no first-treatment date (non renseigné);
* delay diagnosis → RCP (days, every opinion with a diagnosis date; the others are counted as missing) and
  RCP → first treatment (days, discussed opinions whose first treatment is on or after the RCP day; the
  missing ones are those without a date) — median and nearest-rank p90 (dcc.domain.indicators);
* the Fiche RCP delivered to the DMP within 7 days of the meeting: per opinion whose Fiche RCP has a DMP
  submission (none when the patient opposed: state blocked), the first delivery's Paris day at most 7 days
  after the RCP day, later, or not delivered yet;
* dead letters: deliveries (DMP and MSSanté) and document generations of the month's meetings in dead letter
  at the time of the computation.

Missing dates are counted as missing (« non renseigné »), never imputed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from dcc.adapters.db import models as m
from dcc.domain import indicators as ind
from dcc.domain.calendar import PARIS
from dcc.domain.clock import now_utc, paris_day
from dcc.domain.documents import DocumentKind
from dcc.errors import ValidationFailed
from dcc.services import access
from dcc.services.indicators import LEVEL_LABELS, scoped_boards
from dcc.services.uow import UnitOfWork

HELD = ("held", "validated")
DMP_DAYS = 7  # the network's target: the Fiche RCP in the DMP within 7 days of the meeting
MAX_MONTHS = 36


@dataclass
class Counts:
    """The indicators of one group (a board-month row, or a sum of rows)."""

    new_cases: int = 0
    re_presentations: int = 0
    sessions_held: int = 0
    quorum_met: int = 0
    quorum_unknown: int = 0
    opinions: int = 0
    discussed: int = 0
    registered_only: int = 0
    conform_yes: int = 0
    conform_no: int = 0
    conform_missing: int = 0
    trial_proposed: int = 0
    before_treatment: int = 0
    after_treatment: int = 0
    treatment_missing: int = 0
    diagnosis_missing: int = 0
    dmp_expected: int = 0
    dmp_within_7d: int = 0
    dmp_late: int = 0
    dmp_not_delivered: int = 0
    dead_letters: int = 0
    delays_diagnosis_rcp: list[int] = field(default_factory=list)
    delays_rcp_treatment: list[int] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def quorum_rate(self) -> float | None:
        return ind.rate(self.quorum_met, self.sessions_held)

    @property
    def conform_rate(self) -> float | None:
        """Among the opinions where conformity was stated (non renseigné left out, and shown)."""
        return ind.rate(self.conform_yes, self.conform_yes + self.conform_no)

    @property
    def trial_rate(self) -> float | None:
        return ind.rate(self.trial_proposed, self.opinions)

    @property
    def before_treatment_rate(self) -> float | None:
        """Among the discussed opinions whose first-treatment date is known."""
        return ind.rate(self.before_treatment, self.before_treatment + self.after_treatment)

    @property
    def dmp_rate(self) -> float | None:
        return ind.rate(self.dmp_within_7d, self.dmp_expected)

    @property
    def diagnosis_rcp_median(self) -> float | None:
        return ind.median(self.delays_diagnosis_rcp)

    @property
    def diagnosis_rcp_p90(self) -> float | None:
        return ind.p90(self.delays_diagnosis_rcp)

    @property
    def rcp_treatment_median(self) -> float | None:
        return ind.median(self.delays_rcp_treatment)

    @property
    def rcp_treatment_p90(self) -> float | None:
        return ind.p90(self.delays_rcp_treatment)


COUNT_NAMES = tuple(f.name for f in fields(Counts))


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=PARIS)


# ------------------------------------------------------------------------------------------ compute


def refresh_month(uow: UnitOfWork, month: date, *, now: datetime | None = None) -> int:
    """Compute `month` (any day of it) for every board and replace its rows; returns the number of rows."""
    month = ind.first_of_month(month)
    start, end = _paris_midnight(month), _paris_midnight(ind.next_month(month))
    s = uow.session
    per_board = {board_id: Counts() for board_id in s.scalars(select(m.Board.id))}

    for board_id, from_id in s.execute(select(m.Case.board_id, m.Case.represented_from_id)
                                       .where(m.Case.created_at >= start, m.Case.created_at < end)):
        if from_id is None:
            per_board[board_id].new_cases += 1
        else:
            per_board[board_id].re_presentations += 1

    in_month = (m.Session.status.in_(HELD), m.Session.starts_at >= start, m.Session.starts_at < end)
    for board_id, quorum in s.execute(select(m.Session.board_id, m.Session.quorum).where(*in_month)):
        c = per_board[board_id]
        c.sessions_held += 1
        c.quorum_met += quorum == "met"
        c.quorum_unknown += quorum == "unknown"

    valid = (*in_month, m.Session.quorum == "met")
    opinions = s.execute(
        select(m.Case.id, m.Case.board_id, m.Case.diagnosis_date, m.Case.first_treatment_date, m.Session.starts_at,
               m.Decision.case_status, m.Decision.conform_to_referential, m.Decision.trial_proposed)
        .join(m.Decision, m.Decision.case_id == m.Case.id)
        .join(m.Session, m.Session.id == m.Decision.session_id).where(*valid)).all()
    rcp_day: dict[str, tuple[str, date]] = {}
    for case_id, board_id, diagnosed, treated, starts_at, status, conform, trial in opinions:
        c = per_board[board_id]
        day = paris_day(starts_at)
        rcp_day[case_id] = (board_id, day)
        c.opinions += 1
        c.discussed += status == "discussed"
        c.registered_only += status != "discussed"
        c.conform_yes += conform is True
        c.conform_no += conform is False
        c.conform_missing += conform is None
        c.trial_proposed += bool(trial)
        if diagnosed is None:
            c.diagnosis_missing += 1
        else:
            c.delays_diagnosis_rcp.append((day - diagnosed).days)
        if status == "discussed":
            if treated is None:
                c.treatment_missing += 1
            elif treated >= day:
                c.before_treatment += 1
                c.delays_rcp_treatment.append((treated - day).days)
            else:
                c.after_treatment += 1

    first_delivery: dict[str, datetime | None] = {}
    for case_id, delivered_at in s.execute(
            select(m.Document.case_id, m.OutboxMessage.delivered_at)
            .join(m.OutboxMessage, m.OutboxMessage.document_id == m.Document.id)
            .join(m.Decision, m.Decision.case_id == m.Document.case_id)
            .join(m.Session, m.Session.id == m.Decision.session_id)
            .where(*valid, m.Document.kind == DocumentKind.FRCP.value, m.OutboxMessage.kind == "submit",
                   m.OutboxMessage.destination.like("dmp:%"), m.OutboxMessage.state != "blocked")):
        known = first_delivery.get(case_id)
        if delivered_at is not None and (known is None or delivered_at < known):
            first_delivery[case_id] = delivered_at
        else:
            first_delivery.setdefault(case_id, None)
    for case_id, delivered_at in first_delivery.items():
        board_id, day = rcp_day[case_id]
        c = per_board[board_id]
        c.dmp_expected += 1
        if delivered_at is None:
            c.dmp_not_delivered += 1
        elif (paris_day(delivered_at) - day).days <= DMP_DAYS:
            c.dmp_within_7d += 1
        else:
            c.dmp_late += 1

    meetings = (m.Session.starts_at >= start, m.Session.starts_at < end)
    for (board_id,) in s.execute(
            select(m.Case.board_id).select_from(m.OutboxMessage)
            .join(m.Document, m.Document.id == m.OutboxMessage.document_id)
            .join(m.Case, m.Case.id == m.Document.case_id).join(m.Session, m.Session.id == m.Case.session_id)
            .where(m.OutboxMessage.state == "dead", *meetings)):
        per_board[board_id].dead_letters += 1
    for (board_id,) in s.execute(
            select(m.GenerationTask.board_id).join(m.Session, m.Session.id == m.GenerationTask.session_id)
            .where(m.GenerationTask.state == "dead", *meetings)):
        per_board[board_id].dead_letters += 1

    at = now or now_utc()
    s.execute(delete(m.IndicatorMonth).where(m.IndicatorMonth.month == month))
    for board_id, c in per_board.items():
        values = {name: getattr(c, name) for name in COUNT_NAMES}
        values["delays_diagnosis_rcp"] = sorted(c.delays_diagnosis_rcp)
        values["delays_rcp_treatment"] = sorted(c.delays_rcp_treatment)
        s.add(m.IndicatorMonth(board_id=board_id, month=month, computed_at=at, **values))
    uow.commit()
    return len(per_board)


def months_to_refresh(today: date, months_back: int) -> list[date]:
    """The current month and the `months_back` before it (late first-treatment dates change past months)."""
    first = ind.first_of_month(today)
    out = [first]
    for _ in range(months_back):
        out.append(ind.first_of_month(out[-1] - timedelta(days=1)))
    return sorted(out)


# ------------------------------------------------------------------------------------------- read


@dataclass
class ReportRow:
    level: str  # region | establishment | board
    id: str
    name: str
    region: str
    establishment: str
    counts: Counts


@dataclass
class Report:
    start: date  # first month
    end: date  # first day of the last month
    total: Counts
    rows: list[ReportRow]
    months: list[tuple[date, Counts]]
    computed_at: datetime | None  # the oldest computation among the rows read (None: nothing computed)
    not_computed: list[date]  # months of the period without any row (the flow has not run for them)
    regions: list[tuple[str, str]]
    establishments: list[tuple[str, str]]
    boards: list[tuple[str, str]]


def _counts(row: m.IndicatorMonth) -> Counts:
    c = Counts()
    for name in COUNT_NAMES:
        value = getattr(row, name)
        setattr(c, name, list(value) if isinstance(value, list) else value)
    return c


def report(uow: UnitOfWork, user: access.User, *, start: date, end: date, region_id: str | None = None,
           establishment_id: str | None = None, board_id: str | None = None) -> Report:
    """The computed indicators of the months from `start`'s to `end`'s for the boards in the user's scope."""
    access.require_role(user, "monitor", "coordinator", "admin",
                        message="Les indicateurs sont réservés aux observateurs, coordinateurs et administrateurs.")
    start, end = ind.first_of_month(start), ind.first_of_month(end)
    if end < start:
        raise ValidationFailed("La date de fin précède la date de début.", field="au")
    months = ind.months_between(start, end)
    if len(months) > MAX_MONTHS:
        raise ValidationFailed("La période ne peut dépasser trois ans.", field="du")
    scope = scoped_boards(uow, user, region_id=region_id, establishment_id=establishment_id, board_id=board_id)
    board_ids = [b.id for b, _, _ in scope.rows]
    per_board = {bid: Counts() for bid in board_ids}
    per_month = {month: Counts() for month in months}
    seen: set[date] = set()
    computed: list[datetime] = []
    if board_ids:
        for row in uow.session.scalars(select(m.IndicatorMonth).where(
                m.IndicatorMonth.board_id.in_(board_ids), m.IndicatorMonth.month >= start,
                m.IndicatorMonth.month <= end)):
            c = _counts(row)
            per_board[row.board_id].add(c)
            per_month[row.month].add(c)
            seen.add(row.month)
            computed.append(row.computed_at)
    rows: list[ReportRow] = []
    total = Counts()
    by_region: dict[str, list[tuple[Any, Any, Any]]] = {}
    for b, e, r in scope.rows:
        by_region.setdefault(r.id, []).append((b, e, r))
    for region_rows in by_region.values():
        r = region_rows[0][2]
        region_counts = Counts()
        rows.append(ReportRow("region", r.id, f"{r.code} — {r.name}", r.name, "", region_counts))
        by_est: dict[str, list[Any]] = {}
        for b, e, _ in region_rows:
            by_est.setdefault(e.id, []).append((b, e))
        for est_rows in by_est.values():
            e = est_rows[0][1]
            est_counts = Counts()
            rows.append(ReportRow("establishment", e.id, e.name, r.name, e.name, est_counts))
            for b, _ in est_rows:
                rows.append(ReportRow("board", b.id, b.name, r.name, e.name, per_board[b.id]))
                est_counts.add(per_board[b.id])
            region_counts.add(est_counts)
        total.add(region_counts)
    return Report(start=start, end=end, total=total, rows=rows, months=list(per_month.items()),
                  computed_at=min(computed) if computed else None,
                  not_computed=[mo for mo in months if mo not in seen] if board_ids else [],
                  regions=scope.regions, establishments=scope.establishments, boards=scope.boards)


# -------------------------------------------------------------------------------------------- CSV

REPORT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("Nouveaux dossiers inscrits", lambda c: c.new_cases),
    ("Représentations", lambda c: c.re_presentations),
    ("Séances tenues", lambda c: c.sessions_held),
    ("Séances avec quorum", lambda c: c.quorum_met),
    ("Quorum non renseigné", lambda c: c.quorum_unknown),
    ("Taux de quorum (%)", lambda c: c.quorum_rate),
    ("Avis rendus (quorum atteint)", lambda c: c.opinions),
    ("Dossiers discutés", lambda c: c.discussed),
    ("Dossiers enregistrés (standard)", lambda c: c.registered_only),
    ("Conformes au référentiel", lambda c: c.conform_yes),
    ("Non conformes au référentiel", lambda c: c.conform_no),
    ("Conformité non renseignée", lambda c: c.conform_missing),
    ("Taux de conformité (%)", lambda c: c.conform_rate),
    ("Propositions d'essai clinique", lambda c: c.trial_proposed),
    ("Taux de proposition d'essai (%)", lambda c: c.trial_rate),
    ("Discutés avant le 1er traitement", lambda c: c.before_treatment),
    ("Discutés après le 1er traitement", lambda c: c.after_treatment),
    ("Date du 1er traitement non renseignée", lambda c: c.treatment_missing),
    ("Taux de discussion avant le 1er traitement (%)", lambda c: c.before_treatment_rate),
    ("Délai diagnostic → RCP, médiane (jours)", lambda c: c.diagnosis_rcp_median),
    ("Délai diagnostic → RCP, 90e centile (jours)", lambda c: c.diagnosis_rcp_p90),
    ("Date de diagnostic non renseignée", lambda c: c.diagnosis_missing),
    ("Délai RCP → 1er traitement, médiane (jours)", lambda c: c.rcp_treatment_median),
    ("Délai RCP → 1er traitement, 90e centile (jours)", lambda c: c.rcp_treatment_p90),
    ("Fiches RCP attendues au DMP", lambda c: c.dmp_expected),
    ("Versées au DMP sous 7 jours", lambda c: c.dmp_within_7d),
    ("Versées au DMP après 7 jours", lambda c: c.dmp_late),
    ("Non versées", lambda c: c.dmp_not_delivered),
    ("Taux de versement au DMP sous 7 jours (%)", lambda c: c.dmp_rate),
    ("Lettres mortes", lambda c: c.dead_letters),
)
MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre"]


def fr_number(value: int | float | None, *, percent: bool = False) -> str:
    """A French figure: integers as is, others with one decimal and a decimal comma; empty when not computable."""
    if value is None:
        return ""
    if isinstance(value, int) and not percent:
        return str(value)
    return f"{value * 100 if percent else value:.1f}".replace(".", ",")


def cells(c: Counts) -> list[str]:
    return [fr_number(get(c), percent=title.endswith("(%)")) for title, get in REPORT_COLUMNS]


def month_name(month: date) -> str:
    return f"{MONTHS_FR[month.month - 1]} {month.year}"


def to_report_csv(rep: Report) -> str:
    """The annual activity report's table for a French spreadsheet: `;` separator, decimal comma, UTF-8 BOM;
    one line per region, establishment and board, the total, then one line per month of the period."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    last = ind.next_month(rep.end) - timedelta(days=1)
    writer.writerow([f"Rapport d'activité RCP du {rep.start:%d/%m/%Y} au {last:%d/%m/%Y}"])
    writer.writerow(["Calculé le " + (f"{rep.computed_at.astimezone(PARIS):%d/%m/%Y à %H:%M}"
                                      if rep.computed_at else "— (indicateurs non calculés)")])
    writer.writerow(["Niveau", "Région", "Établissement", "RCP", *(title for title, _ in REPORT_COLUMNS)])
    for row in rep.rows:
        board = row.name if row.level == "board" else ""
        est = row.establishment if row.level != "region" else ""
        writer.writerow([LEVEL_LABELS[row.level], row.region, est, board, *cells(row.counts)])
    writer.writerow(["Total", "", "", "", *cells(rep.total)])
    writer.writerow([])
    writer.writerow(["Mois", "", "", "", *(title for title, _ in REPORT_COLUMNS)])
    for month, c in rep.months:
        writer.writerow([month_name(month), "", "", "", *cells(c)])
    return out.getvalue()
