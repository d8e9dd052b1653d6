"""National identifiers and their check keys: NIR (INS matricule), RPPS, FINESS.

Pure functions; each `validate_*` returns the normalised value or raises InvalidIdentifier
with a French message.
"""

from __future__ import annotations

import re
import unicodedata

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir

from dcc.errors import InvalidIdentifier

INS_OIDS = {
    "1.2.250.1.213.1.4.8": "INS-NIR",
    "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR de test",
    "1.2.250.1.213.1.4.11": "INS-NIR de démonstration",
}
PS_ID_OID = "1.2.250.1.71.4.2.1"  # idNat_PS
STRUCT_ID_OID = "1.2.250.1.71.4.2.2"  # idNat_Struct


def nir_key(first13: str) -> str:
    """The 2-digit NIR key of a 13-character NIR (Corsica 2A/2B handled)."""
    return stdnum_nir.calc_check_digits(first13)


def validate_nir(value: str, *, field: str = "ins_matricule") -> str:
    compact = stdnum_nir.compact(value or "")
    if len(compact) != 15:
        raise InvalidIdentifier(
            f"Le NIR « {value} » doit compter 15 caractères (13 + clé de 2 chiffres).", field=field
        )
    try:
        return str(stdnum_nir.validate(compact))
    except ValidationError:
        raise InvalidIdentifier(
            f"Le NIR « {value} » est invalide : la clé de contrôle ne correspond pas.", field=field
        ) from None


def validate_ins_oid(value: str, *, field: str = "ins_oid") -> str:
    if value not in INS_OIDS:
        raise InvalidIdentifier(
            f"L'OID « {value} » n'est pas une autorité d'affectation INS connue "
            f"({', '.join(INS_OIDS)}).",
            field=field,
        )
    return value


def _luhn_number(value: str, length: int, label: str, field: str) -> str:
    digits = (value or "").strip()
    if len(digits) != length or not digits.isdigit():
        raise InvalidIdentifier(f"Le numéro {label} « {value} » doit compter {length} chiffres.", field=field)
    if not luhn.is_valid(digits):
        raise InvalidIdentifier(
            f"Le numéro {label} « {value} » est invalide : la clé de contrôle ne correspond pas.", field=field
        )
    return digits


def validate_rpps(value: str, *, field: str = "rpps") -> str:
    return _luhn_number(value, 11, "RPPS", field)


def validate_finess(value: str, *, field: str = "finess") -> str:
    return _luhn_number(value, 9, "FINESS", field)


def with_luhn_key(base: str) -> str:
    """Append the Luhn check digit to `base` (used to make valid demo RPPS and FINESS)."""
    return base + luhn.calc_check_digit(base)


def ps_id_nat(rpps: str) -> str:
    """National professional id from an RPPS number: `8` + RPPS."""
    return "8" + rpps


def struct_id_nat(finess: str) -> str:
    """National structure id from a FINESS number: `1` + FINESS (the FINESS is checked: 9 digits, Luhn key)."""
    return "1" + validate_finess(finess)


def mailbox_part(text: str) -> str:
    """ASCII local part for a secure-messaging address (accents removed, spaces and apostrophes to dashes)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9.-]+", "-", plain.lower()).strip("-")
