"""The simulated national record's own reference data: the value sets it checks codes against, and the
INS checks. The simulator stands for the outside world, so it does not share the sender's oracle
(dcc.valuesets, dcc.domain.identifiers): it reads the value sets from the ANS kit when it starts, and checks
the NIR key with its own arithmetic.

`load_value_sets(kit)` reads `jeuxDeValeurs/<name>.xml` (IHE SVS) of the kit for the value sets below; with no
kit (a fresh clone running the demo) it falls back to the copy the package ships as data
(`dcc/data/valuesets.json`, itself imported from the kit by scripts/import_value_sets.py) and says so in the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lxml import etree

log = logging.getLogger(__name__)

SVS = "{urn:ihe:iti:svs:2008}"

# The value sets of the XDS metadata the DMP checks (CI-SIS, volet Partage de documents de santé, §
# "Jeux de valeurs des métadonnées XDS": J01 authorSpecialty, J02 healthcareFacilityTypeCode, J04
# practiceSettingCode, J07 typeCode, J08 confidentialityCode).
VALUE_SETS = (
    "JDV_J01_XdsAuthorSpecialty_CISIS",
    "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS",
    "JDV_J04_XdsPracticeSettingCode_CISIS",
    "JDV_J07_XdsTypeCode_CISIS",
    "JDV_J08_XdsConfidentialityCode_CISIS",
)

# Assigning authorities of the INS (Référentiel INS, ANS, § 3.2 "OID de l'autorité d'affectation").
INS_OIDS = {
    "1.2.250.1.213.1.4.8": "INS-NIR",
    "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR de test",
    "1.2.250.1.213.1.4.11": "INS-NIR de démonstration",
}


@dataclass(frozen=True)
class Concept:
    code: str
    system: str
    display: str


_table: dict[str, dict[str, Concept]] = {}
_source = ""
_lock = threading.Lock()


def _kit_dir(kit: Path | None) -> Path | None:
    candidates = [kit] if kit is not None else []
    if env := os.environ.get("DCC_ANS_KIT"):
        candidates.append(Path(env))
    candidates += [Path.cwd() / "../shared/ans-cda-kit", Path(__file__).resolve().parents[3] / "../shared/ans-cda-kit"]
    for c in candidates:
        if (c / "jeuxDeValeurs").is_dir():
            return c.resolve()
    return None


def _read_svs(path: Path) -> dict[str, Concept]:
    root = etree.parse(str(path)).getroot()
    vs = root.find(f"{SVS}ValueSet")
    if vs is None:
        raise ValueError(f"{path}: no ValueSet element")
    return {str(c.get("code")): Concept(str(c.get("code")), str(c.get("codeSystem")), str(c.get("displayName")))
            for c in vs.iter(f"{SVS}Concept") if not c.get("dateFin")}  # dateFin: retired code


def load_value_sets(kit: Path | None = None) -> str:
    """Load the value sets (once per process and source); returns where they came from."""
    global _table, _source
    found = _kit_dir(kit)
    source = str(found) if found is not None else "dcc/data/valuesets.json"
    with _lock:
        if _source == source:
            return source
        table: dict[str, dict[str, Concept]] = {}
        if found is not None:
            for name in VALUE_SETS:
                table[name] = _read_svs(found / "jeuxDeValeurs" / f"{name}.xml")
        else:
            log.warning("DMP simulator: no ANS kit found (DCC_ANS_KIT); checking codes against the package's "
                        "copy of the value sets")
            data = json.loads(resources.files("dcc.data").joinpath("valuesets.json").read_text(encoding="utf-8"))
            for name in VALUE_SETS:
                table[name] = {c["code"]: Concept(c["code"], c["codeSystem"], c["displayName"])
                               for c in data[name]["concepts"]}
        _table, _source = table, source
    return source


def _value_set(name: str) -> dict[str, Concept]:
    if not _table:
        load_value_sets()
    return _table[name]


def contains(value_set: str, code: str) -> bool:
    return code in _value_set(value_set)


def lookup(value_set: str, code: str) -> Concept:
    """The concept `code` of `value_set` (KeyError when absent: check with `contains` first)."""
    return _value_set(value_set)[code]


def nir_problem(nir: str) -> str | None:
    """Why `nir` is not a valid NIR/NIA (13 characters + 2-digit key), or None. The key is 97 minus the
    13-character number modulo 97, Corsica's 2A/2B counting as 19/18 (décret n° 82-103, INSEE)."""
    if len(nir) != 15 or not nir[13:].isdigit():
        return f"Le NIR « {nir} » doit compter 15 caractères (13 + clé de 2 chiffres)"
    body = nir[:13].upper()
    if body[5:7] in ("2A", "2B"):
        body = body[:5] + ("19" if body[5:7] == "2A" else "18") + body[7:]
    if not body.isdigit():
        return f"Le NIR « {nir} » contient des caractères invalides"
    if 97 - int(body) % 97 != int(nir[13:]):
        return f"Le NIR « {nir} » est invalide : la clé de contrôle ne correspond pas"
    return None
