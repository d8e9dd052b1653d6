"""The regional monitor's pages through the test client: indicators with filters and CSV export, deliveries,
flow runs, audit trail, alerts; and break-the-glass from a physician's "Introuvable" page."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.web.test_pages import app, as_user, csrf, template_dir  # noqa: F401  (shared fixtures)


def test_dashboard_filters_and_csv_export(as_user: Any) -> None:
    client = as_user("monitor-a")
    page = client.get("/suivi/?du=2025-09-01&au=2026-03-02")
    assert page.status_code == 200
    assert "Par région, établissement et RCP" in page.text
    assert 'href="/suivi/indicateurs.csv?du=2025-09-01&amp;au=2026-03-02"' in page.text
    export = client.get("/suivi/indicateurs.csv?du=2025-09-01&au=2026-03-02")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["Indicateurs du 01/09/2025 au 02/03/2026"]
    levels = {line[0] for line in lines[2:]}
    assert {"Région", "Établissement", "RCP", "Total"} <= levels
    # the page's total of held sessions is the CSV's
    total = lines[-1]
    assert f'id="kpi-seances">{total[4]}<' in page.text
    # one board only: its CSV line is the only board line
    board_line = next(line for line in lines[2:] if line[0] == "RCP")
    board_id = page.text.split('id="ind-board-')[1].split('"')[0]
    only = client.get(f"/suivi/indicateurs.csv?du=2025-09-01&au=2026-03-02&rcp={board_id}")
    board_lines = [line for line in csv.reader(io.StringIO(only.content.decode("utf-8-sig")), delimiter=";")
                   if line and line[0] == "RCP"]
    assert board_lines == [board_line]


def test_dashboard_refuses_bad_filters_in_french(as_user: Any) -> None:
    client = as_user("monitor-a")
    answer = client.get("/suivi/?du=2026-03-01&au=2026-01-01")
    assert answer.status_code == 422 and "La date de fin précède la date de début." in answer.text
    assert client.get("/suivi/?du=pas-une-date").status_code == 422
    assert "hors de votre périmètre" in client.get("/suivi/?rcp=inconnue").text
    assert client.get("/suivi/indicateurs.csv?rcp=inconnue").status_code == 422
