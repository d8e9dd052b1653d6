"""Variety of care documents the kit accepts: every code of the value sets the builder maps, and the
case shapes the issue lists (organ boards of every appareil, transversal boards, registered and
discussed cases, quorum met / not met / unknown, recours, paediatric, trial yes / no, initial and
relapse phase, PPS with several treatments, supportive care, social support, follow-up, a revised
PPS replacing the previous version for every update motive).

Each generated document must pass the XSD and the four applicable schematrons with zero failed
assertions. Skipped when the ANS kit is not found (set DCC_ANS_KIT or put it at ../shared/ans-cda-kit).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from lxml import etree

from dcc import valuesets
from dcc.adapters.cda.builder import build_frcp, build_pps
from dcc.adapters.cda.validate import KitValidator, ValidationReport, find_kit
from dcc.bench.samples import SUPPORT_BOARD, code, sample_frcp, sample_pps
from dcc.domain.documents import Code, FrcpContent, PastTreatment, PlannedTreatment, PpsContent, SupportCare

pytestmark = pytest.mark.integration
NS = {"h": "urn:hl7-org:v3"}
KIT = find_kit()


@pytest.fixture(scope="module")
def validator() -> KitValidator:
    if KIT is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    return KitValidator(KIT)


def _codes(value_set: str) -> list[Code]:
    return valuesets.concepts(value_set)


def _ids(value_set: str) -> list[str]:
    return [c.code for c in _codes(value_set)]


def _explain(report: ValidationReport) -> str:
    return "\n".join(f"[{f.assertion_id or '-'}] {f.check} {f.location}: {f.message}" for f in report.failures)


def _frcp_conformant(validator: KitValidator, content: FrcpContent) -> etree._Element:
    xml = build_frcp(content)
    report = validator.validate(xml)
    assert report.kind == "FRCP"
    assert report.ok, _explain(report)
    return etree.fromstring(xml)


def _pps_conformant(validator: KitValidator, content: PpsContent) -> etree._Element:
    xml = build_pps(content)
    report = validator.validate(xml)
    assert report.kind == "PPS"
    assert report.ok, _explain(report)
    return etree.fromstring(xml)


# --- Fiche RCP -------------------------------------------------------------------------------


@pytest.mark.parametrize("appareil", _ids("JDV_RCP_Appareil_CISIS"))
def test_organ_board_of_every_appareil(validator: KitValidator, appareil: str) -> None:
    c = sample_frcp()
    board = replace(c.board, appareil=code("JDV_RCP_Appareil_CISIS", appareil), organe=None)
    root = _frcp_conformant(validator, replace(c, board=board))
    assert root.xpath(f"//h:*[@code='{appareil}']", namespaces=NS)


@pytest.mark.parametrize("transversal", _ids("JDV_TraitementSoins_FRCP_CISIS"))
def test_transversal_board_of_every_kind(validator: KitValidator, transversal: str) -> None:
    c = sample_frcp("transversal")
    board = replace(c.board, transversal=code("JDV_TraitementSoins_FRCP_CISIS", transversal))
    root = _frcp_conformant(validator, replace(c, board=board))
    assert root.xpath(f"//h:*[@code='{transversal}']", namespaces=NS)


@pytest.mark.parametrize("treatment", _ids("JDV_TypeTraitement_FRCP_CISIS"))
def test_every_treatment_type_in_a_proposal(validator: KitValidator, treatment: str) -> None:
    kind = code("JDV_TypeTraitement_FRCP_CISIS", treatment)
    root = _frcp_conformant(validator, sample_frcp(proposal_treatments=(kind,)))
    assert root.xpath(f"//h:*[@code='{treatment}']", namespaces=NS)


@pytest.mark.parametrize("treatment", _ids("JDV_TypeTraitement_FRCP_CISIS"))
def test_every_treatment_type_as_past_treatment(validator: KitValidator, treatment: str) -> None:
    past = PastTreatment(
        code("JDV_TypeTraitement_FRCP_CISIS", treatment), date(2023, 11, 2), date(2024, 1, 5), "Traitement antérieur"
    )
    _frcp_conformant(validator, sample_frcp(past_treatments=(past,)))


def test_proposal_with_every_treatment_type(validator: KitValidator) -> None:
    _frcp_conformant(validator, sample_frcp(proposal_treatments=tuple(_codes("JDV_TypeTraitement_FRCP_CISIS"))))


CASE_SHAPES: dict[str, dict[str, object]] = {
    "discussed, quorum met, no trial": {},
    "quorum not met": {"quorum": "not_met"},
    "quorum unknown": {"quorum": "unknown"},
    "trial proposed": {"trial_proposed": True, "trial_name": "ESSAI-2024"},
    "relapse, quorum not met": {"phase": "relapse", "relapse_date": date(2024, 1, 10), "quorum": "not_met"},
    "relapse, trial proposed": {
        "phase": "relapse",
        "relapse_date": date(2024, 1, 10),
        "progression": (True, False, False),
        "trial_proposed": True,
        "trial_name": "ESSAI-2024",
    },
    "no performance status, unknown screening": {"performance_status": None, "screening": None},
    "referred to recours, file incomplete": {"refer_to_recours": True, "file_complete": False},
    "diagnostic opinion only": {"diagnostic_opinion": True, "treatment_proposal": False},
    "departure from the referential": {
        "conform_to_referential": False,
        "departure_justification": "Comorbidités",
    },
}


@pytest.mark.parametrize("shape", list(CASE_SHAPES))
def test_organ_case_shapes(validator: KitValidator, shape: str) -> None:
    _frcp_conformant(validator, sample_frcp(**CASE_SHAPES[shape]))  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["registered", "recours", "pediatric", "relapse", "trial", "quorum_not_met"])
def test_case_shapes_on_a_transversal_board(validator: KitValidator, variant: str) -> None:
    c = sample_frcp(variant)
    board = replace(
        SUPPORT_BOARD, recours=c.board.recours, pediatric=c.board.pediatric
    )  # same case, supportive-care board
    _frcp_conformant(validator, replace(c, board=board))


def test_registered_standard_case_on_a_recours_paediatric_board(validator: KitValidator) -> None:
    c = sample_frcp("pediatric")
    registered = sample_frcp("registered")
    content = replace(
        c,
        board=replace(c.board, recours=True),
        case_status="registered",
        tumour=replace(c.tumour, tnm=None) if c.tumour else None,
        question="",
        referential=registered.referential,
        motive=registered.motive,
    )
    _frcp_conformant(validator, content)


# --- PPS -------------------------------------------------------------------------------------


def _planned(kind: Code, month: int) -> PlannedTreatment:
    return PlannedTreatment(kind, date(2024, month, 1), date(2024, month + 1, 15), "Traitement prévu", "CHU d'Angers")


@pytest.mark.parametrize("treatment", _ids("JDV_TypeTraitementPPS_CISIS"))
def test_every_pps_treatment_type(validator: KitValidator, treatment: str) -> None:
    kind = code("JDV_TypeTraitementPPS_CISIS", treatment)
    root = _pps_conformant(validator, sample_pps(treatments=(_planned(kind, 3),)))
    assert root.xpath(f"//h:*[@code='{treatment}']", namespaces=NS)


def test_pps_with_several_treatments_and_every_support(validator: KitValidator) -> None:
    c = sample_pps(
        "revised",
        treatments=tuple(_planned(k, 3 + i % 8) for i, k in enumerate(_codes("JDV_TypeTraitementPPS_CISIS"))),
        supportive_care=tuple(SupportCare(k, "Soin de support") for k in _codes("JDV_SoinsOncoDeSupport_CISIS")),
        social_support=tuple(SupportCare(k, "Accompagnement") for k in _codes("JDV_TypeAccompagnementSocioPro_CISIS")),
        follow_up=tuple(
            PlannedTreatment(k, date(2025, 1 + i, 1), None, "Suivi")
            for i, k in enumerate(_codes("JDV_TypeDeSuivi_CISIS"))
        ),
    )
    _pps_conformant(validator, c)


@pytest.mark.parametrize("variant", ["standard", "supportive", "social", "follow_up", "revised"])
def test_pps_in_relapse_phase(validator: KitValidator, variant: str) -> None:
    _pps_conformant(validator, sample_pps(variant, phase="relapse", relapse_date=date(2024, 1, 10)))


def test_pps_with_undated_treatment_and_not_yet_handed(validator: KitValidator) -> None:
    kind = code("JDV_TypeTraitementPPS_CISIS", "C15445")
    _pps_conformant(validator, sample_pps(treatments=(PlannedTreatment(kind),), handed_to_patient=None))


@pytest.mark.parametrize("motive", _ids("JDV_MotifMiseAJour_CISIS"))
def test_revised_pps_for_every_update_motive(validator: KitValidator, motive: str) -> None:
    first = sample_pps()
    revised = sample_pps("revised", update_motive=code("JDV_MotifMiseAJour_CISIS", motive))
    assert revised.ids.replaces_unique_id == first.ids.unique_id_root
    root = _pps_conformant(validator, revised)
    assert root.xpath(f"//h:*[@code='{motive}']", namespaces=NS)
    # the new version replaces the previous one within the same set of versions
    assert root.xpath("string(h:setId/@root)", namespaces=NS) == first.ids.set_id_root
    assert root.xpath("string(h:versionNumber/@value)", namespaces=NS) == "2"
    replaced = root.xpath("h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root", namespaces=NS)
    assert replaced == [first.ids.unique_id_root]
