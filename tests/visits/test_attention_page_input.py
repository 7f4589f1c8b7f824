"""The visits-needing-attention list read in one query a page (visits.selectors.attention_page): any ``page``
a browser or a hand-edited address can send gives a page of the list, never an error, and the totals stay those
of the whole list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.auth import sign_in
from tests.visits.conftest import make_subject

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["abc", "", "-3", "0", "1.5", "2", "99999", "9" * 30, "1e9", "%00"])
def test_any_page_number_gives_a_page_of_the_list(client, bat6005, people, site_a, page):
    for _ in range(2):
        make_subject(bat6005, site_a, people["coordinator"], first_dose=timezone.localdate() - timedelta(days=40),
                     cycles=2)
    sign_in(client, people["coordinator"])
    first = client.get(reverse("visits:list"))
    response = client.get(reverse("visits:list"), {"page": page})
    assert response.status_code == 200, page
    listed = response.content.decode().count('<tr class="state-')
    assert listed == first.content.decode().count('<tr class="state-') > 0  # one page only: all of them
    assert response.context["overdue_total"] == first.context["overdue_total"] > 0
    assert response.context["page"].number == 1
