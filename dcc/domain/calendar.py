"""Board session calendar: RFC 5545 recurrence, French public holidays, working days, iCalendar export.

Pure functions: no database, no clock (callers pass dates and, for the export, the stamp).
Recurrence is expanded in local wall-clock time and only then attached to Europe/Paris, so a
board meeting at 12:30 stays at 12:30 local time on both sides of a DST change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from dateutil.rrule import rrule, rrulestr
from icalendar import Calendar, Event

from dcc.errors import ValidationFailed

PARIS = ZoneInfo("Europe/Paris")

# holidays' subdivision for Moselle; "6AE" (Bas-Rhin and Haut-Rhin) carries the same two extra days
# (Vendredi saint, Saint-Étienne on 26 December). The package has no "67"/"68" subdivisions.
ALSACE_MOSELLE_SUBDIV = "57"

_ALLOWED_FREQ = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_ALLOWED_PARTS = frozenset(
    {
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "BYDAY",
        "BYMONTHDAY",
        "BYMONTH",
        "BYSETPOS",
        "BYWEEKNO",
        "BYYEARDAY",
        "WKST",
    }
)
_RECURRENCE_FIELD = "recurrence"


def _invalid_rule(rule: str, why: str) -> ValidationFailed:
    return ValidationFailed(
        f"La règle de récurrence « {rule} » est invalide : {why}.", field=_RECURRENCE_FIELD
    )


def _split_rule(rule: str) -> dict[str, str]:
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if not text:
        raise _invalid_rule(rule, "la règle est vide")
    if "\n" in text or "\r" in text:
        raise _invalid_rule(rule, "une seule ligne RRULE est attendue")
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        key, sep, value = chunk.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise _invalid_rule(rule, f"l'élément « {chunk} » n'a pas la forme CLÉ=VALEUR")
        if key not in _ALLOWED_PARTS:
            raise _invalid_rule(rule, f"l'élément « {key} » n'est pas pris en charge")
        if key in parts:
            raise _invalid_rule(rule, f"l'élément « {key} » apparaît deux fois")
        parts[key] = value.strip().upper()
    if "FREQ" not in parts:
        raise _invalid_rule(rule, "la fréquence (FREQ) est obligatoire")
    if parts["FREQ"] not in _ALLOWED_FREQ:
        raise _invalid_rule(rule, "la fréquence doit être DAILY, WEEKLY, MONTHLY ou YEARLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _invalid_rule(rule, "COUNT et UNTIL ne peuvent pas être utilisés ensemble")
    return parts


def _local_until(value: str) -> str:
    """UNTIL in UTC ("...Z") becomes naive local time, since expansion runs in local wall-clock time."""
    if not value.endswith("Z"):
        return value
    utc = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return utc.astimezone(PARIS).strftime("%Y%m%dT%H%M%S")


def _parse_rule(rule: str, dtstart: datetime) -> rrule:
    parts = _split_rule(rule)
    try:
        if "UNTIL" in parts:
            parts["UNTIL"] = _local_until(parts["UNTIL"])
        parsed = rrulestr(";".join(f"{k}={v}" for k, v in parts.items()), dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise _invalid_rule(rule, "la syntaxe RFC 5545 n'est pas respectée") from exc
    if not isinstance(parsed, rrule):
        raise _invalid_rule(rule, "une seule règle RRULE est attendue")
    return parsed


@dataclass(frozen=True)
class SessionRule:
    """How a board meets: an RRULE (without DTSTART), a local start time, a duration, a time zone.

    `anchor` is the first session date: INTERVAL and COUNT count from it, and it gives the weekday
    when BYDAY is absent. Without it, expansion starts at the beginning of the requested window.
    """

    rrule: str
    start_time: time
    duration_minutes: int = 90
    tz: str = "Europe/Paris"
    anchor: date | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _parse_rule(self.rrule, datetime.combine(self.anchor or date(2000, 1, 1), self.start_time))
        if self.duration_minutes <= 0:
            raise ValidationFailed("La durée de la séance doit être positive.", field="duration_minutes")
        if self.start_time.tzinfo is not None:
            raise ValidationFailed("L'heure de début est une heure locale, sans fuseau.", field="start_time")
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed(f"Le fuseau horaire « {self.tz} » est inconnu.", field="tz") from exc
        object.__setattr__(self, "_zone", zone)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


def validate_rrule(rule: str) -> str:
    """Raise ValidationFailed (field "recurrence") if `rule` is not a usable RRULE; return it stripped."""
    _parse_rule(rule, datetime(2000, 1, 1))
    return rule.strip()


# ---------------------------------------------------------------------------------------- holidays


@cache
def _holidays_of_year(year: int, alsace_moselle: bool) -> frozenset[date]:
    subdiv = ALSACE_MOSELLE_SUBDIV if alsace_moselle else None
    return frozenset(holidays.France(years=year, subdiv=subdiv).keys())


def is_public_holiday(d: date, *, alsace_moselle: bool = False) -> bool:
    """French public holiday (Pentecost Monday included); Alsace-Moselle adds Good Friday and 26 December."""
    return d in _holidays_of_year(d.year, alsace_moselle)


def is_working_day(d: date, *, alsace_moselle: bool = False) -> bool:
    return d.weekday() < 5 and not is_public_holiday(d, alsace_moselle=alsace_moselle)


def add_working_days(d: date, n: int, *, alsace_moselle: bool = False) -> date:
    """The date `n` working days after `d` (before it if `n` < 0). `n` == 0 returns `d` unchanged."""
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    current = d
    while remaining:
        current += step
        if is_working_day(current, alsace_moselle=alsace_moselle):
            remaining -= 1
    return current


def working_days_before(d: date, n: int, *, alsace_moselle: bool = False) -> date:
    """Registration deadline: `n` working days before `d` (2 before a Tuesday is the previous Friday)."""
    if n < 0:
        raise ValidationFailed("Le délai d'inscription doit être positif ou nul.", field="registration_days")
    return add_working_days(d, -n, alsace_moselle=alsace_moselle)


# -------------------------------------------------------------------------------------- recurrence


def _expand_dates(rule: SessionRule, first: date, last: date) -> list[date]:
    dtstart = datetime.combine(rule.anchor or first, rule.start_time)
    parsed = _parse_rule(rule.rrule, dtstart)
    window_start = datetime.combine(first, time.min)
    window_end = datetime.combine(last, time.max)
    return [occ.date() for occ in parsed.between(window_start, window_end, inc=True)]


def occurrences(
    rule: SessionRule,
    *,
    start: date,
    end: date,
    alsace_moselle: bool = False,
    exceptions: Mapping[date, date | None] | None = None,
) -> list[datetime]:
    """Session start times in [start, end] (inclusive dates), timezone-aware in the rule's zone.

    Public holidays are skipped. `exceptions` maps a scheduled date to None (cancelled) or to the date
    it is moved to; an explicit move wins over the holiday rule, and a session moved into the window
    from outside it is included.
    """
    if end < start:
        raise ValidationFailed("La fin de la période précède son début.", field="end")
    exc = dict(exceptions or {})
    first = min([start, *exc.keys()])
    last = max([end, *exc.keys()])
    days: set[date] = set()
    for scheduled in _expand_dates(rule, first, last):
        if scheduled in exc:
            moved = exc[scheduled]
            if moved is not None:
                days.add(moved)
        elif not is_public_holiday(scheduled, alsace_moselle=alsace_moselle):
            days.add(scheduled)
    return [datetime.combine(d, rule.start_time, tzinfo=rule.zone) for d in sorted(days) if start <= d <= end]


# ---------------------------------------------------------------------------------------- iCalendar

SessionEntry = tuple[str, datetime, datetime, str, str]
"""(uid, start, end, location, video link); start and end are timezone-aware."""


def board_title(board_name: str) -> str:
    """The event title of a board's session: "RCP Sein" — "RCP" is not repeated when the name starts with it."""
    name = " ".join(board_name.split())
    first = name.split(" ", 1)[0].rstrip(".:").upper() if name else ""
    return name if first == "RCP" else f"RCP {name}".strip()


def _event(board_name: str, entry: SessionEntry, stamp: datetime) -> Event:
    uid, start, end, location, video_link = entry
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("Les horaires de séance doivent porter un fuseau horaire.", field="start")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("summary", board_title(board_name))
    event.add("dtstart", start.astimezone(PARIS))
    event.add("dtend", end.astimezone(PARIS))
    if location:
        event.add("location", location)
    description = f"Réunion de concertation pluridisciplinaire — {board_name}"
    if video_link:
        description += f"\nVisioconférence : {video_link}"
        event.add("url", video_link)
    event.add("description", description)
    return event


def board_calendar_ics(
    board_name: str, sessions: Sequence[SessionEntry], *, stamp: datetime | None = None
) -> bytes:
    """An iCalendar file (RFC 5545) for one board: one VEVENT per session, with a generated VTIMEZONE."""
    return sessions_calendar_ics(board_title(board_name), [(board_name, entry) for entry in sessions], stamp=stamp)


def sessions_calendar_ics(calendar_name: str, sessions: Sequence[tuple[str, SessionEntry]], *,
                          stamp: datetime | None = None) -> bytes:
    """An iCalendar file (RFC 5545) of the sessions of several boards: (board name, session entry) each."""
    cal = Calendar()
    cal.add("prodid", "-//dcc//Dossier Communicant de Cancérologie//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar_name)
    cal.add("x-wr-timezone", "Europe/Paris")
    now = stamp or datetime.now(UTC)
    for board_name, entry in sessions:
        cal.add_component(_event(board_name, entry, now))
    cal.add_missing_timezones()
    return cal.to_ical()
