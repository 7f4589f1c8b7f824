"""A synthetic portfolio at the scale of a phase I unit, written through the real schema with its audit
triggers on (every row inserted here is also in its pghistory event table, as in production).

The trials are the three protocols of ``protocols/`` loaded under numbered codes (``BAT6005-P01`` …) by the
same service as ``load_protocols``; subjects, doses, adverse events, planned visits, cohorts, decisions and
their signatures are inserted in bulk (``bulk_create``), so the counts asked for are reached in a minute
or two rather than by replaying every form. Nothing here is for a real database: ``portfolio benchmark``
builds it in a database of its own (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pghistory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

PROTOCOLS = ("BAT6005", "LVGN6051-ANLOTINIB", "QL1706")
CYCLE_DAYS = 21
VISIT_EVERY_DAYS = 7
# The users whose pages are measured: each holds its role in every trial of the portfolio (the site
# staff at two of each trial's four sites), the case the access filter must stay fast for.
BENCH_USERS = {
    "coordinator": "bench-coordinator",
    "investigator": "bench-investigator",
    "sponsor": "bench-sponsor",
}
BENCH_PASSWORD = "portfolio-bench-password"  # noqa: S105 - a throwaway database's synthetic users


@dataclass(frozen=True)
class Scale:
    """The portfolio asked for (the issue's: 50 trials, 10 sites, 5,000 subjects, 500,000 planned visits,
    20,000 adverse events, 95,000 doses)."""

    trials: int = 50
    sites: int = 10
    subjects: int = 5000
    visits: int = 500_000
    adverse_events: int = 20_000
    doses: int = 95_000

    def times(self, factor: float) -> Scale:
        def part(n: int, least: int) -> int:
            return max(least, round(n * factor))

        return Scale(trials=part(self.trials, 4), sites=part(self.sites, 4), subjects=part(self.subjects, 3 * 6),
                     visits=part(self.visits, 3 * 6 * 4), adverse_events=part(self.adverse_events, 3 * 6),
                     doses=part(self.doses, 3 * 6))

    @property
    def per_subject(self) -> tuple[int, int, int]:
        """Planned visits, adverse events and doses of each subject (the totals spread evenly)."""
        n = max(self.subjects, 1)
        return max(1, self.visits // n), max(0, self.adverse_events // n), max(1, self.doses // n)


@dataclass
class Built:
    trials: int = 0
    subjects: int = 0
    visits: int = 0
    adverse_events: int = 0
    doses: int = 0
    decisions: int = 0

    def add(self, other: Built) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _definitions():
    from trials.protocol_file import read_protocol

    folder = Path(settings.BASE_DIR) / "protocols"
    return [read_protocol(folder / f"{code}.toml") for code in PROTOCOLS]


def _sites(n: int):
    from trials.models import Site

    wanted = [f"S{i:02d}" for i in range(1, n + 1)]
    existing = {s.code: s for s in Site.objects.filter(code__in=wanted)}
    Site.objects.bulk_create([Site(code=c, name=f"Portfolio site {c}") for c in wanted if c not in existing])
    return list(Site.objects.filter(code__in=wanted).order_by("code"))


def _users(sites):
    """The measured users, and one coordinator and one investigator per site (the staff the watch notifies)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    User = get_user_model()
    password = make_password(BENCH_PASSWORD)
    names = [*BENCH_USERS.values(),
             *(f"{s.code.lower()}-{r}" for s in sites for r in ("coordinator", "investigator"))]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([
        User(username=n, password=password, first_name=n.split("-")[0].title(), last_name=n.split("-")[-1].title(),
             email=f"{n}@portfolio.invalid") for n in names if n not in existing
    ])
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    for name in (BENCH_USERS["investigator"], BENCH_USERS["sponsor"]):  # roles that need a second factor
        if not Authenticator.objects.filter(user=users[name], type=Authenticator.Type.TOTP).exists():
            TOTP.activate(users[name], generate_totp_secret())
    return users


def _load_trial(definition, code: str):
    from trials.services import protocol_load

    data = json.loads(json.dumps(definition.data))
    data["code"] = code
    data["title"] = f"{definition.data['title']} (portfolio copy {code})"
    trial, _ = protocol_load(definition=replace(definition, data=data))
    return trial


def _set_times(model, column: str, values: dict[int, datetime]) -> None:
    """``column`` of each row by id, in one UPDATE (auto_now_add fields are set to now by bulk_create)."""
    if not values:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} t SET {connection.ops.quote_name(column)} = v.at "  # noqa: S608 - names from the model
            "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) WHERE t.id = v.id",
            [list(values), list(values.values())],
        )


def build_trial(index: int, definition, sites, users, scale: Scale, *, today: date, rng: random.Random) -> Built:
    """One trial of the portfolio: its protocol loaded, 4 sites, its share of the subjects in cohorts of 3
    (decided cohorts with a signed decision each, the last one full and awaiting its decision), each subject
    with its doses, adverse events and planned visits."""
    from escalation.models import Cohort, EscalationDecision, Signature
    from subjects.models import AdverseEvent, DoseAdministration, Subject
    from trials.models import Membership, Role
    from visits.models import PlannedVisit

    code = f"{definition.code.split('-')[0]}-P{index + 1:02d}"
    trial = _load_trial(definition, code)
    built = Built(trials=1)
    trial_sites = [sites[(index + k) % len(sites)] for k in range(4)]
    trial.sites.add(*trial_sites)
    memberships = []
    for k, site in enumerate(trial_sites):
        prefix = site.code.lower()
        memberships += [
            Membership(user=users[f"{prefix}-coordinator"], trial=trial, site=site, role=Role.COORDINATOR),
            Membership(user=users[f"{prefix}-investigator"], trial=trial, site=site, role=Role.INVESTIGATOR)]
        if k < 2:
            memberships += [
                Membership(user=users[BENCH_USERS["coordinator"]], trial=trial, site=site, role=Role.COORDINATOR),
                Membership(user=users[BENCH_USERS["investigator"]], trial=trial, site=site, role=Role.INVESTIGATOR,
                           principal=k == 0),
            ]
    memberships.append(Membership(user=users[BENCH_USERS["sponsor"]], trial=trial, role=Role.SPONSOR))
    Membership.objects.bulk_create(memberships, ignore_conflicts=True)

    n_subjects = scale.subjects // scale.trials + (1 if index < scale.subjects % scale.trials else 0)
    n_visits, n_aes, n_doses = scale.per_subject
    levels = list(trial.dose_levels.order_by("rank"))
    drug = trial.drugs.order_by("order").first()
    investigator = users[BENCH_USERS["investigator"]]

    # Cohorts: escalation trials in cohorts of 3 climbing the levels (then staying at the top); a fixed-dose
    # trial's subjects all in its single-arm cohort.
    groups: list[tuple[Cohort, list[int]]] = []
    if trial.escalates:
        first = trial.cohorts.get(number=1)
        n_cohorts = max(1, -(-n_subjects // 3))
        cohorts = [first, *Cohort.objects.bulk_create([
            Cohort(trial=trial, part=first.part, number=k + 1, dose_level=levels[min(k, len(levels) - 1)], capacity=3,
                   status=Cohort.Status.DECIDED)
            for k in range(1, n_cohorts)
        ])]
        Cohort.objects.filter(pk=first.pk).update(capacity=3, status=Cohort.Status.DECIDED)
        Cohort.objects.filter(pk=cohorts[-1].pk).update(status=Cohort.Status.FULL)
        for k, cohort in enumerate(cohorts):
            groups.append((cohort, list(range(3 * k, min(3 * k + 3, n_subjects)))))
    else:
        cohort = trial.cohorts.filter(escalation=False).order_by("number").first()
        groups.append((cohort, list(range(n_subjects))))

    # Subjects: enrolled one cohort after another, the last cohort recently (its DLT windows open).
    span = max(1, len(groups))
    start = today - timedelta(days=n_doses * CYCLE_DAYS + 60 + 30 * span)
    subjects, first_doses = [], []
    for g, (cohort, members) in enumerate(groups):
        for m in members:
            level = cohort.dose_level
            site = trial_sites[m % len(trial_sites)]
            if trial.escalates:
                first_dose = start + timedelta(days=30 * g + 2 * (m % 3))
            else:
                first_dose = start + timedelta(days=(30 * span * m) // max(1, n_subjects))
            if g == len(groups) - 1 and trial.escalates:
                first_dose = today - timedelta(days=5 + m % 3)
            first_doses.append(first_dose)
            subjects.append(Subject(
                trial=trial, site=site, cohort=cohort, dose_level=level, code=f"{code}-{site.code}-{m + 1:04d}",
                initials="XX", date_of_birth=date(1950, 1, 1) + timedelta(days=rng.randrange(9000)),
                sex="F" if m % 2 else "M", tumour_type="solid tumour",
                enrolled_by=users[f"{site.code.lower()}-coordinator"],
            ))
    subjects = Subject.objects.bulk_create(subjects, batch_size=2000)
    _set_times(Subject, "enrolled_at", {
        s.pk: timezone.make_aware(datetime.combine(d - timedelta(days=7), time(9)))
        for s, d in zip(subjects, first_doses, strict=True)
    })
    built.subjects = len(subjects)

    doses, events, visits = [], [], []
    window = trial.dlt_window_days or 21
    amount = Decimal(str(next(iter(levels[0].doses.values()), "1"))) if levels else Decimal(1)
    for s, first_dose in zip(subjects, first_doses, strict=True):
        coordinator = s.enrolled_by_id
        given = [c for c in range(n_doses) if first_dose + timedelta(days=CYCLE_DAYS * c) <= today]
        for c in given:
            doses.append(DoseAdministration(
                subject=s, drug=drug, cycle=c + 1, day=1,
                administered_at=timezone.make_aware(
                    datetime.combine(first_dose + timedelta(days=CYCLE_DAYS * c), time(10))),
                dose=amount, unit=drug.unit, recorded_by_id=coordinator,
            ))
        treated_days = max(1, CYCLE_DAYS * len(given))
        for e in range(n_aes):
            in_window = e == 0
            onset = first_dose + timedelta(days=(rng.randrange(window) if in_window else rng.randrange(treated_days)))
            if onset > today:
                onset = today
            dlt = in_window and rng.random() < 0.12 and trial.escalates
            grade = 3 if dlt else rng.choice((1, 1, 2, 2, 3))
            events.append(AdverseEvent(
                subject=s, term=rng.choice(("Nausea", "Fatigue", "Rash maculo-papular", "Diarrhea", "Anemia",
                                            "Alanine aminotransferase increased")),
                grade=grade, onset_date=onset,
                attribution="probable" if dlt else rng.choice(("unrelated", "unlikely", "possible")),
                dlt_status="confirmed" if dlt else "", is_dlt=dlt,
                adjudicated_by=investigator if dlt else None,
                adjudicated_at=timezone.now() if dlt else None,
                recorded_by_id=coordinator,
            ))
        for v in range(n_visits):
            target = first_dose - timedelta(days=14) + timedelta(days=VISIT_EVERY_DAYS * v)
            past = target < today - timedelta(days=7)
            roll = rng.random()
            status = "planned"
            if past and roll >= 0.03:
                status = "missed" if roll < 0.04 else "done"
            visits.append(PlannedVisit(
                subject=s, code=f"V{v + 1:03d}", kind="treatment", target=target,
                window_start=target - timedelta(days=3), window_end=target + timedelta(days=3), status=status,
                done_on=target if status == "done" else None,
                missed_reason="patient unwell" if status == "missed" else "",
            ))
    DoseAdministration.objects.bulk_create(doses, batch_size=5000)
    AdverseEvent.objects.bulk_create(events, batch_size=5000)
    PlannedVisit.objects.bulk_create(visits, batch_size=5000)
    built.doses, built.adverse_events, built.visits = len(doses), len(events), len(visits)

    # Decisions between the cohorts: each decided cohort's, approved and signed, opening the next one. Its
    # stored data is as large as a real one (every escalation subject so far).
    if trial.escalates:
        facts, decisions, when = [], [], {}
        for g, (cohort, members) in enumerate(groups[:-1]):
            facts += [{"subject": subjects[m].code, "level": levels.index(cohort.dose_level) + 1,
                       "first_dose": timezone.make_aware(datetime.combine(first_doses[m], time(10))).isoformat(),
                       "off_study_on": None, "window_closed": True, "adverse_events": [], "state": "N", "open": []}
                      for m in members]
            nxt = groups[g + 1][0].dose_level
            data = {"evidence": {"trial": code, "subjects": list(facts)}, "engine": {"decision": "escalate"}}
            digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            decisions.append(EscalationDecision(
                trial=trial, cohort=cohort, status=EscalationDecision.Status.APPROVED, continue_trial=True,
                next_dose_level=nxt, add_subjects=3,
                rationale=f"0 of {len(members)} with a DLT at {cohort.dose_level.label}.",
                outcomes=" ".join(f"{levels.index(c.dose_level) + 1}{'N' * len(ms)}" for c, ms in groups[:g + 1]),
                data=data, data_sha256=digest,
            ))
        decisions = EscalationDecision.objects.bulk_create(decisions, batch_size=200)
        Signature.objects.bulk_create([
            Signature(decision=d, signer=investigator, printed_name=investigator.get_full_name(),
                      role=Role.INVESTIGATOR,
                      meaning=Signature.Meaning.APPROVED, data_sha256=d.data_sha256)
            for d in decisions
        ])
        for g, decision in enumerate(decisions):
            when[decision.pk] = timezone.make_aware(datetime.combine(start + timedelta(days=30 * g + 28), time(12)))
        _set_times(EscalationDecision, "created_at", when)
        EscalationDecision.objects.filter(pk__in=list(when)).update(decided_at=None)
        for g, decision in enumerate(decisions):  # the decision that opened each cohort
            Cohort.objects.filter(pk=groups[g + 1][0].pk).update(opened_by=decision)
        built.decisions = len(decisions)
    return built


def build(scale: Scale, *, first: int = 0, last: int | None = None, seed: int = 14,
          progress=lambda message: None) -> Built:
    """Trials ``first`` … ``last - 1`` of the portfolio of ``scale`` (all when ``last`` is None), each in
    its own transaction, under one pghistory context (the audit trail records who made the rows)."""
    definitions = _definitions()
    today = timezone.localdate()
    total = Built()
    with pghistory.context(source="portfolio.build"):
        sites = _sites(scale.sites)
        users = _users(sites)
        for index in range(first, scale.trials if last is None else last):
            rng = random.Random(seed * 1000 + index)  # noqa: S311 - reproducible benchmark data, not secrets
            with transaction.atomic():
                total.add(build_trial(index, definitions[index % len(definitions)], sites, users, scale,
                                      today=today, rng=rng))
            progress(f"trial {index + 1} of {scale.trials}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return total
