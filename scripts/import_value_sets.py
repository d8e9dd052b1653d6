#!/usr/bin/env python3
"""Regenerate dcc/data/valuesets.json from the ANS kit's value sets (jeuxDeValeurs/).

Running dcc never needs the kit: this script copies the codes and labels the project uses into the
package. Run it again when the kit is updated:

    python scripts/import_value_sets.py [--kit ../shared/ans-cda-kit]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lxml import etree

SVS = "{urn:ihe:iti:svs:2008}"

# Value sets the project uses (file stem in jeuxDeValeurs/).
VALUE_SETS = [
    "JDV_RCP_Appareil_CISIS",
    "JDV_RCP_Organe_CISIS",
    "JDV_TraitementSoins_FRCP_CISIS",
    "JDV_TypeTraitement_FRCP_CISIS",
    "JDV_NatureDiscussion_CISIS",
    "JDV_StatutCasPresente_CISIS",
    "JDV_StatutQuorum_CISIS",
    "JDV_PhaseCancer_CISIS",
    "JDV_ProgressionCancer_CISIS",
    "JDV_OMSEchPerf_CISIS",
    "JDV_StatutDoc_CISIS",
    "JDV_Tumeur_CISIS",
    "JDV_Morphologie_CISIS",
    "JDV_TypeTraitementPPS_CISIS",
    "JDV_GestionEffetsSecondaires_CISIS",
    "JDV_MesuresAssociees_CISIS",
    "JDV_TypeDeSuivi_CISIS",
    "JDV_SoinsOncoDeSupport_CISIS",
    "JDV_TypeAccompagnementSocioPro_CISIS",
    "JDV_MotifMiseAJour_CISIS",
    "JDV_J01_XdsAuthorSpecialty_CISIS",
    "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS",
    "JDV_J04_XdsPracticeSettingCode_CISIS",
    "JDV_J07_XdsTypeCode_CISIS",
    "JDV_J08_XdsConfidentialityCode_CISIS",
    "JDV_J47_FunctionCode_CISIS",
    "JDV_J142_TypeRencontre_CISIS",
    "JDV_J143_AdministrativeGender_CISIS",
    "JDV_J144_ParticipationType_CISIS",
    "JDV_ModificateurTopographique_CISIS",  # laterality qualifier of the FRCP targetSiteCode
]
OPTIONAL_PATTERNS = ("JDV_J06_", "JDV_J57", "JDV_J58", "JDV_J60", "JDV_J61", "JDV_J65", "JDV_J10_", "JDV_J09_")


def read_value_set(path: Path) -> dict[str, object]:
    root = etree.parse(str(path)).getroot()
    vs = root.find(f"{SVS}ValueSet")
    if vs is None:
        raise SystemExit(f"{path}: no ValueSet element")
    concepts = []
    for c in vs.iter(f"{SVS}Concept"):
        if c.get("dateFin"):
            continue  # retired code
        concepts.append(
            {"code": c.get("code"), "codeSystem": c.get("codeSystem"), "displayName": c.get("displayName")}
        )
    return {
        "oid": vs.get("id"),
        "displayName": vs.get("displayName"),
        "revisionDate": vs.get("revisionDate"),
        "concepts": concepts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kit", default=os.environ.get("DCC_ANS_KIT", "../shared/ans-cda-kit"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "dcc/data/valuesets.json"))
    args = parser.parse_args()
    jdv = Path(args.kit) / "jeuxDeValeurs"
    if not jdv.is_dir():
        print(f"no value sets at {jdv}", file=sys.stderr)
        return 2
    names = list(VALUE_SETS)
    for f in sorted(jdv.glob("*.xml")):
        if f.stem.startswith(OPTIONAL_PATTERNS) and f.stem not in names:
            names.append(f.stem)
    out: dict[str, object] = {}
    for name in names:
        out[name] = read_value_set(jdv / f"{name}.xml")
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(out)} value sets to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
