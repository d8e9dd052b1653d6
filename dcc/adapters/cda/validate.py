"""Conformance of a CDA document to the ANS (CI-SIS) test kit: XSD + five schematrons (the volet's, FRCP or PPS,
or for an N1 document the generic structuration-minimale one, see STRUCMIN; then the three cross-cutting ones).

The schematrons declare `queryBinding="xslt2"`, so lxml's own (XSLT 1.0) schematron support cannot
run them. They are compiled with the ISO skeleton stylesheets that ship with lxml
(include -> abstract expand -> SVRL), executed by Saxon (saxonche), with `queryBinding` rewritten to
`xslt` after the expand step. The generated validator stylesheet is compiled with the `.sch`
file's own folder as base URI, so that `document('../jeuxDeValeurs/...')` resolves inside the kit.

Two traps (see the kit README): Saxon's optimiser must be switched off (optimizationLevel 0, else
SaxonC crashes compiling the generated stylesheet), and there must be one PySaxonProcessor per
process, kept alive as long as any compiled stylesheet is used. Both are handled here: the
processor and the compiled stylesheets are module-level caches. The generated stylesheets (text) are also
kept on disk between processes, keyed by the kit's files (dcc.adapters.cda.stylesheet_cache).

Fast path (default, `KitValidator(kit)`; `KitValidator(kit, fast=False)` runs the generated
stylesheets as they are). The skeleton's stylesheet walks the whole document twice per schematron
pattern (once in the pattern's mode, once in the default mode, which outputs nothing), and
`CI-SIS_ModelesDeContenusCDA.sch` alone has 141 patterns, most about entries a FRCP or PPS never
contains. Each `document()` / `doc()` of a value set or terminology file is parsed again by every
transformation (Saxon caches documents within one transformation only). The fast stylesheet is the
same stylesheet with three rewrites that cannot change its output (`_fast_stylesheet`):

- the default-mode walk is dropped when the default mode only has the root template and an empty
  `text()` template (it then produces nothing);
- each pattern's walk runs only if some node of the document matches one of the pattern's rule
  contexts (`exists(//context)`); a pattern none of whose rules fire produces nothing but its
  `svrl:active-pattern` element, which is still written;
- `document(X)`, `doc(X)` and `doc-available(X)` look X up in a map of documents parsed once per
  process (value sets named by the stylesheet's global variables, terminology files of a folder a
  variable names, loaded when the document mentions them) and fall back to the real function for
  any other X.

The SVRL output of both paths is identical (tests/adapters/cda/test_validate_speed_equivalence.py).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml
from lxml import etree

from dcc.adapters.cda import stylesheet_cache

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
HL7_NS = "urn:hl7-org:v3"

FRCP_TEMPLATE_ID = "1.2.250.1.213.1.1.1.8"
PPS_TEMPLATE_ID = "1.2.250.1.213.1.1.1.26"
N1_TEMPLATE_ID = "1.3.6.1.4.1.19376.1.2.20"  # IHE XDS-SD: a non-structured (N1) document

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
# The generic model of the CI-SIS ("structuration minimale"), the one an N1 document follows. As shipped it
# cannot run: it reads `include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml`, which the agency's repository lacks.
# That file is the art-decor export of value set 1.2.250.1.213.1.1.5.471, JDV_J07_XdsTypeCode_CISIS, which the
# kit does hold (jeuxDeValeurs/, SVS format, same OID): `_strucmin_sch` runs the schematron from a copy of its
# folder where the missing file is written from the kit's own JDV_J07 (the kit itself is never changed).
STRUCMIN = "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"
_STRUCMIN_MISSING = "include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml"
_STRUCMIN_SOURCE = "jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml"

_SKELETON_DIR = Path(lxml.__file__).parent / "isoschematron/resources/xsl/iso-schematron-xslt1"

_lock = threading.RLock()
_processor: Any = None  # the one PySaxonProcessor of this process
_skeletons: dict[str, Any] = {}
_validator_xsl: dict[Path, str] = {}  # .sch path -> generated validator stylesheet (text)
_compiled: dict[tuple[Path, bool], _Stylesheet] = {}  # (.sch path, fast) -> compiled validator
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
    role: str = ""  # the assert's role, when it declares one (error, warning)

    def __str__(self) -> str:
        ident = f" [{self.assertion_id}]" if self.assertion_id else ""
        return f"{self.check}{ident} {self.location}: {self.message}"


@dataclass
class ValidationReport:
    kind: str  # "FRCP", "PPS", "N1" or "" when the document's model is not recognised
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)  # role="warning" asserts of the N1 model
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


def _cache_key(sch: Path) -> str:
    return stylesheet_cache.entry_key(sch, skeleton_dir=_SKELETON_DIR,
                                      sources=(Path(__file__), Path(stylesheet_cache.__file__)))


def _generate_validator(sch: Path) -> str:
    """The SVRL validator stylesheet the ISO skeleton generates for one .sch file (kept on disk between
    processes: dcc.adapters.cda.stylesheet_cache)."""
    with _lock:
        xsl = _validator_xsl.get(sch)
        if xsl is None:
            key = _cache_key(sch)
            xsl = stylesheet_cache.load(key, "validator.xsl")
            if xsl is None:
                proc = _saxon()
                base = sch.as_uri()
                node = proc.parse_xml(xml_file_name=str(sch))
                included = _run(_skeleton("iso_dsdl_include.xsl"), node)
                expanded = _run(_skeleton("iso_abstract_expand.xsl"), _parse(included, base))
                expanded = expanded.replace('queryBinding="xslt2"', 'queryBinding="xslt"')
                xsl = _run(_skeleton("iso_svrl_for_xslt1.xsl"), _parse(expanded, base))
                stylesheet_cache.store(key, "validator.xsl", xsl)
            _validator_xsl[sch] = xsl
        return xsl


def _fast_validator(sch: Path, xsl: str) -> tuple[str, list[str]]:
    """`_fast_stylesheet` of the validator of `sch` (kept on disk between processes, as the validator)."""
    key = _cache_key(sch)
    fast_xsl, literals = stylesheet_cache.load(key, "fast.xsl"), stylesheet_cache.load(key, "literals.json")
    if fast_xsl is not None and literals is not None:
        return fast_xsl, list(json.loads(literals))
    fast_xsl, found = _fast_stylesheet(xsl)
    stylesheet_cache.store(key, "literals.json", json.dumps(found))
    stylesheet_cache.store(key, "fast.xsl", fast_xsl)
    return fast_xsl, found


class _Stylesheet:
    """One compiled validator; in the fast path, with its cache of pre-parsed documents."""

    def __init__(self, sch: Path, fast: bool) -> None:
        xsl = _generate_validator(sch)
        self.preload: dict[str, Path] = {}  # document key -> file, parsed when the stylesheet loads
        self.on_demand: dict[str, tuple[Path, bytes]] = {}  # key -> (file, name the document must contain)
        self.loaded: dict[str, Any] = {}  # key -> PyXdmNode
        if fast:
            fast_xsl, literals = _fast_validator(sch, xsl)
            self._find_documents(sch.parent, literals, xsl)
            xsl = fast_xsl
        self.exe = _saxon().new_xslt30_processor().compile_stylesheet(stylesheet_node=_parse(xsl, sch.as_uri()))
        self.fast = fast
        if fast:
            self._load(list(self.preload.items()))

    def _find_documents(self, folder: Path, literals: list[str], xsl: str) -> None:
        """Files the stylesheet may load: string variables naming a file (relative to the .sch
        folder), and the files of a folder a string variable names (the key is the variable's value
        followed by the file name, as `concat($folder, $name, '.rdf')` builds it). The latter are
        parsed when a document mentions the file's name (a code system OID), or at once when the
        stylesheet does. A key that is not loaded is left to the real doc()."""
        for value in literals:
            if "/" not in value or any(c in value for c in "{}:?#%") or any(c.isspace() for c in value):
                continue
            target = Path(os.path.normpath(folder / value))  # URI resolution is lexical
            if value.endswith("/") and target.is_dir():
                for f in sorted(target.iterdir()):
                    if not (f.is_file() and f.suffix in (".xml", ".rdf") and f.stat().st_size):
                        continue
                    if f.name in xsl:
                        self.preload[value + f.name] = f
                    else:
                        self.on_demand.setdefault(value + f.name, (f, f.stem.encode()))
            elif target.is_file() and target.suffix == ".xml":
                self.preload[value] = target

    def _load(self, items: list[tuple[str, Path]]) -> None:
        proc = _saxon()
        for key, path in items:
            try:
                self.loaded[key] = proc.parse_xml(xml_file_name=str(path))
            except Exception:  # noqa: BLE001 - an unparsable file is left to the real doc()
                continue
        if items:
            self.exe.set_parameter(_DOCS_PARAM, proc.make_map2(dict(self.loaded)))

    def run(self, node: Any, text: bytes) -> str:
        if self.fast and self.on_demand:
            wanted = [
                (key, path) for key, (path, name) in self.on_demand.items() if key not in self.loaded and name in text
            ]
            for key, _ in wanted:
                self.on_demand.pop(key)
            self._load(wanted)
        return _run(self.exe, node)


def _compile_schematron(sch: Path, fast: bool = True) -> _Stylesheet:
    with _lock:
        compiled = _compiled.get((sch, fast))
        if compiled is None:
            compiled = _Stylesheet(sch, fast)
            _compiled[(sch, fast)] = compiled
        return compiled


XSL_NS = "http://www.w3.org/1999/XSL/Transform"
_FN_NS = "urn:dcc:validate"
_DOCS_PARAM = "dcc_documents"
_DOC_FUNCTIONS = ("document", "doc", "doc-available")
_DOC_CALL = re.compile(r"(?<![\w:.\-$}])(document|doc|doc-available)\s*\(")
_NAME = r"(?:\*|[A-Za-z_][\w.\-]*(?::(?:\*|[A-Za-z_][\w.\-]*))?)"
_SIMPLE_PATH = re.compile(rf"(?://?)?@?{_NAME}(?://?@?{_NAME})*")


def _outside_literals(expr: str, fn: Any) -> str:
    """Apply fn to the parts of an XPath expression that are not string literals."""
    parts = re.split(r"('[^']*'|\"[^\"]*\")", expr)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


def _strip_predicates(step: str) -> str | None:
    """The path without its [predicates]; None when brackets or quotes do not balance."""
    out, depth, quote = [], 0, ""
    for ch in step:
        if quote:
            quote = "" if ch == quote else quote
        elif depth and ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                return None
        elif not depth:
            out.append(ch)
    return "".join(out) if depth == 0 and not quote else None


def _split_union(pattern: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in pattern:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _existence_test(pattern: str, hl7_prefixes: set[str]) -> str | None:
    """An XPath expression that is true whenever some node of the document matches the match
    pattern (it may be true otherwise), or None when the pattern is not a plain path (then the
    pattern's walk always runs)."""
    if "current()" in pattern:
        return None
    tests = []
    for branch in _split_union(pattern):
        bare = _strip_predicates(branch)
        if not branch or bare is None or not _SIMPLE_PATH.fullmatch(bare.replace(" ", "")):
            return None
        m = _TEMPLATE_ID_STEP.match(branch)
        if m and m.group(1) in hl7_prefixes:
            # *[cda:templateId/@root='X']...: a templateId 'X' must exist; one index per run.
            tests.append(f"exists(key('{_TID_KEY}', {m.group(2)}))")
        elif branch.startswith("/"):
            tests.append(f"exists({branch})")
        else:
            tests.append(f"exists(//{branch})")
    return " or ".join(tests)


_TID_KEY = "dcc_template_id"
_TEMPLATE_ID_STEP = re.compile(r"(?://?)?\*\[\s*([A-Za-z_][\w.\-]*):templateId/@root\s*=\s*('[^']*'|\"[^\"]*\")\s*\]")


def _fast_stylesheet(xsl: str) -> tuple[str, list[str]]:
    """The fast variant of a generated validator stylesheet (see the module docstring), and the
    string literals its global variables hold (candidate document URIs)."""
    root = etree.fromstring(xsl.encode("utf-8"))
    t = f"{{{XSL_NS}}}"
    templates = root.findall(f"{t}template")
    default_mode = [tp for tp in templates if tp.get("mode") is None]
    main = next(tp for tp in default_mode if tp.get("match") == "/")
    only_empty_text = all(
        tp is main or (tp.get("match") == "text()" and len(tp) == 0 and not (tp.text or "").strip())
        for tp in default_mode
    )
    if only_empty_text:
        # the default-mode walk inside each svrl:active-pattern outputs nothing
        for at in list(main.iter(f"{t}apply-templates")):
            if at.get("select") is None and at.get("mode") is None and len(at) == 0:
                at.getparent().remove(at)

    hl7_prefixes = {prefix for prefix, uri in root.nsmap.items() if prefix and uri == HL7_NS}
    contexts: dict[str, list[str]] = {}
    for tp in templates:
        mode = tp.get("mode") or ""
        if re.fullmatch(r"M\d+", mode) and tp.get("priority") not in ("-1", "-2"):
            contexts.setdefault(mode, []).append(tp.get("match") or "")
    for at in list(main.iter(f"{t}apply-templates")):
        mode = at.get("mode") or ""
        if at.get("select") != "/" or mode not in contexts:
            continue
        found = [_existence_test(p, hl7_prefixes) for p in contexts[mode]]
        tests = [x for x in found if x is not None]
        if len(tests) < len(found):
            continue
        # A dynamic error in a match pattern means "no match"; here it means "run the walk".
        guard = etree.Element(f"{t}variable", {"name": f"dcc_run_{mode}", "as": f"Q{{{XS_NS}}}boolean"})
        attempt = etree.SubElement(guard, f"{t}try", select=" or ".join(tests))
        etree.SubElement(attempt, f"{t}catch", select="true()")
        cond = etree.Element(f"{t}if", test=f"${guard.get('name')}")
        at.addprevious(guard)
        at.addprevious(cond)
        cond.append(at)

    def calls(expr: str) -> str:
        return _DOC_CALL.sub(lambda m: f"Q{{{_FN_NS}}}{m.group(1)}(", expr)

    for el in root.iter(f"{t}*"):
        for attr in ("select", "test"):
            value = el.get(attr)
            if value and _DOC_CALL.search(value):
                el.set(attr, _outside_literals(value, calls))
    literals = []
    for var in root.findall(f"{t}variable") + root.findall(f"{t}param"):
        m = re.fullmatch(r"\s*'([^']*)'\s*|\s*\"([^\"]*)\"\s*", var.get("select") or "")
        if m:
            literals.append(m.group(1) if m.group(1) is not None else m.group(2))
    for i, decl in enumerate(etree.fromstring(_DOC_DECLARATIONS)):
        root.insert(i, decl)
    key = etree.Element(f"{t}key", name=_TID_KEY, match=f"Q{{{HL7_NS}}}templateId", use="@root")
    root.insert(0, key)
    return etree.tostring(root, encoding="unicode"), literals


def _doc_function(name: str) -> str:
    # EQNames only: lxml keeps no namespace declaration that only XPath text uses.
    found = "true()" if name == "doc-available" else f"${_DOCS_PARAM}($u)"
    lookup = f"count($u) = 1 and $u instance of Q{{{XS_NS}}}string and Q{{{MAP_NS}}}contains(${_DOCS_PARAM}, $u)"
    return (
        f'<xsl:function name="Q{{{_FN_NS}}}{name}"><xsl:param name="u"/><xsl:choose>'
        f'<xsl:when test="{lookup}"><xsl:sequence select="{found}"/></xsl:when>'
        f'<xsl:otherwise><xsl:sequence select="{name}($u)"/></xsl:otherwise></xsl:choose></xsl:function>'
    )


XS_NS = "http://www.w3.org/2001/XMLSchema"
MAP_NS = "http://www.w3.org/2005/xpath-functions/map"
_DOC_DECLARATIONS = (
    f'<x xmlns:xsl="{XSL_NS}"><xsl:param name="{_DOCS_PARAM}" select="map{{}}"/>'
    + "".join(_doc_function(n) for n in _DOC_FUNCTIONS)
    + "</x>"
)


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
        if t.get("root") == N1_TEMPLATE_ID:
            return "N1"
    return ""


_strucmin_dirs: dict[Path, Path] = {}


def _strucmin_sch(kit_dir: Path) -> Path:
    """The structuration-minimale schematron, runnable (see STRUCMIN): the kit's own file when its value set
    files are all there, else a copy of its folder (once per process) completed from the kit's JDV_J07."""
    sch = kit_dir / "schematrons" / STRUCMIN
    if (sch.parent / _STRUCMIN_MISSING).is_file():
        return sch
    with _lock:
        folder = _strucmin_dirs.get(kit_dir)
        if folder is None:
            import atexit
            import shutil
            import tempfile

            top = Path(tempfile.mkdtemp(prefix="dcc-strucmin-"))
            atexit.register(shutil.rmtree, top, ignore_errors=True)
            folder = top / "structurationMinimale"
            shutil.copytree(sch.parent, folder)
            (folder / _STRUCMIN_MISSING).write_bytes(_artdecor_value_set(kit_dir / _STRUCMIN_SOURCE))
            _strucmin_dirs[kit_dir] = folder
        return folder / sch.name


def _artdecor_value_set(svs: Path) -> bytes:
    """An IHE SVS value set file in the art-decor `valueSets/valueSet/conceptList/concept` layout the
    structuration-minimale schematron reads (`doc(...)/*/valueSet/conceptList/concept/@code`)."""
    svs_ns = "urn:ihe:iti:svs:2008"
    src = etree.parse(str(svs)).getroot()
    vs = src.find(f"{{{svs_ns}}}ValueSet")
    assert vs is not None
    out = etree.Element(f"{{{HL7_NS}}}valueSets", nsmap={"hl7": HL7_NS})  # children in no namespace
    value_set = etree.SubElement(out, "valueSet", id=vs.get("id", ""), name=vs.get("displayName", ""))
    concepts = etree.SubElement(value_set, "conceptList")
    for c in vs.iter(f"{{{svs_ns}}}Concept"):
        etree.SubElement(concepts, "concept", code=c.get("code", ""), codeSystem=c.get("codeSystem", ""),
                         displayName=c.get("displayName", ""))
    return bytes(etree.tostring(out, xml_declaration=True, encoding="UTF-8"))


class KitValidator:
    """Validates CDA documents against the XSD and the five runnable schematrons of the ANS kit.

    Compiles everything once (cached per process); `validate` can be called any number of times.
    `fast=False` runs the generated stylesheets unchanged (same results, several times slower).
    """

    def __init__(self, kit_dir: Path, *, fast: bool = True) -> None:
        self.kit_dir = Path(kit_dir).resolve()
        self.fast = fast
        sch_dir = self.kit_dir / "schematrons"
        self._xsd = _load_xsd(self.kit_dir / XSD_PATH)
        self._common = [(rel, _compile_schematron(sch_dir / rel, fast)) for rel in COMMON_SCHEMATRONS]
        self._volets = {tid: (rel, _compile_schematron(sch_dir / rel, fast)) for tid, rel in VOLETS.items()}
        self._n1: tuple[str, _Stylesheet] | None = None  # compiled on the first N1 document

    def _strucmin(self) -> tuple[str, _Stylesheet]:
        if self._n1 is None:
            self._n1 = (STRUCMIN, _compile_schematron(_strucmin_sch(self.kit_dir), self.fast))
        return self._n1

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
        if not kind:
            report.failures.append(
                Failure(
                    "modèle",
                    "templateId",
                    "/ClinicalDocument",
                    "Le document ne déclare ni le modèle FRCP (1.2.250.1.213.1.1.1.8), ni le modèle PPS "
                    "(1.2.250.1.213.1.1.1.26), ni un corps non structuré N1 (1.3.6.1.4.1.19376.1.2.20).",
                )
            )
        for rel, svrl in self._svrl(root):
            report.checks.append(rel)
            found = _failures(rel, svrl)
            if rel == STRUCMIN:
                # art-decor's generated rules: role="error" is a non-conformance; role="warning" (elements
                # the closed template does not list) is reported, not counted
                report.warnings.extend(f for f in found if f.role in ("warning", "info"))
                found = [f for f in found if f.role not in ("warning", "info")]
            report.failures.extend(found)
        return report

    def _svrl(self, root: etree._Element) -> list[tuple[str, str]]:
        """The raw SVRL output of each schematron that applies to a ClinicalDocument: the volet's
        (FRCP or PPS, when the document declares one) then the cross-cutting ones."""
        kind = document_kind(root)
        schematrons = list(self._common)
        if kind == "N1":
            schematrons.insert(0, self._strucmin())
        elif kind:
            schematrons.insert(0, self._volets[FRCP_TEMPLATE_ID if kind == "FRCP" else PPS_TEMPLATE_ID])
        text = etree.tostring(root, encoding="unicode")
        raw = text.encode("utf-8")
        with _lock:
            node = _saxon().parse_xml(xml_text=text)
            return [(rel, sheet.run(node, raw)) for rel, sheet in schematrons]


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
                role=fa.get("role") or "",
            )
        )
    return out
