"""Static checks of deploy/ (issue 14): every YAML parses, the commands the systemd units, the compose file and
the container image run exist (dcc subcommands and options in the Typer app, the uvicorn factory imports,
`prefect` subcommands and options in Prefect's CLI), the systemd units pass `systemd-analyze verify` (with the
/opt/dcc paths mapped to this checkout) and a structural parse that runs everywhere, and the Helm values have
the structure of Prefect's charts (their schema is not available offline; it was checked by hand, see
deploy/README.md)."""

from __future__ import annotations

import configparser
import importlib
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
YAMLS = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))


def test_the_expected_files_are_there() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    assert names >= {"README.md", "Containerfile", "compose.yaml", "prefect.yaml", "automations.yaml",
                     "dcc.env.example",
                     "systemd/dcc-web.service", "systemd/prefect-server.service", "systemd/dcc-worker@.service",
                     "helm/prefect-server-values.yaml", "helm/prefect-worker-values.yaml", "nginx/dcc.conf",
                     "backup/dcc-backup.sh"}


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses_to_a_mapping(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict)


# ------------------------------------------------------------------------------------------- commands


@cache
def _help(prog: str, *words: str) -> str:
    proc = subprocess.run([str(BIN / prog), *words, "--help"], capture_output=True, text=True, timeout=120,
                          env={"PATH": str(BIN), "HOME": "/tmp", "PREFECT_HOME": "/tmp/prefect-help"})
    assert proc.returncode == 0, f"`{prog} {' '.join(words)}` is not a command: {proc.stderr[-500:]}"
    return proc.stdout


def _options(argv: list[str]) -> list[str]:
    return [a.split("=")[0] for a in argv if a.startswith("--")]


def check_dcc(argv: list[str]) -> None:
    from dcc.cli import app

    group = typer.main.get_command(app)  # typer's own click (typer._click): duck-typed
    words = [a for a in argv if not a.startswith("-")]
    for word in words:
        assert hasattr(group, "commands"), f"dcc {' '.join(words)}: {word} after a command"
        sub = group.commands.get(word)
        assert sub is not None, f"`dcc {' '.join(words)}`: no subcommand {word!r}"
        group = sub
    declared = {o for p in group.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
    for opt in _options(argv):
        assert opt in declared, f"`dcc {' '.join(words)}` has no option {opt}"


def check_uvicorn(argv: list[str]) -> None:
    target = next(a for a in argv if ":" in a and not a.startswith("-"))
    module, attr = target.split(":")
    factory = getattr(importlib.import_module(module), attr)
    assert callable(factory)
    assert "--factory" in argv
    text = _help("uvicorn")
    for opt in _options(argv):
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), f"uvicorn has no option {opt}"


def check_prefect(argv: list[str]) -> None:
    words: list[str] = []
    for a in argv:
        if a.startswith("-"):
            break
        words.append(a)
    text = _help("prefect", *words)
    for opt in _options(argv):
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), f"prefect {' '.join(words)}: no {opt}"


CHECKS = {"dcc": check_dcc, "uvicorn": check_uvicorn, "prefect": check_prefect}


def check_command(argv: list[str]) -> None:
    prog = Path(argv[0]).name
    if prog == "sh":  # sh -c "a && exec b": each part
        for part in re.split(r"&&|;", argv[2]):
            words = shlex.split(part)
            check_command(words[1:] if words[0] == "exec" else words)
        return
    assert prog in CHECKS, f"unexpected program {argv[0]!r}"
    CHECKS[prog](argv[1:])


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def _unit_commands() -> list[tuple[str, list[str]]]:
    out = []
    for path in UNITS:
        unit = _unit(path)
        if unit.has_section("Service"):
            for key in ("ExecStartPre", "ExecStart"):
                if key in unit["Service"]:
                    argv = shlex.split(unit["Service"][key].replace("%i", "1").replace("%H", "host"))
                    if argv[0].startswith("/opt/dcc/.venv/bin/"):
                        out.append((f"{path.name}:{key}", argv))
    return out


def _compose_commands() -> list[tuple[str, list[str]]]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return [(f"compose:{name}", svc["command"]) for name, svc in compose["services"].items() if "command" in svc]


def _containerfile_cmd() -> list[tuple[str, list[str]]]:
    import json

    lines = [ln for ln in (DEPLOY / "Containerfile").read_text().splitlines() if ln.startswith("CMD ")]
    assert len(lines) == 1
    return [("Containerfile:CMD", json.loads(lines[0][4:]))]


COMMANDS = _unit_commands() + _compose_commands() + _containerfile_cmd()


def test_every_deploy_file_runs_a_command() -> None:
    sources = {name.split(":")[0] for name, _ in COMMANDS}
    assert {"dcc-web.service", "prefect-server.service", "dcc-worker@.service", "Containerfile"} <= sources
    assert {"compose:web", "compose:worker-1", "compose:worker-2", "compose:prefect-server", "compose:migrate"} \
        <= {name for name, _ in COMMANDS}


@pytest.mark.parametrize(("name", "argv"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_exists(name: str, argv: list[str]) -> None:
    check_command(argv)


@pytest.mark.parametrize("argv", [["dcc", "db", "upgrad"], ["dcc", "db", "upgrade", "--force"],
                                  ["uvicorn", "dcc.web.app:create_app", "--factory", "--workerz", "2"],
                                  ["prefect", "worker", "start", "--pool", "p", "--poool", "p"],
                                  ["prefect", "workr", "start"]])
def test_the_command_check_rejects_a_wrong_command(argv: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_command(argv)


# -------------------------------------------------------------------------------------------- systemd


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_structure(path: Path) -> None:
    """Runs everywhere: sections and keys a unit of this kind needs, hardening, secrets out of the unit."""
    unit = _unit(path)
    assert unit.has_section("Unit") and unit["Unit"].get("Description")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(?i)(password|secret|pin)\s*=", text), "a secret inside a unit file"
    if path.suffix == ".timer":
        assert unit.has_section("Timer") and unit["Timer"].get("OnCalendar")
        assert (path.with_suffix(".service")).exists()
        return
    service = unit["Service"]
    assert service.get("ExecStart", "").startswith("/")
    assert service.get("NoNewPrivileges") == "true" and service.get("ProtectSystem") == "strict"
    if path.name != "dcc-backup.service":
        assert service.get("User") in ("dcc", "prefect") and service.get("Restart") == "on-failure"
        assert unit.has_section("Install") and unit["Install"].get("WantedBy") == "multi-user.target"
        assert service.get("EnvironmentFile", "").startswith("/etc/dcc/")


def test_web_and_workers_shape() -> None:
    web = shlex.split(_unit(DEPLOY / "systemd/dcc-web.service")["Service"]["ExecStart"])
    assert web[web.index("--workers") + 1] == "2"
    worker = shlex.split(_unit(DEPLOY / "systemd/dcc-worker@.service")["Service"]["ExecStart"])
    assert worker[worker.index("--pool") + 1] == "dcc-process" and worker[worker.index("--type") + 1] == "process"
    prefect_yaml = yaml.safe_load((DEPLOY / "prefect.yaml").read_text(encoding="utf-8"))
    assert {d["work_pool"]["name"] for d in prefect_yaml["deployments"]} == {"dcc-process"}


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` on copies of the units whose /opt/dcc paths point at this checkout (and its
    venv). Debian ships it with systemd; a machine without it fails here rather than skipping."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing (Debian package systemd)"
    paths = []
    for path in UNITS:
        text = path.read_text(encoding="utf-8").replace("/opt/dcc/.venv/bin/", f"{BIN}/") \
            .replace("/opt/dcc/deploy/", f"{DEPLOY}/")
        name = path.name.replace("@.", "@1.")
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / name))
    proc = subprocess.run([tool, "verify", *paths], capture_output=True, text=True, timeout=120)
    problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert proc.returncode == 0 and not problems, "\n".join(problems)


# ------------------------------------------------------------------------------- compose, image, helm


def test_compose_services_and_secrets() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) >= {"postgres", "prefect-server", "web", "worker-1", "worker-2"}
    assert services["postgres"]["image"].startswith("docker.io/library/postgres:")
    for name in ("prefect-server", "migrate", "web", "worker-1", "worker-2"):
        assert services[name]["build"]["dockerfile"] == "deploy/Containerfile"
        assert (ROOT / services[name]["build"]["context"].replace("..", ".")).is_dir()
    for name, svc in services.items():  # secrets come from files, never inline
        for key, value in (svc.get("environment") or {}).items():
            assert not re.search(r"(?i)password|secret", key) or key.endswith("_FILE"), f"{name}: {key}"
            assert "://" not in str(value) or "@" not in str(value), f"{name}: credentials in {key}"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert (DEPLOY / ".gitignore").read_text().split() == ["secrets/"]
    sql = (DEPLOY / "postgres-init.sql")
    assert sql.exists() and "CREATE DATABASE prefect" in sql.read_text()


def test_containerfile_installs_the_debian_runtime_packages() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM \S+:\S*slim-bookworm", text, re.MULTILINE)
    runtime = re.search(r"\[ \$# -gt 0 \] \|\| set -- (.+)", (ROOT / "scripts/system-deps.sh").read_text())
    assert runtime
    for pkg in runtime.group(1).split():  # what scripts/system-deps.sh installs by default
        assert re.search(rf"\b{re.escape(pkg)}\b", text), pkg
    for copied in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / copied).exists(), copied
    assert re.search(r"^USER dcc$", text, re.MULTILINE)


def _paths(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        out = set()
        for k, v in node.items():
            out |= {f"{prefix}{k}"} | _paths(v, f"{prefix}{k}.")
        return out
    return set()


def test_helm_values_structure() -> None:
    server = yaml.safe_load((DEPLOY / "helm/prefect-server-values.yaml").read_text(encoding="utf-8"))
    worker = yaml.safe_load((DEPLOY / "helm/prefect-worker-values.yaml").read_text(encoding="utf-8"))
    assert set(server) <= {"global", "server", "postgresql", "externalDatabase", "service", "ingress", "secret",
                           "migrations", "backgroundServices", "serviceAccount", "sqlite", "redis"}
    assert server["postgresql"]["enabled"] is False and server["externalDatabase"]["existingSecret"]
    assert set(worker) == {"worker"}
    w = worker["worker"]
    assert w["config"]["workPool"] == "dcc-process" and w["config"]["type"] == "process"
    assert w["apiConfig"] == "selfHostedServer"
    assert w["selfHostedServerApiConfig"]["apiUrl"].endswith(":4200/api")
    assert w["replicaCount"] == 2 and w["extraEnvVarsSecret"]
    for values in (server, worker):
        for key in _paths(values):
            assert not re.search(r"(?i)(password|apikey|token)$", key), f"secret inline: {key}"


def test_zombie_automation_is_a_valid_prefect_automation_on_the_workers_heartbeat() -> None:
    """deploy/automations.yaml validates as Prefect automations; its proactive trigger waits for more than two
    heartbeats of the workers (the frequency set in the worker unit, compose file and Helm values) before
    marking a run CRASHED, and reconcile-leases runs on that crash."""
    from prefect.events.schemas.automations import AutomationCore

    spec = yaml.safe_load((DEPLOY / "automations.yaml").read_text(encoding="utf-8"))
    autos = [AutomationCore.model_validate(a) for a in spec["automations"]]
    zombie = next(a for a in autos if a.name == "dcc-zombie-flow-runs")
    trigger = zombie.trigger.model_dump(mode="json")
    assert trigger["posture"] == "Proactive" and trigger["after"] == ["prefect.flow-run.heartbeat"]
    assert [a.type for a in zombie.actions] == ["change-flow-run-state"]
    assert zombie.actions[0].model_dump()["state"] == "CRASHED"
    unit = (DEPLOY / "systemd" / "dcc-worker@.service").read_text(encoding="utf-8")
    heartbeat = int(re.search(r"PREFECT_FLOWS_HEARTBEAT_FREQUENCY=(\d+)", unit).group(1))  # type: ignore[union-attr]
    assert trigger["within"] > 2 * heartbeat
    assert f'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "{heartbeat}"' in (DEPLOY / "compose.yaml").read_text()
    deployments = {d["name"]: d for d in yaml.safe_load((DEPLOY / "prefect.yaml").read_text())["deployments"]}
    assert deployments["reconcile-leases"]["triggers"][0]["expect"] == ["prefect.flow-run.Crashed"]


def test_the_per_region_delivery_deployment_of_the_readme_fits_prefect_yaml_and_the_flow() -> None:
    """deploy/README.md's « One queue per region » snippet: a deployment like prefect.yaml's own
    `distribute-pending` (same entrypoint and pool), on its own work queue, whose parameters the flow takes."""
    import inspect

    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = text.split("### One queue per region", 1)[1]
    snippet = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert snippet, "the section shows its deployment"
    (deployment,) = yaml.safe_load(snippet.group(1))
    own = {d["name"]: d for d in yaml.safe_load((DEPLOY / "prefect.yaml").read_text())["deployments"]}
    assert deployment["entrypoint"] == own["distribute-pending"]["entrypoint"]
    assert deployment["work_pool"]["name"] == own["distribute-pending"]["work_pool"]["name"]
    assert deployment["work_pool"]["work_queue_name"] == "region-ara"
    assert "--work-queue region-ara" in section
    module, name = deployment["entrypoint"].split(":")
    flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
    accepted = inspect.signature(flow.fn).parameters
    assert set(deployment["parameters"]) <= set(accepted) and deployment["parameters"]["regions"] == ["ARA"]
