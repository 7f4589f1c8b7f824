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


def notification_list(request):
    queryset = (Notification.objects.filter(recipient=request.user)
                .select_related("visit__subject")
                .order_by(F("read_at").desc(nulls_first=True), "-created_at", "-id"))
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page,
                                                        "unread": services.unread_count(request.user)})


@require_POST
def notification_mark_read(request):
    raw = request.POST.getlist("id")
    # ASCII digits only, within a bigint (a superscript digit or a 5,000-digit number is no id of theirs).
    ids = [int(x) for x in raw if x.isascii() and x.isdigit() and len(x) <= 18] if raw else None
    services.mark_read(user=request.user, ids=ids)
    return HttpResponseRedirect(reverse("notifications:list"))
