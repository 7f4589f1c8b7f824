"""``manage.py escalation`` with BOIN and the CRM: recommend, boundaries, simulate (and --compare), pathways.

Published numbers: the BOIN ``get.boundary`` table for target 0.3, cohorts of 3, 30 patients (R package
BOIN; the [RPUBS] / [TEMPL] sources of tests/trialrules/test_boin.py), lambda_e 0.2364907, lambda_d
0.3585195; the ``get_dfcrm`` reference example of the R package escalation (skeleton 0.05, 0.1, 0.25,
0.4, 0.6, target 0.25, "1NNN 2NTN" -> dose 2).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

BASE_DIR = Path(__file__).resolve().parents[2]
KEYS = {"continue", "next_dose_level", "add_subjects", "recommended_dose_level", "declared", "rationale", "waiting"}
SKEL = "0.05,0.1,0.25,0.4,0.6"
BOIN5 = ("--design", "boin", "--target", "0.3", "--levels", "5")
CRM5 = ("--design", "crm", "--skeleton", SKEL, "--target", "0.25")
BAT_DLT = "0.02,0.05,0.1,0.2,0.35,0.5"
BAT_SKEL = "0.03,0.07,0.12,0.2,0.3,0.45"


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("escalation", *args, stdout=out, **kwargs)
    return out.getvalue()


def run_json(*args) -> dict:
    lines = run(*args, "--json").splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def fails(*args) -> str:
    """The CommandError message; asserts nothing was printed."""
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("escalation", *args, stdout=out)
    assert out.getvalue() == ""
    return str(info.value)


# ------------------------------------------------------------------------------------------------
# recommend
# ------------------------------------------------------------------------------------------------


def test_recommend_boin_json_has_exactly_todays_keys():
    data = run_json("recommend", *BOIN5, "--outcomes", "1NNN 2NTT")
    assert set(data) == KEYS
    assert (data["continue"], data["next_dose_level"], data["add_subjects"]) == (True, 1, 3)  # 2/3: de-escalate
    assert "2/3 DLTs at level 2: 0.667 ≥ λd 0.359 → de-escalate to level 1" in data["rationale"]


def test_recommend_boin_cohort_size_option():
    data = run_json("recommend", *BOIN5, "--cohort-size", "1", "--outcomes", "1N")
    assert (data["next_dose_level"], data["add_subjects"]) == (2, 1)  # n = 1: escalate if 0 DLT


def test_recommend_boin_all_toxic_at_level_1():
    data = run_json("recommend", *BOIN5, "--outcomes", "1TTT")
    assert (data["continue"], data["recommended_dose_level"], data["declared"]) == (False, None, None)


def test_recommend_crm_published_get_dfcrm_example():
    data = run_json("recommend", *CRM5, "--outcomes", "1NNN 2NTN")
    assert set(data) == KEYS | {"posterior_mean"}
    assert (data["continue"], data["next_dose_level"], data["add_subjects"]) == (True, 2, 3)
    pm = data["posterior_mean"]
    assert len(pm) == 5 and pm == sorted(pm)
    assert f"{pm[0]:.3f}" in data["rationale"]


def test_recommend_crm_logistic_with_intercept_and_prior_sd():
    a = run_json("recommend", *CRM5, "--model", "logistic", "--outcomes", "1NNN 2NTN")
    b = run_json("recommend", *CRM5, "--model", "logistic", "--intercept", "3", "--prior-sd", "1.1575836902790224",
                 "--outcomes", "1NNN 2NTN")
    c = run_json("recommend", *CRM5, "--model", "logistic", "--intercept", "4", "--outcomes", "1NNN 2NTN")
    assert a == b  # the defaults are intercept 3 and sd sqrt(1.34)
    assert a["posterior_mean"] != c["posterior_mean"]
    assert "CRM (logistic)" in a["rationale"]


def test_recommend_crm_all_toxic_at_level_1_safety_stop():
    data = run_json("recommend", *CRM5, "--outcomes", "1TTT")
    assert (data["continue"], data["recommended_dose_level"]) == (False, None)


def test_recommend_model_stdin_lines():
    out = run("recommend", *BOIN5, "--outcomes", "-", "--json", stdin="1NNN\n\n1NNN 2TTT\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["next_dose_level"] for r in rows] == [2, 1]


def test_recommend_human_line_crm_shows_posterior_mean():
    out = run("recommend", *CRM5, "--outcomes", "1NNN 2NTN")
    assert out.startswith("1NNN 2NTN -> continue: add 3 subject(s) at level 2")
    assert "[posterior mean: " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--design", "boin", "--target", "1.2", "--levels", "3"), "--target: target must be strictly between 0 and 1"),
        (("--design", "boin", "--target", "0", "--levels", "3"), "--target: target must be strictly between 0 and 1"),
        (("--design", "boin", "--target", "abc", "--levels", "3"), "--target: 'abc' is not a number"),
        (("--design", "boin", "--levels", "3"), "--target: required"),
        (("--design", "boin", "--target", "0.3"), "--levels: required"),
        (("--design", "crm", "--skeleton", "0.1,0.3,0.2", "--target", "0.3"), "--skeleton: skeleton must be strictly"),
        (("--design", "crm", "--skeleton", "0.1,0.2,0.3", "--target", "0.3", "--levels", "4"),
         "--skeleton: 3 values, but the design has 4 dose levels"),
        (("--design", "crm", "--skeleton", "0.1,0.2,1.5", "--target", "0.3"), "--skeleton: skeleton values must be in"),
        (("--design", "crm", "--skeleton", "0.1,x,0.3", "--target", "0.3"), "--skeleton: value 'x' for level 2"),
        (("--design", "crm", "--skeleton", "0.1,0.2,0.3", "--target", "-0.3"), "--target: target must be in (0, 1)"),
        (("--design", "crm", "--target", "0.3"), "--skeleton: required"),
        (("--design", "crm", "--skeleton", "0.1,0.2,0.3", "--target", "0.3", "--model", "probit"), "--model"),
        (("--design", "crm", "--skeleton", "0.1,0.2,0.3", "--target", "0.3", "--intercept", "2"),
         "--intercept goes with --model logistic"),
        (("--design", "crm", "--skeleton", "0.1,0.2,0.3", "--target", "0.3", "--prior-sd", "0"), "--prior-sd"),
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--skeleton", "0.1,0.2,0.3"),
         "--skeleton goes with crm, not boin"),
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--allow-deescalate"),
         "--allow-deescalate goes with --design 3+3"),
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--max-n", "10"),
         "--max-n: max_n must be a multiple of the cohort size 3"),
        (("--protocol", "BAT6005", "--target", "0.3"), "--target goes with --design boin or crm, not --protocol"),
        (("--design", "3+3", "--levels", "3", "--cohort-size", "3"), "--cohort-size goes with --design boin or crm"),
    ],
)
def test_recommend_bad_values_name_the_option(args, message):
    assert message in fails("recommend", *args, "--outcomes", "1N")


def test_recommend_level_beyond_the_design():
    assert "beyond the 5 dose levels" in fails("recommend", *CRM5, "--outcomes", "1NNN 6NNN")


def test_bad_value_exits_non_zero_with_nothing_on_stdout():
    proc = subprocess.run(
        [sys.executable, "manage.py", "escalation", "recommend", "--design", "crm", "--skeleton", "0.3,0.2",
         "--target", "0.25", "--outcomes", "1N"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0
    assert "--skeleton: skeleton must be strictly increasing" in proc.stderr
    assert proc.stdout == ""


# ------------------------------------------------------------------------------------------------
# boundaries
# ------------------------------------------------------------------------------------------------


def test_boundaries_json_matches_the_published_table_target_030():
    data = run_json("boundaries", "--design", "boin", "--target", "0.3", "--cohort-size", "3", "--max-n", "30")
    assert set(data) == {"design", "target", "cohort_size", "lambda_e", "lambda_d", "rows"}
    assert (data["design"], data["target"], data["cohort_size"]) == ("boin", 0.3, 3)
    assert data["lambda_e"] == pytest.approx(0.2364907, abs=5e-8)
    assert data["lambda_d"] == pytest.approx(0.3585195, abs=5e-8)
    rows = data["rows"]
    assert [r["n"] for r in rows] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert [r["escalate_if_at_most"] for r in rows] == [0, 1, 2, 2, 3, 4, 4, 5, 6, 7]
    assert [r["deescalate_if_at_least"] for r in rows] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [r["eliminate_if_at_least"] for r in rows] == [3, 4, 5, 7, 8, 9, 10, 11, 12, 14]


def test_boundaries_cohort_of_1_has_no_elimination_below_3():
    rows = run_json("boundaries", "--design", "boin", "--target", "0.3", "--cohort-size", "1", "--max-n", "4")["rows"]
    assert [r["eliminate_if_at_least"] for r in rows] == [None, None, 3, 3]


def test_boundaries_human_table():
    out = run("boundaries", "--design", "boin", "--target", "0.3", "--cohort-size", "3", "--max-n", "9")
    lines = out.splitlines()
    assert len(lines) == 5
    assert lines[2].split()[-3:] == ["0", "1", "2"]  # escalate if # of DLT <=


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "1.5", "--max-n", "30"), "--target: target must be strictly between 0 and 1"),
        (("--target", "0.3", "--max-n", "10"), "--max-n: max_n must be a multiple of the cohort size 3"),
        (("--target", "0.3", "--cohort-size", "4", "--max-n", "3"), "--max-n"),
    ],
)
def test_boundaries_bad_values(args, message):
    assert message in fails("boundaries", "--design", "boin", *args)


# ------------------------------------------------------------------------------------------------
# simulate
# ------------------------------------------------------------------------------------------------


def test_simulate_boin_json_reproducible_and_shaped_like_the_rule():
    args = ("simulate", *BOIN5, "--max-n", "18", "--true-dlt", "0.05,0.1,0.2,0.3,0.5", "--trials", "500",
            "--seed", "4")
    a, b = run_json(*args), run_json(*args)
    assert a == b
    assert set(a) == {"select", "expected_subjects", "expected_dlts", "expected_total_subjects", "method", "trials"}
    assert (a["method"], a["trials"], len(a["select"])) == ("monte_carlo", 500, 6)


def test_simulate_boin_exact():
    data = run_json("simulate", "--design", "boin", "--target", "0.3", "--levels", "3", "--max-n", "12",
                    "--true-dlt", "0.1,0.25,0.45", "--exact")
    assert data["method"] == "exact" and sum(data["select"]) == pytest.approx(1.0, abs=1e-12)


def test_simulate_boin_all_very_toxic_selects_none_mostly():
    data = run_json("simulate", "--design", "boin", "--target", "0.3", "--levels", "3", "--max-n", "30",
                    "--true-dlt", "0.8,0.9,0.95", "--trials", "1000", "--seed", "2")
    assert data["select"][0] > 0.9


def test_simulate_crm_monte_carlo():
    data = run_json("simulate", *CRM5, "--max-n", "15", "--true-dlt", "0.05,0.1,0.25,0.4,0.6", "--trials", "300",
                    "--seed", "1")
    assert data["trials"] == 300 and sum(data["select"]) == pytest.approx(1.0)


def test_simulate_compare_json_has_all_three_designs():
    data = run_json("simulate", "--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--trials", "300", "--seed", "3",
                    "--compare", "boin,crm", "--target", "0.3", "--max-n", "18", "--skeleton", BAT_SKEL)
    assert set(data["designs"]) == {"protocol", "boin", "crm"}
    for oc in data["designs"].values():
        assert oc["method"] == "monte_carlo" and oc["trials"] == 300 and len(oc["select"]) == 7
    assert (data["max_n"], data["target"], data["cohort_size"]) == (18, 0.3, 3)
    # the model-based designs run to max_n unless they stop for toxicity (rare here)
    assert data["designs"]["boin"]["expected_total_subjects"] == pytest.approx(18, abs=0.5)
    # the protocol column is exactly what simulate --protocol alone gives
    alone = run_json("simulate", "--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--trials", "300", "--seed", "3")
    assert data["designs"]["protocol"] == alone


def test_simulate_compare_takes_the_protocols_model_based_table_by_default(tmp_path, settings):
    # A copy of BAT6005 with its own [escalation.model_based] table: target and skeleton come from it.
    src = (BASE_DIR / "protocols" / "BAT6005.toml").read_text()
    head, _, rest = src.partition("[[drugs]]")
    head = head.split("[escalation.model_based]")[0]
    table = ('[escalation.model_based]\ntarget = 0.2\ncohort_size = 3\n'
             'skeleton = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4]\ncrm_model = "logistic"\n\n')
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "BAT6005.toml").write_text(head + table + "[[drugs]]" + rest)
    settings.BASE_DIR = tmp_path
    args = ("simulate", "--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--trials", "100", "--seed", "1",
            "--compare", "boin,crm", "--max-n", "12")
    out = run(*args)
    assert "boin: BOIN, target 0.2," in out
    assert "crm: CRM (logistic), target 0.2, skeleton 0.02,0.05,0.1,0.2,0.3,0.4" in out
    explicit = run_json(*args, "--target", "0.3", "--skeleton", BAT_SKEL)
    assert explicit["target"] == 0.3  # options win over the table


def test_simulate_compare_default_max_n_is_the_rules_expected_size_in_cohorts():
    data = run_json("simulate", "--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--exact", "--compare", "boin",
                    "--target", "0.3")
    n = data["designs"]["protocol"]["expected_total_subjects"]  # ~15.16
    assert data["max_n"] % 3 == 0 and n <= data["max_n"] < n + 3
    assert data["designs"]["boin"]["method"] == "exact"


def test_simulate_compare_human_table_one_column_group_per_design():
    out = run("simulate", "--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--trials", "200", "--seed", "1",
              "--compare", "boin,crm", "--target", "0.3", "--max-n", "18", "--skeleton", BAT_SKEL)
    lines = out.splitlines()
    assert lines[1].startswith("  boin: BOIN, target 0.3, 6 levels, cohorts of 3, max_n 18")
    assert lines[2].startswith("  crm: CRM (empiric), target 0.3, skeleton 0.03,0.07")
    assert "| protocol" in lines[3] and "| boin" in lines[3] and "| crm" in lines[3]
    assert len(lines) == 3 + 1 + 1 + 1 + 6 + 1  # title, 2 designs, groups, header, none, 6 levels, total
    assert lines[-1].lstrip().startswith("total")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--true-dlt", "0.1,0.2,0.3"), "--max-n: required"),
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--max-n", "9", "--true-dlt", "0.1,0.2,1.3"),
         "--true-dlt: value '1.3' for level 3 is not a probability"),
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--max-n", "9", "--true-dlt", "0.1,0.2"),
         "--true-dlt: expected 3 probabilities"),
        (("--design", "boin", "--target", "0.3", "--levels", "3", "--max-n", "9", "--true-dlt", "0.1,0.2,0.3",
          "--true-tox2", "0,0,0"), "--true-tox2 goes with the rule-based design"),
        (("--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--compare", "boin,xx", "--target", "0.3"),
         "--compare: unknown design 'xx'"),
        (("--design", "3+3", "--levels", "6", "--true-dlt", BAT_DLT, "--compare", "boin"),
         "--target: required with --compare"),
        (("--design", "3+3", "--levels", "6", "--true-dlt", BAT_DLT, "--compare", "crm", "--target", "0.3"),
         "--skeleton: required"),
        (("--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--compare", "boin", "--target", "0.3", "--skeleton",
          BAT_SKEL), "--skeleton goes with --compare crm"),
        (("--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--compare", "crm", "--target", "0.3", "--skeleton",
          "0.1,0.2"), "--skeleton: 2 values, but the design has 6 dose levels"),
        (("--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--compare", "boin", "--target", "0.3", "--max-n", "20"),
         "--max-n: max_n must be a multiple"),
        (("--protocol", "BAT6005", "--true-dlt", BAT_DLT, "--target", "0.3"),
         "--target goes with --design boin or crm"),
    ],
)
def test_simulate_bad_values(args, message):
    how = ("--trials", "10", "--seed", "1")
    assert message in fails("simulate", *args, *how)


# ------------------------------------------------------------------------------------------------
# pathways
# ------------------------------------------------------------------------------------------------


def test_pathways_3_plus_3_json_from_empty():
    data = run_json("pathways", "--design", "3+3", "--levels", "3", "--cohorts", "1")
    assert (data["design"], data["start"], data["cohorts"]) == ("3+3", "", 1)
    assert set(data["decision"]) == KEYS
    got = [(n["cohort"], n["level"], n["subjects"], n["dlts"], n["outcomes"], n["decision"]["continue"],
            n["decision"]["next_dose_level"]) for n in data["pathways"]]
    assert got == [(1, 1, 3, 0, "1NNN", True, 2), (1, 1, 3, 1, "1NNT", True, 1), (1, 1, 3, 2, "1NTT", False, None),
                   (1, 1, 3, 3, "1TTT", False, None)]
    for node in data["pathways"]:
        assert set(node) == {"cohort", "level", "subjects", "dlts", "tox2", "outcomes", "decision", "next"}
        assert set(node["decision"]) == KEYS and node["next"] == []


def test_pathways_protocol_with_start_outcomes():
    data = run_json("pathways", "--protocol", "BAT6005", "--outcomes", "1N 2N 3G", "--cohorts", "2")
    assert (data["design"], data["protocol"], data["start"]) == ("protocol", "BAT6005", "1N 2N 3G")
    assert (data["decision"]["next_dose_level"], data["decision"]["add_subjects"]) == (3, 2)
    first = data["pathways"]
    assert [n["dlts"] for n in first] == [0, 1, 2]
    assert first[0]["decision"]["next_dose_level"] == 4  # 0/3 at 100 mg: escalate
    assert "300 mg" in first[0]["decision"]["rationale"]  # protocol labels
    assert all(len(n["next"]) > 0 for n in first if n["decision"]["continue"])


def test_pathways_boin_and_crm():
    boin = run_json("pathways", *BOIN5, "--outcomes", "1NNN", "--cohorts", "1")
    assert [n["decision"]["next_dose_level"] for n in boin["pathways"]] == [3, 2, 1, 1]
    crm = run_json("pathways", *CRM5, "--cohorts", "1")
    assert all("posterior_mean" in n["decision"] for n in crm["pathways"])
    assert crm["pathways"][3]["decision"]["continue"] is False  # 1TTT: safety stop


def test_pathways_human_tree():
    out = run("pathways", "--protocol", "BAT6005", "--cohorts", "1")
    lines = out.splitlines()
    assert lines[0] == "BAT6005: pathways for the next 1 cohort(s)"
    assert lines[2].startswith("  cohort 1: 0/1 DLT at level 1 -> 1N -> continue: add 1 subject(s) at level 2")
    assert len(lines) == 5


def test_pathways_bad_values():
    assert "--cohorts" in fails("pathways", "--design", "3+3", "--levels", "3", "--cohorts", "0")
    assert "--cohorts" in fails("pathways", *BOIN5, "--cohorts", "12")
    assert "'1X'" in fails("pathways", "--design", "3+3", "--levels", "3", "--outcomes", "1X", "--cohorts", "1")
