"""Data queries through their services: who raises, answers, closes and re-opens; what is refused (and then
nothing is saved); the answer with a correction made through the reason-for-change flow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from queries.models import Query, QueryMessage
from queries.services import query_answer, query_close, query_raise, query_reopen
from records.registry import kind_for
from records.services import record_correct, record_void

pytestmark = pytest.mark.django_db

AE = "adverse-event"


def raise_on(event, user, field="grade", text="Grade 1 fatigue, but the notes say grade 2: please check."):
    return query_raise(user=user, kind=AE, record=event, field=field, text=text)


# --- raise ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["monitor", "investigator", "data_manager"])
def test_the_raiser_roles_raise_a_query_on_a_field(roles, event, subject, who):
    query = raise_on(event, roles[who])
    assert (query.trial_id, query.site_id, query.subject_id) == (subject.trial_id, subject.site_id, subject.pk)
    assert (query.kind, query.field, query.status, query.origin) == (AE, "grade", "open", "manual")
    assert query.value_at_raise == "1" and query.raised_by == roles[who] and query.record == event
    [message] = query.messages.all()
    assert (message.action, message.user, message.text) == ("raised", roles[who], query.text)


def test_a_query_on_the_whole_form(roles, event):
    query = raise_on(event, roles["monitor"], field="")
    assert query.field == "" and query.value_at_raise == ""


@pytest.mark.parametrize("who", ["coordinator", "sponsor", "coordinator_b", "monitor_b"])
def test_others_do_not_raise_queries(roles, event, who):
    with pytest.raises(PermissionDenied):
        raise_on(event, roles[who])
    assert not Query.objects.exists()


@pytest.mark.parametrize(("field", "text", "error_field", "message"), [
    ("colour", "Please check.", "field", "'colour' is not a field of a adverse event"),
    ("recorded_by", "Please check.", "field", "is not a field"),
    ("grade", "   ", "text", "Write the query."),
    ("grade", "x" * 2001, "text", "Keep it to 2000 characters (it has 2001)."),
])
def test_bad_input_names_the_field_and_saves_nothing(roles, event, field, text, error_field, message):
    with pytest.raises(ValidationError) as refused:
        raise_on(event, roles["monitor"], field=field, text=text)
    assert message in refused.value.message_dict[error_field][0]
    assert not Query.objects.exists() and not QueryMessage.objects.exists()


def test_a_void_record_is_not_queried(roles, event):
    record_void(kind=kind_for(AE), record=event, user=roles["coordinator"], reason="Entered for the wrong subject")
    event.refresh_from_db()
    with pytest.raises(ValidationError, match="void"):
        raise_on(event, roles["monitor"])


# --- answer, close, re-open ------------------------------------------------------------------------------


def test_the_thread_raise_answer_reopen_answer_close(roles, event):
    query = raise_on(event, roles["monitor"])
    query = query_answer(user=roles["coordinator"], query=query, text="Checked the source: grade 1 is right.")
    assert query.status == "answered" and query.answered_at is not None
    query = query_reopen(user=roles["monitor"], query=query, text="The nurse's note says grade 2.")
    assert query.status == "open" and query.answered_at is None
    query = query_answer(user=roles["investigator"], query=query, text="Grade 1: the note is about another day.")
    query = query_close(user=roles["data_manager"], query=query, text="")
    assert query.status == "closed" and query.closed_by == roles["data_manager"] and query.closed_at is not None
    assert list(query.messages.values_list("action", flat=True)) == [
        "raised", "answered", "reopened", "answered", "closed"]
    query = query_reopen(user=roles["investigator"], query=query, text="Still not convinced.")
    assert query.status == "open" and query.closed_by is None and query.closed_at is None


@pytest.mark.parametrize("who", ["monitor", "data_manager", "sponsor", "coordinator_b", "monitor_b"])
def test_only_the_site_staff_answer(roles, event, who):
    query = raise_on(event, roles["investigator"])
    with pytest.raises(PermissionDenied):
        query_answer(user=roles[who], query=query, text="An answer.")
    query.refresh_from_db()
    assert query.status == "open" and query.messages.count() == 1


@pytest.mark.parametrize("who", ["coordinator", "sponsor", "coordinator_b", "monitor_b"])
def test_only_a_raiser_role_closes_and_reopens(roles, event, who):
    query = raise_on(event, roles["monitor"])
    with pytest.raises(PermissionDenied):
        query_close(user=roles[who], query=query, text="")
    query_close(user=roles["monitor"], query=query, text="")
    with pytest.raises(PermissionDenied):
        query_reopen(user=roles[who], query=query, text="Not resolved.")
    query.refresh_from_db()
    assert query.status == "closed"


def test_steps_in_the_wrong_state_are_refused(roles, event):
    query = raise_on(event, roles["monitor"])
    with pytest.raises(ValidationError, match="open already"):
        query_reopen(user=roles["monitor"], query=query, text="Again.")
    with pytest.raises(ValidationError) as refused:
        query_answer(user=roles["coordinator"], query=query, text="")
    assert refused.value.message_dict["text"] == ["Write the answer."]
    query_answer(user=roles["coordinator"], query=query, text="Checked.")
    with pytest.raises(ValidationError, match="only an open query is answered"):
        query_answer(user=roles["coordinator"], query=query, text="Checked twice.")
    query_close(user=roles["monitor"], query=query)
    with pytest.raises(ValidationError, match="closed already"):
        query_close(user=roles["monitor"], query=query)
    with pytest.raises(ValidationError) as refused:
        query_reopen(user=roles["monitor"], query=query, text="")
    assert refused.value.message_dict["text"] == ["Write why the query is re-opened."]
    assert query.messages.count() == 3


def test_each_step_is_audited_with_its_context(roles, event):
    query = raise_on(event, roles["monitor"])
    query_answer(user=roles["coordinator"], query=query, text="Checked.")
    events = list(Query.pgh_event_model.objects.filter(pgh_obj_id=query.pk).order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert [e.pgh_context.get("query") for e in events] == ["raised", "answered"]
    assert [e.status for e in events] == ["open", "answered"]


# --- the answer with a correction ------------------------------------------------------------------------


def correct(event, user, query, **changes):
    return record_correct(kind=kind_for(AE), record=event, user=user, changes=changes,
                          reason="Grade 2 per the source notes", query=query)


def test_a_correction_answers_the_query_in_the_same_transaction(roles, event):
    query = raise_on(event, roles["monitor"])
    correct(event, roles["coordinator"], query, grade=2)
    event.refresh_from_db()
    query.refresh_from_db()
    assert event.grade == 2 and query.status == "answered"
    message = query.messages.get(action="corrected")
    assert message.user == roles["coordinator"] and message.text == "Grade 2 per the source notes"
    assert message.change == {"changes": [{"field": "grade", "old": "1", "new": "2"}],
                              "reason": "Grade 2 per the source notes"}


def test_a_refused_correction_records_nothing_in_the_query(roles, event):
    query = raise_on(event, roles["monitor"])
    with pytest.raises(ValidationError):
        correct(event, roles["coordinator"], query, onset_date=timezone.localdate() + timedelta(days=3))
    query.refresh_from_db()
    assert query.status == "open" and query.messages.count() == 1


def test_a_correction_cannot_answer_a_query_on_another_record_or_a_closed_one(roles, event, subject):
    from tests.queries.conftest import record_ae

    other = record_ae(subject, roles["coordinator"], term="Nausea")
    query = raise_on(other, roles["monitor"])
    with pytest.raises(ValidationError, match="another record"):
        correct(event, roles["coordinator"], query, grade=2)
    event.refresh_from_db()
    assert event.grade == 1  # the correction was rolled back with the refusal
    query_close(user=roles["monitor"], query=query)
    with pytest.raises(ValidationError, match="closed"):
        correct(other, roles["coordinator"], query, grade=2)
    other.refresh_from_db()
    assert other.grade == 1
