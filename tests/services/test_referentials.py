"""Referential versions: import of two versions of a value set (diff report, retired codes flagged under
cases and unsigned documents), search ranking with accents, the baseline, regional guidelines."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from dcc.adapters.db import models as m
from dcc.adapters.referentials import read_path
from dcc.errors import NotFound, ValidationFailed
from dcc.services import referentials as svc
from dcc.services.seed import seed_directory, seed_patients
from dcc.services.uow import Database
from tests.services.conftest import Chain

TODAY = date(2025, 3, 3)


def svs(name: str, revision: str, concepts: list[tuple[str, str, str]]) -> str:
    """An IHE SVS file as the agency ships it: (code, displayName, dateFin)."""
    rows = "\n".join(
        f'      <Concept code="{c}" codeSystem="2.16.840.1.113883.6.3" dateFin="{end}" dateValid="20200101000000" '
        f'displayName="{label}"/>' for c, label, end in concepts)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008">
  <ValueSet displayName="{name}" effectiveDate="2020-01-01T00:00:00+01:00" id="1.2.250.1.213.1.1.5.999"
            revisionDate="{revision}T00:00:00+01:00" version="test">
    <ConceptList>
{rows}
    </ConceptList>
  </ValueSet>
</RetrieveValueSetResponse>
"""


V1 = [
    ("C50.9", "Tumeur maligne du sein", ""),
    ("C34.1", "Tumeur maligne du lobe supérieur, bronches ou poumon", ""),
    ("C15.9", "Tumeur maligne de l'œsophage", ""),
    ("C62.9", "Séminome du testicule", ""),
]
V2 = [
    ("C50.9", "Tumeur maligne du sein, sans précision", ""),  # relabelled
    ("C34.1", "Tumeur maligne du lobe supérieur, bronches ou poumon", "20250201000000"),  # retired by the agency
    ("C15.9", "Tumeur maligne de l'œsophage", ""),
    ("C43.9", "Mélanome malin de la peau", ""),  # added; C62.9 is absent: retired
]


@pytest.fixture
def bare(database: Database) -> Database:
    """A database without any referential version (`dcc db upgrade` loads the package's baseline; these tests
    start from nothing to see a first import)."""
    with database.uow() as uow:
        for model in (m.ReferentialPrefix, m.ReferentialToken, m.RegionalGuideline, m.ReferentialConcept,
                      m.ReferentialVersion):
            uow.session.execute(delete(model))
        uow.commit()
    return database


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def do_import(db: Database, path: Path, **kw: object) -> list[svc.ImportReport]:
    with db.uow() as uow:
        return svc.import_referentials(uow, read_path(path), actor="test", today=TODAY, **kw)  # type: ignore[arg-type]


def codes(db: Database, system: str, q: str, limit: int = 20) -> list[str]:
    with db.uow() as uow:
        return [h.code for h in svc.search(uow, system, q, limit=limit)]


def test_two_versions_diff_and_search(bare: Database, tmp_path: Path) -> None:
    first = do_import(bare, write(tmp_path, "v1.xml", svs("JDV_Tumeur_CISIS", "2024-06-01", V1)))
    assert [(r.system, r.status, r.concept_count, r.effective_date) for r in first] == [
        ("JDV_Tumeur_CISIS", "nouveau", 4, date(2024, 6, 1))]
    assert codes(bare, "JDV_Tumeur_CISIS", "seminome") == ["C62.9"]

    second = do_import(bare, write(tmp_path, "v2.xml", svs("JDV_Tumeur_CISIS", "2025-02-01", V2)))
    (report,) = second
    assert report.status == "mis_a_jour"
    assert report.diff.added == ("C43.9",)
    assert report.diff.retired == ("C34.1", "C62.9")
    assert [(r.code, r.old, r.new) for r in report.diff.relabelled] == [
        ("C50.9", "Tumeur maligne du sein", "Tumeur maligne du sein, sans précision")]
    assert "1 ajouté(s), 2 retiré(s), 1 libellé(s) modifié(s)" in report.summary()

    # search sees the version in force only
    assert codes(bare, "JDV_Tumeur_CISIS", "seminome") == []
    assert codes(bare, "JDV_Tumeur_CISIS", "poumon") == []
    assert codes(bare, "JDV_Tumeur_CISIS", "precision") == ["C50.9"]
    assert codes(bare, "JDV_Tumeur_CISIS", "MÉLANOME") == ["C43.9"]

    with bare.uow() as uow:
        (in_force,) = svc.versions_in_force(uow)
        history = svc.version_history(uow, "JDV_Tumeur_CISIS")
        retired = dict(uow.session.execute(select(m.ReferentialConcept.code, m.ReferentialConcept.active)
                                           .where(m.ReferentialConcept.system == "JDV_Tumeur_CISIS")).all())
    assert (in_force.version, in_force.effective_date) == ("2025-02-01T00:00:00+01:00", date(2025, 2, 1))
    assert [v.effective_date for v in history] == [date(2025, 2, 1), date(2024, 6, 1)]
    assert history[0].diff["retired"] == ["C34.1", "C62.9"]  # the stored report
    assert retired == {"C50.9": True, "C34.1": False, "C15.9": True, "C62.9": False, "C43.9": True}

    # the same file again changes nothing; a code coming back is active again
    again = do_import(bare, tmp_path / "v2.xml")
    assert again[0].status == "inchange"
    third = do_import(bare, write(tmp_path, "v3.xml", svs("JDV_Tumeur_CISIS", "2025-03-01", V1)))
    assert set(third[0].diff.added) == {"C34.1", "C62.9"} and third[0].diff.retired == ("C43.9",)
    assert codes(bare, "JDV_Tumeur_CISIS", "seminome") == ["C62.9"]


def test_retired_code_flags_open_case(bare: Database, tmp_path: Path) -> None:
    do_import(bare, write(tmp_path, "v1.xml", svs("JDV_Tumeur_CISIS", "2024-06-01", V1)))
    with bare.uow() as uow:
        seeded = seed_directory(uow, seed=1, regions=1)
        patients = seed_patients(uow, seed=1, count=2, region_codes=seeded.regions)
        prof = uow.session.scalars(select(m.Professional).order_by(m.Professional.rpps)).first()
        assert prof is not None
        ids = []
        for patient, topo in zip(patients, ("C62.9", "C50.9"), strict=True):
            case = m.Case(patient_id=patient, board_id=seeded.boards[0], requester_id=prof.id,
                          presenter_id=prof.id, topography_code=topo, earliest_date=TODAY)
            uow.session.add(case)
            uow.session.flush()
            ids.append(case.id)
        uow.commit()
    with bare.uow() as uow:
        assert svc.retired_code_flags(uow) == []
    do_import(bare, write(tmp_path, "v2.xml", svs("JDV_Tumeur_CISIS", "2025-02-01", V2)))
    with bare.uow() as uow:
        flags = svc.retired_code_flags(uow)
        assert svc.count_retired_code_flags(uow, board_ids=[seeded.boards[0]]) == 1
        assert svc.count_retired_code_flags(uow, board_ids=["another-board"]) == 0
    assert [(f.kind, f.case_id, f.code, f.system) for f in flags] == [("case", ids[0], "C62.9", "JDV_Tumeur_CISIS")]
    assert flags[0].field == "topographie (CIM-10)"


def test_retired_code_flags_unsigned_document(decided_chain: Chain, tmp_path: Path) -> None:
    db = decided_chain.db
    drafts = decided_chain.documents(status="draft")
    assert drafts
    with db.uow() as uow:
        svc.load_baseline(uow, today=TODAY)
        case = uow.session.get(m.Case, drafts[0].case_id)
        assert case is not None
        topo = case.topography_code
        tumeur = uow.session.scalars(select(m.ReferentialConcept).where(
            m.ReferentialConcept.system == "JDV_Tumeur_CISIS", m.ReferentialConcept.active.is_(True))).all()
        kept = [(c.code, c.label, "") for c in tumeur if c.code != topo]
    assert len(kept) == len(tumeur) - 1
    do_import(db, write(tmp_path, "tumeur.xml", svs("JDV_Tumeur_CISIS", "2030-01-01", kept)))
    with db.uow() as uow:
        flags = svc.retired_code_flags(uow)
    doc_flags = {(f.id, f.code) for f in flags if f.kind == "document"}
    assert (drafts[0].id, topo) in doc_flags
    signed = decided_chain.sign_all()
    with db.uow() as uow:
        after = {f.id for f in svc.retired_code_flags(uow) if f.kind == "document"}
    assert not after & set(signed)


SEARCH = [
    ("C50.9", "Tumeur maligne du sein", ""),
    ("Q83.1", "Sein surnuméraire", ""),
    ("D24", "Tumeur bénigne du sein", ""),
    ("C50.0", "Maladie de Paget du mamelon", ""),
    ("C62.9", "Séminome du testicule", ""),
    ("C15.9", "Tumeur maligne de l'œsophage", ""),
    ("C71.9", "Tumeur maligne de l'encéphale", ""),
]


def test_search_ranking_and_accents(bare: Database, tmp_path: Path) -> None:
    do_import(bare, write(tmp_path, "s.xml", svs("JDV_Tumeur_CISIS", "2024-06-01", SEARCH)))
    s = "JDV_Tumeur_CISIS"
    # the label's first word before another word; equal scores: shorter label, then code
    assert codes(bare, s, "sein") == ["Q83.1", "C50.9", "D24"]
    assert codes(bare, s, "Sein", limit=1) == ["Q83.1"]
    # every word must match (prefixes), accents and case ignored, œ folded
    assert codes(bare, s, "tum sein") == ["C50.9", "D24"]
    assert codes(bare, s, "BENIGNE") == ["D24"]
    assert codes(bare, s, "bénig") == ["D24"]
    assert codes(bare, s, "oesoph") == ["C15.9"]
    assert codes(bare, s, "ŒSOPHAGE") == ["C15.9"]
    assert codes(bare, s, "encephale") == ["C71.9"]
    assert codes(bare, s, "sém") == ["C62.9"]
    # codes: prefix, with or without the dot; an exact code first
    assert codes(bare, s, "c50") == ["C50.9", "C50.0"]
    assert codes(bare, s, "C50.0") == ["C50.0"]
    assert codes(bare, s, "c500") == ["C50.0"]
    assert codes(bare, s, "maligne")[:1] == ["C50.9"]  # "maligne" is never a first word: shortest label
    assert codes(bare, s, "xyz") == []


def test_search_errors_in_french(bare: Database, tmp_path: Path) -> None:
    do_import(bare, write(tmp_path, "s.xml", svs("JDV_Tumeur_CISIS", "2024-06-01", SEARCH)))
    with bare.uow() as uow:
        with pytest.raises(NotFound, match="Référentiel inconnu : « CIM-99 »"):
            svc.search(uow, "CIM-99", "sein")
        with pytest.raises(ValidationFailed, match="au moins 2 lettres"):
            svc.search(uow, "JDV_Tumeur_CISIS", " é ")
        with pytest.raises(ValidationFailed, match="entre 1 et 50"):
            svc.search(uow, "JDV_Tumeur_CISIS", "sein", limit=500)


def test_bad_files_write_nothing(bare: Database, tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    write(tmp_path / "ok", "a.xml", svs("JDV_A", "2024-06-01", SEARCH[:2]))
    write(tmp_path / "ok", "b.xml", "<RetrieveValueSetResponse xmlns='urn:ihe:iti:svs:2008'><oops")
    with pytest.raises(ValidationFailed, match="« b.xml » n'est pas un référentiel lisible : XML mal formé"):
        read_path(tmp_path / "ok")
    bad_csv = write(tmp_path, "drugs.csv", "ucd;cip13;libelle;atc\n12;3400930000000;PACLITAXEL;L01CD01\n")
    with pytest.raises(ValidationFailed, match="ligne 2 : code UCD « 12 » invalide"):
        read_path(bad_csv)
    with pytest.raises(ValidationFailed, match="n'existe pas"):
        read_path(tmp_path / "absent")
    with bare.uow() as uow:
        assert uow.session.scalars(select(m.ReferentialVersion)).all() == []


def test_same_version_other_content_refused(bare: Database, tmp_path: Path) -> None:
    do_import(bare, write(tmp_path, "v1.xml", svs("JDV_A", "2024-06-01", V1)))
    with pytest.raises(ValidationFailed, match="déjà importée avec un contenu différent"):
        do_import(bare, write(tmp_path, "v1b.xml", svs("JDV_A", "2024-06-01", V2)))
    with bare.uow() as uow:
        assert len(svc.version_history(uow, "JDV_A")) == 1


def test_drugs_and_guidelines_csv(bare: Database, tmp_path: Path) -> None:
    drugs = write(tmp_path, "ucd.csv", "ucd;cip13;libelle;atc\n"
                  "3400893826706;3400930000001;PACLITAXEL 6 MG/ML SOL INJ;L01CD01\n"
                  "9261234;;CARBOPLATINE 10 MG/ML SOL INJ;L01XA02\n")
    (report,) = do_import(bare, drugs, version="2025-01")
    assert (report.system, report.version, report.concept_count) == ("UCD", "2025-01", 2)
    with bare.uow() as uow:
        (hit,) = svc.search(uow, "UCD", "carbo")
    assert (hit.code, hit.attributes) == ("9261234", {"cip13": "", "atc": "L01XA02"})

    v1 = write(tmp_path, "g1.csv", "referentiel;version;date;organe;url\n"
               "Cancer du sein (OncoIdF);2024;2024-05-01;76752008;https://example.org/sein\n"
               "Soins de support;3;01/02/2023;;\n"
               "Cancer du poumon;2023;2023-09-01;39607008;\n")
    do_import(bare, v1, version="2024")
    with bare.uow() as uow:
        sein = [(g.name, g.version, g.date) for g in svc.list_guidelines(uow, organ="76752008")]
        everything = svc.list_guidelines(uow)
    assert sein == [("Cancer du sein (OncoIdF)", "2024", date(2024, 5, 1)), ("Soins de support", "3", date(2023, 2, 1))]
    assert len(everything) == 3
    v2 = write(tmp_path, "g2.csv", "referentiel;version;date;organe;url\n"
               "Cancer du sein (OncoIdF);2025;2025-04-01;76752008;\n"
               "Soins de support;3;2023-02-01;;\n"
               "Cancer du poumon;2023;2023-09-01;39607008;\n")
    (update,) = do_import(bare, v2, version="2025")
    assert update.diff.added == ("Cancer du sein (OncoIdF)|2025",)
    assert update.diff.retired == ("Cancer du sein (OncoIdF)|2024",)
    with bare.uow() as uow:
        assert [(g.name, g.version) for g in svc.list_guidelines(uow, organ="76752008")] == [
            ("Cancer du sein (OncoIdF)", "2025"), ("Soins de support", "3")]


def test_baseline_is_idempotent_and_matches_the_kit_file(bare: Database, tmp_path: Path) -> None:
    with bare.uow() as uow:
        loaded = svc.load_baseline(uow, today=TODAY)
        assert svc.load_baseline(uow, today=TODAY) == []
    assert "JDV_RCP_Organe_CISIS" in {r.system for r in loaded}
    with bare.uow() as uow:
        hits = svc.search(uow, "JDV_RCP_Organe_CISIS", "non hodgkinien")
    assert [(h.code, h.label) for h in hits] == [("C3211", "lymphome non hodgkinien")]


def test_refresh_folder_imports_new_files_once(bare: Database, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    write(folder, "tumeur.xml", svs("JDV_Tumeur_CISIS", "2024-06-01", V1))
    write(folder, "notes.txt", "pas un référentiel")
    write(folder, "broken.csv", "colonne;inconnue\n1;2\n")
    summary = svc.refresh_folder(bare.uow, folder, actor="prefect", today=TODAY)
    assert [(r.system, r.status) for r in summary.reports] == [("JDV_Tumeur_CISIS", "nouveau")]
    assert len(summary.errors) == 1 and "« broken.csv »" in summary.errors[0] and "en-tête CSV inconnu" in \
        summary.errors[0]
    (folder / "broken.csv").unlink()
    again = svc.refresh_folder(bare.uow, folder, actor="prefect", today=TODAY)
    assert [(r.system, r.status) for r in again.reports] == [("JDV_Tumeur_CISIS", "inchange")] and not again.errors
    with pytest.raises(ValidationFailed, match="n'existe pas"):
        svc.refresh_folder(bare.uow, tmp_path / "absent", actor="prefect", today=TODAY)
