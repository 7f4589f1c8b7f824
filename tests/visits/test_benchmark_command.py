"""``manage.py visits benchmark`` with a tiny --rows: figures at a tenth and at full size, in a
throwaway schema that is dropped, the application's visits untouched."""

from __future__ import annotations

import re
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from visits.models import PlannedVisit

pytestmark = pytest.mark.django_db


def test_benchmark_prints_ratio_and_scaling_and_leaves_no_trace(subject_factory, site_a):
    subject_factory(site_a, first_dose=date(2020, 1, 6))  # every window closed long ago
    before = list(PlannedVisit.objects.order_by("pk").values_list("pk", "overdue"))
    assert before and not any(overdue for _, overdue in before)
    out = StringIO()
    call_command("visits", "benchmark", "--rows", "4000", "--repeat", "1", stdout=out)
    text = out.getvalue()
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, re.M)
    assert [int(r[0]) for r in rows] == [400, 4000]
    assert int(rows[1][1]) == 10 * int(rows[0][1]) > 0  # the same share of rows flagged at each size
    assert re.search(r"ratio at 4000 rows: [\d.]+ \(target < 2.0", text)
    assert "scaling: 10× the rows" in text
    assert list(PlannedVisit.objects.order_by("pk").values_list("pk", "overdue")) == before
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'visits_bench_%%'")
        assert cursor.fetchone()[0] == 0


def test_benchmark_rejects_bad_rows():
    with pytest.raises(CommandError, match=r"^--rows: 'many' is not a whole number"):
        call_command("visits", "benchmark", "--rows", "many", stdout=StringIO())
