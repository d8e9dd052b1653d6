"""The production shape on loopback: what deploy/ installs on a host, started as child processes on free ports.

`ProductionShape` creates two PostgreSQL databases (dcc's, migrated, and Prefect's) on the server of
`server_url`, then starts `prefect server start` on Prefect's database (postgresql+asyncpg), creates the
`dcc-process` work pool, applies deploy/prefect.yaml (`prefect deploy --all`) and deploy/automations.yaml
(`prefect automation create`), starts `workers` process workers (`prefect worker start`), the
national-record simulator (`dcc dmp-simulator`), the MSSanté sink (in this process) and the web app
(uvicorn, 2 worker processes). Every child runs in its own process group; `stop()` (also on any failure
while starting) kills the groups, then the databases are dropped.

Only what cannot be as in production is changed, and said here: deploy/prefect.yaml's `pull` step points at
this checkout instead of /opt/dcc, and the zombie automation's window may be shortened for tests
(`zombie_within_s`). The integration test (tests/integration/test_production_shape.py) and `dcc bench national-day`
(dcc.bench.national_shape) use it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
POOL = "dcc-process"
HEARTBEAT_S = 30  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY of the workers (Prefect's minimum), as in deploy/systemd
WORKER_QUERY_S = 2  # PREFECT_WORKER_QUERY_SECONDS of the workers (Prefect's default 10), as in deploy/systemd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc): a flow run's process may sit in its own session."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Signal the process, its group and every descendant (SIGKILL: as a crashed host or an OOM kill would)."""
    if proc.poll() is not None:
        return
    pids = _descendants(proc.pid)
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class ProductionShape:
    def __init__(self, server_url: str, *, workers: int = 2, web_workers: int = 2, scheduler: bool = False,
                 zombie_within_s: int | None = None, simulator_faults: str = "",
                 env: dict[str, str] | None = None) -> None:
        from sqlalchemy.engine import make_url

        base = make_url(server_url)
        if base.get_backend_name() != "postgresql":
            raise ValueError("the production shape runs on PostgreSQL (postgresql+psycopg://…)")
        self.base, self.workers, self.web_workers, self.scheduler = base, workers, web_workers, scheduler
        self.zombie_within_s, self.simulator_faults, self.extra_env = zombie_within_s, simulator_faults, env or {}
        tag = uuid.uuid4().hex[:8]
        prefix = os.environ.get("DCC_SHAPE_DB_PREFIX", "")  # a shared server: whose databases these are
        self.db_names = {"dcc": f"{prefix}dcc_shape_{tag}", "prefect": f"{prefix}prefect_shape_{tag}"}
        self.procs: dict[str, subprocess.Popen[Any]] = {}
        self.created: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="dcc-shape-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.var_dir = self.tmp / "var"
        self.mail: Any = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ URLs and environment

    def url(self, which: str, driver: str = "psycopg") -> str:
        return self.base.set(drivername=f"postgresql+{driver}", database=self.db_names[which]) \
            .render_as_string(hide_password=False)

    @property
    def database_url(self) -> str:
        return self.url("dcc")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DCC_"))}
        env.update({
            "PYTHONPATH": str(REPO), "PREFECT_HOME": str(self.tmp / "prefect-home"),
            "PREFECT_API_URL": self.api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S), "PREFECT_WORKER_QUERY_SECONDS": str(WORKER_QUERY_S),
            "DCC_VAR_DIR": str(self.var_dir),
            "DCC_DATABASE_URL": self.database_url, "DCC_AUDIT_SEAL_INTERVAL_S": "0",
        })
        for key in ("DCC_ANS_KIT",):
            if os.environ.get(key):
                env[key] = os.environ[key]
        env.update(self.extra_env)
        return env

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(argv, cwd=REPO, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def _run(self, argv: list[str], timeout: float = 300) -> str:
        res = subprocess.run(argv, cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} failed: {res.stdout[-2000:]}{res.stderr[-3000:]}")
        return res.stdout

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _wait_http(self, name: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
            try:
                if httpx.get(url, timeout=5).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s: {self.log_tail(name)}")

    # ------------------------------------------------------------------ start / stop

    def __enter__(self) -> ProductionShape:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from sqlalchemy import text

        from dcc.adapters.db.engine import make_engine
        from dcc.bootstrap import migrate

        admin = make_engine(self.base.set(database="postgres").render_as_string(hide_password=False),
                            isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in self.db_names.values():
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                    self.created.append(name)
        finally:
            admin.dispose()
        t0 = time.monotonic()
        migrate(self.database_url)  # as `dcc db upgrade`: migrations and the baseline referentials
        self.var_dir.mkdir(parents=True, exist_ok=True)

        self.prefect_port, self.web_port, self.sim_port = free_port(), free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.prefect_port}/api"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.simulator_url = f"http://127.0.0.1:{self.sim_port}"
        prefect = str(Path(sys.executable).with_name("prefect"))
        server_env = {**self.env(), "PREFECT_API_DATABASE_CONNECTION_URL": self.url("prefect", "asyncpg")}
        self._start("prefect-server", [prefect, "server", "start", "--host", "127.0.0.1", "--port",
                                       str(self.prefect_port), "--no-ui", "--analytics-off",
                                       "--scheduler" if self.scheduler else "--no-scheduler"], server_env)
        # the national record trusts the demo CA the senders' identities are issued by (created later, in
        # var/pki: the simulator re-reads its trust store when the file appears)
        self._start("simulator", [sys.executable, "-m", "dcc.cli", "dmp-simulator", "--port", str(self.sim_port),
                                  "--faults", self.simulator_faults,
                                  "--trust-store", str(self.var_dir / "pki" / "ca.pem")])
        from dcc.simulator.mssante import MailSink

        self.mail = MailSink().start()
        self._start("web", [sys.executable, "-m", "uvicorn", "dcc.web.app:create_app", "--factory", "--host",
                            "127.0.0.1", "--port", str(self.web_port), "--workers", str(self.web_workers)])
        self._wait_http("prefect-server", f"{self.api_url}/health", 240)
        self.timings["prefect_server_s"] = round(time.monotonic() - t0, 1)
        self._create_pool()
        for i in range(1, self.workers + 1):
            self.start_worker(i)
        self.deploy(prefect)
        self.timings["deployed_s"] = round(time.monotonic() - t0, 1)
        self._wait_http("simulator", f"{self.simulator_url}/_state", 120)
        self._wait_http("web", f"{self.web_url}/healthz", 180)
        self.timings["ready_s"] = round(time.monotonic() - t0, 1)

    def _create_pool(self) -> None:
        """The `dcc-process` work pool, as `prefect work-pool create dcc-process --type process` does."""
        answer = httpx.post(f"{self.api_url}/work_pools/", json={"name": POOL, "type": "process"}, timeout=60)
        if answer.status_code not in (201, 409):
            raise RuntimeError(f"work pool not created: {answer.status_code} {answer.text[:500]}")

    def deploy(self, prefect: str) -> None:
        """deploy/prefect.yaml with its pull step pointed at this checkout; deploy/automations.yaml."""
        spec = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text())
        for step in spec.get("pull") or []:
            for value in step.values():
                if "directory" in value:
                    value["directory"] = str(REPO)
        local = self.tmp / "prefect.yaml"
        local.write_text(yaml.safe_dump(spec, sort_keys=False))
        self._run([prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(local)], timeout=600)
        automations = yaml.safe_load((REPO / "deploy" / "automations.yaml").read_text())
        if self.zombie_within_s is not None:
            for a in automations["automations"]:
                if a["trigger"].get("posture") == "Proactive":
                    a["trigger"]["within"] = self.zombie_within_s
        from prefect.events.schemas.automations import AutomationCore

        for data in automations["automations"]:  # as `prefect automation create --from-file` does
            body = AutomationCore.model_validate(data).model_dump(mode="json")
            answer = httpx.post(f"{self.api_url}/automations/", json=body, timeout=60)
            if answer.status_code != 201:
                raise RuntimeError(f"automation not created: {answer.status_code} {answer.text[:500]}")

    def start_worker(self, i: int) -> subprocess.Popen[Any]:
        prefect = str(Path(sys.executable).with_name("prefect"))
        return self._start(f"worker-{i}", [prefect, "worker", "start", "--pool", POOL, "--type", "process",
                                           "--name", f"dcc-worker-{i}"])

    def kill_worker(self, i: int) -> None:
        """SIGKILL the worker and every process it started (its flow runs), as a crashed host would."""
        kill_tree(self.procs[f"worker-{i}"], signal.SIGKILL)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            kill_tree(self.procs[name])  # SIGKILL: nothing left behind; the databases are dropped below
        self.procs.clear()
        if self.mail is not None:
            self.mail.stop()
            self.mail = None
        if not os.environ.get("DCC_SHAPE_KEEP_LOGS"):  # set it to read the children's logs after a failure
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.created:
            from sqlalchemy import text

            from dcc.adapters.db.engine import make_engine

            admin = make_engine(self.base.set(database="postgres").render_as_string(hide_password=False),
                                isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    for name in self.created:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            finally:
                admin.dispose()
            self.created = []


__all__ = ["ProductionShape", "free_port", "kill_tree"]
