"""Signed documents also go, through the outbox, to the referring GP and the correspondents by MSSanté:
the real transports of dcc.bootstrap against the DMP simulator and a local SMTP relay, on SQLite and
PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.messaging.transport import recipients_from_cda
from dcc.adapters.messaging.xdm import CDA_NAME, SUBSET
from dcc.bootstrap import delivery_transports, parse_smtp_relay
from dcc.config import Settings
from dcc.errors import ConfigurationError
from dcc.services.consent import record_announcement
from dcc.services.delivery import RetryPolicy, dispatch_pending
from dcc.simulator.app import create_app
from dcc.simulator.mssante import MailSink
from dcc.simulator.server import RunningServer, start_in_thread

FAST = RetryPolicy(max_attempts=5, base_s=0.01, max_s=0.05, lease_s=30)
SENDER = "rcp@000000000.mssante.fr"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA(s) the test's sender identities create there (read at each request)
    with start_in_thread(create_app(trust_store=tmp_path / "var"), log_level="critical") as server:
        yield server


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as running:
        yield running


def _configure(db: Any, sim: RunningServer, relay: str) -> list[str]:
    with db.uow() as uow:
        regions = list(uow.session.scalars(select(m.Region)).all())
        for region in regions:
            region.endpoint = sim.url
            region.mss_relay, region.mss_sender = relay, SENDER if relay else ""
        codes = [r.code for r in regions]
        uow.commit()
    return codes


def _dispatch(db: Any, tmp_path: Path) -> None:
    transports = delivery_transports(db, Settings(var_dir=tmp_path / "var"))  # type: ignore[call-arg]
    try:
        dispatch_pending(db, transports=transports, policy=FAST, max_seconds=60)
    finally:
        for transport in transports.values():
            close = getattr(transport, "close", None)
            if close:
                close()


def _attachments(raw: bytes) -> dict[str, bytes]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return {part.get_filename(): part.get_payload(decode=True)  # type: ignore[misc]
            for part in message.walk() if part.get_filename()}


def test_signed_documents_are_mailed_to_their_recipients_and_reach_the_dmp(
        chain: Any, sim: RunningServer, sink: MailSink, tmp_path: Path) -> None:
    db = chain.db
    (code,) = _configure(db, sim, sink.relay)
    chain.sign_all()
    docs = chain.documents()
    with_recipients = {d.unique_id: d for d in docs if recipients_from_cda(d.cda)}
    assert with_recipients, "the seeded documents name no GP / correspondent with an MSSanté address"
    with db.uow() as uow:
        destinations = {(o.document_id, o.destination) for o in uow.session.scalars(select(m.OutboxMessage))}
    assert {(d.id, f"dmp:{code}") for d in docs} <= destinations
    assert {dst for _, dst in destinations} <= {f"dmp:{code}", f"mss:{code}"}
    assert {doc_id for doc_id, dst in destinations if dst == f"mss:{code}"} == {d.id for d in with_recipients.values()}

    _dispatch(db, tmp_path)

    # one mail per document with recipients, to exactly the CDA's recipients, carrying the very CDA bytes
    mails = sink.messages
    assert len(mails) == len(with_recipients)
    seen: set[str] = set()
    for mail in mails:
        assert mail.mail_from == SENDER
        zipped = _attachments(mail.content)["IHE_XDM.ZIP"]
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            cda = archive.read(f"{SUBSET}/{CDA_NAME}")
        doc = next(d for d in with_recipients.values() if d.cda == cda)
        assert sorted(mail.rcpt_tos) == sorted(addr for addr, _ in recipients_from_cda(doc.cda))
        seen.add(doc.unique_id)
    assert seen == set(with_recipients)

    with db.uow() as uow:
        outbox = [(o.destination, o.state, o.last_error) for o in uow.session.scalars(select(m.OutboxMessage))]
    assert outbox and all(state == "delivered" for _, state, _ in outbox), outbox
    # the DMP deliveries are unaffected: every document in the simulator once, with its bytes
    stored = {e["unique_id"]: e for e in httpx.get(f"{sim.url}/_state", timeout=10).json()}
    assert set(stored) == {d.unique_id for d in docs}
    assert all(stored[d.unique_id]["sha256"] == d.sha256 for d in docs)
    assert all(d.status == "delivered" for d in chain.documents())

    # the announcement updates the DMP's metadata only: secure messaging has nothing to update
    with db.uow() as uow:
        ids = record_announcement(uow, document_id=next(iter(with_recipients.values())).id,
                                  when=docs[0].signed_at, actor="test")  # type: ignore[arg-type]
    with db.uow() as uow:
        updates = [uow.session.get(m.OutboxMessage, i) for i in ids]
        assert updates and all(u is not None and u.destination == f"dmp:{code}" for u in updates)


def test_a_region_without_relay_sends_no_mail(chain: Any, sim: RunningServer, sink: MailSink,
                                              tmp_path: Path) -> None:
    db = chain.db
    (code,) = _configure(db, sim, "")
    chain.sign_all()
    with db.uow() as uow:
        destinations = {o.destination for o in uow.session.scalars(select(m.OutboxMessage))}
    assert destinations == {f"dmp:{code}"}
    assert not any(key.startswith("mss:") for key in delivery_transports(db, Settings(var_dir=tmp_path / "v")))  # type: ignore[call-arg]
    _dispatch(db, tmp_path)
    assert sink.messages == []


def test_relay_setting_is_parsed() -> None:
    assert parse_smtp_relay("smtp://relais.mssante.example:587") == ("relais.mssante.example", 587)
    assert parse_smtp_relay("smtp://127.0.0.1") == ("127.0.0.1", 25)
    for bad in ("http://relais:25", "relais:25", "smtp://relais:port"):
        with pytest.raises(ConfigurationError):
            parse_smtp_relay(bad)


def test_opposition_to_the_dmp_blocks_the_dmp_only_the_care_team_still_gets_the_report(
        chain: Any, sim: RunningServer, sink: MailSink, tmp_path: Path) -> None:
    from dcc.services.consent import record_opposition
    from dcc.services.delivery import REASON_OPPOSITION

    db = chain.db
    (code,) = _configure(db, sim, sink.relay)
    chain.sign_all()
    docs = chain.documents()
    mailed = {d.id for d in docs if recipients_from_cda(d.cda)}
    assert mailed
    with db.uow() as uow:
        blocked = sum(record_opposition(uow, patient_id=pid, actor="sec.test", reason="refus du DMP")
                      for pid in {d.patient_id for d in docs})
    assert blocked == len(docs)  # the DMP submissions only

    _dispatch(db, tmp_path)

    with db.uow() as uow:
        outbox = [(o.destination, o.state, o.hold_reason, o.last_error)
                  for o in uow.session.scalars(select(m.OutboxMessage))]
    assert {dst for dst, *_ in outbox} == {f"dmp:{code}", f"mss:{code}"}
    for destination, state, hold_reason, last_error in outbox:
        if destination == f"dmp:{code}":
            assert state == "blocked" and hold_reason.startswith(REASON_OPPOSITION), state
        else:
            assert state == "delivered", (state, last_error)
    assert httpx.get(f"{sim.url}/_state", timeout=10).json() == []  # nothing reached the DMP
    assert len(sink.messages) == len(mailed)  # the GP and correspondents got the report


def test_who_receives_what_per_document_kind_over_smtp(chain: Any, sim: RunningServer, sink: MailSink,
                                                       tmp_path: Path) -> None:
    """Over the real transports: the Fiche RCP is mailed to the GP and the requesting physician, the PPS to
    the GP (and its care team), never to the document's author/signer; both go to the DMP."""
    db = chain.db
    (code,) = _configure(db, sim, sink.relay)
    chain.sign_all()
    docs = chain.documents()
    people: dict[str, dict[str, str]] = {}  # document id -> role -> MSSanté address (from the directory)
    with db.uow() as uow:
        for d in docs:
            case = uow.session.get(m.Case, d.case_id)
            assert case is not None
            patient = uow.session.get(m.Patient, case.patient_id)
            assert patient is not None
            gp = uow.session.get(m.Professional, patient.referring_gp_id) if patient.referring_gp_id else None
            requester = uow.session.get(m.Professional, case.requester_id)
            author = uow.session.get(m.Professional, d.signer_id)  # the board's responsible: author and signer
            assert requester is not None and author is not None
            people[d.id] = {"gp": gp.mssante if gp else "", "requester": requester.mssante, "author": author.mssante}
        destinations = {(o.document_id, o.destination) for o in uow.session.scalars(select(m.OutboxMessage))}
    assert {(d.id, f"dmp:{code}") for d in docs} <= destinations  # both kinds go to the DMP
    assert all(p["author"] for p in people.values())

    _dispatch(db, tmp_path)

    by_cda = {d.cda: d for d in docs}
    seen_kinds: set[str] = set()
    requester_mailed = 0
    for mail in sink.messages:
        with zipfile.ZipFile(io.BytesIO(_attachments(mail.content)["IHE_XDM.ZIP"])) as archive:
            doc = by_cda[archive.read(f"{SUBSET}/{CDA_NAME}")]
        who = people[doc.id]
        rcpt = {r.lower() for r in mail.rcpt_tos}
        assert who["author"].lower() not in rcpt, (doc.kind, rcpt)
        if who["gp"] and who["gp"] != who["author"]:
            assert who["gp"].lower() in rcpt
        if doc.kind == "FRCP" and who["requester"] != who["author"]:
            assert who["requester"].lower() in rcpt
            requester_mailed += 1
        seen_kinds.add(doc.kind)
    assert seen_kinds == {"FRCP", "PPS"} and requester_mailed  # the checks above were exercised
    # the PPS carries its author's address (as author, and today in its care team), yet is never mailed back
    for d in docs:
        if d.kind == "PPS":
            assert people[d.id]["author"].encode() in d.cda
            assert people[d.id]["author"] not in [a for a, _ in recipients_from_cda(d.cda)]


def test_transports_scoped_to_regions_build_only_theirs(chain: Any, sim: RunningServer, sink: MailSink,
                                                        tmp_path: Path) -> None:
    """A dispatcher on a host that holds one region's certificates builds that region's transports only
    (national record and secure messaging); an unknown or empty scope is refused in French, nothing built."""
    db = chain.db
    (code,) = _configure(db, sim, f"smtp://127.0.0.1:{sink.port}")
    with db.uow() as uow:
        uow.session.add(m.Region(code="ZB", name="Région B", dsrc_id="DSRC-B", dsrc_name="DSRC B", transport="mhd",
                                 endpoint=sim.url, mss_relay=f"smtp://127.0.0.1:{sink.port}", mss_sender=SENDER))
        uow.commit()
    settings = Settings(var_dir=tmp_path / "var")  # type: ignore[call-arg]
    built = []
    for scope in (None, frozenset({code}), frozenset({"ZB"})):
        transports = delivery_transports(db, settings, regions=scope)
        built.append(sorted(transports))
        for transport in transports.values():
            close = getattr(transport, "close", None)
            if close:
                close()
    assert built == [sorted({f"dmp:{code}", f"mss:{code}", "dmp:ZB", "mss:ZB"}),
                     sorted({f"dmp:{code}", f"mss:{code}"}), ["dmp:ZB", "mss:ZB"]]
    for bad, named in ((frozenset({"ZZ", code}), "ZZ"), (frozenset(), "aucune région donnée")):
        with pytest.raises(ConfigurationError) as refused:
            delivery_transports(db, settings, regions=bad)
        assert "Régions de distribution inconnues" in refused.value.message and named in refused.value.message
