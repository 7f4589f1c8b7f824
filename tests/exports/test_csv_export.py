"""Issue 13, point 4: the CSV export (one file per domain) reloads to the same records, and de-identifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from exports.csv_export import build_csv, read_csv_export
from exports.deid import Deidentifier
from exports.domains import DOMAINS, domain_rows
from subjects.models import AdverseEvent, Subject
from tests.exports.helpers import BIRTHS, INITIALS, REASON, VOID_REASON, export_trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(site_a, site_b):
    return export_trial(site_a, site_b)


def test_reload_gives_back_the_records(world):
    trial = world["trial"]
    back = read_csv_export(build_csv(trial, deidentified=False))
    assert set(back.domains) == set(DOMAINS)
    deid = Deidentifier(trial, deidentified=False)
    for name, domain in DOMAINS.items():
        assert back.domains[name] == domain_rows(domain, trial, deid), name
        assert back.manifest["domains"][name]["rows"] == domain.records(trial).count()
    # Values equal to the database's, voided entries listed and marked.
    aes = {row["record_id"]: row for row in back.domains["adverse_events"]}
    assert len(aes) == AdverseEvent.all_objects.filter(subject__trial=trial).count() == 4
    corrected, voided, dlt = world["corrected"], world["voided"], world["dlt"]
    assert aes[corrected.pk]["grade"] == 2 and aes[corrected.pk]["onset_date"] == corrected.onset_date
    assert aes[voided.pk]["record_status"] == "void" and aes[voided.pk]["void_reason"] == VOID_REASON
    assert aes[dlt.pk]["is_dlt"] is True and aes[dlt.pk]["dlt_status"] == "confirmed"
    assert aes[dlt.pk]["adjudicated_at"] == dlt.adjudicated_at
    subjects = {row["subject_code"]: row for row in back.domains["subjects"]}
    for subject in Subject.objects.filter(trial=trial):
        assert subjects[subject.code]["initials"] == subject.initials
        assert subjects[subject.code]["date_of_birth"] == subject.date_of_birth
        assert subjects[subject.code]["enrolled_at"] == subject.enrolled_at
    from subjects.models import DoseAdministration

    doses = {row["record_id"]: row for row in back.domains["doses"]}
    for dose in DoseAdministration.all_objects.filter(subject__trial=trial):
        assert (doses[dose.pk]["dose"], doses[dose.pk]["administered_at"]) == (dose.dose, dose.administered_at)
    assert len(back.domains["visits"]) > 0


def test_study_day_export_has_no_identity_or_calendar_date(world):
    trial = world["trial"]
    assert trial.export_dates == "study_day"
    data = build_csv(trial, deidentified=True)
    back = read_csv_export(data)
    import io
    import zipfile

    text = "".join(
        zipfile.ZipFile(io.BytesIO(data)).read(n).decode()
        for n in zipfile.ZipFile(io.BytesIO(data)).namelist()
        if n.endswith(".csv")
    )
    for initials in INITIALS:
        assert f",{initials}," not in text
    for birth in BIRTHS:
        assert birth.isoformat() not in text
    first = timezone.localdate(world["subjects"][0].first_dose().administered_at)
    for days in range(-40, 40):
        assert (first + timedelta(days=days)).isoformat() not in text
    assert REASON not in text and VOID_REASON not in text
    assert "Confirmed on review" not in text  # adjudication comment: free text
    aes = {row["record_id"]: row for row in back.domains["adverse_events"]}
    dlt = world["dlt"]
    assert aes[dlt.pk]["onset_date_study_day"] == 7 and "onset_date" not in aes[dlt.pk]
    assert "initials" not in back.domains["subjects"][0] and "date_of_birth" not in back.domains["subjects"][0]
    assert back.manifest["dates"] == "study_day" and back.manifest["deidentified"] is True


def test_shifted_dates_are_constant_per_subject(world):
    trial = world["trial"]
    trial.export_dates = "shift"
    trial.save(update_fields=["export_dates"])
    back = read_csv_export(build_csv(trial, deidentified=True))
    shifts = {}
    for row in back.domains["adverse_events"]:
        event = AdverseEvent.all_objects.get(pk=row["record_id"])
        shift = (event.onset_date - row["onset_date"]).days
        assert 1 <= shift <= 365
        assert shifts.setdefault(row["subject_code"], shift) == shift
    for row in back.domains["visits"]:
        from visits.models import PlannedVisit

        visit = PlannedVisit.objects.get(pk=row["record_id"])
        assert (visit.target - row["target"]).days == shifts.get(
            row["subject_code"], (visit.target - row["target"]).days
        )
    assert len(set(shifts.values())) > 1 or len(shifts) == 1
    assert all("initials" not in row for row in back.domains["subjects"])


def test_site_scope_leaves_other_sites_out(world, site_a):
    back = read_csv_export(build_csv(world["trial"], deidentified=False, sites=[site_a.pk]))
    assert {row["site"] for row in back.domains["subjects"]} == {site_a.code}
    assert world["other_site"].pk not in {row["record_id"] for row in back.domains["adverse_events"]}


def test_a_tampered_file_is_refused(world):
    import io
    import zipfile

    data = build_csv(world["trial"], deidentified=True)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            target.writestr(name, content.replace(b"live", b"void") if name == "adverse_events.csv" else content)
    with pytest.raises(ValueError, match=r"adverse_events\.csv"):
        read_csv_export(out.getvalue())
