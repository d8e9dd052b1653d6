"""Coordinator (3C) pages through the test client: role homes and `/`, the board directory, session
management with its re-assignment preview, the case list, editing and withdrawing a case, calendars."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from tests.web.test_pages import TODAY, app, as_user, csrf, template_dir  # noqa: F401  (fixtures)

__all__ = ["TODAY"]


# ------------------------------------------------------------------------------------- role homes


def test_root_sends_an_anonymous_visitor_to_the_login_page(as_user: Any) -> None:
    answer = as_user(None).get("/")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize(("who", "home"), [("coord-a", "/coordination/"), ("phys-a1", "/medecin/"),
                                           ("monitor-a", "/suivi/")])
def test_root_and_login_land_each_role_on_its_home(as_user: Any, who: str, home: str) -> None:
    client = as_user(None)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    # the login form without a target (`next` defaults to `/`), as a person arriving on the site
    answer = client.post("/login/dev", data={"csrf_token": token.group(1), "login": who})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert client.get("/").headers["location"] == home
    assert client.get(home).status_code == 200


def test_coordinator_nav_lists_the_coordinator_pages(as_user: Any) -> None:
    page = as_user("coord-a").get("/coordination/")
    nav = page.text.split('aria-label="Navigation principale"', 1)[1].split("</nav>", 1)[0]
    for href in ('href="/coordination/"', 'href="/coordination/rcp"', 'href="/coordination/dossiers"',
                 'href="/coordination/dossiers/nouveau"'):
        assert href in nav
