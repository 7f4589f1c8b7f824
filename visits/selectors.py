"""Reads for visit pages: the site-wide overdue / due-soon list and the sponsor's counts per site."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, Q

from trials.access import visits_for
from trials.models import SITE_ROLES
from visits.models import PlannedVisit
from visits.watch import due_soon_days


def attention_visits(user, *, today: date, trial=None, site=None, days: int | None = None, roles=SITE_ROLES):
    """Planned visits at the user's sites that are overdue (window closed) or due soon (window open or
    opening within ``days``), most urgent first."""
    days = due_soon_days() if days is None else days
    # A window that closed before today opened before it too: "window opens by today + days, or flagged" says it
    # all, and each side has its partial index (visit_open_idx, visit_overdue_idx), so the planner ORs two index
    # scans instead of reading every planned visit.
    queryset = visits_for(user, trial, roles).filter(status=PlannedVisit.Status.PLANNED).filter(
        Q(overdue=True) | Q(window_start__lte=today + timedelta(days=days))
    )
    if site is not None:
        queryset = queryset.filter(subject__site=site)
    return queryset.select_related("subject__trial", "subject__site").order_by("window_end", "subject__code", "code")


def attention_page(queryset, *, today: date, number, per_page: int = 50):
    """One page of :func:`attention_visits` with the totals, in ONE query: the rows carry ``n_total`` and
    ``n_overdue`` (window aggregates over the whole list). Only a page past the end costs more (a count, then
    the last page). Returns (page, overdue total)."""
    from django.core.paginator import Page, Paginator
    from django.db.models import Window

    counted = queryset.annotate(
        n_total=Window(Count("pk")),
        n_overdue=Window(Count("pk", filter=Q(overdue=True) | Q(window_end__lt=today))),
    )
    try:  # a page past the end (even past what an SQL OFFSET holds) is answered with the last page
        number = min(max(1, int(number)), 2**31 // per_page)
    except (TypeError, ValueError):
        number = 1
    rows = list(counted[(number - 1) * per_page:number * per_page])
    if not rows and number > 1:
        total = queryset.count()
        number = max(1, -(-total // per_page))
        rows = list(counted[(number - 1) * per_page:number * per_page])
    paginator = Paginator([], per_page)
    paginator.count = rows[0].n_total if rows else 0  # cached_property: set, not computed
    return Page(rows, number, paginator), (rows[0].n_overdue if rows else 0)


def overdue_counts_by_site(trial, *, today: date) -> list[dict]:
    """Per site of the trial: overdue visits (window closed, neither done nor missed) — counts only."""
    rows = (
        PlannedVisit.objects.filter(subject__trial=trial, status=PlannedVisit.Status.PLANNED)
        .values("subject__site__code", "subject__site__name")
        .annotate(
            n_overdue=Count("pk", filter=Q(overdue=True) | Q(window_end__lt=today)),
            n_open=Count("pk", filter=Q(window_start__lte=today, window_end__gte=today)),
        )
        .order_by("subject__site__code")
    )
    sites = {s.code: s.name for s in trial.sites.all()}
    by_code = {r["subject__site__code"]: r for r in rows}
    return [
        {"site": code, "name": name, "overdue": by_code.get(code, {}).get("n_overdue", 0),
         "open": by_code.get(code, {}).get("n_open", 0)}
        for code, name in sorted(sites.items())
    ]


def visit_counts_for(user, trial, *, today: date, days: int | None = None) -> dict:
    """Overdue and due-soon counts over the visits of the user's subjects in ``trial``."""
    days = due_soon_days() if days is None else days
    counts = visits_for(user, trial).filter(status=PlannedVisit.Status.PLANNED).aggregate(
        n_overdue=Count("pk", filter=Q(overdue=True) | Q(window_end__lt=today)),
        n_due_soon=Count("pk", filter=Q(overdue=False, window_end__gte=today,
                                        window_start__lte=today + timedelta(days=days))),
    )
    return {"overdue": counts["n_overdue"], "due_soon": counts["n_due_soon"]}
