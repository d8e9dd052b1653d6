"""National identifiers and their check keys: NIR (INS matricule), RPPS, FINESS.

Pure functions; each `validate_*` returns the normalised value or raises InvalidIdentifier
with a French message.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

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


# ------------------------------------------------------------------------ identity vigilance (INS traits)
#
# NIR structure (INSEE; CNAM "nir-validation" rules; python-stdnum `stdnum.fr.nir`): position 1 sex
# (1 man, 2 woman; 7 man / 8 woman for a temporary number, NNP, whose positions 2-13 encode a fund and a
# serial, not the birth), 2-3 the last two digits of the birth year, 4-5 the birth month (01-12; 20-42 and
# 50-99 are pseudo-months for people registered from an incomplete civil-status record: month unknown),
# 6-7 the birth department (2A/2B Corsica, 20 before 1976; 97x/98x overseas on 3 positions 6-8; 99 born
# abroad, followed by the INSEE country code; 91-96 also Algeria, Morocco, Tunisia before independence).

_SEX_DIGITS = {"1": "M", "2": "F", "7": "M", "8": "F"}
_SEX_LABELS = {"M": "masculin", "F": "féminin"}
_TEMPORARY = ("7", "8")
_CORSICA = {"2A", "2B", "20"}
_FORMER_SEINE = {"75", "78", "91", "92", "93", "94", "95"}  # Seine / Seine-et-Oise, split in 1968
_NORTH_AFRICA_BEFORE_INDEPENDENCE = {"91", "92", "93", "94", "95", "96"}


def _department(code: str) -> str:
    """Department part of a 5-character place code (NIR positions 6-10 or INSEE COG commune code)."""
    code = code.upper()
    return code[:3] if code[:2] in ("97", "98") else code[:2]


def nir_sex_incoherence(nir: str, sex: str) -> str | None:
    """French message when the NIR's first digit contradicts the declared sex (`M`, `F`; `U` not checked)."""
    digit = nir[:1]
    expected = _SEX_DIGITS.get(digit)
    if expected is None:
        return f"Le NIR commence par {digit} : le premier chiffre doit être 1 ou 2 (7 ou 8 pour un numéro provisoire)."
    if sex in _SEX_LABELS and sex != expected:
        return (f"Le NIR commence par {digit} (sexe {_SEX_LABELS[expected]}) mais le sexe déclaré est "
                f"{_SEX_LABELS[sex]}.")
    return None


def nir_birth_incoherence(nir: str, birth_date: date) -> str | None:
    """French message when the NIR's year (positions 2-3) or month (4-5) contradicts the birth date.
    Temporary numbers (7/8) carry no birth date; pseudo-months 20-42 and 50-99 mean an unknown month."""
    if nir[:1] in _TEMPORARY:
        return None
    yy, mm = nir[1:3], nir[3:5]
    if not (yy.isdigit() and mm.isdigit()):
        return "Le NIR doit porter l'année et le mois de naissance en chiffres (positions 2 à 5)."
    if int(yy) != birth_date.year % 100:
        return (f"Le NIR indique une naissance en « {yy} » (positions 2-3) mais la date de naissance déclarée "
                f"est en {birth_date.year}.")
    month = int(mm)
    if 1 <= month <= 12:
        if month != birth_date.month:
            return (f"Le NIR indique le mois de naissance {mm} (positions 4-5) mais la date de naissance "
                    f"déclarée est en {birth_date:%m/%Y}.")
        return None
    if 20 <= month <= 42 or 50 <= month <= 99:
        return None  # pseudo-month: civil-status record without the month
    return f"Le mois de naissance du NIR (« {mm} », positions 4-5) n'existe pas."


def nir_birthplace_incoherence(nir: str, birthplace_insee: str, birth_date: date) -> str | None:
    """French message when the NIR's birth department contradicts the birthplace code (INSEE COG)."""
    if nir[:1] in _TEMPORARY or len(birthplace_insee) != 5:
        return None
    nir_dep, place_dep = _department(nir[5:10]), _department(birthplace_insee)
    if nir_dep == place_dep:
        return None
    if nir_dep in _CORSICA and place_dep in _CORSICA:
        return None
    if nir_dep in _NORTH_AFRICA_BEFORE_INDEPENDENCE and place_dep == "99":
        return None
    if birth_date.year < 1968 and nir_dep in _FORMER_SEINE and place_dep in _FORMER_SEINE:
        return None
    if nir_dep == "99":
        return (f"Le NIR indique une naissance à l'étranger (99, positions 6-7) mais le lieu de naissance "
                f"déclaré est en France (code {birthplace_insee}).")
    if place_dep == "99":
        return (f"Le NIR indique une naissance dans le département {nir_dep} mais le lieu de naissance déclaré "
                f"est à l'étranger (code {birthplace_insee}).")
    return (f"Le NIR indique une naissance dans le département {nir_dep} mais le lieu de naissance déclaré "
            f"(code {birthplace_insee}) est dans le département {place_dep}.")


def normalise_trait(value: str) -> str:
    """Compare form of a name trait (INS: uppercase, no diacritics; hyphens and apostrophes as spaces,
    spaces collapsed): `Éloïse-Marie` and `ELOISE MARIE` compare equal."""
    spaced = re.sub(r"[-'’‘ʼ\s]+", " ", value or "")
    plain = unicodedata.normalize("NFKD", spaced).encode("ascii", "ignore").decode("ascii").upper()
    return " ".join(plain.split())
