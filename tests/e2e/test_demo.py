"""`dcc demo` end to end: a real subprocess, SQLite, Prefect's local mode, the simulator. Checks the acceptance
points of the walking-skeleton issue on the files written by the session's demo run (tests/e2e/conftest.py:
40 patients, national record over mutual TLS with injected faults); the plain path a newcomer runs (HTTP, no
faults) is the second run's, on a copy of the first's folder, and the refusals of bad input run their own."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pikepdf
import pytest
from lxml import etree

from dcc.adapters.cda.validate import KitValidator, find_kit
from dcc.adapters.signing.pades import verify_pdf
from tests import pdfsig as pdfsig_tool
from tests.e2e.conftest import DEMO_PATIENTS, DEMO_SEED, DemoRun, copy_var, read_only

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DCC = [sys.executable, "-m", "dcc.cli"]


def run_dcc(args: list[str], var_dir: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DCC_VAR_DIR": str(var_dir), "DCC_DATABASE_URL": ""}
    return subprocess.run([*DCC, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def demo(demo_run: DemoRun) -> tuple[dict, Path, Path]:
    """The session's demo run (tests/e2e/conftest.py): its summary, its --out folder, its var folder."""
    return demo_run.summary, demo_run.out, demo_run.var


def test_summary_shape(demo: tuple[dict, Path, Path]) -> None:
    summary, _, _ = demo
    assert summary["seed"] == DEMO_SEED
    assert summary["regions"] == ["A", "B"]
    assert summary["cases"] == DEMO_PATIENTS and summary["sessions"] > 0
    kinds = {d["kind"] for d in summary["documents"]}
    assert kinds == {"FRCP", "PPS"}
    for d in summary["documents"]:
        assert set(d) >= {"kind", "case_id", "unique_id", "version", "cda_path", "pdf_path", "sha256", "status"}
    for entry in summary["national_record"]:
        assert set(entry) >= {"unique_id", "patient_id", "sha256", "type_code", "confidentiality", "submissions"}


def test_every_delivered_document_is_in_the_national_record_once(demo: tuple[dict, Path, Path]) -> None:
    summary, out, _ = demo
    national = {e["unique_id"]: e for e in summary["national_record"]}
    assert len(national) == len(summary["national_record"])  # no uniqueId twice
    delivered = [d for d in summary["documents"] if d["status"] == "delivered"]
    assert delivered, "nothing delivered"
    for d in delivered:
        cda_sha = hashlib.sha256((out / d["cda_path"]).read_bytes()).hexdigest()
        assert d["sha256"] == cda_sha
        assert national[d["unique_id"]]["sha256"] == cda_sha
    assert all(d["status"] in ("delivered", "superseded") for d in summary["documents"]), summary["errors"]


def test_documents_are_also_mailed_to_the_correspondents(demo: tuple[dict, Path, Path]) -> None:
    """The demo's local MSSanté relay received the mails (one per signed document naming a recipient)."""
    summary, _, _ = demo
    delivery = summary["stages"]["delivery"]
    assert 0 < delivery["mssante_messages"] <= delivery["delivered"]
    assert delivery["dead_letters"] == 0


def test_every_pdf_is_pdfa_and_signed_over_the_whole_file(demo: tuple[dict, Path, Path]) -> None:
    summary, out, var = demo
    ca = var / "pki" / "ca.pem"
    for d in summary["documents"]:
        data = (out / d["pdf_path"]).read_bytes()
        with pikepdf.open(out / d["pdf_path"]) as pdf, pdf.open_metadata() as meta:
            assert meta.get("pdfaid:part") == "1"
        result = verify_pdf(data, trust_roots=[ca])
        assert result.ok, (d["pdf_path"], result.summary_fr())


@pytest.mark.skipif(not pdfsig_tool.available(), reason=pdfsig_tool.SKIP_REASON)
def test_every_signature_is_accepted_by_pdfsig(demo: tuple[dict, Path, Path], tmp_path: Path) -> None:
    """The independent verifier (poppler + NSS, trusting only the demo CA, with its CRL) agrees."""
    summary, out, var = demo
    nss = pdfsig_tool.nss_database(tmp_path / "nss", trust_roots=[var / "pki" / "ca.pem"])
    for d in summary["documents"]:
        report = pdfsig_tool.pdfsig((out / d["pdf_path"]).read_bytes(), nss_dir=nss, workdir=tmp_path)
        assert report.ok, (d["pdf_path"], report.output)


@pytest.mark.skipif(find_kit() is None, reason="ANS CDA kit not found (set DCC_ANS_KIT): conformance not checked")
def test_every_cda_passes_the_ans_kit(demo: tuple[dict, Path, Path]) -> None:
    summary, out, _ = demo
    kit = find_kit()
    assert kit is not None
    validator = KitValidator(kit)
    failures = {}
    for d in summary["documents"]:
        report = validator.validate((out / d["cda_path"]).read_bytes())
        if not report.ok:
            failures[d["cda_path"]] = [f.message for f in report.failures][:5]
    assert not failures


def _hl7_instant(value: str) -> datetime:
    """An HL7 TS with its UTC offset (YYYYMMDDHHMMSS+ZZZZ), as an aware instant; a bare time is refused."""
    assert len(value) == 19 and value[14] in "+-", f"timestamp without its offset: {value!r}"
    return datetime.strptime(value, "%Y%m%d%H%M%S%z")


def test_no_document_is_dated_or_authenticated_before_its_meeting(demo: tuple[dict, Path, Path]) -> None:
    """Time runs forward: every CDA's creation (effectiveTime) is at or after the meeting it reports
    (encompassingEncounter), and its authentication (legalAuthenticator/time) after both, compared as
    instants with their offsets; the demo held only meetings of the past, so nothing is in the future."""
    summary, out, _ = demo
    ns = {"h": "urn:hl7-org:v3"}
    end = datetime.now(UTC)
    assert summary["documents"]
    for d in summary["documents"]:
        root = etree.parse(str(out / d["cda_path"])).getroot()
        encounter = root.xpath("string(h:componentOf/h:encompassingEncounter/h:effectiveTime/h:low/@value)",
                               namespaces=ns)
        created = _hl7_instant(root.xpath("string(h:effectiveTime/@value)", namespaces=ns))
        signed = _hl7_instant(root.xpath("string(h:legalAuthenticator/h:time/@value)", namespaces=ns))
        if len(encounter) == 8:  # a day (the PPS names the day of the board): its start in Paris
            meeting = datetime.strptime(encounter, "%Y%m%d").replace(tzinfo=ZoneInfo("Europe/Paris"))
        else:
            meeting = _hl7_instant(encounter)
        assert meeting <= created, (d["cda_path"], encounter, created)
        assert meeting <= signed and created <= signed, (d["cda_path"], encounter, created, signed)
        assert signed <= end, (d["cda_path"], signed)


def _pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.replace("\u00a0", " ").split())


def test_every_fiche_rcp_prints_its_meeting_in_paris_time(demo: tuple[dict, Path, Path]) -> None:
    """The meeting's instant (the CDA's encompassingEncounter, with its offset) is printed in the PDF as
    Europe/Paris wall-clock time."""
    summary, out, _ = demo
    ns = {"h": "urn:hl7-org:v3"}
    frcps = [d for d in summary["documents"] if d["kind"] == "FRCP"]
    assert frcps
    for d in frcps:
        root = etree.parse(str(out / d["cda_path"])).getroot()
        meeting = _hl7_instant(root.xpath(
            "string(h:componentOf/h:encompassingEncounter/h:effectiveTime/h:low/@value)", namespaces=ns))
        text = _pdf_text(out / d["pdf_path"])
        paris = meeting.astimezone(ZoneInfo("Europe/Paris"))
        assert f"{paris:%d/%m/%Y} à {paris:%H:%M}" in text, (d["pdf_path"], paris)
        utc = meeting.astimezone(UTC)
        if utc.strftime("%H:%M") != paris.strftime("%H:%M"):
            assert f"{utc:%d/%m/%Y} à {utc:%H:%M}" not in text, (d["pdf_path"], utc)


def test_no_fiche_rcp_states_a_decision_taken_without_quorum(demo: tuple[dict, Path, Path]) -> None:
    """INCa: without quorum there is no board decision. The demo holds some sessions without quorum; none of
    their cases has a document, and every Fiche RCP records a quorum met (ORG-125 = ORG-126)."""
    summary, out, var = demo
    assert summary["stages"]["meeting"]["quorum_not_met"] > 0, "no session without quorum: scenario not run"
    ns = {"h": "urn:hl7-org:v3"}
    for d in summary["documents"]:
        if d["kind"] != "FRCP":
            continue
        root = etree.parse(str(out / d["cda_path"])).getroot()
        values = root.xpath("//h:observation[h:code/@code='ORG-125']/h:value/@code", namespaces=ns)
        assert values == ["ORG-126"], (d["cda_path"], values)
    with read_only(var / "dcc.sqlite3") as conn:
        without_quorum = conn.execute(
            "select count(*) from document d join decision x on x.case_id = d.case_id where x.quorum != 'met'"
        ).fetchone()[0]
        represented = conn.execute("select count(*) from rcp_case where status = 'represented'").fetchone()[0]
    assert without_quorum == 0 and represented > 0


def test_second_run_adds_to_the_first(demo_run: DemoRun, tmp_path: Path) -> None:
    """A plain second run (`dcc demo` without options: the simulator over HTTP, no faults) on a copy of the
    session run's folder adds cases without doubles and delivers everything."""
    var = copy_var(demo_run, tmp_path / "var")
    db = var / "dcc.sqlite3"
    with closing(sqlite3.connect(db)) as conn:
        before = conn.execute("select count(*) from rcp_case").fetchone()[0]
    # the same seed: the first run's patients again. Identity vigilance refuses a second open case on a board,
    # so the demo skips a patient whose case there still awaits its discussion and registers the others
    proc = run_dcc(["demo", "--seed", str(demo_run.seed), "--patients", "3", "--json"], var)
    assert proc.returncode == 0, proc.stderr[-4000:]
    conn = sqlite3.connect(db)
    after = conn.execute("select count(*) from rcp_case").fetchone()[0]
    assert after > before
    doubles = conn.execute("select patient_id, board_id, count(*) from rcp_case where status not in "
                           "('decided', 'represented') group by patient_id, board_id having count(*) > 1").fetchall()
    assert doubles == []
    # this run's documents went to this run's simulator over plain HTTP (it starts empty: the run's correction
    # of a document the first run stored is refused there, "document remplacé" unknown)
    summary = json.loads(proc.stdout)
    assert summary["errors"] == []
    national = {e["unique_id"]: e["sha256"] for e in summary["national_record"]}
    delivered = [d for d in summary["documents"] if d["status"] == "delivered"]
    assert delivered and all(national.get(d["unique_id"]) == d["sha256"] for d in delivered), summary["documents"]
    endpoints = {row[0] for row in conn.execute("select endpoint from region")}
    assert endpoints and all(e.startswith("http://127.0.0.1:") for e in endpoints), endpoints


@pytest.mark.parametrize("args", [["--patients", "0"], ["--patients", "abc"], ["--regions", "9"]])
def test_bad_input_is_one_line_exit_2_and_no_database(tmp_path: Path, args: list[str]) -> None:
    proc = run_dcc(["demo", *args], tmp_path / "var", timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr
    assert not (tmp_path / "var" / "dcc.sqlite3").exists()


def test_unwritable_out_is_refused_before_anything(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_dcc(["demo", "--out", str(blocker / "sub")], tmp_path / "var", timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "écriture" in proc.stderr
    assert not (tmp_path / "var" / "dcc.sqlite3").exists()


def test_serving_the_demo_shows_each_demo_user_their_data_within_their_rights(
        demo_run: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make serve` after `make demo`: the same database, each demo user logged in with a dev token."""
    from fastapi.testclient import TestClient

    from dcc.config import Settings
    from dcc.services.uow import Database
    from dcc.web.app import create_app
    from dcc.web.auth import issue_dev_token

    var = copy_var(demo_run, tmp_path / "var")  # the app records every read in the audit trail
    monkeypatch.setenv("DCC_VAR_DIR", str(var))
    settings = Settings(var_dir=var)
    db = Database(settings.resolved_database_url)
    client = TestClient(create_app(database=db, settings=settings))

    def get(login: str, url: str) -> object:
        r = client.get(url, headers={"Authorization": f"Bearer {issue_dev_token(login, settings=settings)}"})
        assert r.status_code == 200, (login, url, r.text[:300])
        return r.json()

    for login in ("coord-a", "phys-a1", "phys-a2", "phys-b1", "monitor-a", "admin"):
        assert get(login, "/api/v1/boards"), login  # everybody sees a board directory
    assert get("coord-a", "/api/v1/deliveries")  # the coordinator follows the deliveries of their boards
    monitor = get("monitor-a", "/api/v1/deliveries")
    assert monitor and all(d["destination"].endswith(":A") for d in monitor)  # region A only
    assert get("phys-a1", "/api/v1/sessions") and get("phys-b1", "/api/v1/sessions")
    a_sessions = {s["id"] for s in get("phys-a1", "/api/v1/sessions")}
    b_sessions = {s["id"] for s in get("phys-b1", "/api/v1/sessions")}
    assert a_sessions and b_sessions and not (a_sessions & b_sessions)  # regions kept apart
    db.dispose()


def test_demo_with_injected_faults_delivers_everything_exactly_once(demo_run: DemoRun) -> None:
    """Acceptance of the delivery issue: failures and ambiguous drops are retried, nothing dead-lettered,
    each document stored once with the bytes written, retries counted; every request dumped."""
    assert "Traceback" not in demo_run.stderr
    summary, out = demo_run.summary, demo_run.out
    delivery = summary["stages"]["delivery"]
    assert delivery["dead_letters"] == 0 and delivery["retried"] > 0
    national = {e["unique_id"]: e for e in summary["national_record"]}
    assert len(national) == len(summary["national_record"])
    for d in summary["documents"]:
        assert d["status"] in ("delivered", "superseded")
        assert national[d["unique_id"]]["sha256"] == hashlib.sha256((out / d["cda_path"]).read_bytes()).hexdigest()
    assert len(list(demo_run.dump.iterdir())) >= len(national)
