"""A minimal CI-SIS-shaped CDA header (FRCP or PPS) for simulator demos and transport tests.

Only the header elements the XDS mapping reads are present; the body is empty. Real documents
come from the CDA generator.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

FRCP = ("34794-8", "CR de réunion de concertation pluridisciplinaire", "1.2.250.1.213.1.1.1.8")
PPS = ("18776-5", "Plan personnalisé de soins", "1.2.250.1.213.1.1.1.26")
CONFIDENTIALITY = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}


def sample_cda(
    *,
    unique_id: str = "1.2.250.1.213.1.1.9.99.1",
    kind: str = "FRCP",
    confidentiality: str = "N",
    replaces: str | None = None,
    nir: str = "279035121518989",
    ins_oid: str = "1.2.250.1.213.1.4.10",
    specialty: str = "G15_10/SM36",
    facility: str = "SA01",
    practice: str = "ETABLISSEMENT",
    structure_id: str = "1750100125",
    author_id: str = "801234567897",
    title: str = "FRCP ONCO / 3C démo / Sein",
    note: str = "",
) -> bytes:
    code, display, template = FRCP if kind == "FRCP" else PPS
    related = (
        f'<relatedDocument typeCode="RPLC"><parentDocument><id root={quoteattr(replaces)}/>'
        "</parentDocument></relatedDocument>"
        if replaces
        else ""
    )
    root, _, ext = unique_id.partition("^")
    doc_id = f"<id root={quoteattr(root)}" + (f" extension={quoteattr(ext)}" if ext else "") + "/>"
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="{template}" extension="2022.01"/>
  {doc_id}
  <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{display}"/>
  <title>{title}</title>
  <effectiveTime value="20250312094914+0100"/>
  <confidentialityCode code="{confidentiality}" codeSystem="2.16.840.1.113883.5.25"
    displayName="{CONFIDENTIALITY.get(confidentiality, "")}"/>
  <languageCode code="fr-FR"/>
  <setId root="{root}.0"/>
  <versionNumber value="{2 if replaces else 1}"/>
  <recordTarget><patientRole>
    <id root="{ins_oid}" extension="{nir}"/>
    <id root="1.2.3.4.567.8.9.10" extension="1234567890121"/>
    <patient classCode="PSN">
      <name><family qualifier="BR">PAT-TROIS</family><given qualifier="BR">DOMINIQUE</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19790328"/>
    </patient>
  </patientRole></recordTarget>
  <author>
    <functionCode code="353" displayName="Membre de l'équipe de soins" codeSystem="1.2.250.1.213.1.6.1.107"/>
    <time value="20250312094914+0100"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="{author_id}"/>
      <code code="{specialty}" codeSystem="1.2.250.1.213.1.1.4.5" displayName="Médecin - Oncologie médicale"/>
      <assignedPerson><name><given>Charles</given><family>MULLER</family></name></assignedPerson>
      <representedOrganization>
        <id root="1.2.250.1.71.4.2.2" extension="{structure_id}"/>
        <name>Centre Hospitalier d'Angers</name>
        <standardIndustryClassCode code="{practice}" codeSystem="1.2.250.1.213.1.1.4.9"/>
      </representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="{structure_id}"/><name>Centre Hospitalier d'Angers</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <documentationOf><serviceEvent classCode="ACT">
    <code code="39" codeSystem="1.2.250.1.213.3.3.13"
      displayName="Réunion de Concertation Pluridisciplinaire (RCP)"/>
    <effectiveTime><low value="20250312154500+0100"/></effectiveTime>
  </serviceEvent></documentationOf>
  {related}
  <componentOf><encompassingEncounter>
    <effectiveTime><low value="20250312171100+0100"/></effectiveTime>
    <location><healthCareFacility>
      <code code="{facility}" codeSystem="1.2.250.1.71.4.2.4" displayName="Etablissement public de santé"/>
    </healthCareFacility></location>
  </encompassingEncounter></componentOf>
  <component><structuredBody><component><section>
    <title>Proposition</title><text>{note or "Chimiothérapie adjuvante."}</text>
  </section></component></structuredBody></component>
</ClinicalDocument>
"""
    return text.encode("utf-8")
