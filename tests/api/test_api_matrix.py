"""Role × endpoint matrix of the REST API (issue 13): every (endpoint, method) registered under /api/v1/, asked
by an anonymous client, a coordinator of site A, a coordinator of site B, the investigator, the monitor of site A,
the data manager, the sponsor and a user with no role in the trial (site staff of site A in another trial), has
the status stated in ``EXPECTED``; lists list what the role reads; no response of the sponsor, the data manager
or the outsider says who a subject is; a refused write changes no row; an accepted one writes (every write is
made in a savepoint rolled back afterwards, so each role meets the same data).

The URLconf under api/v1/ is walked, so an endpoint added without a line in ``EXPECTED`` fails loudly
(classify it), and a line for an endpoint that no longer exists fails too. The records endpoints have one line
per registered record kind (``record-history[dose] GET``). Writes carry valid payloads (signatures the
signer's password and one-time code): a 2xx means the role writes, a 403/404 that it is refused.

The API is then compared with the pages (tests/test_role_matrix.py): where a role cannot open the page of a
resource, the API does not let it read or write that resource either (``PAGE_OF``, with the documented
exceptions in ``PAGE_EXCEPTIONS``).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from escalation.models import EscalationDecision, IntraPatientEscalation, Rp2dDeclaration, Signature
from escalation.services import decision_recommend
from exports.models import ExportJob
from monitoring.services import verify as sdv_verify
from pk.models import LabResult, Sample
from pk.services import results_import, sample_collect, shipment_create
from queries.services import query_answer, query_close, query_raise
from records.registry import KINDS
from response.models import Lesion, LesionMeasurement
from response.services import LesionEntry, assessment_record, baseline_record
from subjects.models import AdverseEvent, OralDispensing, Subject
from subjects.services import adverse_event_record, dose_record, subject_enrol
from tests import test_role_matrix as pages
from tests.api.apicore_helpers import BIRTH, INITIALS, api_people, token_client
from tests.auth import fresh_code, totp_secret
from tests.conftest import member
from tests.factories import PASSWORD
from tests.screening.helpers import eligible_screening, predose
from trials.models import Role
from visits.models import FollowUp, PlannedVisit

pytestmark = pytest.mark.django_db

API = "/api/v1/"
ROLES = ("anonymous", "coordinator", "coordinator_b", "investigator", "monitor", "data_manager", "sponsor",
         "outsider")

# Status per role, in the order of ROLES. Anonymous: 403 (no credentials; DRF answers 403 when the first
# authentication class, the session, sends no WWW-Authenticate). The outsider holds roles at site A, in another
# trial only: nothing of this trial exists for it (404, empty lists; a write naming this trial's record: 400 on
# the field that names it, as for any record the user cannot read).
EXPECTED: dict[str, tuple[int, int, int, int, int, int, int, int]] = {
    #                                         anon coord coorB  inv  mon   dm  spons outsd
    "api-root GET":                          (403, 200, 200, 200, 200, 200, 200, 200),
    # The schema and its documentation page describe the API, no data, to any signed-in user or token.
    "api-schema GET":                        (403, 200, 200, 200, 200, 200, 200, 200),
    "api-docs GET":                          (403, 200, 200, 200, 200, 200, 200, 200),
    # Trial-level objects: everyone with a role in the trial (no subject data).
    "trial-list GET":                        (403, 200, 200, 200, 200, 200, 200, 200),
    "trial-detail GET":                      (403, 200, 200, 200, 200, 200, 200, 404),
    "trial-protocol GET":                    (403, 200, 200, 200, 200, 200, 200, 404),
    "site-list GET":                         (403, 200, 200, 200, 200, 200, 200, 200),
    "site-detail GET":                       (403, 200, 200, 200, 200, 200, 200, 200),  # site A: the outsider's too
    # Subjects: site staff and the monitor of site A, the data manager by code; the sponsor never.
    # Enrolment: a coordinator of the screening record's site (site B's: the record is not one it enrols: 400).
    "subject-list GET":                      (403, 200, 200, 200, 200, 200, 200, 200),
    "subject-list POST":                     (403, 201, 400, 403, 403, 403, 403, 400),
    "subject-detail GET":                    (403, 200, 404, 200, 200, 200, 404, 404),
    "screening-record-list GET":             (403, 200, 200, 200, 200, 200, 200, 200),
    "screening-record-detail GET":           (403, 200, 404, 200, 200, 200, 404, 404),
    # Screening writes (the screening pages): a coordinator starts one at its site (site B's: 400 on `site`); the
    # site staff of the record's site record values, judgements and the decision.
    "screening-record-list POST":            (403, 201, 400, 403, 403, 403, 403, 400),
    "screening-record-values POST":          (403, 200, 404, 200, 403, 403, 403, 404),
    "screening-record-judge POST":           (403, 200, 404, 200, 403, 403, 403, 404),
    "screening-record-decide POST":          (403, 200, 404, 200, 403, 403, 403, 404),
    # Doses: coordinators of the subject's site record them; a subject out of reach is a 400 on `subject`.
    "dose-list GET":                         (403, 200, 200, 200, 200, 200, 200, 200),
    "dose-list POST":                        (403, 201, 400, 403, 403, 403, 403, 400),
    "dose-detail GET":                       (403, 200, 404, 200, 200, 200, 404, 404),
    "assessment-list GET":                   (403, 200, 200, 200, 200, 200, 200, 200),
    "assessment-list POST":                  (403, 201, 400, 201, 403, 403, 403, 400),
    "assessment-detail GET":                 (403, 200, 404, 200, 200, 200, 404, 404),
    "adverse-event-list GET":                (403, 200, 200, 200, 200, 200, 200, 200),
    "adverse-event-list POST":               (403, 201, 400, 201, 403, 403, 403, 400),
    "adverse-event-detail GET":              (403, 200, 404, 200, 200, 200, 404, 404),
    # A role that holds the write's role nowhere is refused before anything is read (api.common.WriteRoles): 403,
    # not 404; the outsider is an investigator elsewhere: the event does not exist for it.
    "adverse-event-adjudicate POST":         (403, 403, 403, 200, 403, 403, 403, 404),
    # The subject's end of treatment / off study: its site's staff; the gate override and the continuation
    # exception: an investigator of its site (a coordinator anywhere is refused by role: 403).
    "subject-status POST":                   (403, 200, 404, 200, 403, 403, 403, 404),
    "subject-gate-override POST":            (403, 403, 403, 201, 403, 403, 403, 404),
    "subject-continuation POST":             (403, 403, 403, 201, 403, 403, 403, 404),
    # Oral drug dispensing: read with the subject's records; recorded and returned by a coordinator of its site.
    "dispensing-list GET":                   (403, 200, 200, 200, 200, 200, 200, 200),
    "dispensing-list POST":                  (403, 201, 400, 403, 403, 403, 403, 400),
    "dispensing-detail GET":                 (403, 200, 404, 200, 200, 200, 404, 404),
    "dispensing-return POST":                (403, 200, 404, 403, 403, 403, 403, 404),
    # Visits: site staff of the subject's site record them (missed, with the reason).
    "visit-list GET":                        (403, 200, 200, 200, 200, 200, 200, 200),
    "visit-detail GET":                      (403, 200, 404, 200, 200, 200, 404, 404),
    "visit-record POST":                     (403, 200, 404, 200, 403, 403, 403, 404),
    "follow-up-list GET":                    (403, 200, 200, 200, 200, 200, 200, 200),
    "follow-up-detail GET":                  (403, 200, 404, 200, 200, 200, 404, 404),
    # The follow-up page's first recording: a coordinator of the subject's site (a subject out of reach: 400).
    "follow-up-list POST":                   (403, 201, 400, 403, 403, 403, 403, 400),
    "record-kind-list GET":                  (403, 200, 200, 200, 200, 200, 200, 200),
    # Decisions: everyone of the trial reads (the sponsor de-identified); the pending one is the investigator's
    # to sign (with password and one-time code).
    "decision-list GET":                     (403, 200, 200, 200, 200, 200, 200, 200),
    "decision-detail GET":                   (403, 200, 200, 200, 200, 200, 200, 404),
    "decision-sign POST":                    (403, 403, 403, 201, 403, 403, 403, 404),
    "signature-list GET":                    (403, 200, 200, 200, 200, 200, 200, 200),
    "signature-detail GET":                  (403, 200, 200, 200, 404, 404, 200, 404),  # the RP2D's: its readers
    # RP2D: the RP2D page's readers (not the monitor nor the data manager); declared and signed by the sponsor
    # and the principal investigator. No escalation has stopped in this world: the proposal is refused by the
    # service (400, after the role check: the others are refused by role, 403).
    "rp2d-declaration-list GET":             (403, 200, 200, 200, 200, 200, 200, 200),
    "rp2d-declaration-list POST":            (403, 403, 403, 400, 403, 403, 400, 404),
    "rp2d-declaration-detail GET":           (403, 200, 200, 200, 403, 403, 200, 404),
    "rp2d-declaration-sign POST":            (403, 403, 403, 403, 403, 403, 201, 404),  # the PI signed first
    # Intra-patient escalations: the subject's site staff and the sponsor read; the investigator of the subject's
    # site or the sponsor asks, the other party signs. LVGN6051's protocol allows none: the service refuses the
    # parties (400) after the role check; a subject the user does not see is a 400 on `subject` (the monitor
    # and the data manager do not read these; the positive path: tests/api/test_api_escalation.py, BAT6005).
    "intrapatient-escalation-list GET":      (403, 200, 200, 200, 200, 200, 200, 200),
    "intrapatient-escalation-list POST":     (403, 403, 400, 400, 400, 400, 400, 400),
    "intrapatient-escalation-detail GET":    (403, 200, 404, 200, 404, 404, 200, 404),
    "intrapatient-escalation-sign POST":     (403, 403, 404, 403, 404, 404, 400, 404),  # the investigator signed
    # Tumour response: site staff of the subject's site record a time point; the efficacy summary is the
    # efficacy page's (site staff and the sponsor, de-identified).
    "tumour-assessment-list GET":            (403, 200, 200, 200, 200, 200, 200, 200),
    "tumour-assessment-list POST":           (403, 201, 400, 201, 403, 403, 403, 400),
    "tumour-assessment-detail GET":          (403, 200, 404, 200, 200, 200, 404, 404),
    # The baseline scan (site staff, as a time point); the review: an investigator of the subject's site.
    "tumour-assessment-baseline POST":       (403, 201, 400, 201, 403, 403, 403, 400),
    "tumour-assessment-review POST":         (403, 403, 403, 200, 403, 403, 403, 404),
    "subject-response-list GET":             (403, 200, 200, 200, 200, 200, 200, 200),
    "subject-response-detail GET":           (403, 200, 404, 200, 200, 200, 404, 404),
    "efficacy-detail GET":                   (403, 200, 200, 200, 403, 403, 200, 404),
    # PK: site staff of the subject's site (samples, results, collection); everyone of the trial reads the
    # per-level summaries (aggregates).
    "pk-sample-list GET":                    (403, 200, 200, 200, 200, 200, 200, 200),
    "pk-sample-detail GET":                  (403, 200, 404, 200, 200, 200, 404, 404),
    "pk-sample-collect POST":                (403, 200, 404, 200, 403, 403, 403, 404),
    "pk-sample-missed POST":                 (403, 200, 404, 200, 403, 403, 403, 404),
    "pk-result-list GET":                    (403, 200, 200, 200, 200, 200, 200, 200),
    "pk-result-detail GET":                  (403, 200, 404, 200, 200, 200, 404, 404),
    "pk-summary-detail GET":                 (403, 200, 200, 200, 200, 200, 200, 404),
    # Shipments: the site staff of the box's site read and make them (a site not one's own: 400 on `site`); λz
    # points: the trial's pharmacokineticists only (none in this world: tests/api/test_api_pk_writes.py);
    # the results file: its pharmacokineticists and site coordinators (site B's sees no site A sample: 400).
    "pk-shipment-list GET":                  (403, 200, 200, 200, 200, 200, 200, 200),
    "pk-shipment-list POST":                 (403, 201, 400, 201, 403, 403, 403, 400),
    "pk-shipment-detail GET":                (403, 200, 404, 200, 404, 404, 404, 404),
    "pk-lambda-z-list POST":                 (403, 403, 403, 403, 403, 403, 403, 403),
    "pk-import-list POST":                   (403, 201, 400, 403, 403, 403, 403, 400),
    # An intermediate dose level: an investigator of the trial (the outsider's trial is another: 404).
    "trial-intermediate-level POST":         (403, 403, 403, 201, 403, 403, 403, 404),
    # Queries: read by whoever reads the record; raised by the investigator, the monitor and the data manager;
    # answered by the site's staff; closed and re-opened by a raiser role.
    "query-list GET":                        (403, 200, 200, 200, 200, 200, 200, 200),
    "query-list POST":                       (403, 403, 404, 201, 201, 201, 404, 404),
    "query-detail GET":                      (403, 200, 404, 200, 200, 200, 404, 404),
    "query-answer POST":                     (403, 200, 404, 200, 403, 403, 404, 404),
    "query-close POST":                      (403, 403, 404, 200, 200, 200, 404, 404),
    "query-reopen POST":                     (403, 403, 404, 200, 200, 200, 404, 404),
    # Source-data verification: the monitor of the record's site verifies and withdraws; readers of the record
    # read.
    "verification-list GET":                 (403, 200, 200, 200, 200, 200, 200, 200),
    "verification-list POST":                (403, 403, 404, 403, 201, 403, 404, 404),
    "verification-status GET":               (403, 200, 404, 200, 200, 200, 404, 404),
    "verification-detail GET":               (403, 200, 404, 200, 200, 200, 404, 404),
    "verification-withdraw POST":            (403, 403, 404, 403, 200, 403, 404, 404),
    # Exports: each user's own jobs; any role of the trial asks for a de-identified one; the job of the world is
    # the sponsor's, not finished (no file: 404 for the sponsor too).
    "export-job-list GET":                   (403, 200, 200, 200, 200, 200, 200, 200),
    "export-job-list POST":                  (403, 201, 201, 201, 201, 201, 201, 400),
    "export-job-detail GET":                 (403, 404, 404, 404, 404, 404, 200, 404),
    "export-job-download GET":               (403, 404, 404, 404, 404, 404, 404, 404),
}

# The records endpoints, per registered kind: history (readers of the record), correct and void (the kind's roles
# at the record's site; void only for voidable kinds: 404 otherwise).
_HISTORY = (403, 200, 404, 200, 200, 200, 404, 404)
# The monitor, the data manager and the sponsor hold no writing role anywhere: 403 before the record is read.
_BY_SITE_STAFF = (403, 200, 404, 200, 403, 403, 403, 404)
_BY_COORDINATOR = (403, 200, 404, 403, 403, 403, 403, 404)
_BY_INVESTIGATOR = (403, 403, 404, 200, 403, 403, 403, 404)
_NOT_VOIDED = (403, 404, 404, 404, 403, 403, 403, 404)
_RECORD_RIGHTS = {
    #  kind:                  (correct,          void)
    "adverse-event":          (_BY_SITE_STAFF, _BY_SITE_STAFF),
    "assessment":             (_BY_SITE_STAFF, _BY_SITE_STAFF),
    "dispensing":             (_BY_SITE_STAFF, _BY_SITE_STAFF),
    "dlt-adjudication":       (_BY_INVESTIGATOR, _NOT_VOIDED),
    "dose":                   (_BY_COORDINATOR, _BY_COORDINATOR),
    "follow-up":              (_BY_COORDINATOR, _NOT_VOIDED),
    "lab-result":             (_BY_SITE_STAFF, _BY_SITE_STAFF),
    "lesion":                 (_BY_SITE_STAFF, _NOT_VOIDED),
    "lesion-measurement":     (_BY_SITE_STAFF, _NOT_VOIDED),
    "sample":                 (_BY_SITE_STAFF, _NOT_VOIDED),
    "screening":              (_BY_COORDINATOR, _BY_COORDINATOR),
    "screening-judgements":   (_BY_SITE_STAFF, _NOT_VOIDED),
    "screening-values":       (_BY_SITE_STAFF, _NOT_VOIDED),
    "subject":                (_BY_SITE_STAFF, _NOT_VOIDED),
    "tumour-scan":            (_BY_SITE_STAFF, _BY_SITE_STAFF),
    "visit":                  (_BY_SITE_STAFF, _NOT_VOIDED),
}
for _slug, (_correct, _void) in _RECORD_RIGHTS.items():
    EXPECTED[f"record-history[{_slug}] GET"] = _HISTORY
    EXPECTED[f"record-correct[{_slug}] POST"] = _correct
    EXPECTED[f"record-void[{_slug}] POST"] = _void

# Lists: the roles that see the world's rows (site A's subject data, the trial's decisions…); every other role
# whose request is answered 200 sees none. Every list endpoint has a line.
SITE_A_READERS = ("coordinator", "investigator", "monitor", "data_manager")
LISTS: dict[str, tuple[str, ...]] = {
    "trial-list GET": ("coordinator", "coordinator_b", "investigator", "monitor", "data_manager", "sponsor",
                       "outsider"),  # the outsider: its own trial
    "site-list GET": ("coordinator", "coordinator_b", "investigator", "monitor", "data_manager", "sponsor",
                      "outsider"),
    "subject-list GET": SITE_A_READERS,
    "screening-record-list GET": SITE_A_READERS,
    "dose-list GET": SITE_A_READERS,
    "assessment-list GET": SITE_A_READERS,
    "adverse-event-list GET": SITE_A_READERS,
    "dispensing-list GET": SITE_A_READERS,
    "visit-list GET": SITE_A_READERS,
    "follow-up-list GET": SITE_A_READERS,
    "record-kind-list GET": ("coordinator", "coordinator_b", "investigator", "monitor", "data_manager", "sponsor",
                             "outsider"),
    "decision-list GET": ("coordinator", "coordinator_b", "investigator", "monitor", "data_manager", "sponsor"),
    "signature-list GET": ("coordinator", "coordinator_b", "investigator", "sponsor"),  # the RP2D's and the IPE's
    "rp2d-declaration-list GET": ("coordinator", "coordinator_b", "investigator", "sponsor"),
    "intrapatient-escalation-list GET": ("coordinator", "investigator", "sponsor"),
    "tumour-assessment-list GET": SITE_A_READERS,
    "subject-response-list GET": SITE_A_READERS,
    "pk-sample-list GET": ("coordinator", "investigator", "monitor", "data_manager"),
    "pk-shipment-list GET": ("coordinator", "investigator"),
    "pk-result-list GET": ("coordinator", "investigator", "monitor", "data_manager"),
    "query-list GET": SITE_A_READERS,
    "verification-list GET": SITE_A_READERS,
    "export-job-list GET": ("sponsor",),
}

DOSE_TIME = time(7, 43)


# --- walking the API ----------------------------------------------------------------------------------------


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def api_endpoints() -> dict[str, str]:
    """Every (endpoint, method) under api/v1/: key ("<url name> <METHOD>", per record kind for the records
    endpoints) -> route. The methods are the viewset's actions (``callback.actions``), or the view's handlers."""
    endpoints = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "format" in pattern.pattern.regex.groupindex:
            continue  # the ".json" variants of the same views
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions:
            methods = [m for m in actions if m != "head"]  # DRF adds HEAD (as GET) once a view has been asked
        else:
            view = getattr(callback, "cls", None) or callback.view_class
            methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
        for method in methods:
            if pattern.name.startswith("record-") and "(?P<kind>" in route:
                for slug in KINDS:
                    endpoints[f"{pattern.name}[{slug}] {method.upper()}"] = route
            else:
                endpoints[f"{pattern.name} {method.upper()}"] = route
    return endpoints


def test_every_endpoint_is_classified():
    endpoints = api_endpoints()
    assert len(endpoints) > 60, sorted(endpoints)  # the walk found the router's routes
    unclassified = sorted(set(endpoints) - set(EXPECTED))
    assert not unclassified, ("API endpoints with no line in tests/api/test_api_matrix.py EXPECTED (classify each, "
                              "per role):\n" + "\n".join(f"  {k}: {endpoints[k]}" for k in unclassified))
    stale = sorted(set(EXPECTED) - set(endpoints))
    assert not stale, f"EXPECTED lists endpoints the API no longer has: {stale}"
    lists = {k for k in EXPECTED if k.endswith("-list GET")}
    assert lists == set(LISTS), f"LISTS must have a line for every list endpoint: {sorted(lists ^ set(LISTS))}"


_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def _path(route: str, values: dict) -> str:
    def fill(match):
        return str(values[match["name"]])

    return "/" + _GROUP.sub(fill, route).replace("^", "").replace("$", "")


# --- the world ------------------------------------------------------------------------------------------------


@pytest.fixture
def world(site_a, site_b, bat6005):
    """LVGN6051 + anlotinib at site A: three subjects dosed 25 days ago at level 1 (the first enrolled from
    screening), a DLT confirmed on the second and a decision awaiting the investigator's signature; on the first:
    a DLT proposed, an AE, dispensing, a follow-up, a baseline and a follow-up scan, cycle-1 PK samples collected,
    shipped and analysed, a query (and a closed one), a verification; an RP2D declaration and an intra-patient
    escalation awaiting signatures; a free eligible screening record and a free cohort place to enrol from."""
    trial, people = api_people(site_a, site_b)
    people["outsider"] = member(bat6005, Role.COORDINATOR, site_a, "c-outsider")
    member(bat6005, Role.INVESTIGATOR, site_a, "i-outsider").memberships.update(user=people["outsider"])
    coordinator, investigator = people["coordinator"], people["investigator"]
    dose_day = timezone.localdate() - timedelta(days=25)
    dosed_at = timezone.make_aware(datetime.combine(dose_day, DOSE_TIME))
    screening = eligible_screening(trial, site_a, coordinator, initials=INITIALS, date_of_birth=BIRTH,
                                   assessed_on=dose_day)
    subjects = [subject_enrol(trial=trial, user=coordinator, screening=screening)]
    subjects += [subject_enrol(trial=trial, site=site_a, user=coordinator, initials=initials, date_of_birth=BIRTH,
                               sex="M") for initials in ("QZY", "QZW")]
    Subject.objects.filter(pk__in=[s.pk for s in subjects]).update(enrolled_at=dosed_at - timedelta(days=1))
    lvgn6051, anlotinib = trial.drugs.get(name="LVGN6051"), trial.drugs.get(name="Anlotinib")
    for subject in subjects:
        subject.refresh_from_db()
        predose(subject, dosed_at, coordinator)
        dose_record(subject=subject, drug=lvgn6051, cycle=1, day=1, user=coordinator, administered_at=dosed_at)
    subject = subjects[0]
    adverse_event_record(subject=subjects[1], user=investigator, term="Hypertension", grade=3, attribution="probable",
                         is_dlt=True, onset_date=dose_day + timedelta(days=6))
    event = adverse_event_record(subject=subject, user=coordinator, term="Fatigue", grade=1, attribution="unlikely",
                                 onset_date=dose_day + timedelta(days=2))
    verification = sdv_verify(user=people["monitor"], kind=KINDS["adverse-event"], record=event, field="grade")
    dispensing = OralDispensing.objects.create(
        subject=subject, drug=anlotinib, cycle=1, dispensed_on=dose_day, first_dose_at=dosed_at,
        tablets_dispensed=14, tablet_strength=12, tablets_per_day=1, recorded_by=coordinator)
    follow_up = FollowUp.objects.create(subject=subject, updated_by=coordinator)
    baseline_record(subject=subject, user=coordinator, assessed_on=dose_day - timedelta(days=3), method="CT",
                    lesions=[LesionEntry(kind="target", organ="lung", diameter_mm=Decimal(30), axis="long"),
                             LesionEntry(kind="non_target", organ="bone")])
    scan = assessment_record(subject=subject, user=coordinator, assessed_on=dose_day + timedelta(days=20),
                             method="CT", new_lesions="none",
                             values={"T1": ("measured", Decimal(20)), "NT1": ("present", None)})
    samples = list(Sample.objects.filter(subject=subject, code__startswith="C1-PK-").order_by("nominal_at"))
    for sample in samples:
        sample_collect(sample=sample, user=coordinator,
                       collected_at=sample.nominal_at - timedelta(minutes=1 if sample.nominal_hours == 0 else 0))
    shipment_create(user=coordinator, trial=trial, site=site_a, samples=samples, lab="PK lab",
                    shipped_at=timezone.now(), temperature="frozen-70")
    lines = ["sample_id,analyte,result,unit,lloq"] + [
        f"{s.sample_id},LVGN6051,{'BLQ' if s.nominal_hours == 0 else round(40 * 0.99 ** s.nominal_hours, 3)},ug/mL,0.1"
        for s in samples]
    results_import(user=coordinator, trial=trial, file_name="pk.csv", content="\n".join(lines).encode(),
                   samples=Sample.objects.filter(subject__trial=trial))
    pending_samples = list(Sample.objects.filter(subject=subject, status=Sample.Status.PLANNED,
                                                 nominal_at__lte=timezone.now() - timedelta(days=1))
                           .exclude(code__startswith="C1-PK-").order_by("nominal_at"))
    levels = list(trial.dose_levels.order_by("rank"))
    # One more eligible screening record (not enrolled: corrected and voided as a screening record).
    free_screening = eligible_screening(trial, site_a, coordinator, initials=INITIALS, date_of_birth=BIRTH)
    # And one still in screening (values and judgements recorded, not decided): the screening writes' record.
    in_screening = eligible_screening(trial, site_a, coordinator, initials=INITIALS, date_of_birth=BIRTH,
                                      confirm=False)
    # The decision last: a change to the trial's data after it would invalidate it.
    decision = decision_recommend(trial=trial)
    assert decision.status == EscalationDecision.Status.PENDING
    agreement = IntraPatientEscalation.objects.create(
        subject=subject, from_level=levels[0], to_level=levels[1], from_cycle=5, rationale="Tolerating well.",
        data={}, data_sha256="0" * 64, created_by=investigator)
    Signature.objects.create(agreement=agreement, signer=investigator, printed_name="I. Lvgn", role="investigator",
                             meaning=Signature.Meaning.AGREED, data_sha256=agreement.data_sha256)
    declaration = Rp2dDeclaration.objects.create(
        trial=trial, stopping_decision=decision, dose_level=levels[0], rationale="MTD; 1/3 DLTs at this level.",
        data={"declared": "MTD", "highest": levels[0].label, "safety": [], "pk": [], "response": []},
        data_sha256="0" * 64, created_by=investigator)
    signature = Signature.objects.create(declaration=declaration, signer=investigator, printed_name="I. Lvgn",
                                         role="principal investigator", meaning=Signature.Meaning.DECLARED,
                                         data_sha256=declaration.data_sha256)
    query = query_raise(user=investigator, kind=KINDS["adverse-event"], record=event, field="grade",
                        text="Please check the grade against the source.")
    closed = query_raise(user=people["monitor"], kind=KINDS["adverse-event"], record=event, field="term",
                         text="Please confirm the term.")
    query_answer(user=coordinator, query=closed, text="Confirmed against the clinic letter.")
    # A query and a verification of who the subject is: the readers by code see neither value.
    query_raise(user=people["monitor"], kind=KINDS["subject"], record=subject, field="initials",
                text="The initials differ from the consent form.")
    sdv_verify(user=people["monitor"], kind=KINDS["subject"], record=subject, field="date_of_birth")
    query_close(user=people["monitor"], query=closed, text="")
    export_job = ExportJob.objects.create(trial=trial, requested_by=people["sponsor"], format=ExportJob.Format.CSV)
    for user in people.values():
        totp_secret(user)  # every signer has enrolled a second factor
    objects = {
        "adverse-event": event, "assessment": subject.assessments.first(), "dispensing": dispensing,
        "dlt-adjudication": subjects[1].adverse_events.get(), "dose": subject.doses.first(), "follow-up": follow_up,
        "lab-result": LabResult.objects.filter(sample__subject=subject).exclude(blq=True).first(),
        "lesion": Lesion.objects.filter(subject=subject).first(),
        "lesion-measurement": LesionMeasurement.objects.filter(assessment=scan).first(),
        "sample": samples[1], "screening": free_screening, "screening-judgements": free_screening,
        "screening-values": free_screening, "subject": subject, "tumour-scan": scan,
        "visit": PlannedVisit.objects.filter(subject=subject, status="planned").order_by("target").first(),
    }
    assert all(objects.values()) and len(pending_samples) >= 2, (objects, pending_samples)
    clients = {role: token_client(user) for role, user in people.items()}
    clients["anonymous"] = APIClient()
    return {
        "trial": trial, "people": people, "clients": clients, "subjects": subjects, "subject": subject,
        "site_a": site_a, "decision": decision, "event": event, "agreement": agreement,
        "declaration": declaration, "signature": signature, "query": query, "closed_query": closed,
        "verification": verification,
        "export_job": export_job, "free_screening": free_screening, "scan": scan, "objects": objects,
        "in_screening": in_screening,
        "pending_samples": pending_samples, "levels": levels, "dose_day": dose_day,
    }


def _values(world, key: str) -> dict:
    """The URL's parameters: the world's object of the endpoint."""
    trial, subject = world["trial"], world["subject"]
    name = key.split(" ")[0]
    if "[" in name:
        slug = name[name.index("[") + 1:-1]
        return {"kind": slug, "id": world["objects"][slug].pk}
    by_name = {
        "trial": trial.code, "site": world["site_a"].code, "efficacy": trial.code, "pk-summary": trial.code,
        "subject": subject.pk, "subject-response": subject.pk, "screening-record": world["objects"]["screening"].pk,
        "dose": world["objects"]["dose"].pk, "assessment": world["objects"]["assessment"].pk,
        "dispensing": world["objects"]["dispensing"].pk,
        "visit": world["objects"]["visit"].pk, "follow-up": world["objects"]["follow-up"].pk,
        "decision": world["decision"].pk, "signature": world["signature"].pk,
        "rp2d-declaration": world["declaration"].pk, "intrapatient-escalation": world["agreement"].pk,
        "tumour-assessment": world["scan"].pk, "pk-sample": world["objects"]["sample"].pk,
        "pk-result": world["objects"]["lab-result"].pk, "query": world["query"].pk,
        "verification": world["verification"].pk, "export-job": world["export_job"].pk,
    }
    if name in ("screening-record-values", "screening-record-judge", "screening-record-decide"):
        return {"pk": world["in_screening"].pk}
    if name == "adverse-event-adjudicate":
        return {"pk": world["proposed"].pk}
    if name == "adverse-event-detail":
        return {"pk": world["event"].pk}
    if name == "subject-gate-override":
        return {"pk": world["undosed"].pk}
    if name == "query-reopen":
        return {"pk": world["closed_query"].pk}
    if name in ("pk-sample-collect", "pk-sample-missed"):
        return {"pk": world["pending_samples"][0 if name.endswith("collect") else 1].pk}
    if name == "pk-shipment-detail":
        from pk.models import Shipment

        return {"pk": Shipment.objects.get(trial=trial).pk}
    if name == "trial-intermediate-level":
        return {"code": trial.code}
    base = name.rsplit("-", 1)[0]
    value = by_name.get(base)
    return {"code": value, "pk": value}


def _credentials(user) -> dict:
    return {"username": user.get_username(), "password": PASSWORD, "otp_code": fresh_code(user)}


# A correction per kind that a permitted role may make (a realistic change, with the reason).
CORRECTIONS = {
    "adverse-event": {"immune_related": True},
    "assessment": {"notes": "Fasting sample"},
    "dispensing": {"tablets_dispensed": 15},
    "dlt-adjudication": {"adjudication_comment": "Confirmed against the ward notes."},
    "dose": {"deviation_reason": "Infusion paused for 10 minutes."},
    "follow-up": {"last_known_alive": "TODAY"},
    "lab-result": {"category": "re-assayed"},
    "lesion": {"location": "right upper lobe"},
    "lesion-measurement": {"diameter_mm": "21.0"},
    "sample": {"comment": "Slightly haemolysed"},
    "screening": {"consent_form_version": "v1.1"},
    "screening-judgements": {},  # from the record (_body)
    "screening-values": {},
    "subject": {"tumour_type": "NSCLC"},
    "tumour-scan": {"method": "MRI"},
    "visit": {"status": "missed", "missed_reason": "Too ill to travel"},
}


def _body(world, key: str, role: str) -> dict:
    """A valid payload of the write ``key``, for ``role`` (signatures: that user's own credentials)."""
    user = world["people"].get(role)
    creds = _credentials(user) if user is not None else {}
    today = str(timezone.localdate())
    subject, trial = world["subject"], world["trial"]
    name = key.split(" ")[0]
    if name.startswith("record-correct"):
        slug = name[name.index("[") + 1:-1]
        changes = {k: (today if v == "TODAY" else v) for k, v in CORRECTIONS[slug].items()}
        free = world["free_screening"]
        if slug == "screening-judgements":  # one judgement of the investigator's, met -> not met
            changes = {f"j_{sorted(free.judgements)[0]}": "no"}
        if slug == "screening-values":
            changes = {"assessed_on": str(free.assessed_on + timedelta(days=1))}
        return {"reason": "Transcription error, checked against the source.", "changes": changes}
    if name.startswith("record-void"):
        return {"reason": "Entered for the wrong subject."}
    bodies = {
        "subject-list POST": {"trial": trial.code, "screening": world["free_screening"].pk},
        "screening-record-list POST": {"trial": trial.code, "site": world["site_a"].code, "initials": INITIALS,
                                       "date_of_birth": str(BIRTH), "sex": "F", "consent_form_version": "v1.0",
                                       "consent_date": today},
        "screening-record-values POST": {"assessed_on": str(world["in_screening"].assessed_on + timedelta(days=1)),
                                         "values": {"ecog": "1"}},  # the one value LVGN6051 reads
        # A judgement the coordinator recorded (not one the protocol reserves), met -> not met.
        "screening-record-judge POST": {"judgements": {sorted(
            code for code, j in world["in_screening"].judgements.items()
            if j["by"] == world["people"]["coordinator"].pk)[0]: False}},
        "screening-record-decide POST": {"eligibility": "eligible"},
        "dose-list POST": {"subject": world["subjects"][2].pk, "drug": trial.drugs.get(name="LVGN6051").pk,
                           "cycle": 2, "day": 1, "administered_at": (timezone.now() - timedelta(hours=1)).isoformat()},
        "assessment-list POST": {"subject": subject.pk, "kind": "labs", "assessed_on": today},
        "adverse-event-list POST": {"subject": subject.pk, "term": "Nausea", "grade": 1, "onset_date": today,
                                    "attribution": "unrelated"},
        "adverse-event-adjudicate POST": {"decision": "confirm"},
        "subject-status POST": {"action": "end_treatment", "last_dose": str(world["dose_day"]),
                                "reason": "progression"},
        "subject-gate-override POST": {"gate": "stagger", "reason": "The sponsor agreed to an earlier start."},
        "subject-continuation POST": {"reason": "Ongoing partial response; the sponsor agreed."},
        "dispensing-list POST": {"subject": world["subjects"][2].pk, "drug": trial.drugs.get(name="Anlotinib").pk,
                                 "cycle": 1, "dispensed_on": str(world["dose_day"]), "tablets_dispensed": 14,
                                 "first_dose_at": world["objects"]["dose"].administered_at.isoformat()},
        "dispensing-return POST": {"returned_on": today, "tablets_returned": 0},
        "visit-record POST": {"action": "missed", "missed_reason": "Too ill to travel"},
        "follow-up-list POST": {"subject": world["subjects"][2].pk, "last_known_alive": today},
        "tumour-assessment-baseline POST": {
            "subject": world["subjects"][1].pk, "assessed_on": str(world["dose_day"] - timedelta(days=3)),
            "method": "CT", "lesions": [{"kind": "target", "organ": "liver", "diameter_mm": "25", "axis": "long"},
                                        {"kind": "non_target", "organ": "bone"}]},
        "tumour-assessment-review POST": {"response": "SD", "override_reason": "Lesion split judged as one lesion."},
        "decision-sign POST": {**creds, "meaning": "approved"},
        "rp2d-declaration-list POST": {**creds, "trial": trial.code, "dose_level": world["levels"][0].pk,
                                       "rationale": "MTD; 1/3 DLTs at this level, acceptable."},
        "rp2d-declaration-sign POST": {**creds, "meaning": "objected", "comment": "The PK data are not complete."},
        "intrapatient-escalation-list POST": {**creds, "subject": world["subjects"][2].pk,
                                              "to_level": world["levels"][1].pk,
                                              "rationale": "Tolerating level 1 well through cycle 4."},
        "intrapatient-escalation-sign POST": {**creds, "meaning": "agreed"},
        "tumour-assessment-list POST": {"subject": subject.pk, "method": "CT", "new_lesions": "none",
                                        "assessed_on": str(world["dose_day"] + timedelta(days=22)),
                                        "measurements": [{"lesion": "T1", "status": "measured", "diameter_mm": "18"},
                                                         {"lesion": "NT1", "status": "present"}]},
        "pk-sample-collect POST": {"collected_at": world["pending_samples"][0].nominal_at.isoformat()},
        "pk-sample-missed POST": {"missed_reason": "Patient declined the draw."},
        "query-list POST": {"kind": "adverse-event", "object_id": world["event"].pk, "field": "onset_date",
                            "text": "Please confirm the onset date."},
        "query-answer POST": {"text": "Grade confirmed against the source."},
        "query-close POST": {"text": "Resolved."},
        "query-reopen POST": {"text": "The letter says otherwise."},
        "verification-list POST": {"kind": "adverse-event", "object_id": world["event"].pk, "field": "term"},
        "verification-withdraw POST": {"reason": "Verified against the wrong source document."},
        "export-job-list POST": {"trial": trial.code, "format": "csv", "deidentified": True},
        **_pk_bodies(world, key),
    }
    return bodies[key]


def _query_string(world, key: str) -> str:
    if key == "verification-status GET":
        return f"?kind=adverse-event&object_id={world['event'].pk}"
    return ""


# --- what the database holds -------------------------------------------------------------------------------

# Rows every request may write whatever its answer (authentication bookkeeping), left out of the comparison.
BOOKKEEPING = ("knox_authtoken", "django_session")


def _fingerprint() -> tuple:
    """The number of rows of every table (audit event tables included: an update adds an event row)."""
    tables = [t for t in connection.introspection.table_names() if t not in BOOKKEEPING]
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in tables)  # noqa: S608 (table names)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(zip(tables, cursor.fetchone(), strict=True))


def _changed(before, after) -> list[str]:
    return [f"{t}: {a} -> {b}" for (t, a), (_, b) in zip(before, after, strict=True) if a != b]


# --- identity: what must not appear ---------------------------------------------------------------------------


def _identity_texts() -> list[str]:
    day = BIRTH
    return ["QZX", "QZY", "QZW", f"{day:%Y-%m-%d}", f"{day:%d %b %Y}", f"{day:%d/%m/%Y}", f"{day.day} {day:%b %Y}"]


# Where the sponsor reads a subject by its code: the intra-patient escalation it co-signs for (as on its pages,
# tests/test_role_matrix.py CODES_FOR_SPONSOR), and the export it asks for (subject codes, no identity).
CODES_FOR_SPONSOR = ("intrapatient-escalation-",)


def _forbidden(world, role: str, key: str = "") -> list[str]:
    """What no response to ``role`` may contain: who a subject is (sponsor, data manager, outsider); to the sponsor
    also the subject codes and the first dose's date; to another site's coordinator, and the outsider, this
    site's subject codes."""
    codes = [s.code for s in world["subjects"]]
    if role == "data_manager":
        return _identity_texts()
    if role == "sponsor":
        day = world["dose_day"]
        dates = [f"{day:%Y-%m-%d}", f"{day:%d %b %Y}", f"{day:%d/%m/%Y}"]
        return _identity_texts() + dates + ([] if key.startswith(CODES_FOR_SPONSOR) else codes)
    if role == "outsider":
        return _identity_texts() + codes + [world["trial"].code]
    if role == "coordinator_b":
        return _identity_texts() + codes
    return []


# --- the matrix --------------------------------------------------------------------------------------------------


def _propose_a_dlt(world):
    """A grade 4 neutropenia in the DLT window, proposed as a DLT (made in the savepoint: a decision is not
    recommended while one awaits adjudication)."""
    world["proposed"] = adverse_event_record(
        subject=world["subject"], user=world["people"]["coordinator"], term="Neutrophil count decreased", grade=4,
        attribution="probable", onset_date=world["dose_day"] + timedelta(days=8))
    assert world["proposed"].dlt_status == AdverseEvent.DltStatus.PROPOSED


def _open_a_place(world):
    """A fourth place in the cohort (the three of the world are taken)."""
    world["trial"].cohorts.filter(pk=world["subject"].cohort_id).update(capacity=4, status="open")


def _enrol_undosed(world):
    """A fourth subject, enrolled and not dosed yet (a first dose's timing gates may be overridden)."""
    _open_a_place(world)
    world["undosed"] = subject_enrol(trial=world["trial"], user=world["people"]["coordinator"],
                                     screening=world["free_screening"])


def _cap_the_cycles(world):
    """A cycle maximum in the protocol (a continuation exception goes beyond it)."""
    type(world["trial"]).objects.filter(pk=world["trial"].pk).update(max_cycles=6)


def _collect_a_sample(world):
    """A sample collected and not shipped nor analysed yet (the world's cycle-1 PK samples are both)."""
    sample = world["pending_samples"][0]
    sample_collect(sample=sample, user=world["people"]["coordinator"], collected_at=sample.nominal_at)
    world["collected"] = sample


def _pk_bodies(world, key: str) -> dict:
    """The PK writes' payloads (shipment, results file, λz points) and the intermediate dose level's."""
    from pk import selectors as pk_selectors
    from pk.services import analyte_specs, schedule_for

    trial, levels = world["trial"], world["levels"]
    if key == "pk-shipment-list POST":
        return {key: {"trial": trial.code, "site": world["site_a"].code, "samples": [world["collected"].pk],
                      "lab": "Central PK lab", "shipped_at": timezone.now().isoformat(), "temperature": "frozen-70"}}
    if key == "pk-import-list POST":
        sample = world["collected"]
        spec = analyte_specs(schedule_for(trial))[sample.analytes[0]]
        result, unit = ("negative", "") if spec.kind == "ada" else (
            (spec.categories[0], "") if spec.categories else ("1.5", spec.unit))
        return {key: {"trial": trial.code, "file_name": "run2.csv",
                      "text": f"sample_id,analyte,result,unit\n{sample.sample_id},{spec.code},{result},{unit}\n"}}
    if key == "pk-lambda-z-list POST":
        profile = pk_selectors.profile_for(world["subject"], 1, pk_selectors.pk_analyte(trial))
        return {key: {"subject": world["subject"].pk, "cycle": 1,
                      "times": [s.time for s in profile.samples if s.conc][-3:], "reason": "Terminal phase only."}}
    if key == "trial-intermediate-level POST":
        return {key: {"lower": levels[0].pk, "upper": levels[1].pk, "label": "LVGN6051 2 mg/kg + anlotinib 12 mg",
                      "doses": {"LVGN6051": "2", "Anlotinib": "12"},
                      "reason": "Two DLTs at 3 mg/kg: a level in between."}}
    return {}


SETUP_PK = {"pk-shipment-list POST": _collect_a_sample, "pk-import-list POST": _collect_a_sample}

# What a write needs that the world does not hold (made in the write's savepoint, rolled back with it).
SETUP = {"adverse-event-adjudicate POST": _propose_a_dlt, "subject-list POST": _open_a_place,
         "subject-gate-override POST": _enrol_undosed, "subject-continuation POST": _cap_the_cycles}

SETUP.update(SETUP_PK)


def _request(world, role: str, key: str):
    client = world["clients"][role]
    method = key.split(" ")[1]
    if method == "GET":
        path = _path(api_endpoints()[key], _values(world, key)) + _query_string(world, key)
        return path, client.get(path), None
    with transaction.atomic():
        if key in SETUP:
            SETUP[key](world)
        path = _path(api_endpoints()[key], _values(world, key))
        before = _fingerprint()
        response = client.post(path, _body(world, key, role), format="json")
        after = _fingerprint()
        transaction.set_rollback(True)
    return path, response, _changed(before, after)


def test_api_matrix(world):
    """Every endpoint by every role: the status of EXPECTED; a refused write changes nothing, an accepted one
    writes; lists list what the role reads; no identity, subject code or staff comment where it must not be."""
    endpoints = api_endpoints()
    mismatches, writes, listed, leaks = [], [], [], []
    checked = dict.fromkeys(("accepted", "refused", *ROLES), 0)
    for role in ROLES:
        for key in sorted(endpoints):
            if key not in EXPECTED:
                continue  # test_every_endpoint_is_classified names it
            forbidden = _forbidden(world, role, key)
            path, response, changed = _request(world, role, key)
            want = EXPECTED[key][ROLES.index(role)]
            got = response.status_code
            if got != want:
                detail = response.content[:300].decode(errors="replace") if got != 200 else ""
                mismatches.append(f"{role:13} {key} {path}: {got}, expected {want} {detail}")
            if changed is not None:
                checked["accepted" if got < 300 else "refused"] += 1
                if got >= 300 and changed:
                    writes.append(f"{role} {key}: refused ({got}) yet changed {changed}")
                if got < 300 and not changed:
                    writes.append(f"{role} {key}: accepted ({got}) yet wrote nothing")
            if got >= 500:
                mismatches.append(f"{role} {key}: server error")
            if got == 200 and key in LISTS:
                count = response.json()["count"] if "count" in response.json() else len(response.json())
                sees = role in LISTS[key]
                if bool(count) != sees:
                    listed.append(f"{role} {key}: {count} row(s), expected {'some' if sees else 'none'}")
            if got < 300 and forbidden and key != "api-schema GET":
                checked[role] += 1
                body = response.content.decode(errors="replace")
                found = [text for text in forbidden if text in body]
                if found:
                    leaks.append(f"{role} {key} {path}: shows {found}")
    # The checks checked something: writes accepted and refused, bodies read by the roles that must not see.
    assert checked["accepted"] > 40 and checked["refused"] > 300, checked
    assert all(checked[role] > 20 for role in ("sponsor", "data_manager", "coordinator_b", "outsider")), checked
    problems = [("Statuses that differ from EXPECTED", mismatches), ("Writes", writes),
                ("Lists that list what the role does not read (or miss what it reads)", listed),
                ("Responses that say what the role must not read", leaks)]
    assert not any(found for _, found in problems), "\n".join(
        f"{title}:\n" + "\n".join(f"  {line}" for line in found) for title, found in problems if found)


# --- the API against the pages ------------------------------------------------------------------------------

# The page (tests/test_role_matrix.py) that shows each endpoint's resource to a person; None: no page shows it
# (the API's own index and schema, trial-level lists, the record kinds, signatures read on their record's page).
PAGE_OF: dict[str, str | None] = {
    "api-root GET": None, "api-schema GET": None, "api-docs GET": None,
    "trial-list GET": None, "trial-detail GET": "trials:detail", "trial-protocol GET": "trials:detail",
    "site-list GET": None, "site-detail GET": None, "record-kind-list GET": None,
    "subject-list GET": "subjects:list", "subject-list POST": "subjects:enrol", "subject-detail GET": "subjects:detail",
    "screening-record-list GET": "screening:list", "screening-record-detail GET": "screening:detail",
    "screening-record-list POST": "screening:new", "screening-record-values POST": "screening:values",
    "screening-record-judge POST": "screening:judge", "screening-record-decide POST": "screening:decide",
    "dose-list GET": "subjects:list", "dose-list POST": "subjects:dose_new", "dose-detail GET": "records:history[dose]",
    "assessment-list GET": "subjects:list", "assessment-list POST": "subjects:assessment_new",
    "assessment-detail GET": "records:history[assessment]",
    "adverse-event-list GET": "subjects:ae_list", "adverse-event-list POST": "subjects:ae_new",
    "adverse-event-detail GET": "subjects:ae_detail",
    "adverse-event-adjudicate POST": "records:correct[dlt-adjudication]",
    "subject-status POST": "subjects:status", "subject-gate-override POST": "subjects:gate_override",
    "subject-continuation POST": "subjects:continuation",
    "dispensing-list GET": "subjects:list", "dispensing-list POST": "subjects:dispensing_new",
    "dispensing-detail GET": "records:history[dispensing]", "dispensing-return POST": "subjects:dispensing_return",
    "visit-list GET": "visits:list", "visit-detail GET": "visits:calendar", "visit-record POST": "visits:record",
    "follow-up-list GET": "visits:list", "follow-up-detail GET": "records:history[follow-up]",
    "decision-list GET": "escalation:decision", "decision-detail GET": "escalation:decision",
    "decision-sign POST": "escalation:decision",
    "signature-list GET": None, "signature-detail GET": None,
    "rp2d-declaration-list GET": "escalation:rp2d", "rp2d-declaration-list POST": "escalation:rp2d",
    "rp2d-declaration-detail GET": "escalation:rp2d", "rp2d-declaration-sign POST": "escalation:rp2d",
    "intrapatient-escalation-list GET": "escalation:intrapatient_list",
    "intrapatient-escalation-list POST": "escalation:intrapatient_request",
    "intrapatient-escalation-detail GET": "escalation:intrapatient_detail",
    "intrapatient-escalation-sign POST": "escalation:intrapatient_detail",
    "tumour-assessment-list GET": "response:subject", "tumour-assessment-list POST": "response:timepoint_new",
    "tumour-assessment-detail GET": "records:history[tumour-scan]",
    "tumour-assessment-baseline POST": "response:baseline", "tumour-assessment-review POST": "response:review",
    "follow-up-list POST": "visits:follow_up",
    "subject-response-list GET": "response:subject", "subject-response-detail GET": "response:subject",
    "efficacy-detail GET": "response:efficacy",
    "pk-sample-list GET": "pk:subject", "pk-sample-detail GET": "pk:subject",
    "pk-sample-collect POST": "records:correct[sample]", "pk-sample-missed POST": "records:correct[sample]",
    "pk-result-list GET": "pk:subject", "pk-result-detail GET": "records:history[lab-result]",
    "pk-summary-detail GET": "pk:overview",
    "query-list GET": "queries:list", "query-list POST": "queries:raise", "query-detail GET": "queries:detail",
    "query-answer POST": "queries:detail", "query-close POST": "queries:detail", "query-reopen POST": "queries:detail",
    "verification-list GET": "monitoring:subject", "verification-list POST": "monitoring:subject",
    "verification-status GET": "monitoring:subject", "verification-detail GET": "monitoring:subject",
    "verification-withdraw POST": "monitoring:subject",
    "export-job-list GET": "exports:jobs", "export-job-list POST": "exports:trial",
    # A job is its requester's alone (the jobs page lists one's own): the world's job is the sponsor's.
    "export-job-detail GET": None, "export-job-download GET": "exports:download",
    "pk-shipment-list GET": "pk:shipments", "pk-shipment-list POST": "pk:shipments",
    "pk-shipment-detail GET": "pk:shipment", "pk-lambda-z-list POST": "pk:lambda_z", "pk-import-list POST": "pk:import",
    "trial-intermediate-level POST": "escalation:intermediate_level",
}
for _slug in _RECORD_RIGHTS:
    for _view, _method in (("history", "GET"), ("correct", "POST"), ("void", "POST")):
        PAGE_OF[f"record-{_view}[{_slug}] {_method}"] = f"records:{_view}[{_slug}]"

# Where the API reads what the page does not show, by design (docs/api.md): the data manager reads every
# record of the trial by subject code through the API (identity null), while the site's pages stay closed to it
# (tests/test_role_matrix.py EXPECTED_MORE); it never writes there either.
# The coordinator lists the intra-patient escalations of its site's subjects, each of which it opens on its page
# (escalation:intrapatient_detail: 200); the page's list is the signers' (investigators', the sponsor's) work list.
PAGE_EXCEPTIONS = {("data_manager", "GET"): "reads by subject code through the API",
                   ("coordinator", "intrapatient-escalation-list GET"): "opens each one on its page"}

# Reads the API refuses although the page shows the resource to the role: none (the monitor's PK reads were
# one: api.pk.readable_samples now reads through trials.access.readable_subjects).
READ_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _page_status(page: str, role: str) -> int | None:
    if role in pages.ROLES:
        return pages.EXPECTED[page][pages.ROLES.index(role)]
    if role in pages.MORE_ROLES:
        return pages.EXPECTED_MORE[page][pages.MORE_ROLES.index(role)]
    return None  # the outsider: no page line


def test_the_api_grants_nothing_the_pages_refuse():
    """Where a role cannot open the page of a resource (403/404; the anonymous visitor: sent to log in), the API
    neither reads it to the role (an error, or a list that lists nothing) nor lets the role write it."""
    assert set(PAGE_OF) == set(EXPECTED), sorted(set(PAGE_OF) ^ set(EXPECTED))
    discrepancies, excepted, refusals = [], [], []
    for key, page in sorted(PAGE_OF.items()):
        if page is None:
            continue
        assert page in pages.EXPECTED, f"{key}: no page {page} in tests/test_role_matrix.py"
        method = key.split(" ")[1]
        for role in ROLES:
            page_status = _page_status(page, role)
            if page_status is None:
                continue
            refused = page_status in (403, 404) or (role == "anonymous" and page_status == pages.LOGIN)
            api_status = EXPECTED[key][ROLES.index(role)]
            grants = api_status < 300 and not (key in LISTS and role not in LISTS[key])
            if refused and grants:
                line = f"{role} {key}: {api_status}, page {page}: {page_status}"
                documented = (role, method) in PAGE_EXCEPTIONS or (role, key) in PAGE_EXCEPTIONS
                (excepted if documented else discrepancies).append(line)
            if method == "GET" and page_status == 200 and api_status >= 300 and (role, key) not in READ_EXCEPTIONS:
                refusals.append(f"{role} {key}: {api_status}, page {page}: 200")
    assert not discrepancies, "The API grants what the page refuses:\n" + "\n".join(discrepancies)
    assert not refusals, "The API refuses a read the page allows:\n" + "\n".join(refusals)
    # The exception is what it says: the data manager's reads only, and there are some.
    assert excepted and all(line.startswith(("data_manager ", "coordinator intrapatient-escalation-list GET"))
                            for line in excepted), excepted
