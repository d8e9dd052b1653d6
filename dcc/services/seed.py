"""Deterministic synthetic data for the demo: regions, establishments, professionals, boards, patients.

Same seed, same data. Running it again reuses what exists (matched on national identifiers), so a second
demo run adds new cases without errors.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from dcc.adapters.db import models as m
from dcc.adapters.db import repositories as repo
from dcc.demo import data
from dcc.domain.identifiers import mailbox_part, nir_key, validate_finess, with_luhn_key
from dcc.services.uow import UnitOfWork

TEST_INS_OID = "1.2.250.1.213.1.4.10"
NURSE = "G15_60"  # JDV_J01_XdsAuthorSpecialty_CISIS: Infirmier


@dataclass
class SeedResult:
    regions: list[str] = field(default_factory=list)  # region codes
    boards: list[str] = field(default_factory=list)  # board ids
    patients: list[str] = field(default_factory=list)  # patient ids


def _rpps(rng: random.Random) -> str:
    return with_luhn_key("10" + "".join(rng.choice("0123456789") for _ in range(8)))


def _finess(rng: random.Random, dept: str) -> str:
    return with_luhn_key(dept + "0" + "".join(rng.choice("0123456789") for _ in range(5)))


def _get_or_add_professional(uow: UnitOfWork, rng: random.Random, est: m.Establishment, specialty: str,
                             *, login: str | None = None, physician: bool = True) -> m.Professional:
    rpps = _rpps(rng)
    female = rng.random() < 0.5
    given = rng.choice(data.GIVEN_F if female else data.GIVEN_M)
    family = rng.choice(data.FAMILY_NAMES)
    telecom = "tel:0" + "".join(rng.choice("0123456789") for _ in range(9))  # drawn first: same sequence
    existing = repo.professional_by_rpps(uow.session, rpps)
    if existing is not None:
        return existing
    p = m.Professional(
        rpps=rpps, login=login, prefix="MME" if female else "M", family=family, given=given,
        specialty_code=specialty, is_physician=physician, establishment_id=est.id,
        telecom=telecom,
        mssante=f"{mailbox_part(given)}.{mailbox_part(family)}@{est.finess}.mssante.fr",
    )
    uow.session.add(p)
    uow.session.flush()
    return p


def seed_directory(uow: UnitOfWork, *, seed: int, regions: int) -> SeedResult:
    """Regions, establishments, professionals and boards (every kind) for `regions` regions."""
    if not 1 <= regions <= len(data.REGIONS):
        from dcc.errors import ValidationFailed

        raise ValidationFailed(f"Le nombre de régions doit être entre 1 et {len(data.REGIONS)}.", field="regions")
    rng = random.Random(f"directory-{seed}")
    result = SeedResult()
    board_templates = data.BOARDS
    for r_index, spec in enumerate(data.REGIONS[:regions]):
        region = repo.region_by_code(uow.session, str(spec["code"]))
        if region is None:
            region = m.Region(code=spec["code"], name=spec["name"], dsrc_id=spec["dsrc_id"],
                              dsrc_name=spec["dsrc_name"], alsace_moselle=spec["alsace_moselle"],
                              transport="xds" if r_index % 2 == 0 else "mhd")
            uow.session.add(region)
            uow.session.flush()
        result.regions.append(region.code)
        establishments: list[m.Establishment] = []
        for e_index, (name, town_index, dept) in enumerate(spec["establishments"]):
            insee, city, postal = data.TOWNS[town_index]
            finess = validate_finess(_finess(rng, dept))
            street = f"{rng.randint(1, 90)} {rng.choice(data.STREETS)}"
            telecom = "tel:0" + "".join(rng.choice("0123456789") for _ in range(9))
            est = repo.establishment_by_finess(uow.session, finess)
            if est is None:
                est = m.Establishment(
                    region_id=region.id, finess=finess, name=name, street=street, postal_code=postal, city=city,
                    telecom=telecom,
                    gestionnaire_id=f"{spec['dsrc_id']}{e_index + 1:02d}",
                    gestionnaire_name=f"3C {name}", ipp_oid=f"1.2.250.1.999.{finess}.1",
                )
                uow.session.add(est)
                uow.session.flush()
            establishments.append(est)
        code = str(spec["code"]).lower()
        staff: dict[str, list[m.Professional]] = {}
        for e_index, est in enumerate(establishments):
            def add(spec_code: str, login: str | None = None, _est: m.Establishment = est,
                    _staff: dict[str, list[m.Professional]] = staff) -> m.Professional:
                p = _get_or_add_professional(uow, rng, _est, spec_code, login=login)
                _staff.setdefault(spec_code, []).append(p)
                return p

            add(data.MEDICAL_ONCOLOGIST, f"phys-{code}{e_index + 1}")
            add(data.MEDICAL_ONCOLOGIST, f"coord-{code}" if e_index == 0 else None)
            add(data.RADIOTHERAPIST)
            add(data.PATHOLOGIST)
            add(data.RADIOLOGIST)
            for surgeon in sorted(set(data.SURGEON_BY_ORGAN.values())):
                add(surgeon)
            add(data.GENETICIST)
            add(data.GERIATRICIAN)
            add(data.PEDIATRICIAN)
            for _ in range(2):
                add(data.GP)
        # Boards: the first three organ boards in every region, plus rotating extra kinds.
        chosen = board_templates[:3] + [board_templates[3 + (r_index % 5)]]
        if r_index == 0:
            chosen += [board_templates[6]]  # recours
        if r_index == 1 or regions == 1:
            chosen += [board_templates[7]]  # paediatric
        if r_index == 0:
            chosen += [board_templates[4]]  # transversal
        seen: set[str] = set()
        for b_index, tpl in enumerate(chosen):
            if tpl["name"] in seen:
                continue
            seen.add(str(tpl["name"]))
            est = establishments[b_index % len(establishments)]
            rcp_id = f"{est.gestionnaire_id}{b_index + 1:02d}"
            board = repo.board_by_rcp_id(uow.session, rcp_id)
            if board is None:
                responsible = staff[data.MEDICAL_ONCOLOGIST][0]
                coordinator = staff[data.MEDICAL_ONCOLOGIST][1]
                organ = str(tpl.get("appareil", ""))
                surgeon_code = data.SURGEON_BY_ORGAN.get(organ)
                required = [data.MEDICAL_ONCOLOGIST, data.RADIOTHERAPIST]
                if tpl["kind"] == "organ" and surgeon_code:
                    required.insert(0, surgeon_code)
                board = m.Board(
                    establishment_id=est.id, rcp_id=rcp_id, name=f"RCP {tpl['name']}", kind=tpl["kind"],
                    appareil_code=tpl.get("appareil"), organe_code=tpl.get("organe"),
                    transversal_code=tpl.get("transversal"), recours=bool(tpl.get("recours")),
                    pediatric=bool(tpl.get("pediatric")), recurrence=tpl["rrule"], start_time=tpl["time"],
                    duration_min=90, capacity=12, deadline_working_days=2,
                    place=f"Salle de staff, {est.name}",
                    video_link=f"https://visio.example.invalid/rcp/{rcp_id}",
                    required_specialties=required if tpl["kind"] == "organ" else [],
                    responsible_id=responsible.id, coordinator_id=coordinator.id,
                )
                uow.session.add(board)
                uow.session.flush()
                members = [responsible, coordinator, staff[data.RADIOTHERAPIST][0],
                           staff[data.PATHOLOGIST][0], staff[data.RADIOLOGIST][0]]
                if surgeon_code:
                    members.append(staff[surgeon_code][0])
                if tpl["kind"] == "transversal":
                    members.append(staff[data.GENETICIST][0])
                    members.append(staff[data.GERIATRICIAN][0])
                if tpl.get("pediatric"):
                    members.append(staff[data.PEDIATRICIAN][0])
                for prof in {p.id: p for p in members}.values():
                    uow.session.add(m.BoardMember(board_id=board.id, professional_id=prof.id))
                uow.session.flush()
            result.boards.append(board.id)
    return result


def _nir(rng: random.Random, sex: str, birth: date, insee: str) -> str:
    order = f"{rng.randint(1, 999):03d}"
    first13 = f"{'1' if sex == 'M' else '2'}{birth.year % 100:02d}{birth.month:02d}{insee}{order}"
    return first13 + nir_key(first13)


def seed_patients(uow: UnitOfWork, *, seed: int, count: int, region_codes: list[str]) -> list[str]:
    """`count` patients with a qualified test INS, strict traits, an IPP and a referring GP."""
    rng = random.Random(f"patients-{seed}")
    ids: list[str] = []
    gps = list(uow.session.query(m.Professional).filter(m.Professional.specialty_code == data.GP)
               .order_by(m.Professional.rpps))
    establishments = list(uow.session.query(m.Establishment).order_by(m.Establishment.finess))
    for i in range(count):
        sex = "F" if rng.random() < 0.55 else "M"
        birth = date(rng.randint(1938, 1995), rng.randint(1, 12), rng.randint(1, 28))
        if i % 17 == 16:
            birth = date(rng.randint(2012, 2020), rng.randint(1, 12), rng.randint(1, 28))  # paediatric
        insee, city, postal = rng.choice(data.TOWNS)
        family = rng.choice(data.FAMILY_NAMES)
        first = rng.choice(data.GIVEN_F if sex == "F" else data.GIVEN_M)
        second = rng.choice(data.SECOND_GIVEN)
        matricule = _nir(rng, sex, birth, insee)
        street = f"{rng.randint(1, 120)} {rng.choice(data.STREETS)}"
        gp = rng.choice(gps).id if gps else None
        ipp_draws = [rng.random() for _ in establishments]
        patient = repo.patient_by_ins(uow.session, matricule, TEST_INS_OID)
        if patient is None:
            patient = m.Patient(
                ins_matricule=matricule, ins_oid=TEST_INS_OID, ins_qualified=True,
                birth_family=family, birth_given_first=first.upper(), birth_given_all=f"{first} {second}".upper(),
                birth_date=birth, sex=sex, birthplace_insee=insee, birthplace_city=city,
                used_family=family, used_given=first,
                street=street, postal_code=postal, city=city, referring_gp_id=gp,
            )
            uow.session.add(patient)
            uow.session.flush()
            for est, draw in zip(establishments, ipp_draws, strict=True):
                if draw < 0.7 or est is establishments[0]:
                    uow.session.add(m.PatientIdentifier(patient_id=patient.id, establishment_id=est.id,
                                                        ipp=f"{est.finess[-4:]}-{seed}-{i:05d}"))
            uow.session.flush()
        ids.append(patient.id)
    return ids


def seed_users(uow: UnitOfWork, *, region_codes: list[str]) -> list[str]:
    """The demo users, for every seeded region X (lower-case x in logins): `coord-x` (coordinator of the 3C of
    their establishment), `phys-x1` and `phys-x2` (physicians; `phys-x2` is made a member of their
    establishment's boards), `ide-x` (coordinating nurse of the 3C's establishment, a non-physician directory
    entry), `monitor-x` (regional monitor); and `admin`. Physicians and coordinators are
    linked to the directory entries bearing their login. Idempotent: existing logins are kept as they are.
    Returns the logins."""
    logins: list[str] = []

    def add(login: str, role: str, *, region: m.Region | None, prof: m.Professional | None = None,
            establishment_id: str | None = None, display_name: str = "") -> None:
        logins.append(login)
        if uow.session.query(m.AppUser).filter(m.AppUser.login == login).one_or_none() is not None:
            return
        name = display_name or (f"Dr {prof.given} {prof.family}" if prof else login)
        uow.session.add(m.AppUser(login=login, role=role, region_id=region.id if region else None,
                                  establishment_id=establishment_id,
                                  professional_id=prof.id if prof else None, display_name=name, active=True))
        uow.session.flush()

    for code in region_codes:
        region = repo.region_by_code(uow.session, code)
        if region is None:
            continue
        low = code.lower()
        by_login = {p.login: p for p in uow.session.query(m.Professional)
                    .filter(m.Professional.login.in_([f"coord-{low}", f"phys-{low}1", f"phys-{low}2"]))}
        coord = by_login.get(f"coord-{low}")
        if coord is not None:
            add(f"coord-{low}", "coordinator", region=region, prof=coord, establishment_id=coord.establishment_id)
        for n in (1, 2):
            phys = by_login.get(f"phys-{low}{n}")
            if phys is None:
                continue
            add(f"phys-{low}{n}", "physician", region=region, prof=phys)
            if n == 2:  # sits on the boards of their establishment
                boards = uow.session.query(m.Board).filter(m.Board.establishment_id == phys.establishment_id)
                for board in boards:
                    exists = (uow.session.query(m.BoardMember)
                              .filter(m.BoardMember.board_id == board.id,
                                      m.BoardMember.professional_id == phys.id).one_or_none())
                    if exists is None:
                        uow.session.add(m.BoardMember(board_id=board.id, professional_id=phys.id))
                uow.session.flush()
        if coord is not None:  # a coordinating nurse of the 3C's establishment (authors PPS, never signs)
            coord_est = uow.session.get(m.Establishment, coord.establishment_id)
            assert coord_est is not None
            ide = uow.session.query(m.Professional).filter(m.Professional.login == f"ide-{low}").one_or_none()
            if ide is None:
                ide = _get_or_add_professional(uow, random.Random(f"ide-{code}"), coord_est, NURSE,
                                               login=f"ide-{low}", physician=False)
            add(f"ide-{low}", "ide", region=region, prof=ide, establishment_id=coord_est.id,
                display_name=f"{ide.given} {ide.family} (IDE de coordination)")
        add(f"monitor-{low}", "monitor", region=region, display_name=f"Observateur régional {region.name}")
    add("admin", "admin", region=None, display_name="Administrateur dcc")
    return logins
