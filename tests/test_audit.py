"""Every change to clinical data leaves an audit event: who, when, from which value to which; bulk and
raw SQL updates too; and the audit trail itself cannot be edited (issue 2, point 5)."""

from __future__ import annotations

from datetime import date, timedelta

import pghistory
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from pghistory.models import Events

from escalation.models import Signature
from escalation.services import decision_recommend, decision_sign
from subjects.models import AdverseEvent, Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.auth import signing
from tests.screening.helpers import eligible_screening, predose

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(people, bat6005, site_a):
    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="AB",
                            date_of_birth=date(1955, 2, 2), sex="F")
    predose(subject, timezone.now() - timedelta(days=3), people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1,
                administered_at=timezone.now() - timedelta(days=3), dose=10, user=people["coordinator"])
    return adverse_event_record(subject=subject, user=people["coordinator"], term="Nausea", grade=1,
                                onset_date=timezone.localdate(), attribution="possible")


def diffs(obj):
    return [e.pgh_diff for e in Events.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")]


def test_web_change_records_who_and_what(login, people, bat6005, site_a):
    record = eligible_screening(bat6005, site_a, people["coordinator"], initials="KLM",
                               date_of_birth=date(1959, 9, 9), sex="M")
    client = login(people["coordinator"])
    client.post(reverse("subjects:enrol", args=[bat6005.code]), {"screening": record.pk})
    subject = Subject.objects.get()
    events = list(Events.objects.tracks(subject))
    assert [e.pgh_label for e in events] == ["insert"]
    assert events[0].pgh_context["user"] == people["coordinator"].pk
    assert events[0].pgh_context["url"] == reverse("subjects:enrol", args=[bat6005.code])
    assert events[0].pgh_data["initials"] == "KLM"


def test_update_records_old_and_new_values(event):
    with pghistory.context(user=123, reason="grade corrected"):
        event.grade = 2
        event.save()
    last = Events.objects.tracks(event).order_by("-pgh_created_at", "-pgh_id").first()
    assert last.pgh_label == "update"
    assert last.pgh_diff == {"grade": [1, 2]}
    assert last.pgh_context["reason"] == "grade corrected"


def test_bulk_and_raw_updates_are_captured(event):
    AdverseEvent.objects.filter(pk=event.pk).update(grade=3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE subjects_adverseevent SET term = %s WHERE id = %s", ["Vomiting", event.pk])
    assert diffs(event)[-2:] == [{"grade": [1, 3]}, {"term": ["Nausea", "Vomiting"]}]


def test_delete_is_captured(people, bat6005, site_a):
    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="ZZ",
                            date_of_birth=date(1950, 1, 1), sex="M")
    pk = subject.pk
    subject.delete()
    labels = list(Events.objects.filter(pgh_model="subjects.SubjectEvent", pgh_obj_id=str(pk))
                  .values_list("pgh_label", flat=True))
    assert sorted(labels) == ["delete", "insert"]


def test_audit_events_cannot_be_edited_or_deleted(event):
    table = apps.get_model("subjects", "AdverseEventEvent")._meta.db_table
    for sql in (f"UPDATE {table} SET grade = 5", f"DELETE FROM {table}"):  # noqa: S608 - fixed table name
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert diffs(event)  # still there


def test_signatures_cannot_be_changed(people, bat6005, site_a):
    subject = subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="SG",
                            date_of_birth=date(1962, 1, 1), sex="F")
    predose(subject, timezone.now() - timedelta(days=22), people["coordinator"])
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1,
                administered_at=timezone.now() - timedelta(days=22), dose=10, user=people["coordinator"])
    decision = decision_recommend(trial=bat6005)
    signature = decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]),
                              meaning="approved")
    with pytest.raises(DatabaseError), transaction.atomic():
        Signature.objects.filter(pk=signature.pk).update(printed_name="Someone else")
    with pytest.raises(DatabaseError), transaction.atomic():
        Signature.objects.filter(pk=signature.pk).delete()
    signature.refresh_from_db()
    assert signature.printed_name == people["investigator"].get_full_name()
