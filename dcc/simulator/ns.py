"""The IHE / ebRIM constants of the simulator (its own copy: a wrong value on the sending side is caught
here rather than shared).
"""

from __future__ import annotations

from lxml import etree

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XDSB = "urn:ihe:iti:xds-b:2007"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XOP = "http://www.w3.org/2004/08/xop/include"
NS = {"soap": SOAP, "wsa": WSA, "wsse": WSSE, "saml": SAML, "xdsb": XDSB, "rim": RIM, "xop": XOP, "ds": DS}

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
DOC_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"

CLASS_CODES = {"10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95", "99"}  # TRE_A03
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"
FORMAT_CODES = {
    ("urn:asip:ci-sis:frcp:2011", "1.2.250.1.213.1.1.4.2.282"),
    ("urn:asip:ci-sis:pps-cancer:2017", "1.2.250.1.213.1.1.4.2.282"),
    # CDA N1 (non-structured body): ASS_A12 media type -> TRE_A11-IheFormatCode
    ("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3"),
    ("urn:ihe:iti-fr:xds-sd:jpeg:2010", "1.3.6.1.4.1.19376.1.2.3"),
}
CODED = {
    DE_TYPE: ("typeCode", "JDV_J07_XdsTypeCode_CISIS"),
    DE_CONFIDENTIALITY: ("confidentialityCode", "JDV_J08_XdsConfidentialityCode_CISIS"),
    DE_FACILITY: ("healthcareFacilityTypeCode", "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS"),
    DE_PRACTICE: ("practiceSettingCode", "JDV_J04_XdsPracticeSettingCode_CISIS"),
}
REQUIRED_SLOTS = ("creationTime", "languageCode", "sourcePatientId")
PS_OID = "1.2.250.1.71.4.2.1"
STRUCT_OID = "1.2.250.1.71.4.2.2"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
MAX_BODY = 50 * 1024 * 1024

ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI18_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ACTION_ITI57_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"

# SubmissionSet.contentTypeCode / MHD designationType: JDV_J59-ContentTypeCode-DMP (CI-SIS "Partage de documents
# de santé" metadata table; PDSm SubmissionSet profile), drawn from these code systems. The kit has no J59: TRE_R02
# and TRE_A00 codes are checked against the kit's JDV_J02 (which lists them), TRE_R209 codes by their form only.
CONTENT_TYPE_VS = "JDV_J59-ContentTypeCode-DMP"
CONTENT_TYPE_SYSTEMS = {
    "1.2.250.1.213.1.1.4.6": "TRE_A00-ProducteurDocNonPS",
    "1.2.250.1.213.2.2": "TRE_R209-TypeActivite",
    "1.2.250.1.71.4.2.4": "TRE_R02-SecteurActivite",
}

# FHIR (PDSm): the canonical URL of each code system that has one, as the NOS terminology publishes it
# (ansforge/IG-terminologie-de-sante, CodeSystem `url` / `identifier urn:oid:<oid>`). The PDSm profiles bind
# their codes to NOS value sets drawn from these systems, so `urn:oid:<oid>` for one of them is refused.
NOS = "https://mos.esante.gouv.fr/NOS"
CANONICAL_SYSTEMS = {
    "2.16.840.1.113883.6.1": "http://loinc.org",
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
# PDSm DocumentReference.securityLabel slices: `confidentiality` 1..1 from v3-ConfidentialityClassification,
# `visibilityStatus` 0..* bound (required) to JDV_J110-StatutVisibiliteDocument-CISIS = TRE_A07 codes.
CONFIDENTIALITY_LEVELS = {"N", "R", "V"}
JDV_J110 = "JDV_J110-StatutVisibiliteDocument-CISIS"
JDV_J110_SYSTEM = "1.2.250.1.213.1.1.4.13"
JDV_J110_CODES = {"INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "MASQUE_PS"}
