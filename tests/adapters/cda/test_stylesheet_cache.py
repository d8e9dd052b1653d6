"""The disk cache of generated validator stylesheets (dcc.adapters.cda.stylesheet_cache): a second process reads
the text the first generated, and any change to a file the schematron includes gives a new entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dcc.adapters.cda import stylesheet_cache, validate

SCH = """<?xml version="1.0" encoding="UTF-8"?>
<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns uri="urn:hl7-org:v3" prefix="hl7"/>
  <pattern id="entete">
    <include href="include/titre.sch"/>
  </pattern>
</schema>
"""
RULE = """<?xml version="1.0" encoding="UTF-8"?>
<rule xmlns="http://purl.oclc.org/dsdl/schematron" context="hl7:ClinicalDocument">
  <assert id="titre" test="hl7:title">{message}</assert>
</rule>
"""
NO_TITLE = "<ClinicalDocument xmlns='urn:hl7-org:v3'><code code='x'/></ClinicalDocument>"


@pytest.fixture
def kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A schematron including a rule from another file, in a `schematrons/` folder; an empty disk cache; this
    process's in-memory caches set aside (as in a new process)."""
    folder = tmp_path / "kit" / "schematrons"
    (folder / "include").mkdir(parents=True)
    (folder / "volet.sch").write_text(SCH, encoding="utf-8")
    (folder / "include" / "titre.sch").write_text(RULE.format(message="Le titre est obligatoire."), encoding="utf-8")
    monkeypatch.setenv("DCC_CACHE_DIR", str(tmp_path / "cache"))
    new_process(monkeypatch)
    return folder / "volet.sch"


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "_validator_xsl", {})
    monkeypatch.setattr(validate, "_compiled", {})
    stylesheet_cache.forget_trees()


def entries(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache" / "schematron").iterdir())


def failures(sch: Path) -> list[validate.Failure]:
    sheet = validate._Stylesheet(sch, fast=True)
    node = validate._saxon().parse_xml(xml_text=NO_TITLE)
    return validate._failures("volet.sch", sheet.run(node, NO_TITLE.encode()))


def test_a_second_process_reads_the_generated_stylesheets_from_disk(kit: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert [(f.assertion_id, f.message) for f in failures(kit)] == [("titre", "Le titre est obligatoire.")]
    names = entries(tmp_path)
    key = names[0].split(".")[0]
    assert names == [f"{key}.fast.xsl", f"{key}.literals.json", f"{key}.validator.xsl"]
    first = validate._generate_validator(kit)
    assert (tmp_path / "cache" / "schematron" / f"{key}.validator.xsl").read_text(encoding="utf-8") == first

    new_process(monkeypatch)

    def no_skeleton(name: str) -> Any:
        raise AssertionError(f"the skeleton ran ({name}): the cached stylesheet was not used")

    def no_rewrite(xsl: str) -> Any:
        raise AssertionError("the fast rewrite ran: the cached one was not used")

    monkeypatch.setattr(validate, "_skeleton", no_skeleton)
    monkeypatch.setattr(validate, "_fast_stylesheet", no_rewrite)
    assert validate._generate_validator(kit) == first
    # compiled from the cached texts, the validator still reports the failure
    assert [(f.assertion_id, f.message) for f in failures(kit)] == [("titre", "Le titre est obligatoire.")]
    assert entries(tmp_path) == names


def test_a_changed_include_gives_a_new_entry(kit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = validate._generate_validator(kit)
    (kit.parent / "include" / "titre.sch").write_text(RULE.format(message="Un titre est exigé."), encoding="utf-8")
    new_process(monkeypatch)
    after = validate._generate_validator(kit)
    assert "Un titre est exigé." in after and "Le titre est obligatoire." not in after
    assert after != before and len(entries(tmp_path)) == 2
    assert [(f.assertion_id, f.message) for f in failures(kit)] == [("titre", "Un titre est exigé.")]


def test_the_cache_can_be_turned_off(kit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCC_CACHE_DIR", "off")
    assert [(f.assertion_id, f.message) for f in failures(kit)] == [("titre", "Le titre est obligatoire.")]
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_folder_means_no_cache(kit: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "blocked").write_text("a file, not a folder", encoding="utf-8")
    monkeypatch.setenv("DCC_CACHE_DIR", str(tmp_path / "blocked"))
    assert [(f.assertion_id, f.message) for f in failures(kit)] == [("titre", "Le titre est obligatoire.")]
    assert (tmp_path / "blocked").read_text(encoding="utf-8") == "a file, not a folder"
