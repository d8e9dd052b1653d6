"""Generated FRCP / PPS against the official ANS rules (XSD + 5 schematrons), zero failures.

Skipped when the ANS kit is not found (set DCC_ANS_KIT or put it at ../shared/ans-cda-kit).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dcc import valuesets
from dcc.adapters.cda.builder import build_frcp, build_pps
from dcc.adapters.cda.validate import KitValidator, ValidationReport, find_kit
from dcc.bench.samples import FRCP_VARIANTS, PPS_VARIANTS, sample_frcp, sample_pps
from dcc.domain.documents import TNM, PlannedTreatment, SupportCare

pytestmark = pytest.mark.integration
NS = {"h": "urn:hl7-org:v3"}
KIT = find_kit()


@pytest.fixture(scope="module")
def validator() -> KitValidator:
    if KIT is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    return KitValidator(KIT)


def _explain(report: ValidationReport) -> str:
    return "\n".join(str(f) for f in report.failures)


@pytest.mark.parametrize("variant", FRCP_VARIANTS)
def test_generated_frcp_is_conformant(validator: KitValidator, variant: str) -> None:
    report = validator.validate(build_frcp(sample_frcp(variant)))
    assert report.kind == "FRCP"
    assert report.ok, _explain(report)
    assert len(report.checks) == 5


@pytest.mark.parametrize("variant", PPS_VARIANTS)
def test_generated_pps_is_conformant(validator: KitValidator, variant: str) -> None:
    report = validator.validate(build_pps(sample_pps(variant)))
    assert report.kind == "PPS"
    assert report.ok, _explain(report)


@pytest.mark.parametrize(
    "name", ["CANCER-PPS_2022.01_feuille-de-style-externe.xml", "CANCER-PPS_2022.01_Autopresentable.xml"]
)
def test_kit_pps_examples_pass(validator: KitValidator, name: str) -> None:
    assert KIT is not None
    report = validator.validate((KIT / "ExemplesCDA" / name).read_bytes())
    assert report.ok, _explain(report)


def test_kit_frcp_example_fails_only_on_outdated_specialty(validator: KitValidator) -> None:
    assert KIT is not None
    report = validator.validate((KIT / "ExemplesCDA" / "CANCER-FRCP_2022.01_Appareil.xml").read_bytes())
    assert len(report.failures) == 1
    assert "G15_10/SCH10" in report.failures[0].message


def test_pps_fails_the_frcp_rules_when_declared_as_frcp(validator: KitValidator) -> None:
    root = etree.fromstring(build_pps(sample_pps()))
    root.xpath("h:templateId[@root='1.2.250.1.213.1.1.1.26']", namespaces=NS)[0].set(
        "root", "1.2.250.1.213.1.1.1.8"
    )
    report = validator.validate(etree.tostring(root))
    assert report.kind == "FRCP" and not report.ok


def test_removed_mandatory_section_fails(validator: KitValidator) -> None:
    root = etree.fromstring(build_frcp(sample_frcp()))
    section = root.xpath("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.33']", namespaces=NS)[0]
    component = section.getparent()
    component.getparent().remove(component)
    report = validator.validate(etree.tostring(root))
    assert any("FR-Statut-dossier-RCP" in f.message for f in report.failures), _explain(report)


def test_code_outside_value_set_fails(validator: KitValidator) -> None:
    root = etree.fromstring(build_frcp(sample_frcp()))
    root.xpath("//h:observation[h:code/@code='ORG-125']/h:value", namespaces=NS)[0].set("code", "ORG-999")
    report = validator.validate(etree.tostring(root))
    assert any("JDV_StatutQuorum" in f.message for f in report.failures), _explain(report)


def test_xsd_error_is_reported(validator: KitValidator) -> None:
    root = etree.fromstring(build_pps(sample_pps()))
    root.xpath("h:recordTarget//h:birthTime", namespaces=NS)[0].set("value", "28/03/1979")
    report = validator.validate(etree.tostring(root))
    assert [f.check for f in report.failures] == ["XSD"]


def _codes(value_set: str) -> st.SearchStrategy:
    return st.sampled_from(valuesets.concepts(value_set))


@st.composite
def frcp_contents(draw: st.DrawFn):
    c = sample_frcp(draw(st.sampled_from(FRCP_VARIANTS)))
    board = c.board
    if board.kind == "organ":
        board = replace(
            board,
            appareil=draw(_codes("JDV_RCP_Appareil_CISIS")),
            organe=draw(st.none() | _codes("JDV_RCP_Organe_CISIS")),
        )
    else:
        board = replace(board, transversal=draw(_codes("JDV_TraitementSoins_FRCP_CISIS")))
    board = replace(board, recours=draw(st.booleans()), pediatric=draw(st.booleans()))
    tnm = c.tumour.tnm if c.tumour else None
    if tnm is not None:
        tnm = TNM(
            draw(st.sampled_from(["Tx", "T1", "pT2a", "T4", "ypT0"])),
            draw(st.sampled_from(["N0", "pN1", "Nx"])),
            draw(st.sampled_from(["M0", "cM0", "M1"])),
            edition=draw(st.none() | st.sampled_from([7, 8])),
            stage=draw(st.sampled_from(["", "IA", "IIIB", "IV"])),
        )
    # a TNM that applies must be entered (the builder refuses its absence): without one, only 'non applicable'
    applicable = draw(st.booleans()) if tnm is not None else False
    laterality = draw(st.none() | _codes("JDV_ModificateurTopographique_CISIS"))
    tumour = replace(
        c.tumour,
        topography=draw(_codes("JDV_Tumeur_CISIS")),
        morphology=draw(st.none() | _codes("JDV_Morphologie_CISIS")),
        tnm=tnm if applicable else None,
        tnm_applicable=applicable,
        laterality=draw(st.sampled_from(["", "Non précisée"])) if laterality is None else laterality.display,
        laterality_code=laterality,
        diagnosis_date=draw(st.none() | st.just(date(2024, 2, 29))),
    )
    return replace(
        c,
        board=board,
        tumour=tumour,
        quorum=draw(st.sampled_from(["met", "not_met", "unknown"])),
        performance_status=draw(st.none() | st.integers(0, 4)),
        trial_proposed=draw(st.booleans()),
        screening=draw(st.none() | st.booleans()),
        proposal_treatments=tuple(draw(st.lists(_codes("JDV_TypeTraitement_FRCP_CISIS"), max_size=3))),
        progression=draw(st.none() | st.tuples(st.booleans(), st.booleans(), st.booleans())),
        comment=draw(st.sampled_from(["", "Patiente <informée> & d'accord"])),
    )


@st.composite
def pps_contents(draw: st.DrawFn):
    c = sample_pps(draw(st.sampled_from(PPS_VARIANTS)))
    start = date(2024, 3, 1) + timedelta(days=draw(st.integers(0, 300)))
    planned = st.builds(
        PlannedTreatment,
        _codes("JDV_TypeTraitementPPS_CISIS"),
        st.none() | st.just(start),
        st.none() | st.just(start + timedelta(days=60)),
        st.just("Texte"),
        st.just(""),
    )
    follow = st.builds(PlannedTreatment, _codes("JDV_TypeDeSuivi_CISIS"), st.just(start))
    return replace(
        c,
        treatments=tuple(draw(st.lists(planned, min_size=1, max_size=4))),
        follow_up=tuple(draw(st.lists(follow, max_size=2))),
        supportive_care=tuple(
            draw(st.lists(st.builds(SupportCare, _codes("JDV_SoinsOncoDeSupport_CISIS")), max_size=3))
        ),
        social_support=tuple(
            draw(st.lists(st.builds(SupportCare, _codes("JDV_TypeAccompagnementSocioPro_CISIS")), max_size=2))
        ),
        handed_to_patient=draw(st.none() | st.just(start)),
        phase=draw(st.sampled_from(["initial", "relapse"])),
    )


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frcp=frcp_contents(), pps=pps_contents())
def test_generated_documents_always_conformant(validator: KitValidator, frcp, pps) -> None:  # noqa: ANN001
    for xml in (build_frcp(frcp), build_pps(pps)):
        report = validator.validate(xml)
        assert report.ok, _explain(report)
