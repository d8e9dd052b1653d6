"""Conformance of a CDA document to the ANS (CI-SIS) test kit: XSD + five schematrons.

The schematrons declare `queryBinding="xslt2"`, so lxml's own (XSLT 1.0) schematron support cannot
run them. They are compiled with the ISO skeleton stylesheets that ship with lxml
(include -> abstract expand -> SVRL), executed by Saxon (saxonche), with `queryBinding` rewritten to
`xslt` after the expand step. The generated validator stylesheet is compiled with the `.sch`
file's own folder as base URI, so that `document('../jeuxDeValeurs/...')` resolves inside the kit.

Two traps (see the kit README): Saxon's optimiser must be switched off (optimizationLevel 0, else
SaxonC crashes compiling the generated stylesheet), and there must be one PySaxonProcessor per
process, kept alive as long as any compiled stylesheet is used. Both are handled here: the
processor and the compiled stylesheets are module-level caches.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml
from lxml import etree

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
HL7_NS = "urn:hl7-org:v3"

FRCP_TEMPLATE_ID = "1.2.250.1.213.1.1.1.8"
PPS_TEMPLATE_ID = "1.2.250.1.213.1.1.1.26"

VOLETS: dict[str, str] = {
    FRCP_TEMPLATE_ID: "CI-SIS_CANCER-FRCP_2022.01.sch",
    PPS_TEMPLATE_ID: "CI-SIS_CANCER-PPS_2022.01.sch",
}
COMMON_SCHEMATRONS = (
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/terminologies/schematron/terminologie.sch",
)
XSD_PATH = "infrastructure/cda/CDA_extended.xsd"

_SKELETON_DIR = Path(lxml.__file__).parent / "isoschematron/resources/xsl/iso-schematron-xslt1"

_lock = threading.RLock()
_processor: Any = None  # the one PySaxonProcessor of this process
_skeletons: dict[str, Any] = {}
_compiled: dict[Path, Any] = {}  # .sch path -> compiled validator (PyXsltExecutable)
_xsd: dict[Path, etree.XMLSchema] = {}


def find_kit() -> Path | None:
    """The ANS kit folder: $DCC_ANS_KIT, else ../shared/ans-cda-kit from the current directory,
    else from the repository root. None when no kit is found."""
    env = os.environ.get("DCC_ANS_KIT")
    candidates = [Path(env)] if env else []
    candidates += [
        Path.cwd() / "../shared/ans-cda-kit",
        Path(__file__).resolve().parents[3] / "../shared/ans-cda-kit",
    ]
    for c in candidates:
        if (c / XSD_PATH).is_file() and (c / "schematrons").is_dir():
            return c.resolve()
    return None


@dataclass(frozen=True)
class Failure:
    check: str  # "XSD" or the schematron path relative to the kit's schematrons/ folder
    assertion_id: str  # schematron assert id (or XSD error type)
    location: str  # XPath of the failing node (or "line N" for XSD)
    message: str  # the agency's own text (or the XSD error message)
    test: str = ""  # the XPath test that failed
    pattern: str = ""  # schematron pattern the assertion belongs to

    def __str__(self) -> str:
        ident = f" [{self.assertion_id}]" if self.assertion_id else ""
        return f"{self.check}{ident} {self.location}: {self.message}"


@dataclass
class ValidationReport:
    kind: str  # "FRCP", "PPS" or "" when the document's model is not recognised
    failures: list[Failure] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # checks that ran

    @property
    def ok(self) -> bool:
        return not self.failures


def _saxon() -> Any:
    global _processor
    with _lock:
        if _processor is None:
            from saxonche import PySaxonProcessor

            proc = PySaxonProcessor(license=False)
            proc.set_configuration_property("http://saxon.sf.net/feature/optimizationLevel", "0")
            _processor = proc
        return _processor


def _skeleton(name: str) -> Any:
    with _lock:
        exe = _skeletons.get(name)
        if exe is None:
            xslt = _saxon().new_xslt30_processor()
            exe = xslt.compile_stylesheet(stylesheet_file=str(_SKELETON_DIR / name))
            _skeletons[name] = exe
        return exe


def _run(exe: Any, node: Any) -> str:
    return str(exe.transform_to_string(xdm_node=node))


def _parse(text: str, base_uri: str) -> Any:
    builder = _saxon().new_document_builder()
    builder.set_base_uri(base_uri)
    return builder.parse_xml(xml_text=text, encoding="UTF-8")


def _compile_schematron(sch: Path) -> Any:
    with _lock:
        exe = _compiled.get(sch)
        if exe is not None:
            return exe
        proc = _saxon()
        base = sch.as_uri()
        node = proc.parse_xml(xml_file_name=str(sch))
        included = _run(_skeleton("iso_dsdl_include.xsl"), node)
        expanded = _run(_skeleton("iso_abstract_expand.xsl"), _parse(included, base))
        expanded = expanded.replace('queryBinding="xslt2"', 'queryBinding="xslt"')
        validator_xsl = _run(_skeleton("iso_svrl_for_xslt1.xsl"), _parse(expanded, base))
        xslt = proc.new_xslt30_processor()
        exe = xslt.compile_stylesheet(stylesheet_node=_parse(validator_xsl, base))
        _compiled[sch] = exe
        return exe


def _load_xsd(path: Path) -> etree.XMLSchema:
    with _lock:
        schema = _xsd.get(path)
        if schema is None:
            schema = etree.XMLSchema(etree.parse(str(path)))
            _xsd[path] = schema
        return schema


def document_kind(root: etree._Element) -> str:
    for t in root.findall(f"{{{HL7_NS}}}templateId"):
        if t.get("root") == FRCP_TEMPLATE_ID:
            return "FRCP"
        if t.get("root") == PPS_TEMPLATE_ID:
            return "PPS"
    return ""


class KitValidator:
    """Validates CDA documents against the XSD and the five runnable schematrons of the ANS kit.

    Compiles everything once (cached per process); `validate` can be called any number of times.
    """

    def __init__(self, kit_dir: Path) -> None:
        self.kit_dir = Path(kit_dir).resolve()
        sch_dir = self.kit_dir / "schematrons"
        self._xsd = _load_xsd(self.kit_dir / XSD_PATH)
        self._common = [(rel, _compile_schematron(sch_dir / rel)) for rel in COMMON_SCHEMATRONS]
        self._volets = {tid: (rel, _compile_schematron(sch_dir / rel)) for tid, rel in VOLETS.items()}

    def validate(self, xml: bytes) -> ValidationReport:
        try:
            root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            return ValidationReport(
                kind="",
                failures=[Failure("XML", "syntaxe", f"ligne {exc.lineno}", f"XML mal formé : {exc.msg}")],
            )
        if etree.QName(root).text != f"{{{HL7_NS}}}ClinicalDocument":
            # Self-presenting documents embed the ClinicalDocument in an XSL stylesheet.
            embedded = root.find(f".//{{{HL7_NS}}}ClinicalDocument")
            if embedded is not None:
                root = etree.fromstring(etree.tostring(embedded))
        kind = document_kind(root)
        report = ValidationReport(kind=kind)
        report.checks.append("XSD")
        if not self._xsd.validate(root.getroottree()):
            for err in self._xsd.error_log:
                report.failures.append(Failure("XSD", err.type_name, f"ligne {err.line}", err.message))
        schematrons = list(self._common)
        tid = FRCP_TEMPLATE_ID if kind == "FRCP" else PPS_TEMPLATE_ID if kind == "PPS" else None
        if tid is None:
            report.failures.append(
                Failure(
                    "modèle",
                    "templateId",
                    "/ClinicalDocument",
                    "Le document ne déclare ni le modèle FRCP (1.2.250.1.213.1.1.1.8) "
                    "ni le modèle PPS (1.2.250.1.213.1.1.1.26).",
                )
            )
        else:
            schematrons.insert(0, self._volets[tid])
        with _lock:
            node = _saxon().parse_xml(xml_text=etree.tostring(root, encoding="unicode"))
            for rel, exe in schematrons:
                report.checks.append(rel)
                svrl = _run(exe, node)
                report.failures.extend(_failures(rel, svrl))
        return report


def _failures(check: str, svrl: str) -> list[Failure]:
    out: list[Failure] = []
    doc = etree.fromstring(svrl.encode("utf-8"))
    pattern = ""
    for el in doc.iter(f"{{{SVRL_NS}}}active-pattern", f"{{{SVRL_NS}}}failed-assert"):
        if el.tag == f"{{{SVRL_NS}}}active-pattern":
            pattern = el.get("id") or el.get("name") or ""
            continue
        fa = el
        text = fa.find(f"{{{SVRL_NS}}}text")
        message = " ".join("".join(text.itertext()).split()) if text is not None else ""
        out.append(
            Failure(
                check=check,
                assertion_id=fa.get("id") or "",
                location=fa.get("location") or "",
                message=message,
                test=fa.get("test") or "",
                pattern=pattern,
            )
        )
    return out
