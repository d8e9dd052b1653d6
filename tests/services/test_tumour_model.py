"""The tumour model (issue 11): TNM only where UICC has one, UICC syntax, stage and edition, laterality of paired
organs, date of diagnosis, morphology checked against topography. Over the value sets: every organ group of the
boards (JDV_RCP_Organe_CISIS / JDV_RCP_Appareil_CISIS) and every board template of the demo."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dcc import valuesets
from dcc.adapters.db import models as m
from dcc.bench.samples import BREAST, sample_frcp
from dcc.demo import data as demo_data
from dcc.domain import tumour as rules
from dcc.domain.documents import missing_fields_frcp
from dcc.errors import ValidationFailed
from dcc.services import boards as svc
from dcc.services import content
from dcc.services.schemas import CaseRegistration
from dcc.services.uow import Database

# Each organ group of the boards, a tumour such a board discusses, and whether UICC TNM (8th edition) applies.
# Written here from the UICC chapters, not read from the code under test.
ORGAN_GROUPS: dict[str, tuple[str, bool]] = {
    # JDV_RCP_Appareil_CISIS
    "387910009": ("C73", True),  # glande endocrine: thyroid
    "57171008": ("C92.0", False),  # hématopoïétique: acute myeloid leukaemia
    "81745001": ("C69.2", True),  # œil: retinoblastoma
    "272673000": ("C40.2", True),  # os
    "39937001": ("C43.5", True),  # peau: melanoma
    "76752008": ("C50.9", True),  # sein
    "86762007": ("C18.7", True),  # digestif
    "53065001": ("C53.9", True),  # génital féminin: cervix
    "90264002": ("C61", True),  # génital masculin: prostate
    "25087005": ("C71.1", False),  # système nerveux: glioblastoma
    "122489005": ("C67.9", True),  # urinaire: bladder
    "312419003": ("C34.1", True),  # thorax
    "87784001": ("C49.2", True),  # tissus mous
    "119253004": ("C32.0", True),  # VADS: glottis
    # JDV_RCP_Organe_CISIS
    "C3211": ("C83.3", False), "C88": ("C88.0", False), "C9357": ("C81.1", False), "C3483": ("C91.1", False),
    "C3163": ("C91.1", False), "C3167": ("C91.0", False), "C3172": ("C92.1", False), "C3171": ("C92.0", False),
    "C3174": ("C92.1", False), "C4861": ("C93.0", False), "C9300": ("C95.0", False), "C27262": ("D47.1", False),
    "C3242": ("C90.0", False),
    "MED-237": ("C31.0", True), "MED-251": ("C20", True), "303270005": ("C22.0", True),
    "MED-255": ("C34.3", True), "306721000": ("C41.4", True), "4596009": ("C32.1", True),
    "3120008": ("C45.0", True), "74262004": ("C06.0", True), "48477009": ("C00.1", True),
    "21974007": ("C02.1", True), "54066008": ("C10.9", True), "32849002": ("C15.5", True),
    "69695003": ("C16.0", True), "30315005": ("C17.0", True), "385294005": ("C07", True),
    "15776009": ("C25.0", True), "431491007": ("C65", True), "64033007": ("C64", True),
    "89837001": ("C67.2", True), "C94529": ("C51.9", True), "23952005": ("C54.1", True),
    "71252005": ("C53.0", True), "15497006": ("C56", True), "18911002": ("C60.9", True),
    "41216001": ("C61", True), "40689003": ("C62.9", True), "21483005": ("C71.6", False),
    "84782009": ("C47.1", True), "23451007": ("C74.0", True), "69748006": ("C73", True),
    "72410000": ("C37", True), "C12664": ("C48.0", True),
}


def test_every_organ_group_of_the_value_sets_is_covered() -> None:
    codes = {c.code for vs in ("JDV_RCP_Organe_CISIS", "JDV_RCP_Appareil_CISIS") for c in valuesets.concepts(vs)}
    assert codes == set(ORGAN_GROUPS)
    assert set(rules.ORGAN_GROUP_TNM) == codes


@pytest.mark.parametrize("group", sorted(ORGAN_GROUPS))
def test_tnm_applicability_of_each_organ_group(group: str) -> None:
    topography, expected = ORGAN_GROUPS[group]
    assert valuesets.contains("JDV_Tumeur_CISIS", topography)
    assert rules.tnm_applies(topography, group) is expected


@pytest.mark.parametrize(("topography", "expected"), [
    ("C71.9", False), ("C70.0", False), ("C72.0", False), ("C81.9", False), ("C90.0", False), ("C96.9", False),
    ("C75.1", False), ("C46.0", False), ("C80.9", False), ("C79.3", False), ("D45", False), ("D48.6", False),
    ("B21.1", False), ("C74.1", False),
    ("C50.2", True), ("C22.0", True), ("C74.0", True), ("D05.1", True), ("C44.3", True), ("C58", True),
])
def test_tnm_applicability_by_topography(topography: str, expected: bool) -> None:
    assert rules.tnm_applicable(topography) is expected


def test_a_haematology_board_excludes_tnm_whatever_the_topography() -> None:
    assert rules.tnm_applies("C50.9", "57171008") is False
    assert rules.tnm_applies("C50.9", "76752008") is True


# ---------------------------------------------------------------------------------------- registration

FIRST13 = "2750344109123"


def registration(**overrides: Any) -> CaseRegistration:
    from dcc.domain.identifiers import nir_key, with_luhn_key

    fields: dict[str, Any] = {
        "board_id": "b",
        "patient": {"ins_matricule": FIRST13 + nir_key(FIRST13), "ins_oid": "1.2.250.1.213.1.4.10",
                    "birth_family": "MARTIN", "birth_given_first": "CLAIRE", "birth_given_all": "CLAIRE",
                    "birth_date": date(1975, 3, 12), "sex": "F", "birthplace_insee": "44109"},
        "requester_rpps": with_luhn_key("1000000001"), "topography_code": "C50.9", "laterality": "gauche",
        "question": "Quelle stratégie ?", "earliest_date": date(2025, 3, 3),
    }
    fields.update(overrides)
    return CaseRegistration(**fields)


def error_of(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    [error] = exc.value.errors()
    return ".".join(str(p) for p in error["loc"]), str(error["msg"])


def checked(db: Database, **overrides: Any) -> CaseRegistration:
    """A registration's coded fields checked as `boards.register_case` does (referentials in the database)."""
    data = registration(**overrides)
    with db.uow() as uow:
        svc.check_case_codes(uow, data)
    return data


def refusal(db: Database, **overrides: Any) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        checked(db, **overrides)
    return str(exc.value.field), exc.value.message


def test_ductal_carcinoma_of_the_colon_is_refused_in_french(database: Database) -> None:
    field, message = refusal(database, topography_code="C18.7", laterality=None, morphology_code="8500/3")
    assert field == "morphology_code"
    assert "La morphologie « Adénocarcinome canalaire infiltrant, SAI » (8500/3) n'est pas compatible avec " \
           "la localisation « C18.7 Tumeur maligne du côlon sigmoïde »" in message


@pytest.mark.parametrize(("topography", "morphology"), [
    ("C34.1", "9440/3"),  # glioblastoma of the lung
    ("C18.7", "8170/3"),  # hepatocellular carcinoma of the colon
    ("C71.1", "8140/3"),  # primary adenocarcinoma of the brain: a metastasis is C79.3
    ("C71.1", "9470/3"),  # medulloblastoma outside the cerebellum
    ("C44.3", "8720/3"),  # melanoma of skin is C43, not C44
    ("C50.9", "9680/3"),  # lymphoma: C81-C96 whatever the organ
    ("C83.3", "8500/3"),  # a lymphoma code with a carcinoma
    ("D05.1", "8500/3"),  # an invasive morphology on an in-situ code
    ("C50.9", "8500/2"),  # an in-situ morphology on an invasive code
    ("C18.7", "8312/3"),  # renal cell carcinoma of the colon
])
def test_incompatible_morphologies_are_refused(database: Database, topography: str, morphology: str) -> None:
    lat = "gauche" if rules.is_paired(topography) else None
    field, message = refusal(database, topography_code=topography, laterality=lat, morphology_code=morphology)
    assert field == "morphology_code" and "n'est pas compatible avec la localisation" in message


@pytest.mark.parametrize(("topography", "morphology"), [
    ("C50.9", "8500/3"), ("C50.4", "8520/3"), ("C25.0", "8500/3"), ("C61", "8500/3"), ("C18.7", "8140/3"),
    ("C34.9", "8140/3"), ("C34.1", "8041/3"), ("C71.1", "9440/3"), ("C71.9", "9470/3"), ("C71.6", "9470/3"),
    ("C22.0", "8170/3"), ("C43.5", "8720/3"), ("C83.3", "9680/3"), ("D05.1", "8500/2"), ("C64", "8312/3"),
    ("C62.9", "9061/3"), ("C18.7", "8000/3"), ("C71.1", "8000/3"),
])
def test_compatible_morphologies_are_accepted(sqlite_database: Database, topography: str, morphology: str) -> None:
    lat = "droite" if rules.is_paired(topography) else None
    assert checked(sqlite_database, topography_code=topography, laterality=lat,
                   morphology_code=morphology).morphology_code == morphology


def test_laterality_is_required_for_a_paired_organ_and_refused_for_an_unpaired_one() -> None:
    with pytest.raises(ValidationError) as exc:
        registration(topography_code="C50.9", laterality=None)
    field, message = error_of(exc)
    assert field == "laterality" and "organe pair" in message and "non précisée" in message
    assert registration(topography_code="C50.9", laterality="non_precisee").laterality == "non_precisee"
    for topo in ("C34.1", "C64", "C56", "C62.9", "C74.0", "C69.2"):
        assert registration(topography_code=topo, laterality="bilaterale").laterality == "bilaterale"
    for topo in ("C18.7", "C61", "C22.0", "C71.9"):
        with pytest.raises(ValidationError) as exc:
            registration(topography_code=topo, laterality="droite")
        field, message = error_of(exc)
        assert field == "laterality" and "n'est pas un organe pair" in message
    with pytest.raises(ValidationError):
        registration(laterality="au milieu")


def test_diagnosis_date_is_not_in_the_future_nor_before_birth() -> None:
    assert registration(diagnosis_date=date(2024, 11, 5)).diagnosis_date == date(2024, 11, 5)
    assert registration().diagnosis_date is None  # unknown: nullFlavor UNK in the CDA
    with pytest.raises(ValidationError) as exc:
        registration(diagnosis_date=date.today() + timedelta(days=1))
    assert error_of(exc) == ("diagnosis_date", "Value error, La date du diagnostic est dans le futur.")
    with pytest.raises(ValidationError) as exc:
        registration(diagnosis_date=date(1975, 3, 11))
    field, message = error_of(exc)
    assert field == "diagnosis_date" and "précède la date de naissance" in message


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("tnm_t", "T5", "n'est pas une catégorie T"),
    ("tnm_n", "N4", "n'est pas une catégorie N"),
    ("tnm_m", "MX", "MX n'existe plus"),
    ("tnm_m", "pM0", "pM0 n'existe pas"),
    ("tnm_stage", "V", "n'est pas un stade UICC"),
    ("tnm_edition", 5, "n'est pas prise en charge"),
])
def test_tnm_values_follow_uicc(field: str, value: Any, expected: str) -> None:
    tnm: dict[str, Any] = {"tnm_t": "pT2", "tnm_n": "pN1a", "tnm_m": "cM0", "tnm_edition": 8, "tnm_stage": "IIB"}
    assert registration(**tnm).tnm_t == "pT2"
    with pytest.raises(ValidationError) as exc:
        registration(**(tnm | {field: value}))
    loc, message = error_of(exc)
    assert loc == field and expected in message


def test_tnm_comes_whole_with_its_edition() -> None:
    with pytest.raises(ValidationError) as exc:
        registration(tnm_t="T2", tnm_n="N0", tnm_edition=8)
    assert error_of(exc)[0] == "tnm_m" and "T, N et M" in error_of(exc)[1]
    with pytest.raises(ValidationError) as exc:
        registration(tnm_t="T2", tnm_n="N0", tnm_m="M0")
    assert error_of(exc)[0] == "tnm_edition" and "édition" in error_of(exc)[1]
    assert registration(tnm_t="t2", tnm_n="nx", tnm_m="m0", tnm_edition=8).tnm_n == "NX"


def test_tnm_stage_and_edition_are_refused_where_uicc_has_no_tnm() -> None:
    for field, value in (("tnm_t", "T2"), ("tnm_stage", "IV"), ("tnm_edition", 8)):
        with pytest.raises(ValidationError) as exc:
            registration(topography_code="C71.9", laterality=None, morphology_code="9440/3", **{field: value})
        loc, message = error_of(exc)
        assert loc == field and "ne s'applique pas" in message
    ok = registration(topography_code="C71.9", laterality=None, morphology_code="9440/3")
    assert ok.tnm_t is None and ok.tnm_edition is None


# ------------------------------------------------------------------------- every demo board, over the DB


@pytest.mark.parametrize("template", [t["name"] for t in demo_data.BOARDS])
def test_each_demo_board_registers_its_tumours_with_tnm_only_where_applicable(board_world: Any,
                                                                              template: str) -> None:
    w = board_world
    tpl = next(t for t in demo_data.BOARDS if t["name"] == template)
    with w.db.uow() as uow:
        names = {b.name for b in uow.session.query(m.Board).all()}
    if f"RCP {template}" not in names:  # not seeded in a one-region world: check the input model alone
        for topography, morphology in tpl["tumours"]:
            lat = "droite" if rules.is_paired(topography) else None
            assert registration(topography_code=topography, morphology_code=morphology, laterality=lat)
        return
    for n, (topography, morphology) in enumerate(tpl["tumours"], start=1):
        lat = "droite" if rules.is_paired(topography) else None
        tnm = {"tnm_t": "cT2", "tnm_n": "cN0", "tnm_m": "cM0", "tnm_edition": 8}
        applicable = template not in ("Recours régional neuro-oncologie", "Oncopédiatrie")
        if applicable:
            cid = w.register(template, n, topography_code=topography, morphology_code=morphology, laterality=lat,
                             diagnosis_date=w.today - timedelta(days=20), **tnm)
            case = w.case(cid)
            assert (case.tnm_t, case.tnm_edition, case.laterality) == ("cT2", 8, lat)
            assert case.diagnosis_date == w.today - timedelta(days=20)
        else:
            with pytest.raises(ValidationError):
                w.registration(template, n, topography_code=topography, morphology_code=morphology,
                               laterality=lat, **tnm)
            cid = w.register(template, n, topography_code=topography, morphology_code=morphology, laterality=lat)
            assert w.case(cid).tnm_t is None
    # the demo's own TNM rows fit the board's tumours
    for t, n_, m_, stage in tpl["tnm"]:
        assert rules.parse_tnm("t", t) and rules.parse_tnm("n", n_) and rules.parse_tnm("m", m_)
        assert rules.check_stage(stage) == stage
        assert all(rules.tnm_applicable(topo) for topo, _ in tpl["tumours"])
    for topo, morpho in tpl["tumours"]:
        assert rules.morphology_problem(topo, valuesets.lookup("JDV_Tumeur_CISIS", topo).display, morpho,
                                        valuesets.lookup("JDV_Morphologie_CISIS", morpho).display) is None


def test_a_haematology_board_refuses_tnm_at_registration(board_world: Any) -> None:
    w = board_world
    board = w.board("Sein")
    with w.db.uow() as uow:
        b = uow.session.get(m.Board, board.id)
        assert b is not None
        b.appareil_code, b.organe_code = "57171008", "C3211"
        uow.commit()
    data = w.registration("Sein", 7, tnm_t="T2", tnm_n="N0", tnm_m="M0", tnm_edition=8)
    with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
        svc.register_case(uow, data=data)
    assert exc.value.field == "tnm_t" and "ne s'applique pas" in exc.value.message
    with w.db.uow() as uow:
        assert uow.session.query(m.Case).count() == 0


def test_the_fiche_rcp_needs_tnm_only_where_it_applies() -> None:
    discussed = sample_frcp("organ_discussed")
    assert "classification TNM" in missing_fields_frcp(replace(discussed, tumour=replace(BREAST, tnm=None)))
    cns = replace(BREAST, topography=valuesets.lookup("JDV_Tumeur_CISIS", "C71.1"),
                  morphology=valuesets.lookup("JDV_Morphologie_CISIS", "9440/3"), tnm=None, tnm_applicable=False)
    assert "classification TNM" not in missing_fields_frcp(replace(discussed, tumour=cns))


def test_the_tumour_of_the_documents_is_the_one_entered(sqlite_database: Database) -> None:
    case = m.Case(topography_code="C71.1", morphology_code="9440/3", tnm_t="T2", tnm_n="N0", tnm_m="M0",
                  laterality="gauche", diagnosis_date=date(2025, 1, 6))
    with sqlite_database.uow() as uow:  # the labels come from the referentials in the database
        cns = content._tumour(content.Loader(uow), case, "21483005")
    assert cns.tnm is None and cns.tnm_applicable is False  # a stray TNM never reaches a CNS document
    assert cns.laterality == "Gauche" and cns.laterality_code is not None
    assert cns.laterality_code.code == "7771000" and cns.diagnosis_date == date(2025, 1, 6)
    breast = m.Case(topography_code="C50.9", morphology_code="8500/3", tnm_t="pT1c", tnm_n="pN0", tnm_m="cM0",
                    tnm_edition=8, tnm_stage="IA", laterality="non_precisee")
    with sqlite_database.uow() as uow:
        t = content._tumour(content.Loader(uow), breast, "76752008")
    assert t.tnm is not None and (t.tnm.t, t.tnm.edition, t.tnm.stage) == ("pT1c", 8, "IA")
    assert t.laterality == "Non précisée" and t.laterality_code is None and t.diagnosis_date is None


def test_demo_proposals_fit_each_organ_board() -> None:
    from dcc.services.demo import ORGAN_PROPOSALS

    organ_templates = {t["name"] for t in demo_data.BOARDS if t["kind"] == "organ"}
    assert set(ORGAN_PROPOSALS) == organ_templates
    hormone_dependent = {"Sein", "Urologie"}  # breast and prostate cancers
    for name, proposals in ORGAN_PROPOSALS.items():
        codes = {c for p in proposals for c in p}
        assert all(valuesets.contains("JDV_TypeTraitement_FRCP_CISIS", c) for c in codes)
        assert ("C547" in codes) is (name in hormone_dependent), name  # no hormone therapy for lung cancer
        if name != "Urologie":
            assert "MED-227" not in codes, name  # active surveillance: prostate only


def test_updating_the_tumour_follows_the_registration_rules_and_writes_nothing_when_refused(board_world: Any) -> None:
    from dcc.services.schemas import TumourUpdate

    w = board_world
    cid = w.register("Sein", 1)
    refused = [
        (TumourUpdate(topography_code="C18.7", morphology_code="8500/3"), "morphology_code"),
        (TumourUpdate(topography_code="C50.9"), "laterality"),
        (TumourUpdate(topography_code="C50.9", laterality="gauche", tnm_t="T2", tnm_n="N0", tnm_m="MX",
                      tnm_edition=8), "tnm_m"),
        (TumourUpdate(topography_code="C50.9", laterality="gauche", tnm_t="T2", tnm_n="N0", tnm_m="M0"),
         "tnm_edition"),
        (TumourUpdate(topography_code="C71.9", morphology_code="9440/3", tnm_t="T2", tnm_n="N0", tnm_m="M0",
                      tnm_edition=8), "tnm_t"),
        (TumourUpdate(topography_code="C50.9", laterality="gauche", diagnosis_date=w.today + timedelta(days=1)),
         "diagnosis_date"),
        (TumourUpdate(topography_code="C50.9", laterality="gauche", diagnosis_date=date(1970, 1, 1)),
         "diagnosis_date"),
    ]
    for data, field in refused:
        with w.db.uow() as uow, pytest.raises(ValidationFailed) as exc:
            svc.update_tumour(uow, case_id=cid, data=data, today=w.today, actor="test")
        assert exc.value.field == field, (data, exc.value.message)
    assert w.case(cid).laterality == "gauche" and w.case(cid).tnm_t is None
    assert w.audit("case.update_tumour") == []
    with w.db.uow() as uow:
        svc.update_tumour(uow, case_id=cid, data=TumourUpdate(
            topography_code="C50.9", morphology_code="8500/3", laterality="droite", tnm_t="pt1c", tnm_n="pN0",
            tnm_m="cM0", tnm_edition=8, tnm_stage="IA", diagnosis_date=w.today - timedelta(days=40)),
            today=w.today, actor="coord")
    case = w.case(cid)
    assert (case.laterality, case.tnm_t, case.tnm_stage, case.diagnosis_date) == (
        "droite", "pT1c", "IA", w.today - timedelta(days=40))
    [event] = w.audit("case.update_tumour")
    assert event.actor == "coord" and event.detail["before"]["laterality"] == "gauche"
