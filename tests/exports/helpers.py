"""A small running trial for the export tests: LVGN6051 + anlotinib at site A (and one subject at site B),
built through the services: enrolment, pre-dose assessments, doses (visits planned from them), adverse
events (one corrected with a reason, one voided, one adjudicated as a DLT), a follow-up, a tumour baseline."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pghistory

from records.registry import KINDS
from records.services import record_correct, record_void
from response.services import LesionEntry, baseline_record
from subjects.models import AdverseEvent
from subjects.services import adverse_event_record, dlt_adjudicate
from tests.test_decision_safety import dosed, first_day, lvgn_with_people

INITIALS = ("QZX", "QZY", "QZW")
BIRTHS = (date(1957, 3, 14), date(1962, 11, 2), date(1949, 6, 30))
REASON = "Transcription error: grade was 2 on the source document"
VOID_REASON = "Entered for the wrong subject"


def export_trial(site_a, site_b):
    trial, people = lvgn_with_people(site_a, site_b)
    coordinator, investigator = people["coordinator"], people["investigator"]
    subjects = [dosed(trial, site_a, coordinator, INITIALS[0], 30, dob=BIRTHS[0]),
                dosed(trial, site_a, coordinator, INITIALS[1], 28, dob=BIRTHS[1]),
                dosed(trial, site_b, people["coordinator_b"], INITIALS[2], 26, dob=BIRTHS[2])]
    a, b, c = subjects
    corrected = adverse_event_record(subject=a, user=coordinator, term="Fatigue", grade=1,
                                     attribution="possible", onset_date=first_day(a) + timedelta(days=2))
    # As from the correction page (the request middleware puts the user in the audit context).
    with pghistory.context(user=coordinator.pk):
        corrected = record_correct(kind=KINDS["adverse-event"], record=corrected, user=coordinator,
                                   changes={"grade": 2}, reason=REASON)
    voided = adverse_event_record(subject=b, user=coordinator, term="Nausea", grade=1, attribution="unrelated",
                                  onset_date=first_day(b) + timedelta(days=3))
    voided = record_void(kind=KINDS["adverse-event"], record=voided, user=coordinator, reason=VOID_REASON)
    dlt = adverse_event_record(subject=a, user=coordinator, term="Hypertension", grade=3, attribution="probable",
                               onset_date=first_day(a) + timedelta(days=6))
    dlt_adjudicate(event=dlt, user=investigator, confirm=True, comment="Confirmed on review of the BP diary")
    other_site = adverse_event_record(subject=c, user=people["coordinator_b"], term="Diarrhea", grade=1,
                                      attribution="unrelated", onset_date=first_day(c) + timedelta(days=1))
    baseline_record(subject=a, user=coordinator, assessed_on=first_day(a) - timedelta(days=3), method="CT",
                    lesions=[LesionEntry(kind="target", organ="lung", diameter_mm=Decimal(30), axis="long")])
    for event in (corrected, voided, dlt, other_site):
        event.refresh_from_db()
    return {"trial": trial, "people": people, "subjects": subjects, "corrected": corrected, "voided": voided,
            "dlt": AdverseEvent.objects.get(pk=dlt.pk), "other_site": other_site}
