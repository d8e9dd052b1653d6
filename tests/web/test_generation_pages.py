"""The generation dead letters on the monitor pages: listed in scope with their French reason (an insert on
the indicators page, loaded by htmx, and a full page), requeued by the board's coordinator only."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.bootstrap import cda_builder
from dcc.services import generation
from tests.services.test_generation_queue import FailingPdf
from tests.web.test_pages import app, as_user, csrf, template_dir  # noqa: F401  (the pages' fixtures)


def _dead_letters(web_app: Any) -> list[str]:
    db = web_app.state.database
    out = generation.generate_pending_documents(db, cda=cda_builder(), pdf=FailingPdf(failures=10_000),
                                                policy=generation.GenerationPolicy(max_attempts=1))
    assert out.dead and out.dead == len(out.failures)
    return sorted(out.failures)


def test_monitors_see_the_dead_letters_and_only_a_coordinator_requeues(as_user: Any, app: Any) -> None:  # noqa: F811
    cases = _dead_letters(app)
    monitor = as_user("monitor-a")
    dashboard = monitor.get("/suivi/")
    assert 'hx-get="/suivi/generation/encart"' in dashboard.text
    insert = monitor.get("/suivi/generation/encart")
    assert insert.status_code == 200 and "<html" not in insert.text
    count = re.search(r"(\d+) dossier\(s\) en lettre morte", insert.text)
    assert count, insert.text
    page = monitor.get("/suivi/generation")
    rows = re.findall(r'<li id="generation-([0-9a-f-]{36})">', page.text)
    assert 0 < len(rows) == int(count.group(1)) <= len(cases)
    assert "Génération abandonnée après 1 tentative(s) : Erreur interne pendant la génération (RuntimeError)." \
        in page.text
    assert "/relancer" not in page.text and "Seul un coordinateur peut relancer" in page.text
    assert monitor.post(f"/suivi/generation/{rows[0]}/relancer",
                        data={"csrf_token": csrf(page.text)}).status_code == 403
    assert as_user("phys-a1").get("/suivi/generation").status_code == 403

    coordinator = as_user("coord-a")
    page = coordinator.get("/suivi/generation")
    mine = re.findall(r'<form method="post" action="/suivi/generation/([0-9a-f-]{36})/relancer">', page.text)
    assert mine
    answer = coordinator.post(f"/suivi/generation/{mine[0]}/relancer", data={"csrf_token": csrf(page.text)})
    assert answer.status_code == 303 and "remise%20en%20file" in answer.headers["location"]
    with app.state.database.uow() as uow:
        task = uow.session.scalars(select(m.GenerationTask).where(m.GenerationTask.id == mine[0])).one()
        assert (task.state, task.attempts) == ("pending", 0)
    again = coordinator.post(f"/suivi/generation/{mine[0]}/relancer", data={"csrf_token": csrf(page.text)})
    assert "Relance%20refus%C3%A9e" in again.headers["location"]
