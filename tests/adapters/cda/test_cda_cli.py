"""`dcc documents validate` (Typer sub-app tested directly)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dcc.adapters.cda.builder import build_frcp
from dcc.adapters.cda.validate import find_kit
from dcc.bench.samples import sample_frcp
from dcc.cli.documents import app

runner = CliRunner()


@pytest.mark.integration
def test_validate_ok_and_failures(tmp_path: Path) -> None:
    kit = find_kit()
    if kit is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable")
    good = tmp_path / "frcp.xml"
    good.write_bytes(build_frcp(sample_frcp()))
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{good}: OK"
    example = kit / "ExemplesCDA" / "CANCER-FRCP_2022.01_Appareil.xml"
    result = runner.invoke(app, ["validate", str(good), str(example)])
    assert result.exit_code == 1
    assert "G15_10/SCH10" in result.output
    assert "CI-SIS_ModelesDeContenusCDA.sch" in result.output


def test_validate_without_kit_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "frcp.xml"
    doc.write_bytes(b"<x/>")
    monkeypatch.setattr("dcc.adapters.cda.validate.find_kit", lambda: None)
    result = runner.invoke(app, ["validate", str(doc)])
    assert result.exit_code == 2
    assert "introuvable" in result.output
