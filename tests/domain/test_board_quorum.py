from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from dcc import valuesets
from dcc.domain.quorum import (
    CHIRURGIE_DIGESTIVE,
    CHIRURGIE_THORACIQUE,
    ORGAN_BOARD_RULE,
    PNEUMOLOGIE,
    RADIOTHERAPIE,
    SPECIALTY_LABELS,
    Attendee,
    QuorumRule,
    acceptable_codes,
    compute_quorum,
)
from dcc.domain.quorum import ONCOLOGIE_MEDICALE as ONCO


def att(pid, *codes, presence="present", physician=True):
    return Attendee(pid, frozenset(codes), presence, physician)


def test_specialty_codes_exist_in_jdv_j01():
    for code in SPECIALTY_LABELS:
        assert valuesets.contains("JDV_J01_XdsAuthorSpecialty_CISIS", code), code


def test_met_with_three_specialties_and_required_ones():
    result = compute_quorum(
        ORGAN_BOARD_RULE,
        [att("a", CHIRURGIE_THORACIQUE), att("b", ONCO), att("c", RADIOTHERAPIE, presence="remote")],
    )
    assert result.status == "met"
    assert result.missing == []
    assert result.counted == {"a": CHIRURGIE_THORACIQUE, "b": ONCO, "c": RADIOTHERAPIE}


def test_physician_with_two_specialties_counts_once():
    rule = QuorumRule()
    result = compute_quorum(rule, [att("a", CHIRURGIE_DIGESTIVE, ONCO), att("b", RADIOTHERAPIE)])
    assert result.status == "not_met"
    assert len(result.counted) == 2
    assert any("médecin" in m for m in result.missing)


def test_matching_chooses_the_specialty_that_covers_requirements():
    # "a" is surgeon and oncologist; "b" only oncologist: a must count as surgeon
    people = [att("a", CHIRURGIE_DIGESTIVE, ONCO), att("b", ONCO), att("c", RADIOTHERAPIE)]
    result = compute_quorum(ORGAN_BOARD_RULE, people)
    assert result.status == "met"
    assert result.counted["a"] == CHIRURGIE_DIGESTIVE


def test_missing_required_specialty_is_named_in_french():
    result = compute_quorum(
        ORGAN_BOARD_RULE, [att("a", PNEUMOLOGIE), att("b", ONCO), att("c", RADIOTHERAPIE)]
    )
    assert result.status == "not_met"
    assert result.missing == ["spécialité requise absente : chirurgien"]


def test_absent_and_non_physicians_do_not_count():
    people = [
        att("a", CHIRURGIE_DIGESTIVE),
        att("b", ONCO),
        att("c", RADIOTHERAPIE, presence="absent"),
        att("d", RADIOTHERAPIE, physician=False),
    ]
    assert compute_quorum(ORGAN_BOARD_RULE, people).status == "not_met"


def test_unknown_when_attendance_not_recorded():
    people = [att("a", CHIRURGIE_DIGESTIVE, presence=None), att("b", ONCO, presence=None)]
    assert compute_quorum(ORGAN_BOARD_RULE, people).status == "unknown"
    assert compute_quorum(ORGAN_BOARD_RULE, []).status == "unknown"


def test_partially_recorded_attendance():
    base = [att("a", CHIRURGIE_DIGESTIVE), att("b", ONCO)]
    assert (
        compute_quorum(ORGAN_BOARD_RULE, [*base, att("c", RADIOTHERAPIE, presence=None)]).status == "unknown"
    )
    assert compute_quorum(ORGAN_BOARD_RULE, [*base, att("c", PNEUMOLOGIE, presence=None)]).status == "not_met"
    assert (
        compute_quorum(
            ORGAN_BOARD_RULE, [*base, att("c", RADIOTHERAPIE), att("d", ONCO, presence=None)]
        ).status
        == "met"
    )


CODES = [CHIRURGIE_DIGESTIVE, CHIRURGIE_THORACIQUE, ONCO, RADIOTHERAPIE, PNEUMOLOGIE]


def _brute_force_met(rule: QuorumRule, people: list[Attendee]) -> bool:
    present = [p for p in people if p.is_physician and p.attends]
    if len(present) < rule.min_physicians:
        return False
    options = [sorted(p.specialties) + [None] for p in present]
    for choice in product(*options):
        chosen = [c for c in choice if c is not None]
        if len(chosen) != len(set(chosen)):
            continue
        if len(chosen) < rule.min_specialties:
            continue
        # each required entry satisfied by a distinct counted code
        reqs = sorted(rule.required_specialties)
        for perm in product(chosen, repeat=len(reqs)):
            fits = all(c in acceptable_codes(r) for c, r in zip(perm, reqs, strict=True))
            if len(set(perm)) == len(perm) and fits:
                return True
    return False


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sets(st.sampled_from(CODES), min_size=1, max_size=3), st.booleans()), max_size=5)
)
def test_quorum_matches_brute_force(specs):
    people = [
        att(str(i), *codes, presence="present", physician=phys) for i, (codes, phys) in enumerate(specs)
    ]
    assert (compute_quorum(ORGAN_BOARD_RULE, people).status == "met") == _brute_force_met(
        ORGAN_BOARD_RULE, people
    )
