"""The periodic review re-evaluates only what changed (issue 14): the database's change counters
(escalation.changes, migration escalation.0006), the selection of trials to review, and the review itself
through the real engine — a changed trial is evaluated, an unchanged one is not read, a closed DLT window
brings its trial back, and the steady state costs the same few queries however many trials there are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation import services
from escalation.models import CohortReview, EscalationDecision, TrialChange
from escalation.selectors import trials_to_review
from escalation.tasks import review_open_cohorts
from subjects.models import AdverseEvent, DoseAdministration, Subject
from subjects.services import adverse_event_record
from tests.conftest import load_trial
from tests.test_decision_safety import dosed

pytestmark = pytest.mark.django_db


def seq(trial) -> int:
    return TrialChange.objects.filter(trial=trial).values_list("seq", flat=True).first() or 0


@pytest.fixture
def evaluated(monkeypatch):
    """The trial ids the review evaluates, in order (the real decision_review still runs)."""
    seen: list[int] = []
    real = services.decision_review

    def spy(*, trial, now=None):
        seen.append(trial.pk)
        return real(trial=trial, now=now)

    monkeypatch.setattr(services, "decision_review", spy)
    return seen


def test_each_statement_bumps_the_trials_it_touched_once(people, bat6005, site_a):
    lvgn = load_trial("LVGN6051-ANLOTINIB")
    subject = dosed(bat6005, site_a, people["coordinator"], "AA", 3)
    before, other = seq(bat6005), seq(lvgn)
    assert before > 0  # the enrolment and the dose counted already

    # One bulk INSERT of many doses: one bump of its one trial, none of the other.
    drug = bat6005.drugs.get()
    DoseAdministration.objects.bulk_create([
        DoseAdministration(subject=subject, drug=drug, cycle=c, day=1, dose=10, unit="mg",
                           administered_at=timezone.now() - timedelta(days=2), recorded_by=people["coordinator"])
        for c in range(2, 12)])
    assert (seq(bat6005), seq(lvgn)) == (before + 1, other)

    # An AE insert, an update of it, a void (an update) and a deletion: each statement once.
    ae = adverse_event_record(subject=subject, user=people["coordinator"], term="Fatigue", grade=1,
                              onset_date=timezone.localdate(), attribution="unrelated")
    after_ae = seq(bat6005)
    assert after_ae > before + 1
    AdverseEvent.all_objects.filter(pk=ae.pk).update(grade=2)
    assert seq(bat6005) == after_ae + 1
    DoseAdministration.all_objects.filter(subject=subject, cycle__gte=2).delete()
    assert seq(bat6005) == after_ae + 2

    # A statement on the dose levels or the trial row itself.
    bat6005.dose_levels.filter(rank=1).update(label="10 mg")
    assert seq(bat6005) == after_ae + 3
    assert seq(lvgn) == other


def test_the_review_reads_only_the_trials_that_changed(people, bat6005, site_a, evaluated):
    lvgn = load_trial("LVGN6051-ANLOTINIB")
    ql = load_trial("QL1706")  # fixed dose: never reviewed
    review_open_cohorts()
    assert sorted(evaluated) == sorted([bat6005.pk, lvgn.pk]) and ql.pk not in evaluated
    evaluated.clear()

    # Nothing changed: nothing is read again, however often it runs.
    assert review_open_cohorts() == 0 and review_open_cohorts() == 0
    assert evaluated == []
    assert trials_to_review(now=timezone.now()) == []

    # An enrolment and a dose at BAT6005 (DLT window open): BAT6005 only, and once.
    subject = dosed(bat6005, site_a, people["coordinator"], "BB", 3)
    review_open_cohorts()
    assert evaluated == [bat6005.pk]
    evaluated.clear()
    review_open_cohorts()
    assert evaluated == []

    # Its window ends in 18 days: the review says when, and comes back then with no data changed.
    review = CohortReview.objects.get(trial=bat6005)
    first = subject.first_dose().administered_at
    assert review.due_at == first + timedelta(days=bat6005.dlt_window_days)
    assert trials_to_review(now=review.due_at - timedelta(seconds=1)) == []
    assert [t for t, _ in trials_to_review(now=review.due_at)] == [bat6005.pk]


def test_a_closed_window_is_decided_without_any_data_change(people, bat6005, site_a, evaluated, monkeypatch):
    """The live loop: the first dose 20 days ago; the review runs while the window is open and remembers when
    it closes; nothing is entered afterwards, and the first run after that moment decides."""
    dosed(bat6005, site_a, people["coordinator"], "CC", 20)
    assert review_open_cohorts() == 0  # window open: no decision
    due = CohortReview.objects.get(trial=bat6005).due_at
    assert timezone.now() < due < timezone.now() + timedelta(days=1)
    evaluated.clear()
    assert review_open_cohorts() == 0 and evaluated == []  # not due yet: not read
    later = due + timedelta(minutes=5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert review_open_cohorts() == 1
    assert evaluated == [bat6005.pk]
    assert EscalationDecision.objects.get(trial=bat6005).status == EscalationDecision.Status.PENDING
    evaluated.clear()
    assert review_open_cohorts() == 0 and evaluated == []  # its own decision is not a change to review again
    # ... but anyone else's write is, in the same transaction as ever (the setting did not outlive the review).
    adverse_event_record(subject=Subject.objects.get(trial=bat6005), user=people["coordinator"], term="Fatigue",
                         grade=1, onset_date=timezone.localdate(), attribution="unrelated")
    review_open_cohorts()
    assert evaluated == [bat6005.pk]


def copy_of(code: str, new_code: str):
    """Another trial of the same protocol under its own code (as the portfolio benchmark builds them)."""
    from portfolio.build import _load_trial
    from tests.conftest import protocol_definition

    return _load_trial(protocol_definition(code), new_code)


def test_the_steady_state_costs_the_same_queries_for_one_trial_or_many(people, bat6005, site_a, evaluated):
    review_open_cohorts()
    with CaptureQueriesContext(connection) as one:
        review_open_cohorts()
    copies = [copy_of("BAT6005", f"BAT6005-C{i}") for i in range(3)] + [copy_of("LVGN6051-ANLOTINIB", "LVGN-C1")]
    evaluated.clear()
    review_open_cohorts()
    assert sorted(evaluated) == sorted(t.pk for t in copies)  # the new ones only
    with CaptureQueriesContext(connection) as many:
        review_open_cohorts()
    assert len(one) == len(many) == 1, [q["sql"] for q in many]


def test_a_decision_and_its_signature_count_as_changes(people, bat6005, site_a):
    from escalation.models import Signature

    before = seq(bat6005)
    decision = EscalationDecision.objects.create(
        trial=bat6005, cohort=bat6005.cohorts.get(number=1), data={}, data_sha256="0" * 64,
        continue_trial=True, add_subjects=1, next_dose_level=bat6005.dose_levels.get(rank=1), rationale="test")
    assert seq(bat6005) == before + 1
    Signature.objects.create(decision=decision, signer=people["investigator"], meaning="approved",
                             printed_name="Ivy Investigator", role="investigator", data_sha256=decision.data_sha256)
    assert seq(bat6005) == before + 2


def test_visits_and_sites_give_a_new_live_value_and_leave_the_review_alone(people, bat6005, site_a, site_b):
    """The dashboard's overdue counts are keyed on ``live`` (escalation.board): a statement on the trial's visits
    or sites gives it a new value, and counts as no change for the review (``seq``) nor the escalation's cache
    (``version``)."""
    from visits.models import PlannedVisit

    lvgn = load_trial("LVGN6051-ANLOTINIB")
    dosed(bat6005, site_a, people["coordinator"], "AB", 5)

    def state(trial):
        return TrialChange.objects.filter(trial=trial).values_list("seq", "version", "live").get()

    before, other = state(bat6005), state(lvgn)
    visits = PlannedVisit.objects.filter(subject__trial=bat6005)
    assert visits.exists()
    visits.filter(pk=visits.order_by("pk").first().pk).update(status=PlannedVisit.Status.DONE,
                                                              done_on=timezone.localdate())
    after = state(bat6005)
    assert after[:2] == before[:2] and after[2] not in (None, before[2])
    assert state(lvgn) == other

    bat6005.sites.remove(site_b)  # the M2M rows
    moved = state(bat6005)
    assert moved[:2] == before[:2] and moved[2] != after[2]
    site_a.name = "Site A (renamed)"
    site_a.save()
    assert state(bat6005)[2] != moved[2]
