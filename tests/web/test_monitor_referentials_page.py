"""The monitor's page of the referentials in force: each version, its effective date and what its import
changed (after two versions of a value set), the regional guidelines; refused to physicians."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from dcc.adapters.referentials import read_path
from dcc.services import referentials as svc
from tests.services.test_referentials import V1, V2, svs
from tests.web.test_pages import app, as_user, csrf, template_dir  # noqa: F401  (shared fixtures)


def _import(app: Any, path: Path) -> None:
    with app.state.database.uow() as uow:
        svc.import_referentials(uow, read_path(path), actor="coord-a", today=date(2025, 3, 3))


def test_monitor_sees_each_version_in_force_and_what_its_import_changed(app: Any, as_user: Any,
                                                                         tmp_path: Path) -> None:
    for name, revision, concepts in (("v1.xml", "2024-06-01", V1), ("v2.xml", "2025-02-01", V2)):
        path = tmp_path / name
        path.write_text(svs("JDV_Tumeur_Essai", revision, concepts), encoding="utf-8")
        _import(app, path)
    client = as_user("monitor-a")
    page = client.get("/suivi/referentiels")
    assert page.status_code == 200
    row = re.search(r'<tr id="ref-JDV_Tumeur_Essai">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    cells = re.sub(r"\s+", " ", row.group(1))
    # V1 → V2: C43.9 added; C34.1 (dateFin) and C62.9 (absent) retired; C50.9 relabelled; 3 codes in force
    assert "2025-02-01T00:00:00+01:00" in cells
    assert "1 ajouté(s), 2 retiré(s), 1 renommé(s)" in cells
    assert "<td>3</td>" in cells and "par coord-a" in cells
    # the package's baseline stays listed, as first versions
    assert page.text.count('<tr id="ref-') > 1 and "première version chargée" in page.text
    # a baseline value set whose display name is its file name shows its system name once, not the file
    baseline = re.search(r'<tr id="ref-JDV_J07_XdsTypeCode_CISIS">(.*?)</th>', page.text, re.S)
    assert baseline and ".tabs" not in baseline.group(1) and "<small>" not in baseline.group(1), baseline
    assert 'href="/suivi/referentiels" aria-current="page"' in page.text


def test_physicians_do_not_see_the_monitor_page(as_user: Any) -> None:
    assert as_user("phys-a1").get("/suivi/referentiels").status_code == 403
