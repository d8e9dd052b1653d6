"""Fixtures of the national-record transport tests: the DMP simulator on loopback (with its request dumps)
and the sender's demo identity (VIHF signing key and certificate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dcc.adapters.national_record.xds import SenderIdentity, make_demo_identity
from dcc.simulator.app import create_app
from dcc.simulator.server import RunningServer, start_in_thread

STRUCTURE = "1750100125"  # FINESS-based structure id of the sender


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> SenderIdentity:
    return make_demo_identity(tmp_path_factory.mktemp("vihf"), "Centre Hospitalier d'Angers", STRUCTURE)


@pytest.fixture()
def dump_dir(tmp_path: Path) -> Path:
    return tmp_path / "dump"


@pytest.fixture()
def server(dump_dir: Path, identity: SenderIdentity) -> Iterator[RunningServer]:
    # the simulator trusts the demo CA that issued the sender's seal certificate
    with start_in_thread(create_app(dump_dir=dump_dir, trust_store=identity.trust_anchor)) as running:
        yield running
