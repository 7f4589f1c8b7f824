"""Decision notices in-app as well as by e-mail (issue 8, point 12): a decision awaiting signature
notifies each investigator of the trial, one awaiting concurrence each sponsor; the notice and the
e-mail both link to SITE_URL + the decision's page; once per decision, recipient and kind."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from escalation.models import EscalationDecision
from escalation.services import decision_recommend, decision_sign
from escalation.tasks import notify_decision_pending
from notifications.models import Notification
from outbox.models import OutboxMessage
from subjects.models import DoseAdministration
from subjects.services import subject_enrol
from tests.auth import signing
from tests.conftest import load_trial, member
from tests.factories import UserFactory
from trials.models import Role

pytestmark = pytest.mark.django_db

SITE = "https://trialsite.example.org"


def past_window_decision(trial, site, user, subjects=1):
    """``subjects`` subjects dosed 30 days ago at the first level (windows closed) → the engine decides."""
    for n in range(subjects):
        subject = subject_enrol(trial=trial, site=site, user=user, initials=f"N{chr(65 + n)}",
                                date_of_birth=date(1960, 1, 1), sex="F")
        DoseAdministration.objects.create(subject=subject, drug=trial.drugs.order_by("order").first(), cycle=1,
                                          day=1, dose=1, unit="mg", recorded_by=user,
                                          administered_at=timezone.now() - timedelta(days=30))
    decision = decision_recommend(trial=trial)
    assert decision is not None and decision.status == "pending"
    return decision


def queued_notice(decision, role=Role.INVESTIGATOR.value):
    """The notify task the decision queued (the outbox row), run here as the worker would."""
    kwargs = {} if role == Role.INVESTIGATOR else {"role": role}
    row = OutboxMessage.objects.get(task_name="escalation.tasks.notify_decision_pending", args=[decision.pk],
                                    kwargs=kwargs)
    return notify_decision_pending(*row.args, **row.kwargs)


def test_investigator_sees_the_notice_and_its_link_in_the_app(login, people, bat6005, site_a, settings):
    settings.SITE_URL = SITE
    decision = past_window_decision(bat6005, site_a, people["coordinator"])
    assert queued_notice(decision) == 1

    link = f"{SITE}/escalation/decisions/{decision.pk}/"
    client = login(people["investigator"])
    home = client.get(reverse("notifications:list"))
    page = home.content.decode()
    assert home.status_code == 200
    assert "Decision awaiting signature" in page
    assert f'<a href="{link}">BAT6005: dose-escalation decision #{decision.pk} awaits your signature' in page
    assert 'aria-label="1 unread"' in page
    # The e-mail carries the same link; the link opens the page the investigator signs on.
    assert [m.to for m in mail.outbox] == [[people["investigator"].email]]
    assert f"Review and sign: {link}" in mail.outbox[0].body
    assert "awaiting your signature" in mail.outbox[0].subject
    assert client.get(link.removeprefix(SITE)).status_code == 200

    # Once per decision and recipient: the task run again (the outbox delivers at least once) adds nothing.
    assert notify_decision_pending(decision.pk) == 0
    assert page.count(link) == 1 and len(mail.outbox) == 1
    assert client.get(reverse("notifications:list")).content.decode().count(link) == 1

    # The coordinator, the sponsor and the other site's coordinator are not asked to sign.
    for name in ("coordinator", "sponsor", "coordinator_b"):
        assert link not in login(people[name]).get(reverse("notifications:list")).content.decode()


def test_every_investigator_of_the_trial_is_notified_and_mailed_separately(people, bat6005, site_a, site_b):
    other = member(bat6005, Role.INVESTIGATOR, site_b, "investigator-b")
    no_mail = UserFactory(username="investigator-nomail", email="")
    bat6005.memberships.create(user=no_mail, site=site_a, role=Role.INVESTIGATOR)
    inactive = member(bat6005, Role.INVESTIGATOR, site_a, "investigator-gone")
    inactive.is_active = False
    inactive.save()
    decision = past_window_decision(bat6005, site_a, people["coordinator"])
    assert queued_notice(decision) == 3
    assert set(Notification.objects.filter(decision=decision).values_list("recipient__username", flat=True)) == {
        "investigator", "investigator-b", "investigator-nomail"}
    assert sorted(m.to for m in mail.outbox) == sorted([[people["investigator"].email], [other.email]])


def test_no_notice_once_the_decision_no_longer_waits(people, bat6005, site_a):
    decision = past_window_decision(bat6005, site_a, people["coordinator"])
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved")
    # The notify message arrives late (re-published after a broker loss): the decision is signed.
    assert queued_notice(decision) == 0
    assert not Notification.objects.exists() and not mail.outbox


def test_sponsor_is_notified_once_when_a_decision_awaits_concurrence(login, site_a, settings):
    settings.SITE_URL = SITE
    trial = load_trial("LVGN6051-ANLOTINIB")
    coordinator = member(trial, Role.COORDINATOR, site_a, "c-lvgn")
    investigator = member(trial, Role.INVESTIGATOR, site_a, "i-lvgn")
    sponsor = member(trial, Role.SPONSOR, None, "s-lvgn")
    decision = past_window_decision(trial, site_a, coordinator, subjects=3)
    assert queued_notice(decision) == 1  # the investigator's
    decision_sign(decision=decision, user=investigator, **signing(investigator), meaning="approved")
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.CONCURRENCE

    assert queued_notice(decision, role=Role.SPONSOR.value) == 1
    assert notify_decision_pending(decision.pk, role=Role.SPONSOR.value) == 0  # run twice: once
    notice = Notification.objects.get(recipient=sponsor)
    assert notice.kind == "concurrence" and notice.decision == decision
    link = f"{SITE}/escalation/decisions/{decision.pk}/"
    page = login(sponsor).get(reverse("notifications:list")).content.decode()
    assert "Decision awaiting concurrence" in page and f'href="{link}"' in page
    assert "awaits your concurrence" in page
    sponsor_mail = [m for m in mail.outbox if m.to == [sponsor.email]]
    assert len(sponsor_mail) == 1 and f"Review and concur or decline: {link}" in sponsor_mail[0].body
    # The investigator's earlier notice is not repeated, and no sponsor notice went to the investigator.
    assert Notification.objects.filter(recipient=investigator).count() == 1
    assert [m.to for m in mail.outbox].count([investigator.email]) == 1


def test_marking_read_ignores_ids_that_are_not_plain_numbers(login, people):
    client = login(people["coordinator"])
    for value in ("²", "1" * 5000, "٣"):
        assert client.post(reverse("notifications:mark_read"), {"id": value}).status_code == 302
