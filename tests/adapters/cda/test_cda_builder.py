"""CDA builder: structure, errors and signing-time stamping (no ANS kit needed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree

from dcc.adapters.cda.builder import build_frcp, build_pps, stamp_legal_authenticator
from dcc.bench.samples import BREAST, BREAST_BOARD, sample_frcp, sample_pps
from dcc.domain.documents import Code
from dcc.errors import IncompleteData, UnknownCode

NS = {"h": "urn:hl7-org:v3"}


def _root(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def test_frcp_header_identity_and_board() -> None:
    content = sample_frcp()
    xml = build_frcp(content)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = _root(xml)
    assert root.xpath("h:templateId/@root", namespaces=NS) == [
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.2.250.1.213.1.1.1.8",
    ]
    assert root.xpath("string(h:code/@code)", namespaces=NS) == "34794-8"
    assert root.xpath("string(h:title)", namespaces=NS) == "FRCP ONCO PAYS DE LA LOIRE / 3C CHU Angers / Sein"
    assert root.xpath("string(h:id/@root)", namespaces=NS) == content.ids.unique_id_root
    name = root.xpath("h:recordTarget/h:patientRole/h:patient/h:name", namespaces=NS)[0]
    assert name.xpath("string(h:family[@qualifier='BR'])", namespaces=NS) == "PAT-TROIS"
    assert name.xpath("h:given[not(@qualifier)]/text()", namespaces=NS) == ["DOMINIQUE MARIE-LOUISE"]
    ids = root.xpath("h:recordTarget/h:patientRole/h:id/@root", namespaces=NS)
    assert ids == ["1.2.250.1.213.1.4.10", content.patient.ipp_oid]
    enc_ids = root.xpath("h:componentOf/h:encompassingEncounter/h:id/@extension", namespaces=NS)
    assert enc_ids[:3] == ["5201", "520114", "27011113"]
    quorum = root.xpath("h:participant[h:functionCode/@code='353']", namespaces=NS)
    assert len(quorum) == len(content.quorum_members)
    assert root.xpath("string(h:legalAuthenticator/h:signatureCode/@code)", namespaces=NS) == "S"


def test_frcp_unknown_gp_is_null_flavoured() -> None:
    root = _root(build_frcp(sample_frcp(referring_gp=None)))
    gp = root.xpath("h:participant[h:functionCode/@code='PCP']/h:associatedEntity", namespaces=NS)
    assert gp[0].get("nullFlavor") == "NA"


def test_build_is_deterministic() -> None:
    assert build_frcp(sample_frcp()) == build_frcp(sample_frcp())


def test_discussed_organ_case_without_tnm_is_incomplete() -> None:
    with pytest.raises(IncompleteData) as err:
        build_frcp(sample_frcp(tumour=replace(BREAST, tnm=None)))
    assert "classification TNM" in err.value.missing
    assert "fiche RCP" in err.value.message


def test_registered_case_without_referential_is_incomplete() -> None:
    with pytest.raises(IncompleteData):
        build_frcp(sample_frcp("registered", referential=None))


def test_pps_revision_without_motive_is_incomplete() -> None:
    with pytest.raises(IncompleteData) as err:
        build_pps(sample_pps("revised", update_motive=None))
    assert "motif de mise à jour du PPS" in err.value.missing


def test_code_outside_its_value_set_is_refused() -> None:
    bad = Code("76752008", "2.16.840.1.113883.6.96", "sein")  # an organ board code used as a treatment
    with pytest.raises(UnknownCode) as err:
        build_frcp(sample_frcp(proposal_treatments=(bad,)))
    assert err.value.value_set == "JDV_TypeTraitement_FRCP_CISIS"
    with pytest.raises(UnknownCode):
        build_frcp(sample_frcp(board=replace(BREAST_BOARD, appareil=Code("C50.2", "x", "x"))))


def test_pps_references_frcp_and_replaced_version() -> None:
    content = sample_pps("revised")
    root = _root(build_pps(content))
    assert (
        root.xpath("string(h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root)", namespaces=NS)
        == content.ids.replaces_unique_id
    )
    refs = root.xpath("//h:externalDocument/h:id/@root", namespaces=NS)
    assert refs == [content.frcp_unique_id, content.ids.replaces_unique_id]
    assert root.xpath("string(h:versionNumber/@value)", namespaces=NS) == "2"
    assert (
        root.xpath("string(//h:observation[h:code/@code='GEN-037']/h:value/@code)", namespaces=NS)
        == "MED-560"
    )


def test_narrative_references_resolve() -> None:
    for xml in (build_frcp(sample_frcp("relapse")), build_pps(sample_pps("revised"))):
        root = _root(xml)
        ids = set(root.xpath("//h:text//@ID", namespaces=NS))
        refs = {r[1:] for r in root.xpath("//h:reference/@value", namespaces=NS)}
        assert refs <= ids, refs - ids


def test_stamp_legal_authenticator_changes_only_the_time() -> None:
    xml = build_frcp(sample_frcp())
    signed_at = datetime(2024, 3, 1, 9, 30, 5, tzinfo=UTC)
    stamped = stamp_legal_authenticator(xml, signed_at=signed_at)
    a, b = _root(xml), _root(stamped)
    path = "h:legalAuthenticator/h:time/@value"
    # a Paris-local instant with its UTC offset (09:30:05 UTC is 10:30:05 in Paris in winter)
    assert b.xpath(f"string({path})", namespaces=NS) == "20240301103005+0100"
    assert a.xpath(f"string({path})", namespaces=NS) != "20240301103005+0100"
    b.xpath("h:legalAuthenticator/h:time", namespaces=NS)[0].set(
        "value", a.xpath(f"string({path})", namespaces=NS)
    )
    assert etree.tostring(a, method="c14n") == etree.tostring(b, method="c14n")


@pytest.mark.parametrize(("instant", "expected"), [
    (datetime(2026, 12, 3, 15, 0, tzinfo=UTC), "20261203160000+0100"),  # winter: UTC+1
    (datetime(2026, 7, 1, 14, 30, tzinfo=UTC), "20260701163000+0200"),  # summer: UTC+2
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "20260329033000+0200"),  # just after the switch to summer time
])
def test_timestamps_are_paris_local_with_their_offset(instant: datetime, expected: str) -> None:
    """CI-SIS: a time is a TS with its offset; dcc writes the Paris local time of the instant."""
    stamped = stamp_legal_authenticator(build_frcp(sample_frcp()), signed_at=instant)
    assert _root(stamped).xpath("string(h:legalAuthenticator/h:time/@value)", namespaces=NS) == expected


def test_meeting_and_creation_times_carry_the_paris_offset() -> None:
    """The encompassingEncounter (the meeting) and the document's effectiveTime: Paris time with offset."""
    content = replace(sample_frcp(), session_date=datetime(2026, 12, 3, 15, 0, tzinfo=UTC),
                                  created_at=datetime(2026, 12, 3, 17, 45, tzinfo=UTC))
    root = _root(build_frcp(content))
    meeting = root.xpath("string(h:componentOf/h:encompassingEncounter/h:effectiveTime/h:low/@value)",
                         namespaces=NS)
    assert meeting == "20261203160000+0100"
    assert root.xpath("string(h:effectiveTime/@value)", namespaces=NS) == "20261203184500+0100"
