"""Identity vigilance: the NIR agrees with the declared sex, birth year and month and birth department
(INSEE NIR structure; CNAM rules for temporary numbers); names compare in their INS form."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.fr import nir as stdnum_nir

from dcc.domain.identifiers import (
    nir_birth_incoherence,
    nir_birthplace_incoherence,
    nir_sex_incoherence,
    normalise_trait,
)


def with_key(first13: str) -> str:
    # python-stdnum computes the key (an independent implementation of 97 - n mod 97, Corsica handled)
    return first13 + stdnum_nir.calc_check_digits(first13)


# Real-shaped NIRs: (NIR, sex, birth date, birthplace INSEE code) that agree.
COHERENT = [
    (with_key("2790351215189"), "F", date(1979, 3, 28), "51215"),  # ANS example (Marne)
    (with_key("1750344109123"), "M", date(1975, 3, 12), "44109"),  # Nantes
    (with_key("253072A073004"), "F", date(1953, 7, 1), "2A073"),  # Corsica (south)
    (with_key("1530720033004"), "M", date(1953, 7, 1), "2B033"),  # Corsica before 1976 (20)
    (with_key("2881297411001"), "F", date(1988, 12, 5), "97411"),  # La Réunion (3-digit department)
    (with_key("1920599352001"), "M", date(1992, 5, 9), "99352"),  # born abroad (Algeria)
    (with_key("1550591352001"), "M", date(1955, 5, 9), "99352"),  # Algeria before independence (91)
    (with_key("2643078646001"), "F", date(1964, 8, 2), "91228"),  # Seine-et-Oise (78) before 1968, unknown month
    (with_key("1754044109123"), "M", date(1975, 11, 30), "44109"),  # pseudo-month 40: month unknown
    (with_key("1759944109123"), "M", date(1975, 1, 1), "44109"),  # pseudo-month 99
    (with_key("7123456789012"), "M", date(1990, 1, 1), "99100"),  # temporary number (NNP): no birth data
    (with_key("8123456789012"), "F", date(2001, 6, 6), "44109"),
]


@pytest.mark.parametrize(("nir", "sex", "birth", "place"), COHERENT)
def test_coherent_nirs_are_accepted(nir: str, sex: str, birth: date, place: str) -> None:
    assert stdnum_nir.is_valid(nir)
    assert nir_sex_incoherence(nir, sex) is None
    assert nir_birth_incoherence(nir, birth) is None
    assert nir_birthplace_incoherence(nir, place, birth) is None


def test_sex_contradiction_names_the_trait() -> None:
    message = nir_sex_incoherence(with_key("1750344109123"), "F")
    assert message == "Le NIR commence par 1 (sexe masculin) mais le sexe déclaré est féminin."
    assert "sexe" in (nir_sex_incoherence(with_key("8123456789012"), "M") or "")
    assert nir_sex_incoherence(with_key("1750344109123"), "U") is None  # unknown sex: nothing to compare
    assert "premier chiffre" in (nir_sex_incoherence(with_key("5750344109123"), "M") or "")


@pytest.mark.parametrize(("first13", "birth", "expected"), [
    ("1750344109123", date(1976, 3, 12), "naissance en « 75 »"),
    ("1750344109123", date(1975, 4, 12), "mois de naissance 03"),
    ("1751344109123", date(1975, 1, 12), "« 13 »"),
    ("1754544109123", date(1975, 1, 12), "« 45 »"),
    ("1750044109123", date(1975, 1, 12), "« 00 »"),
])
def test_birth_contradiction_names_year_or_month(first13: str, birth: date, expected: str) -> None:
    message = nir_birth_incoherence(with_key(first13), birth)
    assert message is not None and expected in message


@pytest.mark.parametrize(("first13", "place", "expected"), [
    ("1750344109123", "49007", "département 44 mais le lieu de naissance déclaré (code 49007) est dans le "
                               "département 49"),
    ("1750399352123", "44109", "naissance à l'étranger"),
    ("1750344109123", "99352", "est à l'étranger"),
    ("2881297411001", "97209", "département 974"),
    ("253072A073004", "19031", "département 2A"),
    ("2753478646001", "91228", "département 78"),  # after 1968, Seine-et-Oise no longer exists
])
def test_birthplace_contradiction_names_the_department(first13: str, place: str, expected: str) -> None:
    nir = with_key(first13)
    birth = date(1900 + int(first13[1:3]), 3, 1)
    message = nir_birthplace_incoherence(nir, place, birth)
    assert message is not None and expected in message, message


@settings(max_examples=200, deadline=None)
@given(sex=st.sampled_from(["M", "F"]), birth=st.dates(date(1900, 1, 1), date(2025, 12, 31)),
       dep=st.integers(1, 95).filter(lambda d: d != 20), commune=st.integers(1, 999), order=st.integers(1, 999))
def test_a_nir_built_from_the_traits_is_coherent_and_any_other_month_or_sex_is_not(
        sex: str, birth: date, dep: int, commune: int, order: int) -> None:
    place = f"{dep:02d}{commune:03d}"
    first13 = f"{1 if sex == 'M' else 2}{birth.year % 100:02d}{birth.month:02d}{place}{order:03d}"
    nir = with_key(first13)
    assert nir_sex_incoherence(nir, sex) is None
    assert nir_birth_incoherence(nir, birth) is None
    assert nir_birthplace_incoherence(nir, place, birth) is None
    other_sex = "F" if sex == "M" else "M"
    assert nir_sex_incoherence(nir, other_sex) is not None
    other_month = birth.replace(day=1, month=birth.month % 12 + 1)
    assert nir_birth_incoherence(nir, other_month) is not None
    other_dep = (dep % 95) + 1
    if other_dep != 20 and not (birth.year < 1968 and {dep, other_dep} <= {75, 78, 91, 92, 93, 94, 95}):
        assert nir_birthplace_incoherence(nir, f"{other_dep:02d}{commune:03d}", birth) is not None


@pytest.mark.parametrize(("a", "b"), [
    ("Éloïse-Marie", "ELOISE MARIE"), ("d'Artagnan", "D ARTAGNAN"), ("  Lefèvre  ", "lefevre"),
    ("N'DIAYE", "N’diaye"), ("ÇAĞLAR", "caglar"),
])
def test_names_compare_in_their_ins_form(a: str, b: str) -> None:
    assert normalise_trait(a) == normalise_trait(b)


def test_different_names_stay_different() -> None:
    assert normalise_trait("MARTIN") != normalise_trait("MARTINE")
    assert normalise_trait("LE GALL") != normalise_trait("LEGALL")
