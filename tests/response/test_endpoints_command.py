"""``manage.py endpoints``: km / bor / rate from CSV files, without the database (contract: docs/endpoints.md).

Expected values come from R's published output (see tests/trialrules/test_survival.py for the sources:
therneau/survival tests/doaml.Rout.save for aml by group; the pooled aml print 27 (18, 45); R binom.test via
scipy's test suite) and, for BOR, from admiralonco's rules worked by hand in each test.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

BASE_DIR = Path(__file__).resolve().parents[2]
AML = [  # R survival::aml, as ../shared/reference/aml.csv
    (9, 1, "Maintained"), (13, 1, "Maintained"), (13, 0, "Maintained"), (18, 1, "Maintained"),
    (23, 1, "Maintained"), (28, 0, "Maintained"), (31, 1, "Maintained"), (34, 1, "Maintained"),
    (45, 0, "Maintained"), (48, 1, "Maintained"), (161, 0, "Maintained"),
    (5, 1, "Nonmaintained"), (5, 1, "Nonmaintained"), (8, 1, "Nonmaintained"), (8, 1, "Nonmaintained"),
    (12, 1, "Nonmaintained"), (16, 0, "Nonmaintained"), (23, 1, "Nonmaintained"), (27, 1, "Nonmaintained"),
    (30, 1, "Nonmaintained"), (33, 1, "Nonmaintained"), (43, 1, "Nonmaintained"), (45, 1, "Nonmaintained"),
]
GROUP_KEYS = {"group", "n", "events", "median", "lower", "upper", "curve"}
POINT_KEYS = {"time", "n_risk", "n_event", "survival", "lower", "upper"}


def run(*args) -> str:
    out = io.StringIO()
    call_command("endpoints", *args, stdout=out)
    return out.getvalue()


def run_json(*args):
    return json.loads(run(*args, "--json"))


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def aml_csv(tmp_path) -> str:
    return write(tmp_path / "aml.csv", "time,status,x\n" + "".join(f"{t},{s},{x}\n" for t, s, x in AML))


def fails(*args, match: str) -> None:
    """The command refuses with a message matching `match` and prints nothing."""
    out = io.StringIO()
    with pytest.raises(CommandError, match=match):
        call_command("endpoints", *args, stdout=out)
    assert out.getvalue() == ""


# ------------------------------------------------------------------------------------------------
# km
# ------------------------------------------------------------------------------------------------


def test_km_by_group_json_matches_r(aml_csv):
    data = run_json("km", "--input", aml_csv, "--time", "time", "--event", "status", "--group", "x")
    assert [g["group"] for g in data] == ["Maintained", "Nonmaintained"]
    assert all(set(g) == GROUP_KEYS for g in data)
    assert all(set(p) == POINT_KEYS for g in data for p in g["curve"])
    maintained, non = data
    # R print(survfit(Surv(time, status) ~ x, aml)): 11 7 31 18 NA; 12 11 23 8 NA.
    assert [maintained[k] for k in ("n", "events", "median", "lower", "upper")] == [11, 7, 31, 18, None]
    assert [non[k] for k in ("n", "events", "median", "lower", "upper")] == [12, 11, 23, 8, None]
    # R summary: Maintained time 9: n.risk 11, n.event 1, 0.909, 0.7541, 1.000.
    first = maintained["curve"][0]
    assert (first["time"], first["n_risk"], first["n_event"]) == (9, 11, 1)
    assert abs(first["survival"] - 0.909) <= 0.0005 and abs(first["lower"] - 0.7541) <= 0.00005
    assert first["upper"] == 1.0
    # One row per distinct time, censorings included (summary(censored = TRUE)).
    assert [p["time"] for p in maintained["curve"]] == [9, 13, 18, 23, 28, 31, 34, 45, 48, 161]
    # R: Nonmaintained time 45: survival 0, limits NA -> null.
    last = non["curve"][-1]
    assert (last["time"], last["survival"], last["lower"], last["upper"]) == (45, 0.0, None, None)


def test_km_groups_in_first_appearance_order(tmp_path):
    rows = [r for r in AML if r[2] == "Nonmaintained"] + [r for r in AML if r[2] == "Maintained"]
    path = write(tmp_path / "swapped.csv", "x,time,status\n" + "".join(f"{x},{t},{s}\n" for t, s, x in rows))
    data = run_json("km", "--input", path, "--time", "time", "--event", "status", "--group", "x")
    assert [g["group"] for g in data] == ["Nonmaintained", "Maintained"]


def test_km_without_group_is_one_curve_with_group_null(aml_csv):
    data = run_json("km", "--input", aml_csv, "--time", "time", "--event", "status")
    assert len(data) == 1
    pooled = data[0]
    # R print(survfit(Surv(time, status) ~ 1)) on the 23 aml patients: n 23, events 18, median 27, 18, 45.
    assert [pooled[k] for k in ("group", "n", "events", "median", "lower", "upper")] == [None, 23, 18, 27, 18, 45]


def test_km_reads_a_bom_and_padded_cells(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff time , status \r\n 9 , 1 \r\n13,0\r\n\r\n20,1\r\n".encode())
    (curve,) = run_json("km", "--input", str(path), "--time", "time", "--event", "status")
    assert (curve["n"], curve["events"]) == (3, 2)
    # By hand: S = 2/3 after 9, 0 after 20 (the one at risk dies): median 20.
    assert curve["median"] == 20


def test_km_readable_table(aml_csv):
    out = run("km", "--input", aml_csv, "--time", "time", "--event", "status", "--group", "x")
    assert not out.lstrip().startswith("[")
    assert "group Maintained: n=11, events=7, median 31 (95% CI 18 to NA)" in out
    assert "group Nonmaintained: n=12, events=11, median 23 (95% CI 8 to NA)" in out
    assert "0.7541" in out


def test_km_on_the_shared_reference_file():
    reference = BASE_DIR.parent / "shared" / "reference" / "aml.csv"
    if not reference.exists():
        pytest.skip("../shared/reference/aml.csv is not beside the project")
    data = run_json("km", "--input", str(reference), "--time", "time", "--event", "status", "--group", "x")
    assert [(g["group"], g["median"], g["lower"], g["upper"]) for g in data] == [
        ("Maintained", 31, 18, None), ("Nonmaintained", 23, 8, None)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,status\n9,1\nabc,0\n", r"row 2 \(line 3\), column 'time': 'abc' is not a number"),
        ("time,status\n9,1\n-3,0\n", r"row 2 \(line 3\), column 'time': '-3' is negative"),
        ("time,status\n9,1\nnan,0\n", r"row 2 \(line 3\), column 'time': 'nan' is not a finite number"),
        ("time,status\n9,1\n10,2\n", r"row 2 \(line 3\), column 'status': '2' is not 1 \(event\) or 0 \(censored\)"),
        ("time,status\n9,1\n10,yes\n", r"column 'status': 'yes' is not 1"),
        ("time,status\n9,1\n10,\n", r"row 2 \(line 3\), column 'status': empty"),
        ("time,status\n9,1\n\n10,1,7\n", r"row 2 \(line 4\): 3 fields but the header has 2"),
        ("time,status\n", r"no data rows after the header"),
        ("", r"the file is empty"),
        ("time,time,status\n1,1,1\n", r"line 1: column 'time' appears more than once"),
        ("tme,status\n9,1\n", r"line 1: no column 'time' \(the header has: tme, status\)"),
    ],
)
def test_km_malformed_input_names_file_row_and_column(tmp_path, content, message):
    path = write(tmp_path / "bad.csv", content)
    fails("km", "--input", path, "--time", "time", "--event", "status", match=rf"bad\.csv.*{message}")


def test_km_missing_group_column_and_empty_group(tmp_path):
    path = write(tmp_path / "g.csv", "time,status,arm\n9,1,A\n10,0,\n")
    fails("km", "--input", path, "--time", "time", "--event", "status", "--group", "x", match=r"no column 'x'")
    fails("km", "--input", path, "--time", "time", "--event", "status", "--group", "arm",
          match=r"row 2 \(line 3\), column 'arm': empty")


def test_km_missing_file(tmp_path):
    fails("km", "--input", str(tmp_path / "nope.csv"), "--time", "t", "--event", "e",
          match=r"--input .*nope\.csv: no such file")


def test_km_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("time,status,arm\n9,1,bras \xe9\n".encode("latin-1"))
    fails("km", "--input", str(path), "--time", "time", "--event", "status", match=r"not UTF-8 text")


def manage_without_services(*args: str) -> subprocess.CompletedProcess:
    """``manage.py endpoints *args`` in a fresh process whose DATABASE_URL and REDIS_URL name ports where nothing
    listens (port 9, discard), so any connection attempt fails."""
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nothing", "REDIS_URL": "redis://127.0.0.1:9/0"}
    return subprocess.run(  # noqa: S603 -- our interpreter and manage.py; the arguments are the test's own
        [sys.executable, "manage.py", "endpoints", *args],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_km_runs_without_a_database(aml_csv):
    """In a process where no database or Redis can be reached, km succeeds: it never opens a connection."""
    proc = manage_without_services("km", "--input", aml_csv, "--time", "time", "--event", "status", "--group", "x",
                                   "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [(g["group"], g["median"]) for g in data] == [("Maintained", 31), ("Nonmaintained", 23)]


def test_km_malformed_input_exits_non_zero_with_the_message_on_stderr(tmp_path):
    path = write(tmp_path / "bad.csv", "time,status\n9,1\n10,2\n")
    proc = manage_without_services("km", "--input", path, "--time", "time", "--event", "status", "--json")
    assert proc.returncode != 0
    assert "bad.csv, row 2 (line 3), column 'status': '2' is not 1 (event) or 0 (censored)" in proc.stderr
    assert proc.stdout == ""


# ------------------------------------------------------------------------------------------------
# bor (admiralonco rules in trialrules.bor; the expectations are worked by hand from those rules)
# ------------------------------------------------------------------------------------------------

FIRST_DOSE = "subject,date\nS1,2024-01-01\nS2,2024-01-01\nS3,2024-01-01\nS4,2024-01-01\n"
POINTS = (
    "subject,date,response\n"
    "S4,2024-02-01,PR\n"  # S4: PR (day 31), then PD 14 days later: not confirmed
    "S4,2024-02-15,PD\n"
    "S1,2024-03-01,PR\n"  # S1: PR confirmed by a PR 29 days later (>= 28)
    "S1,2024-02-01,PR\n"  # (out of date order on purpose)
    "S2,2024-01-20,SD\n"  # S2: SD on day 19, before the 28-day window: NE; then PD
    "S2,2024-03-01,PD\n"
)  # S3 has no time point


def bor(tmp_path, *extra, points: str = POINTS, doses: str = FIRST_DOSE):
    return run_json(
        "bor", "--input", write(tmp_path / "points.csv", points), "--first-dose", write(tmp_path / "dose.csv", doses),
        "--ref-start-window", "28", *extra,
    )


def by_subject(rows) -> dict:
    return {r["subject"]: (r["bor"], r["date"]) for r in rows}


def test_bor_confirmed_one_object_per_first_dose_subject_in_that_order(tmp_path):
    rows = bor(tmp_path)
    assert [r["subject"] for r in rows] == ["S1", "S2", "S3", "S4"]
    assert all(set(r) == {"subject", "bor", "date"} for r in rows)
    assert by_subject(rows) == {
        "S1": ("PR", "2024-02-01"),  # dated by the response, not its confirmation
        "S2": ("PD", "2024-03-01"),  # PD ranks above NE
        "S3": ("MISSING", None),
        "S4": ("SD", "2024-02-01"),  # an unconfirmed PR on/after the window counts as SD, dated the PR
    }


def test_bor_unconfirmed(tmp_path):
    assert by_subject(bor(tmp_path, "--unconfirmed"))["S4"] == ("PR", "2024-02-01")


def test_bor_ref_confirm(tmp_path):
    # S1's second PR is 29 days after the first: with --ref-confirm 30 nothing can confirm it -> SD.
    assert by_subject(bor(tmp_path, "--ref-confirm", "30"))["S1"] == ("SD", "2024-02-01")


def test_bor_accept_sd(tmp_path):
    points = "subject,date,response\nS1,2024-02-01,PR\nS1,2024-02-15,SD\nS1,2024-03-05,PR\n"
    doses = "subject,date\nS1,2024-01-01\n"
    assert by_subject(bor(tmp_path, points=points, doses=doses))["S1"] == ("SD", "2024-02-01")
    assert by_subject(bor(tmp_path, "--accept-sd", points=points, doses=doses))["S1"] == ("PR", "2024-02-01")


def test_bor_max_nr_ne(tmp_path):
    points = "subject,date,response\nS1,2024-02-01,PR\nS1,2024-02-10,NE\nS1,2024-02-20,NE\nS1,2024-03-05,PR\n"
    doses = "subject,date\nS1,2024-01-01\n"
    assert by_subject(bor(tmp_path, points=points, doses=doses))["S1"] == ("SD", "2024-02-01")  # 2 NE > 1
    assert by_subject(bor(tmp_path, "--max-nr-ne", "2", points=points, doses=doses))["S1"] == ("PR", "2024-02-01")


def test_bor_until_first_pd(tmp_path):
    points = "subject,date,response\nS1,2024-02-01,PD\nS1,2024-03-01,CR\nS1,2024-04-01,CR\n"
    doses = "subject,date\nS1,2024-01-01\n"
    assert by_subject(bor(tmp_path, points=points, doses=doses))["S1"] == ("CR", "2024-03-01")
    assert by_subject(bor(tmp_path, "--until-first-pd", points=points, doses=doses))["S1"] == ("PD", "2024-02-01")


def test_bor_response_case_is_ignored(tmp_path):
    points = "subject,date,response\nS1,2024-02-01,pr\nS1,2024-03-01,Pr\nS2,2024-02-01,non-cr/non-pd\n"
    doses = "subject,date\nS1,2024-01-01\nS2,2024-01-01\n"
    assert by_subject(bor(tmp_path, points=points, doses=doses)) == {
        "S1": ("PR", "2024-02-01"), "S2": ("NON-CR/NON-PD", "2024-02-01")}


def test_bor_readable_table(tmp_path):
    points, doses = write(tmp_path / "p.csv", POINTS), write(tmp_path / "d.csv", FIRST_DOSE)
    out = run("bor", "--input", points, "--first-dose", doses, "--ref-start-window", "28")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["subject", "BOR", "date"]
    assert lines[1].split()[:3] == ["S1", "PR", "2024-02-01"]
    assert lines[3].split()[:3] == ["S3", "MISSING", "-"]


@pytest.mark.parametrize(
    ("points", "doses", "message"),
    [
        ("subject,date,response\nS1,2024-02-01,XX\n", FIRST_DOSE,
         r"points\.csv, row 1 \(line 2\), column 'response': unknown response 'XX' \(accepted: CR, PR"),
        ("subject,date,response\nS1,2024-02-01,PR\nS9,2024-02-01,PR\n", FIRST_DOSE,
         r"points\.csv, row 2 \(line 3\), column 'subject': subject 'S9' is not in the first-dose file"),
        ("subject,date,response\nS1,2024-13-01,PR\n", FIRST_DOSE,
         r"row 1 \(line 2\), column 'date': '2024-13-01' is not a valid date"),
        ("subject,date,response\nS1,01/02/2024,PR\n", FIRST_DOSE,
         r"column 'date': '01/02/2024' is not an ISO date \(YYYY-MM-DD\)"),
        ("subject,date,response\nS1,2024-02-01,PR\nS1,2024-02-01,SD\n", FIRST_DOSE,
         r"row 2 \(line 3\), column 'date': subject 'S1' already has a time point on 2024-02-01 at row 1"),
        ("subject,date\nS1,2024-02-01\n", FIRST_DOSE, r"points\.csv, line 1: no column 'response'"),
        (POINTS, "subject,date\nS1,2024-01-01\nS1,2024-01-02\n",
         r"dose\.csv, row 2 \(line 3\), column 'subject': subject 'S1' already has a first dose at row 1"),
        (POINTS, "subject,date\nS1,20240101\n", r"dose\.csv, row 1 \(line 2\), column 'date': '20240101' is not"),
        (POINTS, "subject,day\nS1,2024-01-01\n", r"dose\.csv, line 1: no column 'date'"),
    ],
)
def test_bor_malformed_input(tmp_path, points, doses, message):
    fails("bor", "--input", write(tmp_path / "points.csv", points), "--first-dose", write(tmp_path / "dose.csv", doses),
          "--ref-start-window", "28", "--json", match=message)


def test_bor_missing_first_dose_file_and_bad_window(tmp_path):
    points = write(tmp_path / "points.csv", POINTS)
    fails("bor", "--input", points, "--first-dose", str(tmp_path / "none.csv"), "--ref-start-window", "28",
          match=r"--first-dose .*none\.csv: no such file")
    fails("bor", "--input", points, "--first-dose", write(tmp_path / "d.csv", FIRST_DOSE),
          "--ref-start-window", "-1", match=r"--ref-start-window.*must be at least 0")


# ------------------------------------------------------------------------------------------------
# rate
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [("3", "12", "0.05486064", "0.57185846"), ("0", "10", "0", "0.3084971"), ("10", "10", "0.6915029", "1")],
)
def test_rate_json_matches_r_binom_test(k, n, lower, upper):
    data = run_json("rate", "--responders", k, "--n", n)
    assert set(data) == {"rate", "lower", "upper"}
    assert data["rate"] == int(k) / int(n)
    for value, printed in ((data["lower"], lower), (data["upper"], upper)):  # to half a unit of R's last digit
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        assert abs(value - float(printed)) <= 0.5 * 10**-decimals


def test_rate_readable():
    assert run("rate", "--responders", "3", "--n", "12").strip() == \
        "3/12 = 25.0% (95% CI 5.5% to 57.2%, exact Clopper–Pearson)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--responders", "13", "--n", "12"), r"--responders: 13 is more than --n 12"),
        (("--responders", "0", "--n", "0"), r"--n.*must be at least 1"),
        (("--responders", "2.5", "--n", "10"), r"--responders.*'2.5' is not a whole number"),
        (("--responders", "-1", "--n", "10"), r"--responders.*must be at least 0"),
    ],
)
def test_rate_bad_input(args, message):
    fails("rate", *args, "--json", match=message)
