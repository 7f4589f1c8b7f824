"""Issue 13, point 1 (REST API): escalation decisions, their signing, signatures, RP2D declarations and
intra-patient escalations through /api/v1/, with the real services and the browser's credentials."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from escalation.models import EscalationDecision, IntraPatientEscalation, Rp2dDeclaration, Signature
from escalation.services import decision_recommend, decision_sign
from subjects.models import AdverseEvent
from subjects.services import adverse_event_record
from tests.auth import code, fresh_code, sign_in, signing, totp_secret
from tests.conftest import member
from tests.escalation.test_intrapatient import RATIONALE, build_world
from tests.factories import PASSWORD
from tests.parts_helpers import escalate
from tests.test_decision_safety import dosed, first_day, lvgn_with_people
from trials.models import Role

pytestmark = pytest.mark.django_db

API = "/api/v1"


def session(user) -> Client:
    return sign_in(Client(), user)


def token_client(user) -> Client:
    _, token = AuthToken.objects.create(user)
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def credentials(user, **extra) -> dict:
    totp_secret(user)  # enrolled: every signature needs the code too
    return {"username": user.get_username(), "password": PASSWORD, "otp_code": fresh_code(user), **extra}


@pytest.fixture
def pending(site_a, site_b):
    """LVGN6051 + anlotinib, level 1: three subjects, a confirmed DLT on the second (1NTN): 'expand to 6',
    awaiting the investigator's signature (then the sponsor's concurrence)."""
    trial, people = lvgn_with_people(site_a, site_b)
    people["data_manager"] = member(trial, Role.DATA_MANAGER, None, "dm-lvgn")
    subjects = [dosed(trial, site_a, people["coordinator"], initials, 25, dob=date(1957, 3, 14))
                for initials in ("QZX", "QZY", "QZW")]
    adverse_event_record(subject=subjects[1], user=people["investigator"], term="Hypertension", grade=3,
                         attribution="probable", is_dlt=True, onset_date=first_day(subjects[1]) + timedelta(days=6))
    adverse_event_record(subject=subjects[0], user=people["coordinator"], term="Fatigue", grade=1,
                         attribution="unlikely", onset_date=first_day(subjects[0]) + timedelta(days=2))
    decision = decision_recommend(trial=trial)
    assert decision.status == EscalationDecision.Status.PENDING
    return trial, people, subjects, decision


def sign_url(decision) -> str:
    return f"{API}/decisions/{decision.pk}/sign/"


def test_investigator_signs_with_password_and_code_then_the_sponsor_concurs_with_a_token(pending):
    _trial, people, _subjects, decision = pending
    investigator, sponsor = people["investigator"], people["sponsor"]
    client = session(investigator)
    body = client.get(f"{API}/decisions/{decision.pk}/").json()
    assert (body["status"], body["can_sign"], body["sign_meanings"]) == ("pending", True, ["approved", "rejected"])
    assert body["recommendation"]["summary"] == decision.summary and body["recommendation"]["outcomes"] == "1NTN"
    answer = client.post(sign_url(decision), credentials(investigator, meaning="approved"),
                         content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "concurrence" and answer.json()["signature"]["meaning"] == "approved"
    signature = Signature.objects.get(decision=decision)
    assert (signature.signer, signature.role, signature.data_sha256) == (investigator, "investigator",
                                                                          decision.data_sha256)

    # The sponsor concurs through a token: still with the password and the code.
    answer = token_client(sponsor).post(sign_url(decision), credentials(sponsor, meaning="concurred"),
                                        content_type="application/json")
    assert answer.status_code == 201, answer.content
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.APPROVED
    assert list(decision.signatures.values_list("role", "meaning")) == [("investigator", "approved"),
                                                                        ("sponsor", "concurred")]
    # Signatures: read-only and append-only.
    listed = session(investigator).get(f"{API}/signatures/?decision={decision.pk}").json()
    assert [s["meaning"] for s in listed["results"]] == ["approved", "concurred"]
    sig = listed["results"][0]["id"]
    for method in ("put", "patch", "delete"):
        assert getattr(session(investigator), method)(f"{API}/signatures/{sig}/").status_code == 405
    assert session(investigator).post(f"{API}/signatures/", {}).status_code == 405


def test_wrong_or_missing_credentials_are_refused_on_their_field_and_nothing_is_signed(pending):
    _trial, people, _subjects, decision = pending
    investigator = people["investigator"]
    secret = totp_secret(investigator)
    client = session(investigator)

    def post(**data):
        return client.post(sign_url(decision), {"meaning": "approved", **data}, content_type="application/json")

    wrong = post(username=investigator.username, password="not-the-password", otp_code=code(secret))
    assert wrong.status_code == 400 and list(wrong.json()) == ["password"]
    missing = post(username=investigator.username, password=PASSWORD)
    assert missing.status_code == 400 and list(missing.json()) == ["otp_code"]
    bad_code = post(username=investigator.username, password=PASSWORD, otp_code="000000")
    assert bad_code.status_code == 400 and list(bad_code.json()) == ["otp_code"]
    not_mine = post(username=people["coordinator"].username, password=PASSWORD, otp_code=code(secret))
    assert not_mine.status_code == 400 and list(not_mine.json()) == ["username"]
    no_comment = post(**credentials(investigator, meaning="rejected"))
    assert no_comment.status_code == 400 and list(no_comment.json()) == ["comment"]
    # Deciding otherwise needs a justification (the service's check, on its field).
    level = decision.next_dose_level
    unjustified = post(**credentials(investigator, next_dose_level=level.pk, add_subjects=1))
    assert unjustified.status_code == 400 and list(unjustified.json()) == ["justification"]
    assert not Signature.objects.exists()
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.PENDING


def test_a_token_alone_never_signs(pending):
    _trial, people, _subjects, decision = pending
    client = token_client(people["investigator"])
    bare = client.post(sign_url(decision), {"meaning": "approved"}, content_type="application/json")
    assert bare.status_code == 400 and {"username", "password"} <= set(bare.json())
    assert not Signature.objects.exists()
    # Nor without the code, for a signer who has enrolled one.
    totp_secret(people["investigator"])
    no_code = client.post(sign_url(decision), {"meaning": "approved", "username": "i-lvgn", "password": PASSWORD},
                          content_type="application/json")
    assert no_code.status_code == 400 and list(no_code.json()) == ["otp_code"]
    assert not Signature.objects.exists()
    assert Client().post(sign_url(decision), credentials(people["investigator"], meaning="approved"),
                         content_type="application/json").status_code in (401, 403)
    assert not Signature.objects.exists()


def test_a_locked_signer_gets_403_and_signs_nothing(pending, settings):
    _trial, people, _subjects, decision = pending
    investigator = people["investigator"]
    client = token_client(investigator)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = client.post(sign_url(decision), credentials(investigator, meaning="approved", password="wrong"),
                             content_type="application/json")
        assert answer.status_code == 400
    locked = client.post(sign_url(decision), credentials(investigator, meaning="approved", password="wrong"),
                         content_type="application/json")
    assert locked.status_code == 403 and "locked" in locked.json()["detail"]
    right = client.post(sign_url(decision), credentials(investigator, meaning="approved"),
                        content_type="application/json")
    assert right.status_code == 403 and "locked" in right.json()["detail"]
    assert not Signature.objects.exists()


def test_roles_that_cannot_sign_now_get_403(pending):
    _trial, people, _subjects, decision = pending
    for who, meaning in (("coordinator", "approved"), ("sponsor", "concurred"), ("sponsor", "approved"),
                         ("data_manager", "approved")):
        user = people[who]
        answer = token_client(user).post(sign_url(decision), credentials(user, meaning=meaning),
                                         content_type="application/json")
        assert answer.status_code == 403, (who, meaning, answer.content)
    # Once approved, the investigator cannot concur in the sponsor's place.
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]),
                  meaning="approved")
    answer = token_client(people["investigator"]).post(
        sign_url(decision), credentials(people["investigator"], meaning="concurred"), content_type="application/json")
    assert answer.status_code == 403
    # A meaning that is not the reader's (the sponsor on the investigator's meanings) is refused on its field.
    answer = token_client(people["sponsor"]).post(
        sign_url(decision), credentials(people["sponsor"], meaning="approved"), content_type="application/json")
    assert answer.status_code == 400 and list(answer.json()) == ["meaning"]
    assert Signature.objects.count() == 1


def test_decisions_are_read_as_on_the_page(pending, site_b):
    trial, people, subjects, decision = pending
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  next_dose_level=decision.next_dose_level, add_subjects=2,
                  justification="The hypertension recovered within 3 days; two more suffice.",
                  comment="Discussed with QZY-family at the bedside.")
    url = f"{API}/decisions/{decision.pk}/"

    sponsor = session(people["sponsor"])
    for path in (url, f"{API}/decisions/?trial={trial.code}", f"{API}/signatures/?trial={trial.code}"):
        answer = sponsor.get(path)
        assert answer.status_code == 200
        text = answer.content.decode()
        leaked = [t for s in subjects for t in (s.code, s.initials) if t in text]
        assert not leaked, (path, leaked)
        assert "1957-03-14" not in text and "bedside" not in text and "recovered within" not in text
        for s in subjects:
            assert timezone.localtime(s.first_dose().administered_at).strftime("%Y-%m-%d") not in text
    body = sponsor.get(url).json()
    assert body["deidentified"] and body["evidence"]["subjects"] == []
    assert [(d["term"], d["grade"], d["study_day"]) for d in body["evidence"]["dlts"]] == [("Hypertension", 3, 7)]
    assert body["evidence"]["levels"][0]["dlts"] == 1 and body["decided"]["justification"] is None
    assert body["signatures"][0]["comment"] is None and body["signatures"][0]["comment_hidden"]
    assert body["sign_meanings"] == ["concurred", "declined"]

    staff = session(people["investigator"]).get(url).json()
    assert [s["subject"] for s in staff["evidence"]["subjects"]] == [s.code for s in subjects]
    assert staff["decided"]["justification"].startswith("The hypertension")
    assert staff["signatures"][0]["comment"] == "Discussed with QZY-family at the bedside."
    other_site = session(people["coordinator_b"]).get(url).json()
    assert [s["subject"] for s in other_site["evidence"]["subjects"]] == [None, None, None]
    assert all(s["first_dose"] is None for s in other_site["evidence"]["subjects"])

    # Filters, pagination, 400 on a bad filter naming it, 404 outside the user's trials.
    listed = session(people["investigator"]).get(f"{API}/decisions/?trial={trial.code}&status=concurrence").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == decision.pk
    assert listed["results"][0]["evidence"] is None
    bad = session(people["investigator"]).get(f"{API}/decisions/?status=nonsense")
    assert bad.status_code == 400 and list(bad.json()) == ["status"]
    stranger = member(trial, Role.COORDINATOR, site_b, "stranger")
    stranger.memberships.all().delete()
    assert session(stranger).get(url).status_code == 404
    assert session(stranger).get(f"{API}/decisions/").json()["count"] == 0

    # An invalidation reason naming subjects is replaced for the sponsor.
    decision_sign(decision=decision, user=people["sponsor"], **signing(people["sponsor"]), meaning="concurred")
    AdverseEvent.objects.filter(subject=subjects[0]).update(grade=2)
    decision_recommend(trial=trial)
    decision.refresh_from_db()
    assert decision.status == "invalidated" and subjects[0].code in decision.invalidated_reason
    text = session(people["sponsor"]).get(url).content.decode()
    assert subjects[0].code not in text and "The trial data changed after this decision was made" in text
    assert subjects[0].code in session(people["investigator"]).get(url).json()["invalidated_reason"]


# --------------------------------------------------------------------------------------------------
# RP2D declarations
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def stopped(site_a, site_b):
    trial, people = lvgn_with_people(site_a, site_b)
    people["pi"] = people["investigator"]
    people["investigator"] = member(trial, Role.INVESTIGATOR, site_a, "i2-lvgn")
    stop = escalate(trial, site_a, people["coordinator"], people["pi"], people["sponsor"], ["NNN", "NNN", "TTN", "NNN"])
    return trial, people, stop


def test_rp2d_proposed_and_cosigned_through_the_api(stopped):
    trial, people, stop = stopped
    level2 = trial.dose_levels.get(label="LVGN6051 3 mg/kg + anlotinib 12 mg")
    level3 = trial.dose_levels.get(label="LVGN6051 5 mg/kg + anlotinib 12 mg")
    pi = token_client(people["pi"])

    def propose(client, user, **data):
        return client.post(f"{API}/rp2d-declarations/", credentials(user, trial=trial.code, **data),
                           content_type="application/json")

    above = propose(pi, people["pi"], dose_level=level3.pk, rationale="Highest dose with acceptable safety.")
    assert above.status_code == 400 and list(above.json()) == ["dose_level"]
    short = propose(pi, people["pi"], dose_level=level2.pk, rationale="ok")
    assert short.status_code == 400 and list(short.json()) == ["rationale"]
    wrong = pi.post(f"{API}/rp2d-declarations/", {**credentials(people["pi"], trial=trial.code), "password": "x",
                                                  "dose_level": level2.pk, "rationale": "MTD; 0/6 DLTs at this level."},
                    content_type="application/json")
    assert wrong.status_code == 400 and list(wrong.json()) == ["password"]
    # Neither a coordinator nor an investigator who is not the PI proposes.
    for who in ("coordinator", "investigator"):
        refused = propose(token_client(people[who]), people[who], dose_level=level2.pk,
                          rationale="MTD; 0/6 DLTs at this level.")
        assert refused.status_code == 403
    assert not Rp2dDeclaration.objects.exists()

    done = propose(pi, people["pi"], dose_level=level2.pk, rationale="MTD; 0/6 DLTs, one PR at this level.")
    assert done.status_code == 201, done.content
    body = done.json()
    assert (body["status"], body["dose_level"]["id"], body["stopping_decision"]) == ("pending", level2.pk, stop.pk)
    assert [s["role"] for s in body["signatures"]] == ["principal investigator"] and not body["can_sign"]
    safety = {row["level"]: row for row in body["data"]["safety"]}
    assert safety[level3.label]["dlts"] == 2

    sponsor = token_client(people["sponsor"])
    read = sponsor.get(f"{API}/rp2d-declarations/{body['id']}/").json()
    assert read["can_sign"]
    assert pi.post(f"{API}/rp2d-declarations/{body['id']}/sign/", credentials(people["pi"], meaning="declared"),
                   content_type="application/json").status_code == 403
    objected = sponsor.post(f"{API}/rp2d-declarations/{body['id']}/sign/",
                            credentials(people["sponsor"], meaning="objected"), content_type="application/json")
    assert objected.status_code == 400 and list(objected.json()) == ["comment"]
    signed = sponsor.post(f"{API}/rp2d-declarations/{body['id']}/sign/", credentials(people["sponsor"],
                                                                                    meaning="declared"),
                          content_type="application/json")
    assert signed.status_code == 201 and signed.json()["status"] == "approved"
    assert Rp2dDeclaration.objects.get().signatures.count() == 2
    # The data manager does not read the RP2D page: 403 there, none listed.
    dm = member(trial, Role.DATA_MANAGER, None, "dm-rp2d")
    assert token_client(dm).get(f"{API}/rp2d-declarations/{body['id']}/").status_code == 403
    assert token_client(dm).get(f"{API}/rp2d-declarations/").json()["count"] == 0


# --------------------------------------------------------------------------------------------------
# Intra-patient escalations
# --------------------------------------------------------------------------------------------------


def test_intrapatient_request_and_agreement_through_the_api(people, bat6005, site_a, site_b):
    world = build_world(bat6005, site_a, people["coordinator"])
    subject, level = world["subject"], world["levels"]["30 mg"]
    investigator = token_client(people["investigator"])
    url = f"{API}/intrapatient-escalations/"

    coordinator = token_client(people["coordinator"])
    asked = coordinator.post(url, credentials(people["coordinator"], subject=subject.pk, to_level=level.pk,
                                              rationale=RATIONALE), content_type="application/json")
    assert asked.status_code == 403
    wrong = investigator.post(url, {**credentials(people["investigator"], subject=subject.pk, to_level=level.pk,
                                                  rationale=RATIONALE), "otp_code": "000000"},
                              content_type="application/json")
    assert wrong.status_code == 400 and list(wrong.json()) == ["otp_code"]
    assert not IntraPatientEscalation.objects.exists()

    done = investigator.post(url, credentials(people["investigator"], subject=subject.pk, to_level=level.pk,
                                              rationale=RATIONALE), content_type="application/json")
    assert done.status_code == 201, done.content
    body = done.json()
    assert (body["subject"], body["status"], body["from_cycle"], body["awaiting"]) == (subject.code, "pending", 5,
                                                                                       "sponsor")
    assert [c["name"] for c in body["checks"]] == ["cycles", "level", "agreement"]

    sponsor = token_client(people["sponsor"])
    listed = sponsor.get(f"{url}?trial={bat6005.code}&status=pending").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert subject.initials not in sponsor.get(f"{url}{body['id']}/").content.decode()
    assert token_client(people["coordinator_b"]).get(f"{url}{body['id']}/").status_code == 404
    assert investigator.post(f"{url}{body['id']}/sign/", credentials(people["investigator"], meaning="agreed"),
                             content_type="application/json").status_code == 403
    agreed = sponsor.post(f"{url}{body['id']}/sign/", credentials(people["sponsor"], meaning="agreed"),
                          content_type="application/json")
    assert agreed.status_code == 201 and agreed.json()["status"] == "agreed"
    assert IntraPatientEscalation.objects.get().signatures.count() == 2
