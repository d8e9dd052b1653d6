"""The PDSm (French MHD) constraints dcc's ITI-65 bundles must meet, written from the IG and the NOS
terminology (not from dcc's code): used by the transport tests and by the test over every bundle of the demo.

- Codings name their code system by its canonical URL (NOS `https://mos.esante.gouv.fr/NOS/TRE_...`, LOINC,
  HL7 v3), never `urn:oid:` (the PDSm bindings are to NOS value sets published with these URLs).
- `DocumentReference.securityLabel`: slice `confidentiality` 1..1 (N/R/V, v3-Confidentiality) and slice
  `visibilityStatus` bound (required) to JDV_J110-StatutVisibiliteDocument-CISIS (TRE_A07 codes).
- A replacement: the new DocumentReference has `relatesTo` code `replaces` whose target references the
  replaced DocumentReference, and the same transaction PUTs that DocumentReference with status `superseded`.
"""

from __future__ import annotations

from typing import Any

NOS = "https://mos.esante.gouv.fr/NOS"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
TRE_A07 = f"{NOS}/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
JDV_J110 = {"INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX", "MASQUE_PS"}
KNOWN_SYSTEMS = {
    "http://loinc.org",
    V3_CONFIDENTIALITY,
    TRE_A07,
    "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
    f"{NOS}/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
    f"{NOS}/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
    f"{NOS}/TRE_A02-ProfessionSavFaire-CISIS/FHIR/TRE-A02-ProfessionSavFaire-CISIS",
    f"{NOS}/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
    f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
    f"{NOS}/TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire",
    f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode",
    f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
    f"{NOS}/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge",
    f"{NOS}/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre",
    f"{NOS}/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial",
    f"{NOS}/TRE_R209-TypeActivite/FHIR/TRE-R209-TypeActivite",
}


def codings(data: Any, path: str = "Bundle") -> list[tuple[str, dict[str, Any]]]:
    """Every Coding (JSON object with `system` and `code`) under `data`, with its path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(data, dict):
        if "system" in data and "code" in data:
            found.append((path, data))
        for key, value in data.items():
            found += codings(value, f"{path}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += codings(value, f"{path}[{index}]")
    return found


def pdsm_violations(bundle: dict[str, Any]) -> list[str]:
    """The PDSm constraints above that `bundle` (an ITI-65 transaction Bundle as JSON) breaks."""
    problems = [
        f"{path}: system {c['system']}"
        for path, c in codings(bundle)
        if str(c["system"]).startswith("urn:oid:") or c["system"] not in KNOWN_SYSTEMS
    ]
    entries = bundle.get("entry") or []
    posted = [e for e in entries if e["resource"]["resourceType"] == "DocumentReference"
              and e["request"]["method"] == "POST"]
    updates = {e["request"]["url"]: e for e in entries if e["request"]["method"] == "PUT"}
    if not posted:
        problems.append("no DocumentReference posted")
    targets: set[str] = set()
    for entry in posted:
        labels = [c for label in entry["resource"].get("securityLabel") or [] for c in label["coding"]]
        levels = [c for c in labels if c["system"] == V3_CONFIDENTIALITY and c["code"] in ("N", "R", "V")]
        others = [c for c in labels if c not in levels]
        if len(levels) != 1:
            problems.append(f"{entry['fullUrl']}: {len(levels)} N/R/V securityLabel")
        problems += [f"{entry['fullUrl']}: securityLabel {c}" for c in others
                     if c["system"] != TRE_A07 or c["code"] not in JDV_J110]
        for relation in entry["resource"].get("relatesTo") or []:
            reference = relation["target"].get("reference", "")
            if relation["code"] != "replaces" or not reference.startswith("DocumentReference/"):
                problems.append(f"{entry['fullUrl']}: relatesTo {relation}")
            targets.add(reference)
    for url, update in updates.items():
        resource = update["resource"]
        if resource["resourceType"] != "DocumentReference" or resource["status"] != "superseded":
            problems.append(f"update {url}: not a superseded DocumentReference")
        if url != f"DocumentReference/{resource.get('id')}":
            problems.append(f"update {url}: id {resource.get('id')}")
    if targets != set(updates):
        problems.append(f"relatesTo targets {sorted(targets)} != superseded updates {sorted(updates)}")
    return problems
