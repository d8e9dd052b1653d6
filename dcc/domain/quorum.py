"""Board quorum: at least N physicians of M different specialties, plus required specialties.

A physician may hold several specialties but counts for ONE only. Which specialty each present
physician counts for is chosen by a small bipartite matching (physician -> specialty code ->
requirement), solved exactly as a max-flow/min-cost problem, so required specialties are covered
whenever some choice covers them and the number of distinct specialties is maximal.

Specialty codes are JDV_J01_XdsAuthorSpecialty_CISIS codes (code system 1.2.250.1.213.1.1.4.5).
A requirement is either one code or a group key (e.g. "chirurgien": any surgical specialty).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ortools.graph.python import min_cost_flow

SPECIALTY_CODE_SYSTEM = "1.2.250.1.213.1.1.4.5"

# -- JDV_J01 codes used by cancer boards (all exist in dcc/data/valuesets.json) ---------------------
ANATOMIE_PATHOLOGIQUE = "G15_10/SM01"
CHIRURGIE_GENERALE = "G15_10/SM05"
CHIRURGIE_MAXILLO_FACIALE = "G15_10/SM06"
CHIRURGIE_ORTHOPEDIQUE = "G15_10/SM08"
CHIRURGIE_INFANTILE = "G15_10/SM09"
CHIRURGIE_PLASTIQUE = "G15_10/SM10"
CHIRURGIE_THORACIQUE = "G15_10/SM11"
CHIRURGIE_UROLOGIQUE = "G15_10/SM12"
CHIRURGIE_DIGESTIVE = "G15_10/SM14"
DERMATOLOGIE = "G15_10/SM15"
ENDOCRINOLOGIE = "G15_10/SM16"
GENETIQUE_MEDICALE = "G15_10/SM17"
GERIATRIE = "G15_10/SM18"
GYNECOLOGIE_OBSTETRIQUE = "G15_10/SM20"
HEMATOLOGIE = "G15_10/SM21"
GASTRO_ENTEROLOGIE = "G15_10/SM24"
MEDECINE_NUCLEAIRE = "G15_10/SM28"
NEURO_CHIRURGIE = "G15_10/SM31"
NEUROLOGIE = "G15_10/SM32"
ORL_CHIRURGIE_CERVICO_FACIALE = "G15_10/SM34"
ONCOLOGIE_ONCO_HEMATOLOGIE = "G15_10/SM35"
ONCOLOGIE_MEDICALE = "G15_10/SM36"
ONCOLOGIE_RADIOTHERAPIE = "G15_10/SM37"
PEDIATRIE = "G15_10/SM40"
PNEUMOLOGIE = "G15_10/SM41"
RADIO_DIAGNOSTIC = "G15_10/SM44"
RADIOTHERAPIE = "G15_10/SM45"
RADIOLOGIE_IMAGERIE = "G15_10/SM74"
CHIRURGIE_CANCEROLOGIQUE = "G15_10/DSM237"

SPECIALTY_LABELS: dict[str, str] = {
    ANATOMIE_PATHOLOGIQUE: "anatomopathologiste",
    CHIRURGIE_GENERALE: "chirurgien général",
    CHIRURGIE_MAXILLO_FACIALE: "chirurgien maxillo-facial",
    CHIRURGIE_ORTHOPEDIQUE: "chirurgien orthopédiste",
    CHIRURGIE_INFANTILE: "chirurgien pédiatrique",
    CHIRURGIE_PLASTIQUE: "chirurgien plasticien",
    CHIRURGIE_THORACIQUE: "chirurgien thoracique",
    CHIRURGIE_UROLOGIQUE: "chirurgien urologue",
    CHIRURGIE_DIGESTIVE: "chirurgien digestif",
    DERMATOLOGIE: "dermatologue",
    ENDOCRINOLOGIE: "endocrinologue",
    GENETIQUE_MEDICALE: "généticien",
    GERIATRIE: "gériatre",
    GYNECOLOGIE_OBSTETRIQUE: "gynécologue-obstétricien",
    HEMATOLOGIE: "hématologue",
    GASTRO_ENTEROLOGIE: "gastro-entérologue",
    MEDECINE_NUCLEAIRE: "médecin nucléaire",
    NEURO_CHIRURGIE: "neurochirurgien",
    NEUROLOGIE: "neurologue",
    ORL_CHIRURGIE_CERVICO_FACIALE: "chirurgien ORL",
    ONCOLOGIE_ONCO_HEMATOLOGIE: "onco-hématologue",
    ONCOLOGIE_MEDICALE: "oncologue médical",
    ONCOLOGIE_RADIOTHERAPIE: "oncologue radiothérapeute",
    PEDIATRIE: "pédiatre",
    PNEUMOLOGIE: "pneumologue",
    RADIO_DIAGNOSTIC: "radiologue",
    RADIOTHERAPIE: "radiothérapeute",
    RADIOLOGIE_IMAGERIE: "radiologue",
    CHIRURGIE_CANCEROLOGIQUE: "chirurgien cancérologue",
}

# -- Requirement groups: a group is satisfied by any one of its codes --------------------------------
CHIRURGIEN = "chirurgien"
ONCOLOGUE_MEDICAL = "oncologue_medical"
RADIOTHERAPEUTE = "radiotherapeute"

SPECIALTY_GROUPS: dict[str, frozenset[str]] = {
    CHIRURGIEN: frozenset(
        {
            CHIRURGIE_GENERALE,
            CHIRURGIE_MAXILLO_FACIALE,
            CHIRURGIE_ORTHOPEDIQUE,
            CHIRURGIE_INFANTILE,
            CHIRURGIE_PLASTIQUE,
            CHIRURGIE_THORACIQUE,
            CHIRURGIE_UROLOGIQUE,
            CHIRURGIE_DIGESTIVE,
            GYNECOLOGIE_OBSTETRIQUE,
            NEURO_CHIRURGIE,
            ORL_CHIRURGIE_CERVICO_FACIALE,
            CHIRURGIE_CANCEROLOGIQUE,
        }
    ),
    ONCOLOGUE_MEDICAL: frozenset({ONCOLOGIE_MEDICALE, ONCOLOGIE_ONCO_HEMATOLOGIE}),
    RADIOTHERAPEUTE: frozenset({RADIOTHERAPIE, ONCOLOGIE_RADIOTHERAPIE}),
}
GROUP_LABELS: dict[str, str] = {
    CHIRURGIEN: "chirurgien",
    ONCOLOGUE_MEDICAL: "oncologue médical",
    RADIOTHERAPEUTE: "radiothérapeute",
}

ORGAN_BOARD_REQUIRED: frozenset[str] = frozenset({CHIRURGIEN, ONCOLOGUE_MEDICAL, RADIOTHERAPEUTE})


def acceptable_codes(requirement: str) -> frozenset[str]:
    """The specialty codes that satisfy a requirement (a group key or a single code)."""
    return SPECIALTY_GROUPS.get(requirement, frozenset({requirement}))


def requirement_label(requirement: str) -> str:
    return GROUP_LABELS.get(requirement) or SPECIALTY_LABELS.get(requirement) or requirement


def expand_specialties(codes: Iterable[str]) -> frozenset[str]:
    """Codes plus the group keys they satisfy, so `required <= expand_specialties(present)` tests coverage."""
    present = frozenset(codes)
    groups = {key for key, members in SPECIALTY_GROUPS.items() if members & present}
    return present | groups


def covers(present: Iterable[str], required: Iterable[str]) -> bool:
    return frozenset(required) <= expand_specialties(present)


# -------------------------------------------------------------------------------------------- model

Presence = Literal["present", "remote", "absent"]
QuorumStatus = Literal["met", "not_met", "unknown"]


@dataclass(frozen=True)
class Attendee:
    professional_id: str
    specialties: frozenset[str]
    presence: Presence | None = None  # None: attendance not recorded
    is_physician: bool = True

    @property
    def attends(self) -> bool:
        return self.presence in ("present", "remote")


@dataclass(frozen=True)
class QuorumRule:
    min_physicians: int = 3
    min_specialties: int = 3
    required_specialties: frozenset[str] = field(default_factory=frozenset)


ORGAN_BOARD_RULE = QuorumRule(required_specialties=ORGAN_BOARD_REQUIRED)


@dataclass(frozen=True)
class QuorumResult:
    status: QuorumStatus
    missing: list[str]
    counted: dict[str, str]  # professional id -> the one specialty code it counts for
    physicians: int


@dataclass(frozen=True)
class _Coverage:
    physicians: int
    counted: dict[str, str]
    covered_requirements: frozenset[str]


# ----------------------------------------------------------------------------------------- matching

_REQUIREMENT_BONUS = 1000  # one covered requirement outweighs any number of extra specialties


def _match(physicians: Sequence[Attendee], required: frozenset[str]) -> tuple[dict[str, str], frozenset[str]]:
    """Assign each physician at most one specialty, each specialty at most once, each code to at most
    one requirement; maximise (covered requirements, distinct specialties) lexicographically."""
    codes = sorted({c for a in physicians for c in a.specialties})
    reqs = sorted(required)
    if not codes:
        return {}, frozenset()
    n_p, n_c = len(physicians), len(codes)
    # nodes: source, physicians, codes (in), codes (out: throughput 1), requirements, sink
    source, sink = 0, 1 + n_p + 2 * n_c + len(reqs)
    p_node = {i: 1 + i for i in range(n_p)}
    c_in = {code: 1 + n_p + j for j, code in enumerate(codes)}
    c_out = {code: 1 + n_p + n_c + j for j, code in enumerate(codes)}
    r_node = {req: 1 + n_p + 2 * n_c + k for k, req in enumerate(reqs)}
    flow = min_cost_flow.SimpleMinCostFlow()
    assign_arcs: list[tuple[int, str, str]] = []
    req_arcs: list[tuple[int, str]] = []
    for i, att in enumerate(physicians):
        flow.add_arc_with_capacity_and_unit_cost(source, p_node[i], 1, 0)
        for code in sorted(att.specialties):
            arc = flow.add_arc_with_capacity_and_unit_cost(p_node[i], c_in[code], 1, 0)
            assign_arcs.append((arc, att.professional_id, code))
    for code in codes:
        flow.add_arc_with_capacity_and_unit_cost(c_in[code], c_out[code], 1, -1)
        flow.add_arc_with_capacity_and_unit_cost(c_out[code], sink, 1, 0)
        for req in reqs:
            if code in acceptable_codes(req):
                arc = flow.add_arc_with_capacity_and_unit_cost(
                    c_out[code], r_node[req], 1, -_REQUIREMENT_BONUS
                )
                req_arcs.append((arc, req))
    for req in reqs:
        flow.add_arc_with_capacity_and_unit_cost(r_node[req], sink, 1, 0)
    flow.set_node_supply(source, n_p)
    flow.set_node_supply(sink, -n_p)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:  # pragma: no cover - a bipartite graph with unit capacities is always solvable
        raise RuntimeError(f"quorum matching failed: {status}")
    counted = {pid: code for arc, pid, code in assign_arcs if flow.flow(arc) > 0}
    covered = frozenset(req for arc, req in req_arcs if flow.flow(arc) > 0)
    return counted, covered


def _coverage(attendees: Sequence[Attendee], required: frozenset[str]) -> _Coverage:
    physicians = [a for a in attendees if a.is_physician]
    counted, covered = _match(physicians, required)
    return _Coverage(len(physicians), counted, covered)


def _shortfalls(rule: QuorumRule, cov: _Coverage) -> list[str]:
    missing: list[str] = []
    if cov.physicians < rule.min_physicians:
        lack = rule.min_physicians - cov.physicians
        missing.append(
            f"{lack} médecin{'s' if lack > 1 else ''} manquant{'s' if lack > 1 else ''} "
            f"({cov.physicians} présent{'s' if cov.physicians > 1 else ''} sur {rule.min_physicians} requis)"
        )
    distinct = len(cov.counted)
    if distinct < rule.min_specialties:
        missing.append(
            f"spécialités différentes insuffisantes ({distinct} sur {rule.min_specialties} requises, "
            "chaque médecin ne comptant que pour une spécialité)"
        )
    for req in sorted(rule.required_specialties - cov.covered_requirements, key=requirement_label):
        missing.append(f"spécialité requise absente : {requirement_label(req)}")
    return missing


def compute_quorum(rule: QuorumRule, attendees: Sequence[Attendee]) -> QuorumResult:
    """Quorum from recorded attendance.

    Three-valued: "met" if the physicians known to attend already meet the rule; "not_met" if the rule
    fails even counting every unrecorded attendee as present; "unknown" otherwise (in particular when
    no attendance has been recorded at all).
    """
    recorded = [a for a in attendees if a.presence is not None]
    if not recorded:
        return QuorumResult("unknown", ["présences non saisies"], {}, 0)
    sure = _coverage([a for a in recorded if a.attends], rule.required_specialties)
    sure_missing = _shortfalls(rule, sure)
    if not sure_missing:
        return QuorumResult("met", [], sure.counted, sure.physicians)
    possible = [a for a in attendees if a.presence is None or a.attends]
    if len(recorded) < len(attendees) and not _shortfalls(
        rule, _coverage(possible, rule.required_specialties)
    ):
        return QuorumResult(
            "unknown",
            ["présences non saisies pour une partie des membres", *sure_missing],
            sure.counted,
            sure.physicians,
        )
    return QuorumResult("not_met", sure_missing, sure.counted, sure.physicians)


