"""The edit-check runner (queries/checks.py): after a save (once committed) and by the sweep (command,
Celery task), a failing rule raises one query, the data passing close it automatically."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from queries import checks
from queries.models import Query
from queries.services import query_close
from records.registry import kind_for
from records.services import record_correct, record_void
from subjects.models import Assessment, DoseAdministration
from tests.queries.conftest import record_ae
from trialrules.edit_checks import RulesError

pytestmark = pytest.mark.django_db

AE = "adverse-event"
RESOLVED = "ae.resolved_without_date"


def edit_check_queries(**filters):
    return Query.objects.filter(origin="edit_check", **filters)


def test_a_saved_ae_failing_a_rule_raises_one_query_and_the_correction_closes_it(
        roles, subject, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = record_ae(subject, roles["coordinator"], outcome="recovered")  # recovered, but no resolution date
    [query] = edit_check_queries()
    assert (query.check_code, query.kind, query.field, query.status) == (RESOLVED, AE, "resolution_date", "open")
    assert query.raised_by is None and query.record == event and query.subject == subject
    assert query.text == "The outcome is recovered/resolved, but no resolution date is given."
    assert list(query.messages.values_list("action", "user")) == [("raised", None)]

    # Saved again, swept again: still one query.
    with django_capture_on_commit_callbacks(execute=True):
        record_correct(kind=kind_for(AE), record=event, user=roles["coordinator"], changes={"grade": 2},
                       reason="Grade 2 per the notes")
    assert checks.sweep(subject.trial)["raised"] == 0
    assert edit_check_queries().count() == 1

    # The site answers the query with the correction: recorded in the query, which then closes itself.
    with django_capture_on_commit_callbacks(execute=True):
        record_correct(kind=kind_for(AE), record=event, user=roles["coordinator"],
                       changes={"resolution_date": timezone.localdate()}, reason="Resolved today", query=query)
    query.refresh_from_db()
    assert query.status == "closed" and query.closed_by is None and query.closed_at is not None
    assert list(query.messages.values_list("action", flat=True)) == ["raised", "corrected", "auto_closed"]
    assert query.messages.get(action="corrected").change["changes"] == [
        {"field": "resolution_date", "old": "", "new": timezone.localdate().isoformat()}]
    result = checks.sweep(subject.trial)
    assert result["checked"] >= 1 and (result["raised"], result["closed"]) == (0, 0)


def test_without_a_commit_nothing_is_checked(roles, subject):
    record_ae(subject, roles["coordinator"], outcome="recovered")  # the test's transaction never commits
    assert not edit_check_queries().exists()


def test_the_sweep_finds_what_was_changed_outside_the_application(roles, subject):
    """A change made with a queryset update (as raw SQL would) sends no signal: the sweep raises the query."""
    from subjects.services import dose_record
    from tests.screening.helpers import predose

    first = timezone.now() - timedelta(hours=2)
    predose(subject, first, roles["coordinator"])
    dose = dose_record(subject=subject, drug=subject.trial.drugs.get(), cycle=1, day=1, administered_at=first,
                       user=roles["coordinator"])
    DoseAdministration.objects.filter(pk=dose.pk).update(administered_at=subject.enrolled_at - timedelta(days=2))
    Assessment.objects.filter(subject=subject).update(weight_kg=Decimal("700.0"))
    result = checks.sweep(subject.trial)
    codes = set(edit_check_queries().values_list("check_code", flat=True))
    assert {"dose.before_enrolment", "assessment.weight_range"} <= codes
    assert result["raised"] == edit_check_queries().count()
    query = edit_check_queries().get(check_code="dose.before_enrolment")
    assert query.field == "administered_at" and query.kind == "dose"
    # Fixed the same way: the next sweep closes those queries.
    DoseAdministration.objects.filter(pk=dose.pk).update(administered_at=first)
    checks.sweep(subject.trial)
    query.refresh_from_db()
    assert query.status == "closed" and query.messages.last().action == "auto_closed"
    weights = edit_check_queries(check_code="assessment.weight_range")
    assert weights.exists() and set(weights.values_list("status", flat=True)) == {"open"}


def test_a_value_a_person_closed_the_query_on_is_not_queried_again(roles, subject):
    event = record_ae(subject, roles["coordinator"], outcome="recovered")
    checks.sweep(subject.trial)
    query = edit_check_queries().get()
    query_close(user=roles["monitor"], query=query, text="The date is unknown: confirmed with the site.")
    assert query.value_at_raise == "outcome=recovered"
    checks.sweep(subject.trial)
    assert edit_check_queries().count() == 1
    # A later change that still fails the rule is queried again.
    type(event).objects.filter(pk=event.pk).update(outcome="sequelae")
    checks.check_record(kind_for(AE), type(event).objects.get(pk=event.pk))
    assert edit_check_queries(status="open").get().value_at_raise == "outcome=sequelae"
    assert edit_check_queries().count() == 2


def test_a_void_record_closes_its_edit_check_queries(roles, subject, django_capture_on_commit_callbacks):
    event = record_ae(subject, roles["coordinator"], outcome="recovered")
    checks.sweep(subject.trial)
    with django_capture_on_commit_callbacks(execute=True):
        record_void(kind=kind_for(AE), record=event, user=roles["coordinator"], reason="Entered in error")
    query = edit_check_queries().get()
    assert query.status == "closed"
    assert query.messages.last().text == "The entry was voided: it counts nowhere."


def test_screening_values_are_checked(roles, bat6005, site_a):
    from screening.models import ScreeningRecord
    from tests.screening.helpers import eligible_screening

    record = eligible_screening(bat6005, site_a, roles["coordinator"], confirm=False)
    ScreeningRecord.objects.filter(pk=record.pk).update(values={**record.values, "anc": "1500", "lvef": "62"})
    checks.sweep(bat6005)
    query = edit_check_queries(kind="screening-values").get()
    assert (query.check_code, query.field, query.value_at_raise, query.subject) == (
        "screening.anc_range", "values", "1500", None)


def test_the_command_and_the_task(roles, subject):
    record_ae(subject, roles["coordinator"], outcome="recovered")
    out = StringIO()
    call_command("edit_checks", "--trial", subject.trial.code, stdout=out)
    assert "1 queries raised" in out.getvalue()
    from queries.tasks import sweep

    assert sweep.apply(kwargs={"trial_code": subject.trial.code}).get()["raised"] == 0
    with pytest.raises(CommandError, match="no trial 'NOPE'"):
        call_command("edit_checks", "--trial", "NOPE")
    out = StringIO()
    call_command("edit_checks", "--validate", stdout=out)
    assert "rules, all valid" in out.getvalue() and RESOLVED in out.getvalue()


def test_a_bad_rules_file_is_named(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\ncode = "x"\nkind = "adverse-event"\ntype = "range"\nfields = ["colour"]\n'
                    'min = 1\nmessage = "m"\n', encoding="utf-8")
    with pytest.raises(RulesError, match=r"rule 1 \(x\).field: 'colour' is not a field of adverse-event"):
        checks.read_rules(path)
