"""Every MHD ITI-65 bundle `dcc demo` sends (captured by the simulator's `--dmp-dump`) meets the PDSm
constraints of tests/pdsm_profile.py: canonical code systems, securityLabel slices bound to JDV_J110,
replacements with `relatesTo` and the `superseded` update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import DemoRun
from tests.pdsm_profile import pdsm_violations

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _bundles(dump: Path) -> list[tuple[str, dict]]:
    out = []
    for path in sorted(dump.glob("*-POST-fhir.http")):
        _, _, body = path.read_bytes().partition(b"\r\n\r\n")
        out.append((path.name, json.loads(body)))
    return out


def test_every_mhd_bundle_of_the_demo_meets_the_pdsm_constraints(demo_run: DemoRun) -> None:
    """The demo run of tests/e2e/conftest.py (faults injected: a failed or dropped bundle is sent again, and
    every copy is dumped and checked)."""
    summary = demo_run.summary
    bundles = _bundles(demo_run.dump)
    assert bundles, "the demo sent no MHD bundle"
    problems = {name: found for name, bundle in bundles if (found := pdsm_violations(bundle))}
    assert problems == {}
    # seed 3 replaces one document in a region delivered over MHD: its bundle carries the replacement, and the
    # simulator applied it (the old entry is replaced by the new one)
    national = {e["unique_id"]: e for e in summary["national_record"]}
    replacements = [b for _, b in bundles if any(e["request"]["method"] == "PUT" for e in b["entry"])]
    assert replacements, "the demo sent no replacement over MHD"
    for bundle in replacements:
        [new] = [e["resource"] for e in bundle["entry"]
                 if e["request"]["method"] == "POST" and e["resource"]["resourceType"] == "DocumentReference"]
        [relation] = new["relatesTo"]
        old_uid = relation["target"]["identifier"]["value"].removeprefix("urn:oid:")
        new_uid = new["masterIdentifier"]["value"].removeprefix("urn:oid:")
        assert national[old_uid]["replaced_by"] == new_uid
