"""Drugs (ATC, UCD) and acts (CCAM) named in a board's proposal: checked against the referential versions in
force in the database (unknown or retired code: French error, nothing written), stored with the version used,
and carried into the Fiche RCP's narrative (the model has no coded place for them), which still passes the
agency kit's checks. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from dcc.adapters.cda.validate import KitValidator, find_kit
from dcc.adapters.db import models as m
from dcc.adapters.referentials import read_path
from dcc.bootstrap import cda_builder
from dcc.domain import documents as d
from dcc.errors import ValidationFailed
from dcc.services import boards as svc
from dcc.services import content, proposal_entries, referentials
from dcc.services.schemas import DecisionInput
from dcc.services.uow import Database
from tests.services.test_boards import MARCH_11, session_on

TODAY = datetime(2025, 3, 3).date()
NS = {"h": "urn:hl7-org:v3"}
ATC_OID, CCAM_OID = "2.16.840.1.113883.6.73", "1.2.250.1.213.2.5"


def rdf(concepts: list[tuple[str, str]]) -> str:
    """A terminology as the agency's kit ships it (SKOS in RDF/XML): (notation, French label)."""
    rows = "\n".join(f'  <rdf:Description rdf:about="urn:test:{code}"><skos:notation>{code}</skos:notation>'
                     f'<skos:prefLabel xml:lang="fr">{label}</skos:prefLabel></rdf:Description>'
                     for code, label in concepts)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            f' xmlns:skos="http://www.w3.org/2004/02/skos/core#">\n{rows}\n</rdf:RDF>\n')


ATC = [("L01CD01", "paclitaxel"), ("L01XA02", "carboplatine"), ("L02BA01", "tamoxifène")]
CCAM = [("QEFA003", "Mastectomie totale avec curage lymphonodal axillaire"),
        ("QEFA005", "Tumorectomie du sein")]
UCD_CSV = ("ucd;cip13;libelle;atc\n"
           "9261234;;CARBOPLATINE 10 MG/ML SOL INJ;L01XA02\n"
           "3400893826706;3400930000001;PACLITAXEL 6 MG/ML SOL INJ;L01CD01\n")


def import_file(db: Database, path: Path, version: str | None = None) -> referentials.ImportReport:
    with db.uow() as uow:
        [report] = referentials.import_referentials(uow, read_path(path, version=version), actor="test",
                                                    today=TODAY)
    return report


def load_drugs_and_acts(db: Database, tmp_path: Path) -> dict[str, str]:
    """ATC and CCAM (RDF as in the kit) and a UCD list (CSV); returns each referential's version."""
    folder = tmp_path / "refs"
    folder.mkdir(exist_ok=True)
    (folder / f"{ATC_OID}.rdf").write_text(rdf(ATC), encoding="utf-8")
    (folder / f"{CCAM_OID}.rdf").write_text(rdf(CCAM), encoding="utf-8")
    (folder / "ucd.csv").write_text(UCD_CSV, encoding="utf-8")
    return {r.system: r.version for r in (import_file(db, folder / f"{ATC_OID}.rdf"),
                                          import_file(db, folder / f"{CCAM_OID}.rdf"),
                                          import_file(db, folder / "ucd.csv", version="2025-01"))}


def decision_count(db: Database) -> int:
    with db.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(m.Decision)) or 0)


def decide(w: Any, cid: str, meeting: m.Session, **kw: Any) -> None:
    with w.db.uow() as uow:
        svc.record_decision(uow, case_id=cid, data=DecisionInput(
            session_id=meeting.id, case_status="discussed", proposal_codes=["387713003"],
            proposal_text="Chirurgie puis chimiothérapie.", **kw))


def test_drugs_and_acts_are_stored_with_the_version_in_force(board_world: Any, tmp_path: Path) -> None:
    w = board_world
    versions = load_drugs_and_acts(w.db, tmp_path)
    cid = w.register("Sein", 1)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    decide(w, cid, meeting, drug_codes=["l01cd01", "9261234 — CARBOPLATINE 10 MG/ML SOL INJ (UCD)", "L01CD01"],
           act_codes=["QEFA003"])
    with w.db.uow() as uow:
        entries = uow.session.scalars(select(m.Decision.proposal_entries).where(m.Decision.case_id == cid)).one()
    assert [(e["kind"], e["system"], e["code"], e["label"], e["version"], e["atc"]) for e in entries] == [
        ("drug", "ATC", "L01CD01", "paclitaxel", versions["ATC"], ""),
        ("drug", "UCD", "9261234", "CARBOPLATINE 10 MG/ML SOL INJ", "2025-01", "L01XA02"),
        ("act", "CCAM", "QEFA003", "Mastectomie totale avec curage lymphonodal axillaire", versions["CCAM"], ""),
    ]
    assert [e["code_system"] for e in entries] == [ATC_OID, "1.2.250.1.213.2.62", CCAM_OID]
    # recorded again without them: the decision names none any more
    decide(w, cid, meeting)
    with w.db.uow() as uow:
        assert uow.session.scalars(select(m.Decision.proposal_entries).where(m.Decision.case_id == cid)).one() == []


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"drug_codes": ["L01ZZ99"]}, "drug_codes",
     "Médicament (drug_codes) : le code « L01ZZ99 » n'appartient pas au référentiel ATC en vigueur"),
    ({"drug_codes": ["1234567"]}, "drug_codes",
     "Médicament (drug_codes) : le code « 1234567 » n'appartient pas au référentiel UCD en vigueur (version 2025-01)."),
    ({"act_codes": ["ZZZZ999"]}, "act_codes",
     "Acte (CCAM) (act_codes) : le code « ZZZZ999 » n'appartient pas au référentiel CCAM en vigueur"),
])
def test_unknown_codes_are_refused_and_nothing_is_written(board_world: Any, tmp_path: Path, kw: dict[str, Any],
                                                          field: str, message: str) -> None:
    w = board_world
    load_drugs_and_acts(w.db, tmp_path)
    cid = w.register("Sein", 2)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    with pytest.raises(ValidationFailed) as exc:
        decide(w, cid, meeting, **kw)
    assert exc.value.field == field and exc.value.message.startswith(message)
    assert decision_count(w.db) == 0
    assert w.case(cid).status == "assigned"


def test_a_drug_retired_by_a_new_version_is_refused(board_world: Any, tmp_path: Path) -> None:
    w = board_world
    load_drugs_and_acts(w.db, tmp_path)
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / f"{ATC_OID}.rdf").write_text(rdf([c for c in ATC if c[0] != "L02BA01"]), encoding="utf-8")
    report = import_file(w.db, v2 / f"{ATC_OID}.rdf")
    assert report.diff.retired == ("L02BA01",)
    cid = w.register("Sein", 3)
    w.assign()
    meeting = session_on(w, "Sein", MARCH_11)
    with pytest.raises(ValidationFailed) as exc:
        decide(w, cid, meeting, drug_codes=["L01CD01", "L02BA01"])
    assert exc.value.message == (f"Médicament (drug_codes) : le code « L02BA01 » a été retiré du référentiel ATC "
                                 f"(version {report.version} en vigueur) ; choisissez un code en vigueur.")
    assert decision_count(w.db) == 0


def test_a_referential_not_loaded_says_so(board_world: Any) -> None:
    with board_world.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        proposal_entries.resolve(uow, drugs=[], acts=["QEFA005"])
    assert exc.value.message == ("Acte (CCAM) (act_codes) : le code « QEFA005 » n'appartient pas au référentiel "
                                 "CCAM, qui n'est pas chargé dans la base (dcc db upgrade ou dcc referentials "
                                 "import).")


def test_the_fiche_rcp_carries_them_in_its_narrative_and_passes_the_kit(decided_chain: Any, tmp_path: Path) -> None:
    db = decided_chain.db
    load_drugs_and_acts(db, tmp_path)
    with db.uow() as uow:
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_status == "discussed",
                                                                m.Decision.quorum == "met")
                                       .order_by(m.Decision.id)).first()
        assert decision is not None
        decision.proposal_entries = proposal_entries.resolve(uow, drugs=["L01CD01", "9261234"], acts=["QEFA005"])
        case = uow.session.get(m.Case, decision.case_id)
        assert case is not None
        frcp = content.frcp_content(content.Loader(uow), case, decision, now=datetime(2025, 3, 12, 9, tzinfo=UTC),
                                    ids=d.DocumentIds(unique_id_root=content.new_oid(),
                                                      set_id_root=content.new_oid()))
    cda = cda_builder().build_frcp(frcp)
    root = etree.fromstring(cda)
    [plan] = root.xpath("//h:section[h:code/@code='18776-5']", namespaces=NS)
    [table] = plan.xpath("h:text/h:table[h:caption='Médicaments et actes proposés']", namespaces=NS)
    rows = [[td.text for td in tr.xpath("h:td", namespaces=NS)] for tr in table.xpath("h:tbody/h:tr", namespaces=NS)]
    with db.uow() as uow:
        version = dict(uow.session.execute(select(m.ReferentialVersion.system, m.ReferentialVersion.version)
                                           .where(m.ReferentialVersion.system.in_(["ATC", "CCAM"]))).all())
    assert rows == [["Médicament", "paclitaxel", "L01CD01", f"ATC ({version['ATC']})"],
                    ["Médicament", "CARBOPLATINE 10 MG/ML SOL INJ", "9261234", "UCD (2025-01)"],
                    ["Acte", "Tumorectomie du sein", "QEFA005", f"CCAM ({version['CCAM']})"]]
    # the PDF of the Fiche RCP lists them too
    from dcc.bootstrap import pdf_renderer
    from tests.services.test_pps_authoring import pdf_text

    text = pdf_text(pdf_renderer().render_frcp(frcp))
    assert f"Médicament : paclitaxel (ATC L01CD01, version {version['ATC']})" in text
    assert f"Acte : Tumorectomie du sein (CCAM QEFA005, version {version['CCAM']})" in text
    # no coded entry carries them: every procedure code of the care plan stays a treatment kind
    assert not root.xpath("//*[@code='L01CD01' or @code='9261234' or @code='QEFA005']")
    kit = find_kit()
    if kit is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    report = KitValidator(kit).validate(cda)
    assert report.kind == "FRCP" and report.ok, "\n".join(str(f) for f in report.failures)


def test_a_drug_retired_under_an_unsigned_fiche_rcp_is_flagged(decided_chain: Any, tmp_path: Path) -> None:
    db = decided_chain.db
    load_drugs_and_acts(db, tmp_path)
    with db.uow() as uow:
        draft = uow.session.scalars(select(m.Document).where(m.Document.kind == "FRCP", m.Document.status == "draft")
                                    .order_by(m.Document.id)).first()
        assert draft is not None
        decision = uow.session.scalars(select(m.Decision).where(m.Decision.case_id == draft.case_id)).one()
        decision.proposal_entries = proposal_entries.resolve(uow, drugs=["L02BA01", "L01CD01"], acts=["QEFA005"])
        doc_id, case_id = draft.id, draft.case_id
        board_id = uow.session.scalars(select(m.Case.board_id).where(m.Case.id == case_id)).one()
        uow.commit()
    with db.uow() as uow:
        assert referentials.retired_code_flags(uow) == []
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / f"{ATC_OID}.rdf").write_text(rdf([c for c in ATC if c[0] != "L02BA01"]), encoding="utf-8")
    import_file(db, v2 / f"{ATC_OID}.rdf")
    with db.uow() as uow:
        flags = referentials.retired_code_flags(uow)
        elsewhere = referentials.retired_code_flags(uow, board_ids=["autre-rcp"])
    assert [(f.kind, f.id, f.case_id, f.board_id, f.field, f.code, f.system) for f in flags] == [
        ("document", doc_id, case_id, board_id, "médicament", "L02BA01", "ATC")]
    assert elsewhere == []
