"""Pure helpers of the network's indicators: months, median and 90th percentile of day counts.

The 90th percentile is the nearest-rank one (the smallest value such that at least 90 % of the values are
at or below it: the ⌈0.9·n⌉-th value in increasing order), so that it is always a delay that occurred and
can be checked by hand; the median is the middle value (the mean of the two middle ones for an even count).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import date, timedelta


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return first_of_month(first_of_month(month) + timedelta(days=32))


def months_between(start: date, end: date) -> list[date]:
    """The first days of the months from `start`'s to `end`'s, both included."""
    out, cursor = [], first_of_month(start)
    while cursor <= end:
        out.append(cursor)
        cursor = next_month(cursor)
    return out


def median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


def rate(part: int, whole: int) -> float | None:
    """part / whole, None when nothing was counted (never 0 % for "no data")."""
    return part / whole if whole else None
