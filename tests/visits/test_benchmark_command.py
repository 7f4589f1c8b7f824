"""``manage.py visits benchmark`` with a tiny --rows: figures at a tenth and at full size, on the real visits
table with its audit triggers, everything rolled back: the application's visits, subjects and audit untouched."""

from __future__ import annotations

import re
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from subjects.models import Subject
from trials.models import Site
from visits.models import PlannedVisit

pytestmark = pytest.mark.django_db


def test_benchmark_prints_ratio_and_scaling_and_leaves_no_trace(subject_factory, site_a):
    subject_factory(site_a, first_dose=date(2020, 1, 6))  # every window closed long ago
    before = list(PlannedVisit.objects.order_by("pk").values_list("pk", "overdue"))
    counts = (Subject.objects.count(), Site.objects.count(), PlannedVisit.pgh_event_model.objects.count())
    assert before and not any(overdue for _, overdue in before)
    out = StringIO()
    call_command("visits", "benchmark", "--rows", "4000", "--repeat", "1", stdout=out)
    text = out.getvalue()
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, re.M)
    assert [int(r[0]) for r in rows] == [400, 4000]
    # The same share of the synthetic rows flagged at each size, beside the application's own eligible visits (the
    # pass flags them too, as the watch would, before the rollback).
    own = PlannedVisit.objects.filter(status="planned", overdue=False, window_end__lt=date.today()).count()
    assert own > 0 and int(rows[1][1]) - own == 10 * (int(rows[0][1]) - own) > 0
    assert re.search(r"ratio at 4000 rows: [\d.]+ \(target < 2.0", text)
    assert "scaling: 10× the rows" in text
    assert list(PlannedVisit.objects.order_by("pk").values_list("pk", "overdue")) == before
    assert (Subject.objects.count(), Site.objects.count(), PlannedVisit.pgh_event_model.objects.count()) == counts


def test_benchmark_rejects_bad_rows():
    with pytest.raises(CommandError, match=r"^--rows: 'many' is not a whole number"):
        call_command("visits", "benchmark", "--rows", "many", stdout=StringIO())
