"""XDS DocumentEntry metadata for the DMP, derived from the CDA itself (CI-SIS "Mapping XDS").

The metadata is never typed in by hand: every value comes from the signed CDA bytes, so what
the registry indexes is what the document says. `check_codes` then checks each code against the
ANS value sets copied in `dcc.valuesets`, before anything leaves the process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from dcc import valuesets
from dcc.domain.identifiers import INS_OIDS, PS_ID_OID, STRUCT_ID_OID, validate_ins_oid, validate_nir
from dcc.errors import IncompleteData, UnknownCode, ValidationFailed

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}

# Value sets of the kit used for XDS metadata.
VS_TYPE = "JDV_J07_XdsTypeCode_CISIS"
VS_CONFIDENTIALITY = "JDV_J08_XdsConfidentialityCode_CISIS"
VS_FACILITY = "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS"
VS_PRACTICE = "JDV_J04_XdsPracticeSettingCode_CISIS"
VS_SPECIALTY = "JDV_J01_XdsAuthorSpecialty_CISIS"

# SubmissionSet.contentTypeCode (XDS) / List designationType (MHD) come from JDV_J59-ContentTypeCode-DMP
# (CI-SIS "Partage de documents de santé", metadata table: "Valeur de JDV_J59-ContentTypeCode-DMP", required;
# PDSm FSH: `contentTypeCode from .../JDV_J59-ContentTypeCode-DMP (required)`). Its code systems, as the PDSm
# SubmissionSet profile's designationType definition lists them:
VS_CONTENT_TYPE = "JDV_J59-ContentTypeCode-DMP"
SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"  # TRE_R02-SecteurActivite
CONTENT_TYPE_SYSTEMS = {
    "1.2.250.1.213.1.1.4.6": "TRE_A00-ProducteurDocNonPS",
    "1.2.250.1.213.2.2": "TRE_R209-TypeActivite",
    SECTOR_SYSTEM: "TRE_R02-SecteurActivite",
}
# J59 is not in the kit; the codes of TRE_R02 and TRE_A00 are those the kit's JDV_J02 lists (67 TRE_R02 sectors,
# 2 TRE_A00 producers), so they are checked there. TRE_R209 codes cannot be checked with the kit: dcc never sends
# one (its content type is the structure's activity sector, see entry_from_cda) and refuses them before sending.

CLASS_CODE_SYSTEM = "1.2.250.1.213.1.1.4.1"  # TRE_A03-ClasseDocument
FORMAT_CODE_SYSTEM = "1.2.250.1.213.1.1.4.2.282"  # TRE_A06-FormatCodeComplementaire
LOINC = "2.16.840.1.113883.6.1"

# typeCode -> classCode and ASS_A11 (typeCode -> formatCode) rows for the documents dcc produces. The classes are
# those of the DMP's own correspondence ASS_X16-CorrespondanceType-Classe-DMP (OID 1.2.250.1.213.1.1.5.587,
# version 20240223120000: "Correspondance entre types et classes de documents, restreinte aux codes des JDV_J66
# et JDV_J57 du DMP"; ansforge/IG-terminologie-de-sante, DM/input/fsh/ASS-X16-CorrespondanceType-Classe-DMP.fsh):
# 34794-8 -> 10 and 18776-5 -> 44 (confirmed 2026-12-04).
CLASS_BY_TYPE: dict[str, tuple[str, str]] = {
    "34794-8": ("10", "Compte rendu"),
    "18776-5": ("44", "Plan de soins, protocole de soins"),
}
FORMAT_BY_TYPE: dict[str, tuple[str, str]] = {
    "34794-8": ("urn:asip:ci-sis:frcp:2011", "CI-SIS Fiche de RCP"),
    "18776-5": ("urn:asip:ci-sis:pps-cancer:2017", "CI-SIS Programme personnalisé de soins en cancérologie"),
}
# N1 documents (a case attachment shared as a non-structured CDA, dcc.adapters.cda.n1): the types a physician may
# share (JDV_J07), with their class from ASS_X16 (above): 60568-3, 96349-6 and 11488-4 -> 10 "Compte rendu";
# 18748-4 -> 31 "Imagerie médicale" (until 2026-12-04 dcc sent 10 for it, a guess the ASS_X16 row corrects).
N1_CLASS_BY_TYPE: dict[str, tuple[str, str]] = {
    "60568-3": ("10", "Compte rendu"),  # CR d'anatomie et de cytologie pathologiques
    "18748-4": ("31", "Imagerie médicale"),  # CR d'imagerie médicale
    "96349-6": ("10", "Compte rendu"),  # Lettre d'adressage
    "11488-4": ("10", "Compte rendu"),  # CR ou fiche de consultation ou de visite
}
# formatCode of an N1 document from its body's media type: ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-
# CISIS ("déduire l'attribut XDS formatCode à partir de component/nonXMLBody/text@mediaType du CDA N1"), codes of
# TRE_A11-IheFormatCode (OID 1.3.6.1.4.1.19376.1.2.3).
IHE_FORMAT_CODE_SYSTEM = "1.3.6.1.4.1.19376.1.2.3"
N1_FORMAT_BY_MEDIA_TYPE: dict[str, tuple[str, str]] = {
    "application/pdf": ("urn:ihe:iti:xds-sd:pdf:2008", "Document à corps non structuré en Pdf/A-1"),
    "image/jpeg": ("urn:ihe:iti-fr:xds-sd:jpeg:2010", "Document à corps non structuré en format jpeg"),
}
CLASS_CODES = {code: label for code, label in [*CLASS_BY_TYPE.values(), *N1_CLASS_BY_TYPE.values()]}
FORMAT_CODES = {code: label for code, label in FORMAT_BY_TYPE.values()}
N1_FORMAT_CODES = {code: label for code, label in N1_FORMAT_BY_MEDIA_TYPE.values()}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class CodedValue:
    """An XDS coded value: the classification's nodeRepresentation, codingScheme and name."""

    code: str
    scheme: str
    display: str = ""


@dataclass(frozen=True)
class DocumentEntry:
    """XDSDocumentEntry metadata of one CDA, in the HL7 v2 string forms XDS uses (XCN, XON, CX)."""

    unique_id: str
    title: str
    type_code: CodedValue
    class_code: CodedValue
    format_code: CodedValue
    confidentiality: tuple[CodedValue, ...]
    healthcare_facility_type: CodedValue
    practice_setting: CodedValue
    author_person: str  # XCN
    author_institution: str  # XON
    author_specialty: CodedValue | None
    author_role: str | None
    legal_authenticator: str | None  # XCN
    patient_id: str  # INS as CX: <matricule>^^^&<oid>&ISO^NH
    source_patient_id: str
    source_patient_info: tuple[str, ...]
    creation_time: str  # UTC, YYYYMMDD[HHMMSS]
    service_start: str | None
    service_stop: str | None
    language_code: str
    hash_sha1: str  # hex
    size: int
    replaces: str | None = None  # uniqueId of the document this one replaces (RPLC)
    content_type: CodedValue | None = None  # SubmissionSet.contentTypeCode (JDV_J59, see entry_from_cda)
    mime_type: str = "text/xml"

    @property
    def author_id(self) -> str:
        """The author's national id (XCN.1), e.g. `8` + RPPS."""
        return self.author_person.split("^", 1)[0]

    @property
    def author_structure_id(self) -> str:
        """The author institution's Struct_IdNat (XON.10)."""
        parts = self.author_institution.split("^")
        return parts[9] if len(parts) > 9 else ""

    @property
    def confidentiality_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.confidentiality)

    def describes(self, cda: bytes) -> bool:
        """True when this entry's hash and size are those of `cda`."""
        return hashlib.sha1(cda).hexdigest() == self.hash_sha1 and len(cda) == self.size


# --- small HL7 v2 datatype builders -------------------------------------------------------------------


def _hl7_escape(value: str) -> str:
    """Escape the HL7 v2 delimiters a name may contain."""
    out = value.replace("\\", "\\E\\")
    for char, esc in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(char, esc)
    return out


def xcn(id_nat: str, family: str, given: str) -> str:
    """XCN of a professional: XCN.9 assigning authority idNat_PS, XCN.10 `D`, XCN.13 `IDNPS`."""
    return f"{id_nat}^{_hl7_escape(family)}^{_hl7_escape(given)}^^^^^^&{PS_ID_OID}&ISO^D^^^IDNPS"


def xon(name: str, struct_id_nat: str) -> str:
    """XON of a structure: XON.6 authority idNat_Struct, XON.7 `IDNST`, XON.10 the Struct_IdNat."""
    return f"{_hl7_escape(name)}^^^^^&{STRUCT_ID_OID}&ISO^IDNST^^^{struct_id_nat}"


def ins_cx(matricule: str, oid: str) -> str:
    return f"{matricule}^^^&{oid}&ISO^NH"


def parse_cx(value: str) -> tuple[str, str, str]:
    """(id, assigning authority OID, identifier type) of a CX `id^^^&oid&ISO^type`."""
    parts = value.split("^")
    if len(parts) < 4:
        raise ValidationFailed(f"Identifiant patient « {value} » mal formé (CX attendu).", field="patientId")
    authority = parts[3].split("&")
    oid = authority[1] if len(authority) > 1 else ""
    id_type = parts[4] if len(parts) > 4 else ""
    return parts[0], oid, id_type


def xds_time(hl7_ts: str) -> str:
    """An HL7 TS (`YYYYMMDDHHMMSS+ZZZZ`) as an XDS DTM, converted to UTC when the offset is given."""
    value = hl7_ts.strip()
    offset = None
    for sign in ("+", "-"):
        if sign in value[8:]:
            idx = value.index(sign, 8)
            value, offset = value[:idx], value[idx:]
            break
    value = value.split(".", 1)[0]
    if not value.isdigit() or len(value) < 4:
        raise ValidationFailed(f"Date HL7 « {hl7_ts} » invalide.", field="effectiveTime")
    if offset is None or len(value) < 12:
        return value
    padded = value.ljust(14, "0")
    local = datetime.strptime(padded, "%Y%m%d%H%M%S")
    direction = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5] or 0))
    utc = (local - direction * delta).replace(tzinfo=UTC)
    return utc.strftime("%Y%m%d%H%M%S")[: len(value)]


# --- CDA reading ----------------------------------------------------------------------------------


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path, namespaces=NS)
    return found[0] if found else None


def _first_of(root: etree._Element, *paths: str) -> etree._Element | None:
    for path in paths:
        found = _first(root, path)
        if found is not None:
            return found
    return None


def _coded(el: etree._Element | None) -> CodedValue | None:
    if el is None or not el.get("code"):
        return None
    return CodedValue(el.get("code", ""), el.get("codeSystem", ""), el.get("displayName", ""))


def _text(el: etree._Element | None) -> str:
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def _name(person: etree._Element | None) -> tuple[str, str]:
    if person is None:
        return "", ""
    family = _first_of(person, "h:name/h:family[@qualifier='BR']", "h:name/h:family")
    given = _first_of(person, "h:name/h:given[@qualifier='BR']", "h:name/h:given")
    return _text(family), _text(given)


def _ii(el: etree._Element | None) -> str:
    if el is None or not el.get("root"):
        return ""
    ext = el.get("extension")
    return f"{el.get('root')}^{ext}" if ext else str(el.get("root"))


def parse_cda(cda: bytes) -> etree._Element:
    try:
        root = etree.fromstring(cda, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed(f"Le document CDA n'est pas un XML bien formé : {exc}") from exc
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        raise ValidationFailed("Le document n'est pas un ClinicalDocument CDA R2.")
    return root


def entry_from_cda(
    cda: bytes,
    *,
    extra_confidentiality: tuple[str, ...] = (),
    source_patient_id: str | None = None,
) -> DocumentEntry:
    """Derive the XDSDocumentEntry of `cda` as the DMP mapping does (CI-SIS, domain notes §3).

    `extra_confidentiality`: JDV_J08 codes added after the CDA's own N/R/V (e.g. `INVISIBLE_PATIENT`
    until the announcement consultation, `MASQUE_PS`). `source_patient_id`: the local IPP as a CX;
    defaults to the IPP found in the CDA, or the INS.
    """
    root = parse_cda(cda)
    missing: list[str] = []

    unique_id = _ii(_first(root, "h:id"))
    if not unique_id:
        missing.append("identifiant du document (id)")

    type_code = _coded(_first(root, "h:code"))
    if type_code is None:
        raise IncompleteData(["type du document (code)"], what="les métadonnées DMP")
    body = _first(root, "h:component/h:nonXMLBody/h:text")
    if body is not None:  # N1: class from the type, format from the body's media type (ASS_A12)
        media_type = body.get("mediaType", "")
        if type_code.code not in N1_CLASS_BY_TYPE or media_type not in N1_FORMAT_BY_MEDIA_TYPE:
            raise ValidationFailed(
                f"Le document non structuré de type « {type_code.code} » ({media_type or 'sans type de fichier'}) "
                f"n'est pas pris en charge pour l'envoi au DMP (types : {', '.join(N1_CLASS_BY_TYPE)} ; "
                f"fichiers : {', '.join(N1_FORMAT_BY_MEDIA_TYPE)}).",
                field="typeCode",
            )
        class_value, class_label = N1_CLASS_BY_TYPE[type_code.code]
        format_value, format_label = N1_FORMAT_BY_MEDIA_TYPE[media_type]
        format_code = CodedValue(format_value, IHE_FORMAT_CODE_SYSTEM, format_label)
    elif type_code.code in CLASS_BY_TYPE:
        class_value, class_label = CLASS_BY_TYPE[type_code.code]
        format_value, format_label = FORMAT_BY_TYPE[type_code.code]
        format_code = CodedValue(format_value, FORMAT_CODE_SYSTEM, format_label)
    else:
        raise ValidationFailed(
            f"Le type de document « {type_code.code} » n'est pas pris en charge pour l'envoi au DMP "
            f"(attendu : {', '.join(CLASS_BY_TYPE)}).",
            field="typeCode",
        )
    class_code = CodedValue(class_value, CLASS_CODE_SYSTEM, class_label)

    conf = _coded(_first(root, "h:confidentialityCode"))
    if conf is None:
        missing.append("confidentialité (confidentialityCode)")
    confidentiality: list[CodedValue] = [conf] if conf else []
    for extra in extra_confidentiality:
        found = valuesets.lookup(VS_CONFIDENTIALITY, extra, field="confidentialityCode")
        value = CodedValue(found.code, found.system, found.display)
        if value.code not in {c.code for c in confidentiality}:
            confidentiality.append(value)

    facility = _coded(
        _first(root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code")
    )
    if facility is None:
        missing.append("type d'établissement (healthCareFacility/code)")

    practice = _coded(
        _first(
            root,
            "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization"
            "/h:standardIndustryClassCode",
        )
    ) or _coded(
        _first(root, "h:author/h:assignedAuthor/h:representedOrganization/h:standardIndustryClassCode")
    )
    if practice is None:
        missing.append("cadre d'exercice (standardIndustryClassCode)")

    author = _first(root, "h:author")
    assigned = _first(author, "h:assignedAuthor") if author is not None else None
    author_person = author_institution = ""
    author_specialty: CodedValue | None = None
    author_role: str | None = None
    if assigned is None:
        missing.append("auteur (author/assignedAuthor)")
    else:
        author_id = _first(assigned, f"h:id[@root='{PS_ID_OID}']")
        family, given = _name(_first(assigned, "h:assignedPerson"))
        if author_id is None or not author_id.get("extension") or not family:
            missing.append("identifiant national et nom de l'auteur")
        else:
            author_person = xcn(str(author_id.get("extension")), family, given)
        org = _first(assigned, "h:representedOrganization")
        org_id = _first(org, f"h:id[@root='{STRUCT_ID_OID}']") if org is not None else None
        if org is None or org_id is None or not org_id.get("extension"):
            missing.append("structure de l'auteur (representedOrganization/id)")
        else:
            author_institution = xon(_text(_first(org, "h:name")), str(org_id.get("extension")))
        author_specialty = _coded(_first(assigned, "h:code"))
        function = _first(author, "h:functionCode") if author is not None else None
        if function is not None and function.get("displayName"):
            author_role = function.get("displayName")

    legal = _first(root, "h:legalAuthenticator/h:assignedEntity")
    legal_authenticator = None
    if legal is not None:
        legal_id = _first(legal, f"h:id[@root='{PS_ID_OID}']")
        family, given = _name(_first(legal, "h:assignedPerson"))
        if legal_id is not None and legal_id.get("extension") and family:
            legal_authenticator = xcn(str(legal_id.get("extension")), family, given)

    patient_role = _first(root, "h:recordTarget/h:patientRole")
    patient_id = ""
    ipp = ""
    source_info: list[str] = []
    if patient_role is None:
        missing.append("patient (recordTarget)")
    else:
        for id_el in patient_role.xpath("h:id", namespaces=NS):
            id_root, ext = id_el.get("root", ""), id_el.get("extension", "")
            if id_root in INS_OIDS and ext and not patient_id:
                patient_id = ins_cx(ext, id_root)
            elif ext and not ipp and id_root not in INS_OIDS:
                ipp = f"{ext}^^^&{id_root}&ISO^PI"
        if not patient_id:
            raise ValidationFailed(
                "Le DMP ne peut être alimenté sans INS qualifié : le document ne porte pas d'INS "
                "(patientRole/id avec un OID INS).",
                field="patientId",
            )
        patient = _first(patient_role, "h:patient")
        family, given = _name(patient)
        if family:
            source_info.append(f"PID-5|{_hl7_escape(family)}^{_hl7_escape(given)}^^^^^L")
        birth = _first(patient, "h:birthTime") if patient is not None else None
        if birth is not None and birth.get("value"):
            source_info.append(f"PID-7|{birth.get('value')}")
        gender = _first(patient, "h:administrativeGenderCode") if patient is not None else None
        if gender is not None and gender.get("code"):
            source_info.append(f"PID-8|{gender.get('code')}")

    effective = _first(root, "h:effectiveTime")
    if effective is None or not effective.get("value"):
        missing.append("date du document (effectiveTime)")
    creation_time = (
        xds_time(str(effective.get("value"))) if effective is not None and effective.get("value") else ""
    )

    events = root.xpath("h:documentationOf/h:serviceEvent[h:effectiveTime]", namespaces=NS)
    service_start = service_stop = None
    if events:
        low = _first(events[0], "h:effectiveTime/h:low")
        high = _first(events[0], "h:effectiveTime/h:high")
        if low is not None and low.get("value"):
            service_start = xds_time(str(low.get("value")))
        if high is not None and high.get("value"):
            service_stop = xds_time(str(high.get("value")))

    language = _first(root, "h:languageCode")
    replaces_el = _first(root, "h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id")

    if missing:
        raise IncompleteData(missing, what="les métadonnées DMP")
    assert conf is not None and facility is not None and practice is not None

    return DocumentEntry(
        unique_id=unique_id,
        title=_text(_first(root, "h:title")),
        type_code=type_code,
        class_code=class_code,
        format_code=format_code,
        confidentiality=tuple(confidentiality),
        healthcare_facility_type=facility,
        practice_setting=practice,
        author_person=author_person,
        author_institution=author_institution,
        author_specialty=author_specialty,
        author_role=author_role,
        legal_authenticator=legal_authenticator,
        patient_id=patient_id,
        source_patient_id=source_patient_id or ipp or patient_id,
        source_patient_info=tuple(source_info),
        creation_time=creation_time,
        service_start=service_start,
        service_stop=service_stop,
        language_code=language.get("code", "fr-FR") if language is not None else "fr-FR",
        hash_sha1=hashlib.sha1(cda).hexdigest(),
        size=len(cda),
        replaces=_ii(replaces_el) or None,
        # contentTypeCode: the type of activity of the clinical event behind the submission (CI-SIS metadata
        # table), taken from JDV_J59's TRE_R02-SecteurActivite: the activity sector of the structure that held
        # the board, as the CDA's healthCareFacility/code states it. The serviceEvent code (TRE_R213 "39",
        # RCP) is not a J59 code. [U: the DMP guide's per-activity choice of J59 code could not be read.]
        content_type=facility if facility.scheme == SECTOR_SYSTEM else None,
    )


# --- code checks ----------------------------------------------------------------------------------


def _check(value_set: str, value: CodedValue, field: str) -> None:
    found = valuesets.lookup(value_set, value.code, field=field)
    if found.system != value.scheme:
        raise ValidationFailed(
            f"Le code « {value.code} » du champ « {field} » a le système {value.scheme} au lieu de "
            f"{found.system} ({value_set}).",
            field=field,
        )


def check_content_type(value: CodedValue | None) -> None:
    """contentTypeCode / designationType is a JDV_J59-ContentTypeCode-DMP code (see CONTENT_TYPE_SYSTEMS)."""
    if value is None:
        raise ValidationFailed(
            "Le type d'activité du lot (contentTypeCode, JDV_J59-ContentTypeCode-DMP) est absent : le code du lieu "
            "de prise en charge (healthCareFacility) doit être un secteur d'activité (TRE_R02).",
            field="contentTypeCode",
        )
    if value.scheme not in CONTENT_TYPE_SYSTEMS or CONTENT_TYPE_SYSTEMS[value.scheme] == "TRE_R209-TypeActivite":
        raise UnknownCode(field="contentTypeCode", value=f"{value.code} ({value.scheme})", value_set=VS_CONTENT_TYPE)
    _check(VS_FACILITY, value, "contentTypeCode")


def check_codes(entry: DocumentEntry) -> None:
    """Check every code of `entry` against the kit value sets; raise UnknownCode/ValidationFailed."""
    _check(VS_TYPE, entry.type_code, "typeCode")
    for conf in entry.confidentiality:
        _check(VS_CONFIDENTIALITY, conf, "confidentialityCode")
    if not any(c.scheme == "2.16.840.1.113883.5.25" for c in entry.confidentiality):
        raise ValidationFailed(
            "La confidentialité doit comporter un niveau N, R ou V.", field="confidentialityCode"
        )
    _check(VS_FACILITY, entry.healthcare_facility_type, "healthcareFacilityTypeCode")
    check_content_type(entry.content_type)
    _check(VS_PRACTICE, entry.practice_setting, "practiceSettingCode")
    if entry.author_specialty is not None:
        _check(VS_SPECIALTY, entry.author_specialty, "authorSpecialty")
    if entry.class_code.code not in CLASS_CODES or entry.class_code.scheme != CLASS_CODE_SYSTEM:
        raise UnknownCode(field="classCode", value=entry.class_code.code, value_set="TRE_A03-ClasseDocument")
    n1 = entry.format_code.scheme == IHE_FORMAT_CODE_SYSTEM
    if n1 and entry.format_code.code not in N1_FORMAT_CODES:
        raise UnknownCode(field="formatCode", value=entry.format_code.code, value_set="TRE_A11-IheFormatCode")
    if not n1 and (entry.format_code.code not in FORMAT_CODES or entry.format_code.scheme != FORMAT_CODE_SYSTEM):
        raise UnknownCode(field="formatCode", value=entry.format_code.code, value_set="TRE_A06-FormatCode")
    expected = (N1_CLASS_BY_TYPE if n1 else CLASS_BY_TYPE).get(entry.type_code.code, ("", ""))[0]
    if entry.class_code.code != expected:
        raise ValidationFailed(
            f"La classe « {entry.class_code.code} » ne correspond pas au type « {entry.type_code.code} ».",
            field="classCode",
        )
    matricule, oid, id_type = parse_cx(entry.patient_id)
    validate_ins_oid(oid, field="patientId")
    validate_nir(matricule, field="patientId")
    if id_type != "NH":
        raise ValidationFailed(
            f"L'identifiant patient « {entry.patient_id} » doit être de type NH (INS).", field="patientId"
        )
