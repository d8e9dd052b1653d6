"""SQLAlchemy 2 typed models. Relationships are `lazy="raise"`: every query says what it loads."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


class Region(Base):
    __tablename__ = "region"
    id: Mapped[str] = _id()
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    dsrc_id: Mapped[str] = mapped_column(String(40))  # national DSRC id
    dsrc_name: Mapped[str] = mapped_column(String(200))
    transport: Mapped[str] = mapped_column(String(20), default="xds")  # xds | mhd
    endpoint: Mapped[str] = mapped_column(String(500), default="")
    alsace_moselle: Mapped[bool] = mapped_column(Boolean, default=False)
    # SMTP relay of the region's MSSanté operator, `smtp://host:port` (empty: no secure messaging)
    mss_relay: Mapped[str] = mapped_column(String(300), default="")
    mss_sender: Mapped[str] = mapped_column(String(200), default="")  # sending mailbox (rcp@<finess>.mssante.fr)


class Establishment(Base):
    __tablename__ = "establishment"
    id: Mapped[str] = _id()
    region_id: Mapped[str] = mapped_column(ForeignKey("region.id"))
    finess: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    telecom: Mapped[str] = mapped_column(String(100), default="")
    gestionnaire_id: Mapped[str] = mapped_column(String(40))  # national 3C / RCP-manager id
    gestionnaire_name: Mapped[str] = mapped_column(String(200))
    ipp_oid: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[Region] = relationship(lazy="raise")


class Professional(Base):
    __tablename__ = "professional"
    id: Mapped[str] = _id()
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    login: Mapped[str | None] = mapped_column(String(60), unique=True, nullable=True)
    prefix: Mapped[str] = mapped_column(String(10), default="")
    family: Mapped[str] = mapped_column(String(100))
    given: Mapped[str] = mapped_column(String(100))
    specialty_code: Mapped[str] = mapped_column(String(40))  # JDV_J01
    is_physician: Mapped[bool] = mapped_column(Boolean, default=True)
    establishment_id: Mapped[str] = mapped_column(ForeignKey("establishment.id"))
    telecom: Mapped[str] = mapped_column(String(100), default="")
    mssante: Mapped[str] = mapped_column(String(200), default="")
    establishment: Mapped[Establishment] = relationship(lazy="raise")


class Patient(Base):
    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("ins_matricule", "ins_oid"),)
    id: Mapped[str] = _id()
    # INS (0007): absent while the INS is not (yet) retrieved; such a patient is never sent to the DMP
    ins_matricule: Mapped[str | None] = mapped_column(String(15), nullable=True)
    ins_oid: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ins_qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    birth_family: Mapped[str] = mapped_column(String(100))
    birth_given_first: Mapped[str] = mapped_column(String(100))
    birth_given_all: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    birthplace_insee: Mapped[str] = mapped_column(String(5))
    birthplace_city: Mapped[str] = mapped_column(String(100), default="")
    used_family: Mapped[str] = mapped_column(String(100), default="")
    used_given: Mapped[str] = mapped_column(String(100), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    referring_gp_id: Mapped[str | None] = mapped_column(ForeignKey("professional.id"), nullable=True)
    dmp_opposition: Mapped[bool] = mapped_column(Boolean, default=False)
    # 0010: a minor asked that their health information be kept secret from their legal representatives (CSP
    # art. L1111-5): documents go to the DMP with INVISIBLE_REPRESENTANTS_LEGAUX (recorded, never inferred)
    secret_from_legal_representatives: Mapped[bool] = mapped_column(Boolean, default=False,
                                                                    server_default=false())


class PatientIdentifier(Base):
    """IPP of a patient in one establishment."""

    __tablename__ = "patient_identifier"
    __table_args__ = (UniqueConstraint("establishment_id", "ipp"),)
    id: Mapped[str] = _id()
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    establishment_id: Mapped[str] = mapped_column(ForeignKey("establishment.id"))
    ipp: Mapped[str] = mapped_column(String(40))


class Board(Base):
    __tablename__ = "board"
    id: Mapped[str] = _id()
    establishment_id: Mapped[str] = mapped_column(ForeignKey("establishment.id"))
    rcp_id: Mapped[str] = mapped_column(String(40), unique=True)  # national RCP directory id
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # organ | transversal
    appareil_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    organe_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    transversal_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    recours: Mapped[bool] = mapped_column(Boolean, default=False)
    pediatric: Mapped[bool] = mapped_column(Boolean, default=False)
    recurrence: Mapped[str] = mapped_column(String(200))  # RFC 5545 RRULE
    start_time: Mapped[str] = mapped_column(String(5))  # HH:MM, Europe/Paris
    duration_min: Mapped[int] = mapped_column(Integer, default=90)
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    deadline_working_days: Mapped[int] = mapped_column(Integer, default=2)
    place: Mapped[str] = mapped_column(String(200), default="")
    video_link: Mapped[str] = mapped_column(String(500), default="")
    required_specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    responsible_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))
    coordinator_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # 0009: deactivated
    establishment: Mapped[Establishment] = relationship(lazy="raise")


class BoardMember(Base):
    __tablename__ = "board_member"
    __table_args__ = (UniqueConstraint("board_id", "professional_id"),)
    id: Mapped[str] = _id()
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id"))
    professional_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))


class Session(Base):
    __tablename__ = "session"
    __table_args__ = (UniqueConstraint("board_id", "occurrence"),)
    id: Mapped[str] = _id()
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id"))
    occurrence: Mapped[datetime] = mapped_column(UTCDateTime)  # rule occurrence (identity for idempotency)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registration_deadline: Mapped[date] = mapped_column(Date)
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="planned")  # planned|held|validated|cancelled
    quorum: Mapped[str] = mapped_column(String(10), default="unknown")  # met|not_met|unknown
    quorum_detail: Mapped[list[str]] = mapped_column(JSON, default=list)


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "professional_id"),)
    id: Mapped[str] = _id()
    session_id: Mapped[str] = mapped_column(ForeignKey("session.id"))
    professional_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))
    mode: Mapped[str] = mapped_column(String(10))  # present | remote | absent


class Case(Base):
    __tablename__ = "rcp_case"
    # a session's cases (agenda, load counts) and a patient's cases (case page, identity) are read by these
    __table_args__ = (Index("ix_rcp_case_session_id", "session_id"), Index("ix_rcp_case_patient_id", "patient_id"))
    id: Mapped[str] = _id()
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("session.id"), nullable=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))
    presenter_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))
    topography_code: Mapped[str] = mapped_column(String(20))  # ICD-10 (JDV_Tumeur_CISIS)
    morphology_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    tnm_t: Mapped[str | None] = mapped_column(String(10), nullable=True)
    tnm_n: Mapped[str | None] = mapped_column(String(10), nullable=True)
    tnm_m: Mapped[str | None] = mapped_column(String(10), nullable=True)
    tnm_edition: Mapped[int | None] = mapped_column(Integer, nullable=True)  # UICC edition (e.g. 8)
    tnm_stage: Mapped[str | None] = mapped_column(String(10), nullable=True)  # UICC stage group (IA, IIIB...)
    laterality: Mapped[str | None] = mapped_column(String(12), nullable=True)  # droite|gauche|bilaterale|non_precisee
    diagnosis_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # None: unknown
    phase: Mapped[str] = mapped_column(String(10), default="initial")  # initial | relapse
    performance_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    motive: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    discovery_mode: Mapped[str] = mapped_column(String(200), default="")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    earliest_date: Mapped[date] = mapped_column(Date)
    standard: Mapped[bool] = mapped_column(Boolean, default=False)
    referential_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    referential_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    referential_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    required_specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|assigned|decided|represented
    registration_number: Mapped[str] = mapped_column(String(40), default="")
    assignment_reason: Mapped[str] = mapped_column(Text, default="")
    withdrawal_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")  # 0009
    not_ready: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # fields missing for the documents (French labels), set when generation refuses the case, cleared after
    documents_missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    # 0007: the case entry this one re-presents (its session had no quorum: INCa, a valid RCP needs its
    # quorum); the re-presented entry has status "represented"
    represented_from_id: Mapped[str | None] = mapped_column(ForeignKey("rcp_case.id"), nullable=True,
                                                            index=True)
    # 0010: the day the first treatment started, entered afterwards by the care team or imported (None: not
    # known, « non renseigné »), who recorded it and when
    first_treatment_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    first_treatment_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    first_treatment_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Decision(Base):
    __tablename__ = "decision"
    __table_args__ = (Index("ix_decision_session_id", "session_id"),)
    id: Mapped[str] = _id()
    case_id: Mapped[str] = mapped_column(ForeignKey("rcp_case.id"), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("session.id"))
    case_status: Mapped[str] = mapped_column(String(12))  # discussed | registered
    proposal_codes: Mapped[list[str]] = mapped_column(JSON, default=list)  # JDV_TypeTraitement_FRCP
    proposal_text: Mapped[str] = mapped_column(Text, default="")
    # drugs (ATC, UCD) and acts (CCAM) the proposal names (0011): [{kind, system, code, code_system, label,
    # version, version_id, atc}], each with the referential version in force when it was entered
    proposal_entries: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    conform_to_referential: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    departure_justification: Mapped[str] = mapped_column(Text, default="")
    trial_proposed: Mapped[bool] = mapped_column(Boolean, default=False)
    trial_name: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    quorum: Mapped[str] = mapped_column(String(10), default="unknown")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)


class Document(Base):
    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("set_id", "version"),)
    id: Mapped[str] = _id()
    case_id: Mapped[str] = mapped_column(ForeignKey("rcp_case.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    kind: Mapped[str] = mapped_column(String(8))  # FRCP | PPS | N1 (a shared attachment, dcc.services.sharing)
    set_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    unique_id: Mapped[str] = mapped_column(String(100), unique=True)
    cda: Mapped[bytes] = mapped_column(LargeBinary)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))  # of the CDA bytes
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    template_version: Mapped[str] = mapped_column(String(60))
    signer_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))  # responsible physician
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replaces_id: Mapped[str | None] = mapped_column(ForeignKey("document.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # visibility and consent (0002): not frozen by signature, they drive the submission's confidentiality
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # announcement consultation
    masked_ps: Mapped[bool] = mapped_column(Boolean, default=False)  # patient asked MASQUE_PS


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (UniqueConstraint("document_id", "destination", "kind"),
                      Index("ix_outbox_message_state_next", "state", "next_attempt_at"))
    id: Mapped[str] = _id()
    document_id: Mapped[str] = mapped_column(ForeignKey("document.id"))
    destination: Mapped[str] = mapped_column(String(60))  # e.g. dmp:<region code>
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|delivered|dead|held|blocked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(60), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 0002: submission or metadata update; why a message is held/blocked (French, shown); the extra
    # confidentiality codes frozen at the first attempt (space-separated; None: never attempted)
    kind: Mapped[str] = mapped_column(String(20), default="submit")  # submit | metadata_update
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    confidentiality: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_message_id", "message_id"),)
    id: Mapped[str] = _id()
    message_id: Mapped[str] = mapped_column(ForeignKey("outbox_message.id"))
    destination: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(12))  # delivered | transient | permanent
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[str] = mapped_column(String(80), default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    # 0002: which dispatcher sent, and when the send started (`at` is when it ended)
    owner: Mapped[str] = mapped_column(String(60), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("lane", "lane_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(100))
    patient_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")
    # 0007: written with the entry, in the writer's lane (see AuditLane); `seal_seq`, `prev_hash` and `hash`
    # are set once by the sealer, which links the entry into the single chain (dcc.services.audit).
    lane: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lane_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lane_hash: Mapped[str] = mapped_column(String(64), default="")
    seal_seq: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)



# ------------------------------------------------------------------ users, break-the-glass, audit head (0003)


class AppUser(Base):
    """A person who logs in: role and scope. Physicians are linked to their directory entry (RPPS)."""

    __tablename__ = "app_user"
    id: Mapped[str] = _id()
    login: Mapped[str] = mapped_column(String(60), unique=True)
    role: Mapped[str] = mapped_column(String(12))  # coordinator | physician | ide | monitor | admin
    region_id: Mapped[str | None] = mapped_column(ForeignKey("region.id"), nullable=True)
    establishment_id: Mapped[str | None] = mapped_column(ForeignKey("establishment.id"), nullable=True)
    professional_id: Mapped[str | None] = mapped_column(ForeignKey("professional.id"), nullable=True,
                                                        unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PpsPlan(Base):
    """The personalised care plan (PPS) the care team authors after a discussed decision (0007).

    `status`: authoring (being completed) | submitted (rendered, in the responsible physician's queue or
    signed). `handed_at` (GEN-178) is recorded after the consultation where the plan is given to the patient.
    """

    __tablename__ = "pps_plan"
    id: Mapped[str] = _id()
    case_id: Mapped[str] = mapped_column(ForeignKey("rcp_case.id"), unique=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decision.id"))
    status: Mapped[str] = mapped_column(String(12), default="authoring")  # authoring | submitted
    referent_id: Mapped[str] = mapped_column(ForeignKey("professional.id"))  # board responsible
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    handed_at: Mapped[date | None] = mapped_column(Date, nullable=True)  # GEN-178
    # the last rendered PPS (informational, no foreign key: an unsigned draft may be deleted and regenerated)
    document_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PpsItem(Base):
    """One line of a PPS plan: a planned treatment, a follow-up, a supportive care or a social support."""

    __tablename__ = "pps_item"
    __table_args__ = (Index("ix_pps_item_plan_id", "plan_id"),)
    id: Mapped[str] = _id()
    plan_id: Mapped[str] = mapped_column(ForeignKey("pps_plan.id"))
    category: Mapped[str] = mapped_column(String(12))  # treatment | follow_up | supportive | social
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(40))  # in the category's value set
    start: Mapped[date | None] = mapped_column(Date, nullable=True)
    end: Mapped[date | None] = mapped_column(Date, nullable=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    responsible_id: Mapped[str | None] = mapped_column(ForeignKey("professional.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")


class BreakGlass(Base):
    """A time-limited access of a physician outside the care team to a patient's record."""

    __tablename__ = "break_glass"
    __table_args__ = (Index("ix_break_glass_user_patient", "user_id", "patient_id"),)
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    reason_code: Mapped[str] = mapped_column(String(20))
    reason_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditHead(Base):
    """Single row: the last audit entry's id and hash and the entry count, updated in the same transaction as
    every append (detects truncation of the chain's tail; serialises writers)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)


class AuditLane(Base):
    """One write lane of the audit log (0007): the number and hash of its last entry. A transaction that
    audits locks one free lane (not one global row), numbers its entries in it and chains them there; the
    lanes let `verify_chain` detect a deleted or truncated entry before the sealer has chained it."""

    __tablename__ = "audit_lane"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")


class CalendarToken(Base):
    """A per-user calendar subscription (0009): calendar clients poll `/agenda/<token>.ics` without a session
    cookie; only the token's SHA-256 is stored; read-only and revocable."""

    __tablename__ = "calendar_token"
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MeetingGuest(Base):
    """A guest on a session's sign-in sheet (0009): an external expert, a resident… Guests attend the
    discussion but never count for the quorum (only the board's members do)."""

    __tablename__ = "meeting_guest"
    __table_args__ = (Index("ix_meeting_guest_session_id", "session_id"),)
    id: Mapped[str] = _id()
    session_id: Mapped[str] = mapped_column(ForeignKey("session.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))  # expert | resident | other
    affiliation: Mapped[str] = mapped_column(String(200), default="")  # specialty, establishment
    mode: Mapped[str] = mapped_column(String(10), default="present")  # present | remote
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

from dcc.adapters.db.guards import install_guards  # noqa: E402  (listeners need the models above)

install_guards()


# ------------------------------------------------------------------ referentials (0009)

# PostgreSQL compares search tokens byte-wise ("C" collation) so that a prefix is an index range scan
_TOKEN = String(80).with_variant(String(80, collation="C"), "postgresql")


class ReferentialVersion(Base):
    """One imported version of a referential (value set, terminology, drugs, regional guidelines), with the
    diff report against the version it replaced (`diff`: added, retired, relabelled codes)."""

    __tablename__ = "referential_version"
    __table_args__ = (Index("ix_referential_version_system", "system", "imported_at"),)
    id: Mapped[str] = _id()
    system: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(12))  # value_set | terminology | drugs | guidelines
    oid: Mapped[str] = mapped_column(String(80), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(60))
    effective_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64))
    concept_count: Mapped[int] = mapped_column(Integer, default=0)
    diff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferentialConcept(Base):
    """A code of a referential; `active` False once a later version retired it (the row stays: old cases
    and documents keep pointing at it and are flagged)."""

    __tablename__ = "referential_concept"
    __table_args__ = (UniqueConstraint("system", "code"), Index("ix_referential_concept_active", "active", "code"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(80))
    code: Mapped[str] = mapped_column(String(80))
    code_system: Mapped[str] = mapped_column(String(80), default="")
    label: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("referential_version.id"))  # last version that changed it
    retired_version_id: Mapped[str | None] = mapped_column(ForeignKey("referential_version.id"), nullable=True)


class ReferentialToken(Base):
    """Search index: one row per normalised word of an active concept's code and label (dcc.domain.
    referentials.tokens). `weight`: 3 the code, 2 the label's first word, 1 another word; `label_len` is the
    concept's label length (a tie-break). The search reads it through (concept_id, token, weight): a query's
    second and further words are probed on each candidate of the first; the prefix rows are built from it."""

    __tablename__ = "referential_token"
    __table_args__ = (Index("ix_referential_token_concept", "concept_id", "token", "weight"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(80))
    token: Mapped[str] = mapped_column(_TOKEN)
    concept_id: Mapped[int] = mapped_column(ForeignKey("referential_concept.id", ondelete="CASCADE"))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    label_len: Mapped[int] = mapped_column(Integer, default=0)


class ReferentialPrefix(Base):
    """Search index by prefix (0010_referential_prefix, 0011_referential_search): one row per concept and
    prefix of one of its tokens, with the concept's score for a query word equal to that prefix (the best of
    its tokens starting with it: weight × 10, + 5 when the token is the whole word) stored as `penalty` =
    40 - score. The primary key (system, prefix, penalty, label_len, concept_id) is the only index: it lists a
    word's concepts best first, so a query stops after the first `limit` rows. A derived table (rebuilt from
    the tokens by the import): no foreign key nor second index, whose upkeep made importing 40,000 codes take
    minutes; a concept's rows are deleted by their full key, computed from its tokens. SQLite stores it
    WITHOUT ROWID (the key is the table: one b-tree)."""

    __tablename__ = "referential_prefix"
    __table_args__ = ({"sqlite_with_rowid": False},)
    system: Mapped[str] = mapped_column(String(80), primary_key=True)
    prefix: Mapped[str] = mapped_column(_TOKEN, primary_key=True)
    penalty: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    label_len: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    concept_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class RegionalGuideline(Base):
    """The catalogue of regional guidelines a decision may declare conformity to."""

    __tablename__ = "regional_guideline"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(40))
    guideline_date: Mapped[date] = mapped_column(Date)
    organ: Mapped[str] = mapped_column(String(40), default="")  # JDV_RCP_Organe_CISIS code; empty: any organ
    url: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("referential_version.id"))


# ------------------------------------------------------------------ case attachments (0009_attachments)


class Attachment(Base):
    """A PDF or JPEG attached to a case (pathology or imaging report, letter), checked and cleaned on upload
    (dcc.adapters.attachments), stored with its SHA-256; immutable once the case is discussed."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_case_id", "case_id"),)
    id: Mapped[str] = _id()
    case_id: Mapped[str] = mapped_column(ForeignKey("rcp_case.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    category: Mapped[str] = mapped_column(String(12))  # pathology | imaging | letter | other
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(40))  # application/pdf | image/jpeg
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    viewer_url: Mapped[str] = mapped_column(String(500), default="")  # region's image viewer (no DICOM stored)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 0010: the N1 document it was shared to the national record as (once: unique)
    shared_document_id: Mapped[str | None] = mapped_column(ForeignKey("document.id"), unique=True, nullable=True)


class GenerationTask(Base):
    """A "documents due" row (0009): the validation of a quorate session writes one per decided case in its
    own transaction; `generate_pending_documents` drains them under leases, with retries and a dead letter
    (dcc.services.generation). The row, not a background task nor Prefect's run state, is the truth."""

    __tablename__ = "generation_task"
    __table_args__ = (Index("ix_generation_task_state_next", "state", "next_attempt_at"),)
    id: Mapped[str] = _id()
    case_id: Mapped[str] = mapped_column(ForeignKey("rcp_case.id"), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("session.id"))
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id"))  # the scope of who may see its dead letter
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|leased|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims so far (a drain that died counts)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(60), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")  # French, shown to monitors
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IndicatorMonth(Base):
    """The network's indicators of one board for one month (0010), written by the nightly flow
    (dcc.services.indicator_table); re-computing a month replaces its rows. `delays_*`: the day counts, sorted
    (no patient, no case id), so that medians and p90 of any group are exact."""

    __tablename__ = "indicator_month"
    __table_args__ = (UniqueConstraint("board_id", "month"), Index("ix_indicator_month_month", "month"))
    id: Mapped[str] = _id()
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id"))
    month: Mapped[date] = mapped_column(Date)  # first day of the month
    new_cases: Mapped[int] = mapped_column(Integer, default=0)
    re_presentations: Mapped[int] = mapped_column(Integer, default=0)
    sessions_held: Mapped[int] = mapped_column(Integer, default=0)
    quorum_met: Mapped[int] = mapped_column(Integer, default=0)
    quorum_unknown: Mapped[int] = mapped_column(Integer, default=0)
    opinions: Mapped[int] = mapped_column(Integer, default=0)
    discussed: Mapped[int] = mapped_column(Integer, default=0)
    registered_only: Mapped[int] = mapped_column(Integer, default=0)
    conform_yes: Mapped[int] = mapped_column(Integer, default=0)
    conform_no: Mapped[int] = mapped_column(Integer, default=0)
    conform_missing: Mapped[int] = mapped_column(Integer, default=0)
    trial_proposed: Mapped[int] = mapped_column(Integer, default=0)
    before_treatment: Mapped[int] = mapped_column(Integer, default=0)
    after_treatment: Mapped[int] = mapped_column(Integer, default=0)
    treatment_missing: Mapped[int] = mapped_column(Integer, default=0)
    diagnosis_missing: Mapped[int] = mapped_column(Integer, default=0)
    dmp_expected: Mapped[int] = mapped_column(Integer, default=0)
    dmp_within_7d: Mapped[int] = mapped_column(Integer, default=0)
    dmp_late: Mapped[int] = mapped_column(Integer, default=0)
    dmp_not_delivered: Mapped[int] = mapped_column(Integer, default=0)
    dead_letters: Mapped[int] = mapped_column(Integer, default=0)
    delays_diagnosis_rcp: Mapped[list[int]] = mapped_column(JSON, default=list)
    delays_rcp_treatment: Mapped[list[int]] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
