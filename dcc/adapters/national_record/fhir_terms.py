"""FHIR terminology of the MHD (PDSm) bundles: the canonical URL of each code system, Codings and the
securityLabel slices (confidentiality level + JDV_J110 visibility status).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dcc import valuesets
from dcc.adapters.national_record.metadata import VS_CONFIDENTIALITY, CodedValue
from dcc.errors import DeliveryError, UnknownCode

# The one table OID -> canonical code system URL used on the FHIR side. The French PDSm profiles bind their
# elements to NOS value sets whose code systems are published under these canonical URLs (NOS terminology IG,
# ansforge/IG-terminologie-de-sante: each CodeSystem's `^url` with `^identifier.value = "urn:oid:<oid>"`); the
# DMP refuses `urn:oid:<oid>` for a system that has one. LOINC and HL7 v3 keep their HL7 canonical URLs. An OID
# not listed here (identifiers, ASTM...) is written `urn:oid:<oid>`.
NOS = "https://mos.esante.gouv.fr/NOS"
CANONICAL_SYSTEMS: dict[str, str] = {
    "2.16.840.1.113883.6.1": "http://loinc.org",  # TRE_A04-TypeDocument-LOINC
    "2.16.840.1.113883.5.25": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    "1.2.250.1.213.1.1.4.1": f"{NOS}/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
    "1.2.250.1.213.1.1.4.12": f"{NOS}/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
    "1.2.250.1.213.1.1.4.13": f"{NOS}/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument",
    "1.2.250.1.213.1.1.4.5": f"{NOS}/TRE_A02-ProfessionSavFaire-CISIS/FHIR/TRE-A02-ProfessionSavFaire-CISIS",
    "1.2.250.1.213.1.1.4.6": f"{NOS}/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
    "1.2.250.1.213.1.1.4.9": f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
    "1.2.250.1.213.1.1.4.2.282": f"{NOS}/TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire",
    "1.3.6.1.4.1.19376.1.2.3": f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode",
    "1.2.250.1.71.4.2.4": f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
    "1.2.250.1.213.1.6.1.107": f"{NOS}/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge",
    "1.2.250.1.213.1.6.1.109": f"{NOS}/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre",
    "1.2.250.1.213.1.6.1.4": f"{NOS}/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial",
    "1.2.250.1.213.2.2": f"{NOS}/TRE_R209-TypeActivite/FHIR/TRE-R209-TypeActivite",
}
SYSTEM_URIS = CANONICAL_SYSTEMS  # former name

# securityLabel (PDSm DocumentReference, slices of ansforge/IG-fhir-partage-de-documents-de-sante): exactly one
# `confidentiality` label from v3-ConfidentialityClassification (N/R/V), and `visibilityStatus` labels bound
# (required) to JDV_J110-StatutVisibiliteDocument-CISIS, i.e. the TRE_A07-StatutVisibiliteDocument codes
# (OID 1.2.250.1.213.1.1.4.13). The kit has no JDV_J110 file: its codes are TRE_A07's, as listed in JDV_J08.
CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
CONFIDENTIALITY_LEVELS = ("N", "R", "V")
VISIBILITY_OID = "1.2.250.1.213.1.1.4.13"
JDV_J110 = "JDV_J110-StatutVisibiliteDocument-CISIS"
JDV_J110_CODES = frozenset({"INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "MASQUE_PS"})


def system_uri(oid: str) -> str:
    """The FHIR code system URI of an OID code system: its canonical URL when it has one."""
    return CANONICAL_SYSTEMS.get(oid, f"urn:oid:{oid}")


def coding(value: CodedValue) -> dict[str, str]:
    out = {"system": system_uri(value.scheme), "code": value.code}
    if value.display:
        out["display"] = value.display
    return out


def concept(value: CodedValue) -> dict[str, Any]:
    return {"coding": [coding(value)]}


def security_label(code: str | CodedValue) -> dict[str, Any]:
    """A securityLabel CodeableConcept: N/R/V (v3-Confidentiality) or a JDV_J110 visibility code (TRE_A07).
    Any other code raises UnknownCode before anything is sent."""
    value = code if isinstance(code, CodedValue) else None
    if value is None:
        found = valuesets.lookup(VS_CONFIDENTIALITY, str(code), field="securityLabel")
        value = CodedValue(found.code, found.system, found.display)
    if value.code in CONFIDENTIALITY_LEVELS and value.scheme == CONFIDENTIALITY_OID:
        return concept(value)
    if value.code in JDV_J110_CODES and value.scheme == VISIBILITY_OID:
        return concept(value)
    raise UnknownCode(field="securityLabel", value=value.code, value_set=JDV_J110)


def security_labels(codes: Sequence[str | CodedValue]) -> list[dict[str, Any]]:
    """The securityLabel list of a DocumentReference: one N/R/V level, then JDV_J110 codes (checked)."""
    values = [security_label(c) for c in codes]
    levels = [v for v in values if v["coding"][0]["system"] == CANONICAL_SYSTEMS[CONFIDENTIALITY_OID]]
    if len(levels) != 1:
        raise DeliveryError(
            "Les étiquettes de sécurité doivent comporter un et un seul niveau de confidentialité N, R ou V.",
            permanent=True,
            error_code="metadonnees_invalides",
        )
    return values
