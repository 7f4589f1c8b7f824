"""Trial data for the SDTM tests, through the services the suite uses.

- :func:`sdtm_trial`: the exports' running trial (tests/exports/helpers.py: LVGN6051 + anlotinib, three
  subjects dosed, AEs of which one voided and one an adjudicated DLT, a tumour baseline), plus a serious AE,
  a follow-up scan of subject A (new lesion, measurements, reviewed response), subject A's cycle-1 PK samples
  collected with the lab's results imported (one BLQ).
- :func:`screened_subject`: a BAT6005 subject enrolled from an eligible screening record (consent, values),
  dosed: the screening values become LB and VS, the age at consent DM.AGE.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pyreadstat
from django.utils import timezone

from pk import selectors as pk_selectors
from pk import services as pk_services
from pk.models import Sample
from response.models import LesionMeasurement
from response.services import assessment_record, assessment_review
from subjects.models import Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.conftest import member
from tests.exports.helpers import export_trial
from tests.screening.helpers import eligible_screening, enrolment_dated, predose
from tests.test_decision_safety import first_day
from trials.models import Role

M = LesionMeasurement.Status


def sdtm_trial(site_a, site_b):
    data = export_trial(site_a, site_b)
    trial, people = data["trial"], data["people"]
    coordinator, investigator = people["coordinator"], people["investigator"]
    a, b, _ = data["subjects"]
    data["serious"] = adverse_event_record(
        subject=b, user=coordinator, term="Pneumonitis", grade=2, attribution="possible",
        onset_date=first_day(b) + timedelta(days=4), resolution_date=first_day(b) + timedelta(days=12),
        serious_criteria=["hospitalisation"], action_taken="interrupted", outcome="recovered")
    # Subject A: the baseline (T1 lung 30 mm) gets a node and a non-target; a follow-up 14 days after the dose.
    baseline = a.tumour_assessments.get(baseline=True)
    data["baseline"] = baseline
    data["follow_up"] = assessment_record(
        subject=a, user=coordinator, assessed_on=first_day(a) + timedelta(days=14), method="CT", new_lesions="none",
        values={"T1": (M.MEASURED, Decimal(18))})
    data["follow_up"].refresh_from_db()
    assessment_review(assessment=data["follow_up"], user=investigator,
                      response=data["follow_up"].computed_response)
    data["follow_up"].refresh_from_db()
    # PK: subject A's pre-dose, 1 h and 4 h samples collected at their nominal times, the results imported.
    pkist = member(trial, Role.PHARMACOKINETICIST, None, "pkist-sdtm")
    samples = {h: Sample.objects.get(subject=a, cycle=1, kind="pk", nominal_hours=h) for h in (0, 1, 4)}
    for h, s in samples.items():
        pk_services.sample_collect(sample=s, user=coordinator,
                                   collected_at=s.nominal_at - timedelta(minutes=5 if h == 0 else 0))
    rows = [f"{samples[0].sample_id},LVGN6051,BLQ,ug/mL,0.1", f"{samples[1].sample_id},LVGN6051,42.5,ug/mL,0.1",
            f"{samples[4].sample_id},LVGN6051,30.25,ug/mL,0.1"]
    content = ("sample_id,analyte,result,unit,lloq\n" + "\n".join(rows) + "\n").encode()
    pk_services.results_import(user=pkist, trial=trial, file_name="run1.csv", content=content,
                               samples=pk_selectors.samples_in_scope(pkist, trial))
    data["samples"] = {h: Sample.objects.get(pk=s.pk) for h, s in samples.items()}
    for s in data["subjects"]:
        s.refresh_from_db()
    return data


def screened_subject(bat6005, site_a, people):
    """A BAT6005 subject screened 30 days ago (weight 70 kg, the normal labs; bilirubin in mg/dL), enrolled
    and dosed 20 days ago."""
    coordinator = people["coordinator"]
    assessed = timezone.localdate() - timedelta(days=30)
    record = eligible_screening(bat6005, site_a, coordinator, initials="QZV", assessed_on=assessed,
                                values={"bilirubin": "0.8", "bilirubin_unit": "mg/dL"})
    subject = subject_enrol(trial=bat6005, user=coordinator, screening=record)
    enrolment_dated(subject, assessed + timedelta(days=1))
    when = (timezone.localtime() - timedelta(days=20)).replace(second=0, microsecond=0)
    predose(subject, when, coordinator, weight="71.5")
    dose_record(subject=subject, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=when, user=coordinator)
    return Subject.objects.get(pk=subject.pk), record


def read_xpt(content: bytes):
    """A transport file's data frame and metadata (pyreadstat reads from a path)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".xpt") as fh:
        fh.write(content)
        fh.flush()
        return pyreadstat.read_xport(fh.name)


def rows(files, name):
    frame, meta = read_xpt(files[name])
    return frame.to_dict("records"), meta

