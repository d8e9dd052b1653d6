"""Parse referential source files into `ParsedReferential` (pure data). Bad files raise ValidationFailed
with a French message; nothing here touches the database.

Formats:
- IHE SVS value sets (`jeuxDeValeurs/JDV_*.xml`, RetrieveValueSetResponse): a concept with a non-empty
  `dateFin` is retired by the agency.
- SKOS RDF terminologies (`terminologie/<oid>.rdf`): `skos:notation` and, when present, `skos:prefLabel`;
  the agency kit's files carry only the codes.
- the UCUM XML table of the kit (`<root><row><code/><name/></row></root>`).
- CSV (`;` or `,`, UTF-8): drugs with header `ucd;cip13;libelle;atc`, regional guidelines with header
  `referentiel;version;date;organe;url`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from pathlib import Path

from lxml import etree

from dcc.domain.referentials import Concept, Guideline, ParsedReferential
from dcc.errors import ValidationFailed

SVS = "{urn:ihe:iti:svs:2008}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
SKOS = "{http://www.w3.org/2004/02/skos/core#}"
OWL = "{http://www.w3.org/2002/07/owl#}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# OID -> referential name (the kit's Terminologies.txt)
TERMINOLOGIES = {
    "2.16.840.1.113883.6.1": "LOINC",
    "2.16.840.1.113883.6.3": "CIM-10",
    "1.2.250.1.213.2.11": "ADICAP",
    "1.2.250.1.213.2.5": "CCAM",
    "1.2.250.1.215.300.1": "CCAM-ATIH",
    "1.2.250.1.213.2.62": "UCD",
    "1.2.250.1.213.2.59": "Medicabase",
    "1.2.250.1.213.2.65": "CLADIMED",
    "2.16.840.1.113883.6.73": "ATC",
    "1.2.250.1.213.2.68": "EMDN",
    "2.16.840.1.113883.6.96": "SNOMED-CT",
    "2.16.840.1.113883.6.347": "CIM-11",
    "0.4.0.127.0.16.1.1.2.1": "EDQM",
    "2.16.840.1.113883.3.26.1.1": "NCIT",
    "2.16.840.1.113883.6.8": "UCUM",
    "2.16.840.1.113883.6.43.1": "CIM-O-3",
}
OID_OF = {name: oid for oid, name in TERMINOLOGIES.items()}
GUIDELINES_SYSTEM = "referentiels_regionaux"
DRUGS_SYSTEM = "UCD"
MAX_FILE_BYTES = 200 * 1024 * 1024


def _bad(path: Path, why: str) -> ValidationFailed:
    return ValidationFailed(f"Le fichier « {path.name} » n'est pas un référentiel lisible : {why}.", field="path")


def _date(value: str | None) -> date | None:
    if not value:
        return None
    value = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d"):
        try:
            return datetime.strptime(value[:10] if fmt != "%Y%m%d" else value[:8], fmt).date()
        except ValueError:
            continue
    return None


def _xml(path: Path, data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _bad(path, f"XML mal formé ({exc.msg})") from None


def read_svs(path: Path, data: bytes, checksum: str) -> ParsedReferential:
    root = _xml(path, data)
    vs = root if root.tag == f"{SVS}ValueSet" else root.find(f"{SVS}ValueSet")
    if vs is None:
        raise _bad(path, "aucun élément ValueSet (format IHE SVS attendu)")
    name = vs.get("displayName") or path.stem
    concepts: list[Concept] = []
    retired: list[str] = []
    seen: set[str] = set()
    for c in vs.iter(f"{SVS}Concept"):
        code = (c.get("code") or "").strip()
        if not code:
            raise _bad(path, "un concept n'a pas de code")
        if c.get("dateFin"):
            retired.append(code)
            continue
        if code in seen:
            continue
        seen.add(code)
        concepts.append(Concept(code=code, label=c.get("displayName") or "", code_system=c.get("codeSystem") or ""))
    revision = _date(vs.get("revisionDate")) or _date(vs.get("effectiveDate"))
    version = vs.get("revisionDate") or vs.get("version") or checksum[:12]
    return ParsedReferential(
        system=name, kind="value_set", oid=vs.get("id") or "", title=name, version=version[:60],
        effective_date=revision, source=str(path), checksum=checksum, concepts=tuple(concepts),
        retired_codes=tuple(r for r in retired if r not in seen),
    )


def read_rdf(path: Path, data: bytes, checksum: str) -> ParsedReferential:
    root = _xml(path, data)
    if root.tag != f"{RDF}RDF":
        raise _bad(path, "racine rdf:RDF attendue")
    oid = path.stem
    concepts: dict[str, Concept] = {}
    retired: list[str] = []
    for desc in root:
        if not isinstance(desc.tag, str):
            continue
        notation = desc.findtext(f"{SKOS}notation")
        if not notation or not notation.strip():
            continue
        code = notation.strip()
        labels = desc.findall(f"{SKOS}prefLabel")
        label = ""
        for lab in labels:
            if lab.get(XML_LANG, "fr").startswith("fr") and lab.text:
                label = lab.text.strip()
                break
        if not label and labels and labels[0].text:
            label = labels[0].text.strip()
        if (desc.findtext(f"{OWL}deprecated") or "").strip().lower() == "true":
            retired.append(code)
            continue
        concepts.setdefault(code, Concept(code=code, label=label, code_system=oid))
    name = TERMINOLOGIES.get(oid, oid)
    return ParsedReferential(
        system=name, kind="terminology", oid=oid, title=name, version=checksum[:12], effective_date=None,
        source=str(path), checksum=checksum, concepts=tuple(concepts.values()),
        retired_codes=tuple(r for r in retired if r not in concepts),
    )


def read_ucum(path: Path, data: bytes, checksum: str) -> ParsedReferential:
    root = _xml(path, data)
    concepts: dict[str, Concept] = {}
    for row in root.iter("row"):
        code = (row.findtext("code") or "").strip()
        if code:
            concepts.setdefault(code, Concept(code=code, label=(row.findtext("name") or "").strip(),
                                              code_system=OID_OF["UCUM"]))
    if not concepts:
        raise _bad(path, "aucune ligne <row><code> (table UCUM attendue)")
    return ParsedReferential(system="UCUM", kind="terminology", oid=OID_OF["UCUM"], title="UCUM",
                             version=checksum[:12], effective_date=None, source=str(path), checksum=checksum,
                             concepts=tuple(concepts.values()))


def _csv_rows(path: Path, data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad(path, "encodage UTF-8 attendu") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    return header, rows


def read_csv(path: Path, data: bytes, checksum: str, *, version: str | None = None) -> ParsedReferential:
    header, rows = _csv_rows(path, data)
    if {"ucd", "libelle", "atc"} <= set(header):
        concepts: dict[str, Concept] = {}
        for n, row in enumerate(rows, start=2):
            ucd = row.get("ucd", "")
            if not ucd.isdigit() or len(ucd) not in (7, 13):
                raise _bad(path, f"ligne {n} : code UCD « {ucd} » invalide (7 ou 13 chiffres)")
            cip = row.get("cip13", "")
            if cip and (not cip.isdigit() or len(cip) != 13):
                raise _bad(path, f"ligne {n} : code CIP « {cip} » invalide (13 chiffres)")
            if not row.get("libelle"):
                raise _bad(path, f"ligne {n} : libellé manquant")
            concepts[ucd] = Concept(code=ucd, label=row["libelle"], code_system=OID_OF["UCD"],
                                    attributes={"cip13": cip, "atc": row.get("atc", "")})
        return ParsedReferential(system=DRUGS_SYSTEM, kind="drugs", oid=OID_OF["UCD"], title="Médicaments (UCD)",
                                 version=version or checksum[:12], effective_date=None, source=str(path),
                                 checksum=checksum, concepts=tuple(concepts.values()))
    if {"referentiel", "version", "date", "organe"} <= set(header):
        guidelines: list[Guideline] = []
        for n, row in enumerate(rows, start=2):
            when = _date(row.get("date"))
            if not row.get("referentiel") or not row.get("version") or when is None:
                raise _bad(path, f"ligne {n} : référentiel, version et date (AAAA-MM-JJ) sont obligatoires")
            guidelines.append(Guideline(name=row["referentiel"], version=row["version"], date=when,
                                        organ=row.get("organe", ""), url=row.get("url", "")))
        keys = [g.key for g in guidelines]
        if len(set(keys)) != len(keys):
            raise _bad(path, "un même référentiel et une même version apparaissent deux fois")
        return ParsedReferential(
            system=GUIDELINES_SYSTEM, kind="guidelines", oid="", title="Référentiels régionaux",
            version=version or checksum[:12], effective_date=None, source=str(path), checksum=checksum,
            concepts=tuple(Concept(code=g.key, label=f"{g.name} ({g.version})") for g in guidelines),
            guidelines=tuple(guidelines),
        )
    raise _bad(path, "en-tête CSV inconnu (attendu « ucd;cip13;libelle;atc » ou "
                     "« referentiel;version;date;organe;url »)")


def read_file(path: Path, *, version: str | None = None) -> ParsedReferential | None:
    """One source file, or None for a file that is not a referential (README, schematron...)."""
    suffix = path.suffix.lower()
    if suffix not in (".xml", ".rdf", ".csv"):
        return None
    size = path.stat().st_size
    if size == 0:
        return None  # the kit ships empty placeholders (LOINC, SNOMED CT, NCIT, UCD)
    if size > MAX_FILE_BYTES:
        raise _bad(path, "fichier trop volumineux (200 Mo au plus)")
    data = path.read_bytes()
    checksum = hashlib.sha256(data).hexdigest()
    if suffix == ".csv":
        return read_csv(path, data, checksum, version=version)
    if suffix == ".rdf":
        return read_rdf(path, data, checksum)
    head = data[:2000]
    if b"urn:ihe:iti:svs:2008" in head:
        return read_svs(path, data, checksum)
    if b"<root" in head and b"<row" in data[:5000]:
        return read_ucum(path, data, checksum)
    if b"rdf:RDF" in head or b"w3.org/1999/02/22-rdf-syntax-ns" in head:
        return read_rdf(path, data, checksum)
    return None


def read_path(path: Path, *, version: str | None = None) -> list[ParsedReferential]:
    """Every referential in a file or a folder (recursively, in name order)."""
    if not path.exists():
        raise ValidationFailed(f"Le chemin « {path} » n'existe pas.", field="path")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out = [r for r in (read_file(f, version=version) for f in files) if r is not None]
    if not out:
        raise ValidationFailed(f"Aucun référentiel reconnu dans « {path} » (SVS, RDF, UCUM ou CSV).", field="path")
    return out
