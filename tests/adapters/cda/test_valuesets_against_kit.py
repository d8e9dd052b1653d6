"""The value sets shipped in the package (dcc/data/valuesets.json) agree with the ANS kit: every value set
exists in the kit under its name, with the same OID and revision, and every code shipped is a current code of
that value set there, with the same code system and label. Reads the kit's SVS files directly (not through
dcc.valuesets or scripts/import_value_sets.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from dcc.adapters.cda.validate import find_kit

SVS = "{urn:ihe:iti:svs:2008}"
SHIPPED = json.loads((Path(__file__).resolve().parents[3] / "dcc/data/valuesets.json").read_text(encoding="utf-8"))
KIT = find_kit()


@pytest.fixture(scope="module")
def kit() -> Path:
    if KIT is None:
        pytest.skip("Kit de test CDA de l'ANS introuvable (DCC_ANS_KIT ou ../shared/ans-cda-kit)")
    return KIT


def test_the_package_ships_value_sets() -> None:
    assert len(SHIPPED) >= 20 and all(vs["concepts"] for vs in SHIPPED.values())


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_value_set_matches_the_kit(kit: Path, name: str) -> None:
    path = kit / "jeuxDeValeurs" / f"{name}.xml"
    assert path.is_file(), f"{name} absent from the kit"
    vs = etree.parse(str(path)).getroot().find(f"{SVS}ValueSet")
    assert vs is not None
    shipped = SHIPPED[name]
    assert (vs.get("id"), vs.get("revisionDate")) == (shipped["oid"], shipped["revisionDate"])
    current = {(c.get("code"), c.get("codeSystem")): c.get("displayName")
               for c in vs.iter(f"{SVS}Concept") if not c.get("dateFin")}
    for concept in shipped["concepts"]:
        key = (concept["code"], concept["codeSystem"])
        assert key in current, f"{name}: {key} is not a current code of the kit's value set"
        assert current[key] == concept["displayName"], f"{name}: label of {key}"
