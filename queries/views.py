"""Query pages: a trial's queries (filters), one query with its thread and the steps the user may take,
and raising a query on a record (docs/data-management.md, "Data queries")."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from queries import selectors, services
from queries.forms import FilterForm, RaiseForm, StepForm
from queries.models import Query
from records.registry import kind_for
from records.selectors import readable_record
from trials.access import access_trial, has_site_role, identifiable, sites_for
from trials.models import SITE_SCOPED_ROLES, Role
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form

READER_ROLES = (*SITE_SCOPED_ROLES, Role.DATA_MANAGER)


def query_list(request, code: str):
    """The trial's queries the user reads (site staff and monitor: their sites; data manager: all)."""
    trial = access_trial(request.user, code, roles=READER_ROLES)
    data_manager = trial.memberships.filter(user=request.user, role=Role.DATA_MANAGER).exists()
    sites = trial.sites.order_by("code") if data_manager else sites_for(request.user, trial, SITE_SCOPED_ROLES)
    form = FilterForm(request.GET or {"status": "live"}, sites=sites.distinct())
    queryset = selectors.readable_queries(request.user).filter(trial=trial)
    if form.is_valid():
        queryset = selectors.filter_queries(queryset, **{k: v for k, v in form.cleaned_data.items() if v})
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [(q, selectors.age_days(q, now)) for q in page]
    may_review = trial.memberships.filter(user=request.user, role__in=services.RAISER_ROLES).exists()
    return render_form(request, "queries/list.html", {"trial": trial, "form": form, "page": page, "rows": rows,
                                                      "may_review": may_review}, partial="results")


def _record_of(query: Query):
    kind = kind_for(query.kind)
    if kind is None:
        raise Http404("No such kind of record")
    manager = getattr(kind.model, "all_objects", kind.model._base_manager)
    return kind, manager.filter(pk=query.object_id).first()


def query_detail(request, pk: int):
    query = selectors.query_for(request.user, pk)
    kind, record = _record_of(query)
    form = StepForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        action, text = form.cleaned_data["action"], form.cleaned_data["text"]
        step = {"answer": services.query_answer, "close": services.query_close,
                "reopen": services.query_reopen}[action]
        try:
            step(user=request.user, query=query, text=text)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, {"answer": "Answer sent.", "close": "Query closed.",
                                       "reopen": "Query re-opened."}[action])
            return redirect_after_form(request, reverse("queries:detail", args=[query.pk]))
    owner = kind.owner(record) if record is not None else None
    show_identity = owner is not None and identifiable(request.user, owner)
    may_correct = (record is not None and query.status != Query.Status.CLOSED
                   and getattr(record, "voided_at", None) is None and has_site_role(request.user, owner, kind.roles)
                   and services.may_answer(request.user, query))
    context = {
        "query": query, "kind": kind, "record": record, "owner": owner,
        "thread": query.messages.select_related("user"),
        "hide_values": not show_identity and query.field in selectors.IDENTITY_FIELDS,
        "may_answer": query.status == Query.Status.OPEN and services.may_answer(request.user, query),
        "may_correct": may_correct,
        "may_close": query.status != Query.Status.CLOSED and services.may_close(request.user, query),
        "may_reopen": query.status != Query.Status.OPEN and services.may_close(request.user, query),
        "form": form, "age": selectors.age_days(query, timezone.now()),
        "value_now": services.shown(getattr(record, query.field, "")) if record is not None and query.field else "",
        "back": _back(request.user, kind, record, kind.owner(record)) if record is not None else None,
        "readable_page": record is not None and identifiable(request.user, kind.owner(record)),
    }
    context["steps"] = [step for step, allowed in (
        (("answer", "Send the answer", "Answer (an explanation: the data stay as they are)"), context["may_answer"]),
        (("close", "Close the query", "Closing note (optional)"), context["may_close"]),
        (("reopen", "Re-open the query", "Why the query is re-opened"), context["may_reopen"])) if allowed]
    return render_form(request, "queries/detail.html", context, status=422 if form.errors else 200)


def _back(user, kind, record, owner) -> str:
    """Where the record is read: its page for site staff and the monitor; the records to review for a data
    manager, who reads no site page."""
    if identifiable(user, owner):
        return kind.detail_url(record)
    return reverse("queries:review", args=[owner.trial.code]) + f"?kind={kind.slug}"


def query_raise(request, kind: str, pk: int):
    """Raise a query on a record the user reads (records.selectors.readable_record) and may query."""
    record_kind = kind_for(kind)
    if record_kind is None:
        raise Http404("No such kind of record")
    record = readable_record(request.user, record_kind, pk)
    owner = record_kind.owner(record)
    if not services.may_raise(request.user, owner.trial_id, owner.site_id):
        raise PermissionDenied("Queries are raised by the monitor, an investigator of the site or a data manager.")
    initial = {"field": request.GET.get("field", "")}
    form = RaiseForm(request.POST or None, kind=record_kind, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            query = services.query_raise(user=request.user, kind=record_kind, record=record,
                                         field=form.cleaned_data["field"], text=form.cleaned_data["text"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Query #{query.pk} raised; the site sees it in its work queue.")
            return redirect_after_form(request, reverse("queries:detail", args=[query.pk]))
    context = {"kind": record_kind, "record": record, "owner": owner, "form": form,
               "back": _back(request.user, record_kind, record, owner),
               "readable_page": identifiable(request.user, owner),
               "live": selectors.record_queries(record)}
    return render_form(request, "queries/raise.html", context, status=422 if form.errors else 200)

