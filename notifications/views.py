"""The user's own notifications: the list (unread first) and marking them read."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from notifications import services
from notifications.models import Notification

PER_PAGE = 50


def list_queryset(user):
    """The user's notices as the list shows them: unread first, newest first; then the read ones, last read
    first. The order is that of the index notification_list_idx (read_at DESC puts NULLs first), so a
    page is an index range read with a LIMIT, not a sort of every notice the user ever had."""
    return (Notification.objects.filter(recipient=user)
            .select_related("visit__subject")
            .order_by(F("read_at").desc(nulls_first=True), "-created_at", "-id"))


def notification_list(request):
    page = Paginator(list_queryset(request.user), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page,
                                                        "unread": services.unread_count(request.user)})


@require_POST
def notification_mark_read(request):
    raw = request.POST.getlist("id")
    # ASCII digits only, within a bigint (a superscript digit or a 5,000-digit number is no id of theirs).
    ids = [int(x) for x in raw if x.isascii() and x.isdigit() and len(x) <= 18] if raw else None
    services.mark_read(user=request.user, ids=ids)
    return HttpResponseRedirect(reverse("notifications:list"))
