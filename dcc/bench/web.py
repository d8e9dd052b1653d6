"""Benchmark: the web application under a cancer network's load, on SQLite or PostgreSQL.

`run(clients, seconds)` seeds a demo database (directory, patients, demo users, planned sessions, registered
and assigned cases — no documents), starts a real uvicorn (`dcc.web.app:create_app --factory`, `workers`
processes) on loopback in its own process, and lets `clients` asyncio httpx clients send requests back to
back for `seconds`: a mix of case reads (audited), session agendas (audited), lists (boards, sessions,
deliveries), HTML pages (coordinator case list and case page, monitor dashboard) and a few writes
(attendance, case registration), as several demo users with dev tokens. Per-user rate limits are switched
off in the server (a handful of demo users stand for a network's hundreds: their 429s would hide the
server's own behaviour).

After the run the server is stopped (its sealer seals what is pending), then the audit chain is verified and
every case read answered 200 is looked for in the trail. Figures only, never thresholds: requests/s,
p50/p95/p99 (all requests and reads only), status counts, timeouts, per-operation counts.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

TODAY = date(2026, 3, 2)  # a Monday: sessions are planned from here on
REQUEST_TIMEOUT_S = 30.0
# operation -> weight (reads dominate a morning of board preparation)
MIX: dict[str, int] = {"case_read": 34, "agenda_read": 8, "boards_list": 10, "sessions_list": 10,
                       "deliveries_list": 8, "case_list_page": 8, "case_page": 8, "dashboard_page": 6,
                       "attendance_write": 5, "registration_write": 3}
READS = {op for op in MIX if not op.endswith("_write")}


@dataclass
class Target:
    """What a demo user may touch."""

    login: str
    token: str
    role: str
    cases: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    attendance: dict[str, dict[str, str]] = field(default_factory=dict)  # session -> {professional: mode}
    boards: list[tuple[str, str]] = field(default_factory=list)  # (board id, responsible's RPPS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_ORDER = itertools.count(1)
"""Order numbers of the registered patients: one new patient per registration (a repeated INS with the same
traits would rightly be refused as a second open case on the board)."""


def _nir() -> tuple[str, str]:
    """A well-formed NIR of a woman born in March 1975 in Nantes (44109), coherent with her traits, and a
    birth family name of her own (identity vigilance matches patients on their traits)."""
    from dcc.domain.identifiers import nir_key

    order = next(_ORDER) % 999 + 1
    first13 = "2750344109" + f"{order:03d}"
    letters = "".join(chr(ord("A") + int(c)) for c in f"{order:03d}")
    return first13 + nir_key(first13), f"MARTIN-{letters}"


def seed(url: str, *, patients: int, progress: Callable[[str], None]) -> None:
    """A demo database without documents (idempotent: nothing is added when demo users exist)."""
    from sqlalchemy import func, select

    from dcc.adapters.db import models as m
    from dcc.bootstrap import migrate
    from dcc.services import boards as board_services
    from dcc.services import demo as demo_services
    from dcc.services.seed import seed_directory, seed_patients, seed_users
    from dcc.services.uow import Database

    migrate(url)
    db = Database(url)
    try:
        with db.uow() as uow:
            if uow.session.scalar(select(func.count()).select_from(m.AppUser)):
                progress("base déjà peuplée : réutilisée")
                return
        progress(f"peuplement : annuaire, {patients} patients, utilisateurs, séances, dossiers")
        with db.uow() as uow:
            seeded = seed_directory(uow, seed=1, regions=2)
            patient_ids = seed_patients(uow, seed=1, count=patients, region_codes=seeded.regions)
            seed_users(uow, region_codes=seeded.regions)
            uow.commit()
        with db.uow() as uow:
            board_services.plan_sessions(uow, today=TODAY, horizon_weeks=8)
        demo_services.register_demo_cases(db, patient_ids=patient_ids, seed=1, today=TODAY)
        with db.uow() as uow:
            board_services.assign_cases(uow, today=TODAY)
    finally:
        db.dispose()


def targets(url: str, settings: Any) -> list[Target]:
    """The demo users of the run and what each may read or write (as the access rules say)."""
    from sqlalchemy import select

    from dcc.adapters.db import models as m
    from dcc.services import access
    from dcc.services.uow import Database
    from dcc.web.auth import issue_dev_token, load_user

    db = Database(url)
    out: list[Target] = []
    try:
        with db.uow() as uow:
            logins = list(uow.session.scalars(select(m.AppUser.login).where(m.AppUser.active.is_(True))
                                              .order_by(m.AppUser.login)).all())
        for login in logins:
            user = load_user(db, login)
            if user is None or user.role not in ("coordinator", "physician", "monitor"):
                continue
            t = Target(login=login, token=issue_dev_token(login, settings=settings), role=user.role)
            with db.uow() as uow:
                if user.role != "monitor":
                    t.cases = list(uow.session.scalars(select(m.Case.id).where(access.case_filter(user))
                                                       .order_by(m.Case.id)).all())
                    t.sessions = list(uow.session.scalars(
                        select(m.Session.id).where(access.agenda_filter(user), m.Session.status == "planned")
                        .order_by(m.Session.id).limit(20)).all())
                if user.role == "coordinator":
                    for sid in t.sessions[:5]:
                        s = uow.session.get(m.Session, sid)
                        if s is None:
                            continue
                        members = uow.session.scalars(select(m.BoardMember.professional_id)
                                                      .where(m.BoardMember.board_id == s.board_id)).all()
                        if members and access.can_manage_session(uow, user, sid):
                            t.attendance[sid] = {pid: "present" for pid in members}
                    for board in access.visible_boards(uow, user):
                        if access.can_register_on_board(uow, user, board.id) and board.responsible_id:
                            prof = uow.session.get(m.Professional, board.responsible_id)
                            if prof is not None:
                                t.boards.append((board.id, prof.rpps))
            out.append(t)
    finally:
        db.dispose()
    return out


def _request(op: str, t: Target, rng: random.Random) -> tuple[str, str, dict[str, Any] | None] | None:
    """(method, path, JSON body) of one operation for user `t`; None when `t` cannot do it."""
    if op == "case_read" and t.cases:
        return "GET", f"/api/v1/cases/{rng.choice(t.cases)}", None
    if op == "agenda_read" and t.sessions:
        return "GET", f"/api/v1/sessions/{rng.choice(t.sessions)}", None
    if op == "boards_list":
        return "GET", "/api/v1/boards", None
    if op == "sessions_list" and t.role != "monitor":
        return "GET", "/api/v1/sessions", None
    if op == "deliveries_list" and t.role in ("monitor", "coordinator"):
        return "GET", "/api/v1/deliveries", None
    if op == "case_list_page" and t.role == "coordinator":
        return "GET", "/coordination/dossiers", None
    if op == "case_page" and t.role == "coordinator" and t.cases:
        return "GET", f"/coordination/dossiers/{rng.choice(t.cases)}", None
    if op == "dashboard_page" and t.role in ("monitor", "coordinator"):
        return "GET", "/suivi/", None
    if op == "attendance_write" and t.attendance:
        sid = rng.choice(sorted(t.attendance))
        modes = {pid: rng.choice(("present", "present", "remote", "absent")) for pid in t.attendance[sid]}
        return "POST", f"/api/v1/sessions/{sid}/attendance", {"attendance": modes}
    if op == "registration_write" and t.boards:
        board_id, rpps = rng.choice(t.boards)
        nir, family = _nir()
        return "POST", "/api/v1/cases", {
            "board_id": board_id, "requester_rpps": rpps, "topography_code": "C50.9", "laterality": "gauche",
            "question": "Quelle stratégie thérapeutique proposer en première intention ?",
            "earliest_date": TODAY.isoformat(),
            "patient": {"ins_matricule": nir, "ins_oid": "1.2.250.1.213.1.4.10", "ins_qualified": True,
                        "birth_family": family, "birth_given_first": "CLAIRE", "birth_given_all": "CLAIRE ANNE",
                        "birth_date": "1975-03-12", "sex": "F", "birthplace_insee": "44109",
                        "birthplace_city": "NANTES", "used_family": "DUPONT", "used_given": "Claire"}}
    return None


@dataclass
class Sample:
    op: str
    status: int  # 0: timeout, -1: connection error
    seconds: float
    path: str


async def _client(base: str, users: list[Target], deadline: float, seed_: int, out: list[Sample],
                  connection_errors: list[str], mix: dict[str, int] | None = None) -> None:
    rng = random.Random(seed_)
    mix = mix or MIX
    ops, weights = list(mix), list(mix.values())
    # absolute URLs and headers built once per path and user: the client shares the server's two cores, and
    # httpx parsing and merging them on every request cost a fifth of its CPU
    urls: dict[str, httpx.URL] = {}
    auth = {t.login: httpx.Headers({"Authorization": f"Bearer {t.token}"}) for t in users}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
        first: str | None = ops[seed_ % len(ops)]  # the first requests of the clients cover every operation
        while time.perf_counter() < deadline:
            if first is not None:
                op, first = first, None
                t, req = next(((u, r) for u in users if (r := _request(op, u, rng)) is not None), (users[0], None))
            else:
                t = rng.choice(users)
                op = rng.choices(ops, weights)[0]
                req = _request(op, t, rng)
            if req is None:
                continue
            method, path, body = req
            url = urls.get(path)
            if url is None:
                url = urls[path] = httpx.URL(base + path)
            started = time.perf_counter()
            try:
                answer = await client.request(method, url, json=body, headers=auth[t.login])
                status = answer.status_code
            except httpx.TimeoutException:
                status = 0
            except httpx.HTTPError as exc:
                status = -1
                connection_errors.append(f"{op}: {type(exc).__name__}: {exc}"[:200])
            out.append(Sample(op, status, time.perf_counter() - started, path))


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    s = sorted(values)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))] * 1000, 1)

    return {"p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99)}


def start_server(url: str, env_extra: dict[str, str], *, workers: int,
                 var_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "DCC_DATABASE_URL": url, "DCC_VAR_DIR": str(var_dir), "DCC_AUTH_MODE": "dev",
           "DCC_ENV": "development", "DCC_RATE_LIMIT_ENABLED": "false", "DCC_LOG_LEVEL": "WARNING", **env_extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "dcc.web.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(var_dir / "server.log", "ab"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({proc.returncode}): see {var_dir / 'server.log'}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("uvicorn did not answer /healthz within 60 s")


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of process `root` and its descendants (Linux /proc; 0.0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # graceful: the lifespan's sealer seals what is pending
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def audit_check(url: str, case_reads: list[Sample]) -> dict[str, Any]:
    """The chain after the run, and whether every case read answered 200 left an entry."""
    from sqlalchemy import func, select

    from dcc.adapters.db import models as m
    from dcc.services.audit import pending_count, verify_chain
    from dcc.services.uow import Database

    db = Database(url)
    try:
        with db.uow() as uow:
            problems = verify_chain(uow)
        with db.uow() as uow:
            pending = pending_count(uow)
            rows = uow.session.execute(select(m.AuditEvent.entity_id, func.count()).where(
                m.AuditEvent.action == "case.read").group_by(m.AuditEvent.entity_id)).all()
    finally:
        db.dispose()
    trail = {entity_id: n for entity_id, n in rows}
    served: dict[str, int] = {}
    for s in case_reads:
        if s.status == 200:
            cid = s.path.rsplit("/", 1)[1]
            served[cid] = served.get(cid, 0) + 1
    missing = {cid: n - trail.get(cid, 0) for cid, n in served.items() if trail.get(cid, 0) < n}
    return {"chain_intact": not problems, "problems": problems[:10], "pending_after_stop": pending,
            "case_reads_served": sum(served.values()), "case_reads_missing_in_trail": sum(missing.values())}


def run(clients: int, seconds: float, *, database_url: str | None = None, workers: int = 1, patients: int = 60,
        progress: Callable[[str], None] | None = None, ops: list[str] | None = None) -> dict[str, Any]:
    """`ops`: only these operations of the mix (their own weights), e.g. to measure one kind of request's server
    CPU; default: the whole mix."""
    from dcc.config import Settings

    unknown = sorted(set(ops or ()) - set(MIX))
    if unknown:
        raise ValueError(f"unknown operations: {', '.join(unknown)} (known: {', '.join(MIX)})")
    mix = {op: w for op, w in MIX.items() if op in ops} if ops else dict(MIX)

    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="dcc-bench-web-") as tmp_:
        tmp = Path(tmp_)
        url = database_url or f"sqlite:///{tmp / 'dcc.sqlite3'}"
        secret = secrets.token_urlsafe(32)
        settings = Settings(session_secret=secret, auth_mode="dev", env="development", var_dir=tmp)
        seed(url, patients=patients, progress=say)
        users = targets(url, settings)
        if not any(t.cases for t in users):
            raise RuntimeError("no demo user can read a case: seeding failed")
        say(f"serveur : uvicorn, {workers} processus ; {len(users)} utilisateurs ; {clients} clients, {seconds:.0f} s")
        proc, base = start_server(url, {"DCC_SESSION_SECRET": secret}, workers=workers, var_dir=tmp)
        samples: list[Sample] = []
        errors: list[str] = []
        try:
            async def main() -> float:
                started = time.perf_counter()
                deadline = started + seconds
                await asyncio.gather(*(_client(base, users, deadline, i, samples, errors, mix)
                                       for i in range(clients)))
                return time.perf_counter() - started

            cpu_before = _tree_cpu_seconds(proc.pid)
            client_before = time.process_time()
            elapsed = asyncio.run(main())
            client_cpu = time.process_time() - client_before
            server_cpu = _tree_cpu_seconds(proc.pid) - cpu_before
        finally:
            stop_server(proc)
        say("vérification du journal d'audit")
        audit = audit_check(url, [s for s in samples if s.op == "case_read"])
        log_tail = (tmp / "server.log").read_text(errors="replace")[-2000:]
    statuses: dict[str, int] = {}
    for s in samples:
        key = {0: "timeout", -1: "connection_error"}.get(s.status, str(s.status))
        statuses[key] = statuses.get(key, 0) + 1
    per_op: dict[str, dict[str, Any]] = {}
    for op in mix:
        mine = [s for s in samples if s.op == op]
        if mine:
            per_op[op] = {"n": len(mine), **_percentiles([s.seconds for s in mine])}
    backend = url.split(":", 1)[0].split("+", 1)[0]
    return {
        "backend": backend, "workers": workers, "clients": clients, "seconds": round(elapsed, 1),
        "operations": list(mix),
        "requests": len(samples), "requests_per_s": round(len(samples) / elapsed, 1),
        **_percentiles([s.seconds for s in samples]),
        "reads": _percentiles([s.seconds for s in samples if s.op in READS]),
        "writes": _percentiles([s.seconds for s in samples if s.op not in READS]),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(1 for s in samples if s.status >= 500),
        "timeouts": statuses.get("timeout", 0), "connection_errors": errors[:10], "per_operation": per_op,
        "audit": audit,
        "server_log_tail": log_tail if any(s.status >= 500 or s.status <= 0 for s in samples) else "",
        # what the server itself burnt: requests per CPU-second hardly depend on what else runs on the machine
        "server_cpu_s": round(server_cpu, 1),
        "requests_per_server_cpu_s": round(len(samples) / server_cpu, 1) if server_cpu else None,
        "server_cpu_ms_per_request": round(1000 * server_cpu / len(samples), 2) if samples else None,
        # the clients run on the same cores: what they burn is taken from the server
        "client_cpu_s": round(client_cpu, 1),
        "client_cpu_ms_per_request": round(1000 * client_cpu / len(samples), 2) if samples else None,
        "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
    }
