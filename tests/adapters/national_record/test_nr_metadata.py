"""XDS DocumentEntry metadata derived from the CDA, and the value-set checks done before sending."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from dcc.adapters.cda.validate import find_kit
from dcc.adapters.national_record.metadata import (
    CodedValue,
    check_codes,
    entry_from_cda,
    parse_cx,
    xcn,
    xds_time,
    xon,
)
from dcc.adapters.national_record.xds import check_sendable
from dcc.errors import IncompleteData, InvalidIdentifier, UnknownCode, ValidationFailed
from dcc.simulator.samples import sample_cda

KIT_EXAMPLE = "ExemplesCDA/CANCER-FRCP_2022.01_Appareil.xml"


def test_entry_from_sample_frcp() -> None:
    cda = sample_cda(unique_id="1.2.250.1.213.1.1.9.99.7")
    entry = entry_from_cda(cda)
    assert entry.unique_id == "1.2.250.1.213.1.1.9.99.7"
    assert entry.type_code == CodedValue(
        "34794-8", "2.16.840.1.113883.6.1", "CR de réunion de concertation pluridisciplinaire"
    )
    assert (entry.class_code.code, entry.class_code.scheme) == ("10", "1.2.250.1.213.1.1.4.1")
    assert entry.format_code.code == "urn:asip:ci-sis:frcp:2011"
    assert entry.format_code.scheme == "1.2.250.1.213.1.1.4.2.282"
    assert entry.confidentiality_codes == ("N",)
    assert entry.healthcare_facility_type.code == "SA01"
    assert entry.practice_setting.code == "ETABLISSEMENT"  # falls back to the author's organisation
    assert entry.author_person == "801234567897^MULLER^Charles^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert entry.author_institution == (
        "Centre Hospitalier d'Angers^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125"
    )
    assert entry.author_id == "801234567897"
    assert entry.author_structure_id == "1750100125"
    assert entry.author_specialty is not None and entry.author_specialty.code == "G15_10/SM36"
    assert entry.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert entry.source_patient_id == "1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI"
    assert entry.source_patient_info == ("PID-5|PAT-TROIS^DOMINIQUE^^^^^L", "PID-7|19790328", "PID-8|F")
    assert entry.creation_time == "20250312084914"  # +0100 converted to UTC
    assert entry.service_start == "20250312144500"
    assert entry.service_stop is None
    assert entry.language_code == "fr-FR"
    assert entry.mime_type == "text/xml"
    assert entry.hash_sha1 == hashlib.sha1(cda).hexdigest()
    assert entry.size == len(cda)
    assert entry.replaces is None
    # contentTypeCode (JDV_J59): the activity sector of the board's structure (TRE_R02), not the RCP act code
    assert entry.content_type == CodedValue("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé")
    check_codes(entry)


@pytest.mark.parametrize(
    ("content_type", "error"),
    [
        (None, ValidationFailed),  # absent
        (CodedValue("39", "1.2.250.1.213.3.3.13", "RCP"), UnknownCode),  # TRE_R213: not a J59 system
        (CodedValue("07", "1.2.250.1.213.2.2", ""), UnknownCode),  # TRE_R209: not checkable with the kit
        (CodedValue("SA99", "1.2.250.1.71.4.2.4", ""), UnknownCode),  # TRE_R02 system, unknown code
    ],
)
def test_content_type_outside_jdv_j59_is_refused_before_sending(content_type: CodedValue | None,
                                                                 error: type[Exception]) -> None:
    cda = sample_cda()
    entry = dataclasses.replace(entry_from_cda(cda), content_type=content_type)
    with pytest.raises(error) as caught:
        check_sendable(cda, entry)
    assert getattr(caught.value, "field", "") == "contentTypeCode"


def test_pps_maps_to_care_plan_class_and_format() -> None:
    entry = entry_from_cda(sample_cda(kind="PPS"))
    assert entry.type_code.code == "18776-5"
    assert entry.class_code.code == "44"
    assert entry.format_code.code == "urn:asip:ci-sis:pps-cancer:2017"
    check_codes(entry)


def test_extra_confidentiality_codes_come_from_j08() -> None:
    entry = entry_from_cda(sample_cda(), extra_confidentiality=("INVISIBLE_PATIENT", "MASQUE_PS"))
    assert entry.confidentiality_codes == ("N", "INVISIBLE_PATIENT", "MASQUE_PS")
    assert entry.confidentiality[1].scheme == "1.2.250.1.213.1.1.4.13"
    with pytest.raises(UnknownCode):
        entry_from_cda(sample_cda(), extra_confidentiality=("SECRET_DEFENSE",))


def test_replacement_reads_rplc_parent() -> None:
    entry = entry_from_cda(sample_cda(unique_id="1.2.3.2", replaces="1.2.3.1"))
    assert entry.replaces == "1.2.3.1"


def test_source_patient_id_override() -> None:
    entry = entry_from_cda(sample_cda(), source_patient_id="42^^^&1.2.3&ISO^PI")
    assert entry.source_patient_id == "42^^^&1.2.3&ISO^PI"


def test_document_without_ins_is_refused() -> None:
    cda = sample_cda(ins_oid="1.2.3.4.5")
    with pytest.raises(ValidationFailed, match="INS"):
        entry_from_cda(cda)


def test_incomplete_header_lists_missing_fields() -> None:
    cda = sample_cda().replace(b'<code code="SA01"', b'<nocode code="SA01"')
    with pytest.raises(IncompleteData, match="healthCareFacility"):
        entry_from_cda(cda)


def test_unsupported_document_type() -> None:
    cda = sample_cda().replace(b'code="34794-8"', b'code="11488-4"')
    with pytest.raises(ValidationFailed, match="11488-4"):
        entry_from_cda(cda)


def test_not_xml_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="XML"):
        entry_from_cda(b"<ClinicalDocument")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("healthcare_facility_type", CodedValue("SA99", "1.2.250.1.71.4.2.4")),
        ("practice_setting", CodedValue("CLINIQUE_LUNAIRE", "1.2.250.1.213.1.1.4.9")),
        ("author_specialty", CodedValue("G15_10/SM99", "1.2.250.1.213.1.1.4.5")),
        ("type_code", CodedValue("00000-0", "2.16.840.1.113883.6.1")),
    ],
)
def test_check_codes_rejects_codes_outside_value_sets(field: str, value: CodedValue) -> None:
    entry = dataclasses.replace(entry_from_cda(sample_cda()), **{field: value})
    with pytest.raises(UnknownCode):
        check_codes(entry)


def test_check_codes_rejects_wrong_code_system() -> None:
    entry = dataclasses.replace(
        entry_from_cda(sample_cda()), healthcare_facility_type=CodedValue("SA01", "1.2.3")
    )
    with pytest.raises(ValidationFailed, match="système"):
        check_codes(entry)


def test_check_codes_rejects_bad_nir_key() -> None:
    entry = entry_from_cda(sample_cda(nir="279035121518988"))
    with pytest.raises(InvalidIdentifier, match="clé"):
        check_codes(entry)


def test_hl7_helpers() -> None:
    assert xcn("8001", "DE^LA", "Jean") == "8001^DE\\S\\LA^Jean^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert xon("CH", "1750100125").split("^")[9] == "1750100125"
    assert parse_cx("279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH") == (
        "279035121518989",
        "1.2.250.1.213.1.4.10",
        "NH",
    )
    assert xds_time("20190218094914+0100") == "20190218084914"
    assert xds_time("20191231233000-0200") == "20200101013000"
    assert xds_time("20190218") == "20190218"


@pytest.mark.integration
def test_entry_from_kit_example() -> None:
    kit = find_kit()
    if kit is None:
        pytest.skip("ANS kit not found: set DCC_ANS_KIT (see tests/adapters/cda/test_cda_conformance.py)")
    entry = entry_from_cda((kit / KIT_EXAMPLE).read_bytes())
    assert entry.unique_id == "1.2.250.1.213.1.1.1.8.2022.1.1"
    assert entry.type_code.code == "34794-8"
    assert entry.class_code.code == "10"
    assert entry.healthcare_facility_type.code == "SA01"
    assert entry.practice_setting.code == "ETABLISSEMENT"
    assert entry.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert entry.creation_time == "20190218084914"
    assert entry.legal_authenticator is not None
    check_codes(entry)
