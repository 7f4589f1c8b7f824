"""Correct, void and read the history of any registered record (records.kinds)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from queries.selectors import query_for_correction
from records import selectors, services
from records.forms import VoidForm, correction_form
from records.registry import kind_for, kinds_of
from trials.access import has_site_role
from trials.models import SITE_SCOPED_ROLES
from trialsite.forms import add_service_errors
from trialsite.views import redirect_after_form, render_form


def _kind(slug: str):
    kind = kind_for(slug)
    if kind is None:
        raise Http404("No such kind of record")
    return kind


def _context(kind, record, user, **extra) -> dict:
    owner = kind.owner(record)
    return {"kind": kind, "record": record, "owner": owner, "back": kind.detail_url(record),
            "may_change": has_site_role(user, owner, kind.roles), **extra}


def _writable(request, kind, pk: int, what: str):
    # Found for the site's monitor too, who is refused here (403): monitors read, never write.
    record = selectors.record_for(request.user, kind, pk, roles=SITE_SCOPED_ROLES)
    if not has_site_role(request.user, kind.owner(record), kind.roles):
        raise PermissionDenied(f"Your role at this site does not allow {what} a {kind.label.lower()}.")
    return record


def record_correct(request, kind: str, pk: int):
    kind = _kind(kind)
    record = _writable(request, kind, pk, "correcting")
    # ?query=<id>: the correction answers a data query on this record (queries.services.query_corrected).
    query = query_for_correction(request.user, kind, record, request.GET.get("query"))
    form = correction_form(kind, record, request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        changes = kind.changes(form) if kind.changes is not None else {
            name: form.cleaned_data[name] for name in kind.fields if name in form.cleaned_data}
        try:
            services.record_correct(kind=kind, record=record, user=request.user, changes=changes,
                                    reason=form.cleaned_data["reason"], query=query)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{kind.label} corrected; the change and its reason are in the history.")
            return redirect_after_form(request, reverse("queries:detail", args=[query.pk]) if query else
                                       kind.detail_url(record))
    return render_form(request, "records/correct.html", _context(kind, record, request.user, form=form,
                                                                 query=query),
                       status=422 if form.errors else 200)


def record_void(request, kind: str, pk: int):
    kind = _kind(kind)
    if not kind.voidable:
        raise Http404(f"A {kind.label.lower()} cannot be voided")
    record = _writable(request, kind, pk, "voiding")
    form = VoidForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_void(kind=kind, record=record, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{kind.label} voided: it is kept, struck through, and no longer counts.")
            return redirect_after_form(request, kind.detail_url(record))
    return render_form(request, "records/void.html", _context(kind, record, request.user, form=form),
                       status=422 if form.errors else 200)


def record_history(request, kind: str, pk: int):
    kind = _kind(kind)
    record = selectors.record_for(request.user, kind, pk, roles=SITE_SCOPED_ROLES)
    return render(request, "records/history.html", _context(
        kind, record, request.user, entries=selectors.record_history(record),
        other_kinds=[k for k in kinds_of(kind.model) if k is not kind]))
