"""The decision form offers the regional guidelines of the case's organ (select), with a free-text fallback;
the choice is stored as the case's referential name."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.referentials import read_path
from dcc.services import referentials
from tests.web import test_pages as pages
from tests.web.test_pages import _planned_session_with_cases, csrf

app = pages.app  # the page tests' fixture
as_user = pages.as_user  # the page tests' fixture
template_dir = pages.template_dir  # the page tests' fixture


def _import_guidelines(app: Any, tmp_path: Path, case_id: str) -> None:
    with app.state.database.uow() as uow:
        board = uow.session.get(m.Board, uow.session.get(m.Case, case_id).board_id)
        organ = board.organe_code or board.appareil_code
    assert organ, "the scenario's first board has an organ"
    csv = tmp_path / "guides.csv"
    csv.write_text("referentiel;version;date;organe;url\n"
                   f"Référentiel régional de l'organe;2025;2025-04-01;{organ};\n"
                   "Soins oncologiques de support;2024;2024-01-15;;\n"
                   "Référentiel d'un autre organe;2023;2023-09-01;ORGANE-AUTRE;\n", encoding="utf-8")
    with app.state.database.uow() as uow:
        referentials.import_referentials(uow, read_path(csv), actor="test", today=date(2026, 3, 2), version="2025")


def test_decision_form_offers_the_organs_guidelines_and_stores_the_choice(as_user: Any, app: Any,
                                                                          tmp_path: Path) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    case_id = case_ids[0]
    _import_guidelines(app, tmp_path, case_id)
    client = as_user("coord-a")
    url = f"/coordination/seances/{session_id}/reunion/dossiers/{case_id}/decision"
    form = client.get(url)
    assert form.status_code == 200
    select_html = form.text.split('id="f-referential_choice"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"', select_html)
    assert options == ["", "Référentiel régional de l&#39;organe (version 2025)",
                       "Soins oncologiques de support (version 2024)"]
    assert "du 01/04/2025" in select_html and "autre organe" not in select_html
    done = client.post(url, data={"csrf_token": csrf(form.text), "case_status": "discussed",
                                  "proposal_codes": "C15632", "proposal_text": "Chimiothérapie néoadjuvante.",
                                  "conform": "oui", "referential_choice": "Référentiel régional de l'organe "
                                  "(version 2025)", "referential_name": ""})
    assert done.status_code == 303, done.text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Case, case_id).referential_name == "Référentiel régional de l'organe (version 2025)"
    again = client.get(url).text
    assert re.search(r'<option value="Référentiel régional de l&#39;organe \(version 2025\)" selected>', again)
    # free text when the guideline is not in the list
    done = client.post(url, data={"csrf_token": csrf(again), "case_status": "discussed",
                                  "proposal_codes": "C15632", "proposal_text": "Chimiothérapie néoadjuvante.",
                                  "conform": "oui", "referential_choice": "",
                                  "referential_name": "Recommandations nationales INCa 2024"})
    assert done.status_code == 303, done.text
    with app.state.database.uow() as uow:
        assert uow.session.get(m.Case, case_id).referential_name == "Recommandations nationales INCa 2024"
    again = client.get(url).text
    assert 'value="Recommandations nationales INCa 2024"' in again and " selected>" not in again.split(
        'id="f-referential_choice"')[1].split("</select>")[0]


def test_without_guidelines_the_form_keeps_free_text(as_user: Any, app: Any) -> None:
    session_id, case_ids = _planned_session_with_cases(app)
    with app.state.database.uow() as uow:
        active = uow.session.scalars(select(m.RegionalGuideline).where(m.RegionalGuideline.active.is_(True))).all()
        for g in active:
            g.active = False
        uow.commit()
    client = as_user("coord-a")
    form = client.get(f"/coordination/seances/{session_id}/reunion/dossiers/{case_ids[0]}/decision")
    assert form.status_code == 200
    assert 'id="f-referential_choice"' not in form.text
    assert "aucun référentiel régional en vigueur pour cet organe" in form.text
