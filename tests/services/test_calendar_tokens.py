"""Calendar subscriptions on SQLite and PostgreSQL: a revocable read-only token per user, the feed of their
boards' sessions, titles without repeated words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.domain.calendar import board_title
from dcc.errors import NotFound
from dcc.services import calendar_tokens
from dcc.services.seed import seed_users

STAMP = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def users(board_world: Any) -> Any:
    with board_world.db.uow() as uow:
        regions = list(uow.session.scalars(select(m.Region.code)).all())
        seed_users(uow, region_codes=regions)
        uow.commit()
    return board_world


def summaries(ics: bytes) -> list[str]:
    return [str(e["SUMMARY"]) for e in Calendar.from_ical(ics).walk("VEVENT")]


@pytest.mark.parametrize(("name", "title"), [("Sein", "RCP Sein"), ("RCP Sein", "RCP Sein"),
                                             ("rcp  Thorax", "rcp Thorax"), ("Onco-RCP", "RCP Onco-RCP")])
def test_board_title_never_repeats_rcp(name: str, title: str) -> None:
    assert board_title(name) == title


def test_token_feed_then_revocation(users: Any) -> None:
    w = users
    with w.db.uow() as uow:
        token = calendar_tokens.create_token(uow, login="coord-a")
    with w.db.uow() as uow:
        stored = uow.session.scalars(select(m.CalendarToken.token_hash)).all()
        assert token not in stored and len(stored) == 1  # only its hash is kept
        ics = calendar_tokens.feed(uow, token=token, stamp=STAMP)
    titles = summaries(ics)
    assert titles and "RCP Sein" in titles
    assert not [t for t in titles if t.startswith("RCP RCP")]
    with w.db.uow() as uow:
        assert calendar_tokens.revoke_tokens(uow, login="coord-a") == 1
    with w.db.uow() as uow, pytest.raises(NotFound):
        calendar_tokens.feed(uow, token=token, stamp=STAMP)
    assert w.audit("calendar_token.revoke")


def test_a_new_token_revokes_the_previous_one_and_unknown_tokens_get_nothing(users: Any) -> None:
    w = users
    with w.db.uow() as uow:
        first = calendar_tokens.create_token(uow, login="coord-a")
    with w.db.uow() as uow:
        second = calendar_tokens.create_token(uow, login="coord-a")
    with w.db.uow() as uow:
        assert calendar_tokens.feed(uow, token=second, stamp=STAMP)
        for bad in (first, "inconnu", second + "x"):
            with pytest.raises(NotFound):
                calendar_tokens.feed(uow, token=bad, stamp=STAMP)


def test_a_physicians_feed_has_only_the_boards_they_sit_on(users: Any) -> None:
    w = users
    with w.db.uow() as uow:
        phys = uow.session.scalars(select(m.AppUser).where(m.AppUser.role == "physician")
                                   .order_by(m.AppUser.login)).first()
        assert phys is not None
        member_of = {b for (b,) in uow.session.execute(select(m.Board.name).join(
            m.BoardMember, m.BoardMember.board_id == m.Board.id).where(
            m.BoardMember.professional_id == phys.professional_id)).all()}
        login = phys.login
    with w.db.uow() as uow:
        token = calendar_tokens.create_token(uow, login=login)
    with w.db.uow() as uow:
        titles = set(summaries(calendar_tokens.feed(uow, token=token, stamp=STAMP)))
    assert titles and titles <= {board_title(name) for name in member_of}
