"""Issue 13 (REST API): the schema the server publishes is the API it serves. schemathesis generates requests
for every operation of /api/v1/schema/ (reads and writes, valid and invalid input) and sends them over real
HTTP to the live server (real PostgreSQL), signed in by token as a coordinator, a sponsor (de-identified
API) and a data manager (reads by code), in a trial with subjects, doses, adverse events, decisions,
screening, tumour assessments, PK samples and results, a query and an export. Every answer must be no 5xx,
with a status code, a content type, headers and a body the schema documents.

Bounded and reproducible: a fixed number of examples per operation, derandomized, no shrinking, no deadline
(see ``EXAMPLES``). A failure lists each operation that failed with schemathesis' report (the response and a
curl command that reproduces it)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from knox.models import AuthToken

from exports import services as export_services
from exports.models import ExportJob
from pk import selectors as pk_selectors
from pk import services as pk_services
from pk.models import LabResult
from queries import services as query_services
from records.registry import kind_for
from response import services as response_services
from screening.models import ScreeningRecord
from subjects.models import AdverseEvent, Assessment, DoseAdministration, Subject
from tests.api.apicore_helpers import screened
from tests.conftest import member
from tests.pk.test_pk_app import FIRST, collect_cycle_1, pk_file
from tests.queries.conftest import record_ae
from tests.response.test_response_app import DOSE, non_target, scan, target
from tests.test_decision_safety import bat_at_100mg_recommended
from tests.visits.conftest import make_subject
from trials.models import Role

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("coordinator", "sponsor", "data_manager")

# Examples per operation, per role: (generation mode, examples with generated path parameters, examples
# with the path parameters of a real record of the world).
EXAMPLES = (
    (schemathesis.GenerationMode.POSITIVE, 2, 3),
    (schemathesis.GenerationMode.NEGATIVE, 2, 2),
)

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_headers_conformance,
          schemathesis.checks.response_schema_conformance]

SETTINGS = hypothesis.settings(
    deadline=None, derandomize=True, database=None, report_multiple_bugs=False, print_blob=False,
    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
)


# --------------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def world(people, bat6005, site_a, site_b):
    """BAT6005 at site A: two subjects dosed with a signed decision and the next one pending, an adverse
    event with a query on it, an eligible screening record, a subject with a baseline and a time point, a
    subject with its cycle-1 PK collected and the lab's results imported, and a built export."""
    trial = bat6005
    coordinator = people["coordinator"]
    monitor = member(trial, Role.MONITOR, site_a, "monitor")
    data_manager = member(trial, Role.DATA_MANAGER, None, "data-manager")
    pkist = member(trial, Role.PHARMACOKINETICIST, None, "pkist")

    decision = bat_at_100mg_recommended(people, trial, site_a)
    dosed_subject = Subject.objects.filter(trial=trial).order_by("pk").first()
    event = record_ae(dosed_subject, coordinator, grade=2, attribution="possible")
    query = query_services.query_raise(user=monitor, kind=kind_for("adverse-event"), record=event, field="grade",
                                       text="Please confirm the grade against the source notes.")
    screening = screened(trial, site_a, coordinator)

    responder = make_subject(trial, site_a, coordinator, first_dose=DOSE, cycles=6)
    response_services.baseline_record(
        subject=responder, user=coordinator, assessed_on=DOSE - timedelta(days=7), method="CT",
        lesions=[target("lung", 40), target("liver", 30), target("lymph node", 20, node=True), non_target("bone")])
    scan(responder, coordinator, 42, 20, 15, 8)

    pk_subject = make_subject(trial, site_a, coordinator, first_dose=FIRST, cycles=2)
    times = collect_cycle_1(pk_subject, coordinator)
    pk_services.results_import(user=pkist, trial=trial, file_name="run1.csv", content=pk_file(pk_subject, times),
                               samples=pk_selectors.samples_in_scope(pkist, trial))

    export = export_services.export_request(user=coordinator, trial=trial, format=ExportJob.Format.CSV,
                                            deidentified=True)
    export_services.export_run(export)

    users = {"coordinator": coordinator, "sponsor": people["sponsor"], "data_manager": data_manager}
    ids = {
        "trials": trial.code, "sites": site_a.code, "efficacy": trial.code, "pk-summaries": trial.code,
        "subjects": dosed_subject.pk, "screening-records": screening.pk,
        "doses": DoseAdministration.objects.filter(subject=dosed_subject).first().pk,
        "assessments": Assessment.objects.filter(subject__trial=trial).first().pk,
        "adverse-events": event.pk, "decisions": decision.pk,
        "signatures": decision.trial.decisions.exclude(pk=decision.pk).get().signatures.first().pk,
        "visits": responder.visits.first().pk,
        "tumour-assessments": responder.tumour_assessments.first().pk,
        "subject-responses": responder.pk,
        "pk-samples": pk_subject.samples.filter(status="planned").first().pk,
        "pk-results": LabResult.objects.filter(sample__subject=pk_subject).first().pk,
        "queries": query.pk, "exports": export.pk,
        "records": ("adverse-event", event.pk),
    }
    assert ScreeningRecord.objects.filter(pk=screening.pk, subject__isnull=True).exists()
    assert AdverseEvent.objects.filter(pk=event.pk).exists() and decision.status == "pending"
    return {"trial": trial, "users": users, "ids": ids}


def tokens(users) -> dict[str, str]:
    return {role: AuthToken.objects.create(user=user)[1] for role, user in users.items()}


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


# The resources that are a subject's records: never read by the sponsor.
SUBJECT_RECORDS = {"subjects", "screening-records", "doses", "assessments", "adverse-events", "visits",
                   "tumour-assessments", "subject-responses", "pk-samples", "pk-results", "queries", "records"}


def resource_of(operation) -> str | None:
    """``subjects`` for ``/api/v1/subjects/{id}/``; ``trials`` for ``/api/trials/{code}/dashboard/``."""
    found = re.match(r"^/api/(?:v1/)?([^/{]+)/", operation.path)
    return found.group(1) if found else None


def real_path_parameters(operation, ids) -> dict | None:
    """The path parameters of a record of the world for ``operation`` (``/api/v1/<resource>/{id}/...``)."""
    names = [p.name for p in operation.path_parameters]
    if not names:
        return None
    value = ids.get(resource_of(operation))
    if value is None:
        return None
    if names == ["kind", "id"] and isinstance(value, tuple):
        return {"kind": value[0], "id": value[1]}
    return {names[0]: value} if len(names) == 1 else None


def run_operation(operation, session, base_url, *, mode, examples, path_parameters=None,
                  statuses: set | None = None) -> str | None:
    """The schemathesis report of the first failing example of ``operation``, or None; the status codes
    answered are added to ``statuses``."""
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    statuses = set() if statuses is None else statuses

    @hypothesis.given(case=strategy)
    @hypothesis.settings(SETTINGS, max_examples=examples)
    def check(case):
        statuses.add(case.call_and_validate(base_url=base_url, session=session, checks=CHECKS,
                                            timeout=30).status_code)

    try:
        check()
    except hypothesis.errors.Unsatisfiable:  # nothing of the operation can be made invalid (negative mode)
        return None
    except BaseExceptionGroup as group:  # schemathesis' FailureGroup: the checks that failed, with the report
        return getattr(group, "message", str(group))
    except Exception as exc:  # a transport error, a hypothesis error: also a failure
        return f"{type(exc).__name__}: {exc}"
    return None


def test_every_operation_conforms_to_the_published_schema(world, live_server):
    started = time.monotonic()
    keys = tokens(world["users"])
    schema_url = f"{live_server.url}/api/v1/schema/?format=json"
    loaded = requests.get(schema_url, headers={"Authorization": f"Token {keys['coordinator']}"}, timeout=30)
    assert loaded.status_code == 200 and loaded.headers["Content-Type"].startswith("application/"), loaded.text
    schema = schemathesis.openapi.from_dict(loaded.json())
    operations = [result.ok() for result in schema.get_all_operations()]
    # Reads first (every role), then the writes (which change the world the next writes see).
    operations.sort(key=lambda op: (op.method.upper() != "GET", op.path, op.method))
    assert len(operations) > 50 and any(op.method.upper() == "POST" for op in operations)

    failures: list[str] = []
    spent: dict[str, float] = {}
    sent: list = []
    answered: dict[tuple[str, str], set[int]] = {}
    for writes in (False, True):
        for role in ROLES:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {keys[role]}"
            session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response.elapsed))
            for operation in operations:
                if (operation.method.upper() != "GET") != writes:
                    continue
                real = real_path_parameters(operation, world["ids"])
                for mode, generated, with_real in EXAMPLES:
                    runs = [(None, generated)] + ([(real, with_real)] if real else [])
                    if operation.path_parameters and not real:
                        runs = [(None, generated + with_real)]
                    for path_parameters, examples in runs:
                        began = time.monotonic()
                        report = run_operation(operation, session, live_server.url, mode=mode, examples=examples,
                                               path_parameters=path_parameters,
                                               statuses=answered.setdefault((role, operation.label), set()))
                        spent[operation.label] = spent.get(operation.label, 0) + time.monotonic() - began
                        if report:
                            where = f"path parameters {path_parameters}" if path_parameters else "generated"
                            failures.append(f"[{role}] {operation.label} ({mode.value}, {where})\n{report}")
            session.close()  # the live server's threads (and their database connections) end
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(operations)} operations x {len(ROLES)} roles, {len(sent)} requests "
          f"({sum(e.total_seconds() for e in sent):.0f} s waiting for answers), "
          f"{elapsed:.0f} s; slowest: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in
                                                    sorted(spent.items(), key=lambda item: -item[1])[:8]))
    assert not failures, f"{len(failures)} failing operation runs:\n\n" + "\n\n".join(failures)

    # The run read the world, not only 404s: the coordinator read every record of it; the sponsor
    # (de-identified) read the trial-level ones and none of a subject's records.
    reads = {op.label: resource_of(op) for op in operations
             if op.method.upper() == "GET" and real_path_parameters(op, world["ids"])}
    unread = [label for label in reads if 200 not in answered[("coordinator", label)]]
    assert not unread, f"the coordinator never read these records of the world: {unread}"
    sponsor_read = {resource for label, resource in reads.items() if 200 in answered[("sponsor", label)]}
    assert {"trials", "decisions", "signatures", "efficacy", "pk-summaries"} <= sponsor_read, sponsor_read
    assert not sponsor_read & SUBJECT_RECORDS, sponsor_read & SUBJECT_RECORDS
