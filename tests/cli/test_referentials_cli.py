"""`dcc db upgrade` loads the baseline; `dcc referentials import` prints the diff report of an update."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.services.test_referentials import V1, V2, svs

ROOT = Path(__file__).resolve().parents[2]


def dcc(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DCC_VAR_DIR": str(tmp_path / "var"), "DCC_DATABASE_URL": "",
                        "PYTHONPATH": str(ROOT), "DCC_LOG_LEVEL": "ERROR"}
    return subprocess.run([sys.executable, "-m", "dcc.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)


def test_upgrade_import_and_diff_report(tmp_path: Path) -> None:
    up = dcc(tmp_path, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert "référentiel de base : 30 jeu(x) de valeurs chargé(s)" in up.stdout
    (tmp_path / "v1.xml").write_text(svs("JDV_Tumeur_CISIS", "2030-01-01", V1), encoding="utf-8")
    (tmp_path / "v2.xml").write_text(svs("JDV_Tumeur_CISIS", "2030-06-01", V2), encoding="utf-8")
    first = dcc(tmp_path, "referentials", "import", str(tmp_path / "v1.xml"))
    assert first.returncode == 0, first.stderr
    assert "JDV_Tumeur_CISIS version 2030-01-01T00:00:00+01:00 du 01/01/2030 : 4 codes" in first.stdout
    second = dcc(tmp_path, "referentials", "import", str(tmp_path / "v2.xml"))
    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert "  + C43.9" in lines and "  - C34.1" in lines and "  - C62.9" in lines
    assert "  ~ C50.9 : « Tumeur maligne du sein » → « Tumeur maligne du sein, sans précision »" in lines
    bad = dcc(tmp_path, "referentials", "import", str(tmp_path / "absent"))
    assert bad.returncode == 2 and "n'existe pas" in bad.stderr
    versions = dcc(tmp_path, "referentials", "versions")
    assert any(line.startswith("JDV_Tumeur_CISIS\t2030-06-01") for line in versions.stdout.splitlines())
