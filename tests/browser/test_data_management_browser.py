"""Data management in headless Chromium (issue 13), each flow driven through the pages by the role that does
it: data queries (raise, answer with a correction or an explanation, re-open, close; where open queries
show), source-data verification (verify a field and a form; a later correction clears it), exports (a
background job on a real Celery worker, its progress, the download; the sponsor's is de-identified) and
the import of a site's existing subjects (dry-run report naming each bad row, nothing imported until the
file is clean).

Wrong values (no text, no reason, bad rows, a file that is not CSV) are tried first, and the submit
buttons are double-clicked: the thing happens once. Every page is checked for Content-Security-Policy
violations (a ``securitypolicyviolation`` listener installed before any page script) and console errors,
and saved as artifacts/screenshots/data-management/<name>.png.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError

from exports.models import ExportJob
from monitoring.models import SourceVerification
from queries.models import Query, QueryMessage
from subjects.models import AdverseEvent, Subject
from subjects.services import adverse_event_record, subject_enrol
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_double_click import double_click, settle
from tests.browser.test_trial_loop_browser import log_in
from tests.celery_helpers import wait_for
from tests.conftest import member
from trials.models import Role
from trialsite.celery import app as celery_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOLDER = SCREENSHOTS / "data-management"
AE = "adverse-event"

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""


@pytest.fixture
def dm_page(page):
    """The page, with the CSP listener in every document it loads."""
    page.add_init_script(WATCH)
    FOLDER.mkdir(parents=True, exist_ok=True)
    return page


def look(page, name: str):
    """No CSP violation and no console error on the page as it is now; a full-page screenshot of it."""
    page.wait_for_load_state("networkidle")
    violations = page.evaluate("() => window.__violations || []")
    assert violations == [], (name, violations)
    assert not page.problems, (name, page.problems)
    page.screenshot(path=str(FOLDER / f"{name}.png"), full_page=True)


@pytest.fixture
def team(people, bat6005, site_a, site_b):
    return {**people,
            "monitor": member(bat6005, Role.MONITOR, site_a, "monitor"),
            "data_manager": member(bat6005, Role.DATA_MANAGER, None, "data-manager")}


@pytest.fixture
def event(team, bat6005, site_a):
    subject = subject_enrol(trial=bat6005, site=site_a, user=team["coordinator"], initials="QRY",
                            date_of_birth=date(1960, 1, 1), sex="M")
    return adverse_event_record(subject=subject, user=team["coordinator"], term="Fatigue", grade=1,
                                onset_date=timezone.localdate() - timedelta(days=3), attribution="unrelated")


def thread_count(query, action) -> int:
    return QueryMessage.objects.filter(query=query, action=action).count()


def take_step(page, query, action: str, text: str, shown: str, status: str, message: str) -> None:
    """Fill the ``action`` form of the query page with ``text``, double-click it; the thread shows ``shown``
    and the query is ``status`` with one ``message`` of that kind."""
    page.fill(f"#id_text_{action}", text)
    double_click(page, f"#{action}-form button[type=submit]")
    page.wait_for_function(f"() => document.querySelector('#thread').innerText.includes({shown!r})")
    settle(page)
    query.refresh_from_db()
    assert query.status == status and thread_count(query, message) == 1


def test_a_query_raised_answered_with_a_correction_reopened_answered_and_closed(dm_page, team, event):
    page = dm_page
    subject = event.subject

    # The monitor raises a query on the grade, from the adverse event's page.
    log_in(page, "monitor")
    page.goto(f"/subjects/adverse-events/{event.pk}/")
    look(page, "ae-detail-monitor")
    page.click("#raise-query")
    page.wait_for_url(re.compile(rf"/queries/raise/{AE}/{event.pk}/"))
    page.select_option("#id_field", "grade")
    page.click("#raise-form button[type=submit]")  # no text
    page.wait_for_selector("#id_text-error")
    assert "required" in page.inner_text("#id_text-error")
    look(page, "query-raise-needs-text")
    assert not Query.objects.exists()
    page.select_option("#id_field", "grade")
    page.fill("#id_text", "The source notes say grade 2: please check.")
    double_click(page, "#raise-form button[type=submit]")
    page.wait_for_url(re.compile(r"/queries/\d+/$"))
    settle(page)
    query = Query.objects.get()
    assert (query.field, query.status, query.value_at_raise) == ("grade", "open", "1")
    assert page.url.endswith(f"/queries/{query.pk}/")
    assert "The source notes say grade 2" in page.inner_text("#thread")
    assert page.locator("#answer-with-correction").count() == 0  # the monitor writes no clinical data
    look(page, "query-detail-raised")

    # The coordinator sees it in the work queue, on the subject page and on the record; answers with a
    # correction through the reason-for-change page.
    log_in(page, "coordinator")
    assert f"query #{query.pk} on adverse event (grade)" in page.inner_text("#queue-queries")
    look(page, "home-coordinator-queue")
    page.goto(f"/subjects/{subject.pk}/")
    assert page.inner_text("#subject-query-count") == "1"
    assert f"#{query.pk}" in page.inner_text("#subject-queries")
    page.locator("#subject-queries").scroll_into_view_if_needed()
    look(page, "subject-with-open-query")
    page.goto(f"/subjects/adverse-events/{event.pk}/")
    assert f"#{query.pk}" in page.inner_text("#record-queries")
    page.click(f"#record-queries a[href='/queries/{query.pk}/']")
    page.wait_for_url(re.compile(rf"/queries/{query.pk}/$"))
    assert page.inner_text("#value-now") == "1"
    look(page, "query-detail-coordinator")
    page.click("#answer-with-correction")
    page.wait_for_url(re.compile(rf"/records/{AE}/{event.pk}/correct/\?query={query.pk}$"))
    assert f"query #{query.pk}" in page.inner_text("#answering-query")
    page.fill("#id_grade", "2")
    page.click("#correct-form button[type=submit]")  # no reason
    page.wait_for_selector("#id_reason-error")
    look(page, "correction-for-query-needs-reason")
    assert AdverseEvent.objects.get(pk=event.pk).grade == 1
    page.fill("#id_reason", "Grade 2 per the clinic notes of that day")
    double_click(page, "#correct-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/queries/{query.pk}/$"))
    settle(page)
    assert AdverseEvent.objects.get(pk=event.pk).grade == 2
    assert thread_count(query, "corrected") == 1
    query.refresh_from_db()
    assert query.status == "answered"
    thread = page.inner_text("#thread")
    assert "Answered with a correction" in thread and "Grade 2 per the clinic notes" in thread
    assert re.search(r"1\s*→\s*2", thread), thread
    look(page, "query-answered-with-correction")

    # The monitor does not accept it: re-opening needs a reason.
    log_in(page, "monitor")
    assert f"query #{query.pk}" in page.inner_text("#queue-queries-review")
    page.goto(f"/queries/{query.pk}/")
    page.click("#reopen-form button[type=submit]")
    page.wait_for_selector("#reopen-form .error")
    assert "Write why the query is re-opened." in page.inner_text("#reopen-form")
    look(page, "query-reopen-needs-reason")
    query.refresh_from_db()
    assert query.status == "answered"
    take_step(page, query, "reopen", "The onset date is to be checked too, against the same notes.", "Re-opened",
              "open", "reopened")
    look(page, "query-reopened")

    # The coordinator answers with an explanation this time (the data stay as they are).
    log_in(page, "coordinator")
    page.goto(f"/queries/{query.pk}/")
    page.click("#answer-form button[type=submit]")  # no text
    page.wait_for_selector("#answer-form .error")
    assert "Write the answer." in page.inner_text("#answer-form")
    take_step(page, query, "answer", "The onset date matches the notes: 3 days ago.", "matches the notes",
              "answered", "answered")
    look(page, "query-answered-with-explanation")

    # The investigator of the site (a raiser role there) closes it.
    log_in(page, "investigator")
    page.click(f"#queue-queries-review a[href='/queries/{query.pk}/']")
    page.wait_for_url(re.compile(rf"/queries/{query.pk}/$"))
    take_step(page, query, "close", "Resolved by the correction and the answer.", "Resolved by", "closed", "closed")
    assert query.closed_by == team["investigator"]
    assert page.locator("#close-form").count() == 0 and page.locator("#reopen-form").count() == 1
    look(page, "query-closed")

    # The data manager (no site page) finds the record by subject code among the records to review, raises
    # a second query (whole form), and reads the trial's queries with the filters.
    log_in(page, "data-manager")
    page.goto("/trials/BAT6005/")
    page.click("#data-management-links a[href='/queries/trials/BAT6005/']")
    page.wait_for_url("**/queries/trials/BAT6005/")
    assert "No query." in page.inner_text("#queries")  # the closed one is not listed by default
    page.click("a[href='/queries/trials/BAT6005/records/']")
    page.wait_for_url("**/queries/trials/BAT6005/records/")
    page.fill("#id_subject", subject.code)
    page.press("#id_subject", "Enter")
    page.wait_for_url(re.compile(r"/records/\?"))
    row = page.locator("#review tbody tr").filter(has_text=subject.code)
    assert row.count() == 1 and "Fatigue" in row.inner_text()
    look(page, "records-to-review-data-manager")
    row.locator(f"a[href='/queries/raise/{AE}/{event.pk}/']").click()
    page.wait_for_url(re.compile(rf"/queries/raise/{AE}/{event.pk}/$"))
    page.fill("#id_text", "Is the attribution confirmed by the investigator?")
    page.click("#raise-form button[type=submit]")
    page.wait_for_url(re.compile(r"/queries/\d+/$"))
    second = Query.objects.exclude(pk=query.pk).get()
    assert second.field == "" and second.raised_by == team["data_manager"]
    assert "(identifying data)" not in page.inner_text("#query-facts")  # the grade is no identity
    page.click("nav.crumbs a[href='/queries/trials/BAT6005/']")
    page.wait_for_url("**/queries/trials/BAT6005/")
    assert page.locator("#queries tbody tr").count() == 1  # not closed, by default
    look(page, "query-list-data-manager")
    page.select_option("#id_status", "all")  # htmx swaps the results in
    page.wait_for_function("() => document.querySelectorAll('#queries tbody tr').length === 2")
    look(page, "query-list-all")

    # The sponsor's dashboard: counts and ages per site, no subject, no text.
    log_in(page, "sponsor")
    page.goto("/trials/BAT6005/dashboard/")
    row = page.locator("#query-sites tbody tr").filter(has_text="SITE-A")
    cells = row.locator("td").all_inner_texts()
    assert cells[1:3] == ["1", "0"] and cells[-1] == "1", cells  # open 1, answered 0, closed 1
    assert subject.code not in page.inner_text("#query-sites")
    assert "Is the attribution confirmed" not in page.inner_text("body")
    page.locator("#query-sites").scroll_into_view_if_needed()
    look(page, "sponsor-dashboard-query-counts")


def test_a_double_click_without_javascript_raises_one_query(browser, site_server, team, event):
    """No script: both submissions reach the server; its one-time form token saves the query once and
    sends the second request where the first went, saying nothing was saved twice."""
    from submissions.middleware import ALREADY_SUBMITTED

    context = browser.new_context(base_url=site_server, java_script_enabled=False,
                                  viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, "monitor")
        page.goto(f"/queries/raise/{AE}/{event.pk}/?field=onset_date")
        assert page.input_value("#id_field") == "onset_date"
        page.fill("#id_text", "The onset in the notes is a day earlier.")
        double_click(page, "#raise-form button[type=submit]")
        try:
            page.wait_for_url(re.compile(r"/queries/\d+/$"))
        except PlaywrightError:  # the second submission aborted the first one's navigation: wait for its own
            page.wait_for_load_state()
            page.wait_for_url(re.compile(r"/queries/\d+/$"))
        settle(page)
        assert Query.objects.filter(object_id=event.pk).count() == 1
        assert ALREADY_SUBMITTED in page.inner_text(".messages")
        FOLDER.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(FOLDER / "query-raised-twice-without-javascript.png"), full_page=True)
    finally:
        context.close()


def test_the_monitor_verifies_a_field_and_the_form_and_a_correction_clears_it(dm_page, team, event):
    page = dm_page
    subject = event.subject
    log_in(page, "monitor")
    page.click("a[href='/monitoring/trials/BAT6005/']")
    page.wait_for_url("**/monitoring/trials/BAT6005/")
    assert subject.code in page.inner_text("#site-SITE-A")
    look(page, "sdv-progress")
    page.click(f"#sdv-subject-{subject.pk} a[href='/monitoring/subjects/{subject.pk}/']")
    page.wait_for_url(f"**/monitoring/subjects/{subject.pk}/")
    look(page, "sdv-subject-forms")
    page.locator("#sdv-forms tr").filter(has_text="Adverse event").locator("a").click()
    page.wait_for_url(re.compile(rf"/records/{AE}/{event.pk}/history/#sdv$"))
    look(page, "sdv-panel-before")

    double_click(page, "#sdv-grade button[type=submit]")
    page.wait_for_selector("#sdv-grade[data-sdv=verified]")
    settle(page)
    assert SourceVerification.objects.filter(object_id=event.pk, field="grade").count() == 1
    assert page.locator("#sdv-grade button").count() == 0
    double_click(page, "#sdv-verify-form button[type=submit]")
    page.wait_for_selector("#sdv-form-status[data-sdv=verified]")
    settle(page)
    assert SourceVerification.objects.filter(object_id=event.pk, field="", cleared_at=None).count() == 1
    assert "verified" in page.inner_text(".messages").lower()
    look(page, "sdv-panel-verified")

    # Withdrawing the grade's verification needs a reason of five characters at least.
    page.click("#sdv details summary")
    withdraw = page.locator("#sdv details form").filter(has_text="Grade")
    withdraw.locator("input[name=reason]").fill("no")
    withdraw.locator("button[type=submit]").click()
    page.wait_for_timeout(300)
    assert SourceVerification.objects.filter(object_id=event.pk, field="grade", cleared_at=None).exists()
    assert withdraw.locator("input[name=reason]").evaluate("el => el.validity.tooShort")  # the browser said so
    look(page, "sdv-withdraw-reason-too-short")
    withdraw = page.locator("#sdv details form").filter(has_text="Grade")
    withdraw.locator("input[name=reason]").fill("Verified against the wrong visit's notes")
    double_click(page, "#sdv details form:has-text('Grade') button[type=submit]")
    page.wait_for_selector(".messages :text('Verification withdrawn')")
    settle(page)
    withdrawn = SourceVerification.objects.get(object_id=event.pk, field="grade")
    assert withdrawn.cleared_at is not None and "wrong visit" in withdrawn.cleared_reason
    page.goto(f"/monitoring/subjects/{subject.pk}/")
    assert "1 / " in page.inner_text("#sdv-subject-total")

    # A later correction of the grade by the coordinator clears the verification, naming the change.
    log_in(page, "coordinator")
    page.goto(f"/records/{AE}/{event.pk}/correct/")
    page.fill("#id_grade", "2")
    page.fill("#id_reason", "Grade per the clinic notes")
    page.click("#correct-form button[type=submit]")
    page.wait_for_url(re.compile(r"/subjects/"))
    standing = SourceVerification.objects.filter(object_id=event.pk, cleared_at=None)
    assert not standing.filter(field="grade").exists() and not standing.filter(field="").exists()

    log_in(page, "monitor")
    page.goto(f"/records/{AE}/{event.pk}/history/")
    assert page.get_attribute("#sdv-grade", "data-sdv") != "verified"
    assert page.get_attribute("#sdv-form-status", "data-sdv") != "verified"
    assert "grade" in page.inner_text(".sdv-past").lower()
    assert page.locator("#sdv-grade button").count() == 1  # to verify again
    look(page, "sdv-panel-cleared")
    # A value that does not match the source: the field's query link opens the query on that field.
    page.click("#sdv-onset_date a.sdv-query")
    page.wait_for_url(re.compile(rf"/queries/raise/{AE}/{event.pk}/\?field=onset_date$"))
    assert page.input_value("#id_field") == "onset_date"
    page.goto("/monitoring/trials/BAT6005/")
    assert "cleared" in page.inner_text("#site-SITE-A-total")
    look(page, "sdv-progress-cleared")


def _download(page, job) -> bytes:
    link = page.locator(f"#export-job-{job.pk} a[href='/exports/jobs/{job.pk}/download/']")
    with page.expect_download() as info:
        link.click()
    return open(info.value.path(), "rb").read()


def test_exports_run_in_the_background_and_download(dm_page, team, event):
    page = dm_page
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # The sponsor: whole trial, de-identified only (no choice offered).
        log_in(page, "sponsor")
        page.goto("/trials/BAT6005/dashboard/")
        page.click("a[href='/exports/trials/BAT6005/']")
        page.wait_for_url("**/exports/trials/BAT6005/")
        assert page.locator("input[name=identity][type=radio]").count() == 0
        look(page, "exports-sponsor")
        page.check("input[name=format][value=csv]")
        double_click(page, "#export-form button[type=submit]")
        page.wait_for_url("**/exports/trials/BAT6005/")
        settle(page)
        job = ExportJob.objects.get()
        assert job.deidentified and job.format == "csv"
        # The jobs' table polls itself until the job is done; the page is not reloaded.
        page.wait_for_selector(f"#export-job-{job.pk}[data-status=done]", timeout=60_000)
        look(page, "exports-sponsor-done")
        content = _download(page, job)
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            text = "\n".join(archive.read(name).decode("utf-8") for name in archive.namelist())
        assert event.subject.code in text and "QRY" not in text and "1960-01-01" not in text

        # The coordinator: a format the application does not make (a stale or altered form) is refused with
        # the field named; then an identifiable CSV of the site's subjects.
        log_in(page, "coordinator")
        page.goto("/trials/BAT6005/")
        page.click("#data-management-links a[href='/exports/trials/BAT6005/']")
        page.wait_for_url("**/exports/trials/BAT6005/")
        page.evaluate("() => { document.querySelector('input[name=format][value=csv]').value = 'xls'; }")
        page.check("input[name=format][value=xls]")
        page.click("#export-form button[type=submit]")
        page.wait_for_selector("#export-errors")
        assert "format" in page.inner_text("#export-errors")
        look(page, "exports-coordinator-refused")
        assert not ExportJob.objects.filter(requested_by=team["coordinator"]).exists()
        page.check("input[name=format][value=csv]")
        page.check("input[name=identity][value=identifiable]")
        page.click("#export-form button[type=submit]")
        page.wait_for_url("**/exports/trials/BAT6005/")
        mine = ExportJob.objects.get(requested_by=team["coordinator"])
        assert not mine.deidentified
        page.wait_for_selector(f"#export-job-{mine.pk}[data-status=done]", timeout=60_000)
        assert page.locator(f"#export-job-{job.pk}").count() == 0  # the sponsor's job is not listed
        look(page, "exports-coordinator-done")
        with zipfile.ZipFile(io.BytesIO(_download(page, mine))) as archive:
            text = "\n".join(archive.read(name).decode("utf-8") for name in archive.namelist())
        assert "QRY" in text
        assert wait_for(lambda: ExportJob.objects.filter(status="done").count() == 2, 10)


HEADER = ("code,initials,date_of_birth,sex,enrolled_on,dose_level,cohort,status,tumour_type,off_study_on,"
          "off_study_reason,off_study_detail")
GOOD_ROWS = [
    "BAT6005-SITE-A-001,LWM,1961-04-02,M,2025-03-10,10 mg,1,off_study,Leiomyosarcoma,2025-06-30,completed,",
    "BAT6005-SITE-A-002,ZHY,1970-11-23,F,2025-05-06,30 mg,2,enrolled,Cervical cancer,,,",
    "BAT6005-SITE-A-003,CQ,1958-01-15,M,2025-05-20,30 mg,2,withdrawn,Hepatocellular carcinoma,2025-07-01,withdrawn,",
]


def csv_file(name: str, rows) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": "\n".join([HEADER, *rows, ""]).encode("utf-8")}


def test_the_coordinator_imports_subjects_after_a_clean_dry_run(dm_page, people, escalated):
    page = dm_page
    log_in(page, "coordinator")
    page.goto("/subjects/trials/BAT6005/")
    page.click("#import-link")
    page.wait_for_url("**/import/")
    assert "Required columns: code, initials, date_of_birth" in page.inner_text("#import-format")
    look(page, "import-page")

    # Not a CSV file: the field says so.
    page.set_input_files("#id_file", files=[{"name": "subjects.xlsx", "mimeType": "application/octet-stream",
                                            "buffer": b"PK\x03\x04"}])
    page.click("#import-upload button[type=submit]")
    page.wait_for_selector("#id_file-error")
    assert "CSV" in page.inner_text("#id_file-error")

    # Two bad rows: each named with its column; nothing imported, nothing to confirm.
    bad = [GOOD_ROWS[0], GOOD_ROWS[1].replace("1970-11-23", "23/11/1970"), GOOD_ROWS[2].replace(",M,", ",X,")]
    page.set_input_files("#id_file", files=[csv_file("subjects.csv", bad)])
    page.click("#import-upload button[type=submit]")
    page.wait_for_selector("#import-problems")
    rows = [tuple(cells) for cells in (r.locator("td").all_inner_texts()
                                      for r in page.locator("#import-problems tbody tr").all())]
    assert {(r[0], r[2]) for r in rows} == {("2", "date_of_birth"), ("3", "sex")}, rows
    assert "2 problems in 2 rows" in page.inner_text("#import-report h2")
    assert "The other 1 row has no problem." in page.inner_text("#import-report")
    assert page.locator("#import-confirm").count() == 0
    look(page, "import-report-bad-rows")
    assert not Subject.objects.exists()

    # The clean file: the report, then one import for a double click.
    page.set_input_files("#id_file", files=[csv_file("subjects.csv", GOOD_ROWS)])
    page.click("#import-upload button[type=submit]")
    page.wait_for_selector("#import-confirm")
    assert page.locator("#import-rows tbody tr").count() == 3
    assert not Subject.objects.exists()  # the check writes nothing
    look(page, "import-report-clean")
    double_click(page, "#import-confirm button[type=submit]")
    page.wait_for_url("**/subjects/trials/BAT6005/")
    settle(page)
    assert Subject.objects.filter(trial=escalated).count() == 3
    assert "3 subjects imported" in page.inner_text(".messages")
    assert "BAT6005-SITE-A-003" in page.inner_text("body")
    look(page, "import-done-subject-list")
    codes = list(csv.reader(io.StringIO("\n".join(GOOD_ROWS))))
    assert {c[0] for c in codes} == set(Subject.objects.values_list("code", flat=True))
