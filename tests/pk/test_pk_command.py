"""``manage.py pk nca``: the CSV contract, published Theoph values through the command, and bad input."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

BASE_DIR = Path(__file__).resolve().parents[2]
THEOPH = Path("/work/shared/reference/theoph.csv")
KEYS = ["subject", "cmax", "tmax", "clast", "tlast", "lambda_z", "lambda_z_points", "lambda_z_adj_r2", "half_life",
        "auclast", "aucinf_obs", "auc_pct_extrap", "cl", "vz", "mrt", "notes"]
COLS = ("--subject", "id", "--time", "t", "--conc", "c", "--dose", "dose")


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def theoph_csv(tmp_path) -> str:
    """datasets::Theoph with the dose in mg (Dose mg/kg × Wt kg; subject 1: 4.02 × 79.6 ≈ 320 mg)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "t", "c", "dose"])
    with THEOPH.open(newline="") as handle:
        for r in csv.DictReader(handle):
            writer.writerow([r["Subject"], r["Time"], r["conc"], f"{float(r['Dose']) * float(r['Wt']):.3f}"])
    return write(tmp_path / "theoph.csv", out.getvalue())


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("pk", "nca", *args, stdout=out)
    return out.getvalue()


def fails(*args: str, match: str):
    with pytest.raises(CommandError, match=match):
        run(*args)


def test_json_theoph_published_values(theoph_csv):
    data = json.loads(run("--input", theoph_csv, *COLS, "--json"))
    assert [d["subject"] for d in data] == [str(i) for i in range(1, 13)]  # first-appearance order
    assert all(list(d) == KEYS for d in data)
    one = data[0]
    # PKNCA / Phoenix WinNonlin (DOMAIN.md): AUClast 147.23 h·mg/L, t½ 14.30 h, lin up/log down
    assert one["auclast"] == pytest.approx(147.23, abs=0.005)
    assert one["half_life"] == pytest.approx(14.30, abs=0.005)
    # NonCompart vignette, Theoph subject 1: LAMZ 0.048457 from 3 points
    assert one["lambda_z"] == pytest.approx(0.048457, abs=5e-7)
    assert one["lambda_z_points"] == 3
    assert one["notes"] == []


def test_linear_method_flag(theoph_csv):
    data = json.loads(run("--input", theoph_csv, *COLS, "--auc-method", "linear", "--json"))
    assert data[0]["auclast"] == pytest.approx(148.923, abs=5e-4)  # NonCompart vignette, linear AUCLST


def test_blq_is_zero_empty_is_missing_and_nulls(tmp_path):
    path = write(tmp_path / "p.csv", "id,t,c,dose\nA,0,BLQ,100\nA,1,4,100\nA,2,,100\nA,3,2,100\nB,0,<LLOQ,50\n")
    data = json.loads(run("--input", path, *COLS, "--json"))
    a, b = data
    assert a["cmax"] == 4 and a["auclast"] == pytest.approx(2 + 2 * 2 / 0.6931471805599453)  # 0→1 up, 1→3 log
    assert "1 missing concentration(s) dropped" in a["notes"]
    assert a["lambda_z"] is None and a["cl"] is None
    assert b["cmax"] is None and any("all concentrations are zero" in n for n in b["notes"])


def test_blq_rules_are_flags(tmp_path):
    """A BLQ between two measurable samples is dropped by default (PKNCA conc.blq middle = "drop"): the AUC
    joins 1 h and 3 h; with --blq-middle keep it counts as 0 (two linear pieces, 4·1/2 + 2·1/2)."""
    path = write(tmp_path / "p.csv", "id,t,c,dose\nA,0,0,100\nA,1,4,100\nA,2,BLQ,100\nA,3,2,100\n")
    dropped = json.loads(run("--input", path, *COLS, "--json"))[0]
    kept = json.loads(run("--input", path, *COLS, "--blq-middle", "keep", "--json"))[0]
    assert dropped["auclast"] == pytest.approx(2 + 2 * 2 / math.log(2))
    assert kept["auclast"] == pytest.approx(2 + 2 + 1)
    assert any("dropped (1 middle)" in n for n in dropped["notes"])


def test_table_output(theoph_csv):
    text = run("--input", theoph_csv, *COLS)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["subject", "Cmax", "Tmax", "AUClast"]
    assert lines[1].split()[:5] == ["1", "10.5", "1.12", "147.2", "214.9"]
    assert len(lines) == 13


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id,t,c\nA,0,1\n", r"line 1: no column 'dose'"),
        ("id,t,c,dose\nA,x,1,100\n", r"row 1 \(line 2\), column 't': 'x' is not a number"),
        ("id,t,c,dose\nA,0,1,100\nA,1,abc,100\n", r"row 2 \(line 3\), column 'c': 'abc' is not a number"),
        ("id,t,c,dose\nA,0,-1,100\n", r"row 1 \(line 2\), column 'c': '-1' is negative"),
        ("id,t,c,dose\nA,0,1,100\nA,0,2,100\n", r"row 2 \(line 3\), column 't': subject 'A' already has a sample"),
        ("id,t,c,dose\nA,0,1,100\nA,1,2,200\n", r"row 2 \(line 3\), column 'dose': subject 'A' has dose 100"),
        ("id,t,c,dose\nA,0,1,\n", r"row 1 \(line 2\), column 'dose': empty"),
        ("id,t,c,dose\nA,0,1,0\n", r"row 1 \(line 2\), column 'dose': 0 is not a positive dose"),
    ],
)
def test_malformed_input_names_file_row_and_column(tmp_path, text, match):
    path = write(tmp_path / "bad.csv", text)
    fails("--input", path, *COLS, match=r"bad\.csv, " + match)


def test_missing_file(tmp_path):
    fails("--input", str(tmp_path / "nope.csv"), *COLS, match=r"nope\.csv: no such file")


def test_runs_without_a_database(theoph_csv):
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nothing", "REDIS_URL": "redis://127.0.0.1:9/0"}
    env.pop("EMAIL_URL", None)
    proc = subprocess.run(  # noqa: S603 -- our interpreter and manage.py; the arguments are the test's own
        [sys.executable, "manage.py", "pk", "nca", "--input", theoph_csv, *COLS, "--json"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["auclast"] == pytest.approx(147.23, abs=0.005)


def test_bad_input_exits_non_zero_on_stderr(tmp_path):
    path = write(tmp_path / "bad.csv", "id,t,c,dose\nA,0,-1,100\n")
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nothing"}
    env.pop("EMAIL_URL", None)
    proc = subprocess.run(  # noqa: S603 -- as above
        [sys.executable, "manage.py", "pk", "nca", "--input", path, *COLS],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert "bad.csv, row 1 (line 2), column 'c': '-1' is negative" in proc.stderr
