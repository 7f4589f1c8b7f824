"""Issue 13: the trial's export setting from its protocol file (``[exports] dates``), and the ODM audit time
stamps of a de-identified export, which must not carry a subject's calendar dates in study-day mode."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from lxml import etree

from exports.deid import STUDY_DAY_ANCHOR, Deidentifier
from exports.odm import NS, build_odm, validate
from records.selectors import event_model_for
from subjects.models import AdverseEvent
from tests.exports.helpers import export_trial
from tests.test_decision_safety import first_day
from trials.models import Trial
from trials.protocol_file import ProtocolFileError, read_protocol
from trials.services import protocol_load

pytestmark = pytest.mark.django_db
N = {"odm": NS}


def _protocol(tmp_path, extra: str) -> Path:
    source = Path(settings.BASE_DIR) / "protocols" / "BAT6005.toml"
    path = tmp_path / "BAT6005.toml"
    path.write_text(source.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def test_the_protocol_sets_how_dates_leave_the_site(tmp_path):
    trial, _ = protocol_load(definition=read_protocol(_protocol(tmp_path, "")))
    assert trial.export_dates == "study_day"  # the default when the protocol says nothing
    trial, _ = protocol_load(definition=read_protocol(_protocol(tmp_path, '\n[exports]\ndates = "shift"\n')))
    assert Trial.objects.get(pk=trial.pk).export_dates == "shift"
    # Reloading a file that does not say keeps the trial's setting; one that says study_day sets it.
    protocol_load(definition=read_protocol(_protocol(tmp_path, "")))
    assert Trial.objects.get(pk=trial.pk).export_dates == "shift"
    protocol_load(definition=read_protocol(_protocol(tmp_path, '\n[exports]\ndates = "study_day"\n')))
    assert Trial.objects.get(pk=trial.pk).export_dates == "study_day"


@pytest.mark.parametrize(("extra", "message"), [
    ('\n[exports]\ndates = "calendar"\n', "exports.dates: 'calendar' is not one of ['shift', 'study_day']"),
    ("\n[exports]\ndates = 3\n", "exports.dates: expected str, got 3"),
    ('\nexports = "shift"\n', "protocol.exports: expected dict"),
])
def test_a_bad_export_setting_is_refused_by_name(tmp_path, extra, message):
    if extra.startswith("\nexports"):  # a top-level key must come before the first table
        source = (Path(settings.BASE_DIR) / "protocols" / "BAT6005.toml").read_text(encoding="utf-8")
        path = tmp_path / "BAT6005.toml"
        path.write_text(source.replace("\n[escalation]", extra + "\n[escalation]", 1), encoding="utf-8")
    else:
        path = _protocol(tmp_path, extra)
    with pytest.raises(ProtocolFileError, match=re.escape(message)):
        read_protocol(path)


@pytest.fixture
def world(site_a, site_b):
    return export_trial(site_a, site_b)


def _stamps(doc) -> list[str]:
    return doc.xpath("//odm:AuditRecord/odm:DateTimeStamp/text()", namespaces=N)


def _update_stamp(doc, record_pk: int) -> str:
    [stamp] = doc.xpath(f"//odm:ItemGroupData[@ItemGroupOID='IG.AE'][@ItemGroupRepeatKey='{record_pk}']"
                        "[@TransactionType='Update']/odm:ItemData[@ItemOID='IT.AE.GRADE']"
                        "/odm:AuditRecord/odm:DateTimeStamp/text()", namespaces=N)
    return stamp


def test_study_day_odm_audit_stamps_carry_no_calendar_date(world):
    trial = world["trial"]
    assert trial.export_dates == "study_day"
    corrected = world["corrected"]
    subject = corrected.subject
    event = (event_model_for(AdverseEvent).objects.filter(pgh_obj_id=corrected.pk, grade=2)
             .order_by("pgh_id").first())
    recorded = timezone.localtime(event.pgh_created_at).replace(microsecond=0)

    plain = etree.fromstring(build_odm(trial, deidentified=False))
    assert _update_stamp(plain, corrected.pk) == recorded.isoformat()

    content = build_odm(trial, deidentified=True)
    validate(content)
    doc = etree.fromstring(content)
    stamps = _stamps(doc)
    assert len(stamps) > 20
    # Day 1 of each subject is written as the anchor day; the time of day kept, no UTC offset.
    days = (recorded.date() - first_day(subject)).days
    expected = datetime.combine(STUDY_DAY_ANCHOR + timedelta(days=days), recorded.time())
    assert _update_stamp(doc, corrected.pk) == expected.isoformat()
    for stamp in stamps:
        assert not re.search(r"(Z|[+-]\d\d:\d\d)$", stamp), stamp
        assert abs((datetime.fromisoformat(stamp).date() - STUDY_DAY_ANCHOR).days) < 400, stamp
    # No calendar date of the trial's conduct in the document, but the export's own time stamps.
    text = re.sub(r'(CreationDateTime|EffectiveDate|FileOID)="[^"]*"', "", content.decode())
    earliest = min(first_day(s) for s in world["subjects"]) - timedelta(days=60)
    for n in range((timezone.localdate() - earliest).days + 2):
        day = earliest + timedelta(days=n)
        assert day.isoformat() not in text, day


def test_shifted_odm_audit_stamps_move_with_the_subjects_dates(world):
    trial = world["trial"]
    trial.export_dates = "shift"
    trial.save(update_fields=["export_dates"])
    corrected = world["corrected"]
    event = (event_model_for(AdverseEvent).objects.filter(pgh_obj_id=corrected.pk, grade=2)
             .order_by("pgh_id").first())
    recorded = timezone.localtime(event.pgh_created_at).replace(microsecond=0)
    shift = Deidentifier(trial, deidentified=True).shift_days(corrected.subject)
    doc = etree.fromstring(build_odm(trial, deidentified=True))
    assert _update_stamp(doc, corrected.pk) == (recorded - timedelta(days=shift)).isoformat()
    [onset] = doc.xpath(f"//odm:ItemGroupData[@ItemGroupRepeatKey='{corrected.pk}'][@TransactionType='Insert']"
                        "/odm:ItemData[@ItemOID='IT.AE.ONSET_DATE']/@Value", namespaces=N)
    assert onset == (corrected.onset_date - timedelta(days=shift)).isoformat()
