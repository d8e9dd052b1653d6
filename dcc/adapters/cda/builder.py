"""HL7 CDA R2 (level 3) generation of the Fiche RCP (CANCER-FRCP_2022.01) and the PPS
(CANCER-PPS_2022.01) from the document content contract (`dcc.domain.documents`).

The structure follows the ANS (CI-SIS) specification: the example documents of the ANS test kit
and its schematrons. Every coded value taken from the content is checked against its ANS value
set with `dcc.valuesets.lookup` (a code outside raises `UnknownCode`); the codes the model itself
fixes (section LOINC codes, entry codes of the TA_ASIP terminology) are module constants.
Missing mandatory data raises `IncompleteData` before anything is built.

Output is deterministic: the same content gives the same bytes (entry ids are UUIDv5 derived from
the document id), which keeps signatures and tests reproducible.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from lxml import etree

from dcc import valuesets
from dcc.domain import tumour as tumour_rules
from dcc.domain.clock import paris, paris_day
from dcc.domain.documents import (
    Address,
    Code,
    DocumentIds,
    FrcpContent,
    Organization,
    Patient,
    PlannedTreatment,
    PpsContent,
    Professional,
    SupportCare,
    Tumour,
    missing_fields_frcp,
    missing_fields_pps,
)
from dcc.errors import IncompleteData

NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XSI_TYPE = f"{{{XSI}}}type"
_PARIS = ZoneInfo("Europe/Paris")
_UUID_NS = uuid.UUID("6f1c8a52-3c1e-5b8e-9a57-2d0d3c5e7a11")

# --- Identifier roots --------------------------------------------------------------------------
ROOT_PS = "1.2.250.1.71.4.2.1"  # idNat_PS ("8" + RPPS)
ROOT_STRUCT = "1.2.250.1.71.4.2.2"  # idNat_Struct ("1" + FINESS)
ROOT_DSRC = "1.2.250.1.161.1.20.1.1"
ROOT_GESTIONNAIRE = "1.2.250.1.161.1.20.2.1"
ROOT_RCP = "1.2.250.1.161.1.20.3.1"
ROOT_SESSION = "1.2.250.1.213.1.1.9"

# --- Code systems --------------------------------------------------------------------------------
LOINC = "2.16.840.1.113883.6.1"
SNOMED = "2.16.840.1.113883.6.96"
TA_ASIP = "1.2.250.1.213.1.1.4.322"
TNM_SYSTEM = "2.16.840.1.113883.15.6"

# --- Template ids ---------------------------------------------------------------------------------
TPL_HL7_FR = "2.16.840.1.113883.2.8.2.1"
TPL_CISIS = "1.2.250.1.213.1.1.1.1"
TPL_FRCP = "1.2.250.1.213.1.1.1.8"
TPL_PPS = "1.2.250.1.213.1.1.1.26"
MODEL_VERSION = "2022.01"

T_SIMPLE_OBS = ("1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.2.250.1.213.1.1.3.48")
T_COMMENT = ("2.16.840.1.113883.10.20.1.40", "1.3.6.1.4.1.19376.1.5.3.1.4.2", "1.2.250.1.213.1.1.3.32")
T_PROBLEM = ("2.16.840.1.113883.10.20.1.28", "1.3.6.1.4.1.19376.1.5.3.1.4.5", "1.2.250.1.213.1.1.3.37")
T_PROC_EVN = ("1.3.6.1.4.1.19376.1.5.3.1.4.19", "2.16.840.1.113883.10.20.1.29", "1.2.250.1.213.1.1.3.62")
T_PROC_INT = ("2.16.840.1.113883.10.20.1.25", "1.3.6.1.4.1.19376.1.5.3.1.4.19", "1.2.250.1.213.1.1.3.62")
T_ENCOUNTER_ARQ = ("2.16.840.1.113883.10.20.1.25", "1.3.6.1.4.1.19376.1.5.3.1.4.14", "1.2.250.1.213.1.1.3.58")

# --- Fixed codes of the models -------------------------------------------------------------------
DOC_CODE_FRCP = "34794-8"
DOC_CODE_PPS = "18776-5"


def _ta(code: str, display: str) -> Code:
    return Code(code, TA_ASIP, display)


def _loinc(code: str, display: str) -> Code:
    return Code(code, LOINC, display)


C_PROBLEM = Code("55607006", SNOMED, "problème")
C_DIAG_INTERPRETATION = Code("282291009", SNOMED, "interprétation diagnostique")
C_COMMENT = _loinc("48767-8", "Commentaire")
C_SCREENING = _loinc("63921-1", "Dépistage du cancer")
C_TNM = _loinc("75620-5", "Stade TNM Clinique")
C_TNM_T = _loinc("21905-5", "TNM Clinique T")
C_TNM_N = _loinc("21906-3", "TNM Clinique N")
C_TNM_M = _loinc("21907-1", "TNM Clinique M")
C_TNM_STAGE = _loinc("21909-7", "Stade clinique")  # qualifier of the TNM value (FRCP example)
C_TNM_EDITION = _loinc("21917-0", "Version TNM Classification")
C_LATERALITY = _loinc("20228-3", "Latéralité")  # targetSiteCode qualifier (FRCP example)
C_PAIN = _loinc("38208-5", "Sévérité de la douleur")
C_NATURE = _ta("GEN-098", "Nature de la discussion")
C_APPAREIL = _ta("ORG-118", "Appareil concerné")
C_ORGANE = _ta("ORG-119", "Organe")
C_TRAITEMENT_SOINS = _ta("ORG-138", "Traitement / Soins")
C_RCP_RECOURS = _ta("ORG-184", "RCP de recours")
C_RCP_PEDIATRIQUE = _ta("ORG-185", "RCP pédiatrique")
C_MOTIF = _ta("ORG-186", "Motif de la RCP")
C_AVIS_DIAG = _ta("MED-235", "Avis diagnostique")
C_PROPOSITION = _ta("ORG-114", "Proposition de traitement (dont ajustement et surveillance)")
C_RECOURS = _ta("ORG-115", "Recours")
C_PEDIATRIE = _ta("ORG-116", "Pédiatrie")
C_STATUT_CAS = _ta("ORG-127", "Statut du cas présenté")
C_OMS = _ta("MED-239", "Echelle de performance OMS")
C_PHASE = _ta("MED-243", "Phase du cancer")
C_PROGRESSION = _ta("MED-245", "Progression du cancer")
C_PROGRESSION_PARTS = (
    _ta("MED-246", "Progression locale du cancer"),
    _ta("MED-247", "Progression régionale du cancer"),
    _ta("MED-248", "Progression à distance du cancer"),
)
C_INFO_RCP = _ta("GEN-099", "Information RCP")
C_DOSSIER_COMPLET = _ta("GEN-100", "Dossier complet")
C_QUORUM = _ta("ORG-125", "Quorum RCP")
C_PASSAGE_RECOURS = _ta("ORG-120", "Passage en RCP recours")
C_REFERENTIEL = _ta("MED-249", "Recommandation/référentiel de pratique clinique")
C_ESSAI = _ta("MED-250", "Proposition d'inclusion dans un essai clinique")
C_STATUT_DOC = _ta("GEN-065", "Statut du document")
C_MOTIF_MAJ = _ta("GEN-037", "Motif de mise à jour")
C_DATE_RCP = _ta("ORG-189", "Date de la RCP")
C_DATE_REMISE = _ta("GEN-178", "Date de remise du document au patient")
C_DATES_PREVUES = _ta("GEN-177", "Date(s) prévisionnelle(s)")
C_PPS_TRAITEMENT = _ta("MED-568", "Traitement")
C_PPS_SUIVI = _ta("MED-571", "Suivi")
C_PPS_SOIN_SUPPORT = _ta("MED-572", "Soin oncologique de support")
C_PPS_ACCOMPAGNEMENT = _ta("MED-573", "Accompagnement social ou socioprofessionnel")
C_PROGRAMME = _ta("MED-566", "Programme thérapeutique et de suivi")
C_SUPPORT = _ta("MED-567", "Soins oncologiques de support, accompagnement social et socioprofessionnel")
C_COMMENT_PATIENT = _ta("GEN-293", "Commentaire sur le patient")
C_INFO_PATIENT = _ta("GEN-294", "Information pour le patient")
C_SERVICE_RCP = Code("39", "1.2.250.1.213.3.3.13", "Réunion de Concertation Pluridisciplinaire (RCP)")
C_FUNCTION_QUORUM = Code("353", "1.2.250.1.213.1.6.1.107", "Membre de l'équipe de soins")
C_FUNCTION_CORRE = Code("CORRE", "1.2.250.1.213.1.1.4.2.280", "Correspondant")
C_FUNCTION_PCP = Code("PCP", "2.16.840.1.113883.5.88", "Médecin traitant")

STATUS_APPROVED = "9571008"
_SEX = {"M": "M", "F": "F", "U": "UN"}
_CASE_STATUS = {"registered": "ORG-128", "discussed": "ORG-134"}
_QUORUM = {"met": "ORG-126", "not_met": "ORG-133", "unknown": "GEN-010"}
_PHASE = {"initial": "MED-268", "relapse": "MED-244"}
_OMS = {0: "MED-240", 1: "MED-264", 2: "MED-265", 3: "MED-266", 4: "MED-267"}
_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")

PERSONAL_DATA_NOTICE = (
    "Les informations de ce document sont enregistrées dans le dossier communicant de cancérologie "
    "de votre région et peuvent être partagées avec les professionnels qui vous prennent en charge. "
    "Conformément au règlement général sur la protection des données, vous disposez d'un droit "
    "d'accès, de rectification et d'opposition pour motif légitime, auprès de l'établissement "
    "qui vous prend en charge."
)


# =================================================================================================
# Low-level helpers
# =================================================================================================


class _Ctx:
    """Per-document state: deterministic entry ids and narrative reference ids."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._n = 0
        self._refs: dict[str, int] = {}

    def uuid(self) -> str:
        self._n += 1
        return str(uuid.uuid5(_UUID_NS, f"{self._seed}#{self._n}")).upper()

    def ref(self, prefix: str) -> str:
        n = self._refs.get(prefix, 0) + 1
        self._refs[prefix] = n
        return f"{prefix}-{n}"


def _s(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{tag}")
    for key, value in attrs.items():
        if value is None:
            continue
        el.set(_XSI_TYPE if key == "xsi_type" else key, value)
    if text is not None:
        el.text = text
    return el


def _code(parent: etree._Element, tag: str, code: Code, **attrs: str | None) -> etree._Element:
    return _s(parent, tag, code=code.code, displayName=code.display, codeSystem=code.system, **attrs)


def _templates(parent: etree._Element, roots: Iterable[str]) -> None:
    for root in roots:
        _s(parent, "templateId", root=root)


def _vs(value_set: str, code: Code | str, field: str) -> Code:
    """The value set's own Code for `code` (UnknownCode when it is not in the value set)."""
    raw = code if isinstance(code, str) else code.code
    return valuesets.lookup(value_set, raw, field=field)


def _ts(value: datetime | date) -> str:
    """An HL7 TS: a date as `YYYYMMDD`; an instant as Paris local time with its UTC offset,
    `YYYYMMDDHHMMSS+ZZZZ` (CI-SIS, volet structuration minimale: a time is given with its offset).
    A naive datetime is a UTC instant (the database's convention)."""
    if isinstance(value, datetime):
        return paris(value).strftime("%Y%m%d%H%M%S%z")
    return value.strftime("%Y%m%d")


def _day(value: datetime | date) -> date:
    """The Paris calendar day of an instant (a date as is)."""
    return paris_day(value)


def _fr_date(value: datetime | date | None) -> str:
    if value is None:
        return "non précisée"
    if isinstance(value, datetime):
        return paris(value).strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def _yes_no(value: bool | None) -> str:
    return "Non renseigné" if value is None else ("Oui" if value else "Non")


def _ii(parent: etree._Element, tag: str, identifier: str, *, root: str | None = None) -> etree._Element:
    """An II: `root`+`extension` when a root is given, else the identifier itself as root
    (it must then be an OID or a UUID)."""
    if root is not None:
        return _s(parent, tag, root=root, extension=identifier)
    if _OID_RE.match(identifier) or _UUID_RE.match(identifier):
        return _s(parent, tag, root=identifier)
    # Not an OID/UUID: a namespaced UUID root keeps it globally unique, the value stays readable.
    return _s(parent, tag, root=str(uuid.uuid5(_UUID_NS, "dcc-local-id")).upper(), extension=identifier)


def _addr(parent: etree._Element, address: Address) -> None:
    addr = _s(parent, "addr")
    if not (address.street or address.postal_code or address.city):
        addr.set("nullFlavor", "UNK")
        return
    if address.street:
        _s(addr, "streetAddressLine", address.street)
    if address.postal_code:
        _s(addr, "postalCode", address.postal_code)
    if address.city:
        _s(addr, "city", address.city)
    if address.country:
        _s(addr, "country", address.country)


def _telecom(parent: etree._Element, value: str, use: str | None = "WP") -> None:
    if value:
        _s(parent, "telecom", value=value, use=use)


def _person_name(parent: etree._Element, tag: str, pro: Professional) -> None:
    person = _s(parent, tag)
    name = _s(person, "name")
    if pro.prefix:
        _s(name, "prefix", pro.prefix)
    _s(name, "given", pro.given)
    _s(name, "family", pro.family)


def _organization(parent: etree._Element, tag: str, org: Organization, *, industry: bool = True) -> None:
    el = _s(parent, tag)
    if org.id_nat:
        _s(el, "id", root=ROOT_STRUCT, extension=org.id_nat)
    _s(el, "name", org.name)
    _telecom(el, org.telecom)
    _addr(el, org.address)
    if industry:
        setting = org.practice_setting or Code("ETABLISSEMENT", "", "")
        _code(
            el,
            "standardIndustryClassCode",
            _vs("JDV_J04_XdsPracticeSettingCode_CISIS", setting, "organisation.secteur"),
        )


def _professional_body(
    el: etree._Element, pro: Professional, *, person_tag: str, org_tag: str, org_industry: bool = True
) -> None:
    """id, code, addr, telecom, person and organization of an assigned/associated entity."""
    if pro.id_nat:
        _s(el, "id", root=ROOT_PS, extension=pro.id_nat)
    _code(el, "code", _vs("JDV_J01_XdsAuthorSpecialty_CISIS", pro.specialty, "professionnel.specialite"))
    _addr(el, pro.organization.address)
    _telecom(el, pro.telecom)
    if pro.mssante:
        _telecom(el, f"mailto:{pro.mssante}", use=None)
    _person_name(el, person_tag, pro)
    _organization(el, org_tag, pro.organization, industry=org_industry)


def _assigned_entity(parent: etree._Element, pro: Professional) -> etree._Element:
    entity = _s(parent, "assignedEntity")
    _professional_body(entity, pro, person_tag="assignedPerson", org_tag="representedOrganization")
    return entity


# --- Generic entries -----------------------------------------------------------------------------


def _effective(
    obs: etree._Element, when: date | datetime | tuple[date | None, date | None] | str | None
) -> None:
    """effectiveTime: a date (value), a (low, high) pair, a nullFlavor string, or None (NA)."""
    if when is None:
        _s(obs, "effectiveTime", nullFlavor="NA")
    elif isinstance(when, str):
        _s(obs, "effectiveTime", nullFlavor=when)
    elif isinstance(when, tuple):
        low, high = when
        et = _s(obs, "effectiveTime")
        if low is None:
            _s(et, "low", nullFlavor="UNK")
        else:
            _s(et, "low", value=_ts(low))
        if high is not None:
            _s(et, "high", value=_ts(high))
    else:
        _s(obs, "effectiveTime", value=_ts(when))


def _simple_obs(
    ctx: _Ctx,
    parent: etree._Element,
    code: Code,
    ref: str,
    *,
    when: date | datetime | tuple[date | None, date | None] | str | None = None,
    templates: Sequence[str] = T_SIMPLE_OBS,
) -> etree._Element:
    obs = _s(parent, "observation", classCode="OBS", moodCode="EVN")
    _templates(obs, templates)
    _s(obs, "id", root=ctx.uuid())
    _code(obs, "code", code)
    _s(_s(obs, "text"), "reference", value=f"#{ref}")
    _s(obs, "statusCode", code="completed")
    _effective(obs, when)
    return obs


def _bl(obs: etree._Element, value: bool | None) -> None:
    if value is None:
        _s(obs, "value", xsi_type="BL", nullFlavor="UNK")
    else:
        _s(obs, "value", xsi_type="BL", value="true" if value else "false")


def _cd(obs: etree._Element, code: Code | None, *, original_ref: str | None = None, null: str = "NA") -> None:
    if code is None:
        value = _s(obs, "value", xsi_type="CD", nullFlavor=null)
    else:
        value = _code(obs, "value", code, xsi_type="CD")
    if original_ref:
        _s(_s(value, "originalText"), "reference", value=f"#{original_ref}")


def _comment(ctx: _Ctx, parent: etree._Element, ref: str) -> etree._Element:
    act = _s(parent, "act", classCode="ACT", moodCode="EVN")
    _templates(act, T_COMMENT)
    _s(act, "id", root=ctx.uuid())
    _code(act, "code", C_COMMENT)
    _s(_s(act, "text"), "reference", value=f"#{ref}")
    _s(act, "statusCode", code="completed")
    return act


def _rel(parent: etree._Element, type_code: str = "SUBJ", inversion: bool | None = None) -> etree._Element:
    inv = None if inversion is None else ("true" if inversion else "false")
    return _s(parent, "entryRelationship", typeCode=type_code, inversionInd=inv)


# --- Sections and narrative ----------------------------------------------------------------------


def _section(
    ctx: _Ctx,
    body: etree._Element,
    templates: Sequence[str],
    code: Code,
    title: str,
    *,
    translation: Code | None = None,
    with_id: bool = True,
) -> tuple[etree._Element, etree._Element]:
    section = _s(_s(body, "component"), "section")
    _templates(section, templates)
    if with_id:
        _s(section, "id", root=ctx.uuid())
    code_el = _code(section, "code", code)
    if translation is not None:
        _code(code_el, "translation", translation)
    _s(section, "title", title)
    return section, _s(section, "text")


Row = tuple[str, str, str | None]  # label, value, narrative content ID (or None)


def _table(text: etree._Element, rows: Sequence[Row], *, header: Sequence[str] = ()) -> None:
    table = _s(text, "table", border="1")
    if header:
        tr = _s(_s(table, "thead"), "tr")
        for h in header:
            _s(tr, "th", h)
    tbody = _s(table, "tbody")
    for label, value, ref in rows:
        tr = _s(tbody, "tr")
        _s(tr, "td", label)
        td = _s(tr, "td")
        if ref:
            _s(td, "content", value or "-", ID=ref)
        else:
            td.text = value or "-"


def _paragraph(text: etree._Element, value: str, ref: str | None = None) -> None:
    p = _s(text, "paragraph")
    if ref:
        _s(p, "content", value or "-", ID=ref)
    else:
        p.text = value or "-"


# =================================================================================================
# Header
# =================================================================================================


def _root_element() -> etree._Element:
    return etree.Element(f"{{{NS}}}ClinicalDocument", nsmap={None: NS, "xsi": XSI})


def _header_start(
    doc: etree._Element,
    *,
    model_tid: str,
    ids: DocumentIds,
    code: Code,
    title: str,
    created_at: datetime,
    confidentiality: str,
) -> None:
    _s(doc, "realmCode", code="FR")
    _s(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    _s(doc, "templateId", root=TPL_HL7_FR)
    _s(doc, "templateId", root=TPL_CISIS)
    _s(doc, "templateId", root=model_tid, extension=MODEL_VERSION)
    _ii(doc, "id", ids.unique_id_root)
    _code(doc, "code", code)
    _s(doc, "title", title)
    _s(doc, "effectiveTime", value=_ts(created_at))
    conf = _vs("JDV_J08_XdsConfidentialityCode_CISIS", confidentiality, "confidentialite")
    _code(doc, "confidentialityCode", conf)
    _s(doc, "languageCode", code="fr-FR")
    _ii(doc, "setId", ids.set_id_root)
    _s(doc, "versionNumber", value=str(ids.version))


def _record_target(doc: etree._Element, patient: Patient) -> None:
    role = _s(_s(doc, "recordTarget"), "patientRole")
    if patient.ins_qualified:
        _s(role, "id", root=patient.ins_oid, extension=patient.ins_matricule)
    if patient.ipp and patient.ipp_oid:
        _s(role, "id", root=patient.ipp_oid, extension=patient.ipp)
    _addr(role, patient.address)
    person = _s(role, "patient", classCode="PSN")
    name = _s(person, "name")
    _s(name, "family", patient.birth_family, qualifier="BR")
    _s(name, "given", patient.birth_given_all or patient.birth_given_first)
    _s(name, "given", patient.birth_given_first, qualifier="BR")
    if patient.used_family:
        _s(name, "family", patient.used_family, qualifier="CL")
    if patient.used_given:
        _s(name, "given", patient.used_given, qualifier="CL")
    sex = _vs("JDV_J143_AdministrativeGender_CISIS", _SEX.get(patient.sex, patient.sex), "patient.sexe")
    _code(person, "administrativeGenderCode", sex)
    _s(person, "birthTime", value=_ts(patient.birth_date))
    addr = _s(_s(_s(person, "birthplace"), "place"), "addr")
    _s(addr, "county", patient.birthplace_insee)
    if patient.birthplace_city:
        _s(addr, "city", patient.birthplace_city)


def _author(doc: etree._Element, author: Professional, at: datetime) -> None:
    el = _s(doc, "author")
    _s(el, "time", value=_ts(at))
    entity = _s(el, "assignedAuthor")
    _professional_body(entity, author, person_tag="assignedPerson", org_tag="representedOrganization")


def _custodian(doc: etree._Element, org: Organization) -> None:
    el = _s(_s(_s(doc, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    _s(el, "id", root=ROOT_STRUCT, extension=org.id_nat)
    _s(el, "name", org.name)
    _telecom(el, org.telecom)
    _addr(el, org.address)


def _legal_authenticator(doc: etree._Element, signer: Professional, signed_at: datetime) -> None:
    el = _s(doc, "legalAuthenticator")
    _s(el, "time", value=_ts(signed_at))
    _s(el, "signatureCode", code="S")
    _assigned_entity(el, signer)


def _participant(
    doc: etree._Element, type_code: str, pro: Professional | None, *, function: Code | None, comment: str
) -> None:
    _vs("JDV_J144_ParticipationType_CISIS", type_code, "participant.type")
    el = _s(doc, "participant", typeCode=type_code)
    if function is None:
        fc = _s(el, "functionCode", nullFlavor="NA")
    else:
        fc = _code(el, "functionCode", function)
    _s(fc, "originalText", comment)
    _s(el, "time", nullFlavor="UNK")
    if pro is None:
        _s(el, "associatedEntity", classCode="PROV", nullFlavor="NA")
        return
    entity = _s(el, "associatedEntity", classCode="PROV")
    _professional_body(entity, pro, person_tag="associatedPerson", org_tag="scopingOrganization")


def _related_document(doc: etree._Element, ids: DocumentIds) -> None:
    if ids.replaces_unique_id:
        rel = _s(doc, "relatedDocument", typeCode="RPLC")
        _ii(_s(rel, "parentDocument"), "id", ids.replaces_unique_id)


def _service_event(
    doc: etree._Element,
    *,
    code: Code | None,
    original_text: str,
    start: datetime | date,
    performer: Professional,
) -> None:
    event = _s(_s(doc, "documentationOf"), "serviceEvent", classCode="ACT")
    if code is not None:
        code_el = _code(event, "code", code)
        if original_text:
            _s(code_el, "originalText", original_text)
    _s(_s(event, "effectiveTime"), "low", value=_ts(start))
    _assigned_entity(_s(event, "performer", typeCode="PRF"), performer)


def _topography_event(doc: etree._Element, tumour: Tumour) -> None:
    event = _s(_s(doc, "documentationOf"), "serviceEvent", classCode="ACT")
    _code(event, "code", _vs("JDV_Tumeur_CISIS", tumour.topography, "tumeur.topographie"))


def _facility(parent: etree._Element, org: Organization | None, facility_type: Code | None) -> None:
    hcf = _s(_s(parent, "location"), "healthCareFacility")
    if org is not None and org.id_nat:
        _s(hcf, "id", root=ROOT_STRUCT, extension=org.id_nat)
    ftype = _vs(
        "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS", facility_type or "SA01", "rcp.type_etablissement"
    )
    _code(hcf, "code", ftype)
    if org is not None:
        loc = _s(hcf, "location")
        _s(loc, "name", org.name)
        _addr(loc, org.address)


def _board_label(c: FrcpContent | PpsContent) -> str:
    b = c.board
    return f"{b.dsrc_name} / {b.gestionnaire_name} / {b.rcp_name}"


def _frcp_header(doc: etree._Element, c: FrcpContent) -> None:
    _header_start(
        doc,
        model_tid=TPL_FRCP,
        ids=c.ids,
        title=f"FRCP {_board_label(c)}",
        created_at=c.created_at,
        code=_vs("JDV_J07_XdsTypeCode_CISIS", DOC_CODE_FRCP, "type_document"),
        confidentiality=c.confidentiality,
    )
    _record_target(doc, c.patient)
    _author(doc, c.author, c.created_at)
    _custodian(doc, c.custodian)
    _legal_authenticator(doc, c.legal.signer, c.legal.signed_at)
    _participant(doc, "RESP", c.coordinator, function=None, comment="Coordonnateur de la RCP")
    _participant(doc, "REFB", c.requester, function=None, comment="Médecin demandeur")
    _participant(doc, "PRF", c.presenter, function=None, comment="Médecin présentant le dossier")
    _participant(
        doc,
        "INF",
        c.referring_gp,
        function=_pcp(),
        comment="Médecin traitant" if c.referring_gp else "Inconnu",
    )
    for pro in c.quorum_members:
        _participant(doc, "PRF", pro, function=_func("353"), comment="Participant du quorum")
    for pro in c.other_participants:
        _participant(doc, "PRF", pro, function=_func("CORRE"), comment="Participant hors quorum")
    for pro in c.correspondents:
        _participant(doc, "CON", pro, function=_func("CORRE"), comment="Correspondant")
    order = _s(_s(doc, "inFulfillmentOf"), "order")
    session_ns = str(uuid.uuid5(_UUID_NS, f"rcp-session:{c.session_id}")).upper()
    _s(order, "id", root=session_ns, extension=c.registration_number)
    _service_event(
        doc, code=C_SERVICE_RCP, original_text=_board_label(c), start=c.session_date, performer=c.coordinator
    )
    assert c.tumour is not None
    _topography_event(doc, c.tumour)
    _related_document(doc, c.ids)
    enc = _s(_s(doc, "componentOf"), "encompassingEncounter")
    _s(enc, "id", root=ROOT_DSRC, extension=c.board.dsrc_id)
    _s(enc, "id", root=ROOT_GESTIONNAIRE, extension=c.board.gestionnaire_id)
    _s(enc, "id", root=ROOT_RCP, extension=c.board.rcp_id)
    if c.session_id:
        _s(enc, "id", root=ROOT_SESSION, extension=c.session_id)
    _code(enc, "code", _vs("JDV_J142_TypeRencontre_CISIS", "VR", "rencontre"))
    _s(_s(enc, "effectiveTime"), "low", value=_ts(c.session_date))
    _facility(enc, c.board.facility, c.board.facility_type)


def _pcp() -> Code:
    return _func("PCP")


def _func(code: str) -> Code:
    return _vs("JDV_J47_FunctionCode_CISIS", code, "participant.fonction")


def _pps_header(doc: etree._Element, c: PpsContent) -> None:
    _header_start(
        doc,
        model_tid=TPL_PPS,
        ids=c.ids,
        title="Programme personnalisé de soins en cancérologie",
        created_at=c.created_at,
        code=_vs("JDV_J07_XdsTypeCode_CISIS", DOC_CODE_PPS, "type_document"),
        confidentiality=c.confidentiality,
    )
    _record_target(doc, c.patient)
    _author(doc, c.author, c.created_at)
    _custodian(doc, c.custodian)
    _legal_authenticator(doc, c.legal.signer, c.legal.signed_at)
    if c.referring_gp is not None:
        _participant(doc, "INF", c.referring_gp, function=_pcp(), comment="Médecin traitant")
    for pro in c.care_team:
        _participant(doc, "CON", pro, function=_func("CORRE"), comment="Équipe de soins")
    _service_event(doc, code=None, original_text="", start=c.rcp_date, performer=c.author)
    _related_document(doc, c.ids)
    enc = _s(_s(doc, "componentOf"), "encompassingEncounter")
    _s(_s(enc, "effectiveTime"), "low", value=_ts(c.rcp_date))
    _facility(enc, c.board.facility, c.board.facility_type)


# =================================================================================================
# Body sections shared by both models
# =================================================================================================


def _problem_entry(ctx: _Ctx, section: etree._Element, ref: str, when: date | datetime | None) -> None:
    obs = _s(_s(section, "entry"), "observation", classCode="OBS", moodCode="EVN", negationInd="false")
    _templates(obs, T_PROBLEM)
    _s(obs, "id", root=ctx.uuid())
    _code(obs, "code", C_PROBLEM)
    _s(_s(obs, "text"), "reference", value=f"#{ref}")
    _s(obs, "statusCode", code="completed")
    _effective(obs, (_day(when) if when is not None else None, None))
    _cd(obs, None, original_ref=ref)


def _tnm_entry(
    ctx: _Ctx,
    parent: etree._Element,
    tumour: Tumour,
    refs: tuple[str, str, str, str],
) -> None:
    """FR-Diagnostic-du-cancer's "Stade clinique TNM" (IHE 1.3.6.1.4.1.19376.1.7.3.1.4.14.2, LOINC 75620-5).

    CANCER-FRCP_2022.01 (S_cancerDiagnosis_FRCP) requires it with its T (21905-5), N (21906-3), M (21907-1)
    components. As in the agency's FRCP example, the stage group is the value's qualifier 21909-7 and the
    UICC edition its qualifier 21917-0 (codes of TNM_UICC 2.16.840.1.113883.15.6); each T/N/M value is the
    UICC category code, the classification prefix (c, p, y...) staying in the narrative it references.
    Where UICC has no TNM for the tumour (CNS, haematological...) every value is nullFlavor NA; an applicable
    TNM not entered is nullFlavor UNK.
    """
    tnm = tumour.tnm
    absent = "NA" if not tumour.tnm_applicable else "UNK"
    stage = _s(
        _rel(parent, "SUBJ", False), "observation", classCode="OBS", moodCode="EVN", negationInd="false"
    )
    _s(stage, "templateId", root="1.3.6.1.4.1.19376.1.7.3.1.4.14.2")
    _code(stage, "code", C_TNM)
    _s(_s(stage, "text"), "reference", value=f"#{refs[0]}")
    _s(stage, "statusCode", code="completed")
    _effective(stage, (tumour.diagnosis_date, None))
    value = _s(stage, "value", xsi_type="CD", nullFlavor=absent if tnm is None else None)
    edition = str(tnm.edition) if tnm is not None and tnm.edition else None
    if tnm is not None and tnm.stage:
        qual = _s(value, "qualifier")
        _code(qual, "name", C_TNM_STAGE)
        _s(qual, "value", xsi_type="CD", code=tnm.stage, displayName=f"Stade {tnm.stage}", codeSystem=TNM_SYSTEM,
           codeSystemName="TNM_UICC")
    if edition:
        qual = _s(value, "qualifier")
        _code(qual, "name", C_TNM_EDITION)
        _s(qual, "value", xsi_type="CD", code=edition, displayName=f"TNM_UICC {edition}e édition",
           codeSystem=TNM_SYSTEM, codeSystemName="TNM_UICC")
    parts = (
        (C_TNM_T, "t", tnm.t if tnm else ""),
        (C_TNM_N, "n", tnm.n if tnm else ""),
        (C_TNM_M, "m", tnm.m if tnm else ""),
    )
    for (code, part, entered), ref in zip(parts, refs[1:], strict=True):
        obs = _simple_obs(ctx, _rel(stage, "COMP"), code, ref)
        if entered:
            try:
                category = tumour_rules.parse_tnm(part, entered).category
            except ValueError:  # entered before the UICC syntax was checked: keep it as entered
                category = entered
            el = _s(obs, "value", xsi_type="CD", code=category, displayName=entered, codeSystem=TNM_SYSTEM,
                    codeSystemName="TNM_UICC", codeSystemVersion=edition)
            _s(_s(el, "originalText"), "reference", value=f"#{ref}")
        else:
            _s(obs, "value", xsi_type="CD", nullFlavor=absent)


def _diagnosis_section(ctx: _Ctx, body: etree._Element, tumour: Tumour, *, tnm_always: bool) -> None:
    section, text = _section(
        ctx,
        body,
        (
            "2.16.840.1.113883.10.20.1.11",
            "1.3.6.1.4.1.19376.1.5.3.1.3.6",
            "1.3.6.1.4.1.19376.1.7.3.1.3.14.1",
            "1.2.250.1.213.1.1.2.27",
        ),
        _loinc("72135-7", "Diagnostic du cancer"),
        "TUMEUR",
    )
    topo = _vs("JDV_Tumeur_CISIS", tumour.topography, "tumeur.topographie")
    morpho = (
        _vs("JDV_Morphologie_CISIS", tumour.morphology, "tumeur.morphologie") if tumour.morphology else None
    )
    lat = (
        _vs("JDV_ModificateurTopographique_CISIS", tumour.laterality_code, "tumeur.lateralite")
        if tumour.laterality_code else None
    )
    r_diag, r_topo, r_morpho = ctx.ref("tumeur"), ctx.ref("topographie"), ctx.ref("morphologie")
    r_lat = ctx.ref("lateralite")
    r_tnm = (ctx.ref("tnm"), ctx.ref("tnm-t"), ctx.ref("tnm-n"), ctx.ref("tnm-m"))
    tnm = tumour.tnm
    rows: list[Row] = [
        ("Tumeur", f"{topo.display} ({topo.code})", r_diag),
        ("Topographie (CIM-10)", f"{topo.code} - {topo.display}", r_topo),
        (
            "Morphologie (CIM-O-3)",
            f"{morpho.code} - {morpho.display}" if morpho else "Non précisée",
            r_morpho,
        ),
        ("Latéralité", tumour.laterality or "Sans objet (organe impair)", r_lat),
        ("Date du diagnostic", _fr_date(tumour.diagnosis_date), None),
    ]
    if tnm is not None or tnm_always:
        if not tumour.tnm_applicable:
            rows += [
                ("Classification TNM", "Non applicable (tumeur hors classification TNM de l'UICC)", r_tnm[0]),
                ("T", "Non applicable", r_tnm[1]),
                ("N", "Non applicable", r_tnm[2]),
                ("M", "Non applicable", r_tnm[3]),
            ]
        else:
            rows += [
                ("Classification TNM", f"{tnm.t} {tnm.n} {tnm.m}" if tnm else "Non renseignée", r_tnm[0]),
                ("T", tnm.t if tnm else "Inconnu", r_tnm[1]),
                ("N", tnm.n if tnm else "Inconnu", r_tnm[2]),
                ("M", tnm.m if tnm else "Inconnu", r_tnm[3]),
                ("Stade (UICC)", tnm.stage if tnm and tnm.stage else "Non renseigné", None),
                ("Édition TNM (UICC)", f"{tnm.edition}e édition" if tnm and tnm.edition else "Non renseignée", None),
            ]
    _table(text, rows)
    act = _s(_s(section, "entry"), "act", classCode="ACT", moodCode="EVN")
    _templates(
        act,
        (
            "2.16.840.1.113883.10.20.1.27",
            "1.3.6.1.4.1.19376.1.5.3.1.4.5.1",
            "1.3.6.1.4.1.19376.1.5.3.1.4.5.2",
            "1.2.250.1.213.1.1.3.39",
            "1.2.250.1.213.1.1.3.39.1",
        ),
    )
    _s(act, "id", root=ctx.uuid())
    _s(act, "code", nullFlavor="NA")
    _s(act, "statusCode", code="active")
    # Date of diagnosis: effectiveTime/low of FR-Liste-des-problemes-cancer (1.2.250.1.213.1.1.3.39.1) and of
    # FR-Diagnostic-du-cancer (1.2.250.1.213.1.1.3.113); low nullFlavor UNK only when it was not entered.
    _effective(act, (tumour.diagnosis_date, None))
    obs = _s(_rel(act, "SUBJ", False), "observation", classCode="OBS", moodCode="EVN", negationInd="false")
    _templates(obs, T_PROBLEM[:3] + ("1.3.6.1.4.1.19376.1.7.3.1.4.14.1", "1.2.250.1.213.1.1.3.113"))
    _s(obs, "id", root=ctx.uuid())
    _code(obs, "code", C_DIAG_INTERPRETATION)
    _s(_s(obs, "text"), "reference", value=f"#{r_diag}")
    _s(obs, "statusCode", code="completed")
    _effective(obs, (tumour.diagnosis_date, None))
    if morpho is not None:
        _cd(obs, morpho, original_ref=r_morpho)
    else:
        _cd(obs, None, original_ref=r_morpho, null="OTH")
    site = _code(obs, "targetSiteCode", topo)
    _s(_s(site, "originalText"), "reference", value=f"#{r_topo}")
    if tumour.laterality:
        # Laterality of a paired organ: targetSiteCode qualifier LOINC 20228-3, value from
        # JDV_ModificateurTopographique_CISIS (1.2.250.1.213.1.1.5.688), as in the FRCP example;
        # "non précisée" is nullFlavor UNK.
        qual = _s(site, "qualifier")
        _code(qual, "name", C_LATERALITY)
        if lat is not None:
            value = _code(qual, "value", lat)
        else:
            value = _s(qual, "value", nullFlavor="UNK")
        _s(_s(value, "originalText"), "reference", value=f"#{r_lat}")
    if tnm is not None or tnm_always:
        _tnm_entry(ctx, obs, tumour, r_tnm)


def _discovery_section(ctx: _Ctx, body: etree._Element, screening: bool | None, mode: str) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.1.21.2.9", "1.3.6.1.4.1.19376.1.7.3.1.1.13.7", "1.2.250.1.213.1.1.2.163"),
        _loinc("42545-4", "Evènements observés"),
        "MODE DE DÉCOUVERTE DU CANCER",
    )
    ref = ctx.ref("depistage")
    _table(
        text,
        [
            ("Patient issu du dépistage", _yes_no(screening), ref),
            ("Mode de découverte", mode or "Non précisé", None),
        ],
    )
    obs = _simple_obs(ctx, _s(section, "entry"), C_SCREENING, ref, when="NA")
    _bl(obs, screening)


def _phase_section(
    ctx: _Ctx,
    body: etree._Element,
    phase: str,
    when: date | None,
    progression: tuple[bool, bool, bool] | None,
) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.1.13.2.7", "1.2.250.1.213.1.1.2.25"),
        _loinc("18733-6", "Note de progression"),
        "PHASE CLINIQUE DE LA MALADIE",
    )
    phase_code = _vs("JDV_PhaseCancer_CISIS", _PHASE.get(phase, phase), "phase")
    r_phase, r_prog = ctx.ref("phase"), ctx.ref("progression")
    labels = ("Progression locale", "Progression régionale", "Progression à distance")
    rows: list[Row] = [
        ("Phase", phase_code.display, r_phase),
        ("Date" + (" de la rechute" if phase == "relapse" else ""), _fr_date(when), None),
        ("Progression du cancer", _yes_no(None if progression is None else any(progression)), r_prog),
    ]
    part_refs = [ctx.ref("progression-detail") for _ in labels]
    if progression is not None:
        rows += [(label, _yes_no(v), r) for label, v, r in zip(labels, progression, part_refs, strict=True)]
    _table(text, rows)
    obs = _simple_obs(ctx, _s(section, "entry"), C_PHASE, r_phase, when=when or "UNK")
    _cd(obs, phase_code)
    prog = _simple_obs(ctx, _s(section, "entry"), C_PROGRESSION, r_prog, when=when or "UNK")
    _bl(prog, None if progression is None else any(progression))
    if progression is not None:
        for code, value, ref in zip(C_PROGRESSION_PARTS, progression, part_refs, strict=True):
            _bl(_simple_obs(ctx, _rel(prog, "COMP"), code, ref, when="NAV"), value)


def _status_entry(
    ctx: _Ctx, section: etree._Element, status: Code | None, when: datetime, ref: str, comment_ref: str | None
) -> Code:
    code = _vs("JDV_StatutDoc_CISIS", status or STATUS_APPROVED, "statut_document")
    obs = _simple_obs(
        ctx,
        _s(section, "entry"),
        C_STATUT_DOC,
        ref,
        when=_day(when),
        templates=T_SIMPLE_OBS + ("1.2.250.1.213.1.1.3.48.16",),
    )
    _cd(obs, code)
    if comment_ref:
        _comment(ctx, _rel(obs, "SUBJ", True), comment_ref)
    return code


def _comment_section(
    ctx: _Ctx, body: etree._Element, title: str, value: str, translation: Code | None
) -> None:
    _section_el, text = _section(
        ctx,
        body,
        ("2.16.840.1.113883.10.12.201", "1.3.6.1.4.1.19376.1.4.1.2.16", "1.2.250.1.213.1.1.2.73"),
        _loinc("55112-7", "Commentaire"),
        title,
        translation=translation,
        with_id=False,
    )
    _paragraph(text, value)


# =================================================================================================
# FRCP body
# =================================================================================================


def _frcp_reason_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    b = c.board
    section, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.3.1", "1.3.6.1.4.1.19376.1.5.3.1.3.2", "1.2.250.1.213.1.1.2.128"),
        _loinc("42349-1", "Raison de la recommandation"),
        "TYPE DE RCP / MOTIF DE LA RCP",
    )
    organ = b.kind == "organ"
    nature = _vs("JDV_NatureDiscussion_CISIS", "ORG-117" if organ else "ORG-132", "rcp.nature")
    r = {
        k: ctx.ref(k)
        for k in (
            "nature",
            "type",
            "organe",
            "rcp-recours",
            "rcp-pediatrique",
            "motif",
            "avis-diagnostique",
            "proposition",
            "recours",
            "pediatrie",
            "statut-cas",
            "raison",
        )
    }
    rows: list[Row] = [("Nature de la RCP", nature.display, r["nature"])]
    if organ:
        assert b.appareil is not None
        type_code = _vs("JDV_RCP_Appareil_CISIS", b.appareil, "rcp.appareil")
        organe = _vs("JDV_RCP_Organe_CISIS", b.organe, "rcp.organe") if b.organe else None
        rows.append(("Appareil", type_code.display, r["type"]))
        if organe is not None:
            rows.append(("Organe", organe.display, r["organe"]))
    else:
        assert b.transversal is not None
        type_code = _vs("JDV_TraitementSoins_FRCP_CISIS", b.transversal, "rcp.transversale")
        organe = None
        rows.append(("Traitement / soins", type_code.display, r["type"]))
    case_status = _vs(
        "JDV_StatutCasPresente_CISIS", _CASE_STATUS.get(c.case_status, c.case_status), "statut_cas"
    )
    rows += [
        ("RCP de recours", _yes_no(b.recours), r["rcp-recours"]),
        ("RCP pédiatrique", _yes_no(b.pediatric), r["rcp-pediatrique"]),
        ("Motif de la RCP", c.motive or "Non précisé", r["motif"]),
        ("Avis diagnostique", _yes_no(c.diagnostic_opinion), r["avis-diagnostique"]),
        ("Proposition de traitement", _yes_no(c.treatment_proposal), r["proposition"]),
        ("Recours", _yes_no(b.recours), r["recours"]),
        ("Pédiatrie", _yes_no(b.pediatric), r["pediatrie"]),
        ("Statut du cas présenté", case_status.display, r["statut-cas"]),
        ("Raison de la présentation", c.question or c.motive or "Non précisée", r["raison"]),
    ]
    _table(text, rows)
    when = c.session_date.date()
    nat = _simple_obs(ctx, _s(section, "entry"), C_NATURE, r["nature"], when="NAV")
    _cd(nat, nature)
    typ = _simple_obs(
        ctx, _rel(nat, "SUBJ"), C_APPAREIL if organ else C_TRAITEMENT_SOINS, r["type"], when="NAV"
    )
    _cd(typ, type_code)
    if organe is not None:
        _cd(_simple_obs(ctx, _rel(typ, "REFR"), C_ORGANE, r["organe"], when="NAV"), organe)
    _bl(_simple_obs(ctx, _rel(typ, "REFR"), C_RCP_RECOURS, r["rcp-recours"], when=(when, None)), b.recours)
    _bl(_simple_obs(ctx, _rel(typ, "REFR"), C_RCP_PEDIATRIQUE, r["rcp-pediatrique"], when="NAV"), b.pediatric)
    mot = _simple_obs(ctx, _rel(nat, "SUBJ"), C_MOTIF, r["motif"], when="NAV")
    _cd(mot, None)
    for code, value, ref in (
        (C_AVIS_DIAG, c.diagnostic_opinion, r["avis-diagnostique"]),
        (C_PROPOSITION, c.treatment_proposal, r["proposition"]),
        (C_RECOURS, b.recours, r["recours"]),
        (C_PEDIATRIE, b.pediatric, r["pediatrie"]),
    ):
        _bl(_simple_obs(ctx, _rel(mot, "REFR"), code, ref, when=(when, None)), value)
    _cd(_simple_obs(ctx, _rel(mot, "REFR"), C_STATUT_CAS, r["statut-cas"]), case_status)
    _problem_entry(ctx, section, r["raison"], c.session_date)


def _functional_status_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    section, text = _section(
        ctx,
        body,
        (
            "2.16.840.1.113883.10.20.1.5",
            "1.3.6.1.4.1.19376.1.5.3.1.3.17",
            "1.3.6.1.4.1.19376.1.5.3.1.1.12.2.1",
            "1.2.250.1.213.1.1.2.111",
        ),
        _loinc("47420-5", "Évaluation du statut fonctionnel"),
        "ÉVALUATION DU STATUT FONCTIONNEL",
    )
    oms = (
        _vs(
            "JDV_OMSEchPerf_CISIS",
            _OMS.get(c.performance_status, str(c.performance_status)),
            "etat_general_oms",
        )
        if c.performance_status is not None
        else None
    )
    _paragraph(text, f"Échelle de performance OMS : {oms.display if oms else 'non évaluée'}")
    # Pain sub-section: mandatory in the model, carries no information in the FRCP.
    pain, pain_text = _section(
        ctx,
        section,
        ("1.3.6.1.4.1.19376.1.5.3.1.1.12.2.2", "1.2.250.1.213.1.1.2.112"),
        C_PAIN,
        "Évaluation de la douleur",
    )
    r_pain = ctx.ref("douleur")
    _paragraph(pain_text, "Non évaluée", r_pain)
    obs = _simple_obs(
        ctx,
        _s(pain, "entry"),
        C_PAIN,
        r_pain,
        when="UNK",
        templates=(
            "1.3.6.1.4.1.19376.1.5.3.1.4.13",
            "1.3.6.1.4.1.19376.1.5.3.1.1.12.3.1",
            "1.2.250.1.213.1.1.3.89",
        ),
    )
    _s(obs, "value", xsi_type="CO", nullFlavor="UNK")
    if oms is None:
        return
    phys, phys_text = _section(
        ctx,
        section,
        ("1.3.6.1.4.1.19376.1.5.3.1.1.12.2.5", "1.2.250.1.213.1.1.2.115"),
        _loinc("46006-3", "Problèmes physiques fonctionnels et structurels"),
        "Échelle de performance OMS",
    )
    r_oms = ctx.ref("performance-oms")
    _paragraph(phys_text, oms.display, r_oms)
    obs = _s(_s(phys, "entry"), "observation", classCode="OBS", moodCode="EVN", negationInd="false")
    _templates(
        obs,
        (
            "1.3.6.1.4.1.19376.1.5.3.1.4.13",
            "2.16.840.1.113883.10.20.1.31",
            "1.3.6.1.4.1.19376.1.5.3.1.1.12.3.6",
            "1.2.250.1.213.1.1.3.25",
        ),
    )
    _s(obs, "id", root=ctx.uuid())
    _code(obs, "code", C_OMS)
    _s(_s(obs, "text"), "reference", value=f"#{r_oms}")
    _s(obs, "statusCode", code="completed")
    _s(obs, "effectiveTime", value=_ts(_day(c.session_date)))
    _cd(obs, oms)


def _past_treatments_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    if not c.past_treatments:
        return
    section, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.1.13.2.11", "1.2.250.1.213.1.1.2.118"),
        _loinc("29554-3", "Actes"),
        "TRAITEMENTS THÉRAPEUTIQUES PASSÉS OU EN COURS",
    )
    rows: list[Row] = []
    entries = []
    for t in c.past_treatments:
        kind = _vs("JDV_TypeTraitement_FRCP_CISIS", t.kind, "traitement_passe.type")
        ref = ctx.ref("traitement-passe")
        period = f"du {_fr_date(t.start)} au {_fr_date(t.end)}" if t.end else f"depuis le {_fr_date(t.start)}"
        rows.append((kind.display, f"{t.text + ' - ' if t.text else ''}{period}", ref))
        entries.append((kind, t, ref))
    _table(text, rows, header=("Traitement", "Précisions et dates"))
    for kind, t, ref in entries:
        proc = _s(_s(section, "entry"), "procedure", classCode="PROC", moodCode="EVN", negationInd="false")
        _templates(proc, T_PROC_EVN)
        _s(proc, "id", root=ctx.uuid())
        _code(proc, "code", kind)
        _s(_s(proc, "text"), "reference", value=f"#{ref}")
        _s(proc, "statusCode", code="completed" if t.end else "active")
        _effective(proc, (t.start, t.end))


def _history_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    _section_el, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.3.4", "1.2.250.1.213.1.1.2.130"),
        _loinc("10164-2", "Histoire de la maladie"),
        "SYNTHÈSE DU CAS PRÉSENTÉ ET QUESTION POSÉE À LA RCP",
    )
    _table(
        text,
        [
            ("Synthèse du cas présenté", c.case_summary or "Non renseignée", None),
            ("Question posée à la RCP", c.question or "Non renseignée", None),
        ],
    )


def _rcp_status_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.2.250.1.213.1.1.2.33",),
        _loinc("21874-3", "Statut du dossier présenté en RCP"),
        "PROPOSITION DE LA RCP",
    )
    quorum = _vs("JDV_StatutQuorum_CISIS", _QUORUM.get(c.quorum, c.quorum), "quorum")
    r_complete, r_quorum = ctx.ref("dossier-complet"), ctx.ref("quorum")
    _table(
        text,
        [
            ("Proposition de la RCP", c.proposal_text or "Voir le plan de soins", None),
            ("Dossier complet", _yes_no(c.file_complete), r_complete),
            ("Quorum", quorum.display, r_quorum),
        ],
    )
    org = _s(_s(section, "entry"), "organizer", classCode="CLUSTER", moodCode="EVN")
    _s(org, "templateId", root="1.2.250.1.213.1.1.3.7")
    _code(org, "code", C_INFO_RCP)
    _s(org, "statusCode", code="completed")
    _bl(_simple_obs(ctx, _s(org, "component"), C_DOSSIER_COMPLET, r_complete), c.file_complete)
    _cd(_simple_obs(ctx, _s(org, "component"), C_QUORUM, r_quorum), quorum)


def _care_plan_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("2.16.840.1.113883.10.20.1.10", "1.3.6.1.4.1.19376.1.5.3.1.3.36", "1.2.250.1.213.1.1.2.158"),
        _loinc("18776-5", "Plan de soins"),
        "PLAN DE SOINS",
    )
    rows: list[Row] = []
    r_recours = ctx.ref("passage-recours") if c.refer_to_recours else None
    if r_recours:
        rows.append(("Proposition de passage en RCP de recours", "Oui", r_recours))
    treatments = []
    for i, kind in enumerate(c.proposal_treatments, start=1):
        code = _vs("JDV_TypeTraitement_FRCP_CISIS", kind, "proposition.traitement")
        ref = ctx.ref("traitement-propose")
        rows.append((f"Traitement proposé n° {i}", code.display, ref))
        treatments.append((i, code, ref))
    r_comment = ctx.ref("commentaire-proposition") if c.proposal_text else None
    if r_comment:
        rows.append(("Proposition de la RCP", c.proposal_text, r_comment))
    if not rows:
        rows.append(("Proposition de la RCP", "Aucun traitement proposé", None))
    _table(text, rows)
    if c.proposal_entries:
        _proposed_entries_table(text, c)
    if r_recours:
        enc = _s(_s(section, "entry"), "encounter", classCode="ENC", moodCode="ARQ")
        _templates(enc, T_ENCOUNTER_ARQ)
        _s(enc, "id", root=ctx.uuid())
        _code(enc, "code", C_PASSAGE_RECOURS)
        _s(_s(enc, "text"), "reference", value=f"#{r_recours}")
    for i, code, ref in treatments:
        proc = _s(_s(section, "entry"), "procedure", classCode="PROC", moodCode="INT", negationInd="false")
        _templates(proc, T_PROC_INT)
        _s(proc, "id", root=ctx.uuid())
        code_el = _code(proc, "code", code)
        _s(_s(code_el, "originalText"), "reference", value=f"#{ref}")
        _s(_s(proc, "text"), "reference", value=f"#{ref}")
        _s(proc, "statusCode", code="active")
        _s(_s(proc, "priorityCode"), "originalText", str(i))
    if r_comment:
        act = _comment(ctx, _s(section, "entry"), r_comment)
        _s(act, "effectiveTime", value=_ts(_day(c.session_date)))


_ENTRY_KINDS = {"drug": "Médicament", "act": "Acte"}


def _proposed_entries_table(text: etree._Element, c: FrcpContent) -> None:
    """The drugs and acts the proposal names, in the narrative only: the FRCP model's care-plan entries are
    FR-Acte whose code is bound to JDV_TypeTraitement_FRCP_CISIS (kit schematron JDV_TypeTraitement-FRCP-CISIS
    on section/entry/procedure/code) and it has no medication entry, so an ATC, UCD or CCAM code has no coded
    place in this document."""
    table = _s(text, "table", border="1")
    _s(table, "caption", "Médicaments et actes proposés")
    tr = _s(_s(table, "thead"), "tr")
    for h in ("Type", "Libellé", "Code", "Référentiel (version)"):
        _s(tr, "th", h)
    tbody = _s(table, "tbody")
    for e in c.proposal_entries:
        row = _s(tbody, "tr")
        _s(row, "td", _ENTRY_KINDS.get(e.kind, e.kind))
        _s(row, "td", e.code.display or "-")
        _s(row, "td", e.code.code)
        _s(row, "td", f"{e.referential} ({e.version})" if e.version else e.referential)


def _framework_section(ctx: _Ctx, body: etree._Element, c: FrcpContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.2.250.1.213.1.1.2.175",),
        _loinc("35510-7", "Essais cliniques - Informations générales"),
        "CADRE DE LA PROPOSITION THÉRAPEUTIQUE",
    )
    ref = c.referential
    r_ref, r_ref_name, r_trial = ctx.ref("referentiel"), ctx.ref("nom-referentiel"), ctx.ref("essai-clinique")
    trial = "Oui" + (f" ({c.trial_name})" if c.trial_name else "") if c.trial_proposed else "Non"
    rows: list[Row] = [
        ("Proposition conforme au référentiel", _yes_no(c.conform_to_referential), r_ref),
        ("Référentiel (nom et version)", f"{ref.name} {ref.version}" if ref else "Non précisé", r_ref_name),
        ("Date du référentiel", _fr_date(ref.published) if ref else "-", None),
        ("Proposition d'inclusion dans un essai clinique", trial, r_trial),
    ]
    r_just = ctx.ref("justification") if c.departure_justification else None
    if r_just:
        rows.append(("Justification de l'écart au référentiel", c.departure_justification, r_just))
    _table(text, rows)
    if ref is not None:
        obs = _s(_s(section, "entry"), "observation", classCode="OBS", moodCode="EVN")
        _templates(obs, T_SIMPLE_OBS)
        _s(obs, "id", root=ctx.uuid())
        code_el = _code(obs, "code", C_REFERENTIEL)
        _s(_s(_s(code_el, "translation"), "originalText"), "reference", value=f"#{r_ref_name}")
        _s(_s(obs, "text"), "reference", value=f"#{r_ref}")
        _s(obs, "statusCode", code="completed")
        _s(obs, "effectiveTime", value=_ts(ref.published))
        _cd(obs, None, original_ref=r_ref_name, null="OTH")
    _bl(_simple_obs(ctx, _s(section, "entry"), C_ESSAI, r_trial), c.trial_proposed)
    if r_just:
        _comment(ctx, _s(section, "entry"), r_just)


def _document_status_section(
    ctx: _Ctx, body: etree._Element, status: Code | None, when: datetime, comment: str = ""
) -> etree._Element:
    section, text = _section(
        ctx, body, ("1.2.250.1.213.1.1.2.35",), _loinc("33557-0", "Etat d'achèvement"), "STATUT DU DOCUMENT"
    )
    ref = ctx.ref("statut-document")
    r_comment = ctx.ref("commentaire-document") if comment else None
    code = _vs("JDV_StatutDoc_CISIS", status or STATUS_APPROVED, "statut_document")
    rows: list[Row] = [
        ("Statut du document", code.display, ref),
        ("Date du statut", _fr_date(_day(when)), None),
    ]
    if r_comment:
        rows.append(("Commentaire", comment, r_comment))
    _table(text, rows)
    _status_entry(ctx, section, code, when, ref, r_comment)
    return section


def _frcp_body(doc: etree._Element, ctx: _Ctx, c: FrcpContent) -> None:
    body = _s(_s(doc, "component"), "structuredBody")
    assert c.tumour is not None
    _frcp_reason_section(ctx, body, c)
    _discovery_section(ctx, body, c.screening, c.discovery_mode)
    _diagnosis_section(ctx, body, c.tumour, tnm_always=True)
    _functional_status_section(ctx, body, c)
    _phase_section(
        ctx, body, c.phase, c.relapse_date if c.phase == "relapse" else c.session_date.date(), c.progression
    )
    _past_treatments_section(ctx, body, c)
    _history_section(ctx, body, c)
    _rcp_status_section(ctx, body, c)
    _care_plan_section(ctx, body, c)
    _framework_section(ctx, body, c)
    if c.comment:
        _comment_section(ctx, body, "COMMENTAIRES / PRÉCISIONS SUR LE PATIENT", c.comment, None)
    _document_status_section(ctx, body, c.document_status, c.created_at)


# =================================================================================================
# PPS body
# =================================================================================================


def _pps_reason_section(ctx: _Ctx, body: etree._Element, c: PpsContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.2.250.1.213.1.1.2.128", "1.3.6.1.4.1.19376.1.5.3.1.3.2", "1.3.6.1.4.1.19376.1.5.3.1.3.1"),
        _loinc("42349-1", "Raison de la recommandation"),
        "PÉDIATRIE",
    )
    r_ped, r_raison = ctx.ref("pediatrie"), ctx.ref("raison")
    _table(
        text,
        [
            ("Prise en charge pédiatrique", _yes_no(c.board.pediatric), r_ped),
            ("Raison", f"Programme personnalisé de soins établi après la RCP {c.board.rcp_name}", r_raison),
        ],
    )
    _bl(_simple_obs(ctx, _s(section, "entry"), C_PEDIATRIE, r_ped, when="NI"), c.board.pediatric)
    _problem_entry(ctx, section, r_raison, c.rcp_date)


def _planned_entry(
    ctx: _Ctx,
    section: etree._Element,
    templates_code: Code,
    qualifier: Code,
    item: PlannedTreatment | SupportCare,
    ref: str,
) -> None:
    proc = _s(_s(section, "entry"), "procedure", classCode="PROC", moodCode="INT", negationInd="false")
    _templates(proc, T_PROC_INT)
    _s(proc, "id", root=ctx.uuid())
    code_el = _code(proc, "code", templates_code)
    _code(_s(code_el, "qualifier"), "value", qualifier)
    _s(_s(proc, "text"), "reference", value=f"#{ref}")
    _s(proc, "statusCode", code="active")
    _s(proc, "effectiveTime", nullFlavor="UNK")  # confirmed dates: not known when the PPS is written
    if isinstance(item, PlannedTreatment) and (item.start or item.end):
        dates = _simple_obs(ctx, _rel(proc, "COMP", False), C_DATES_PREVUES, ref, when=(item.start, item.end))
        _cd(dates, None)


def _period(item: PlannedTreatment) -> str:
    if item.start and item.end and item.start == item.end:
        return f"le {_fr_date(item.start)}"
    if item.start and item.end:
        return f"du {_fr_date(item.start)} au {_fr_date(item.end)}"
    if item.start:
        return f"à partir du {_fr_date(item.start)}"
    return "dates non renseignées"


def _programme_section(ctx: _Ctx, body: etree._Element, c: PpsContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.3.36", "1.2.250.1.213.1.1.2.158"),
        _loinc("18776-5", "Plan de soins"),
        "PROGRAMME THÉRAPEUTIQUE ET DE SUIVI",
        translation=C_PROGRAMME,
    )
    rows: list[Row] = []
    entries = []
    for t in c.treatments:
        kind = _vs("JDV_TypeTraitementPPS_CISIS", t.kind, "pps.traitement")
        ref = ctx.ref("traitement")
        rows.append((f"Traitement : {kind.display}", _describe(t), ref))
        entries.append((C_PPS_TRAITEMENT, kind, t, ref))
    for f in c.follow_up:
        kind = _vs("JDV_TypeDeSuivi_CISIS", f.kind, "pps.suivi")
        ref = ctx.ref("suivi")
        rows.append((f"Suivi : {kind.display}", _describe(f), ref))
        entries.append((C_PPS_SUIVI, kind, f, ref))
    _table(text, rows, header=("Programme", "Précisions, lieu et dates prévisionnelles"))
    for code, kind, item, ref in entries:
        _planned_entry(ctx, section, code, kind, item, ref)


def _describe(t: PlannedTreatment) -> str:
    who = t.responsible
    parts = [p for p in (t.text, f"Lieu : {t.place}" if t.place else "",
                         f"Responsable : {_person_label(who)}" if who else "", _period(t)) if p]
    return " - ".join(parts)


def _person_label(p: Professional) -> str:
    return " ".join(x for x in (p.given, p.family) if x)


def _support_section(ctx: _Ctx, body: etree._Element, c: PpsContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.3.6.1.4.1.19376.1.5.3.1.3.36", "1.2.250.1.213.1.1.2.158"),
        _loinc("18776-5", "Plan de soins"),
        "SOINS ONCOLOGIQUES DE SUPPORT, ACCOMPAGNEMENT SOCIAL ET SOCIOPROFESSIONNEL",
        translation=C_SUPPORT,
    )
    rows: list[Row] = []
    entries = []
    for s in c.supportive_care:
        kind = _vs("JDV_SoinsOncoDeSupport_CISIS", s.kind, "pps.soin_de_support")
        ref = ctx.ref("soin-support")
        rows.append((f"Soin de support : {kind.display}", s.text, ref))
        entries.append((C_PPS_SOIN_SUPPORT, kind, s, ref))
    for s in c.social_support:
        kind = _vs("JDV_TypeAccompagnementSocioPro_CISIS", s.kind, "pps.accompagnement_social")
        ref = ctx.ref("accompagnement")
        rows.append((f"Accompagnement : {kind.display}", s.text, ref))
        entries.append((C_PPS_ACCOMPAGNEMENT, kind, s, ref))
    if c.contact_name or c.contact_phone:
        rows.append(("Votre contact", " ".join(p for p in (c.contact_name, c.contact_phone) if p), None))
    if not rows:
        rows.append(("Soins de support et accompagnement", "Aucun programmé à ce jour", None))
    _table(text, rows)
    for code, kind, item, ref in entries:
        _planned_entry(ctx, section, code, kind, item, ref)


def _pps_status_section(ctx: _Ctx, body: etree._Element, c: PpsContent) -> None:
    section = _document_status_section(ctx, body, c.document_status, c.created_at)
    text = section.find(f"{{{NS}}}text")
    assert text is not None
    tbody = text.find(f".//{{{NS}}}tbody")
    assert tbody is not None
    rows: list[Row] = []
    if c.update_motive is not None:
        motive = _vs("JDV_MotifMiseAJour_CISIS", c.update_motive, "pps.motif_mise_a_jour")
        r_motive = ctx.ref("motif-maj")
        rows.append(("Motif de mise à jour", motive.display, r_motive))
        _cd(_simple_obs(ctx, _s(section, "entry"), C_MOTIF_MAJ, r_motive, when=c.created_at.date()), motive)
    r_rcp, r_remise = ctx.ref("date-rcp"), ctx.ref("remise-patient")
    rows += [
        ("Date de la RCP", _fr_date(c.rcp_date), r_rcp),
        ("Date de remise du document au patient",
         _fr_date(c.handed_to_patient) if c.handed_to_patient else "non renseignée", r_remise),
    ]
    for label, value, ref in rows:
        tr = _s(tbody, "tr")
        _s(tr, "td", label)
        _s(_s(tr, "td"), "content", value, ID=ref)
    rcp = _simple_obs(ctx, _s(section, "entry"), C_DATE_RCP, r_rcp, when=c.rcp_date)
    _s(rcp, "value", xsi_type="TS", value=_ts(c.rcp_date))
    handed = _simple_obs(
        ctx, _s(section, "entry"), C_DATE_REMISE, r_remise, when=c.handed_to_patient or "NAV"
    )
    if c.handed_to_patient:
        _s(handed, "value", xsi_type="TS", value=_ts(c.handed_to_patient))
    else:
        _s(handed, "value", xsi_type="TS", nullFlavor="NAV")


def _references_section(ctx: _Ctx, body: etree._Element, c: PpsContent) -> None:
    section, text = _section(
        ctx,
        body,
        ("1.2.250.1.213.1.1.2.55",),
        _loinc("55107-7", "Documents référencés"),
        "DOCUMENTS RÉFÉRENCÉS",
    )
    refs = [("Fiche RCP du " + _fr_date(c.rcp_date), c.frcp_unique_id)]
    if c.ids.replaces_unique_id:
        refs.append(("Version précédente du PPS", c.ids.replaces_unique_id))
    r_all = ctx.ref("documents-references")
    rows: list[Row] = []
    doc_refs = []
    for label, ident in refs:
        ref = ctx.ref("document-ref")
        rows.append((label, ident, ref))
        doc_refs.append((ident, ref))
    _table(text, rows, header=("Document", "Identifiant"))
    text.find(f"{{{NS}}}table").set("ID", r_all)
    act = _s(_s(section, "entry"), "act", classCode="ACT", moodCode="EVN")
    _templates(act, ("1.3.6.1.4.1.19376.1.5.3.1.4.4", "1.2.250.1.213.1.1.3.35"))
    _s(act, "id", root=ctx.uuid())
    _s(act, "code", nullFlavor="NA")
    _s(_s(act, "text"), "reference", value=f"#{r_all}")
    for ident, ref in doc_refs:
        ext = _s(_s(act, "reference", typeCode="REFR"), "externalDocument", classCode="DOC", moodCode="EVN")
        _ii(ext, "id", ident)
        _s(_s(ext, "text"), "reference", value=f"#{ref}")


def _pps_body(doc: etree._Element, ctx: _Ctx, c: PpsContent) -> None:
    body = _s(_s(doc, "component"), "structuredBody")
    assert c.tumour is not None
    if c.comment:
        _comment_section(ctx, body, "COMMENTAIRE SUR LE PATIENT", c.comment, C_COMMENT_PATIENT)
    _pps_reason_section(ctx, body, c)
    _diagnosis_section(ctx, body, c.tumour, tnm_always=False)
    _discovery_section(ctx, body, c.screening, c.discovery_mode)
    _phase_section(ctx, body, c.phase, c.relapse_date if c.phase == "relapse" else c.rcp_date, None)
    _programme_section(ctx, body, c)
    _support_section(ctx, body, c)
    _pps_status_section(ctx, body, c)
    _references_section(ctx, body, c)
    _comment_section(
        ctx,
        body,
        "INFORMATION SUR LES DONNÉES PERSONNELLES VOUS CONCERNANT",
        PERSONAL_DATA_NOTICE,
        C_INFO_PATIENT,
    )


# =================================================================================================
# Public API
# =================================================================================================


def _serialize(doc: etree._Element) -> bytes:
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _common_missing(patient: Patient, board_facility: Organization | None) -> list[str]:
    missing = []
    if not (patient.ins_qualified or (patient.ipp and patient.ipp_oid)):
        missing.append("identifiant du patient (INS qualifiée ou IPP)")
    if board_facility is None:
        missing.append("établissement de la RCP")
    return missing


def build_frcp(content: FrcpContent) -> bytes:
    """The Fiche RCP as a CDA R2 document (UTF-8 XML with declaration)."""
    missing = missing_fields_frcp(content) + _common_missing(content.patient, content.board.facility)
    if missing:
        raise IncompleteData(missing, what="la fiche RCP")
    doc = _root_element()
    _frcp_header(doc, content)
    _frcp_body(doc, _Ctx(content.ids.unique_id_root), content)
    return _serialize(doc)


def build_pps(content: PpsContent) -> bytes:
    """The Programme Personnalisé de Soins as a CDA R2 document (UTF-8 XML with declaration)."""
    missing = missing_fields_pps(content) + _common_missing(content.patient, content.board.facility)
    if missing:
        raise IncompleteData(missing, what="le PPS")
    doc = _root_element()
    _pps_header(doc, content)
    _pps_body(doc, _Ctx(content.ids.unique_id_root), content)
    return _serialize(doc)


def stamp_legal_authenticator(cda: bytes, *, signed_at: datetime) -> bytes:
    """The same document with legalAuthenticator/time set to `signed_at` (nothing else changes)."""
    parser = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True)
    root = etree.fromstring(cda, parser=parser)
    time = root.find(f"{{{NS}}}legalAuthenticator/{{{NS}}}time")
    if time is None:
        raise ValueError("document without legalAuthenticator/time")
    time.attrib.clear()
    time.set("value", _ts(signed_at))
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
