"""The tumour model's clinical rules: TNM applicability, TNM syntax, laterality, morphology vs topography.

Pure Python: the callers pass codes and labels (from the ANS value sets); the functions answer what is
allowed and, when it is not, a French message.

Sources
- TNM scope: UICC, *TNM Classification of Malignant Tumours*, 8th edition (Brierley, Gospodarowicz,
  Wittekind, 2017). Its chapters cover head and neck, digestive, lung/pleura/thymus, bone and soft tissue,
  skin, breast, gynaecological, urological, adrenal cortex, thyroid and ophthalmic tumours. It has no TNM
  for primary tumours of the central nervous system (C70-C72), for lymphomas, leukaemias and myeloma
  (C81-C96: Ann Arbor/Lugano, ISS...), for the pituitary and other endocrine glands (C75), for Kaposi
  sarcoma (C46), nor for ill-defined, secondary or unknown primary sites (C26, C39, C76-C80, C97).
- TNM syntax: UICC TNM 8th edition, "General rules" (prefixes c, p, y, r, a; categories TX/T0/Tis/T1-T4
  with subdivisions, NX/N0/N1-N3, M0/M1 with subdivisions; MX is not used; there is no pM0) and stage
  groups 0, I-IV with their subgroups (IA1, IIIC, IVB...).
- Laterality: the paired organ sites of the SEER Program Coding and Staging Manual ("Laterality",
  paired organ list), translated to ICD-10 codes.
- Morphology/topography: the site code ICD-O-3 prints after a site-associated morphology term (its
  labels in JDV_Morphologie_CISIS end with e.g. "(C50.-)"), extended with the other sites where the WHO
  Classification of Tumours uses the same code (ductal adenocarcinoma of the pancreas and prostate,
  salivary duct carcinoma...); ICD-10 chapter II conventions (melanoma of skin C43, mesothelioma C45,
  Kaposi sarcoma C46, haematological malignancies C81-C96 / D45-D47 whatever the organ); the ICD-O-3
  behaviour code against ICD-10 chapter II (/3, /6, /9 malignant C codes; /2 in situ D00-D09;
  /1 uncertain D37-D48); no primary carcinoma in the central nervous system (WHO CNS 5th edition:
  a carcinoma there is a metastasis, coded C79.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# --- TNM applicability (UICC TNM 8th edition scope), by ICD-10 topography ---------------------------

# 3-character ICD-10 codes (or 4-character subsites) WITHOUT a UICC TNM classification. Everything else in
# C00-C80 and the in-situ chapter D00-D09 (stage 0 / Tis) has one.
_NO_TNM_PREFIXES = (
    "C26", "C39", "C46", "C70", "C71", "C72", "C75", "C76", "C77", "C78", "C79", "C80", "C97",
    "C30.1",  # middle ear: no UICC chapter
    "C74.1", "C74.9",  # adrenal medulla (phaeochromocytoma) / unspecified: only the cortex is in UICC 8
    "C45.1", "C45.2", "C45.7", "C45.9",  # mesothelioma: UICC 8 stages the pleural one (C45.0) only
    "C57.1", "C57.2", "C57.3", "C57.4", "C57.7", "C57.8", "C57.9",  # female genital organs other than tube
    "C63",  # other male genital organs
    "D03",  # melanoma in situ: staged as Tis with C43 only when invasive
)


def tnm_applicable(topography: str) -> bool:
    """Whether the UICC TNM (8th edition) classifies a tumour of this ICD-10 topography."""
    code = topography.upper()
    if code.startswith("B21") or code[:1] not in ("C", "D"):
        return False  # HIV disease resulting in malignant neoplasm: classified with its own tumour
    if code.startswith("D"):
        head = int(code[1:3]) if code[1:3].isdigit() else 99
        if head > 9:  # D37-D48 uncertain behaviour, D45-D47 haematological: no TNM
            return False
    else:
        head = int(code[1:3]) if code[1:3].isdigit() else 99
        if head >= 81:  # C81-C96 haematological malignancies, C97 multiple primaries
            return False
    return not any(code.startswith(p) for p in _NO_TNM_PREFIXES)


# Organ groups of the boards (JDV_RCP_Appareil_CISIS / JDV_RCP_Organe_CISIS) and whether their tumours have
# a TNM: "applicable", "non applicable", or "selon la localisation" (the topography decides).
APPLICABLE, NOT_APPLICABLE, BY_SITE = "applicable", "non applicable", "selon la localisation"
ORGAN_GROUP_TNM: dict[str, str] = {
    # appareils
    "387910009": BY_SITE,  # glande endocrine: thyroid, adrenal cortex yes; pituitary no
    "57171008": NOT_APPLICABLE,  # système hématopoïétique
    "81745001": APPLICABLE,  # œil (UICC ophthalmic tumours)
    "272673000": APPLICABLE,  # os
    "39937001": APPLICABLE,  # peau
    "76752008": APPLICABLE,  # sein
    "86762007": APPLICABLE,  # système digestif
    "53065001": APPLICABLE,  # appareil génital féminin
    "90264002": APPLICABLE,  # appareil génital masculin
    "25087005": BY_SITE,  # système nerveux: central no, peripheral nerve sarcoma yes
    "122489005": APPLICABLE,  # système urinaire
    "312419003": APPLICABLE,  # appareil respiratoire et/ou cavité thoracique
    "87784001": APPLICABLE,  # tissus mous
    "119253004": APPLICABLE,  # voie aérodigestive supérieure
    # organes (haematological)
    "C3211": NOT_APPLICABLE, "C88": NOT_APPLICABLE, "C9357": NOT_APPLICABLE, "C3483": NOT_APPLICABLE,
    "C3163": NOT_APPLICABLE, "C3167": NOT_APPLICABLE, "C3172": NOT_APPLICABLE, "C3171": NOT_APPLICABLE,
    "C3174": NOT_APPLICABLE, "C4861": NOT_APPLICABLE, "C9300": NOT_APPLICABLE, "C27262": NOT_APPLICABLE,
    "C3242": NOT_APPLICABLE,
    # organes (solid)
    "MED-237": BY_SITE,  # fosses nasales, sinus (yes), oreille moyenne/interne (no)
    "MED-251": APPLICABLE, "303270005": APPLICABLE, "MED-255": APPLICABLE, "306721000": APPLICABLE,
    "4596009": APPLICABLE, "3120008": APPLICABLE, "74262004": APPLICABLE, "48477009": APPLICABLE,
    "21974007": APPLICABLE, "54066008": APPLICABLE, "32849002": APPLICABLE, "69695003": APPLICABLE,
    "30315005": APPLICABLE, "385294005": APPLICABLE, "15776009": APPLICABLE, "431491007": APPLICABLE,
    "64033007": APPLICABLE, "89837001": APPLICABLE, "C94529": APPLICABLE, "23952005": APPLICABLE,
    "71252005": APPLICABLE, "15497006": APPLICABLE, "18911002": APPLICABLE, "41216001": APPLICABLE,
    "40689003": APPLICABLE, "69748006": APPLICABLE,
    "21483005": NOT_APPLICABLE,  # système nerveux central
    "84782009": APPLICABLE,  # nerf périphérique (soft tissue sarcoma)
    "23451007": BY_SITE,  # glande surrénale: cortex yes, medulla no
    "72410000": BY_SITE,  # médiastin: thymus yes, lymphoma no
    "C12664": BY_SITE,  # péritoine-rétropéritoine: retroperitoneal sarcoma yes, peritoneal mesothelioma no
}


def tnm_applies(topography: str, organ_group: str | None = None) -> bool:
    """TNM applicability of a case: the board's organ group when it excludes TNM, else the topography."""
    if organ_group is not None and ORGAN_GROUP_TNM.get(organ_group) == NOT_APPLICABLE:
        return False
    return tnm_applicable(topography)


# --- TNM syntax (UICC 8th edition, general rules) ----------------------------------------------------

_PREFIX = r"(?P<prefix>y?[cp]|r[cp]?|a|y)?"
_T = re.compile(_PREFIX + r"(?P<cat>T(?:X|0|is|a|1mi|[1-4](?:[a-e][12]?)?))(?P<suffix>\((?:m|\d+|DCIS|LCIS|Paget)\))?")
_N = re.compile(_PREFIX + r"(?P<cat>N(?:X|0|1mi|[1-3][a-c]?))(?P<suffix>\((?:sn|i\+|i-|mol\+|mol-|f|\d+/\d+)\))?")
_M = re.compile(_PREFIX + r"(?P<cat>M(?:0|1[a-d]?))(?P<suffix>\((?:i\+|[A-Z]{3})\))?")
_STAGE = re.compile(r"0(?:is|a)?|(?:I{1,3}|IV)(?:[A-D][1-3]?)?|IS|[Oo]cculte?")
TNM_EDITIONS = (6, 7, 8, 9)

_NAMES = {"t": "T", "n": "N", "m": "M"}
_EXAMPLES = {"t": "T2, pT1c, ypT0, Tis", "n": "N0, pN1a, N2", "m": "M0, M1, pM1b"}


@dataclass(frozen=True)
class TnmValue:
    prefix: str  # c, p, y, yp, r... ("" when none)
    category: str  # the UICC category code without prefix nor suffix: T1c, N0, M1a
    text: str  # as entered (normalised X)


def parse_tnm(part: str, value: str) -> TnmValue:
    """Parse a T, N or M value (part "t" | "n" | "m"); ValueError with a French message when invalid."""
    raw = value.strip().replace(" ", "")
    raw = re.sub(r"^([cpyra]*)([tnm])", lambda g: g.group(1) + g.group(2).upper(), raw)
    raw = re.sub(r"(?<=[TNM])x", "X", raw)
    match = {"t": _T, "n": _N, "m": _M}[part].fullmatch(raw)
    name = _NAMES[part]
    if match is None:
        if part == "m" and re.fullmatch(r"[a-z]*MX", raw):
            raise ValueError("La catégorie MX n'existe plus dans la classification TNM de l'UICC (8e édition) : "
                             "M0 ou M1.")
        raise ValueError(f"« {value} » n'est pas une catégorie {name} de la classification TNM de l'UICC "
                         f"(8e édition) ; exemples : {_EXAMPLES[part]}.")
    prefix = match.group("prefix") or ""
    if part == "m" and match.group("cat") == "M0" and prefix.endswith("p"):
        raise ValueError("La catégorie pM0 n'existe pas (UICC, 8e édition) : M0 est toujours clinique (cM0).")
    return TnmValue(prefix=prefix, category=match.group("cat"), text=raw)


def check_stage(value: str) -> str:
    raw = value.strip().replace(" ", "")
    if raw.lower().startswith("stade"):
        raw = raw[5:]
    if not _STAGE.fullmatch(raw):
        raise ValueError(f"« {value} » n'est pas un stade UICC (0, I, IA, IIB, IIIC, IV, IVB…).")
    return raw


def check_edition(value: int) -> int:
    if value not in TNM_EDITIONS:
        raise ValueError(f"L'édition {value} de la classification TNM de l'UICC n'est pas prise en charge "
                         f"(éditions : {', '.join(str(e) for e in TNM_EDITIONS)}).")
    return value


# --- Laterality (paired organs) ----------------------------------------------------------------------

# SEER paired organ sites, as ICD-10 codes (3-character codes cover their subdivisions).
_PAIRED_PREFIXES = (
    "C07", "C08.0", "C08.1", "C09", "C30.0", "C30.1", "C31.0", "C31.2", "C34", "C38.4",
    "C40.0", "C40.1", "C40.2", "C40.3", "C41.3", "C41.4", "C43.1", "C43.2", "C43.6", "C43.7",
    "C44.1", "C44.2", "C44.6", "C44.7", "C47.1", "C47.2", "C49.1", "C49.2", "C50", "C56", "C57.0",
    "C62", "C63.0", "C63.1", "C64", "C65", "C66", "C69", "C70.0", "C71.0", "C71.1", "C71.2", "C71.3",
    "C71.4", "C72.2", "C72.3", "C72.4", "C72.5", "C74", "C75.4",
    "D02.2", "D05", "D09.2", "D38.1", "D39.1", "D40.1", "D41.0", "D41.1", "D41.2", "D44.1", "D48.6",
)

# Laterality values (stored keys) and their codes in JDV_ModificateurTopographique_CISIS
# (1.2.250.1.213.1.1.5.688, SNOMED CT), the value set the FRCP example uses for the targetSiteCode
# qualifier "Latéralité" (LOINC 20228-3). "non_precisee" is recorded but coded nullFlavor UNK.
LATERALITY_CODES: dict[str, str | None] = {"droite": "24028007", "gauche": "7771000",
                                            "bilaterale": "51440002", "non_precisee": None}
LATERALITY_LABELS = {"droite": "Droite", "gauche": "Gauche", "bilaterale": "Bilatérale",
                     "non_precisee": "Non précisée"}


def is_paired(topography: str) -> bool:
    """Whether the ICD-10 topography is a paired organ (laterality is then recorded)."""
    code = topography.upper()
    return any(code.startswith(p) for p in _PAIRED_PREFIXES)


def laterality_problem(topography: str, laterality: str | None) -> str | None:
    """A French message when the laterality does not fit the topography (None when it fits)."""
    if laterality is not None and laterality not in LATERALITY_CODES:
        return f"Latéralité « {laterality} » inconnue (droite, gauche, bilaterale ou non_precisee)."
    if is_paired(topography):
        if laterality is None:
            return (f"La localisation {topography} est un organe pair : précisez la latéralité "
                    "(droite, gauche, bilatérale ou non précisée).")
        return None
    if laterality is not None:
        return f"La localisation {topography} n'est pas un organe pair : la latéralité ne s'applique pas."
    return None


# --- Morphology against topography -------------------------------------------------------------------

_SITE_HINT = re.compile(r"C\d\d(?:\.\d|\.-)?")

# Other sites where the WHO Classification of Tumours uses a site-associated ICD-O-3 code (ICD-10 prefixes).
_WHO_EXTRA_SITES: dict[str, tuple[str, ...]] = {
    "8500": ("C25", "C61", "C07", "C08"),  # ductal adenocarcinoma: pancreas, prostate; salivary duct carcinoma
    "8441": ("C48", "C54", "C55", "C57"),  # serous carcinoma: peritoneum, endometrium, tube
    "8460": ("C48", "C54", "C55", "C57"),
    "8461": ("C48", "C57"),
    "8470": ("C25",),  # mucinous cystic neoplasm of the pancreas
    "8046": ("C38.4",),
    "8250": (), "8252": (), "8253": (), "8254": (),
    "9061": ("C38", "C48", "C75.3", "C71"),  # extragonadal seminoma / germinoma
    "9062": ("C38", "C48"), "9065": ("C38", "C48", "C56", "C75.3", "C71"),
    "9100": ("C58", "C56", "C62"),
    "8720": (), "8721": (),
    "9180": ("C49",), "9220": ("C49",),  # extraskeletal osteosarcoma / chondrosarcoma
    "9508": ("C72",),
    "8247": ("C77", "C80"),  # Merkel cell carcinoma of unknown primary, nodal presentation
}
_MELANOMA_SITES = (
    "C43", "C69", "C00", "C01", "C02", "C03", "C04", "C05", "C06", "C09", "C10", "C11", "C12", "C13", "C14",
    "C15", "C16", "C17", "C18", "C19", "C20", "C21", "C30", "C31", "C32", "C51", "C52", "C53", "C60", "C70",
    "C77", "C79", "C80",
)
_HAEM_SITES = tuple(f"C{n}" for n in range(81, 97)) + ("D45", "D46", "D47", "B21.1", "B21.2", "B21.3")
_CNS = ("C70", "C71", "C72")


def _number(morphology: str) -> tuple[int, str]:
    head, _, behaviour = morphology.partition("/")
    return (int(head) if head.isdigit() else 0), behaviour


def _site_hints(display: str) -> tuple[str, ...]:
    """ICD-O-3's site code(s) printed in parentheses after a site-associated term, as ICD-10 prefixes."""
    inside = re.findall(r"\(([^()]*C\d\d[^()]*)\)\s*$", display)
    if not inside:
        return ()
    return tuple(h.removesuffix(".-") for h in _SITE_HINT.findall(inside[-1]))


def _matches(topography: str, sites: tuple[str, ...]) -> bool:
    """A topography fits a site when it is the site or a subsite of it, its parent 3-character code, or
    the unspecified/overlapping subdivision (.8/.9) of the site's 3-character code."""
    for site in sites:
        if topography.startswith(site) or site.startswith(topography):
            return True
        if len(site) > 3 and topography[:3] == site[:3] and topography[4:5] in ("8", "9"):
            return True
    return False


def _behaviour_chapter_ok(topography: str, behaviour: str, haem: bool) -> bool:
    if topography.startswith("B21"):
        return behaviour in ("3", "6", "9")
    letter, num = topography[0], int(topography[1:3]) if topography[1:3].isdigit() else -1
    if haem and letter == "D" and 45 <= num <= 47:
        return True  # ICD-O-3 codes polycythaemia, MDS, myeloproliferative neoplasms /3; ICD-10 puts them in D45-D47
    if letter == "C":
        return behaviour in ("3", "6", "9")
    if letter == "D" and num <= 9:
        return behaviour == "2"
    if letter == "D" and 37 <= num <= 48:
        return behaviour == "1"
    return False


_BEHAVIOUR_LABELS = {"0": "bénigne", "1": "à malignité incertaine", "2": "in situ", "3": "maligne",
                     "6": "métastatique", "9": "maligne"}


def morphology_problem(topography: str, topography_label: str, morphology: str,
                       morphology_label: str) -> str | None:
    """A French message when the ICD-O-3 morphology does not fit the ICD-10 topography (None when it fits).

    `topography_label` / `morphology_label`: the value sets' display names (the morphology's carries
    ICD-O-3's site hint)."""
    topo = topography.upper()
    number, behaviour = _number(morphology)
    label = re.sub(r"\s*\([^()]*C\d\d[^()]*\)\s*$", "", morphology_label)
    refusal = (f"La morphologie « {label} » ({morphology}) n'est pas compatible avec la localisation "
               f"« {topo} {topography_label} »")
    haem = 9590 <= number <= 9992
    if not _behaviour_chapter_ok(topo, behaviour, haem):
        return (f"{refusal} : une tumeur {_BEHAVIOUR_LABELS.get(behaviour, '')} (code de comportement "
                f"/{behaviour}) ne se code pas dans ce chapitre de la CIM-10.")
    if 8000 <= number <= 8005:
        return None  # not otherwise specified: any site
    if topo.startswith("B21"):
        return None
    if haem:
        return None if _matches(topo, _HAEM_SITES) else (
            f"{refusal} : une hémopathie maligne se code en C81-C96 (ou D45-D47) quel que soit l'organe atteint.")
    if _matches(topo, _HAEM_SITES):
        return f"{refusal} : cette localisation est réservée aux hémopathies malignes."
    if number == 9140:
        return None if _matches(topo, ("C46", "B21.0")) else f"{refusal} : le sarcome de Kaposi se code en C46."
    if topo.startswith("C46"):
        return f"{refusal} : la localisation C46 est réservée au sarcome de Kaposi."
    if 9050 <= number <= 9055:
        return None if _matches(topo, ("C45", "D48")) else f"{refusal} : le mésothéliome se code en C45."
    if topo.startswith("C45"):
        return f"{refusal} : la localisation C45 est réservée au mésothéliome."
    melanoma = 8720 <= number <= 8790 and behaviour == "3"
    if melanoma:
        return None if _matches(topo, _MELANOMA_SITES) else (
            f"{refusal} : un mélanome de la peau se code en C43 ; les autres sites sont les muqueuses, l'œil et "
            "les méninges.")
    if topo.startswith("C43"):
        return f"{refusal} : la localisation C43 est réservée au mélanome de la peau."
    if behaviour in ("3", "6", "9") and 8010 <= number <= 8589 and _matches(topo, _CNS):
        return (f"{refusal} : il n'existe pas de carcinome primitif du système nerveux central ; une "
                "localisation cérébrale d'un carcinome est une métastase (C79.3).")
    hints = _site_hints(morphology_label)
    if hints and behaviour in ("3", "6", "9"):
        # ICD-O-3 site hints are for invasive morphologies; in situ / uncertain codes are checked by chapter
        sites = hints + _WHO_EXTRA_SITES.get(str(number), ())
        if not _matches(topo, sites):
            where = ", ".join(sites)
            return f"{refusal} : cette morphologie est propre aux localisations {where} (CIM-O-3, OMS)."
    return None


def tumour_problem(*, topography: str, topography_label: str, morphology: str | None, morphology_label: str,
                   t: str | None, n: str | None, m: str | None, edition: int | None, stage: str | None,
                   laterality: str | None, diagnosis_date: date | None, birth_date: date | None,
                   today: date, organ_group: str | None = None) -> tuple[str, str] | None:
    """The first problem of a whole tumour description as (field, French message), None when coherent.

    The same rules as the registration's field validators, for an update of an existing case."""
    if morphology:
        problem = morphology_problem(topography, topography_label, morphology, morphology_label)
        if problem:
            return "morphology_code", problem
    problem = laterality_problem(topography, laterality)
    if problem:
        return "laterality", problem
    given = [bool(t), bool(n), bool(m)]
    if any(given) or edition is not None or stage:
        if not tnm_applies(topography, organ_group):
            return "tnm_t", (f"La classification TNM ne s'applique pas à la localisation {topography} (UICC, "
                             "8e édition) : laissez T, N, M, l'édition et le stade vides.")
    for part, value in (("t", t), ("n", n), ("m", m)):
        if value:
            try:
                parse_tnm(part, value)
            except ValueError as exc:
                return f"tnm_{part}", str(exc)
    if any(given) and not all(given):
        return "tnm_m", "Renseignez les trois catégories T, N et M de la classification TNM (ou aucune)."
    if any(given) and edition is None:
        return "tnm_edition", "Précisez l'édition de la classification TNM de l'UICC (ex. 8)."
    try:
        if edition is not None:
            check_edition(edition)
        if stage:
            check_stage(stage)
    except ValueError as exc:
        return ("tnm_edition" if edition is not None and edition not in TNM_EDITIONS else "tnm_stage"), str(exc)
    if diagnosis_date is not None:
        if diagnosis_date > today:
            return "diagnosis_date", "La date du diagnostic est dans le futur."
        if birth_date is not None and diagnosis_date < birth_date:
            return "diagnosis_date", "La date du diagnostic précède la date de naissance du patient."
    return None
