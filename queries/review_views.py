"""Records to review: the raisers' way to any record of a trial, by subject code (a data manager reads no
site page), each with its values and open queries and the link to raise a query on it."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count, Q

from monitoring.services import current_values, display, field_label
from queries import selectors
from queries.forms import ReviewForm
from queries.models import Query
from queries.services import RAISER_ROLES
from records.registry import kind_for
from trials.access import access_trial, identifiable
from trialsite.views import render_form

HIDDEN = "(identifying data)"
PAGE_SIZE = 50


def _owner_name(owner) -> str:
    return getattr(owner, "code", None) or str(owner)


def record_review(request, code: str):
    """The trial's records of one kind that the user reads, newest first (filter by subject code)."""
    trial = access_trial(request.user, code, roles=RAISER_ROLES)
    form = ReviewForm(request.GET or {"kind": "adverse-event"})
    kind = kind_for(form.data.get("kind", "")) if form.is_valid() else None
    rows, page, labels = [], None, []
    if kind is not None:
        queryset = selectors.review_records(request.user, trial, kind, subject=form.cleaned_data["subject"])
        page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
        records = list(page)
        open_counts = dict(
            Query.objects.filter(kind=kind.slug, object_id__in=[r.pk for r in records])
            .exclude(status=Query.Status.CLOSED).values_list("object_id").annotate(n=Count("pk"))
            .filter(~Q(n=0)).values_list("object_id", "n"))
        model = kind.model
        labels = [field_label(model, name) for name in kind.fields]
        seen: dict[tuple[int, int], bool] = {}
        for record in records:
            owner = kind.owner(record)
            key = (owner.trial_id, owner.site_id)
            if key not in seen:
                seen[key] = identifiable(request.user, owner)
            values = current_values(kind, record)
            shown = [HIDDEN if (name in selectors.IDENTITY_FIELDS and not seen[key])
                     else display(model, name, values[name]) for name in kind.fields]
            rows.append({"record": record, "owner": _owner_name(owner), "site": owner.site.code,
                         "values": shown, "open": open_counts.get(record.pk, 0),
                         "readable_page": seen[key]})
    return render_form(request, "queries/review.html", {
        "trial": trial, "form": form, "kind": kind, "labels": labels, "rows": rows, "page": page,
    }, partial="results")
