"""The cohort dashboard of a trial for one viewer, page and API alike (docs/dashboard.md, docs/performance.md).

What the dashboard shows of the escalation changes only when the trial's data change, or when time closes a DLT
window: the evidence, the cohorts' states, the decisions, the path, the DLT listing, the enrolment. That part is
cached (Django's cache: Redis), as its data (for the API) and as its rendered HTML (for the page).

- **Key.** The entry is keyed on the trial's change ``version`` (``TrialChange``). The database's own triggers
  give it a new value at every statement that touches the trial's escalation data (escalation.changes). The key
  also holds the sites whose subject codes the viewer may see (a sponsor's entry never holds a code) and the day.
- **Lifetime.** An entry lasts until the next DLT window closes (``Evidence.next_change``) or the day ends,
  whichever comes first. A change to the data makes a new version, so a stale entry is never read.
- **Overdue visits.** The overdue and open visits per site change with the visits (the watch, every visit
  recorded), not with the escalation: they are kept apart, for every viewer alike, keyed on the trial's ``live``
  value (a new one at every statement on its visits or sites: ``escalation.changes.LIVE_TABLES``) and the day.
- **Data queries.** The open data queries per site are counted on every request.
- **Cache down.** If the cache cannot be reached, the page is computed instead: it is never refused.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from functools import cached_property

from django.core.cache import cache
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from escalation.dashboard import dashboard_views, overdue_view
from escalation.models import TrialChange
from escalation.selectors import cohort_dashboard
from trials.access import site_ids_for
from trials.models import Trial

log = logging.getLogger(__name__)

KEY = "trialsite:dashboard:1:{part}:{trial}:{version}:{sites}:{day}"


def _get(key: str):
    try:
        return cache.get(key)
    except Exception:  # the cache (Redis) unreachable: the page is computed, not refused
        log.warning("dashboard cache: could not read %s", key, exc_info=True)
        return None


def _set(key: str, value, *, until: datetime, now: datetime) -> None:
    try:
        cache.set(key, value, timeout=max(1, int((until - now).total_seconds())))
    except Exception:
        log.warning("dashboard cache: could not write %s", key, exc_info=True)


def _midnight(now: datetime) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(now) + timedelta(days=1), time.min))


def _build(trial: Trial, *, user, now: datetime, visible_sites: list[int]) -> tuple[dict, datetime]:
    board = cohort_dashboard(trial, now=now)
    board["decisions"] = list(board["decisions"])
    views = dashboard_views(trial, user=user, now=now, decisions=board["decisions"], evidence=board["evidence"],
                            visible_sites=visible_sites, overdue=False)
    midnight = _midnight(now)
    next_change = board["evidence"].next_change
    return {**board, **views}, min(midnight, next_change) if next_change else midnight


class _Cached:
    """The viewer's entries of one trial version: ``data()`` (the API's answer), ``html()`` (the page's two
    fragments) and ``overdue()`` (the counts per site, every viewer's), each read from the cache or built once."""

    def __init__(self, trial: Trial, *, user, now: datetime):
        self.trial, self.user, self.now = trial, user, now
        self.visible = site_ids_for(user, trial)  # no query: access_trial read the user's memberships
        self.version, self.live = (TrialChange.objects.filter(trial=trial).values_list("version", "live").first()
                                   or (None, None))

    def _key(self, part: str) -> str:
        """The key of ``part``: ``data`` and ``html`` by version and the viewer's sites, ``live`` (the overdue
        counts, the same for every viewer) by the live value."""
        live = part == "live"
        return KEY.format(part=part, trial=self.trial.pk, version=self.live if live else self.version,
                          sites="" if live else ",".join(map(str, self.visible)),
                          day=timezone.localdate(self.now).isoformat())

    def _cached(self, part: str, build):
        """``build()`` -> (value, until), kept under ``part`` until ``until``; nothing is kept for a trial without
        its change values yet (None)."""
        keyed = (self.live if part == "live" else self.version) is not None
        hit = _get(self._key(part)) if keyed else None
        if hit is not None and hit["until"] > self.now:
            return hit["value"]
        value, until = build()
        if keyed:
            _set(self._key(part), {"value": value, "until": until}, until=until, now=self.now)
        return value

    @cached_property
    def _built(self) -> tuple[dict, datetime]:
        """The escalation part's data and how long it holds, computed at most once per request."""
        return _build(self.trial, user=self.user, now=self.now, visible_sites=self.visible)

    def data(self, serialize) -> dict:
        """``serialize(data)``: the answer built from the dashboard's data, kept as it is returned (plain
        values only: no model, no evidence, no subject code the viewer may not see)."""
        return self._cached("data", lambda: (serialize(self._built[0]), self._built[1]))

    def html(self) -> dict:
        def build():
            data, until = self._built
            context = {"trial": self.trial, **data}
            return ({"main": render_to_string("trials/_dashboard_main.html", context),
                     "figures": render_to_string("trials/_dashboard_figures.html", context),
                     "identified": data["identified"], "has_figures": bool(data["figures"])}, until)

        return self._cached("html", build)

    def overdue(self) -> tuple[list[dict], dict | None]:
        """The overdue and open visits per site and their picture (:func:`overdue_view`), kept until the
        trial's visits or sites change (``live``) or the day ends: they depend on nothing else."""
        return self._cached("live", lambda: (
            overdue_view(self.trial, today=timezone.localdate(self.now)), _midnight(self.now)))


def trial_dashboard(trial: Trial, *, user, serialize, now: datetime | None = None) -> tuple[dict, list[dict]]:
    """The dashboard's API answer for ``user`` (subject codes of their own sites only): ``serialize(data)`` of
    the escalation part, and the overdue rows per site, both cached (see the module's docstring)."""
    now = now or timezone.now()
    cached = _Cached(trial, user=user, now=now)
    return cached.data(serialize), cached.overdue()[0]


def dashboard_page(trial: Trial, *, user, now: datetime | None = None) -> dict:
    """The dashboard page's context for ``user``: the cached fragments and overdue counts (the data queries
    per site are counted by the template)."""
    now = now or timezone.now()
    prefetch_related_objects([trial], "sites")  # once, for the overdue counts (if not cached) and the data queries
    cached = _Cached(trial, user=user, now=now)
    html = cached.html()
    overdue, figure = cached.overdue()
    return {"trial": trial, "dashboard_main": mark_safe(html["main"]),  # noqa: S308 - our own rendered templates
            "dashboard_figures": mark_safe(html["figures"]),  # noqa: S308
            "identified": html["identified"], "visit_sites": overdue, "overdue_figure": figure,
            "has_figures": html["has_figures"] or figure is not None}
