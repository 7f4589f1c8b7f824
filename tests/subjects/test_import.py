"""Importing a site's existing subjects (issue 13 point 5, docs/import.md): the file's rules
(``trialrules.subject_import``, each problem named by row and column), the command (a dry run imports nothing,
a bad row blocks all, a clean file imports all with audit events naming the user and the reason, ``--json``),
and the coordinator's page (upload, report, confirm; a file changed between check and confirm refused; a second
confirmation imports nothing twice)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from escalation.models import Cohort
from subjects import importing
from subjects.models import Subject
from tests.auth import sign_in
from trialrules import subject_import as rules
from trialsite.forms import character_problem

EXAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "subjects-import.csv"
HEADER = ("code,initials,date_of_birth,sex,enrolled_on,dose_level,cohort,status,tumour_type,off_study_on,"
          "off_study_reason,off_study_detail")
TODAY = date(2026, 1, 15)


# --- the rules (pure) ---------------------------------------------------------------------------------------

def context(**overrides) -> rules.Context:
    values = dict(
        trial_code="T1", site_code="S1", levels=("10 mg", "30 mg"),
        cohorts=(rules.CohortSpec(1, "", "10 mg", capacity=3, enrolled=0),
                 rules.CohortSpec(2, "", "30 mg", capacity=3, enrolled=0),
                 rules.CohortSpec(3, "EXT-1", "30 mg", capacity=6, enrolled=0, tumour_types=("Sarcoma",))),
        off_study_reasons=("completed", "death", "lost", "withdrawn", "investigator", "sponsor", "other"),
        today=TODAY, text_problem=character_problem,
    )
    values.update(overrides)
    return rules.Context(**values)


GOOD = [
    "T1-S1-001,abc,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,",
    "T1-S1-002,DEF,1970-01-31,m,2025-04-02,30 MG,Cohort 2,off_study,,2025-08-01,completed,",
    "T1-S1-003,GH,1980-12-12,F,2025-05-05,30 mg,ext-1,withdrawn,sarcoma,2025-06-01,withdrawn,",
]


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def problems(text: str, **overrides) -> set[tuple[int | None, str | None]]:
    return {(p.row, p.column) for p in rules.validate(text, context(**overrides)).problems}


def one(text: str, **overrides) -> rules.Problem:
    found = rules.validate(text, context(**overrides)).problems
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_a_clean_file_gives_every_row_in_the_applications_spelling():
    report = rules.validate("\ufeff" + csv_text(*GOOD), context())  # a byte-order mark is tolerated
    assert report.ok and report.data_rows == 3 and not report.problems
    first, second, third = report.rows
    assert (first.code, first.number, first.initials, first.sex, first.cohort) == ("T1-S1-001", 1, "ABC", "F", 1)
    assert (second.sex, second.dose_level, second.cohort, second.off_study_on) == ("M", "30 mg", 2,
                                                                                   date(2025, 8, 1))
    assert (third.cohort, third.status, third.off_study_reason) == (3, "withdrawn", "withdrawn")
    assert report.summary()["status"] == {"enrolled": 1, "off_study": 1, "withdrawn": 1}


def test_header_names_missing_and_unknown_columns_and_checks_no_row():
    text = csv_text("T1-S1-001,AB,1960-05-01", header="code,initials,birth_date")
    found = rules.validate(text, context()).problems
    columns = {p.column for p in found}
    assert {"birth_date", "date_of_birth", "sex", "enrolled_on", "dose_level", "status"} <= columns
    assert all(p.row is None for p in found)
    assert "unknown column" in str(next(p for p in found if p.column == "birth_date"))
    assert "missing" in str(next(p for p in found if p.column == "sex"))
    assert ("code" in {p.column for p in rules.validate(csv_text(GOOD[0], header=HEADER + ",code"),
                                                        context()).problems})


def test_empty_file_header_only_and_too_many_rows():
    assert "empty" in one("").message
    assert "empty" in one(" \n\n").message
    assert "no subjects" in one(csv_text()).message
    many = csv_text(*[f"T1-S1-{n:03d},AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,," for n in
                      range(1, rules.MAX_ROWS + 2)])
    problem = one(many)
    assert problem.row is None and f"at most {rules.MAX_ROWS}" in problem.message
    assert "split" in problem.message


@pytest.mark.parametrize("cells, column, words", [
    ("T1-S1-001,,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "initials", "empty"),
    ("T1-S1-001,A.B,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "initials", "2 to 4 letters"),
    ("T1-S1-001,ABCDE,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "initials", "2 to 4 letters"),
    ("T1-S1-001,ÉA,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "initials", "accents"),
    ("T1-S1-001,AB,1960-05-01,X,2025-03-10,10 mg,1,enrolled,,,,", "sex", "F or M"),
    ("T1-S1-001,AB,1960-05-01,Female,2025-03-10,10 mg,1,enrolled,,,,", "sex", "F or M"),
    ("T1-S1-001,AB,01/05/1960,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "YYYY-MM-DD"),
    ("T1-S1-001,AB,1960/05/01,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "YYYY-MM-DD"),
    ("T1-S1-001,AB,1 May 1960,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "YYYY-MM-DD"),
    ("T1-S1-001,AB,22037,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "serial number"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10T09:00,10 mg,1,enrolled,,,,", "enrolled_on", "without a time"),
    ("T1-S1-001,AB,1960-02-30,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "calendar"),
    ("T1-S1-001,AB,1960-05-01,F,2026-02-01,10 mg,1,enrolled,,,,", "enrolled_on", "in the future"),
    ("T1-S1-001,AB,1890-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "before 1900"),
    ("T1-S1-001,AB,2010-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "age of 14"),
    ("T1-S1-001,AB,1912-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "date_of_birth", "age of 112"),
    ("T1-S1-001,AB,1960-05-01,F,1959-03-10,10 mg,1,enrolled,,,,", "enrolled_on", "before the date of birth"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,20 mg,1,enrolled,,,,", "dose_level", "not a dose level"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,30 mg,1,enrolled,,,,", "dose_level", "Cohort 1 is at 10 mg"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,7,enrolled,,,,", "cohort", "creates no cohort"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,,enrolled,,,,", "cohort", "enrols into cohorts"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,30 mg,EXT-1,enrolled,melanoma,,,", "tumour_type", "enrols Sarcoma"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,active,,,,", "status", "not a status"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,on_treatment,,,,", "status", "doses are not imported"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off treatment,,,,", "status", "doses are not imported"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,2025-03-01,completed,", "off_study_on",
     "before the enrolment date"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,,completed,", "off_study_on", "empty"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,2025-04-01,,", "off_study_reason", "empty"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,2025-04-01,bored,", "off_study_reason",
     "not an off-study reason"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,2025-04-01,withdrawn,", "off_study_reason",
     "goes with"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,2025-04-01,other,", "off_study_detail",
     "needs the details"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,2025-04-01,,", "off_study_on", "only a subject"),
    ("T1-S1-1,AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "code", "three digits"),
    ("T2-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "code", "not a subject code of this trial"),
    ("=cmd|' /C calc'!A0,AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,,", "code", "not a subject code"),
    ("T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,Sarcoma\u202e,,,", "tumour_type", "bidirectional"),
])
def test_each_bad_cell_is_named_by_row_and_column(cells, column, words):
    problem = one(csv_text(cells))
    assert (problem.row, problem.line, problem.column) == (1, 2, column)
    assert words in problem.message, problem.message
    assert str(problem).startswith(f"row 1 (line 2), column {column!r}: ")


def test_the_protocols_age_rule_replaces_the_general_range():
    row = "T1-S1-001,AB,1945-05-01,F,2025-03-10,10 mg,1,enrolled,,,,"  # 79 at enrolment
    assert rules.validate(csv_text(row), context()).ok
    low, high, words = rules.age_bounds([("range", {"field": "age", "min": 18, "max": 75})])
    problem = one(csv_text(row), age_min=low, age_max=high, age_rule=words)
    assert problem.column == "date_of_birth" and "18–75" in problem.message
    assert rules.age_bounds([("min", {"field": "age", "min": 18}), ("in_list", {"field": "histology"})])[:2] == (
        18, None)
    assert rules.age_bounds([("range", {"field": "ecog", "min": 0, "max": 1})]) == (None, None, "")


def test_duplicates_in_the_file_and_in_the_database():
    twice = csv_text(GOOD[0], GOOD[0].replace(",abc,", ",XY,"))
    problem = one(twice)
    assert (problem.row, problem.column) == (2, "code") and "already in row 1 (line 2)" in problem.message
    existing = one(csv_text(GOOD[0]), existing_codes={"T1-S1-001"}, site_subjects=1)
    assert existing.column == "code" and "already a subject in TrialSite" in existing.message


def test_a_gap_in_the_sites_numbering_is_named_with_the_missing_codes():
    text = csv_text(GOOD[0], GOOD[1].replace("T1-S1-002", "T1-S1-004"))
    found = rules.validate(text, context()).problems
    assert {(p.row, p.column) for p in found} == {(2, "code"), (None, "code")}
    gap = next(p for p in found if p.row is None)
    assert "T1-S1-002" in gap.message and "T1-S1-003" in gap.message
    # After 2 subjects already at the site, the file continues at 003.
    assert rules.validate(csv_text(GOOD[2]), context(site_subjects=2, existing_codes={"T1-S1-001",
                                                                                       "T1-S1-002"})).ok


def test_a_cohorts_free_places_are_not_exceeded():
    full = context(cohorts=(rules.CohortSpec(1, "", "10 mg", capacity=3, enrolled=2),))
    rows = [f"T1-S1-{n:03d},AB,1960-05-01,F,2025-03-10,10 mg,1,enrolled,,,," for n in (1, 2)]
    problem = one(csv_text(*rows), cohorts=full.cohorts, site_subjects=0)
    assert (problem.row, problem.column) == (2, "cohort") and "1 free place" in problem.message


def test_a_trial_without_cohorts_takes_none():
    problem = one(csv_text(GOOD[0]), cohorts=())
    assert problem.column == "cohort" and "has no cohorts" in problem.message
    assert rules.validate(csv_text(GOOD[0].replace(",1,enrolled", ",,enrolled")), context(cohorts=())).ok


def test_cells_that_look_like_formulas_are_text():
    row = "T1-S1-001,AB,1960-05-01,F,2025-03-10,10 mg,1,off_study,,2025-04-01,other,=HYPERLINK(\"x\")"
    report = rules.validate(csv_text(row), context())
    assert report.ok and report.rows[0].off_study_detail == '=HYPERLINK("x")'
    for cell, column in (("+AB", "initials"), ("-1960-05-01", "date_of_birth"), ("@F", "sex")):
        bad = GOOD[0].split(",")
        bad[HEADER.split(",").index(column)] = cell
        assert (1, column) in problems(csv_text(",".join(bad)))


def test_every_bad_row_is_reported_and_good_rows_are_kept_apart():
    text = csv_text(GOOD[0], GOOD[1].replace(",m,", ",Q,"), GOOD[2].replace("1980-12-12", "12/12/1980"),
                    "T1-S1-004,AB")
    report = rules.validate(text, context())
    assert not report.ok and report.bad_rows == [2, 3, 4]
    assert [r.row for r in report.rows] == [1]
    assert "fields but the header has" in str(next(p for p in report.problems if p.row == 4))


# --- the command and the service -----------------------------------------------------------------------------

def run(*args) -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("import_subjects", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def args(path, *extra, user="coordinator"):
    return ["--trial", "BAT6005", "--site", "SITE-A", "--file", str(path), "--user", user, *extra]


def bad_copy(tmp_path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace("1970-11-23", "23/11/1970")
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_dry_run_reports_and_imports_nothing(escalated, people):
    code, out, _ = run(*args(EXAMPLE, "--dry-run"))
    assert code == 0 and "4 without problem, 0 problem(s)" in out and "Dry run" in out
    assert not Subject.objects.exists()


def test_a_bad_row_blocks_the_whole_file(escalated, people, tmp_path):
    for extra in ((), ("--dry-run",)):
        code, out, err = run(*args(bad_copy(tmp_path), *extra))
        assert code == 1 and "row 2 (line 3), column 'date_of_birth'" in out and "Nothing was imported" in err
    assert not Subject.objects.exists()


def test_a_clean_file_imports_every_subject_audited_with_user_and_reason(escalated, people):
    code, out, _ = run(*args(EXAMPLE))
    assert code == 0 and "Imported 4 subject(s)" in out
    subjects = {s.code: s for s in Subject.objects.filter(trial=escalated)}
    assert sorted(subjects) == [f"BAT6005-SITE-A-00{n}" for n in range(1, 5)]
    first = subjects["BAT6005-SITE-A-001"]
    assert (first.status, first.off_study_on, first.off_study_reason) == ("off_study", date(2025, 6, 30),
                                                                          "completed")
    assert first.cohort.number == 1 and first.dose_level.label == "10 mg" and first.enrolled_by == people[
        "coordinator"]
    assert timezone.localtime(first.enrolled_at).date() == date(2025, 3, 10)
    assert subjects["BAT6005-SITE-A-003"].status == "withdrawn"
    digest = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    reason = f"Imported from subjects-import.csv (sha256 {digest})"
    events = Subject.pgh_event_model.objects.filter(pgh_obj_id=first.pk).order_by("pgh_id")
    assert [e.pgh_label for e in events] == ["insert", "update"]  # created, then its enrolment date
    for event in events:
        assert event.pgh_context["user"] == people["coordinator"].pk
        assert event.pgh_context["reason"] == reason
    # The open cohort 2 is now full, as enrolment leaves it; the site's next enrolment number follows on.
    assert escalated.cohorts.get(number=2).status == Cohort.Status.FULL
    # A second run imports nothing twice: each code is already a subject.
    code, out, _ = run(*args(EXAMPLE))
    assert code == 1 and out.count("already a subject in TrialSite") == 4
    assert Subject.objects.count() == 4


def test_json_report_keys(escalated, people, tmp_path):
    code, out, _ = run(*args(bad_copy(tmp_path), "--json"))
    data = json.loads(out)
    assert code == 1 and set(data) == {"trial", "site", "file", "sha256", "dry_run", "ok", "rows", "good_rows",
                                       "bad_rows", "problems", "summary", "imported", "refused"}
    assert (data["ok"], data["rows"], data["good_rows"], data["bad_rows"]) == (False, 4, 3, [2])
    assert data["problems"] == [{"row": 2, "line": 3, "column": "date_of_birth", "message": data["problems"][0][
        "message"]}]
    code, out, _ = run(*args(EXAMPLE, "--json", "--dry-run"))
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["imported"] == [] and data["summary"]["cohort"] == {"1": 1, "2": 3}
    code, out, _ = run(*args(EXAMPLE, "--json"))
    assert code == 0 and json.loads(out)["imported"] == [f"BAT6005-SITE-A-00{n}" for n in range(1, 5)]


def test_the_command_refuses_a_user_who_is_not_the_sites_coordinator(escalated, people):
    from django.core.management.base import CommandError

    for user in ("investigator", "coordinator-b", "nobody"):
        with pytest.raises(CommandError, match="--user"):
            call_command("import_subjects", *args(EXAMPLE, user=user))
    assert not Subject.objects.exists()


def test_file_level_problems(escalated, people, tmp_path):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(EXAMPLE.read_bytes().replace(b"ZHY", "ZH\u00dd".encode("latin-1")))
    code, out, _ = run(*args(latin))
    assert code == 1 and "not UTF-8" in out and "line 3" in out
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, out, _ = run(*args(empty))
    assert code == 1 and "empty" in out
    assert not Subject.objects.exists()


def test_the_import_checks_again_under_the_lock(escalated, people, site_a):
    """An enrolment between the check and the import: the import refuses, nothing is half-imported."""
    content = EXAMPLE.read_bytes()
    site = site_a
    assert importing.check(trial=escalated, site=site, file_name="a.csv", content=content).ok
    Subject.objects.create(trial=escalated, site=site, code="BAT6005-SITE-A-001", initials="ZZ",
                           date_of_birth=date(1960, 1, 1), sex="F", enrolled_by=people["coordinator"],
                           dose_level=escalated.dose_levels.first())
    with pytest.raises(importing.ImportRefused) as refused:
        importing.subjects_import(user=people["coordinator"], trial=escalated, site=site, file_name="a.csv",
                                  content=content)
    assert (1, "code") in {(p.row, p.column) for p in refused.value.report.problems}
    assert Subject.objects.count() == 1


# --- the page ------------------------------------------------------------------------------------------------

def upload(client, trial, content: bytes, name="subjects.csv", site=None):
    site = site or trial.sites.get(code="SITE-A")
    return client.post(reverse("subjects:import", args=[trial.code]),
                       {"action": "check", "site": site.pk, "file": SimpleUploadedFile(name, content, "text/csv")})


def confirm(client, trial, digest):
    return client.post(reverse("subjects:import", args=[trial.code]), {"action": "confirm", "sha256": digest})


def test_page_upload_report_confirm(client, escalated, people, tmp_path):
    sign_in(client, people["coordinator"])
    listing = client.get(reverse("subjects:list", args=[escalated.code]))
    assert reverse("subjects:import", args=[escalated.code]) in listing.content.decode()

    bad = upload(client, escalated, bad_copy(tmp_path).read_bytes())
    body = bad.content.decode()
    assert bad.status_code == 422 and "id=\"import-problems\"" in body and "date_of_birth" in body
    assert "import-confirm" not in body  # nothing to confirm while a row is bad
    assert "3 subjects without problem" in body

    content = EXAMPLE.read_bytes()
    good = upload(client, escalated, content)
    assert good.status_code == 200 and "Import 4 subjects" in good.content.decode()
    assert not Subject.objects.exists()  # the check writes nothing
    digest = hashlib.sha256(content).hexdigest()
    done = confirm(client, escalated, digest)
    assert done.status_code == 302 and done["Location"] == reverse("subjects:list", args=[escalated.code])
    assert Subject.objects.filter(trial=escalated).count() == 4
    event = Subject.pgh_event_model.objects.filter(code="BAT6005-SITE-A-002", pgh_label="insert").get()
    assert event.pgh_context["user"] == people["coordinator"].pk
    assert event.pgh_context["reason"] == f"Imported from subjects.csv (sha256 {digest})"
    listing = client.get(reverse("subjects:list", args=[escalated.code]))
    assert "BAT6005-SITE-A-004" in listing.content.decode()

    # Confirming again (a repeat after the first finished) imports nothing twice, and says so.
    again = confirm(client, escalated, digest)
    assert again.status_code == 422 and "already imported" in again.content.decode()
    assert Subject.objects.count() == 4
    rechecked = upload(client, escalated, content)
    assert rechecked.status_code == 422 and rechecked.content.decode().count("already a subject") == 4


def test_page_refuses_a_file_changed_between_check_and_confirm(client, escalated, people):
    sign_in(client, people["coordinator"])
    first = EXAMPLE.read_bytes()
    second = first.replace(b"ZHY", b"ZHX")
    assert upload(client, escalated, first).status_code == 200
    assert upload(client, escalated, second, name="other.csv").status_code == 200  # another tab, another file
    refused = confirm(client, escalated, hashlib.sha256(first).hexdigest())
    assert refused.status_code == 422 and "not the file checked last" in refused.content.decode()
    assert "other.csv" in refused.content.decode()
    assert not Subject.objects.exists()
    forged = confirm(client, escalated, "0" * 64)
    assert forged.status_code == 422 and not Subject.objects.exists()
    assert confirm(client, escalated, hashlib.sha256(second).hexdigest()).status_code == 302
    assert Subject.objects.get(code="BAT6005-SITE-A-002").initials == "ZHX"


def test_page_is_for_the_sites_coordinators_only(client, escalated, people):
    url = reverse("subjects:import", args=[escalated.code])
    for role in ("investigator", "sponsor"):
        sign_in(client, people[role])
        assert client.get(url).status_code == 403
        assert upload(client, escalated, EXAMPLE.read_bytes()).status_code == 403
    assert not Subject.objects.exists()
    # A coordinator of another site chooses only among its own sites.
    sign_in(client, people["coordinator_b"])
    response = upload(client, escalated, EXAMPLE.read_bytes())
    assert response.status_code == 422 and "Choose one of your sites" in response.content.decode()
    assert not Subject.objects.exists()


def test_page_names_file_problems(client, escalated, people):
    sign_in(client, people["coordinator"])
    response = upload(client, escalated, "code\n".encode("utf-16"))
    assert response.status_code == 422 and "not UTF-8" in response.content.decode()
    response = upload(client, escalated, b"x", name="subjects.xlsx")
    assert response.status_code == 422 and "Choose a CSV file" in response.content.decode()
