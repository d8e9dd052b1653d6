"""The fast validation path reports exactly what the generated stylesheets report as they are.

`KitValidator(kit)` runs rewritten validator stylesheets (walks of patterns no rule of which can
fire are skipped, value sets and terminologies are parsed once per process); `KitValidator(kit,
fast=False)` runs the ISO skeleton's output unchanged. Both must give the same failures, and in
fact the same SVRL, on conformant documents and on documents each check rejects.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from dcc.adapters.cda.builder import build_frcp, build_pps
from dcc.adapters.cda.validate import KitValidator, ValidationReport, find_kit
from dcc.bench.samples import sample_frcp, sample_pps

pytestmark = pytest.mark.integration
NS = {"h": "urn:hl7-org:v3"}
KIT = find_kit()
SKIP_REASON = "Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)"


@pytest.fixture(scope="module")
def validators() -> tuple[KitValidator, KitValidator]:
    if KIT is None:
        pytest.skip(SKIP_REASON)
    return KitValidator(KIT), KitValidator(KIT, fast=False)


def _mutated(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return etree.tostring(root)


def _remove_case_status_section(root: etree._Element) -> None:
    section = root.xpath("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.33']", namespaces=NS)[0]
    component = section.getparent()
    component.getparent().remove(component)


def _quorum_outside_value_set(root: etree._Element) -> None:
    root.xpath("//h:observation[h:code/@code='ORG-125']/h:value", namespaces=NS)[0].set("code", "ORG-999")


def _unknown_icd10_code(root: etree._Element) -> None:
    # terminologie.sch looks the code up in the ICD-10 terminology file (a pre-parsed document)
    for code in root.xpath("//h:*[@codeSystem='2.16.840.1.113883.6.3']", namespaces=NS):
        code.set("code", "C99.99")


def _unknown_pps_treatment(root: etree._Element) -> None:
    root.xpath("//h:*[@codeSystem and @code='C15632']", namespaces=NS)[0].set("code", "C00000")


def _pps_declared_as_frcp(root: etree._Element) -> None:
    root.xpath("h:templateId[@root='1.2.250.1.213.1.1.1.26']", namespaces=NS)[0].set("root", "1.2.250.1.213.1.1.1.8")


def _drop_entry_template_ids(root: etree._Element) -> None:
    # entries lose their templateIds: the patterns about them stop firing, others start failing
    for tid in root.xpath("//h:entry//h:templateId", namespaces=NS)[::2]:
        tid.getparent().remove(tid)


def _kit(name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        assert KIT is not None
        return (KIT / "ExemplesCDA" / name).read_bytes()

    return read


DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "kit FRCP appareil": _kit("CANCER-FRCP_2022.01_Appareil.xml"),
    "kit FRCP transversale": _kit("CANCER-FRCP_2022.01_Transversale.xml"),
    "kit PPS": _kit("CANCER-PPS_2022.01_feuille-de-style-externe.xml"),
    "kit PPS autoprésentable": _kit("CANCER-PPS_2022.01_Autopresentable.xml"),
    "FRCP": lambda: build_frcp(sample_frcp()),
    "FRCP relapse": lambda: build_frcp(sample_frcp("relapse")),
    "FRCP transversal": lambda: build_frcp(sample_frcp("transversal")),
    "PPS revised": lambda: build_pps(sample_pps("revised")),
    "FRCP without case status section": lambda: _mutated(build_frcp(sample_frcp()), _remove_case_status_section),
    "FRCP quorum outside value set": lambda: _mutated(build_frcp(sample_frcp()), _quorum_outside_value_set),
    "FRCP unknown ICD-10 code": lambda: _mutated(build_frcp(sample_frcp()), _unknown_icd10_code),
    "PPS unknown treatment code": lambda: _mutated(build_pps(sample_pps()), _unknown_pps_treatment),
    "PPS declared as FRCP": lambda: _mutated(build_pps(sample_pps()), _pps_declared_as_frcp),
    "FRCP entries without templateIds": lambda: _mutated(build_frcp(sample_frcp()), _drop_entry_template_ids),
}
SHOULD_FAIL = {
    "kit FRCP appareil",  # the example's author specialty G15_10/SCH10 left its value set
    "kit FRCP transversale",
    "FRCP without case status section",
    "FRCP quorum outside value set",
    "FRCP unknown ICD-10 code",
    "PPS unknown treatment code",
    "PPS declared as FRCP",
    "FRCP entries without templateIds",
}


def _explain(report: ValidationReport) -> str:
    return "\n".join(str(f) for f in report.failures)


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_fast_path_reports_the_same_failures(validators: tuple[KitValidator, KitValidator], name: str) -> None:
    fast, plain = validators
    xml = DOCUMENTS[name]()
    got, expected = fast.validate(xml), plain.validate(xml)
    assert (got.kind, got.checks) == (expected.kind, expected.checks)
    assert got.failures == expected.failures, f"rapide :\n{_explain(got)}\nréférence :\n{_explain(expected)}"
    assert got.ok is (name not in SHOULD_FAIL), _explain(got)


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_fast_path_writes_the_same_svrl(validators: tuple[KitValidator, KitValidator], name: str) -> None:
    fast, plain = validators
    root = etree.fromstring(DOCUMENTS[name]())
    if etree.QName(root).localname != "ClinicalDocument":
        root = etree.fromstring(etree.tostring(root.find(".//h:ClinicalDocument", namespaces=NS)))
    for (rel, got), (_, expected) in zip(fast._svrl(root), plain._svrl(root), strict=True):
        assert got == expected, rel


def test_kit_examples_on_the_fast_path(validators: tuple[KitValidator, KitValidator]) -> None:
    fast, _ = validators
    frcp = fast.validate(DOCUMENTS["kit FRCP appareil"]())
    assert [f.check for f in frcp.failures] == ["profils/CI-SIS_ModelesDeContenusCDA.sch"]
    assert "G15_10/SCH10" in frcp.failures[0].message
    assert fast.validate(DOCUMENTS["kit PPS"]()).ok


def test_failures_name_the_rule_on_the_fast_path(validators: tuple[KitValidator, KitValidator]) -> None:
    fast, _ = validators
    removed = fast.validate(DOCUMENTS["FRCP without case status section"]())
    assert any("FR-Statut-dossier-RCP" in f.message for f in removed.failures), _explain(removed)
    outside = fast.validate(DOCUMENTS["FRCP quorum outside value set"]())
    assert any("JDV_StatutQuorum" in f.message for f in outside.failures), _explain(outside)
    icd10 = fast.validate(DOCUMENTS["FRCP unknown ICD-10 code"]())
    assert any(f.check.endswith("terminologie.sch") for f in icd10.failures), _explain(icd10)
