"""The outbox dispatcher against the DMP simulator over real HTTP, on SQLite and PostgreSQL: retries with
backoff, ambiguous failures, outage with Retry-After, permanent errors, leases, circuit breaker, concurrent
dispatchers, requeue of a dead letter."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dcc.adapters.db import models as m
from dcc.adapters.national_record import XdsTransport, entry_from_cda, make_demo_identity
from dcc.errors import Conflict
from dcc.services.audit import verify_chain
from dcc.services.delivery import (
    CircuitBreaker,
    RetryPolicy,
    claim,
    dispatch_pending,
    reconcile_leases,
    region_destinations,
    requeue,
)
from dcc.services.uow import Database
from dcc.simulator.app import create_app
from dcc.simulator.samples import sample_cda
from dcc.simulator.server import RunningServer, start_in_thread
from tests.services.delivery_worker import (
    DESTINATION,
    attempts,
    documents,
    make_documents,
    outbox,
    seed_cases,
    transport,
)

FAST = RetryPolicy(max_attempts=30, base_s=0.01, max_s=0.05, lease_s=30)


@pytest.fixture
def identity_dir(tmp_path: Path) -> Path:
    return tmp_path / "identity"


def simulator(trust_store: Path, faults: str = "", dump_dir: Path | None = None,
              monotonic: Callable[[], float] = time.monotonic) -> RunningServer:
    """The DMP simulator trusting the demo CA(s) created under `trust_store` by the tests' sender identities;
    its outages are counted on `monotonic`."""
    return start_in_thread(create_app(faults=faults or None, dump_dir=dump_dir, trust_store=trust_store,
                                      monotonic=monotonic), log_level="critical")


class TestClock:
    """The time of a test, shared by the dispatcher (instants, circuit breaker, sleeps) and the simulator
    (outage): it starts at the real time and moves only when the dispatcher sleeps (or the test says so),
    so waits cost nothing and every instant the test compares is exact."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.elapsed = 0.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self.elapsed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.elapsed += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


@pytest.fixture
def sim(identity_dir: Path) -> Iterator[RunningServer]:
    with simulator(identity_dir) as server:
        yield server


def state(server: RunningServer) -> dict[str, dict]:
    return {d["unique_id"]: d for d in httpx.get(f"{server.url}/_state", timeout=10).json()}


def set_faults(server: RunningServer, spec: str) -> None:
    httpx.post(f"{server.url}/_faults", content=spec, timeout=10).raise_for_status()


def endpoint(server: RunningServer) -> str:
    return f"{server.url}/xds/iti41"


def assert_exactly_once(db: Database, server: RunningServer) -> dict[str, dict]:
    """Every signed document is in the simulator exactly once, with its hash and its very bytes."""
    stored = state(server)
    docs = documents(db)
    assert {d.unique_id for d in docs} == set(stored)
    for doc in docs:
        assert stored[doc.unique_id]["sha256"] == doc.sha256
        assert httpx.get(f"{server.url}/_documents/{doc.unique_id}", timeout=10).content == doc.cda
    return stored


# ------------------------------------------------------------------------------------------ retries


def test_retries_with_backoff_deliver_real_documents_exactly_once(signed_chain: Any, identity_dir: Path) -> None:
    """Real FRCP/PPS generated and signed by the document services (tests/services/conftest.py)."""
    db = signed_chain.db
    with simulator(identity_dir, "fail=0.5,seed=3") as server:
        with db.uow() as uow:
            destinations = {o.destination for o in uow.session.scalars(select(m.OutboxMessage))}
        sender = transport(endpoint(server), identity_dir)
        stats = dispatch_pending(db, transports={d: sender for d in destinations}, policy=FAST, seed=1,
                                 breaker=CircuitBreaker(threshold=1000), max_seconds=60)
        sender.close()
        stored = assert_exactly_once(db, server)
    msgs = outbox(db)
    assert msgs and all(o.state == "delivered" for o in msgs)
    assert all(s["submissions"] == 1 for s in stored.values())  # 503 before storing: never stored twice
    rows = attempts(db)
    assert stats.retried > 0 and stats.delivered == len(msgs) and stats.attempts == len(rows)
    by_msg = defaultdict(list)
    for row in rows:
        by_msg[row.message_id].append(row)
    for msg in msgs:
        mine = by_msg[msg.id]
        assert len(mine) == msg.attempts
        assert [a.outcome for a in mine][-1] == "delivered" and Counter(a.outcome for a in mine)["delivered"] == 1
        assert all(a.outcome == "transient" and a.status_code == 503 for a in mine[:-1])
        for before, after in zip(mine, mine[1:], strict=False):
            assert after.started_at is not None and after.started_at >= before.at  # waited for the backoff
    assert all(d.status == "delivered" for d in documents(db))
    with db.uow() as uow:
        assert verify_chain(uow) == []


def test_backoff_policy_is_exponential_capped_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=30.0)
    rng = random.Random(5)
    delays = [policy.delay(n, None, rng) for n in range(1, 10)]
    caps = [min(30.0, 2 ** (n - 1)) for n in range(1, 10)]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered
    assert policy.delay(1, 42.0, rng) == 42.0


# ------------------------------------------------------------------------------------ ambiguous failure


def test_ambiguous_failure_is_retried_with_identical_bytes(database: Database, identity_dir: Path,
                                                          tmp_path: Path) -> None:
    make_documents(database, 4)
    dump = tmp_path / "dump"
    clock = TestClock()
    with simulator(identity_dir, "drop_after_commit=1", dump_dir=dump) as server:
        sender = transport(endpoint(server), identity_dir)
        slow = RetryPolicy(max_attempts=5, base_s=1.0, max_s=1.0, lease_s=30)  # no retry within the pass
        first = dispatch_pending(database, transports={DESTINATION: sender}, policy=slow, until_idle=False,
                                 clock=clock.now, sleep=clock.sleep)
        assert first.delivered == 0 and first.retried == 4
        assert all(o.state == "pending" and o.attempts == 1 for o in outbox(database))
        assert {a.error_code for a in attempts(database)} <= {"connexion_interrompue", "reponse_illisible"}
        assert all(o.next_attempt_at is not None and o.next_attempt_at > clock.now() for o in outbox(database))
        set_faults(server, "")
        clock.advance(1.05)  # the retries are due (backoff of at most 1 s)
        dispatch_pending(database, transports={DESTINATION: sender}, policy=FAST, max_seconds=30,
                         clock=clock.now, sleep=clock.sleep)
        sender.close()
        stored = assert_exactly_once(database, server)
    assert all(s["submissions"] == 2 for s in stored.values())  # stored once, submitted twice
    assert all(o.state == "delivered" and o.attempts == 2 for o in outbox(database))
    # both requests of each document carried the very same CDA bytes and confidentiality codes
    requests = [p.read_bytes() for p in sorted(dump.iterdir())]
    for doc in documents(database):
        mine = [r for r in requests if doc.cda in r]
        assert len(mine) == 2
        assert all(r.count(b"INVISIBLE_PATIENT") == mine[0].count(b"INVISIBLE_PATIENT") > 0 for r in mine)


# ----------------------------------------------------------------------------------------------- outage


def test_outage_with_retry_after_honoured(database: Database, identity_dir: Path) -> None:
    make_documents(database, 5)
    clock = TestClock()  # the dispatcher's and the simulator's: the 2 s outage lasts 2 s of this clock
    with simulator(identity_dir, monotonic=clock.monotonic) as server:
        sender = transport(endpoint(server), identity_dir)
        set_faults(server, "outage_s=2")  # the outage starts now
        stats = dispatch_pending(database, transports={DESTINATION: sender}, policy=FAST, clock=clock.now,
                                 sleep=clock.sleep, max_seconds=30,
                                 breaker=CircuitBreaker(threshold=3, cooldown_s=0.5, monotonic=clock.monotonic))
        sender.close()
        assert_exactly_once(database, server)
    assert stats.delivered == 5 and stats.dead == 0
    rows = attempts(database)
    by_msg = defaultdict(list)
    for row in rows:
        by_msg[row.message_id].append(row)
    waited = 0
    for mine in by_msg.values():
        assert mine[-1].outcome == "delivered"
        for before, after in zip(mine, mine[1:], strict=False):
            assert before.status_code == 503 and "Retry-After" in before.excerpt
            retry_after = float(before.excerpt.rsplit("Retry-After : ", 1)[1].split(" s")[0])
            assert retry_after >= 1
            assert after.started_at is not None
            assert (after.started_at - before.at).total_seconds() >= retry_after - 0.05  # honoured
            waited += 1
    assert waited >= 5  # every document met the outage at least once
    # far fewer requests than a tight loop would make: about one per Retry-After second per document
    assert len(rows) <= 5 * 4
    assert clock.slept and max(clock.slept) <= 2.0
    assert clock.monotonic() >= 2.0  # the dispatcher waited the outage out (on the test's clock)


# -------------------------------------------------------------------------------------- permanent errors


def test_permanent_metadata_error_goes_to_dead_letter_after_one_attempt(database: Database, identity_dir: Path,
                                                                        sim: RunningServer) -> None:
    ids = make_documents(database, 6)
    poisoned = next(d for d in documents(database) if d.id == ids[2])
    # another document was registered earlier under the same uniqueId, with other bytes
    other = sample_cda(unique_id=poisoned.unique_id, note="un autre document")
    with XdsTransport(endpoint(sim), identity=make_demo_identity(identity_dir, "Centre", "1750100125")) as xds:
        xds.submit(other, entry_from_cda(other))
    sender = transport(endpoint(sim), identity_dir)
    stats = dispatch_pending(database, transports={DESTINATION: sender}, policy=FAST, max_seconds=30)
    sender.close()
    msgs = {o.document_id: o for o in outbox(database)}
    dead = msgs[poisoned.id]
    assert dead.state == "dead" and dead.attempts == 1 and "XDSNonIdenticalHash" in dead.last_error
    assert [a.outcome for a in attempts(database) if a.message_id == dead.id] == ["permanent"]
    assert stats.dead == 1 and stats.delivered == 5
    assert all(o.state == "delivered" and o.attempts == 1 for d, o in msgs.items() if d != poisoned.id)
    stored = state(sim)
    assert stored[poisoned.unique_id]["submissions"] == 1  # only the earlier document
    with database.uow() as uow:
        actions = [e.action for e in uow.session.scalars(select(m.AuditEvent).where(
            m.AuditEvent.entity_id == dead.id))]
    assert actions == ["delivery.dead"]


def test_requeue_of_a_dead_letter_is_audited_then_delivered(database: Database, identity_dir: Path) -> None:
    make_documents(database, 2)
    with simulator(identity_dir, "fail=1") as server:
        sender = transport(endpoint(server), identity_dir)
        policy = RetryPolicy(max_attempts=2, base_s=0.01, max_s=0.02, lease_s=30)
        stats = dispatch_pending(database, transports={DESTINATION: sender}, policy=policy, max_seconds=30)
        assert stats.dead == 2 and all(o.state == "dead" and o.attempts == 2 for o in outbox(database))
        set_faults(server, "")  # the cause is fixed
        msg = outbox(database)[0]
        with database.uow() as uow:
            requeue(uow, message_id=msg.id, actor="coord.test")
        with database.uow() as uow, pytest.raises(Conflict):
            requeue(uow, message_id=msg.id, actor="coord.test")  # pending now: not a dead letter
        dispatch_pending(database, transports={DESTINATION: sender}, policy=policy, max_seconds=30)
        sender.close()
        stored = state(server)
    by_id = {o.id: o for o in outbox(database)}
    assert by_id[msg.id].state == "delivered" and by_id[msg.id].attempts == 1
    assert [o.state for i, o in by_id.items() if i != msg.id] == ["dead"]
    assert len(stored) == 1 and next(iter(stored.values()))["submissions"] == 1
    with database.uow() as uow:
        ev = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "delivery.requeue")).one()
        assert ev.actor == "coord.test" and ev.entity_id == msg.id
        assert verify_chain(uow) == []


# ------------------------------------------------------------------------------------------------ leases


def test_leases_exclude_other_claimers_and_expired_ones_are_reclaimed(database: Database, identity_dir: Path,
                                                                      sim: RunningServer) -> None:
    make_documents(database, 5)
    now = datetime.now(UTC)
    ghost = claim(database, owner="ghost", now=now, limit=3, lease_s=60)
    assert len(ghost) == 3
    assert claim(database, owner="other", now=now + timedelta(seconds=30), limit=10, lease_s=60) != []
    assert set(claim(database, owner="third", now=now + timedelta(seconds=30), limit=10, lease_s=60)) == set()
    # the ghost died: its leases expire, reconcile releases them
    assert reconcile_leases(database, now=now + timedelta(seconds=30)) == 0
    assert reconcile_leases(database, now=now + timedelta(seconds=61)) == 3
    leased = [o for o in outbox(database) if o.lease_owner is not None]
    assert {o.lease_owner for o in leased} == {"other"}
    # the "other" dispatcher died too: an expired lease is claimable without reconciling
    later = now + timedelta(seconds=200)
    sender = transport(endpoint(sim), identity_dir)
    stats = dispatch_pending(database, transports={DESTINATION: sender}, policy=FAST, clock=lambda: later)
    sender.close()
    assert stats.delivered == 5
    assert all(o.state == "delivered" and o.lease_owner is None and o.lease_until is None
               for o in outbox(database))
    assert_exactly_once(database, sim)


def test_a_dispatcher_that_lost_its_lease_does_not_overwrite_the_outcome(database: Database) -> None:
    from dcc.services.delivery import _finish

    make_documents(database, 1)
    now = datetime.now(UTC)
    (msg_id,) = claim(database, owner="slow", now=now, limit=1, lease_s=1)
    (again,) = claim(database, owner="fast", now=now + timedelta(seconds=2), limit=1, lease_s=60)
    assert again == msg_id
    state_ = _finish(database, msg_id=msg_id, owner="slow", outcome="permanent", status_code=400,
                     error_code="x", excerpt="trop tard", policy=FAST, retry_after=None, rng=random.Random(),
                     clock=lambda: now + timedelta(seconds=3))
    assert state_ == "pending"
    (msg,) = outbox(database)
    assert msg.state == "pending" and msg.lease_owner == "fast" and msg.attempts == 0
    assert [a.owner for a in attempts(database)] == ["slow"]  # the late attempt is still recorded


# --------------------------------------------------------------------------------------- circuit breaker


def test_circuit_breaker_isolates_a_failing_region(database: Database, identity_dir: Path) -> None:
    cases = seed_cases(database)
    make_documents(database, 8, destinations=("dmp:A",), case_ids=cases)
    make_documents(database, 8, destinations=("dmp:B",), case_ids=cases)
    with simulator(identity_dir, "fail=1") as down, simulator(identity_dir) as up:
        a, b = transport(endpoint(down), identity_dir), transport(endpoint(up), identity_dir / "b")
        breaker = CircuitBreaker(threshold=3, cooldown_s=60)
        stats = dispatch_pending(database, transports={"dmp:A": a, "dmp:B": b}, policy=FAST, breaker=breaker,
                                 batch=16, max_seconds=2)
        a.close()
        b.close()
        assert len(state(up)) == 8 and state(down) == {}
    msgs = outbox(database)
    assert all(o.state == "delivered" for o in msgs if o.destination == "dmp:B")
    assert all(o.state == "pending" for o in msgs if o.destination == "dmp:A")
    a_attempts = [r for r in attempts(database) if r.destination == "dmp:A"]
    assert len(a_attempts) == 3 and breaker.openings == 1  # then the region is paused, B keeps going
    assert stats.delivered == 8 and stats.skipped_open_circuit > 0


def test_half_open_breaker_reopens_after_one_failed_trial() -> None:
    t = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, monotonic=lambda: t[0])
    breaker.failure("d")
    assert breaker.allows("d")
    breaker.failure("d")
    assert not breaker.allows("d") and breaker.reopens_in(frozenset({"d"})) == 10
    t[0] = 11
    assert breaker.allows("d")
    breaker.failure("d")  # the trial failed: open again at once
    assert not breaker.allows("d")
    t[0] = 22
    breaker.success("d")
    breaker.failure("d")
    assert breaker.allows("d") and breaker.openings == 2


# ---------------------------------------------------------------------------------- concurrent dispatchers


def test_concurrent_dispatchers_never_send_a_message_twice(database: Database, identity_dir: Path) -> None:
    postgres = database.engine.dialect.name == "postgresql"
    workers = 4 if postgres else 2
    make_documents(database, 40)
    make_demo_identity(identity_dir, "Centre de démonstration", "1750100125")  # created once, then shared
    errors: list[BaseException] = []
    results = {}
    with simulator(identity_dir, "latency_ms=2") as server:
        start = threading.Barrier(workers)

        def run(i: int) -> None:
            sender = transport(endpoint(server), identity_dir)
            try:
                start.wait()
                results[i] = dispatch_pending(database, transports={DESTINATION: sender}, policy=FAST,
                                              owner=f"d{i}", batch=3, max_seconds=60)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                sender.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        stored = assert_exactly_once(database, server)
    assert all(s["submissions"] == 1 for s in stored.values())  # no message was ever sent twice
    msgs = outbox(database)
    assert all(o.state == "delivered" and o.attempts == 1 for o in msgs)
    rows = attempts(database)
    per_msg = Counter(r.message_id for r in rows)
    assert set(per_msg) == {o.id for o in msgs} and set(per_msg.values()) == {1}
    owners = Counter(r.owner for r in rows)
    assert sum(owners.values()) == 40 and len(owners) >= 2, owners  # the work was shared
    assert sum(r.delivered for r in results.values()) == 40
    if not postgres:  # on PostgreSQL, concurrent audit appends may fork the chain (see record_audit)
        with database.uow() as uow:
            assert verify_chain(uow) == []


# ------------------------------------------------------------------------------------- unknown destination


def test_unknown_destination_is_a_dead_letter(database: Database) -> None:
    make_documents(database, 1, destinations=("dmp:NULLEPART",))
    stats = dispatch_pending(database, transports={}, policy=FAST)
    (msg,) = outbox(database)
    assert stats.dead == 1 and msg.state == "dead" and "Destination inconnue" in msg.last_error


def test_a_dispatcher_scoped_to_a_region_leaves_the_other_regions_messages(database: Database,
                                                                             identity_dir: Path) -> None:
    """A worker host that holds only region A's certificates runs a dispatcher scoped to A: it delivers A's
    messages and neither claims, re-checks nor kills B's (it has no transport for B, which unscoped would make
    them dead letters: `test_unknown_destination_is_a_dead_letter`)."""
    cases = seed_cases(database)
    make_documents(database, 4, destinations=("dmp:A",), case_ids=cases)
    make_documents(database, 3, destinations=("dmp:B",), case_ids=cases)
    with simulator(identity_dir) as up:
        a = transport(endpoint(up), identity_dir)
        stats = dispatch_pending(database, transports={"dmp:A": a}, policy=FAST, max_seconds=2,
                                 only_destinations=region_destinations(frozenset({"A"})))
        a.close()
        assert len(state(up)) == 4
    assert region_destinations(frozenset({"A"})) == {"dmp:A", "mss:A"}
    msgs = outbox(database)
    assert sorted(o.state for o in msgs if o.destination == "dmp:A") == ["delivered"] * 4
    b = [o for o in msgs if o.destination == "dmp:B"]
    assert [(o.state, o.attempts, o.lease_owner) for o in b] == [("pending", 0, None)] * 3
    assert stats.delivered == 4 and stats.dead == 0
    assert not [r for r in attempts(database) if r.destination == "dmp:B"]
