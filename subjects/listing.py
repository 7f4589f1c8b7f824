"""Paginated, filterable lists: one page of a queryset and the query string to keep across pages."""

from __future__ import annotations

from django.core.paginator import Paginator

PER_PAGE = 20


def paginate(request, queryset, *, per_page: int = PER_PAGE) -> dict:
    page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return {"page": page, "query": params.urlencode()}
