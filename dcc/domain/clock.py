"""Time: instants are stored and compared in UTC; every date and time a person reads is Europe/Paris.

One place converts an instant to Paris local time (`paris`) and formats it for French readers
(`fr_date`, `fr_time`, `fr_datetime`); the PDF and page templates register them as Jinja filters, services
use them in their French messages. A naive datetime is a UTC instant (the database's convention,
`UTCDateTime`).

Board acts happen in time order: attendance, decisions and validation are refused before the session
starts (`not_started`), and a document is neither created nor authenticated before the meeting it reports.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from dcc.domain.calendar import PARIS

__all__ = ["PARIS", "fr_date", "fr_datetime", "fr_time", "not_started", "now_utc", "paris", "paris_day"]


def now_utc() -> datetime:
    """The real time (aware, UTC)."""
    return datetime.now(UTC)


def aware(value: datetime, *, name: str = "now") -> datetime:
    """`value` itself when it carries a time zone; a naive instant is a programming error here."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def paris(value: datetime) -> datetime:
    """The same instant in Europe/Paris local time (a naive value is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(PARIS)


def paris_day(value: date | datetime) -> date:
    """The Paris calendar day of an instant (a date is returned as is)."""
    return paris(value).date() if isinstance(value, datetime) else value


def fr_date(value: date | datetime | None) -> str:
    """`03/12/2026` (the Paris day of an instant); empty for None."""
    if value is None:
        return ""
    return paris_day(value).strftime("%d/%m/%Y")


def fr_time(value: datetime | None) -> str:
    """`16:00` in Paris; empty for None."""
    return "" if value is None else paris(value).strftime("%H:%M")


def fr_datetime(value: datetime | None) -> str:
    """`03/12/2026 à 16:00` in Paris; empty for None."""
    return "" if value is None else paris(value).strftime("%d/%m/%Y à %H:%M")


def not_started(starts_at: datetime, now: datetime) -> bool:
    """True when the instant `now` is before the session's start (both compared as instants)."""
    start = starts_at if starts_at.tzinfo is not None else starts_at.replace(tzinfo=UTC)
    return aware(now) < start
