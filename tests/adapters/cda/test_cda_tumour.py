"""The tumour in the Fiche RCP: stage group, TNM edition, laterality and date of diagnosis coded where the FRCP
model puts them (agency's FRCP example), TNM nullFlavor NA where UICC has none; each passes the ANS kit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from lxml import etree

from dcc import valuesets
from dcc.adapters.cda.builder import build_frcp, build_pps
from dcc.adapters.cda.validate import KitValidator, find_kit
from dcc.bench.samples import BREAST, PEDIATRIC_BOARD, sample_frcp, sample_pps
from dcc.domain.documents import TNM

NS = {"h": "urn:hl7-org:v3"}
KIT = find_kit()
DIAG = "//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.113']"
STAGE = DIAG + "/h:entryRelationship/h:observation[h:code/@code='75620-5']"


@pytest.fixture(scope="module")
def validator() -> KitValidator:
    if KIT is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    return KitValidator(KIT)


def _one(root: etree._Element, xpath: str) -> str:
    found = root.xpath(xpath, namespaces=NS)
    assert len(found) == 1, (xpath, found)
    return str(found[0])


def breast_case() -> bytes:
    tumour = replace(
        BREAST,
        tnm=TNM("ypT1c", "ypN1a", "cM0", edition=8, stage="IIA"),
        laterality="Gauche",
        laterality_code=valuesets.lookup("JDV_ModificateurTopographique_CISIS", "7771000"),
        diagnosis_date=date(2023, 11, 14),
    )
    return build_frcp(sample_frcp("organ_discussed", tumour=tumour))


def test_stage_edition_laterality_and_diagnosis_date_are_coded(validator: KitValidator) -> None:
    xml = breast_case()
    report = validator.validate(xml)
    assert report.ok, "\n".join(str(f) for f in report.failures)
    root = etree.fromstring(xml)
    # date of diagnosis: effectiveTime/low of the problem-list act and of the cancer diagnosis entry
    act = "//h:act[h:templateId/@root='1.2.250.1.213.1.1.3.39.1']"
    assert _one(root, act + "/h:effectiveTime/h:low/@value") == "20231114"
    assert _one(root, DIAG + "/h:effectiveTime/h:low/@value") == "20231114"
    # laterality: targetSiteCode qualifier LOINC 20228-3, SNOMED CT 7771000 (gauche)
    qual = DIAG + "/h:targetSiteCode/h:qualifier"
    assert _one(root, qual + "/h:name/@code") == "20228-3"
    assert _one(root, qual + "/h:value/@code") == "7771000"
    assert _one(root, qual + "/h:value/@codeSystem") == "2.16.840.1.113883.6.96"
    # stage group 21909-7 and edition 21917-0: qualifiers of the TNM entry's value
    assert _one(root, STAGE + "/h:value/h:qualifier[h:name/@code='21909-7']/h:value/@code") == "IIA"
    assert _one(root, STAGE + "/h:value/h:qualifier[h:name/@code='21917-0']/h:value/@code") == "8"
    # T/N/M: the UICC category as code, the prefix in the narrative the value references
    t_value = STAGE + "/h:entryRelationship/h:observation[h:code/@code='21905-5']/h:value"
    assert _one(root, t_value + "/@code") == "T1c"
    assert _one(root, t_value + "/@codeSystemVersion") == "8"
    ref = _one(root, t_value + "/h:originalText/h:reference/@value").removeprefix("#")
    assert _one(root, f"//h:content[@ID='{ref}']/text()") == "ypT1c"
    m_value = STAGE + "/h:entryRelationship/h:observation[h:code/@code='21907-1']/h:value/@code"
    assert _one(root, m_value) == "M0"
    text = "".join(root.xpath("//h:section[h:code/@code='72135-7']/h:text//text()", namespaces=NS))
    assert "Gauche" in text and "14/11/2023" in text and "IIA" in text and "8e édition" in text


def test_laterality_not_stated_is_unknown_and_unknown_diagnosis_date_is_unk(validator: KitValidator) -> None:
    tumour = replace(BREAST, laterality="Non précisée", laterality_code=None, diagnosis_date=None)
    xml = build_frcp(sample_frcp("organ_discussed", tumour=tumour))
    report = validator.validate(xml)
    assert report.ok, "\n".join(str(f) for f in report.failures)
    root = etree.fromstring(xml)
    assert _one(root, DIAG + "/h:targetSiteCode/h:qualifier/h:value/@nullFlavor") == "UNK"
    assert _one(root, DIAG + "/h:effectiveTime/h:low/@nullFlavor") == "UNK"


def test_unpaired_organ_has_no_laterality_qualifier(validator: KitValidator) -> None:
    colon = replace(BREAST, topography=valuesets.lookup("JDV_Tumeur_CISIS", "C18.7"),
                    morphology=valuesets.lookup("JDV_Morphologie_CISIS", "8140/3"), laterality="",
                    laterality_code=None)
    root = etree.fromstring(build_frcp(sample_frcp("organ_discussed", tumour=colon)))
    assert root.xpath(DIAG + "/h:targetSiteCode/h:qualifier", namespaces=NS) == []


def test_cns_case_without_tnm_passes_the_kit_with_tnm_not_applicable(validator: KitValidator) -> None:
    glioblastoma = replace(
        BREAST, topography=valuesets.lookup("JDV_Tumeur_CISIS", "C71.1"),
        morphology=valuesets.lookup("JDV_Morphologie_CISIS", "9440/3"), tnm=None, tnm_applicable=False,
        laterality="Droite", laterality_code=valuesets.lookup("JDV_ModificateurTopographique_CISIS", "24028007"),
    )
    board = replace(PEDIATRIC_BOARD, pediatric=False, rcp_name="Neuro-oncologie",
                    organe=valuesets.lookup("JDV_RCP_Organe_CISIS", "21483005"))
    xml = build_frcp(sample_frcp("organ_discussed", board=board, tumour=glioblastoma))
    report = validator.validate(xml)
    assert report.ok, "\n".join(str(f) for f in report.failures)
    root = etree.fromstring(xml)
    assert _one(root, STAGE + "/h:value/@nullFlavor") == "NA"
    for loinc in ("21905-5", "21906-3", "21907-1"):
        assert _one(root, STAGE + f"/h:entryRelationship/h:observation[h:code/@code='{loinc}']/h:value/@nullFlavor") \
            == "NA"
    text = "".join(root.xpath("//h:section[h:code/@code='72135-7']/h:text//text()", namespaces=NS))
    assert "Non applicable" in text and "T2" not in text


def test_pps_of_a_cns_case_passes_the_kit(validator: KitValidator) -> None:
    glioblastoma = replace(
        BREAST, topography=valuesets.lookup("JDV_Tumeur_CISIS", "C71.9"),
        morphology=valuesets.lookup("JDV_Morphologie_CISIS", "9440/3"), tnm=None, tnm_applicable=False,
        laterality="", laterality_code=None,
    )
    report = validator.validate(build_pps(sample_pps(tumour=glioblastoma)))
    assert report.ok, "\n".join(str(f) for f in report.failures)
