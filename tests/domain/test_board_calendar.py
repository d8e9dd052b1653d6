from datetime import UTC, date, datetime, time, timedelta

import pytest
from icalendar import Calendar

from dcc.domain.calendar import (
    PARIS,
    SessionRule,
    add_working_days,
    board_calendar_ics,
    is_public_holiday,
    occurrences,
    validate_rrule,
    working_days_before,
)
from dcc.errors import ValidationFailed

TUESDAY_NOON = SessionRule("FREQ=WEEKLY;BYDAY=TU", time(12, 30), 90)


def test_weekly_rule_keeps_local_time_across_march_dst():
    got = occurrences(TUESDAY_NOON, start=date(2025, 3, 18), end=date(2025, 4, 2))
    assert [d.date() for d in got] == [date(2025, 3, 18), date(2025, 3, 25), date(2025, 4, 1)]
    assert all(d.hour == 12 and d.minute == 30 and d.tzinfo == PARIS for d in got)
    assert [d.utcoffset() for d in got] == [timedelta(hours=1), timedelta(hours=1), timedelta(hours=2)]
    assert got[-1].astimezone(UTC).hour == 10


def test_weekly_rule_keeps_local_time_across_october_dst():
    got = occurrences(TUESDAY_NOON, start=date(2025, 10, 21), end=date(2025, 10, 28))
    assert [d.utcoffset() for d in got] == [timedelta(hours=2), timedelta(hours=1)]
    assert {(d.hour, d.minute) for d in got} == {(12, 30)}


def test_first_and_third_thursday():
    rule = SessionRule("FREQ=MONTHLY;BYDAY=1TH,3TH", time(17, 0))
    got = occurrences(rule, start=date(2025, 1, 1), end=date(2025, 2, 28))
    assert [d.date() for d in got] == [
        date(2025, 1, 2),
        date(2025, 1, 16),
        date(2025, 2, 6),
        date(2025, 2, 20),
    ]


def test_national_holidays_are_skipped():
    monday = SessionRule("FREQ=WEEKLY;BYDAY=MO", time(12, 30))
    got = [d.date() for d in occurrences(monday, start=date(2025, 4, 14), end=date(2025, 4, 28))]
    assert date(2025, 4, 21) not in got  # Lundi de Pâques
    thursday = SessionRule("FREQ=WEEKLY;BYDAY=TH", time(12, 30))
    got = [d.date() for d in occurrences(thursday, start=date(2025, 12, 22), end=date(2026, 1, 2))]
    assert got == []  # 25 December and 1 January


def test_alsace_moselle_good_friday_and_26_december():
    friday = SessionRule("FREQ=WEEKLY;BYDAY=FR", time(12, 30))
    window = {"start": date(2025, 4, 14), "end": date(2025, 4, 20)}
    assert [d.date() for d in occurrences(friday, **window)] == [date(2025, 4, 18)]
    assert occurrences(friday, **window, alsace_moselle=True) == []
    dec = {"start": date(2025, 12, 26), "end": date(2025, 12, 26)}
    assert len(occurrences(friday, **dec)) == 1
    assert occurrences(friday, **dec, alsace_moselle=True) == []
    assert is_public_holiday(date(2025, 12, 26), alsace_moselle=True)
    assert not is_public_holiday(date(2025, 12, 26))


def test_cancelled_and_moved_sessions():
    got = occurrences(
        TUESDAY_NOON,
        start=date(2025, 6, 1),
        end=date(2025, 6, 30),
        exceptions={date(2025, 6, 10): None, date(2025, 6, 17): date(2025, 6, 19)},
    )
    assert [d.date() for d in got] == [date(2025, 6, 3), date(2025, 6, 19), date(2025, 6, 24)]
    assert got[1].hour == 12


def test_session_moved_into_the_window_from_outside():
    got = occurrences(
        TUESDAY_NOON,
        start=date(2025, 6, 2),
        end=date(2025, 6, 8),
        exceptions={date(2025, 5, 27): date(2025, 6, 5)},
    )
    assert [d.date() for d in got] == [date(2025, 6, 3), date(2025, 6, 5)]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEKLY",
        "BYDAY=TU",
        "",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=HOURLY",
        "FREQ=WEEKLY;FOO=1",
        "FREQ=WEEKLY;COUNT=2;UNTIL=20250101",
    ],
)
def test_malformed_rule_is_rejected_in_french(rule):
    with pytest.raises(ValidationFailed) as err:
        SessionRule(rule, time(12, 30))
    assert err.value.field == "recurrence"
    assert "règle de récurrence" in err.value.message


def test_validate_rrule_accepts_prefix():
    assert validate_rrule("RRULE:FREQ=WEEKLY;BYDAY=TU") == "RRULE:FREQ=WEEKLY;BYDAY=TU"


def test_working_days():
    # Tuesday 22 April 2025: Monday 21 is Easter Monday, so 2 working days before is Thursday 17
    assert working_days_before(date(2025, 4, 22), 2) == date(2025, 4, 17)
    assert working_days_before(date(2025, 3, 11), 2) == date(2025, 3, 7)
    assert add_working_days(date(2025, 4, 17), 1) == date(2025, 4, 18)
    assert add_working_days(date(2025, 4, 17), 1, alsace_moselle=True) == date(2025, 4, 22)
    assert add_working_days(date(2025, 4, 22), -2) == date(2025, 4, 17)


def test_ics_export():
    start = datetime(2025, 3, 25, 12, 30, tzinfo=PARIS)
    ics = board_calendar_ics(
        "Thorax",
        [("s1@dcc", start, start + timedelta(minutes=90), "Salle 2", "https://visio.example/rcp")],
        stamp=datetime(2025, 1, 1, tzinfo=UTC),
    )
    text = ics.decode()
    assert "DTSTART;TZID=Europe/Paris:20250325T123000" in text
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Paris" in text
    cal = Calendar.from_ical(ics)
    event = next(iter(cal.walk("VEVENT")))
    assert str(event["UID"]) == "s1@dcc"
    assert str(event["LOCATION"]) == "Salle 2"
    assert "https://visio.example/rcp" in str(event["DESCRIPTION"])
