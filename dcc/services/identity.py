"""Identity vigilance at registration (INS rules): which patient a case is about.

- A known INS (matricule + OID) with the same strict traits is the existing patient; with other traits
  (birth family name, first birth given name, birth date, sex) it is refused, naming the conflicting
  traits: two identities are never merged (RNIV: an INS designates one set of traits).
- A patient without INS (not yet retrieved from INSi), or with an INS dcc does not know, is matched on
  birth family name, first birth given name, birth date and sex: when a patient with these traits exists
  the registration is refused until the coordinator picks the existing patient or confirms a new one.
- A second open case for the same patient on the same board is refused.
Names are compared in their INS form (uppercase, no diacritics, hyphens and apostrophes as spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.domain.identifiers import normalise_trait
from dcc.domain.states import CaseStatus, label
from dcc.errors import IdentityConflict, NotFound, ValidationFailed
from dcc.services.audit import record_audit
from dcc.services.schemas import CaseRegistration, PatientIdentity
from dcc.services.uow import UnitOfWork

CLOSED_CASE_STATUSES = (CaseStatus.DECIDED.value, CaseStatus.REPRESENTED.value, CaseStatus.WITHDRAWN.value)
"""A case in one of these states no longer blocks a new case for the patient on the same board (a case
re-presented without quorum is carried on by its new entry, which is open)."""

TRAIT_LABELS = {"birth_family": "nom de naissance", "birth_given_first": "premier prénom de naissance",
                "birth_date": "date de naissance", "sex": "sexe"}


def trait_conflicts(patient: m.Patient, ident: PatientIdentity) -> list[str]:
    """The strict traits of `ident` that differ from the patient's (French labels, compared normalised)."""
    out = []
    if normalise_trait(patient.birth_family) != normalise_trait(ident.birth_family):
        out.append(TRAIT_LABELS["birth_family"])
    if normalise_trait(patient.birth_given_first) != normalise_trait(ident.birth_given_first):
        out.append(TRAIT_LABELS["birth_given_first"])
    if patient.birth_date != ident.birth_date:
        out.append(TRAIT_LABELS["birth_date"])
    if patient.sex != ident.sex:
        out.append(TRAIT_LABELS["sex"])
    return out


def matching_patients(uow: UnitOfWork, ident: PatientIdentity) -> list[m.Patient]:
    """Patients with the same birth family name, first birth given name, birth date and sex."""
    q = (select(m.Patient).where(m.Patient.birth_date == ident.birth_date, m.Patient.sex == ident.sex)
         .order_by(m.Patient.id))
    return [p for p in uow.session.scalars(q) if not trait_conflicts(p, ident)]


def resolve_patient(uow: UnitOfWork, data: CaseRegistration, *, actor: str) -> m.Patient:
    """The patient the registration is about (created when new); IdentityConflict (409) otherwise."""
    ident = data.patient
    if data.patient_id:
        chosen = uow.session.get(m.Patient, data.patient_id)
        if chosen is None:
            raise ValidationFailed(f"Le patient « {data.patient_id} » n'existe pas.", field="patient_id")
        if ident is not None:
            _check_chosen(uow, chosen, ident, actor=actor)
        return chosen
    assert ident is not None  # CaseRegistration requires the identity or a chosen patient
    if ident.ins_matricule:
        known = repo.patient_by_ins(uow.session, ident.ins_matricule, ident.ins_oid)
        if known is not None:
            conflicts = trait_conflicts(known, ident)
            if conflicts:
                raise IdentityConflict(
                    f"L'INS {ident.ins_matricule} est déjà connue avec d'autres traits : "
                    f"{', '.join(conflicts)} différent de ceux du patient enregistré. Les identités ne sont "
                    "jamais fusionnées : vérifiez l'identité (pièce d'identité, téléservice INSi).",
                    candidates=[known.id], field="patient.ins_matricule")
            return known
    if not data.new_patient:
        matches = matching_patients(uow, ident)
        if matches:
            raise IdentityConflict(
                f"{len(matches)} patient(s) aux mêmes traits (nom de naissance, premier prénom de naissance, date "
                "de naissance, sexe) existe(nt) déjà : choisissez le patient existant ou confirmez qu'il s'agit "
                "d'un nouveau patient.", candidates=[p.id for p in matches], field="patient")
    patient = m.Patient(
        ins_matricule=ident.ins_matricule, ins_oid=ident.ins_oid if ident.ins_matricule else None,
        ins_qualified=ident.ins_qualified and bool(ident.ins_matricule),
        birth_family=ident.birth_family, birth_given_first=ident.birth_given_first,
        birth_given_all=ident.birth_given_all, birth_date=ident.birth_date, sex=ident.sex,
        birthplace_insee=ident.birthplace_insee, birthplace_city=ident.birthplace_city,
        used_family=ident.used_family or ident.birth_family, used_given=ident.used_given or "",
    )
    uow.session.add(patient)
    uow.session.flush()
    return patient


def _check_chosen(uow: UnitOfWork, chosen: m.Patient, ident: PatientIdentity, *, actor: str) -> None:
    """The coordinator picked an existing patient and the form also carries an identity: it must be the
    same person. A patient registered without INS receives the INS now given (audited)."""
    conflicts = trait_conflicts(chosen, ident)
    if conflicts:
        raise IdentityConflict(f"Le patient choisi a d'autres traits que l'identité saisie : "
                               f"{', '.join(conflicts)}.", candidates=[chosen.id], field="patient_id")
    if not ident.ins_matricule:
        return
    if chosen.ins_matricule:
        if (chosen.ins_matricule, chosen.ins_oid) != (ident.ins_matricule, ident.ins_oid):
            raise IdentityConflict(f"Le patient choisi a une autre INS que celle saisie ({ident.ins_matricule}).",
                                   candidates=[chosen.id],
                                   field="patient.ins_matricule")
        return
    other = repo.patient_by_ins(uow.session, ident.ins_matricule, ident.ins_oid)
    if other is not None:
        raise IdentityConflict(f"L'INS {ident.ins_matricule} désigne déjà un autre patient.",
                               candidates=[other.id], field="patient.ins_matricule")
    chosen.ins_matricule, chosen.ins_oid = ident.ins_matricule, ident.ins_oid
    record_audit(uow, actor=actor, action="patient.ins_attach", entity="patient", entity_id=chosen.id,
                 patient_id=chosen.id, detail={"ins_oid": ident.ins_oid})


def open_case(uow: UnitOfWork, *, patient_id: str, board_id: str) -> m.Case | None:
    """The patient's open case on the board (registered, not decided yet), if any."""
    q = select(m.Case).where(m.Case.patient_id == patient_id, m.Case.board_id == board_id,
                             m.Case.status.not_in(CLOSED_CASE_STATUSES))
    return uow.session.scalars(q).first()


def refuse_duplicate_open_case(uow: UnitOfWork, *, patient_id: str, board_id: str, board_name: str) -> None:
    """409 when the patient already has an open case on the board."""
    existing = open_case(uow, patient_id=patient_id, board_id=board_id)
    if existing is not None:
        raise IdentityConflict(
            f"Le patient a déjà un dossier en cours pour la {board_name} (dossier {existing.id[:8].upper()}, "
            f"statut « {label(CaseStatus(existing.status))} ») : un second dossier n'est pas accepté tant "
            "que le premier n'est pas discuté.", candidates=[patient_id], field="board_id")


# ------------------------------------------------------------------------------------------ search


@dataclass(frozen=True)
class PatientHit:
    id: str
    display_name: str
    birth_family: str
    birth_given_first: str
    birth_date: date
    sex: str
    ins_matricule: str | None
    ins_qualified: bool


_DATE_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
SEARCH_LIMIT = 20


def _query_date(text: str) -> date | None:
    found = _DATE_FR.match(text)
    try:
        if found:
            return date(int(found[3]), int(found[2]), int(found[1]))
        return date.fromisoformat(text)
    except ValueError:
        return None


def _hit(p: m.Patient) -> PatientHit:
    return PatientHit(id=p.id, display_name=f"{p.birth_family} {p.birth_given_first}", birth_family=p.birth_family,
                      birth_given_first=p.birth_given_first, birth_date=p.birth_date, sex=p.sex,
                      ins_matricule=p.ins_matricule, ins_qualified=p.ins_qualified)


def visible_patients(uow: UnitOfWork, ids: list[str], *, scope: object) -> list[PatientHit]:
    """The patients of `ids` that `scope` (the user's access condition on Patient) allows, in `ids` order."""
    if not ids:
        return []
    rows = {p.id: p for p in uow.session.scalars(select(m.Patient).where(m.Patient.id.in_(ids), scope))}  # type: ignore[arg-type]
    return [_hit(rows[i]) for i in ids if i in rows]


def search_patients(uow: UnitOfWork, *, q: str, scope: object) -> list[PatientHit]:
    """Patients matching every term of `q` among those `scope` (an SQL condition on Patient, the access
    rules of the user) allows: a term is a birth date (JJ/MM/AAAA or AAAA-MM-JJ), an INS (or its
    beginning, 5 digits or more) or a name (birth or used family name, given names; accents and case
    ignored)."""
    terms = [t for t in q.split() if t]
    if not terms:
        raise ValidationFailed("Saisissez un nom, une date de naissance ou une INS.", field="q")
    query = select(m.Patient).where(scope).order_by(m.Patient.birth_family, m.Patient.id)  # type: ignore[arg-type]
    names: list[str] = []
    for term in terms:
        when = _query_date(term)
        if when is not None:
            query = query.where(m.Patient.birth_date == when)
        elif re.fullmatch(r"\d{5,15}|\d{5}[0-9AaBb]{2}\d{0,8}", term):
            query = query.where(m.Patient.ins_matricule.like(term.upper() + "%"))
        else:
            names.append(normalise_trait(term))
    hits = []
    for p in uow.session.scalars(query.limit(2000)):
        haystack = " ".join(normalise_trait(x) for x in (p.birth_family, p.used_family, p.birth_given_all,
                                                           p.birth_given_first, p.used_given))
        if all(n in haystack for n in names):
            hits.append(_hit(p))
            if len(hits) >= SEARCH_LIMIT:
                break
    return hits


_MINOR_SECRET = (select(m.Patient.secret_from_legal_representatives)
                 .where(m.Patient.id == bindparam("patient_id")))


def minor_secret(uow: UnitOfWork, patient_id: str) -> bool:
    """Whether the patient (a minor) asked for secrecy from their legal representatives (NotFound in French
    when there is no such patient); the caller has checked the user's scope. One column, not the patient."""
    row = uow.session.connection().execute(_MINOR_SECRET, {"patient_id": patient_id}).first()
    if row is None:
        raise NotFound(f"Patient « {patient_id} » introuvable.")
    return bool(row[0])


def get_patient(uow: UnitOfWork, patient_id: str) -> m.Patient:
    """One patient by id (NotFound in French otherwise); the caller has checked the user's scope."""
    patient = uow.session.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound(f"Patient « {patient_id} » introuvable.")
    return patient
