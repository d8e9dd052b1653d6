"""FINESS numbers are checked where they enter a national structure id (CDA author/custodian, XDS metadata)."""

from __future__ import annotations

import pytest

from dcc.domain.identifiers import struct_id_nat
from dcc.errors import InvalidIdentifier


def test_struct_id_nat_of_a_valid_finess() -> None:
    assert struct_id_nat("750712184") == "1750712184"  # AP-HP's FINESS (Luhn key 4)


@pytest.mark.parametrize("finess", ["750712185", "75071218", "7507121840", "75071218A", ""])
def test_struct_id_nat_refuses_a_bad_finess(finess: str) -> None:
    with pytest.raises(InvalidIdentifier, match="FINESS"):
        struct_id_nat(finess)
