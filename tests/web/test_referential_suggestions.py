"""The registration form's coded fields get suggestions from the referential search (htmx datalist) and keep
their live validation."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from dcc.services import referentials
from tests.web import test_pages as pages

app = pages.app  # the page tests' fixture
as_user = pages.as_user  # the page tests' fixture
template_dir = pages.template_dir  # the page tests' fixture


def _baseline(app: Any) -> None:
    """The package's baseline referentials, as `dcc db upgrade` loads them."""
    with app.state.database.uow() as uow:
        referentials.load_baseline(uow, actor="test", today=date(2026, 3, 2))


def test_registration_form_suggests_topographies_from_the_referential(as_user: Any, app: Any) -> None:
    _baseline(app)
    client = as_user("coord-a")
    form = client.get("/coordination/dossiers/nouveau")
    assert form.status_code == 200
    field = re.search(r'<input id="f-topography_code"[^>]*>', form.text, re.S)
    assert field and 'list="suggestions-topography_code"' in field.group(0)
    assert 'hx-post="/coordination/dossiers/verifier"' in field.group(0)  # live validation kept
    assert '<datalist id="suggestions-topography_code"></datalist>' in form.text
    assert 'hx-get="/coordination/referentiels/suggestions/topography_code"' in form.text
    r = client.get("/coordination/referentiels/suggestions/topography_code", params={"topography_code": "SEIN"},
                   headers={"HX-Request": "true"})
    assert r.status_code == 200
    options = re.findall(r'<option value="([^"]+)">([^<]+)</option>', r.text)
    assert ("C50.9", "C50.9 — Tumeur maligne du sein, sans précision") in options, r.text
    breast = {"C50", "C50.1", "C50.2", "C50.3", "C50.4", "C50.5", "C50.6", "C50.8", "C50.9"}
    assert breast <= {code for code, _ in options} and all("sein" in label.lower() for _, label in options)
    # by code prefix, and accent- and case-insensitive
    r = client.get("/coordination/referentiels/suggestions/topography_code", params={"topography_code": "c50"})
    assert r.status_code == 200 and 'value="C50' in r.text
    # too short a query, an unknown field
    r = client.get("/coordination/referentiels/suggestions/topography_code", params={"topography_code": "s"})
    assert r.status_code == 200 and "<option" not in r.text
    assert client.get("/coordination/referentiels/suggestions/nom").status_code == 404


def test_morphology_suggestions_and_roles(as_user: Any, app: Any) -> None:
    _baseline(app)
    client = as_user("coord-a")
    r = client.get("/coordination/referentiels/suggestions/morphology_code", params={"morphology_code": "8500"})
    assert r.status_code == 200 and 'value="8500/3"' in r.text
    physician = as_user("phys-a1")
    assert physician.get("/coordination/referentiels/suggestions/topography_code",
                         params={"topography_code": "sein"}).status_code in (403, 303)
