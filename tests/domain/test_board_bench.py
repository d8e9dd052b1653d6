import json
from datetime import date

from dcc.bench.assignment import run


def test_bench_small_dump_is_consistent(tmp_path):
    out = tmp_path / "dump.json"
    figures = run(cases=600, sessions=60, weeks=4, seed=3, dump=out)
    assert figures["gap"] == 0.0 and figures["lower_bound"] == figures["objective"]
    assert figures["objective"] <= figures["greedy_objective"]
    doc = json.loads(out.read_text(encoding="utf-8"))
    sessions = {s["id"]: s for s in doc["sessions"]}
    total = 0
    for c in doc["cases"]:
        sid = doc["assignment"][c["id"]]
        if sid is None:
            total += doc["unassigned_penalty"]
            continue
        s = sessions[sid]
        assert (s["board_kind"], s["organ"]) == (c["board_kind"], c["organ"])
        assert set(c["required_specialties"]) <= set(s["specialties_present"])
        wait = (date.fromisoformat(s["date"]) - date.fromisoformat(c["earliest"])).days
        assert wait >= 0
        total += c["weight"] * wait
    assert total == figures["objective"]
