"""The simulator's own reference data: its NIR check agrees with python-stdnum's (an independent
implementation), and its value sets come from the ANS kit."""

from __future__ import annotations

import random

import pytest
from stdnum.fr import nir as stdnum_nir

from dcc.simulator import reference


def _nirs(n: int) -> list[str]:
    rng = random.Random(16)
    out = []
    for _ in range(n):
        dept = rng.choice(["75", "2A", "2B", "13", "99"])
        body = f"{rng.choice('12')}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{dept}{rng.randint(1, 999):03d}" \
               f"{rng.randint(1, 999):03d}"
        key = stdnum_nir.calc_check_digits(body)
        out.append(body + key)
        out.append(body + f"{(int(key) + rng.randint(1, 96)) % 97 or 97:02d}")  # a wrong key
    return out


@pytest.mark.parametrize("nir", _nirs(100))
def test_nir_check_agrees_with_stdnum(nir: str) -> None:
    assert (reference.nir_problem(nir) is None) == stdnum_nir.is_valid(nir)


def test_value_sets_come_from_the_kit(monkeypatch: pytest.MonkeyPatch) -> None:
    from dcc.adapters.cda.validate import find_kit

    kit = find_kit()
    if kit is None:
        pytest.skip("ANS kit not found (DCC_ANS_KIT)")
    assert reference.load_value_sets(kit) == str(kit)
    assert reference.contains("JDV_J07_XdsTypeCode_CISIS", "11488-4")
    assert reference.lookup("JDV_J07_XdsTypeCode_CISIS", "11488-4").system == "2.16.840.1.113883.6.1"
