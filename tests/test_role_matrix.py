"""Role × page matrix (issue 8, point 11): every URL of the URLconf, requested (GET) by a coordinator,
an investigator, a sponsor, a coordinator of another site and an anonymous visitor, has the status
stated here; and no page a sponsor can read shows a subject code, initials, a date of birth, a dose
timestamp or site staff's free text (nor, to a coordinator of another site, a code of this site).

The URLconf is walked (``trialsite.urls``, admin included), so a page added without a line in
``EXPECTED`` (or, for the per-kind record pages, without an object in ``_objects``) fails this test
loudly: classify it. Admin pages follow one rule (none of these roles is staff: a redirect to the admin
login), except the ones listed.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from escalation.models import IntraPatientEscalation
from escalation.services import decision_recommend, decision_sign
from exports.models import ExportJob
from monitoring.services import verify as sdv_verify
from pk.models import LabResult, Sample
from pk.services import results_import, sample_collect, shipment_create
from queries.services import query_raise
from response.models import Lesion, LesionMeasurement, TumourAssessment
from response.services import LesionEntry, assessment_record, baseline_record
from subjects.models import AdverseEvent, Assessment, DoseAdministration, OralDispensing, Subject
from subjects.services import adverse_event_record, dlt_adjudicate, dose_record, subject_enrol
from tests.auth import sign_in, signing
from tests.conftest import member
from tests.screening.helpers import eligible_screening, predose
from tests.test_decision_safety import lvgn_with_people
from trials.models import Role
from visits.models import FollowUp, PlannedVisit

pytestmark = pytest.mark.django_db

ROLES = ("coordinator", "investigator", "sponsor", "coordinator_b", "anonymous")

# Expected GET status per role, in the order of ROLES. 302 for the anonymous visitor is the redirect
# to the login page; 302 for a sponsor on the site staff's trial page is the redirect to the dashboard.
LOGIN = 302
EXPECTED: dict[str, tuple[int, int, int, int, int]] = {
    #                                       coord  inv  spons coordB anon
    "home":                                 (200, 200, 200, 200, LOGIN),
    "login":                                (302, 302, 302, 302, 200),
    "logout":                               (200, 200, 200, 200, LOGIN),  # allauth: GET asks to confirm
    "api-dashboard":                        (200, 200, 200, 200, 403),
    "trials:detail":                        (200, 200, 302, 200, LOGIN),
    "trials:dashboard":                     (200, 200, 200, 200, LOGIN),
    "escalation:decision":                  (200, 200, 200, 200, LOGIN),
    "escalation:intermediate_level":        (403, 200, 403, 403, LOGIN),
    "escalation:rp2d":                      (200, 200, 200, 200, LOGIN),  # counts by level only
    # Intra-patient escalation: asked by an investigator or the sponsor, agreed by the other (subject codes are
    # the sponsor's de-identified view of the subject it co-signs for: CODES_FOR_SPONSOR).
    "escalation:intrapatient_request":      (403, 200, 200, 404, LOGIN),
    "escalation:intrapatient_detail":       (200, 200, 200, 404, LOGIN),
    "escalation:intrapatient_list":         (403, 200, 200, 403, LOGIN),
    "subjects:enrol":                       (200, 403, 403, 200, LOGIN),
    "subjects:list":                        (200, 200, 403, 200, LOGIN),
    "subjects:import":                      (200, 403, 403, 200, LOGIN),  # the site's coordinators
    "subjects:ae_list":                     (200, 200, 403, 200, LOGIN),
    "subjects:ctcae_search":                (200, 200, 200, 200, LOGIN),
    "subjects:ctcae_grade":                 (200, 200, 200, 200, LOGIN),
    "subjects:detail":                      (200, 200, 404, 404, LOGIN),
    "subjects:dose_new":                    (200, 403, 404, 404, LOGIN),
    "subjects:assessment_new":              (200, 200, 404, 404, LOGIN),
    "subjects:ae_new":                      (200, 200, 404, 404, LOGIN),
    "subjects:gate_override":               (403, 200, 404, 404, LOGIN),
    "subjects:continuation":                (403, 200, 404, 404, LOGIN),
    "subjects:ae_detail":                   (200, 200, 404, 404, LOGIN),
    "subjects:status":                      (200, 200, 404, 404, LOGIN),
    "subjects:dispensing_new":              (200, 403, 404, 404, LOGIN),
    "subjects:dispensing_return":           (200, 403, 404, 404, LOGIN),
    "screening:list":                       (200, 200, 403, 200, LOGIN),
    "screening:new":                        (200, 403, 403, 200, LOGIN),
    "screening:detail":                     (200, 200, 404, 404, LOGIN),
    "screening:values":                     (200, 200, 404, 404, LOGIN),
    "screening:judge":                      (200, 200, 404, 404, LOGIN),
    "screening:decide":                     (200, 200, 404, 404, LOGIN),
    "visits:list":                          (200, 200, 403, 200, LOGIN),
    "visits:calendar":                      (200, 200, 404, 404, LOGIN),
    "visits:follow_up":                     (302, 403, 404, 404, LOGIN),
    "visits:record":                        (200, 200, 404, 404, LOGIN),
    "notifications:list":                   (200, 200, 200, 200, LOGIN),
    "notifications:mark_read":              (405, 405, 405, 405, LOGIN),
    # Tumour response: the subject's scans (site staff of its site), the trial's efficacy (site staff, and
    # the sponsor de-identified); the review is POST only.
    "response:subject":                     (200, 200, 404, 404, LOGIN),
    "response:baseline":                    (200, 200, 404, 404, LOGIN),
    "response:timepoint_new":               (200, 200, 404, 404, LOGIN),
    "response:review":                      (405, 405, 405, 405, LOGIN),
    "response:efficacy":                    (200, 200, 200, 200, LOGIN),
    # Records: one line per registered kind (records.kinds); written "records:<view>[<kind>]".
    "records:history[dose]":                (200, 200, 404, 404, LOGIN),
    "records:history[adverse-event]":       (200, 200, 404, 404, LOGIN),
    "records:history[dlt-adjudication]":    (200, 200, 404, 404, LOGIN),
    "records:history[assessment]":          (200, 200, 404, 404, LOGIN),
    "records:history[visit]":               (200, 200, 404, 404, LOGIN),
    "records:history[follow-up]":           (200, 200, 404, 404, LOGIN),
    "records:history[subject]":             (200, 200, 404, 404, LOGIN),
    "records:history[screening]":           (200, 200, 404, 404, LOGIN),
    "records:history[screening-values]":    (200, 200, 404, 404, LOGIN),
    "records:history[screening-judgements]": (200, 200, 404, 404, LOGIN),
    "records:correct[dose]":                (200, 403, 404, 404, LOGIN),
    "records:correct[adverse-event]":       (200, 200, 404, 404, LOGIN),
    "records:correct[dlt-adjudication]":    (403, 200, 404, 404, LOGIN),
    "records:correct[assessment]":          (200, 200, 404, 404, LOGIN),
    "records:correct[visit]":               (200, 200, 404, 404, LOGIN),
    "records:correct[follow-up]":           (200, 403, 404, 404, LOGIN),
    "records:correct[subject]":             (200, 200, 404, 404, LOGIN),
    "records:correct[screening]":           (200, 403, 404, 404, LOGIN),
    "records:correct[screening-values]":    (200, 200, 404, 404, LOGIN),
    "records:correct[screening-judgements]": (200, 200, 404, 404, LOGIN),
    "records:void[dose]":                   (200, 403, 404, 404, LOGIN),
    "records:void[adverse-event]":          (200, 200, 404, 404, LOGIN),
    "records:void[dlt-adjudication]":       (404, 404, 404, 404, LOGIN),
    "records:void[assessment]":             (200, 200, 404, 404, LOGIN),
    "records:void[visit]":                  (404, 404, 404, 404, LOGIN),
    "records:void[follow-up]":              (404, 404, 404, 404, LOGIN),
    "records:void[subject]":                (404, 404, 404, 404, LOGIN),
    "records:void[screening]":              (200, 403, 404, 404, LOGIN),
    "records:void[screening-values]":       (404, 404, 404, 404, LOGIN),
    "records:void[screening-judgements]":   (404, 404, 404, 404, LOGIN),
    "records:history[dispensing]":          (200, 200, 404, 404, LOGIN),
    "records:correct[dispensing]":          (200, 200, 404, 404, LOGIN),
    "records:void[dispensing]":             (200, 200, 404, 404, LOGIN),
    # Tumour scans and their measurements: site staff of the subject's site; a baseline with later scans is
    # not voided (the void form says so: 200), a lesion and a measurement are corrected, never voided.
    "records:history[tumour-scan]":         (200, 200, 404, 404, LOGIN),
    "records:correct[tumour-scan]":         (200, 200, 404, 404, LOGIN),
    "records:void[tumour-scan]":            (200, 200, 404, 404, LOGIN),
    "records:history[lesion-measurement]":  (200, 200, 404, 404, LOGIN),
    "records:correct[lesion-measurement]":  (200, 200, 404, 404, LOGIN),
    "records:void[lesion-measurement]":     (404, 404, 404, 404, LOGIN),
    "records:history[lesion]":              (200, 200, 404, 404, LOGIN),
    "records:correct[lesion]":              (200, 200, 404, 404, LOGIN),
    "records:void[lesion]":                 (404, 404, 404, 404, LOGIN),
    # Samples (pk): the subject's samples and labels (site staff of its site), a profile's λz page (site staff
    # of its site; the trial's pharmacokineticists), the trial's PK page (everyone in the trial; a sponsor
    # de-identified), shipments (site staff), the results import (coordinators, pharmacokineticists).
    "pk:subject":                           (200, 200, 404, 404, LOGIN),
    "pk:labels":                            (200, 200, 404, 404, LOGIN),
    "pk:lambda_z":                          (200, 200, 404, 404, LOGIN),
    "pk:collect":                           (405, 405, 405, 405, LOGIN),
    "pk:missed":                            (405, 405, 405, 405, LOGIN),
    "pk:shipment":                          (200, 200, 404, 404, LOGIN),
    "pk:overview":                          (200, 200, 200, 200, LOGIN),
    "pk:shipments":                         (200, 200, 403, 200, LOGIN),
    "pk:import":                            (200, 403, 403, 200, LOGIN),
    "records:history[sample]":              (200, 200, 404, 404, LOGIN),
    "records:correct[sample]":              (200, 200, 404, 404, LOGIN),
    "records:void[sample]":                 (404, 404, 404, 404, LOGIN),
    "records:history[lab-result]":          (200, 200, 404, 404, LOGIN),
    "records:correct[lab-result]":          (200, 200, 404, 404, LOGIN),
    "records:void[lab-result]":             (200, 200, 404, 404, LOGIN),
    # Sign-in and the session (accounts/urls.py). The session status is what the timeout script polls,
    # signed in or not; keep-alive is POST only.
    "accounts:session":                     (200, 200, 200, 200, 200),
    "accounts:keepalive":                   (405, 405, 405, 405, LOGIN),
    "accounts:locked":                      (200, 200, 200, 200, 200),
    # django-allauth's account pages. Signed in, the sign-in pages send the user home (302); allauth's own
    # log-in URL is the same view as login/. A signed-in user's password is changed, not set (302 to
    # the change page); the re-authentication code pages (codes by e-mail are off) go back to the
    # password step. Sign-up is closed (accounts.adapter): its page says so, a signed-in user goes home.
    "account_login":                        (302, 302, 302, 302, 200),
    "account_logout":                       (200, 200, 200, 200, LOGIN),
    "account_signup":                       (302, 302, 302, 302, 200),
    "account_inactive":                     (200, 200, 200, 200, 200),
    "account_reauthenticate":               (200, 200, 200, 200, LOGIN),
    "account_request_reauthentication_code": (302, 302, 302, 302, LOGIN),
    "account_confirm_reauthentication_code": (302, 302, 302, 302, LOGIN),
    "account_confirm_login_code":           (302, 302, 302, 302, 302),  # no code pending: home, or log-in
    "account_email":                        (404, 404, 404, 404, LOGIN),  # addresses are set by administrators
    "account_email_verification_sent":      (200, 200, 200, 200, 200),
    "account_confirm_email":                (200, 200, 200, 200, 200),  # a key that is no one's: "invalid"
    "account_change_password":              (200, 200, 200, 200, LOGIN),
    "account_set_password":                 (302, 302, 302, 302, LOGIN),
    "account_reset_password":               (200, 200, 200, 200, 200),
    "account_reset_password_done":          (200, 200, 200, 200, 200),
    "account_reset_password_from_key":      (200, 200, 200, 200, 200),  # "link no longer valid"
    "account_reset_password_from_key_done": (200, 200, 200, 200, 200),
    # django-allauth's second factor. Investigators and sponsors have an authenticator (tests.auth.sign_in
    # enrols the TOTP only, without recovery codes: 404 for those), and changing it asks for the password
    # again (302 to re-authentication: the sign-in itself is no re-authentication); coordinators have
    # none, so they may enrol without it (accounts.adapter) and have nothing to deactivate or view.
    # The second-factor step of the sign-in has no sign-in pending: home, or the log-in page.
    "mfa_index":                            (200, 200, 200, 200, LOGIN),
    "mfa_authenticate":                     (302, 302, 302, 302, 302),
    "mfa_reauthenticate":                   (302, 200, 200, 302, LOGIN),
    "mfa_activate_totp":                    (200, 302, 302, 200, LOGIN),
    "mfa_deactivate_totp":                  (404, 302, 302, 404, LOGIN),
    "mfa_view_recovery_codes":              (404, 404, 404, 404, LOGIN),
    "mfa_generate_recovery_codes":          (200, 302, 302, 200, LOGIN),
    "mfa_download_recovery_codes":          (404, 404, 404, 404, LOGIN),
    # Source-data verification (monitoring): the monitor's progress per trial; a subject's forms (site staff
    # and the monitor of its site); verify and withdraw are the monitor's POSTs.
    # Data queries: the site's staff read and answer; investigators (and monitors, data managers) raise.
    "queries:list":                         (200, 200, 403, 200, LOGIN),
    "queries:detail":                       (200, 200, 404, 404, LOGIN),
    "queries:raise":                        (403, 200, 404, 404, LOGIN),
    "queries:review":                       (403, 200, 403, 403, LOGIN),
    # Exports: each user sees and downloads only the jobs they asked for.
    "exports:trial":                        (200, 200, 200, 200, LOGIN),
    "exports:jobs":                         (200, 200, 200, 200, LOGIN),
    "exports:download":                     (404, 404, 404, 404, LOGIN),
    "monitoring:progress":                  (403, 403, 403, 403, LOGIN),
    "monitoring:subject":                   (200, 200, 404, 404, LOGIN),
    "monitoring:verify":                    (405, 405, 405, 405, LOGIN),
    "monitoring:withdraw":                  (405, 405, 405, 405, LOGIN),
}
# Admin pages: none of these roles is staff, so every admin page redirects to the admin login, except:
ADMIN_DEFAULT = (302, 302, 302, 302, 302)
ADMIN_EXPECTED = {
    # The admin's log-in is the application's (secure_admin_login): anonymous visitors are sent to
    # login/, signed-in users who are not staff are refused.
    "admin:login": (403, 403, 403, 403, LOGIN),
}

# Identifying data of the subjects (distinctive, so a match is a leak, not a coincidence).
INITIALS = ("QZX", "QZY", "QZW")
BIRTH = date(1957, 3, 14)
DOSE_TIME = time(7, 43)
COMMENTS = ("SIGNCOMMENT-7731", "ADJNOTE-5521", "DEVIATION-6610")


def _walk(patterns, prefix="", namespace=None):
    """(key, route, kwarg names) for every URL pattern; key is "namespace:name", or the route."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            if route.startswith("api/v1/"):
                continue  # the REST API: roles per endpoint in tests/api
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name or route, route


_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


def _path(route: str, values: dict) -> str:
    """The concrete path of a route, its parameters filled from ``values`` (regex groups of the admin:
    their first alternative, the catch-all a page that does not exist)."""
    def group(match):
        if match["name"] in values:
            return str(values[match["name"]])
        body = match["body"]
        return "no-such-page" if body in (".*", ".+") else body.split("|")[0]

    path = _GROUP.sub(group, route)
    path = path.replace("^", "").replace("$", "")
    missing = [m["name"] for m in _CONVERTER.finditer(path) if m["name"] not in values]
    if missing:
        raise LookupError(", ".join(missing))
    return "/" + _CONVERTER.sub(lambda m: str(values[m["name"]]), path)


@pytest.fixture
def world(site_a, site_b):
    """LVGN6051 + anlotinib at site A: a subject enrolled from screening, dosed, with an adjudicated DLT,
    dispensing, visits and a follow-up; three subjects at level 1; a decision awaiting the sponsor's
    concurrence, signed with a comment."""
    trial, people = lvgn_with_people(site_a, site_b)
    people["monitor"] = member(trial, Role.MONITOR, site_a, "m-lvgn")  # EXPECTED_MORE
    people["data_manager"] = member(trial, Role.DATA_MANAGER, None, "dm-lvgn")
    coordinator = people["coordinator"]
    dose_day = timezone.localdate() - timedelta(days=25)
    screening = eligible_screening(trial, site_a, coordinator, initials=INITIALS[0], date_of_birth=BIRTH,
                                   assessed_on=dose_day)
    subjects = [subject_enrol(trial=trial, user=coordinator, screening=screening)]
    subjects += [subject_enrol(trial=trial, site=site_a, user=coordinator, initials=initials, date_of_birth=BIRTH,
                               sex="M") for initials in INITIALS[1:]]
    lvgn6051, anlotinib = trial.drugs.get(name="LVGN6051"), trial.drugs.get(name="Anlotinib")
    dosed_at = timezone.make_aware(datetime.combine(dose_day, DOSE_TIME))
    # Enrolled the day before the first dose, 25 days ago (as in a trial that has been running).
    Subject.objects.filter(pk__in=[s.pk for s in subjects]).update(enrolled_at=dosed_at - timedelta(days=1))
    for subject in subjects:
        subject.refresh_from_db()
        predose(subject, dosed_at, coordinator)
        dose_record(subject=subject, drug=lvgn6051, cycle=1, day=1, user=coordinator, administered_at=dosed_at)
    subject = subjects[0]
    event = adverse_event_record(subject=subject, user=coordinator, term="Hypertension", grade=3,
                                 attribution="probable", onset_date=dose_day + timedelta(days=6))
    dlt_adjudicate(event=event, user=people["investigator"], confirm=True, comment=COMMENTS[1])
    verification = sdv_verify(user=people["monitor"], kind="adverse-event", record=event, field="grade")
    decision = decision_recommend(trial=trial)
    decision_sign(decision=decision, user=people["investigator"], **signing(people["investigator"]), meaning="approved",
                  comment=COMMENTS[0])
    dispensing = OralDispensing.objects.create(
        subject=subject, drug=anlotinib, cycle=1, dispensed_on=dose_day, first_dose_at=dosed_at,
        tablets_dispensed=14, tablet_strength=12, tablets_per_day=1, recorded_by=coordinator)
    follow_up = FollowUp.objects.create(subject=subject, updated_by=coordinator)
    baseline_record(subject=subject, user=coordinator, assessed_on=dose_day - timedelta(days=3), method="CT",
                    lesions=[LesionEntry(kind="target", organ="lung", diameter_mm=Decimal(30), axis="long"),
                             LesionEntry(kind="non_target", organ="bone")])
    scan = assessment_record(subject=subject, user=coordinator, assessed_on=dose_day + timedelta(days=20), method="CT",
                             new_lesions="none", values={"T1": ("measured", Decimal(20)), "NT1": ("present", None)})
    # Its cycle-1 PK samples collected at their nominal times, shipped, and their results imported.
    samples = list(Sample.objects.filter(subject=subject, code__startswith="C1-PK-").order_by("nominal_at"))
    for sample in samples:
        sample_collect(sample=sample, user=coordinator,
                       collected_at=sample.nominal_at - timedelta(minutes=1 if sample.nominal_hours == 0 else 0))
    shipment = shipment_create(user=coordinator, trial=trial, site=site_a, samples=samples, lab="PK lab",
                               shipped_at=timezone.now(), temperature="frozen-70")
    lines = ["sample_id,analyte,result,unit,lloq"] + [
        f"{s.sample_id},LVGN6051,{'BLQ' if s.nominal_hours == 0 else round(40 * 0.99 ** s.nominal_hours, 3)},ug/mL,0.1"
        for s in samples]
    results_import(user=coordinator, trial=trial, file_name="pk.csv", content="\n".join(lines).encode(),
                   samples=Sample.objects.filter(subject__trial=trial))
    objects = {
        Sample: samples[1], LabResult: LabResult.objects.filter(sample__subject=subject).first(),
        Subject: subject, AdverseEvent: event, DoseAdministration: subject.doses.first(),
        Assessment: subject.assessments.first(), PlannedVisit: PlannedVisit.objects.filter(subject=subject).first(),
        FollowUp: follow_up, type(screening): screening, OralDispensing: dispensing,
        TumourAssessment: scan, LesionMeasurement: scan.measurements.first(), Lesion: subject.lesions.first(),
    }
    assert all(objects.values()), objects
    # An intra-patient escalation request for the subject (as a protocol allowing it would record).
    levels = list(trial.dose_levels.order_by("rank"))
    agreement = IntraPatientEscalation.objects.create(
        subject=subject, from_level=levels[0], to_level=levels[1], from_cycle=5, rationale="Tolerating well.",
        data={}, data_sha256="0" * 64, created_by=people["investigator"])
    query = query_raise(user=people["investigator"], kind="adverse-event", record=event, field="grade",
                        text="Please check the grade against the source.")
    export_job = ExportJob.objects.create(trial=trial, requested_by=people["sponsor"], format=ExportJob.Format.CSV)
    return {
        "agreement": agreement, "verification": verification, "query": query, "export_job": export_job,
        "trial": trial, "people": people, "subjects": subjects, "event": event, "decision": decision,
        "screening": screening, "dispensing": dispensing, "drug": anlotinib, "objects": objects,
        "dosed_at": dosed_at, "shipment": shipment,
    }


def _urls(world) -> dict[str, str]:
    """Every URL of the URLconf, keyed as in EXPECTED, with objects of ``world`` filled in."""
    from records.registry import KINDS

    trial, subject, event = world["trial"], world["subjects"][0], world["event"]
    per_url = {
        "subjects:ae_detail": {"pk": event.pk},
        "subjects:dispensing_new": {"pk": subject.pk, "drug_pk": world["drug"].pk},
        "subjects:dispensing_return": {"pk": world["dispensing"].pk},
        "screening:": {"pk": world["screening"].pk},
        "escalation:decision": {"pk": world["decision"].pk},
        "escalation:intrapatient_request": {"pk": subject.pk},
        "escalation:intrapatient_detail": {"pk": world["agreement"].pk},
        "response:review": {"pk": world["objects"][TumourAssessment].pk},
        "response:": {"pk": subject.pk},
        "visits:record": {"pk": world["objects"][PlannedVisit].pk},
        "pk:collect": {"pk": world["objects"][Sample].pk},
        "pk:missed": {"pk": world["objects"][Sample].pk},
        "pk:shipment": {"pk": world["shipment"].pk},
        "pk:lambda_z": {"pk": subject.pk, "cycle": 1},
        "pk:": {"pk": subject.pk},
        "monitoring:verify": {"kind": "adverse-event", "pk": event.pk},
        "queries:detail": {"pk": world["query"].pk},
        "queries:raise": {"kind": "adverse-event", "pk": event.pk},
        "exports:download": {"pk": world["export_job"].pk},
        "monitoring:withdraw": {"pk": world["verification"].pk},
        "monitoring:": {"pk": subject.pk},
        "subjects:": {"pk": subject.pk},
        "visits:": {"pk": subject.pk},
        # allauth's links from e-mails: a key that is no one's.
        "account_confirm_email": {"key": "no-such-key"},
        "account_reset_password_from_key": {"uidb36": "0", "key": "no-such-key"},
    }
    urls, unresolved = {}, []
    for key, route in _walk(get_resolver().url_patterns):
        values = {"code": trial.code}
        values |= next((v for prefix, v in per_url.items() if key == prefix or
                        (prefix.endswith(":") and key.startswith(prefix))), {})
        if key.startswith("records:"):
            for slug, kind in KINDS.items():
                obj = world["objects"].get(kind.model)
                if obj is None:
                    unresolved.append(f"{key}[{slug}] (no {kind.model.__name__} in the world fixture)")
                    continue
                urls[f"{key}[{slug}]"] = _path(route, {**values, "kind": slug, "pk": obj.pk})
            continue
        if route.startswith("admin/"):
            values = {"object_id": 1, "content_type_id": 1, "id": 1}
        try:
            urls[key] = _path(route, values)
        except LookupError as exc:
            unresolved.append(f"{key} ({route}: no value for {exc})")
    assert not unresolved, "URLs the matrix cannot build (add their objects):\n" + "\n".join(unresolved)
    return urls


def _expected(key: str) -> tuple | None:
    if key in EXPECTED:
        return EXPECTED[key]
    if key.startswith("admin:") or key.startswith("admin/"):
        return ADMIN_EXPECTED.get(key, ADMIN_DEFAULT)
    return None


def test_every_url_is_classified(world):
    urls = _urls(world)
    unclassified = sorted(key for key in urls if _expected(key) is None)
    assert not unclassified, (
        "Pages with no expectation in tests/test_role_matrix.py EXPECTED (classify each, per role):\n"
        + "\n".join(f"  {key}: {urls[key]}" for key in unclassified))
    stale = sorted(set(EXPECTED) - set(urls))
    assert not stale, f"EXPECTED lists pages the URLconf no longer has: {stale}"


# Pages where a sponsor co-signs for one subject, named by its de-identified code (never initials or dates).
CODES_FOR_SPONSOR = {"escalation:intrapatient_detail", "escalation:intrapatient_list"}


def _forbidden(world, role: str, key: str = "") -> list[str]:
    """What must not appear in a page this role can read."""
    subjects = world["subjects"]
    codes = [s.code for s in subjects]
    if role == "coordinator_b":
        return codes
    if key in CODES_FOR_SPONSOR:
        codes = []
    day = timezone.localtime(world["dosed_at"])
    dates = {BIRTH: "birth", day.date(): "first dose"}
    texts = list(codes) + list(INITIALS) + list(COMMENTS)
    for when in dates:
        texts += [f"{when:%Y-%m-%d}", f"{when:%d %b %Y}", f"{when.day} {when:%b %Y}", f"{when:%d/%m/%Y}",
                  f"{when:%b}. {when.day}, {when.year}", f"{when:%B} {when.day}, {when.year}"]
    texts += [f"{day:%Y-%m-%d %H:%M}", day.isoformat()[:16], f"{day:%d %b %Y %H:%M}"]
    return texts


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, client, role):
    urls = _urls(world)
    if role != "anonymous":
        sign_in(client, world["people"][role])
    mismatches, leaks = [], []
    for key, url in sorted(urls.items()):
        forbidden = _forbidden(world, role, key) if role in ("sponsor", "coordinator_b") else []
        expected = _expected(key)
        if expected is None:
            continue  # test_every_url_is_classified names it
        response = client.get(url)
        want = expected[ROLES.index(role)]
        if response.status_code != want:
            mismatches.append(f"{key} {url}: {response.status_code}, expected {want}")
        if response.status_code == 200 and forbidden:
            body = response.content.decode(errors="replace")
            found = [text for text in forbidden if text in body]
            if found:
                leaks.append(f"{key} {url}: shows {found}")
    assert not mismatches, f"{role}:\n" + "\n".join(mismatches)
    assert not leaks, f"{role} sees subject-level data:\n" + "\n".join(leaks)


# --- the monitor (CRA, site A) and the data manager (trial-wide, by subject code) -----------------------

MORE_ROLES = ("monitor", "data_manager")
EXPECTED_MORE: dict[str, tuple[int, int]] = {
    # The site's monitor reads the identifiable pages of its site (subjects, AEs, visits, screening, response,
    # samples, every record's history) and writes nothing (403 on every form); the data manager reads by code
    # through the API and the queries pages: the site's pages stay closed (404 for a record, 403 for a list).
    #                                       monit  dm
    "home":                                 (200, 200),
    "login":                                (302, 302),
    "logout":                               (200, 200),
    "api-dashboard":                        (403, 403),
    "trials:detail":                        (200, 200),
    "trials:dashboard":                     (403, 403),
    "escalation:decision":                  (200, 200),
    "escalation:intermediate_level":        (403, 403),
    "escalation:rp2d":                      (403, 403),
    "escalation:intrapatient_request":      (404, 404),
    "escalation:intrapatient_detail":       (404, 404),
    "escalation:intrapatient_list":         (403, 403),
    "subjects:enrol":                       (403, 403),
    "subjects:list":                        (200, 403),
    "subjects:import":                      (403, 403),
    "subjects:ae_list":                     (200, 403),
    "subjects:ctcae_search":                (200, 200),
    "subjects:ctcae_grade":                 (200, 200),
    "subjects:detail":                      (200, 404),
    "subjects:dose_new":                    (403, 404),
    "subjects:assessment_new":              (403, 404),
    "subjects:ae_new":                      (403, 404),
    "subjects:gate_override":               (403, 404),
    "subjects:continuation":                (403, 404),
    "subjects:ae_detail":                   (200, 404),
    "subjects:status":                      (403, 404),
    "subjects:dispensing_new":              (403, 404),
    "subjects:dispensing_return":           (403, 404),
    "screening:list":                       (200, 403),
    "screening:new":                        (403, 403),
    "screening:detail":                     (200, 404),
    "screening:values":                     (403, 404),
    "screening:judge":                      (403, 404),
    "screening:decide":                     (403, 404),
    "visits:list":                          (200, 403),
    "visits:calendar":                      (200, 404),
    "visits:follow_up":                     (403, 404),
    "visits:record":                        (403, 404),
    "notifications:list":                   (200, 200),
    "notifications:mark_read":              (405, 405),
    "response:subject":                     (200, 404),
    "response:baseline":                    (403, 404),
    "response:timepoint_new":               (403, 404),
    "response:review":                      (405, 405),
    "response:efficacy":                    (403, 403),
    "records:history[dose]":                (200, 404),
    "records:history[adverse-event]":       (200, 404),
    "records:history[dlt-adjudication]":    (200, 404),
    "records:history[assessment]":          (200, 404),
    "records:history[visit]":               (200, 404),
    "records:history[follow-up]":           (200, 404),
    "records:history[subject]":             (200, 404),
    "records:history[screening]":           (200, 404),
    "records:history[screening-values]":    (200, 404),
    "records:history[screening-judgements]":(200, 404),
    "records:correct[dose]":                (403, 404),
    "records:correct[adverse-event]":       (403, 404),
    "records:correct[dlt-adjudication]":    (403, 404),
    "records:correct[assessment]":          (403, 404),
    "records:correct[visit]":               (403, 404),
    "records:correct[follow-up]":           (403, 404),
    "records:correct[subject]":             (403, 404),
    "records:correct[screening]":           (403, 404),
    "records:correct[screening-values]":    (403, 404),
    "records:correct[screening-judgements]":(403, 404),
    "records:void[dose]":                   (403, 404),
    "records:void[adverse-event]":          (403, 404),
    "records:void[dlt-adjudication]":       (404, 404),
    "records:void[assessment]":             (403, 404),
    "records:void[visit]":                  (404, 404),
    "records:void[follow-up]":              (404, 404),
    "records:void[subject]":                (404, 404),
    "records:void[screening]":              (403, 404),
    "records:void[screening-values]":       (404, 404),
    "records:void[screening-judgements]":   (404, 404),
    "records:history[dispensing]":          (200, 404),
    "records:correct[dispensing]":          (403, 404),
    "records:void[dispensing]":             (403, 404),
    "records:history[tumour-scan]":         (200, 404),
    "records:correct[tumour-scan]":         (403, 404),
    "records:void[tumour-scan]":            (403, 404),
    "records:history[lesion-measurement]":  (200, 404),
    "records:correct[lesion-measurement]":  (403, 404),
    "records:void[lesion-measurement]":     (404, 404),
    "records:history[lesion]":              (200, 404),
    "records:correct[lesion]":              (403, 404),
    "records:void[lesion]":                 (404, 404),
    "pk:subject":                           (200, 404),
    "pk:labels":                            (403, 404),
    "pk:lambda_z":                          (404, 404),
    "pk:collect":                           (405, 405),
    "pk:missed":                            (405, 405),
    "pk:shipment":                          (404, 404),
    "pk:overview":                          (200, 200),
    "pk:shipments":                         (403, 403),
    "pk:import":                            (403, 403),
    "records:history[sample]":              (200, 404),
    "records:correct[sample]":              (403, 404),
    "records:void[sample]":                 (404, 404),
    "records:history[lab-result]":          (200, 404),
    "records:correct[lab-result]":          (403, 404),
    "records:void[lab-result]":             (403, 404),
    "accounts:session":                     (200, 200),
    "accounts:keepalive":                   (405, 405),
    "accounts:locked":                      (200, 200),
    "account_login":                        (302, 302),
    "account_logout":                       (200, 200),
    "account_signup":                       (302, 302),
    "account_inactive":                     (200, 200),
    "account_reauthenticate":               (200, 200),
    "account_request_reauthentication_code":(302, 302),
    "account_confirm_reauthentication_code":(302, 302),
    "account_confirm_login_code":           (302, 302),
    "account_email":                        (404, 404),
    "account_email_verification_sent":      (200, 200),
    "account_confirm_email":                (200, 200),
    "account_change_password":              (200, 200),
    "account_set_password":                 (302, 302),
    "account_reset_password":               (200, 200),
    "account_reset_password_done":          (200, 200),
    "account_reset_password_from_key":      (200, 200),
    "account_reset_password_from_key_done": (200, 200),
    "mfa_index":                            (200, 200),
    "mfa_authenticate":                     (302, 302),
    "mfa_reauthenticate":                   (302, 302),
    "mfa_activate_totp":                    (200, 200),
    "mfa_deactivate_totp":                  (404, 404),
    "mfa_view_recovery_codes":              (404, 404),
    "mfa_generate_recovery_codes":          (200, 200),
    "mfa_download_recovery_codes":          (404, 404),
    "queries:list":                         (200, 200),
    "queries:detail":                       (200, 200),
    "queries:raise":                        (200, 200),
    "queries:review":                       (200, 200),
    "exports:trial":                        (200, 200),
    "exports:jobs":                         (200, 200),
    "exports:download":                     (404, 404),
    "monitoring:progress":                  (200, 403),
    "monitoring:subject":                   (200, 404),
    "monitoring:verify":                    (405, 405),
    "monitoring:withdraw":                  (405, 405),
}


def _expected_more(key: str) -> tuple | None:
    if key in EXPECTED_MORE:
        return EXPECTED_MORE[key]
    if key.startswith("admin:") or key.startswith("admin/"):
        return (ADMIN_EXPECTED.get(key, ADMIN_DEFAULT)[0],) * 2
    return None



def test_every_url_has_a_line_for_the_monitor_and_the_data_manager(world):
    urls = _urls(world)
    missing = sorted(key for key in EXPECTED if key in urls and key not in EXPECTED_MORE)
    assert not missing, "Pages with no line in EXPECTED_MORE (monitor, data manager): " + ", ".join(missing)
    stale = sorted(set(EXPECTED_MORE) - set(urls))
    assert not stale, f"EXPECTED_MORE lists pages the URLconf no longer has: {stale}"


def _forbidden_more(world, role: str) -> list[str]:
    """A data manager reads by subject code: never initials nor a date of birth (the monitor of the site
    reads identity: nothing is forbidden to it at its site)."""
    if role != "data_manager":
        return []
    return [*INITIALS, f"{BIRTH:%Y-%m-%d}", f"{BIRTH:%d %b %Y}", f"{BIRTH.day} {BIRTH:%b %Y}", f"{BIRTH:%d/%m/%Y}",
            f"{BIRTH:%B} {BIRTH.day}, {BIRTH.year}"]


@pytest.mark.parametrize("role", MORE_ROLES)
def test_role_matrix_monitor_and_data_manager(world, client, role):
    urls = _urls(world)
    sign_in(client, world["people"][role])
    forbidden = _forbidden_more(world, role)
    mismatches, leaks = [], []
    for key, url in sorted(urls.items()):
        expected = _expected_more(key)
        if expected is None:
            continue  # test_every_url_has_a_line_for_the_monitor_and_the_data_manager names it
        response = client.get(url)
        want = expected[MORE_ROLES.index(role)]
        if response.status_code != want:
            mismatches.append(f"{key} {url}: {response.status_code}, expected {want}")
        if response.status_code == 200 and forbidden:
            body = response.content.decode(errors="replace")
            found = [text for text in forbidden if text in body]
            if found:
                leaks.append(f"{key} {url}: shows {found}")
    assert not mismatches, f"{role}:\n" + "\n".join(mismatches)
    assert not leaks, f"{role} sees who a subject is:\n" + "\n".join(leaks)


# The clinical areas whose POSTs write; the monitor's own writes (verify, withdraw) are tested in tests/monitoring.
WRITING_AREAS = ("subjects:", "screening:", "visits:", "response:", "pk:", "records:", "escalation:", "trials:")


def _audit_rows() -> int:
    from django.apps import apps

    return sum(m.objects.count() for m in apps.get_models() if getattr(m, "pgh_tracked_model", None) is not None)


def test_a_monitor_posting_to_any_clinical_page_is_refused_and_changes_nothing(world, client):
    """Every page of the clinical areas, POSTed by the site's monitor (empty form: a refusal must come
    before the form's validation): the pages that write refuse (403, 404 or 405); the read-only pages the
    monitor reads may answer, but nothing is saved (no audit event anywhere)."""
    urls = _urls(world)
    sign_in(client, world["people"]["monitor"])
    before = _audit_rows()
    wrong = []
    for key, url in sorted(urls.items()):
        if not key.startswith(WRITING_AREAS):
            continue
        reads = EXPECTED_MORE.get(key, (None,))[0] == 200
        response = client.post(url, {})
        if not reads and response.status_code not in (403, 404, 405):
            wrong.append(f"{key} {url}: {response.status_code}")
        if response.status_code >= 500:
            wrong.append(f"{key} {url}: {response.status_code}")
    assert not wrong, "POSTs by the monitor not refused:\n" + "\n".join(wrong)
    assert _audit_rows() == before, "a monitor's POST changed clinical data"
