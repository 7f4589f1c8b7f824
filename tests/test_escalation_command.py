"""``manage.py escalation``: recommend / simulate / benchmark, without the database."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

BASE_DIR = Path(__file__).resolve().parents[1]
KEYS = {"continue", "next_dose_level", "add_subjects", "recommended_dose_level", "rationale"}


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("escalation", *args, stdout=out, **kwargs)
    return out.getvalue()


def recommend_json(*args) -> dict:
    lines = run("recommend", *args, "--json").splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


# ------------------------------------------------------------------------------------------------
# recommend
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # (continue, next_dose_level, add_subjects, recommended_dose_level)
        ("", (True, 1, 1, 1)),  # accelerated titration: 1 subject at 10 mg
        ("1N 2N", (True, 3, 1, 3)),
        ("1N 2N 3G 3NN", (True, 4, 3, 4)),  # G ends titration at 100 mg; 0/3 -> 300 mg with 3
        ("1N 2G", (True, 2, 2, 2)),  # titration ends: 2 more at 30 mg
        ("1T 1TN", (False, None, 0, None)),  # 2 DLTs at the lowest level: no tolerable dose
        ("1N 2N 3N 4NNN 5NNN 6NNN", (True, 6, 3, 6)),  # top level needs 6 before the MAD
        ("1N 2N 3N 4NNN 5NNN 6NNN 6NTN", (False, None, 0, 6)),
    ],
)
def test_recommend_json_bat6005(history, expected):
    data = recommend_json("--protocol", "BAT6005", "--outcomes", history)
    assert set(data) >= KEYS
    assert (data["continue"], data["next_dose_level"], data["add_subjects"], data["recommended_dose_level"]) == expected
    assert isinstance(data["rationale"], str) and data["rationale"]


def test_recommend_bat6005_rationale_uses_dose_labels():
    data = recommend_json("--protocol", "BAT6005", "--outcomes", "1N 2N 3G 3NN")
    assert "300 mg" in data["rationale"]
    assert data["declared"] is None


def test_recommend_bat6005_mad_is_declared():
    data = recommend_json("--protocol", "BAT6005", "--outcomes", "1N 2N 3N 4NNN 5NNN 6NNN 6NTN")
    assert data["declared"] == "MAD"


@pytest.mark.parametrize(
    ("args", "history", "expected"),
    [
        # plain 3+3 (R mode): G means nothing, 0/3 escalates, 1/3 expands
        ((), "1N 2N 3G 3NN", (False, None, 0, 3)),  # R: G is no DLT; 0/3 at the top level stops (MAD)
        ((), "1N 2N", (True, 2, 2, 2)),  # R: fewer than 3 at the last level -> complete the cohort
        ((), "1NNN 2NTN", (True, 2, 3, 2)),
        ((), "1NNN 2NNN 3NNN", (False, None, 0, 3)),  # 0/3 at the top: R stops, MAD with 3
        ((), "1NNN 2TTN", (False, None, 0, 1)),  # no de-escalation: stop at the level below
        (("--allow-deescalate",), "1NNN 2TTN", (True, 1, 3, 1)),  # Korn: fill the level below to 6
        (("--six-to-declare",), "1NNN 2NNN 3NNN", (True, 3, 3, 3)),
    ],
)
def test_recommend_json_plain_design(args, history, expected):
    data = recommend_json("--design", "3+3", "--levels", "3", *args, "--outcomes", history)
    assert (data["continue"], data["next_dose_level"], data["add_subjects"], data["recommended_dose_level"]) == expected


def test_recommend_json_plain_design_six_levels():
    data = recommend_json("--design", "3+3", "--levels", "6", "--outcomes", "1N 2N 3G 3NN")
    assert (data["continue"], data["next_dose_level"], data["add_subjects"]) == (True, 4, 3)
    assert data["rationale"].startswith("0/3 DLT at level 3")


def test_recommend_human_readable_line():
    out = run("recommend", "--protocol", "BAT6005", "--outcomes", "1N 2N 3G 3NN")
    assert out.count("\n") == 1
    assert "add 3 subject(s) at level 4" in out
    assert "1N 2N 3G 3NN" in out
    assert not out.lstrip().startswith("{")


def test_recommend_stdin_one_json_object_per_line():
    text = "1N\n\n1N 2N 3G 3NN\n1T 1TN\n   \n1N 2G\n"
    out = run("recommend", "--protocol", "BAT6005", "--outcomes", "-", "--json", stdin=text)
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 4  # blank lines skipped
    assert [(r["next_dose_level"], r["add_subjects"]) for r in rows] == [(2, 1), (4, 3), (None, 0), (2, 2)]
    assert rows[2]["continue"] is False and rows[2]["recommended_dose_level"] is None


def test_recommend_stdin_bad_line_names_the_line_and_prints_nothing():
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"stdin line 2\).*'2n'.*unknown outcome letter 'n'.*upper case"):
        call_command(
            "escalation", "recommend", "--design", "3+3", "--levels", "3", "--outcomes", "-", "--json",
            stdin=io.StringIO("1NNN\n1NNN 2n\n"), stdout=out,
        )
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("history", "token", "reason"),
    [
        ("1N 2X", "'2X'", "unknown outcome letter 'X'"),
        ("1N NN", "'NN'", "empty dose level"),
        ("1N 2", "'2'", "no outcome letters"),
        ("1N 0N", "'0N'", "is not >= 1"),
        ("1N2N", "'1N2N'", "separate groups with whitespace"),
        ("1N 7N", "'7N'", "beyond the 6 dose levels"),
    ],
)
def test_recommend_malformed_history_names_token_and_reason(history, token, reason):
    with pytest.raises(CommandError) as info:
        run("recommend", "--protocol", "BAT6005", "--outcomes", history)
    assert token in str(info.value)
    assert reason in str(info.value)


def test_recommend_malformed_history_exits_non_zero_with_message_on_stderr():
    proc = subprocess.run(
        [sys.executable, "manage.py", "escalation", "recommend", "--protocol", "BAT6005", "--outcomes", "1N 3Q"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0
    assert "'3Q'" in proc.stderr and "unknown outcome letter 'Q'" in proc.stderr
    assert proc.stdout == ""


def test_unknown_protocol_lists_known_codes():
    with pytest.raises(CommandError, match=r"'NOPE'.*BAT6005.*QL1706"):
        run("recommend", "--protocol", "NOPE", "--outcomes", "1N")


def test_fixed_protocol_does_not_escalate():
    with pytest.raises(CommandError, match="does not escalate"):
        run("recommend", "--protocol", "QL1706", "--outcomes", "1N")


def test_design_needs_levels():
    with pytest.raises(CommandError, match="--levels"):
        run("recommend", "--design", "3+3", "--outcomes", "1N")


def test_protocol_and_design_are_exclusive():
    with pytest.raises(CommandError):
        run("recommend", "--protocol", "BAT6005", "--design", "3+3", "--levels", "3", "--outcomes", "1N")


# ------------------------------------------------------------------------------------------------
# simulate
# ------------------------------------------------------------------------------------------------


def test_simulate_exact_json():
    out = run(
        "simulate", "--protocol", "BAT6005", "--true-dlt", "0.02,0.05,0.1,0.2,0.35,0.5",
        "--true-tox2", "0.1,0.1,0.1,0.1,0.1,0.1", "--exact", "--json",
    )
    data = json.loads(out)
    assert set(data) == {"select", "expected_subjects", "expected_dlts", "expected_total_subjects", "method", "trials"}
    assert data["method"] == "exact" and data["trials"] is None
    assert len(data["select"]) == 7 and len(data["expected_subjects"]) == 6 and len(data["expected_dlts"]) == 6
    assert abs(sum(data["select"]) - 1) < 1e-12
    assert data["expected_total_subjects"] == pytest.approx(sum(data["expected_subjects"]))


def test_simulate_exact_all_safe_is_mad_at_top():
    data = json.loads(run("simulate", "--protocol", "BAT6005", "--true-dlt", "0,0,0,0,0,0", "--exact", "--json"))
    assert data["select"][6] == 1.0
    assert data["expected_total_subjects"] == 15


def test_simulate_monte_carlo_json_is_reproducible():
    args = ("simulate", "--design", "3+3", "--levels", "3", "--true-dlt", "0.1,0.3,0.5", "--trials", "2000",
            "--seed", "9", "--json")
    a, b = json.loads(run(*args)), json.loads(run(*args))
    assert a == b
    assert a["method"] == "monte_carlo" and a["trials"] == 2000
    assert sum(a["select"]) == pytest.approx(1.0)


def test_simulate_human_readable_table():
    out = run("simulate", "--design", "3+3", "--levels", "2", "--true-dlt", "0.1,0.3", "--exact")
    assert "exact enumeration" in out
    assert "expected total subjects" in out
    assert len(out.splitlines()) == 6  # title, header, none, 2 levels, total


@pytest.mark.parametrize(
    ("dlt", "message"),
    [
        ("0.1,0.2", "--true-dlt: expected 3 probabilities"),
        ("0.1,0.2,1.5", "--true-dlt: value '1.5' for level 3 is not a probability"),
        ("0.1,-0.2,0.5", "--true-dlt: value '-0.2' for level 2 is not a probability"),
        ("0.1,abc,0.5", "--true-dlt: value 'abc' for level 2 is not a number"),
        ("0.1,,0.5", "--true-dlt: empty value"),
    ],
)
def test_simulate_bad_true_dlt(dlt, message):
    with pytest.raises(CommandError) as info:
        run("simulate", "--design", "3+3", "--levels", "3", "--true-dlt", dlt, "--exact")
    assert message in str(info.value)


def test_simulate_bad_true_tox2():
    with pytest.raises(CommandError, match="--true-tox2: expected 6 probabilities"):
        run("simulate", "--protocol", "BAT6005", "--true-dlt", "0.1,0.1,0.1,0.1,0.1,0.1", "--true-tox2", "0.1",
            "--exact")


@pytest.mark.parametrize("trials", ["0", "-3", "ten"])
def test_simulate_trials_must_be_at_least_one(trials):
    with pytest.raises(CommandError, match="--trials"):
        run("simulate", "--design", "3+3", "--levels", "2", "--true-dlt", "0.1,0.2", "--trials", trials,
            "--seed", "1")


def test_simulate_needs_exact_or_trials_and_seed():
    with pytest.raises(CommandError):
        run("simulate", "--design", "3+3", "--levels", "2", "--true-dlt", "0.1,0.2")
    with pytest.raises(CommandError, match="--seed"):
        run("simulate", "--design", "3+3", "--levels", "2", "--true-dlt", "0.1,0.2", "--trials", "10")


# ------------------------------------------------------------------------------------------------
# benchmark
# ------------------------------------------------------------------------------------------------


def test_benchmark_prints_times_and_targets():
    out = run("benchmark", "--trials", "2000")
    lines = out.splitlines()
    assert any(line.startswith("exact:") and "target < 0.2 s" in line for line in lines)
    assert any(line.startswith("monte carlo: 2000 trials") and "target < 2.0 s" in line for line in lines)
