"""Who may see and do what (issue 2, point 7)."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from escalation.models import EscalationDecision, Signature
from escalation.services import decision_recommend
from subjects.models import Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests.auth import signed
from tests.screening.helpers import predose

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject_a(people, bat6005, site_a):
    return subject_enrol(trial=bat6005, site=site_a, user=people["coordinator"], initials="XYZ",
                         date_of_birth=date(1970, 5, 6), sex="M")


@pytest.fixture
def pending_decision(people, bat6005, subject_a):
    from datetime import timedelta

    from django.utils import timezone

    dosed = timezone.now() - timedelta(days=25)
    predose(subject_a, dosed, people["coordinator"])
    dose_record(subject=subject_a, drug=bat6005.drugs.get(), cycle=1, day=1, administered_at=dosed,
                dose=10, user=people["coordinator"])
    adverse_event_record(subject=subject_a, user=people["coordinator"], term="Colitis", grade=3,
                         onset_date=(dosed + timedelta(days=3)).date(), attribution="definite", is_dlt=True)
    decision = decision_recommend(trial=bat6005)
    assert decision is not None
    return decision


def test_coordinator_cannot_approve_a_decision(login, people, pending_decision):
    client = login(people["coordinator"])
    # With the signer's own, correct credentials: the role is what is refused.
    response = client.post(reverse("escalation:decision", args=[pending_decision.pk]),
                           signed(people["coordinator"], meaning="approved"))
    assert response.status_code == 403
    pending_decision.refresh_from_db()
    assert pending_decision.status == EscalationDecision.Status.PENDING
    assert not Signature.objects.exists()


def test_sponsor_cannot_approve_a_decision(login, people, pending_decision):
    client = login(people["sponsor"])
    # With the signer's own, correct credentials: the role is what is refused.
    response = client.post(reverse("escalation:decision", args=[pending_decision.pk]),
                           signed(people["sponsor"], meaning="approved"))
    assert response.status_code == 403
    assert not Signature.objects.exists()


def test_sponsor_cannot_see_or_enter_subject_data(login, people, bat6005, site_a, subject_a):
    client = login(people["sponsor"])
    assert client.get(reverse("subjects:detail", args=[subject_a.pk])).status_code == 404
    assert client.get(reverse("subjects:enrol", args=[bat6005.code])).status_code == 403
    response = client.post(reverse("subjects:enrol", args=[bat6005.code]),
                           {"site": site_a.pk, "initials": "QQ", "date_of_birth": "1960-01-01", "sex": "F"})
    assert response.status_code == 403
    assert client.post(reverse("subjects:ae_new", args=[subject_a.pk]), {"term": "x"}).status_code == 404
    assert Subject.objects.count() == 1
    # The trial page sends a sponsor to the de-identified dashboard.
    response = client.get(reverse("trials:detail", args=[bat6005.code]))
    assert response.status_code == 302 and response.url == reverse("trials:dashboard", args=[bat6005.code])
    html = client.get(reverse("trials:dashboard", args=[bat6005.code])).content.decode()
    assert "XYZ" not in html and "1970" not in html and subject_a.code not in html


def test_site_b_cannot_see_site_a_subjects(login, people, bat6005, subject_a):
    client = login(people["coordinator_b"])
    assert client.get(reverse("subjects:detail", args=[subject_a.pk])).status_code == 404
    assert client.get(reverse("subjects:dose_new", args=[subject_a.pk])).status_code == 404
    page = client.get(reverse("trials:detail", args=[bat6005.code]))
    assert page.status_code == 200
    assert subject_a.code not in page.content.decode()
    assert list(page.context["subjects"]) == []
    # Site A's coordinator does see it.
    client = login(people["coordinator"])
    assert client.get(reverse("subjects:detail", args=[subject_a.pk])).status_code == 200


def test_user_outside_the_trial_gets_404(login, bat6005, subject_a):
    from tests.factories import UserFactory

    client = login(UserFactory(username="stranger"))
    assert client.get(reverse("trials:detail", args=[bat6005.code])).status_code == 404
    assert client.get(reverse("trials:dashboard", args=[bat6005.code])).status_code == 404
    assert client.get(reverse("subjects:detail", args=[subject_a.pk])).status_code == 404


@pytest.mark.parametrize(
    "name,args",
    [("home", []), ("trials:detail", ["BAT6005"]), ("trials:dashboard", ["BAT6005"]),
     ("subjects:enrol", ["BAT6005"]), ("subjects:detail", [1]), ("subjects:dose_new", [1]),
     ("subjects:ae_new", [1]), ("escalation:decision", [1])],
)
def test_anonymous_user_sees_only_the_login_page(client, bat6005, name, args):
    url = reverse(name, args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert client.post(url, {}).status_code == 302


def test_anonymous_api_and_login_page(client, bat6005):
    assert client.get(reverse("api-dashboard", args=["BAT6005"])).status_code in (401, 403)
    login_page = client.get(reverse("login"))
    assert login_page.status_code == 200 and b'name="password"' in login_page.content


def test_the_scope_of_a_one_trial_page_names_that_trial_only(people, bat6005, site_a, site_b, subject_a):
    """The access filter is built per trial where the page is per trial (issue 14): a user with roles at many
    (trial, site) pairs gets, for one trial's page, one term naming that trial and its sites — and the same
    rows as the filter over all their roles, narrowed to the trial."""
    from django.db.models import Q

    from tests.conftest import load_trial, member
    from tests.factories import SiteFactory
    from trials.access import at_staff_sites, subjects_for
    from trials.models import Membership, Role

    coordinator = people["coordinator"]
    lvgn = load_trial("LVGN6051-ANLOTINIB")
    for n in range(8):  # eight more sites in another trial
        site = SiteFactory(code=f"SITE-X{n}")
        lvgn.sites.add(site)
        Membership.objects.create(user=coordinator, trial=lvgn, site=site, role=Role.COORDINATOR)
    member(bat6005, Role.COORDINATOR, site_b, "other-coordinator")

    scoped = at_staff_sites(coordinator, trial=bat6005)
    assert scoped == Q(pk__in=[]) | Q(trial_id=bat6005.pk, site_id__in=[site_a.pk])
    everywhere = at_staff_sites(coordinator)
    assert len(everywhere.children) == 3  # the empty term, one per trial — not one per (trial, site)
    sql = str(subjects_for(coordinator, bat6005).query)
    assert str(lvgn.pk) not in sql.split("WHERE", 1)[1].replace(f'"trial_id" = {bat6005.pk}', "")
    assert list(subjects_for(coordinator, bat6005)) == list(Subject.objects.filter(everywhere, trial=bat6005)) == [
        subject_a]
    assert not subjects_for(people["coordinator_b"], bat6005).exists()
    assert at_staff_sites(people["sponsor"], trial=bat6005) == Q(pk__in=[])


def test_a_trial_fetched_for_a_user_knows_their_roles_and_sites_without_another_query(people, bat6005, site_a,
                                                                                       site_b):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import member
    from trials.access import access_trial, roles_in, site_ids_for, sites_for
    from trials.models import Membership, Role

    both = member(bat6005, Role.INVESTIGATOR, site_a, "two-sites")
    Membership.objects.create(user=both, trial=bat6005, site=site_b, role=Role.COORDINATOR)
    for user in (both, people["coordinator"], people["sponsor"]):
        with CaptureQueriesContext(connection) as queries:
            trial = access_trial(user, bat6005.code)
            known = (roles_in(user, trial), site_ids_for(user, trial),
                     site_ids_for(user, trial, roles=[Role.COORDINATOR]))
        assert len(queries) == 1, user
        fresh = type(bat6005).objects.get(pk=bat6005.pk)  # not fetched for anyone: asks the database
        assert known == (roles_in(user, fresh), site_ids_for(user, fresh),
                         site_ids_for(user, fresh, roles=[Role.COORDINATOR]))
        assert known[1] == sorted(sites_for(user, fresh).values_list("pk", flat=True).distinct())
    assert site_ids_for(people["sponsor"], fresh) == []
    # A trial fetched for someone else: the user's own sites are asked of the database.
    assert site_ids_for(both, trial) == sorted([site_a.pk, site_b.pk])
    two = access_trial(both, bat6005.code)
    assert site_ids_for(both, two) == sorted([site_a.pk, site_b.pk])
    assert site_ids_for(both, two, roles=[Role.COORDINATOR]) == [site_b.pk]
    # Another user's roles are never read off a trial fetched for someone else.
    assert roles_in(people["sponsor"], two) == {Role.SPONSOR} and site_ids_for(people["sponsor"], two) == []
