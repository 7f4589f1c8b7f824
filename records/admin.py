"""Admin rules shared by every app: clinical records, decisions, signatures and cohort state are read-only
in the admin (they change only through the application's workflow: entry, correction with a reason,
voiding, signatures). Sites, users, roles and reference ranges stay administrable."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import ActionLocation

from records.models import TrialSiteLink


class ReadOnly:
    """No add, no change, no delete (not even bulk delete): shown for reference only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        return {}


class ReadOnlyInline(ReadOnly, admin.TabularInline):
    extra = 0
    can_delete = False


@admin.register(TrialSiteLink)
class TrialSiteLinkAdmin(admin.ModelAdmin):  # administrable (audited)
    list_display = ["trial", "site"]
    list_filter = ["trial"]
