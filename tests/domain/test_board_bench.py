import json
from datetime import date

from dcc.bench.assignment import run
from tests.domain.exact_lp import lp_optimum


def test_bench_small_dump_is_consistent(tmp_path):
    out = tmp_path / "dump.json"
    figures = run(cases=600, sessions=60, weeks=4, seed=3, dump=out)
    assert figures["objective"] <= figures["greedy_objective"]
    doc = json.loads(out.read_text(encoding="utf-8"))
    sessions = {s["id"]: s for s in doc["sessions"]}
    today = date.fromisoformat(doc["today"])

    def compatible(c, s):
        when = date.fromisoformat(s["date"])
        return ((s["board_kind"], s["organ"]) == (c["board_kind"], c["organ"])
                and when >= max(today, date.fromisoformat(c["earliest"]))
                and (c["deadline"] is None or when <= date.fromisoformat(c["deadline"]))
                and date.fromisoformat(s["registration_deadline"]) >= today
                and set(c["required_specialties"]) <= set(s["specialties_present"]))

    cost = {(c["id"], s["id"]): c["weight"] * (date.fromisoformat(s["date"]) - date.fromisoformat(c["earliest"])).days
            for c in doc["cases"] for s in doc["sessions"] if compatible(c, s)}
    optimum = lp_optimum([c["id"] for c in doc["cases"]], {s["id"]: s["capacity"] for s in doc["sessions"]}, cost,
                         doc["unassigned_penalty"])
    assert figures["objective"] == optimum
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
