"""``manage.py visits preview``: the plan from the protocol file, without a database."""

from __future__ import annotations

import json
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def preview(*args) -> list[dict]:
    out = StringIO()
    call_command("visits", "preview", "--protocol", "BAT6005", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_full_plan_is_17_cycles_then_follow_up_in_date_order():  # no db marker: a query would fail
    visits = preview("--first-dose", "2026-01-05")
    assert {v["kind"] for v in visits} == {"screening", "dosing", "imaging", "eot", "safety", "survival"}
    assert set(visits[0]) == {"code", "kind", "target", "window_start", "window_end"}
    targets = [v["target"] for v in visits]
    assert targets == sorted(targets)
    dosing = [v for v in visits if v["kind"] == "dosing"]
    assert [v["code"] for v in dosing] == [f"C{n}D1" for n in range(2, 18)]
    c2 = dosing[0]
    assert (c2["window_start"], c2["target"], c2["window_end"]) == ("2026-01-23", "2026-01-26", "2026-01-29")
    imaging_weeks = [int(v["code"].split("W")[1]) for v in visits if v["kind"] == "imaging"]
    assert imaging_weeks[:7] == [6, 12, 18, 24, 33, 42, 51]
    scr = visits[0]
    assert (scr["code"], scr["window_start"], scr["window_end"]) == ("SCR", "2025-12-08", "2026-01-05")
    assert [v["code"] for v in visits if v["kind"] == "safety"] == ["SFU-D21", "SFU-D60", "SFU-D90"]


def test_last_dose_moves_eot_and_follow_up():
    visits = {v["code"]: v for v in preview("--first-dose", "2026-01-05", "--last-dose", "2026-03-09")}
    assert (visits["EOT"]["target"], visits["EOT"]["window_end"]) == ("2026-03-30", "2026-04-06")
    assert visits["SFU-D21"]["window_end"] == "2026-04-06"
    assert (visits["SFU-D90"]["window_start"], visits["SFU-D90"]["window_end"]) == ("2026-05-31", "2026-06-14")
    last_safety = date(2026, 3, 9) + timedelta(days=90)
    assert visits["SURV-1"]["target"] == (last_safety + timedelta(weeks=12)).isoformat()
    assert "C17D1" not in visits


@pytest.mark.parametrize(("args", "option"), [
    (["--first-dose", "2026-13-01"], "--first-dose"),
    (["--first-dose", "2026-01-05", "--last-dose", "yesterday"], "--last-dose"),
    (["--first-dose", "2026-01-05", "--last-dose", "2025-12-31"], "--last-dose"),
])
def test_bad_input_names_the_option(args, option):
    with pytest.raises(CommandError) as caught:
        preview(*args)
    assert str(caught.value).startswith(option)


def test_unknown_protocol_names_the_option():
    with pytest.raises(CommandError, match=r"^--protocol: .*'NOPE'.*BAT6005"):
        call_command("visits", "preview", "--protocol", "NOPE", "--first-dose", "2026-01-05", stdout=StringIO())
